// SPDX-License-Identifier: Apache-2.0
/*
 * /proc/kallsyms parsing. Each line is "ADDR TYPE NAME [\t[MODULE]]". Only
 * text symbols (t, T, w, W) can be the target of a sampled instruction
 * pointer, so only they are kept; that also keeps the table to about a third
 * of the file. Names and module names are copied into one arena per table.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "lib/array.h"
#include "symbolizer/kallsyms.h"

struct ksym {
	uint64_t addr;
	const char *name;
	const char *module;
};

struct kallsyms {
	struct ksym *syms;
	size_t n, cap;
	char **chunks; /* arena blocks holding the strings */
	size_t nchunks;
	char *cur;
	size_t left;
	unsigned long skipped;
};

/* The last symbol extends at most this far: beyond it an address is unknown. */
#define KSYM_MAX_EXTENT (1u << 20)
#define ARENA_CHUNK (256 * 1024)

static char *arena_dup(struct kallsyms *k, const char *s, size_t len)
{
	char *p;

	if (len + 1 > k->left) {
		size_t sz = len + 1 > ARENA_CHUNK ? len + 1 : ARENA_CHUNK;
		char **chunks = realloc(k->chunks, (k->nchunks + 1) * sizeof(*chunks));

		if (!chunks)
			return NULL;
		k->chunks = chunks;
		k->cur = malloc(sz);
		if (!k->cur)
			return NULL;
		k->chunks[k->nchunks++] = k->cur;
		k->left = sz;
	}
	p = k->cur;
	memcpy(p, s, len);
	p[len] = '\0';
	k->cur += len + 1;
	k->left -= len + 1;
	return p;
}

static int is_text(char type)
{
	return type == 't' || type == 'T' || type == 'w' || type == 'W';
}

/* Parses one line. Returns 1 kept, 0 skipped (not text), -1 malformed, -ENOMEM. */
static int parse_line(struct kallsyms *k, char *line)
{
	char *end, *name, *mod = NULL, *p;
	uint64_t addr;
	char type;

	errno = 0;
	addr = strtoull(line, &end, 16);
	if (errno || end == line || *end != ' ')
		return -1;
	type = end[1];
	if (!type || end[2] != ' ')
		return -1;
	name = end + 3;
	name[strcspn(name, "\n")] = '\0';
	p = strchr(name, '\t');
	if (p) {
		*p++ = '\0';
		if (*p == '[' && strchr(p, ']')) {
			mod = p;
			strchr(mod, ']')[1] = '\0';
		}
	}
	if (!*name)
		return -1;
	if (!is_text(type) || addr == 0)
		return 0;
	if (EMBER_RESERVE(k->syms, k->cap, k->n + 1))
		return -ENOMEM;
	k->syms[k->n].addr = addr;
	k->syms[k->n].name = arena_dup(k, name, strlen(name));
	k->syms[k->n].module = mod ? arena_dup(k, mod, strlen(mod)) : "";
	if (!k->syms[k->n].name || !k->syms[k->n].module)
		return -ENOMEM;
	k->n++;
	return 1;
}

static int ksym_cmp(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return 0;
}

struct kallsyms *kallsyms__parse(FILE *in)
{
	struct kallsyms *k = calloc(1, sizeof(*k));
	char *line = NULL;
	size_t len = 0;
	int err = 0;

	if (!k) {
		errno = ENOMEM;
		return NULL;
	}
	while (getline(&line, &len, in) > 0) {
		int r = parse_line(k, line);

		if (r == -ENOMEM) {
			err = -ENOMEM;
			goto fail;
		}
		if (r < 0)
			k->skipped++;
	}
	if (k->n == 0) {
		err = -ENOENT;
		goto fail;
	}
	/* Stable order for equal addresses is not needed: any alias names the code. */
	qsort(k->syms, k->n, sizeof(*k->syms), ksym_cmp);
	free(line);
	return k;
fail:
	free(line);
	kallsyms__free(k);
	errno = -err;
	return NULL;
}

struct kallsyms *kallsyms__load(const char *path)
{
	FILE *f = fopen(path, "re");
	struct kallsyms *k;
	int err;

	if (!f)
		return NULL;
	k = kallsyms__parse(f);
	err = errno;
	fclose(f);
	errno = err;
	return k;
}

void kallsyms__free(struct kallsyms *k)
{
	if (!k)
		return;
	for (size_t i = 0; i < k->nchunks; i++)
		free(k->chunks[i]);
	free(k->chunks);
	free(k->syms);
	free(k);
}

const char *kallsyms__lookup(const struct kallsyms *k, uint64_t addr, const char **module,
			     uint64_t *start)
{
	size_t lo = 0, hi = k->n;
	const struct ksym *s;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (k->syms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	s = &k->syms[lo - 1];
	if (lo == k->n && addr - s->addr > KSYM_MAX_EXTENT)
		return NULL;
	if (module)
		*module = s->module;
	if (start)
		*start = s->addr;
	return s->name;
}

unsigned long kallsyms__count(const struct kallsyms *k)
{
	return k->n;
}

size_t kallsyms__bytes(const struct kallsyms *k)
{
	/* Every string block is ARENA_CHUNK bytes but those of an oversized name. */
	return sizeof(*k) + k->cap * sizeof(*k->syms) + k->nchunks * (ARENA_CHUNK + sizeof(char *));
}

unsigned long kallsyms__skipped(const struct kallsyms *k)
{
	return k->skipped;
}
