/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An allocation arena for one encoding: the protobuf-c message trees the
 * exporters build point at many small blocks that all die together once the
 * message is packed. Allocation failure is sticky, so a builder can allocate
 * freely and check `failed` once at the end.
 */
#ifndef EMBER_LIB_ARENA_H
#define EMBER_LIB_ARENA_H

#include <stddef.h>

struct arena {
	void **blocks;
	size_t n, cap;
	int failed; /* an allocation failed: the tree is incomplete */
};

/* Zeroed memory of @size bytes (at least 1), owned by @a; NULL once anything failed. */
void *arena_alloc(struct arena *a, size_t size);
/* A copy of @s owned by @a. */
char *arena_strdup(struct arena *a, const char *s);
/* Frees every block; @a can be reused after. */
void arena_free(struct arena *a);

#endif
