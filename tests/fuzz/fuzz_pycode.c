// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: what the agent decodes from a CPython process's memory,
 * which the profiled (and so untrusted) process owns: line tables in the
 * 3.10 and 3.11+ formats, str objects, and 3.13's _Py_DebugOffsets. Nothing
 * may read past the input, a line is never negative, a decoded string is
 * NUL-terminated at the length returned, and accepted debug offsets keep
 * every frame field inside what BPF reads of a frame.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/python.h"
#include "symbolizer/pycode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct pycode_str_layout layouts[] = {{48, 72}, {40, 56}};
	struct py_layout l;
	char out[128];
	uint32_t lasti = 0;
	int64_t first = 1;
	int n;

	if (size < 6)
		return 0;
	memcpy(&lasti, data, 4);
	first = (int64_t)(data[4] | (data[5] << 8)) - 16;
	for (int minor = 10; minor <= 13; minor += 3) {
		int64_t line = pycode_line(data + 6, size - 6, minor, first, lasti % 4096);

		if (line < 0)
			abort();
	}
	for (size_t i = 0; i < 2; i++) {
		n = pycode_str(data, size, &layouts[i], out, sizeof(out));
		if (n >= (int)sizeof(out) || (n >= 0 && strlen(out) != (size_t)n))
			abort();
	}
	if (python_debug_offsets(data, size, &l) == 0 &&
	    (l.bpf.frame_previous > EMBER_PY_FRAME_READ - 8 ||
	     l.bpf.frame_code > EMBER_PY_FRAME_READ - 8 ||
	     l.bpf.frame_instr > EMBER_PY_FRAME_READ - 8 ||
	     l.bpf.frame_owner >= EMBER_PY_FRAME_READ))
		abort();
	return 0;
}
