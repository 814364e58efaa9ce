/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A profile ranked into a table, as perf top and pprof -top show it: one row
 * per function (or process, or span) with its self samples (the leaf's
 * innermost line) and its total (stacks it is on, counted once per stack).
 * Written from the model, for `emberprof top` and `--top N` alike.
 */
#ifndef EMBER_PROFILE_RANK_H
#define EMBER_PROFILE_RANK_H

#include <stddef.h>
#include <stdint.h>

struct profile;

enum rank_by { RANK_FUNCTION, RANK_PROCESS, RANK_SPAN };

struct rank_row {
	char name[160]; /* kernel functions end in " [k]"; an unnamed leaf is its address */
	int64_t self, total;
};

struct ranking {
	struct rank_row *rows; /* sorted, the highest first */
	size_t n, cap;
	int64_t samples; /* the profile's total of the value ranked */
};

/* profile__rank's @value: the CPU samples, not a sample type's index. */
#define RANK_SAMPLES (-1)

/* "function", "process" or "span". */
const char *rank_by_name(enum rank_by by);

/*
 * Ranks @p by @by into @r, sorted by total when @by_total, else by self.
 * @value is RANK_SAMPLES or the index of the sample type to rank by (top
 * --off-cpu: profile__off_cpu_type()). @r's rows are reused from one call
 * to the next. Returns 0 or -ENOMEM.
 */
int profile__rank(const struct profile *p, enum rank_by by, int by_total, int value,
		  struct ranking *r);

/* Frees @r's rows. */
void ranking__free(struct ranking *r);

#endif
