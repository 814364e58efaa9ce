/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The symbolizer: turns a frame address into names. User frames go through an
 * ELF module (one per distinct file, shared by every process that maps it);
 * kernel frames through kallsyms. Results can hold several lines for one
 * address, innermost inlined frame first, which is the shape DWARF inline
 * chains need; ELF symbols alone give one line.
 */
#ifndef EMBER_SYMBOLIZER_H
#define EMBER_SYMBOLIZER_H

#include <stdint.h>

struct symbolizer;
struct sym_module;

#define SYM_MAX_LINES 16

struct sym_line {
	const char *function;	 /* display name */
	const char *system_name; /* name as stored in the file (mangled), or NULL */
	const char *file; /* source file or, for kernel frames, "[kernel.kallsyms]" / "[module]" */
	int64_t line;	  /* 0 when unknown */
};

/* Strings point into the symbolizer and stay valid until symbolizer__free. */
struct sym_result {
	unsigned int nlines;
	struct sym_line lines[SYM_MAX_LINES]; /* innermost first */
};

struct symbolizer_stats {
	unsigned long modules_open;
	unsigned long module_opens;    /* files actually opened */
	unsigned long module_hits;     /* requests served by the cache */
	unsigned long module_failures; /* unreadable or corrupt files */
	unsigned long kernel_symbols;
};

/* Returns NULL with errno set. Kernel symbols load lazily at the first kernel lookup. */
struct symbolizer *symbolizer__new(void);
/* Accepts NULL. Frees every module, whoever still references it. */
void symbolizer__free(struct symbolizer *s);

/*
 * The module for the file with identity (@dev, @ino), opening it when not yet
 * cached: first @path, then @fallback (either may be NULL). A file opened
 * through a path is checked against (@dev, @ino) so a replaced file is not
 * mistaken for the one that was mapped. Returns a referenced module, or NULL
 * with errno set (ENOENT, EACCES, EINVAL for a corrupt file, ESTALE for a
 * file whose identity changed). Release with symbolizer__put_module.
 */
struct sym_module *symbolizer__get_module(struct symbolizer *s, const char *path,
					  const char *fallback, uint64_t dev, uint64_t ino);
/* Drops one reference; the module is freed with its last. Accepts NULL. */
void symbolizer__put_module(struct symbolizer *s, struct sym_module *m);

/* GNU build ID in hex, "" when none. */
const char *sym_module__build_id(const struct sym_module *m);

/*
 * Names runtime address @addr of a mapping of @m that starts at @map_start with
 * file offset @map_offset. Returns 0 with @res filled, or -ENOENT when no
 * symbol covers it (res->nlines is then 0).
 */
int symbolizer__lookup(struct symbolizer *s, struct sym_module *m, uint64_t map_start,
		       uint64_t map_offset, uint64_t addr, struct sym_result *res);

/* Names kernel address @addr. Returns 0, or -ENOENT (unknown, or kallsyms unreadable). */
int symbolizer__lookup_kernel(struct symbolizer *s, uint64_t addr, struct sym_result *res);

void symbolizer__stats(const struct symbolizer *s, struct symbolizer_stats *st);

#endif
