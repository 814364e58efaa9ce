/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the agent says about itself: the -v lines (each interval and at
 * exit) and the summary line at exit, here, and the /metrics page
 * (status.c). All of them are rendered from one struct report, which the run loop gathers from its
 * parts in one place; so a counter shows the same number wherever it is
 * shown, and a new one is added in two places: the struct, and the
 * renderers that show it.
 */
#ifndef EMBER_REPORT_H
#define EMBER_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "symbolizer/symbolizer.h"
#include "bpf/emberprof.h"
#include "agent/heap.h"
#include "agent/memory.h"
#include "agent/otelctx.h"
#include "agent/otlp_http.h"
#include "agent/python.h"
#include "agent/sampler.h"
#include "agent/unwind.h"

/* Heap bytes by holder: counted by each table, the parsed files as the rest. */
struct mem_split {
	uint64_t files, symbols, kernel, processes, profile, otlp;
};

#define EMBER_REPORT_STARVED 5

struct report {
	uint64_t m[EMBER_M_NR];	 /* the BPF counters, summed over CPUs */
	uint64_t lost;		 /* samples lost: ember_lost(m) */
	const char *event;	 /* the perf event sampled on */
	size_t processes;	 /* in the table now */
	size_t processes_seen;	 /* sampled during the run */
	int64_t profile_samples; /* in the interval's profile */
	/* Samples not in the profile, and other counts of the loop's own. */
	uint64_t filtered;	 /* by --container-id */
	uint64_t unattributed;	 /* neither stack */
	uint64_t stopped;	 /* ending in an [unwind stopped] frame */
	uint64_t frames_unnamed; /* locations with no name */
	uint64_t write_failures; /* intervals in which an output could not be written */
	struct symbolizer_stats sym;
	struct otelctx_stats ctx;
	struct mem_budget budget; /* its targets and last measurements */
	struct mem_split mem;
	uint64_t rss;	    /* now */
	uint64_t map_bytes; /* BPF maps */
	int has_unwinder;
	struct unwinder_stats unwind;
	struct unwinder_starved starved[EMBER_REPORT_STARVED];
	size_t nstarved;
	int has_otlp;
	struct otlp_exporter_stats otlp;
	int has_python;
	struct python_stats python;
	int has_off_cpu;
	uint32_t off_cpu_shift; /* one sleeping switch in 2^shift is walked */
	struct sampler_offcpu_stats off_cpu;
	int has_heap;
	struct heap_stats heap;
};

/* The name of a BPF counter in /metrics ("unwind_depth_cut"); static storage. */
const char *ember_metric_name(enum ember_metric m);

/*
 * The frame name for a stopped walk's marker @ip (>= EMBER_STOP_IP_BASE):
 * "[unwind stopped: REASON]". Static storage.
 */
const char *ember_stop_frame(uint64_t ip);

/* The samples lost or degraded in BPF: stack maps full, user stack unreadable, count map full. */
uint64_t ember_lost(const uint64_t *m);

/* -v, every interval: one status line and the memory line. */
void report__interval(const struct report *r);
/* -v, at exit: samples, symbolizer, trace links, memory, and the unwinder. */
void report__final(const struct report *r);
/* The summary line at exit (always shown); @output and @folded may be NULL. */
void report__summary(const struct report *r, const char *output, const char *folded);

#endif
