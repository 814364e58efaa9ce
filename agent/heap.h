/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Memory profiling's bookkeeping (--alloc, --inuse; see bpf/memory.bpf.h):
 * which processes map a file with otel_memory probes, attaching the memory
 * programs to them and detaching when they go; and, for --inuse, the user
 * stacks the live blocks point at, which outlive the generation maps they
 * came in, summed per stack at the end of every interval.
 */
#ifndef EMBER_HEAP_H
#define EMBER_HEAP_H

#include <stddef.h>
#include <stdint.h>

struct heap;
struct proc_mapping;
struct sampler;

struct heap_stats {
	uint64_t procs;	       /* processes attached now */
	uint64_t attached;     /* attachments made during the run */
	uint64_t attach_fails; /* files with probes that could not be attached */
	uint64_t files;	       /* files checked for probes, and with them: */
	uint64_t files_probes;
	uint64_t stacks;       /* stacks kept for live blocks */
	uint64_t stacks_full;  /* stacks not kept: HEAP_MAX_STACKS held */
	uint64_t live;	       /* live blocks at the last interval's end */
	uint64_t live_pending; /* ... whose stack had not been drained yet */
	uint64_t live_dropped; /* ... dropped: their process was gone */
	uint64_t bytes;	       /* what the stacks and tables take */
};

/*
 * Borrows @s. @inuse: keep stacks for live blocks, in @stack_bytes at most
 * (a share of the memory budget). Returns NULL with errno set.
 */
struct heap *heap__new(struct sampler *s, int inuse, size_t stack_bytes);
/* Detaches everything. Accepts NULL. */
void heap__free(struct heap *h);

/*
 * After @pid's mappings were (re)read: attaches to the probes of every file
 * it maps that has some, and detaches from files it no longer maps.
 */
void heap__proc_loaded(struct heap *h, uint32_t pid, const struct proc_mapping *maps, size_t n);
/* @pid is gone: detaches from it. */
void heap__proc_gone(struct heap *h, uint32_t pid);

/* Keeps @ips (@n frames), the user stack with hash @hash of @pid, for live blocks. */
void heap__keep_stack(struct heap *h, uint32_t pid, uint64_t hash, const uint64_t *ips, uint32_t n);

/*
 * What is in use: the live blocks, summed per (process, stack), each handed
 * to @fn with its objects and bytes. Blocks of processes @alive says are
 * gone are dropped, and stacks no block points at any more are forgotten.
 * Returns 0 or the first error of @fn.
 */
typedef int (*heap_inuse_fn)(uint32_t pid, const uint64_t *ips, uint32_t n, int64_t objects,
			     int64_t bytes, void *ctx);
int heap__inuse(struct heap *h, int (*alive)(uint32_t pid, void *ctx), heap_inuse_fn fn, void *ctx);

void heap__stats(const struct heap *h, struct heap_stats *st);

#endif
