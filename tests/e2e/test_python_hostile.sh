#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_python_hostile: a process that looks like CPython and is not. The
# Python walker must count what it cannot read, keep every sample's native
# stack, and never crash or make a sample fail.
#
# pyfake (tests/workloads/pyfake.c) defines _PyRuntime, Py_Version,
# _PyEval_EvalFrameDefault and PyCode_Type, laid out as 3.11 would have them
# up to the main thread's current frame; from there on a second thread
# rewrites the frames, and fake code objects, with garbage all the time.
#   1. As "3.11": the agent finds it (python: 1 processes), its walks end
#      early under the read-fault, bad-object or depth counters (> 0 of
#      them), the agent exits 0 with a readable profile, and >= 90% of the
#      main thread's samples still have the native chain down to main and
#      __libc_start_main.
#   2. As "3.14" (Py_Version 0x030e00f0): one info line says the version is
#      not read, the unsupported counter is 1, no [python] frame appears,
#      and >= 90% of the main thread's samples keep _PyEval_EvalFrameDefault
#      <- main.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins pyfake

FREQ=199
DUR=4

# main_native FILE PID: "all whole" for the samples of PID's main thread:
# all of them, and those whose frames go down to main and __libc_start_main.
main_native()
{
	samples "$1" | awk -F '\t' -v tid="$2" '$4 == tid { all += $1
		if ($7 ~ /(^|;)__libc_start_main(;.*)?;main;/) whole += $1 }
		END { print all + 0, whole + 0 }'
}

start_workload pyfake 30
PID=$BG_PID
agent_ok -v -F "$FREQ" -d "$DUR" -p "$PID" -o "$T/fake.pb.gz"
alive "$PID" || fail "pyfake exited before the profile ended"
kill "$PID" 2>/dev/null
check_profile "$T/fake.pb.gz"
line=$(grep "python:" "$T/agent.err") || fail "no python: line in emberprof -v output"
info "$line"
[[ $line == *"python: 1 processes (0 of a version not read)"* ]] ||
	fail "the agent did not take pyfake for CPython 3.11: $line"
early=$(sed -n 's/.*read fault \([0-9]*\), bad object \([0-9]*\), depth \([0-9]*\);.*/\1 \2 \3/p' <<<"$line")
read -r rf bo dc <<<"$early"
[[ -n $dc ]] || fail "no Python walk counters in: $line"
((rf + bo + dc > 0)) || fail "garbage frames, yet no Python walk ended early: $line"
read -r all whole < <(main_native "$T/fake.pb.gz" "$PID")
info "main thread: $all samples, $whole with native frames down to main <- __libc_start_main"
((all >= FREQ * DUR * 60 / 100)) || fail "only $all samples of pyfake's main thread"
((whole * 100 >= all * 90)) ||
	fail "only $whole of $all main-thread samples keep their native chain to main (want >= 90%)"

# A version the walker does not know: native frames only, said once.
start_workload pyfake 30 0x030e00f0
PID=$BG_PID
agent_ok -v -F "$FREQ" -d "$DUR" -p "$PID" -o "$T/unknown.pb.gz"
kill "$PID" 2>/dev/null
check_profile "$T/unknown.pb.gz"
n=$(grep -c "CPython 3.14 is not supported" "$T/agent.err")
((n == 1)) || fail "want one line saying CPython 3.14 is not supported, got $n"
grep -q "python: 0 processes (1 of a version not read)" "$T/agent.err" ||
	fail "the unsupported counter is not 1: $(grep 'python:' "$T/agent.err")"
n=$(samples "$T/unknown.pb.gz" | awk -F '\t' '$8 ~ /(^|;)\[python\](;|$)/ { s += $1 } END { print s + 0 }')
((n == 0)) || fail "$n samples of an unsupported version have [python] frames"
read -r all eval < <(samples "$T/unknown.pb.gz" | awk -F '\t' -v tid="$PID" '$4 == tid { all += $1
	if ($7 ~ /;main;_PyEval_EvalFrameDefault$/) eval += $1 } END { print all + 0, eval + 0 }')
info "3.14: $all main-thread samples, $eval of them _PyEval_EvalFrameDefault <- main"
((all > 0 && eval * 100 >= all * 90)) ||
	fail "only $eval of $all main-thread samples are _PyEval_EvalFrameDefault <- main (want >= 90%)"
exit 0
