/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Flame graphs with no backend: one self-contained HTML file (script, style
 * and data inline, no network references) that opens from file:// in any
 * browser. Written from the profile model: the agent's own, or one the pprof
 * reader built from any tool's file.
 */
#ifndef EMBER_FLAMEGRAPH_H
#define EMBER_FLAMEGRAPH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct profile;

/*
 * Writes the flame graph of @p to @path (atomically: temporary file, fsync,
 * rename), titled @title. Returns 0 or -errno.
 */
int flamegraph__write(const struct profile *p, const char *title, const char *path);

/*
 * A differential flame graph of @base against @next: frames are sized by
 * @next and coloured by the change of their share from @base.
 */
int flamegraph__write_diff(const struct profile *base, const struct profile *next,
			   const char *title, const char *path);

/*
 * The same two pages written to the open stream @f, which stays open: for
 * standard output, or for a caller that keeps the page in memory.
 */
int flamegraph__fwrite(const struct profile *p, const char *title, FILE *f);
int flamegraph__fwrite_diff(const struct profile *base, const struct profile *next,
			    const char *title, FILE *f);

#endif
