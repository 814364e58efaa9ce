/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unwind tables: one ELF file's .eh_frame turned into the sorted rows the BPF
 * walker reads (the format is described in bpf/emberprof.h). Built with
 * libdw's CFI interpreter; FDEs are found through .eh_frame_hdr.
 */
#ifndef EMBER_UNWIND_TABLE_H
#define EMBER_UNWIND_TABLE_H

#include <libelf.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "emberprof.h"

struct unwind_table_stats {
	size_t fdes;
	size_t rows;
	size_t unsupported; /* rows the walker will stop at */
};

/*
 * Builds the rows of @elf into *@rows (malloc'd, the caller frees) and *@n.
 * Returns 0, -ENOENT when the file has no .eh_frame_hdr or no .eh_frame
 * section (the walker then uses frame pointers in it), -E2BIG when its code
 * lies above 4 GiB, -EINVAL for data libdw rejects or CFI refused before libdw
 * runs it (a register number above 255, remember_state nested deeper than
 * 16, an opcode or augmentation no x86-64 compiler emits: see
 * unwind_table.c), -ENOMEM.
 */
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
