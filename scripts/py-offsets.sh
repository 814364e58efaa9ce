#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# py-offsets.sh PYTHON: the offsets of the CPython structure fields the
# Python walker reads, as offsetof() gives them with PYTHON's own headers
# (Py_BUILD_CORE, its internal headers), in the order of agent/python.c's
# table and tests/unit/test_python.c's pins. For writing a new version's
# entry, or checking an interpreter against the pinned one. Needs gcc and
# the interpreter's headers (a pyenv build has them; Debian: python3.X-dev).
set -eu

py=${1:?usage: py-offsets.sh PYTHON}
inc=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
[[ -f $inc/Python.h ]] || {
	echo "py-offsets.sh: no Python.h under $inc (install the interpreter's headers)" >&2
	exit 1
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/off.c" <<'CEOF'
#define Py_BUILD_CORE 1
#include <Python.h>
#include <stddef.h>
#include <stdio.h>
#if PY_VERSION_HEX < 0x030b0000
#include "frameobject.h"
#else
#include "internal/pycore_frame.h"
#endif
#include "internal/pycore_interp.h"
#include "internal/pycore_runtime.h"

#define P(name, expr) printf("%-34s %zu\n", name, (size_t)(expr))
#define NONE(name) printf("%-34s -\n", name)

int main(void)
{
	printf("CPython %s\n", PY_VERSION);
	P("runtime.interpreters.head", offsetof(_PyRuntimeState, interpreters.head));
#if PY_VERSION_HEX >= 0x030b0000
	P("interp.threads.head", offsetof(PyInterpreterState, threads.head));
#else
	P("interp.tstate_head", offsetof(PyInterpreterState, tstate_head));
#endif
	P("tstate.next", offsetof(PyThreadState, next));
	P("tstate.thread_id", offsetof(PyThreadState, thread_id));
#if PY_VERSION_HEX >= 0x030d0000
	P("tstate.current_frame", offsetof(PyThreadState, current_frame));
	NONE("cframe.current_frame");
#elif PY_VERSION_HEX >= 0x030b0000
	P("tstate.cframe", offsetof(PyThreadState, cframe));
	P("cframe.current_frame", offsetof(_PyCFrame, current_frame));
#else
	P("tstate.frame", offsetof(PyThreadState, frame));
	NONE("cframe.current_frame");
#endif
#if PY_VERSION_HEX >= 0x030b0000
	P("frame.previous", offsetof(_PyInterpreterFrame, previous));
#if PY_VERSION_HEX >= 0x030d0000
	P("frame.f_executable", offsetof(_PyInterpreterFrame, f_executable));
	P("frame.instr_ptr", offsetof(_PyInterpreterFrame, instr_ptr));
#else
	P("frame.f_code", offsetof(_PyInterpreterFrame, f_code));
	P("frame.prev_instr", offsetof(_PyInterpreterFrame, prev_instr));
#endif
#if PY_VERSION_HEX < 0x030c0000
	P("frame.is_entry", offsetof(_PyInterpreterFrame, is_entry));
	NONE("frame.owner (not read before 3.12)");
#else
	NONE("frame.is_entry");
	P("frame.owner", offsetof(_PyInterpreterFrame, owner));
#endif
	P("code.co_code_adaptive", offsetof(PyCodeObject, co_code_adaptive));
#else
	P("frame.f_back", offsetof(PyFrameObject, f_back));
	P("frame.f_code", offsetof(PyFrameObject, f_code));
	P("frame.f_lasti", offsetof(PyFrameObject, f_lasti));
	NONE("frame.is_entry");
	NONE("frame.owner");
	NONE("code.co_code_adaptive");
#endif
	P("code.co_name", offsetof(PyCodeObject, co_name));
#if PY_VERSION_HEX >= 0x030b0000
	P("code.co_qualname", offsetof(PyCodeObject, co_qualname));
#else
	NONE("code.co_qualname");
#endif
	P("code.co_filename", offsetof(PyCodeObject, co_filename));
	P("code.co_firstlineno", offsetof(PyCodeObject, co_firstlineno));
	P("code.co_linetable", offsetof(PyCodeObject, co_linetable));
	P("sizeof(PyASCIIObject)", sizeof(PyASCIIObject));
	P("sizeof(PyCompactUnicodeObject)", sizeof(PyCompactUnicodeObject));
	return 0;
}
CEOF
gcc -I"$inc" -o "$tmp/off" "$tmp/off.c"
"$tmp/off"
