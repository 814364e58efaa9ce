#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_python: Debian's CPython, built without frame pointers, unwinds to
# Py_BytesMain, with --no-python: the native stack alone (the Python frames
# that replace the interpreter's eval frames are test_python_frames').
#
# /usr/bin/python3.11 (called by absolute path: a pyenv shim may shadow
# python3) runs a pure-Python loop of function calls and arithmetic, so its
# samples sit in the interpreter (_PyEval_EvalFrameDefault and the object
# code it calls), a big binary without frame pointers whose hot loop keeps
# no frame chain. The agent profiles that pid at 99 Hz for 5 s; the test
# then checks that >= 90% of the samples reach Py_BytesMain (seen: all but
# the odd sample taken while the agent loads the unwind tables), that the
# interpreter loop is in the profile under PyEval_EvalCode, and that no
# walk ended on a read fault, a bad CFA or an unsupported rule.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
# shellcheck disable=SC2119 # no workload of ours: only the agent and pprof
require_bins

PY=/usr/bin/python3.11
FREQ=99
DUR=5

[[ -x $PY ]] || fail "$PY is missing (apt-get install python3.11)"
cat >"$T/loop.py" <<'PYEOF'
import sys
import time


def inner(n):
    s = 0
    for i in range(n):
        s += i * i % 7
    return s


def outer(deadline):
    total = 0
    while time.monotonic() < deadline:
        total += inner(5000)
    return total


outer(time.monotonic() + float(sys.argv[1]))
PYEOF
start_bg "$PY" "$T/loop.py" 30
PID=$BG_PID
# Wait until the interpreter runs the loop: its exe is python3.11 and it has
# had a moment to start up.
for ((i = 0; i < 100; i++)); do
	[[ $(readlink "/proc/$PID/exe" 2>/dev/null) == "$PY" ]] && break
	sleep 0.02
done
sleep 0.5
alive "$PID" || fail "$PY $T/loop.py did not start"

agent_cpu "$PID" -v --no-python -F "$FREQ" -d "$DUR" -p "$PID" -o "$T/py.pb.gz"
alive "$PID" || fail "python exited before the profile ended"
check_profile "$T/py.pb.gz"
walks_complete

user_chains "$T/py.pb.gz" >"$T/chains.tsv"
MAIN='(^|;)Py_BytesMain(;|$)'
read -r all main eval < <(chain_counts "$T/chains.tsv" "$MAIN" \
	'(^|;)_PyEval_EvalFrameDefault;PyEval_EvalCode(;|$)')
info "$main of $all samples ($(pct "$main" "$all")%) reach Py_BytesMain;" \
	"$eval ($(pct "$eval" "$all")%) have _PyEval_EvalFrameDefault <- PyEval_EvalCode"
cpu_bounds "$all" python "$AGENT_CPU" "$FREQ" "$DUR"
((eval * 100 >= all * 80)) ||
	fail "only $eval of $all samples under _PyEval_EvalFrameDefault <- PyEval_EvalCode (want >= 80%)"
if ((main * 100 < all * 90)); then
	chains_outside "$T/chains.tsv" "$MAIN"
	fail "only $main of $all samples ($(pct "$main" "$all")%) reach Py_BytesMain (want >= 90%)"
fi
exit 0
