/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sampler: loads the BPF skeleton, opens one perf event per online CPU
 * (hardware cycles, or software cpu-clock where no PMU exists), attaches the
 * programs, and hands the agent two things: process events as they happen,
 * and each interval's counted stacks when it drains.
 */
#ifndef EMBER_SAMPLER_H
#define EMBER_SAMPLER_H

#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "bpf/emberprof.h"

struct sampler;
struct bpf_link;

/* Chunk slots for unwind tables: 2^16 of 256 KiB each map 16 GiB of code. */
#define EMBER_UNWIND_CHUNKS (1u << 16)

struct sampler_opts {
	uint32_t frequency;   /* samples per second per CPU */
	const uint32_t *pids; /* NULL: every process */
	size_t npids;
	uint32_t max_counts;	  /* entries per generation of the count map */
	uint32_t max_stacks;	  /* entries per generation of the stack map */
	const char *btf_path;	  /* kernel BTF for CO-RE; NULL: the running kernel's */
	int dwarf_unwind;	  /* walk user stacks with .eh_frame tables */
	uint32_t unwind_rows;	  /* capacity of the rows array */
	uint32_t unwind_maps;	  /* capacity of the executable-mapping trie, in prefixes */
	uint32_t max_links;	  /* distinct trace links per generation; 0: 4096 */
	const char *obi_map_path; /* pinned OBI trace-context map to read, if it exists */
	int cgroup_fd;		  /* > 0: only tasks in this cgroup v2 directory's subtree */
	int python;		  /* read CPython frames (see bpf/python.bpf.h) */
	int off_cpu;		  /* record blocked time (see bpf/offcpu.bpf.h) */
	uint64_t off_cpu_min_ns;  /* waits shorter than this are not added */
	uint32_t off_cpu_walks;	  /* sleeping switches walked per second, about; 0: the default */
	int alloc;		  /* load the memory programs (see bpf/memory.bpf.h) */
	int inuse;		  /* ... and keep sampled blocks until their free */
	uint32_t max_live;	  /* live blocks kept, in all */
	uint32_t proc_live;	  /* live blocks kept, per process */
};

/*
 * Sleeping switches walked per second by default, at most (about: the rate
 * of the last estimate sets the next one's sampling; --off-cpu-walks sets
 * it). Each walk costs what a CPU sample's does; bench/offcpu.sh measures
 * it against this rate.
 */
#define EMBER_OFFCPU_WALKS_PER_SEC 250

/* What a drained count is. */
enum sample_kind {
	SAMPLE_CPU,	/* @count CPU samples */
	SAMPLE_OFF_CPU, /* @count nanoseconds blocked (weighted) */
};

typedef void (*sampler_event_fn)(const struct ember_event *ev, void *ctx);

/*
 * One drained entry: @count of @kind. @kips/@uips are the kernel and user stacks, leaf first;
 * @nk/@nu may be 0 (no stack of that kind, or it was lost: see the metrics).
 * @link is the sample's trace link, or NULL.
 * Returns 0 to go on, or a negative errno to stop the drain.
 */
typedef int (*sampler_sample_fn)(const struct ember_key *key, enum sample_kind kind, uint64_t count,
				 const uint64_t *kips, uint32_t nk, const uint64_t *uips,
				 uint32_t nu, const struct ember_link *link, void *ctx);

/*
 * One drained memory count: the sampled allocations of @key, @m's objects
 * and bytes, with user stack @uips (@nu frames, leaf first; 0 when lost).
 * Returns 0 to go on, or a negative errno to stop the drain.
 */
typedef int (*sampler_mem_fn)(const struct ember_key *key, const struct ember_mem *m,
			      const uint64_t *uips, uint32_t nu, void *ctx);

/* One live block (--inuse). Returns 1 to drop it (its process is gone), else 0. */
typedef int (*sampler_live_fn)(const struct ember_live_key *k, const struct ember_live *v,
			       void *ctx);

/*
 * Loads the programs and attaches the process tracepoints; sampling starts
 * with sampler__start, so the maps (tables, TLS offsets) can be filled
 * first. @on_event is called from sampler__poll. Returns NULL with errno
 * set; the reason has been logged with pr_warn as one line saying what to do.
 */
