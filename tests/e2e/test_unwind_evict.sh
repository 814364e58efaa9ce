#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_unwind_evict: with an unwind-table budget far too small for clang's
# libraries, the tables the walks need are evicted and built again on
# demand, and clang++'s stacks stay whole.
#
# The same clang++ loop as test_clang (tests/e2e/data/clang_input.cpp,
# `clang++ -std=c++17 -O2 -c` one compile after another), profiled on the
# whole system at 99 Hz for two 8 s intervals (-i 8) with -v and
# --unwind-table-mb 4 (EVICT_TABLE_MB): libLLVM-14.so.1 and
# libclang-cpp.so.14 alone have about 1.7M .eh_frame rows, 13 MiB at 8
# bytes a row, and a compile walks some 300 of their 64 KiB chunks.
#
# The first interval is the warm-up: every chunk a compile walks for the
# first time costs the sample that asks for it (a frame-pointer step, then
# an early stop), and under a full budget nothing is built ahead of the
# walks. Seen: 55-65% of its samples reach main. It is reported, not
# judged. The second interval is the steady state the budget is for: the
# chunks the compiles keep walking stay, the others are evicted, and those
# walked again are rebuilt. The test checks that >= 80% of the loop's
# samples (its compilers' pids) in that interval have a user chain that
# reaches main (or is whole before or after it: whole_counts in lib.sh),
# and that the agent's -v "unwind:" line holds EVICT_PHRASE with at least
# one eviction and one rebuild: the budget was really too small, and
# evicted tables came back when a walk needed them.
# The "no room" count (unwind_no_room) is reported.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

# The agent's report of evictions on its -v "unwind:" line: each N is a
# count, the first one the number of evictions (see unwind_phrase in lib.sh).
EVICT_PHRASE='evictions N, rebuilds N'

require_root
# shellcheck disable=SC2119 # no workload of ours: only the agent and pprof
require_bins

FREQ=99
INTERVAL=8
DUR=$((2 * INTERVAL))
TABLE_MB=${EVICT_TABLE_MB:-4}

clang_loop_start $((DUR + 20))
mkdir -p "$T/i"
agent_ok -v -F "$FREQ" -d "$DUR" -i "$INTERVAL" --unwind-table-mb "$TABLE_MB" \
	-o "$T/i/evict-%n.pb.gz"
clang_loop_stop
clang_compiles_ok
mapfile -t files < <(printf "%s\n" "$T"/i/evict-*.pb.gz | sort -V)
((${#files[@]} >= 2)) || fail "-i $INTERVAL -d $DUR wrote ${#files[@]} profile(s), want 2"
info "$CLANG_DONE compiles finished in the loop; agent run ${AGENT_SECS}s with --unwind-table-mb $TABLE_MB"
info "$(unwind_line)"

# reach_main FILE: "ALL WHOLE OUTSIDE" for the loop's samples in FILE.
reach_main()
{
	labeled_chains "$1" >"$T/all.tsv"
	of_pids "$T/clang.pids" <"$T/all.tsv" >"$T/clang.tsv"
	whole_counts "$T/clang.tsv"
}

check_profile "${files[0]}"
read -r all whole outside < <(reach_main "${files[0]}")
info "warm-up interval: $((whole + outside)) of the loop's $all samples" \
	"($(pct $((whole + outside)) "$all")%) reach main"
steady=${files[1]}
check_profile "$steady"
read -r all whole outside < <(reach_main "$steady")
whole=$((whole + outside))
info "steady interval: $whole of the loop's $all samples reach main ($(pct "$whole" "$all")%;" \
	"$outside of them whole in ld.so or exit)"
((all >= 300)) || fail "only $all samples of the clang++ loop in ${INTERVAL}s at $FREQ Hz (want >= 300)"
if ((whole * 100 < all * 80)); then
	late_fail "only $whole of $all clang samples ($(pct "$whole" "$all")%) reach main in the steady interval with --unwind-table-mb $TABLE_MB (want >= 80%)"
	info "where the samples that do not reach main stop:"
	not_whole "$steady" "$T/clang.pids"
fi

read -r -a counts < <(unwind_phrase "$EVICT_PHRASE")
if [[ ${counts[0]} == -1 ]]; then
	late_fail "no '$EVICT_PHRASE' on emberprof's -v unwind line: $(unwind_line)"
else
	# The first N is the evictions.
	info "'$EVICT_PHRASE': ${counts[*]}; left without a table for lack of room: $(unwind_no_room)"
	((counts[0] > 0)) ||
		late_fail "no eviction with --unwind-table-mb $TABLE_MB: was the budget applied? $(unwind_line)"
	((counts[1] > 0)) ||
		late_fail "no rebuild of an evicted chunk with --unwind-table-mb $TABLE_MB: $(unwind_line)"
fi
late_fail_check
exit 0
