/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unwind tables: one ELF file's .eh_frame turned into the sorted rows the BPF
 * walker reads (the format is described in bpf/emberprof.h), for the whole
 * file or for one chunk of it at a time. Built with libdw's CFI
 * interpreter; FDEs are found through .eh_frame_hdr.
 */
#ifndef EMBER_UNWIND_TABLE_H
#define EMBER_UNWIND_TABLE_H

#include <libelf.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "bpf/emberprof.h"

struct unwind_table_stats {
	size_t fdes;
	size_t rows;
	size_t unsupported; /* rows the walker will stop at */
	size_t padding;	    /* gaps of alignment padding left without a GAP row */
};

/*
 * One file's unwind data, ready for building rows of any address range:
 * its FDE index (from .eh_frame_hdr) and libdw's CFI handle.
 */
struct unwind_source;

/*
 * Opens @elf's .eh_frame for building; borrows @elf, which must outlive the
 * source. Returns NULL with errno ENOENT when the file has no .eh_frame_hdr or
 * no .eh_frame section (the walker then uses frame pointers in it), E2BIG
 * when its code lies above 4 GiB, EINVAL for data libdw rejects or CFI
 * refused before libdw runs it (a register number above 255, remember_state
 * nested deeper than 16, an opcode or augmentation no x86-64 compiler emits:
 * see unwind_table.c), ENOMEM.
 */
struct unwind_source *unwind_source__new(Elf *elf);
/* Accepts NULL. */
void unwind_source__free(struct unwind_source *src);

/*
 * What @src's builds may come to hold, in bytes: libdw keeps each FDE it
 * parses until the source is freed, and may parse every one of the file's.
 */
uint64_t unwind_source__max_bytes(const struct unwind_source *src);

/*
 * Builds the rows for file addresses [@lo, @hi) into *@rows (malloc'd, the
 * caller frees) and *@n: sorted by pc, the first at @lo or at the first FDE
 * above it. Returns 0 or -ENOMEM.
 */
int unwind_source__build(struct unwind_source *src, uint64_t lo, uint64_t hi,
			 struct ember_row **rows, size_t *n, struct unwind_table_stats *stats);

/* The whole file's rows: unwind_source__new() then a build of [0, 4 GiB). Returns 0 or -errno. */
int unwind_table__build(Elf *elf, struct ember_row **rows, size_t *n,
			struct unwind_table_stats *stats);

/*
 * Tiles [@start, @end) with the largest aligned power-of-two blocks, in
 * order, calling @fn(block start, log2 of its size, @ctx) for each: the
 * prefixes an LPM trie needs to cover the range. A page-aligned range of a
 * few MiB needs a few dozen blocks at most.
 */
typedef void (*unwind_tile_fn)(uint64_t start, unsigned int bits, void *ctx);
void unwind_tile_range(uint64_t start, uint64_t end, unwind_tile_fn fn, void *ctx);

#endif