struct sampler *sampler__new(const struct sampler_opts *opts, sampler_event_fn on_event, void *ctx);
/* Opens the perf events: samples flow from here on. Returns 0 or -errno (logged). */
int sampler__start(struct sampler *s);

/* Detaches and frees. Accepts NULL and a half-built sampler. */
void sampler__free(struct sampler *s);

/* Waits up to @timeout_ms for process events and delivers them. Returns 0 or -errno (-EINTR). */
int sampler__poll(struct sampler *s, int timeout_ms);

/*
 * Switches the programs to the other map generation, then hands every entry of
 * the one just closed to @fn and empties it: CPU samples, then off-CPU time.
 * With off-CPU on, also sets the next period's sampling of sleeping switches
 * from this one's rate. Returns 0 or the first error.
 */
int sampler__drain(struct sampler *s, sampler_sample_fn fn, void *ctx);

/* With alloc: where sampler__drain hands the memory counts, after the CPU ones. */
void sampler__set_mem_fn(struct sampler *s, sampler_mem_fn fn, void *ctx);

/*
 * Attaches the memory programs to the otel_memory probes of the file at
 * @path (a path this process can open: /proc/PID/root/...) for @pid only:
 * @links[0] alloc, @links[1] free (NULL without inuse). Returns 0 or -errno.
 */
int sampler__attach_usdt(struct sampler *s, uint32_t pid, const char *path,
			 struct bpf_link **links);

/*
 * Hands every live block to @fn, and drops those it returns 1 for, with
 * their processes' shares. Returns the number of blocks seen, or -errno.
 */
long sampler__live(struct sampler *s, sampler_live_fn fn, void *ctx);

/* Tells BPF whether @pid has the memory programs attached (its forks are then reported). */
void sampler__mem_attached(struct sampler *s, uint32_t pid, int attached);

/* @pid exited: its share of the live blocks goes (its blocks go at the next sampler__live). */
void sampler__forget_live(struct sampler *s, uint32_t pid);

/* Sums the per-CPU counters into @out[EMBER_M_NR]. Returns 0 or -errno. */
int sampler__metrics(struct sampler *s, uint64_t *out);

/* Tells BPF where @pid keeps its thread-context pointer (offset from the thread pointer). */
int sampler__set_tls(struct sampler *s, uint32_t pid, int64_t offset);
/* Forgets it (the process exited or unpublished). */
void sampler__clear_tls(struct sampler *s, uint32_t pid);

/* Tells BPF that @pid runs CPython laid out as @py. Returns 0 or -errno. */
int sampler__set_python(struct sampler *s, uint32_t pid, const struct ember_py_proc *py);
/* Forgets it (the process exited or exec'ed). */
void sampler__clear_python(struct sampler *s, uint32_t pid);

/* 1 when the OBI trace-context map was found and is read. */
int sampler__obi_attached(const struct sampler *s);

/* The unwinder's maps (the rows and chunks arrays, the mapping trie), epoch and wait. */
struct unwinder_maps;
void sampler__unwind_maps(struct sampler *s, struct unwinder_maps *m);

/* Bytes the BPF maps take in the kernel, from their sizes (an estimate). */
uint64_t sampler__map_bytes(const struct sampler *s);

/*
 * 0 when the kernel's BTF (@btf_path, or the running kernel's) has the
 * sched_switch tracepoint --off-cpu attaches to; else -ENOENT, or the
 * error reading the BTF, with one line logged saying so.
 */
int sampler__off_cpu_check(const char *btf_path);

/* The off-CPU sampling in force: one sleeping switch walked in 2^shift. */
uint32_t sampler__off_cpu_shift(const struct sampler *s);

/* How the drains put each thread's measured blocked time under its stacks (totals so far). */
struct sampler_offcpu_stats {
	uint64_t measured_ns; /* blocked time of the threads alive at each drain, walked or not */
	uint64_t scaled;      /* threads' generations whose walked waits were scaled to it */
	uint64_t last_stacks; /* ... none of whose waits was walked: put under the last walked */
	uint64_t last_ns;     /* ... their nanoseconds */
	uint64_t lost;	      /* ... with no stack left to put it under (evicted) */
	uint64_t lost_ns;     /* ... their nanoseconds */
};
void sampler__off_cpu_stats(const struct sampler *s, struct sampler_offcpu_stats *out);

/* "cycles" or "cpu-clock". */
const char *sampler__event_name(const struct sampler *s);

#endif
