/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Folded stacks: one line per distinct stack, "process;root;...;leaf COUNT",
 * the input of flamegraph.pl and speedscope. Kernel frames end in "_[k]",
 * flamegraph.pl's marker for kernel code; inlined frames appear as frames of
 * their own; an unnamed frame shows as "file+0xOFFSET" or "0xADDRESS".
 */
#ifndef EMBER_PROFILE_FOLDED_H
#define EMBER_PROFILE_FOLDED_H

#include <stdio.h>

struct profile;

/* What a line's number counts. */
enum folded_value {
	FOLDED_SAMPLES,	   /* CPU samples */
	FOLDED_OFF_CPU_US, /* off-CPU time in microseconds (--folded-off-cpu) */
};

/*
 * Writes @p's @value to @out, stacks sorted and merged; stacks whose value
 * is 0 are left out. With @span_frames, a sample that ran in a traced span
 * gets the frame "[span SPANID]" right after the process, so flame graphs
 * split by span. Returns 0, -ENOMEM or -EIO.
 */
int folded__fprint(const struct profile *p, FILE *out, int span_frames, enum folded_value value);

/* Writes @p to @path atomically (temporary file, then rename). Returns 0 or -errno. */
int folded__write(const struct profile *p, const char *path, int span_frames,
		  enum folded_value value);

#endif
