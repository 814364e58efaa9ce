// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: unwind-table generation (.eh_frame_hdr parsing and the
 * CFI interpretation through libdw) on arbitrary bytes handed over as an ELF
 * file. Seeds are real binaries. Any table produced must be sorted, as the
 * BPF walker's binary search assumes, and so must a chunk of it, with every
 * row inside the chunk.
 */
#include <gelf.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent/unwind_table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-unwind", MFD_CLOEXEC);
	struct ember_row *rows = NULL;
	size_t n = 0;
	Elf *e;

	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	elf_version(EV_CURRENT);
	e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (e && unwind_table__build(e, &rows, &n, NULL) == 0) {
		for (size_t i = 1; i < n; i++)
			if (rows[i].pc <= rows[i - 1].pc)
				abort();
		/* The chunk the agent would build for the first row's address. */
		if (n) {
			struct unwind_source *src = unwind_source__new(e);
			uint64_t lo = rows[0].pc & ~(uint64_t)(EMBER_CHUNK_BYTES - 1);
			struct ember_row *part = NULL;
			size_t m = 0;

			if (!src ||
			    unwind_source__build(src, lo, lo + EMBER_CHUNK_BYTES, &part, &m, NULL))
				abort(); /* the whole file was built: so is a part */
			for (size_t i = 0; i < m; i++)
				if (part[i].pc < lo || part[i].pc >= lo + EMBER_CHUNK_BYTES ||
				    (i && part[i].pc <= part[i - 1].pc))
					abort();
			free(part);
			unwind_source__free(src);
		}
		free(rows);
	}
	if (e)
		elf_end(e);
	close(fd);
	return 0;
}
