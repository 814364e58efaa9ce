/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DWARF line and inline information for one ELF file, through elfutils'
 * libdwfl. Debug info is found where Debian and Fedora put it: in the file
 * itself (compressed sections included), through .gnu_debuglink, under
 * /usr/lib/debug/.build-id/xx/yyyy.debug, and under extra directories.
 */
#ifndef EMBER_SYM_DWARF_H
#define EMBER_SYM_DWARF_H

#include <stdint.h>
#include <libelf.h>

struct dwarf_file;
struct sym_result;

/*
 * Opens debug info for the ELF file @fd (not taken over: duplicated inside).
 * @path is the file's name as seen from here, used to follow .gnu_debuglink;
 * @debug_dirs, NULL-terminated, are searched after the standard places.
 * Returns NULL with errno ENOENT when the file has no usable DWARF, ENOMEM.
 */
struct dwarf_file *dwarf_file__open(int fd, const char *path, const char *const *debug_dirs);
/* Accepts NULL. */
void dwarf_file__free(struct dwarf_file *d);

/*
 * Fills @res with the frames at file virtual address @vaddr: innermost
 * inlined function first, the containing real function last, each with its
 * source file and line. Names are demangled; strings live as long as @d.
 * Returns 0, or -ENOENT when no compilation unit covers @vaddr.
 */
int dwarf_file__lookup(struct dwarf_file *d, uint64_t vaddr, struct sym_result *res);

/*
 * The bytes the lookups so far made the session hold, estimated: each CU
 * read adds its scope index (exact) and libdw's line table and state (by
 * its rows). Lookups in CUs already read add nothing. A memory budget
 * watches this between its measurements.
 */
uint64_t dwarf_file__grown(const struct dwarf_file *d);

/*
 * The file the debug info was read from (the separate debug file, or a
 * handle of its own on the ELF file), for releasing its pages; NULL when it
 * is a relocatable file, whose mapping libdwfl relocates in place.
 */
Elf *dwarf_file__elf(const struct dwarf_file *d);

#endif
