// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: perf-map parsing, the file a profiled (and so untrusted)
 * process writes. Whatever parses must answer lookups with a name whose
 * entry really covers the address.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "symbolizer/perfmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *f = fmemopen((void *)data, size, "r");
	struct perfmap *m;

	if (!f)
		return 0;
	m = perfmap__parse(f);
	fclose(f);
	if (!m)
		return 0;
	if (perfmap__count(m) > PERFMAP_MAX_ENTRIES)
		abort();
	for (size_t i = 0; i + 8 <= size && i < 128; i += 8) {
		uint64_t addr;
		const char *name;

		memcpy(&addr, data + i, 8);
		name = perfmap__lookup(m, addr);
		if (name && !name[0])
			abort();
	}
	perfmap__free(m);
	return 0;
}
