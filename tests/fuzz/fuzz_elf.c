// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the ELF reader on arbitrary bytes, as a corrupt or hostile
 * binary mapped by some process would reach it. The bytes go through a memfd
 * so the code under test opens a real file descriptor, as in production.
 * Any file that opens must answer lookups, build ID and address translation
 * without crashing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "symbolizer/elf_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-elf", MFD_CLOEXEC);
	struct elf_file *f;

	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	f = elf_file__open_fd(fd);
	if (!f)
		return 0;
	(void)strlen(elf_file__build_id(f));
	for (uint64_t a = 0; a < 0x2000; a += 0x101) {
		uint64_t vaddr, start;
		const char *name;

		if (elf_file__vaddr(f, 0x400000, 0, 0x400000 + a, &vaddr) == 0) {
			name = elf_file__lookup(f, vaddr, &start);
			if (name && (start > vaddr || !name[0]))
				abort();
		}
		name = elf_file__lookup(f, a, &start);
		if (name && start > a)
			abort();
	}
	elf_file__free(f);
	return 0;
}
