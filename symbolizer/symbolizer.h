/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The symbolizer: turns a frame address into names. User frames go through a
 * module, one per distinct file and shared by every process that maps it:
 * DWARF (function, file:line, inline chain) where debug info exists, ELF
 * symbols otherwise. Kernel frames go through kallsyms, JIT code through the
 * process's perf map, and the vDSO through the kernel's own image.
 *
 * A result holds one line per frame at that address, innermost inlined frame
 * first and the real function last, which is pprof's Location.line order.
 */
#ifndef EMBER_SYMBOLIZER_H
#define EMBER_SYMBOLIZER_H

#include <stddef.h>
#include <stdint.h>

struct symbolizer;
struct sym_module;

#define SYM_MAX_LINES 16
/*
 * The memory check (symbolizer_opts.check) runs every SYM_CHECK_EVERY
 * DWARF lookups, or sooner, once the CUs read since the last one hold about
 * SYM_CHECK_BYTES (dwarf_file__grown): reading CUs is what grows a session.
 */
#define SYM_CHECK_EVERY 256
#define SYM_CHECK_BYTES (1u << 20)

struct sym_line {
	const char *function;	 /* display name (demangled); NULL when unknown */
	const char *system_name; /* name as stored in the file (mangled), or NULL */
	const char *file; /* source file; for kernel frames "[kernel.kallsyms]" / "[module]" */
	int64_t line;	  /* 0 when unknown */
};

/* Strings stay valid until the module they came from is freed (see put_module). */
struct sym_result {
	unsigned int nlines;
	uint64_t entry; /* file address where the real (outermost) function starts; 0: unknown */
	struct sym_line lines[SYM_MAX_LINES]; /* innermost first */
};

struct symbolizer_opts {
	const char *const *debug_dirs; /* extra debug-info roots, NULL-terminated; may be NULL */
	size_t cache_bytes;	       /* address-result cache cap; 0: 32 MiB */
	unsigned int idle_modules;     /* files kept open after their last user; 0: 128 */
	/*
	 * Called before a DWARF session is opened (libc's costs ~10 MiB) with
	 * what the file's session held when it was last closed, or before
	 * that a guess from its compressed debug sections (0: no guess): it
	 * may free room through the calls below, but not look anything up.
	 * Nonzero means no room: the lookup is named by ELF symbols (a lean
	 * lookup) and DWARF is tried again later. May be NULL.
	 */
	int (*make_room)(void *ctx, uint64_t want);
	/*
	 * Called every SYM_CHECK_EVERY DWARF lookups, or once the CUs read and
	 * the files parsed since the last call hold SYM_CHECK_BYTES, before the
	 * next lookup: open sessions grow as they are read (libdw keeps each
	 * CU's line table), so a long drain is held to the budget as it goes.
	 * Same rules as make_room; may be NULL.
	 */
	void (*check)(void *ctx);
	uint64_t check_bytes; /* growth that brings the check forward; 0: SYM_CHECK_BYTES */
	void *room_ctx;
};

struct symbolizer_stats {
	unsigned long modules_open;    /* modules alive, in use or idle */
	unsigned long module_opens;    /* files actually opened and parsed */
	unsigned long module_hits;     /* module requests served without opening */
	unsigned long module_failures; /* unreadable, replaced or corrupt files */
	unsigned long dwarf_files;     /* DWARF sessions opened (reopens included) */
	unsigned long dwarf_open;      /* DWARF sessions open now */
	unsigned long modules_idle;    /* modules no process uses, kept for reuse */
	unsigned long modules_evicted; /* idle modules freed (cap or memory budget) */
	unsigned long dwarf_dropped;   /* DWARF sessions closed for the memory budget */
	unsigned long dwarf_skipped;   /* lookups named by ELF symbols only: lean mode */
	unsigned long cache_evicted;   /* address-cache entries dropped to make room */
	unsigned long cache_hits, cache_misses, cache_entries;
	size_t cache_bytes;
	unsigned long kernel_symbols, kernel_reloads;
	size_t kernel_bytes; /* the kernel symbol table */
	unsigned long perfmap_loads, perfmap_bad_lines;
};

/* @opts may be NULL for defaults. Returns NULL with errno set. */
struct symbolizer *symbolizer__new(const struct symbolizer_opts *opts);
/* Accepts NULL. Frees every module, whoever still references it. */
void symbolizer__free(struct symbolizer *s);

/*
 * The module for the file with identity (@dev, @ino), opening it when not yet
 * cached: first @path, then @fallback (either may be NULL). A file opened
 * through a path is checked against (@dev, @ino) so a replaced file is not
 * mistaken for the one that was mapped; two files with one GNU build ID share
 * a module, that of the one that names more (more symbols, or as many and
 * DWARF of its own: a full copy over a stripped or MiniDebugInfo one,
 * whichever came first). Returns a referenced module, or NULL with
 * errno set (ENOENT, EACCES, EINVAL for a corrupt file, ESTALE for a file
 * whose identity changed). Release with symbolizer__put_module.
 */
