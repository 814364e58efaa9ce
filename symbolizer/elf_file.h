/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One ELF file opened for symbolization: its function symbols from .symtab and
 * .dynsym, its GNU build ID, and the translation from a process's runtime
 * address to the file's own virtual address (the PIE/ASLR load bias). Built on
 * libelf; the file stays mapped so symbol names point into it without copies.
 */
#ifndef EMBER_SYM_ELF_FILE_H
#define EMBER_SYM_ELF_FILE_H

#include <stdint.h>
#include <gelf.h>
#include <libelf.h>

struct elf_file;

/*
 * Reads @fd, which the call takes over (it is closed by elf_file__free, or
 * here on failure). Returns NULL with errno set: EINVAL for a file that is
 * not an ELF file libelf can read, ENOMEM.
 * A file with no symbols at all is valid: lookups then fail with -ENOENT.
 */
struct elf_file *elf_file__open_fd(int fd);
/* Accepts NULL. */
void elf_file__free(struct elf_file *f);

/*
 * The function containing file virtual address @vaddr. Returns its name (owned
 * by @f) and sets *@start to its address, or returns NULL when no symbol
 * covers @vaddr.
 */
const char *elf_file__lookup(const struct elf_file *f, uint64_t vaddr, uint64_t *start);

/*
 * The defined symbol called @name, of ELF type @type (STT_OBJECT, STT_FUNC,
 * STT_TLS...), from .dynsym, else .symtab: copies it into *@out and returns
 * 0, or -ENOENT. Data symbols are found too, unlike with lookups.
 */
int elf_file__symbol(const struct elf_file *f, const char *name, int type, GElf_Sym *out);

/* GNU build ID as lowercase hex, "" when the file has none. Owned by @f. */
const char *elf_file__build_id(const struct elf_file *f);

/*
 * Translates runtime address @addr inside a mapping of this file that starts
 * at @map_start with file offset @map_offset into the file's virtual address.
 * Returns 0, or -ENOENT when no PT_LOAD segment holds that offset.
 */
int elf_file__vaddr(const struct elf_file *f, uint64_t map_start, uint64_t map_offset,
		    uint64_t addr, uint64_t *vaddr);

/*
 * The load bias of a mapping of this file that starts at @map_start with file
 * offset @map_offset: file virtual address = runtime address - *@bias.
 * Returns 0, or -ENOENT when no PT_LOAD segment holds that offset.
 */
int elf_file__bias(const struct elf_file *f, uint64_t map_start, uint64_t map_offset,
		   uint64_t *bias);

/* libelf's handle, owned by @f. */
Elf *elf_file__elf(const struct elf_file *f);

/* The file descriptor the file was opened from (owned by @f). */
int elf_file__fd(const struct elf_file *f);

/* Number of function symbols read; for counters and tests. */
unsigned long elf_file__nsyms(const struct elf_file *f);

/*
 * @elf's first section called @name that has contents in the file (not
 * SHT_NOBITS), with its header in @sh; NULL when there is none.
 */
Elf_Scn *elf_section_named(Elf *elf, const char *name, GElf_Shdr *sh);

#endif
