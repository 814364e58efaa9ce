// SPDX-License-Identifier: Apache-2.0
/*
 * Perf-map parsing. Entries are sorted by start; where a JIT reused an address
 * range the entry that appears last in the file wins, since the file is
 * append-only and the newest line describes the code now there.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/array.h"
#include "symbolizer/perfmap.h"

/* Longest line read; a longer one is skipped (names can be long, not unbounded). */
#define LINE_MAX_LEN 4096

struct pm_entry {
	uint64_t start, size;
	uint32_t seq; /* line order, so the newest duplicate wins */
	char *name;
};

struct perfmap {
	struct pm_entry *e;
	size_t n, cap;
	unsigned long skipped;
};

static int parse_line(struct perfmap *m, char *line, uint32_t seq)
{
	char *end, *name;
	uint64_t start, size;
	size_t len;

	errno = 0;
	start = strtoull(line, &end, 16);
	if (errno || end == line || *end != ' ')
		return -1;
	line = end + 1;
	size = strtoull(line, &end, 16);
	if (errno || end == line || *end != ' ' || size == 0 || start + size < start)
		return -1;
	name = end + 1;
	len = strcspn(name, "\r\n");
	name[len] = '\0';
	if (!len)
		return -1;
	if (EMBER_RESERVE(m->e, m->cap, m->n + 1))
		return -ENOMEM;
	m->e[m->n].name = strdup(name);
	if (!m->e[m->n].name)
		return -ENOMEM;
	m->e[m->n].start = start;
	m->e[m->n].size = size;
	m->e[m->n].seq = seq;
	m->n++;
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct pm_entry *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

struct perfmap *perfmap__parse(FILE *in)
{
	struct perfmap *m = calloc(1, sizeof(*m));
	char *line = NULL;
	size_t cap = 0, out = 0;
	ssize_t len;
	uint32_t seq = 0;

	if (!m) {
		errno = ENOMEM;
		return NULL;
	}
	while ((len = getline(&line, &cap, in)) > 0) {
		int r;

		if (m->n >= PERFMAP_MAX_ENTRIES || len > LINE_MAX_LEN) {
			m->skipped++;
			continue;
		}
		r = parse_line(m, line, seq++);
		if (r == -ENOMEM) {
			free(line);
			perfmap__free(m);
			errno = ENOMEM;
			return NULL;
		}
		if (r)
			m->skipped++;
	}
	free(line);
	/* qsort() wants a non-null base even for no entries. */
	if (m->n > 1)
		qsort(m->e, m->n, sizeof(*m->e), entry_cmp);
	/* Keep the newest entry per start address. */
	for (size_t i = 0; i < m->n; i++) {
		if (out && m->e[out - 1].start == m->e[i].start) {
			free(m->e[out - 1].name);
			m->e[out - 1] = m->e[i];
		} else {
			m->e[out++] = m->e[i];
		}
	}
	m->n = out;
	return m;
}

void perfmap__free(struct perfmap *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->e[i].name);
	free(m->e);
	free(m);
}

const char *perfmap__lookup(const struct perfmap *m, uint64_t addr)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->e[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Overlapping ranges: the nearest start below wins, if it still covers addr. */
	if (lo && addr - m->e[lo - 1].start < m->e[lo - 1].size)
		return m->e[lo - 1].name;
	return NULL;
}

unsigned long perfmap__count(const struct perfmap *m)
{
	return m->n;
}

unsigned long perfmap__skipped(const struct perfmap *m)
{
	return m->skipped;
}
