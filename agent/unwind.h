/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The unwinder: keeps the BPF walker's tables in step with the processes that
 * run and with what they run. Each executable file gets a range of chunk
 * slots (shared by every process that maps it, freed with its last mapping);
 * each executable mapping of each process gets trie entries pointing at its
 * file's slots with its load bias. A chunk's rows are built only when a walk
 * first lands in it (BPF asks over the ring buffer), and the least recently
 * walked chunks are evicted when the rows array is full, so table memory
 * follows the code that is sampled, not the code that is mapped.
 * Everything here runs in the agent's event loop, never on the sample path:
 * a frame whose chunk is not built yet is stepped by frame pointer, and BPF
 * counts it.
 */
#ifndef EMBER_UNWIND_H
#define EMBER_UNWIND_H

#include <stddef.h>
#include <stdint.h>

struct unwinder;
struct symbolizer;
struct proc_mapping;

struct unwinder_stats {
	size_t tables;	      /* files with chunk slots */
	size_t chunks_loaded; /* chunks whose rows are in the array */
	size_t rows_used;     /* of rows_max */
	size_t rows_max;
	size_t slots_used; /* of slots_max */
	size_t slots_max;
	size_t mappings;       /* process mappings in the trie */
	size_t trie_entries;   /* prefixes in the trie */
	size_t no_table;       /* files with no usable .eh_frame */
	size_t queued;	       /* chunks asked for and not built yet */
	size_t sources;	       /* files whose FDEs libdw holds: built in the last few drains */
	uint64_t requests;     /* chunks asked for by walks */
	uint64_t builds;       /* chunks built (rebuilds included) */
	uint64_t rebuilds;     /* chunks built again after an eviction */
	uint64_t evictions;    /* chunks evicted to make room */
	uint64_t no_room;      /* builds refused: no room even after evicting */
	uint64_t no_slots;     /* files left without slots: the chunks array was full */
	uint64_t build_ns;     /* time spent building rows */
	uint64_t build_max_ns; /* the longest single chunk build: the event loop's longest stall */
	uint64_t waits;	       /* waits for in-flight walks before rows were reused */
	uint64_t wait_ns;      /* time spent in them */
};

/* The BPF side the unwinder fills (see bpf/emberprof.h). */
struct unwinder_maps {
	int rows_fd; /* the rows array, BPF_F_MMAPABLE, @max_rows entries */
	uint32_t max_rows;
	int chunks_fd; /* the chunks array, BPF_F_MMAPABLE, @max_chunks entries */
	uint32_t max_chunks;
	int trie_fd;		  /* the LPM trie of executable mappings */
	volatile uint32_t *epoch; /* the programs' unwind_epoch */
	/*
	 * Returns once every BPF program run that began before the call has
	 * ended, so rows or slots no mapping points at any more can be reused.
	 */
	void (*wait_programs)(void *ctx);
	void *ctx;
};

/* Borrows @sym and the maps. Returns NULL with errno set. */
struct unwinder *unwinder__new(struct symbolizer *sym, const struct unwinder_maps *maps);

/*
 * @make_room(@ctx, want) is called before a file's first chunk build with
 * the most its unwind source may come to hold (unwind_source__max_bytes),
 * so that a memory budget can free room first. Its answer is not a veto:
 * the table is built either way, stacks matter more than names.
 */
void unwinder__set_make_room(struct unwinder *u, int (*make_room)(void *ctx, uint64_t want),
			     void *ctx);
/* Accepts NULL. */
void unwinder__free(struct unwinder *u);

/* An executable mapping of @pid appeared (same mapping twice: counted twice). */
void unwinder__map_added(struct unwinder *u, uint32_t pid, const struct proc_mapping *m);
/* One reference to it went away; the trie entries go with the last. */
void unwinder__map_removed(struct unwinder *u, uint32_t pid, const struct proc_mapping *m);

/* A walk asked for chunk @slot (EMBER_EV_NEED_CHUNK): queue its build. */
void unwinder__request(struct unwinder *u, uint32_t slot);
/*
 * Queues every chunk of every file mapped now, to be built in spare room
 * (up to three quarters of the rows array): for the processes of -p, whose
 * first samples should not wait for their tables.
 */
void unwinder__want_all(struct unwinder *u);
/*
 * Builds queued chunks until none is left or @budget_ns has passed (at
 * least one is built). Returns how many are still queued.
 */
size_t unwinder__work(struct unwinder *u, uint64_t budget_ns);
/*
 * Drains (seconds) a file's table outlives its last mapping. Programs run
 * one after another (a build's compilers, a shell loop) map the same
 * libraries with gaps between them; freeing the table in each gap threw
 * away every chunk the next run was about to walk again. Ten seconds covers
 * such gaps; longer would keep the file's parsed module from the memory
 * budget's eviction of idle modules (the table holds it).
 */
#define UNWIND_TABLE_IDLE_EPOCHS 10

/*
 * A file's unwind source (libdw's parsed FDEs, up to 80 bytes each) is
 * freed once no chunk of the file was built for this many drains. Freeing
 * it as soon as the build queues emptied made rebuilds under eviction 30
 * times dearer (each reopens the source and, for lld's files, parses the
 * FDEs from the start), and test_unwind_evict's share reaching main fell
 * from 90% to 79%.
 */
#define UNWIND_SOURCE_IDLE_EPOCHS 5

/*
 * Once a drain: a new epoch for the walks' used stamps, chunks refused for
 * lack of room may be asked for again, tables idle for
 * UNWIND_TABLE_IDLE_EPOCHS go (sooner when their slots are needed), and
 * sources idle for UNWIND_SOURCE_IDLE_EPOCHS are freed.
 */
void unwinder__tick(struct unwinder *u);

void unwinder__stats(const struct unwinder *u, struct unwinder_stats *st);

/*
 * The files whose chunks were most often refused for lack of room, up to
 * @max: their names and the rows their refused chunks needed. Returns how
 * many were written.
 */
struct unwinder_starved {
	char name[64];
	uint64_t refused; /* chunk builds refused */
	uint64_t rows;	  /* rows those chunks needed */
};
size_t unwinder__starved(const struct unwinder *u, struct unwinder_starved *out, size_t max);

#endif
