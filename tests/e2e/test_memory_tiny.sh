#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_memory_tiny: a memory budget too small for anything still profiles.
#
# With --memory-mb 1 the heap is over the target from the first check (the
# kernel symbols alone are larger), so the agent frees all it can, every
# drain, and goes lean: no DWARF session, frames named by ELF symbols. The
# test profiles the whole machine for 6 s while cpusplit runs, and inlined
# from 2.5 s on (its code can only be named lean), and checks that the agent
# exits 0 on time (it neither loops nor stalls), that every check was over
# the target, that no DWARF session was ever opened, that the lean lookups
# and the frames left without a name are counted, and that cpusplit's
# work_a/work_b/work_c and inlined's caller_one are still named, with their
# callers.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins cpusplit inlined

DUR=6
start_workload cpusplit 20
CS=$BG_PID
t0=$(date +%s.%N)
start_bg timeout -k 5 "$AGENT_TIMEOUT" "$EMBERPROF" -v -F 99 -d "$DUR" --memory-mb 1 \
	-o "$T/tiny.pb.gz" 2>"$T/agent.err"
AGENT=$BG_PID
# A process started once lean: its code can only be named lean.
sleep 2.5
start_workload inlined 8
wait "$AGENT"
rc=$?
alive "$CS" || fail "cpusplit exited before the profile ended"
secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
((rc == 0)) || fail "agent exited $rc with a 1 MiB budget: $(tail -n 2 "$T/agent.err")"
within "$secs" $((DUR - 1)) $((DUR + 8)) || fail "-d $DUR with a 1 MiB budget took ${secs}s"
check_profile "$T/tiny.pb.gz"

mem=$(grep '^emberprof: memory:' "$T/agent.err" | tail -n 1)
[[ -n $mem ]] || fail "no memory line in -v output"
info "${mem#emberprof: }"
[[ $mem =~ heap\ [0-9.]+\ of\ 1\.0\ MiB ]] || fail "the budget is not 1 MiB: $mem"
[[ $mem =~ ([0-9]+)\ of\ ([0-9]+)\ checks\ over\ the\ heap\ target ]] ||
	fail "no budget checks in: $mem"
((BASH_REMATCH[2] >= DUR - 2 && BASH_REMATCH[1] == BASH_REMATCH[2])) ||
	fail "${BASH_REMATCH[1]} of ${BASH_REMATCH[2]} checks over a 1 MiB target (want all, >= $((DUR - 2)))"
# Never room for a DWARF session: none is opened, none is left open.
[[ $mem =~ \ 0\ with\ DWARF ]] || fail "DWARF sessions open with a 1 MiB budget: $mem"
sym=$(grep '^emberprof: symbolizer:' "$T/agent.err" | tail -n 1)
[[ $sym =~ DWARF\ sessions\ opened\ ([0-9]+) ]] || fail "no DWARF session count in: $sym"
((BASH_REMATCH[1] == 0)) || fail "${BASH_REMATCH[1]} DWARF sessions opened with a 1 MiB budget"
[[ $sym =~ frames\ without\ a\ name\ ([0-9]+),\ lean\ lookups\ ([0-9]+) ]] ||
	fail "unnamed frames and lean lookups not reported: $sym"
info "unnamed frames ${BASH_REMATCH[1]}, lean lookups ${BASH_REMATCH[2]}"
((BASH_REMATCH[2] > 0)) || fail "lean mode never used: $sym"

# Both workloads are named from their symbol tables, with the full chains.
for fn in work_a work_b work_c; do
	hits=$(traces_chain "$T/tiny.pb.gz" "$fn" run_round worker)
	((hits > 0)) || fail "no stack has $fn <- run_round <- worker with a 1 MiB budget"
done
hits=$(traces_chain "$T/tiny.pb.gz" caller_one main)
((hits > 0)) || fail "no stack has caller_one <- main with a 1 MiB budget"
exit 0
