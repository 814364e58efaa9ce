// SPDX-License-Identifier: Apache-2.0
/*
 * Ranking a profile (see rank.h). Rows are found by name through a hash
 * table, so one function inlined into many places, or one process name
 * across its samples, is one row.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/array.h"
#include "lib/htab.h"
#include "profile/profile.h"
#include "profile/rank.h"

const char *rank_by_name(enum rank_by by)
{
	return by == RANK_PROCESS ? "process" : by == RANK_SPAN ? "span" : "function";
}

static int cmp_self(const void *a, const void *b)
{
	const struct rank_row *x = a, *y = b;

	return (x->self < y->self) - (x->self > y->self);
}

static int cmp_total(const void *a, const void *b)
{
	const struct rank_row *x = a, *y = b;

	return (x->total < y->total) - (x->total > y->total);
}

/* Adds to the row named @name (self and/or total). Returns 0 or -ENOMEM. */
static int bump(struct htab *idx, struct ranking *r, const char *name, int64_t self, int64_t total)
{
	uint64_t *slot = htab__get(idx, name, strlen(name), 1, r->n, NULL);
	struct rank_row *row;

	if (!slot)
		return -ENOMEM;
	if (*slot == r->n) {
		if (EMBER_RESERVE(r->rows, r->cap, r->n + 1)) {
			htab__del(idx, name, strlen(name));
			return -ENOMEM;
		}
		memset(&r->rows[r->n], 0, sizeof(*r->rows));
		snprintf(r->rows[r->n].name, sizeof(r->rows[r->n].name), "%s", name);
		r->n++;
	}
	row = &r->rows[*slot];
	row->self += self;
	row->total += total;
	return 0;
}

int profile__rank(const struct profile *p, enum rank_by by, int by_total, int value,
		  struct ranking *r)
{
	size_t nsamples, nlocs, nfns, nstr, nmaps;
	const struct prof_sample *samples = profile__samples(p, &nsamples);
	const struct prof_location *locs = profile__locations(p, &nlocs);
	const struct prof_function *fns = profile__functions(p, &nfns);
	const struct prof_mapping *maps = profile__mappings(p, &nmaps);
	const struct prof_link *links = profile__links(p, &(size_t){0});
	const char *const *strings = profile__strings(p, &nstr);
	struct htab *idx = htab__new();
	uint8_t *seen = calloc(nfns + 1, 1);
	uint64_t *touched = calloc(nfns + 1, sizeof(*touched));
	int err = idx && seen && touched ? 0 : -ENOMEM;

	r->n = 0;
	r->samples = 0;
	for (size_t i = 0; !err && i < nsamples; i++) {
		const struct prof_sample *s = &samples[i];
		int64_t v = value == RANK_SAMPLES ? s->count : profile__value(p, s, (size_t)value);
		char name[160];
		size_t ntouched = 0;

		if (v == 0)
			continue;
		r->samples += v;
		if (by == RANK_PROCESS) {
			snprintf(name, sizeof(name), "%s [%u]", strings[s->process], s->pid);
			err = bump(idx, r, name, v, v);
			continue;
		}
		if (by == RANK_SPAN) {
			if (s->link)
				snprintf(name, sizeof(name), "span %s  trace %s",
					 strings[links[s->link - 1].span_hex],
					 strings[links[s->link - 1].trace_hex]);
			else
				snprintf(name, sizeof(name), "(no span)");
			err = bump(idx, r, name, v, v);
			continue;
		}
		/* Functions: self for the leaf's innermost line, total once per stack. */
		for (uint32_t j = 0; !err && j < s->nlocs; j++) {
			const struct prof_location *l = &locs[s->loc_ids[j] - 1];
			int kernel = l->mapping_id && maps[l->mapping_id - 1].kernel;

			if (!l->nlines && j == 0) {
				snprintf(name, sizeof(name), "0x%" PRIx64, l->address);
				err = bump(idx, r, name, v, v);
			}
			for (uint32_t k = 0; !err && k < l->nlines; k++) {
				uint64_t f = l->lines[k].function_id;

				snprintf(name, sizeof(name), "%s%s", strings[fns[f - 1].name],
					 kernel ? " [k]" : "");
				err = bump(idx, r, name, j == 0 && k == 0 ? v : 0, seen[f] ? 0 : v);
				if (!seen[f]) {
					seen[f] = 1;
					touched[ntouched++] = f;
				}
			}
		}
		for (size_t k = 0; k < ntouched; k++)
			seen[touched[k]] = 0;
	}
	if (r->n)
		qsort(r->rows, r->n, sizeof(*r->rows), by_total ? cmp_total : cmp_self);
	htab__free(idx);
	free(seen);
	free(touched);
	return err;
}

void ranking__free(struct ranking *r)
{
	free(r->rows);
	memset(r, 0, sizeof(*r));
}
