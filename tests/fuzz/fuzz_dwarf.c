// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the DWARF path (libdwfl reporting, CU lookup, scope walk,
 * call-site attributes, demangling) on arbitrary bytes handed over as an ELF
 * file. The seeds are real binaries with DWARF, so mutations land in
 * .debug_info, .debug_line and .debug_abbrev.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "symbolizer/dwarf.h"
#include "symbolizer/symbolizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-dwarf", MFD_CLOEXEC);
	struct dwarf_file *d;

	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	d = dwarf_file__open(fd, NULL, NULL);
	close(fd);
	if (!d)
		return 0;
	for (uint64_t a = 0x1000; a < 0x3000; a += 0x37) {
		struct sym_result res;

		if (dwarf_file__lookup(d, a, &res) == 0 &&
		    (res.nlines == 0 || res.nlines > SYM_MAX_LINES))
			abort();
	}
	dwarf_file__free(d);
	return 0;
}
