#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_pid_filter: -p keeps exactly the listed processes; no -p keeps all.
#
# cpusplit and spin run side by side. Profiled with -p <cpusplit>, every
# sample must carry cpusplit's pid, one of its thread ids and its names, and
# spin_here must be absent. Profiled with -p <cpusplit>,<spin>, both appear
# and nothing else. Profiled whole-system, both appear again, so the test
# fails both when -p is ignored and when whole-system mode misses processes.
# In every run each process has 80-110% of the samples its CPU time (from
# /proc/PID/stat over the run) gives at 99 Hz, so a filter that drops or
# double counts part of a target fails too.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins cpusplit spin

start_workload cpusplit 30
CS=$BG_PID
start_workload spin 30
SP=$BG_PID
# Thread ids of cpusplit (main and both workers) while it runs.
CS_TIDS=
for d in "/proc/$CS/task"/*; do
	CS_TIDS+="${d##*/} "
done

# pids_in TSV: "pid:count" per distinct pid label, sorted by pid.
pids_in()
{
	awk -F '\t' '{ n[$3] += $1 } END { for (p in n) print p ":" n[p] }' "$1" | sort -n | tr '\n' ' '
}

# count_of TSV PID: samples of PID in TSV.
count_of()
{
	awk -F '\t' -v pid="$2" '$3 == pid { n += $1 } END { print n + 0 }' "$1"
}

# profile ARGS...: runs the agent for 3 s at 99 Hz with ARGS, leaving the
# CPU ticks cpusplit and spin used meanwhile in CS_CPU and SP_CPU.
profile()
{
	local cs0 sp0

	cs0=$(cpu_ticks "$CS")
	sp0=$(cpu_ticks "$SP")
	agent_ok -F 99 -d 3 "$@"
	CS_CPU=$(($(cpu_ticks "$CS") - cs0))
	SP_CPU=$(($(cpu_ticks "$SP") - sp0))
}

# 1. Only cpusplit, all of its samples.
profile -p "$CS" -o "$T/one.pb.gz"
check_profile "$T/one.pb.gz"
samples "$T/one.pb.gz" >"$T/one.tsv"
[[ -s $T/one.tsv ]] || fail "-p $CS profile has no samples"
cpu_bounds "$(count_of "$T/one.tsv" "$CS")" "cpusplit with -p $CS" "$CS_CPU" 99 3
bad=$(awk -F '\t' -v pid="$CS" '$3 != pid' "$T/one.tsv" | head -n 1)
[[ -z $bad ]] || fail "-p $CS profile has samples of other pids ($(pids_in "$T/one.tsv")): $bad"
bad=$(awk -F '\t' -v tids=" $CS_TIDS" 'index(tids, " " $4 " ") == 0' "$T/one.tsv" | head -n 1)
[[ -z $bad ]] || fail "-p $CS profile has a tid that is not a thread of $CS ($CS_TIDS): $bad"
bad=$(awk -F '\t' '$5 != "cpusplit" || $6 != "cpusplit"' "$T/one.tsv" | head -n 1)
[[ -z $bad ]] || fail "-p $CS sample without comm=cpusplit process=cpusplit: $bad"
sp=$(flat "$T/one.pb.gz" spin_here)
((sp == 0)) || fail "-p $CS profile has $sp samples in spin_here"
wa=$(flat "$T/one.pb.gz" work_a)
((wa > 0)) || fail "-p $CS profile has no work_a"
tids=$(awk -F '\t' '{ print $4 }' "$T/one.tsv" | sort -u | wc -l)
((tids >= 2)) || fail "-p $CS profile has samples from $tids thread(s), want both workers"

# 2. Both, as a list, each with its own share.
profile -p "$CS,$SP" -o "$T/two.pb.gz"
check_profile "$T/two.pb.gz"
samples "$T/two.pb.gz" >"$T/two.tsv"
cpu_bounds "$(count_of "$T/two.tsv" "$CS")" "cpusplit with -p $CS,$SP" "$CS_CPU" 99 3
cpu_bounds "$(count_of "$T/two.tsv" "$SP")" "spin with -p $CS,$SP" "$SP_CPU" 99 3
bad=$(awk -F '\t' -v a="$CS" -v b="$SP" '$3 != a && $3 != b' "$T/two.tsv" | head -n 1)
[[ -z $bad ]] || fail "-p $CS,$SP profile has samples of other pids ($(pids_in "$T/two.tsv")): $bad"
(($(flat "$T/two.pb.gz" work_a) > 0)) || fail "-p $CS,$SP profile has no work_a"
(($(flat "$T/two.pb.gz" spin_here) > 0)) || fail "-p $CS,$SP profile has no spin_here"
bad=$(awk -F '\t' -v pid="$SP" '$3 == pid && ($5 != "spin" || $6 != "spin")' "$T/two.tsv" | head -n 1)
[[ -z $bad ]] || fail "spin's sample without comm=spin process=spin: $bad"

# 3. Whole system.
profile -o "$T/all.pb.gz"
check_profile "$T/all.pb.gz"
samples "$T/all.pb.gz" >"$T/all.tsv"
cpu_bounds "$(count_of "$T/all.tsv" "$CS")" "cpusplit whole-system" "$CS_CPU" 99 3
cpu_bounds "$(count_of "$T/all.tsv" "$SP")" "spin whole-system" "$SP_CPU" 99 3
wa=$(flat "$T/all.pb.gz" work_a)
sp=$(flat "$T/all.pb.gz" spin_here)
((wa > 0)) || fail "whole-system profile has no work_a"
((sp > 0)) || fail "whole-system profile has no spin_here"
for p in "$CS" "$SP"; do
	awk -F '\t' -v pid="$p" '$3 == pid { found = 1 } END { exit !found }' "$T/all.tsv" ||
		fail "whole-system profile has no sample with pid $p ($(pids_in "$T/all.tsv"))"
done
if ! alive "$CS" || ! alive "$SP"; then
	fail "a workload exited before the last profile ended"
fi
exit 0
