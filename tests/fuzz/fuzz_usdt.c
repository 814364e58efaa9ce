// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the USDT note reader on arbitrary bytes, as a hostile
 * .note.stapsdt in a file some process maps would reach it. The count can
 * never exceed the notes that fit in the input.
 */
#include <libelf.h>
#include <stdint.h>
#include <stdlib.h>

#include "agent/usdt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Elf *e;
	int n;

	elf_version(EV_CURRENT);
	e = elf_memory((char *)data, size);
	if (!e)
		return 0;
	n = usdt__count_probes(e, "otel_memory");
	/* A note is at least a 12-byte header, an 8-byte name and 13 bytes of descriptor. */
	if (n < 0 || (size_t)n > size / 33)
		abort();
	elf_end(e);
	return 0;
}
