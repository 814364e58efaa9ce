// SPDX-License-Identifier: Apache-2.0
/* The encoding arena (see arena.h): a list of calloc'd blocks. */
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "lib/array.h"

void *arena_alloc(struct arena *a, size_t size)
{
	void *p;

	if (a->failed)
		return NULL;
	if (EMBER_RESERVE(a->blocks, a->cap, a->n + 1))
		goto fail;
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