struct sym_module *symbolizer__get_module(struct symbolizer *s, const char *path,
					  const char *fallback, uint64_t dev, uint64_t ino);

/* The running kernel's vDSO image as a module (referenced), or NULL. */
struct sym_module *symbolizer__get_vdso(struct symbolizer *s);

/* One more reference to @m, which the caller already holds one of. Returns @m. */
struct sym_module *symbolizer__hold_module(struct symbolizer *s, struct sym_module *m);

/*
 * Drops one reference. A module with no users stays open (idle) so a binary
 * that is run again and again is parsed once; the least recently used idle
 * modules beyond the cap are freed, with their cached results. Accepts NULL.
 */
void symbolizer__put_module(struct symbolizer *s, struct sym_module *m);

/* GNU build ID in hex, "" when none. */
const char *sym_module__build_id(const struct sym_module *m);

/*
 * The file's "htlhash" (OTel's file ID, process.executable.build_id.htlhash):
 * the first 16 bytes of SHA-256 over its first 4 KiB, its last 4 KiB and its
 * length as a big-endian u64, as 32 lowercase hex digits. Computed once per
 * module; "" if the file cannot be read.
 */
const char *sym_module__htlhash(struct sym_module *m);

/* The file's libelf handle and identity, for other readers of the same file (unwind tables). */
struct elf_file *sym_module__elf(const struct sym_module *m);
void sym_module__identity(const struct sym_module *m, uint64_t *dev, uint64_t *ino);
/* 1 when lookups in @m carry DWARF file:line and inline frames. */
int sym_module__has_dwarf(struct symbolizer *s, struct sym_module *m);

/*
 * Names runtime address @addr of a mapping of @m that starts at @map_start with
 * file offset @map_offset. Returns 0 with @res filled, or -ENOENT when nothing
 * names it (res->nlines is then 0).
 */
int symbolizer__lookup(struct symbolizer *s, struct sym_module *m, uint64_t map_start,
		       uint64_t map_offset, uint64_t addr, struct sym_result *res);

/* The same with a file virtual address (no mapping arithmetic). */
int symbolizer__lookup_vaddr(struct symbolizer *s, struct sym_module *m, uint64_t vaddr,
			     struct sym_result *res);

/*
 * Rereads kernel symbols at the next kernel lookup if the set of loaded
 * modules changed since they were read. Call between intervals: strings of
 * earlier kernel results become invalid.
 */
void symbolizer__refresh_kernel(struct symbolizer *s);

/* Names kernel address @addr. Returns 0, or -ENOENT (unknown, or kallsyms unreadable). */
int symbolizer__lookup_kernel(struct symbolizer *s, uint64_t addr, struct sym_result *res);

/*
 * Names JIT address @addr of process @pid from the perf map at @path (read
 * on first use and again when the file changes). Returns 0 or -ENOENT.
 */
int symbolizer__lookup_perfmap(struct symbolizer *s, uint32_t pid, const char *path, uint64_t addr,
			       struct sym_result *res);

/* Drops per-process state (the perf map) of @pid. */
void symbolizer__forget_pid(struct symbolizer *s, uint32_t pid);

void symbolizer__stats(const struct symbolizer *s, struct symbolizer_stats *st);

/*
 * Making room, for the agent's memory budget, in the order it should be
 * asked. Each frees one thing and returns 1, or returns 0 when there is
 * nothing of that kind left:
 *  - evict_idle: the least recently used idle module, with its results;
 *  - drop_dwarf: the DWARF session of the module least recently looked up
 *    (it may be in use: it keeps its ELF symbols, drops its cached results,
 *    and reopens DWARF at its next lookup). With @heap (bytes in use now),
 *    what the close freed is remembered as the session's cost, handed to
 *    make_room before it is reopened.
 * trim_cache drops least recently used address-cache entries until the
 * cache holds at most @bytes; it returns the bytes dropped.
 */
int symbolizer__evict_idle(struct symbolizer *s);
int symbolizer__drop_dwarf(struct symbolizer *s, uint64_t (*heap)(void));
size_t symbolizer__trim_cache(struct symbolizer *s, size_t bytes);

/*
 * Lean mode, for when the budget cannot be met otherwise: no new DWARF
 * session is opened, so lookups name frames by ELF symbols (counted as
 * dwarf_skipped). Sessions already open stay usable. With make_room set,
 * make_room decides instead.
 */
void symbolizer__set_lean(struct symbolizer *s, int lean);

/*
 * Drops this process's resident copies of the modules' file pages (ELF and
 * debug files are mapped, not read): they come back from the page cache at
 * the next lookup that needs them, so RSS holds only what is in use.
 */
void symbolizer__release_pages(struct symbolizer *s);

#endif
