/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's main loop: sample, track processes, drain every second into the
 * interval's profile, symbolize, and write the outputs at the end of each
 * interval and at stop.
 */
#ifndef EMBER_RUN_H
#define EMBER_RUN_H

#include <stddef.h>
#include <stdint.h>

struct otlp_config;
struct otlp_attr;
struct profile;

/* Counters handed to run_opts.on_profile. */
struct run_status {
	uint64_t samples, lost; /* since the start */
	size_t processes;	/* tracked now */
	double seconds;		/* the interval's length */
};

/* Live sampled blocks kept with --inuse, in all; each process may hold a quarter. */
#define EMBER_LIVE_BLOCKS 65536

/* The heap budget without --memory-mb: with the binary's and libraries' pages, RSS <= 64 MiB. */
#define EMBER_MEMORY_DEFAULT (48ull << 20)

struct run_opts {
	uint32_t frequency;
	double duration; /* seconds; 0: until SIGINT/SIGTERM */
	double interval; /* seconds; 0: one profile for the whole run */
	const uint32_t *pids;
	size_t npids;
	const char *output;	    /* pprof path template; NULL: none */
	const char *folded;	    /* folded path template; NULL: none */
	const char *folded_off_cpu; /* --folded-off-cpu path template: blocked time; NULL: none */
	int off_cpu;		    /* --off-cpu: record blocked time beside CPU samples */
	uint64_t off_cpu_min_ns;    /* --off-cpu-min-us, in nanoseconds */
	uint32_t off_cpu_walks;	    /* --off-cpu-walks, walks a second; 0: default */
	int alloc;		    /* --alloc: where processes allocate (otel_memory probes) */
	int inuse;		    /* --inuse: also what they still hold */
	const char *heap_output; /* --heap-output path template: the memory profile; NULL: none */
	unsigned int top;	 /* print the N hottest functions at exit */
	const char *btf_path;
	const char *const *debug_dirs; /* NULL-terminated */
	size_t symbol_cache_bytes;     /* 0: the symbolizer's default */
	unsigned int idle_modules;     /* 0: the symbolizer's default */
	uint64_t memory_bytes;	       /* the heap budget; 0: EMBER_MEMORY_DEFAULT */
	int max_files;		       /* open-file target; 0: the budget's default */
	uint32_t max_counts, max_stacks;
	int dwarf_unwind;	      /* walk user stacks with .eh_frame tables in BPF */
	int python;		      /* read CPython frames in BPF (--no-python: 0) */
	uint32_t unwind_rows;	      /* rows array capacity (8 bytes each) */
	uint32_t unwind_maps;	      /* mapping trie capacity, in prefixes */
	uint32_t max_links;	      /* distinct trace links per second; 0: 4096 */
	int folded_span;	      /* folded output: the span as a frame */
	int cgroup_fd;		      /* > 0: --cgroup's directory */
	const char *container_prefix; /* --container-id */
	const char *status_addr;      /* --status-addr HOST:PORT */
	const char *flamegraph;	      /* --flamegraph PATH template */
	/* Called with each interval's profile before it is dropped (emberprof top). */
	void (*on_profile)(const struct profile *p, const struct run_status *st, void *ctx);
	void *on_profile_ctx;
	int on_profile_heap; /* on_profile gets the memory profile, not the CPU one (top --alloc) */
	struct otlp_config *otlp;		/* NULL: no OTLP export */
	const char *service_name;		/* OTEL_SERVICE_NAME */
	const struct otlp_attr *resource_attrs; /* OTEL_RESOURCE_ATTRIBUTES */
	size_t nresource_attrs;
};

/* Runs until the duration ends or a signal arrives. Returns the process exit code. */
int run(const struct run_opts *opts);

/* Asks run() to stop after writing what it has; async-signal-safe. */
void run_request_stop(void);

/* SIGHUP: outputs are (re)opened by path at every write; this notes the request. */
void run_request_reopen(void);

#endif
