/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's own memory, as the budget sees it: the heap in use (what
 * malloc holds for live allocations), the heap malloc keeps free without
 * returning it, and resident memory split into anonymous and file-backed
 * pages, as a container's memory limit and `ps` count them.
 */
#ifndef EMBER_MEMORY_H
#define EMBER_MEMORY_H

#include <stddef.h>
#include <stdint.h>

struct mem_usage {
	uint64_t heap_used; /* live allocations, mmapped ones included */
	uint64_t heap_free; /* free but kept by malloc */
	uint64_t rss;	    /* resident: anonymous + file-backed + shared */
	uint64_t rss_anon;
	uint64_t rss_file;
	uint64_t rss_shmem; /* shared memory: BPF maps mapped into the agent */
};

/*
 * Reads the heap (mallinfo2: it walks malloc's free lists, so call it once a
 * drain at most) and the resident split of /proc/self/status. Fields that
 * cannot be read stay 0.
 */
void mem_usage__read(struct mem_usage *u);

/* Resident bytes only, from /proc/self/statm: cheap enough for every drain. */
uint64_t mem_rss(void);

/* File descriptors this process holds, from /proc/self/fd; -1 if unreadable. */
int mem_open_files(void);

/*
 * The budget: a target for the heap and one for open files, met by asking
 * the symbolizer for room in a fixed order (see symbolizer.h): idle modules
 * least recently used first, then the address cache, then DWARF sessions
 * least recently looked up first. Lean mode (no new DWARF session unless
 * its known cost fits; frames named by ELF symbols) follows when DWARF
 * sessions of files in use had to close or nothing was left to free, and
 * holds for 30 s after the last such check so that it does not flap.
 * Samples are never dropped for memory.
 */
struct symbolizer;

struct mem_budget_stats {
	uint64_t checks, over_heap, over_files; /* checks, and those over a target */
	uint64_t lean_checks;			/* checks that left lean mode on */
	uint64_t heap_peak, rss_peak;
	int files, files_peak;
	struct mem_usage last; /* at the last check */
};

struct mem_budget {
	uint64_t heap_target; /* bytes */
	int files_target;     /* descriptors */
	uint64_t lean_until;  /* monotonic ns; 0: not lean */
	struct mem_budget_stats st;
};

/* Sets the targets; @files_target 0 picks min(256, half the RLIMIT_NOFILE soft limit). */
void mem_budget__init(struct mem_budget *b, uint64_t heap_target, int files_target);

/*
 * Measures, and when over a target frees until under it or nothing is left
 * (then lean mode), having first released the files' mapped pages
 * (symbolizer__release_pages). @now_ns is CLOCK_MONOTONIC. Returns what it
 * freed: modules evicted + DWARF sessions closed + cache entries dropped.
 */
unsigned long mem_budget__check(struct mem_budget *b, struct symbolizer *sym, uint64_t now_ns);

/*
 * The check before a DWARF session is opened, leaving room for @want bytes
 * (its measured or guessed cost, 0 if unknown). Returns nonzero when there is no room.
 * In lean mode nothing is freed: a session of known cost that fits opens,
 * any other is refused.
 */
int mem_budget__make_room(struct mem_budget *b, struct symbolizer *sym, uint64_t want,
			  uint64_t now_ns);

/*
 * The check, leaving room for @want bytes that will be allocated whatever
 * it finds (an unwind table's build): frees what it can, even in lean mode.
 * Returns what mem_budget__check returns.
 */
unsigned long mem_budget__reserve(struct mem_budget *b, struct symbolizer *sym, uint64_t want,
				  uint64_t now_ns);

#endif
