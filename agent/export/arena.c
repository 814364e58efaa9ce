// SPDX-License-Identifier: Apache-2.0
/* The encoding arena (see arena.h): a list of calloc'd blocks. */
#include <stdlib.h>
#include <string.h>

#include "arena.h"

void *arena_alloc(struct arena *a, size_t size)
{
	void *p;

	if (a->failed)
		return NULL;
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		void **b = realloc(a->blocks, cap * sizeof(*b));

		if (!b)
			goto fail;
		a->blocks = b;
		a->cap = cap;
	}
	p = calloc(1, size ? size : 1);
	if (!p)
		goto fail;
	a->blocks[a->n++] = p;
	return p;
fail:
	a->failed = 1;
	return NULL;
}

char *arena_strdup(struct arena *a, const char *s)
{
	size_t len = strlen(s) + 1;
	char *p = arena_alloc(a, len);

	if (p)
		memcpy(p, s, len);
	return p;
}

void arena_free(struct arena *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->blocks[i]);
	free(a->blocks);
	a->blocks = NULL;
	a->n = a->cap = 0;
	a->failed = 0;
}
