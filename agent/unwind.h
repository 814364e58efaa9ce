/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The unwinder: keeps the BPF walker's tables in step with the processes that
 * run. Each executable file gets its rows once (shared by every process that
 * maps it, freed with its last mapping); each executable mapping of each
 * process gets trie entries pointing at its file's rows with its load bias.
 * Everything here runs in the agent's event loop, never on the sample path:
 * a sample that arrives before its table falls back to frame pointers, and
 * BPF counts it.
 */
#ifndef EMBER_UNWIND_H
#define EMBER_UNWIND_H

#include <stddef.h>
#include <stdint.h>

struct unwinder;
struct symbolizer;
struct proc_mapping;

struct unwinder_stats {
	size_t tables;	  /* files with rows loaded */
	size_t rows_used; /* of rows_max */
	size_t rows_max;
	size_t mappings;     /* process mappings in the trie */
	size_t trie_entries; /* prefixes in the trie */
	size_t no_table;     /* mappings whose file has no usable .eh_frame */
	size_t table_full;   /* files left out because the rows array was full */
	uint64_t build_ns;   /* time spent building tables */
};

/*
 * @rows_fd: the BPF rows array (@max_rows entries); @trie_fd: the
 * LPM trie of executable mappings. Borrows @sym. Returns NULL with errno set.
 */
struct unwinder *unwinder__new(struct symbolizer *sym, int rows_fd, uint32_t max_rows, int trie_fd);
/* Accepts NULL. */
void unwinder__free(struct unwinder *u);

/* An executable mapping of @pid appeared (same mapping twice: counted twice). */
void unwinder__map_added(struct unwinder *u, uint32_t pid, const struct proc_mapping *m);
/* One reference to it went away; the trie entries go with the last. */
void unwinder__map_removed(struct unwinder *u, uint32_t pid, const struct proc_mapping *m);

void unwinder__stats(const struct unwinder *u, struct unwinder_stats *st);

#endif
