// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: kallsyms parsing and lookup on arbitrary text. Whatever
 * parses must answer lookups with a name at or below the address asked.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "symbolizer/kallsyms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *f = fmemopen((void *)data, size, "r");
	struct kallsyms *k;

	if (!f)
		return 0;
	k = kallsyms__parse(f);
	fclose(f);
	if (!k)
		return 0;
	for (size_t i = 0; i + 8 <= size && i < 64; i += 8) {
		uint64_t addr, start = 0;
		const char *mod;

		__builtin_memcpy(&addr, data + i, 8);
		if (kallsyms__lookup(k, addr, &mod, &start) && start > addr)
			abort();
	}
	kallsyms__free(k);
	return 0;
}
