#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_short_lived: processes that live 300 ms are still symbolized.
#
# The agent profiles the whole system (no -p) at 99 Hz for 7 s. Once it is
# sampling, the test runs `brief 300` eight times in a row; each burns CPU in
# brief_burn for 300 ms and exits, long before the profile is written. The
# test checks that the processes named brief have 80-110% of the samples
# their CPU time gives (~240) and that >= 70% of them have brief_burn as their leaf
# frame, i.e. the agent named them from each process's own mappings even
# though every process was gone by then, and that they come from at least
# half of the eight pids.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins brief

FREQ=99
DUR=7
RUNS=8

start_bg timeout -k 5 "$AGENT_TIMEOUT" "$EMBERPROF" -v -F "$FREQ" -d "$DUR" -o "$T/short.pb.gz" \
	2>"$T/agent.err"
AG=$BG_PID
# -v says when the perf events are attached.
for ((i = 0; i < 100; i++)); do
	grep -q '^emberprof: sampling ' "$T/agent.err" && break
	alive "$AG" || break
	sleep 0.05
done
grep -q '^emberprof: sampling ' "$T/agent.err" ||
	fail "agent did not start sampling: $(first_err_line)"

pids=()
# The runs' CPU time, from this shell's reaped children (only brief here).
ticks0=$(CHILDREN=1 cpu_ticks $$)
for ((r = 0; r < RUNS; r++)); do
	"$WL/brief" 300 &
	pids+=("$!")
	wait "$!" || fail "brief 300 exited $?"
done
brief_cpu=$(($(CHILDREN=1 cpu_ticks $$) - ticks0))
alive "$AG" || fail "the agent ended before the brief runs did (-d $DUR too short?)"
wait "$AG"
rc=$?
((rc == 0)) || fail "emberprof exited $rc: $(first_err_line)"
check_profile "$T/short.pb.gz"

samples "$T/short.pb.gz" >"$T/samples.tsv"
read -r all leaf npids < <(awk -F '\t' '
	$6 == "brief" {
		all += $1
		n = split($7, fr, ";")
		if (fr[n] == "brief_burn")
			leaf += $1
		seen[$3] = 1
	}
	END { for (p in seen) np++; print all + 0, leaf + 0, np + 0 }' "$T/samples.tsv")
info "brief pids ${pids[*]}: $all samples, $leaf with leaf brief_burn, from $npids pids"
# All of their samples: the runs were wholly inside the sampled window.
cpu_bounds "$all" "processes named brief" "$brief_cpu" "$FREQ" 1 1
((leaf * 100 >= all * 70)) ||
	fail "only $leaf of $all brief samples have leaf brief_burn (want >= 70%): $(awk -F '\t' '$6 == "brief"' "$T/samples.tsv" | sort -t "$(printf '\t')" -k1,1nr | head -n 2 | cut -f1,3,7 | tr '\t\n' ' ,')"
((npids * 2 >= RUNS)) || fail "brief samples come from only $npids of $RUNS pids"
exit 0
