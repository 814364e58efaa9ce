// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: unwind-table generation (.eh_frame_hdr parsing and the
 * CFI interpretation through libdw) on arbitrary bytes handed over as an ELF
 * file. Seeds are real binaries. Any table produced must be sorted, as the
 * BPF walker's binary search assumes.
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
		free(rows);
	}
	if (e)
		elf_end(e);
	close(fd);
	return 0;
}
