#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_bash: Debian's bash, built without frame pointers, unwinds to main.
#
# /usr/bin/bash -c runs an arithmetic loop with a function call and string
# work in it and no external command (no fork, no exec), so every sample
# is the one bash process in its evaluator: execute_command_internal
# recursing through the parsed loop, expansion, variable lookup and malloc
# in libc, none of it with frame pointers. The agent profiles that pid at
# 99 Hz for 5 s; the test then checks that >= 95% of the samples reach
# bash's main (seen: 100%) through execute_command and that no walk ended
# on a read fault, a bad CFA or an unsupported rule.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
# shellcheck disable=SC2119 # no workload of ours: only the agent and pprof
require_bins

SH=/usr/bin/bash
FREQ=99
DUR=5
# Runs until killed; SECONDS stops it should the cleanup never come.
# shellcheck disable=SC2016 # expanded by the child bash, not here
LOOP='f() { s=$(( (s * 31 + $1) % 1000003 )); v=${v:0:8}$s; }
i=0 s=1 v=x
while ((SECONDS < 60)); do
	i=$((i + 1))
	f "$i"
done'

start_bg "$SH" -c "$LOOP"
PID=$BG_PID
sleep 0.3
alive "$PID" || fail "$SH -c LOOP did not start"
[[ $(readlink "/proc/$PID/exe") == "$SH" ]] || fail "pid $PID is not $SH"

agent_cpu "$PID" -v -F "$FREQ" -d "$DUR" -p "$PID" -o "$T/sh.pb.gz"
alive "$PID" || fail "bash exited before the profile ended"
check_profile "$T/sh.pb.gz"
walks_complete

user_chains "$T/sh.pb.gz" >"$T/chains.tsv"
MAIN='(^|;)main;__libc_start_call_main(;|$)'
read -r all main exec < <(chain_counts "$T/chains.tsv" "$MAIN" \
	'(^|;)execute_command(;|$).*(^|;)main;__libc_start_call_main(;|$)')
info "$main of $all samples ($(pct "$main" "$all")%) reach main;" \
	"$exec ($(pct "$exec" "$all")%) through execute_command"
cpu_bounds "$all" bash "$AGENT_CPU" "$FREQ" "$DUR"
((exec * 100 >= all * 80)) ||
	fail "only $exec of $all samples reach main through execute_command (want >= 80%)"
if ((main * 100 < all * 95)); then
	chains_outside "$T/chains.tsv" "$MAIN"
	fail "only $main of $all samples ($(pct "$main" "$all")%) reach main (want >= 95%)"
fi
exit 0
