/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JIT symbol maps in the perf-map format ("/tmp/perf-PID.map"): one line per
 * generated function, "START SIZE NAME" with START and SIZE in hex, as
 * written by Node --perf-basic-prof, JVM perf-map agents and Python 3.12
 * -X perf. The file is written by the profiled process, so it is untrusted:
 * lines are length-capped, sizes and overlaps checked, and the whole map is
 * bounded in entries.
 */
#ifndef EMBER_SYM_PERFMAP_H
#define EMBER_SYM_PERFMAP_H

#include <stdint.h>
#include <stdio.h>

struct perfmap;

/* Entries kept at most; the rest of a larger file is ignored (and counted). */
#define PERFMAP_MAX_ENTRIES (1u << 20)

/*
 * Parses @in. Malformed lines are skipped and counted. A later entry for the
 * same start replaces an earlier one (JITs reuse code space). Returns NULL
 * with errno ENOMEM.
 */
struct perfmap *perfmap__parse(FILE *in);
/* Accepts NULL. */
void perfmap__free(struct perfmap *m);

/* The name of the entry containing @addr, or NULL. Owned by @m. */
const char *perfmap__lookup(const struct perfmap *m, uint64_t addr);

unsigned long perfmap__count(const struct perfmap *m);
unsigned long perfmap__skipped(const struct perfmap *m);

#endif
