// SPDX-License-Identifier: Apache-2.0
/*
 * Open addressing with linear probing, kept at most half full so probes stay
 * short. Each slot stores the key's hash, so a probe compares bytes only on
 * a hash match. Deletion shifts later members of the probe run back into the
 * hole (no tombstones), so long-lived tables such as the process table do not
 * slow down as entries come and go.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/htab.h"

struct slot {
	uint64_t hash;
	void *key; /* NULL: empty slot */
	size_t len;
	uint64_t value;
};

struct htab {
	struct slot *slots;
	size_t cap; /* power of two */
	size_t count;
};

uint64_t htab_hash(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

struct htab *htab__new(void)
{
	struct htab *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->cap = 64;
	h->slots = calloc(h->cap, sizeof(*h->slots));
	if (!h->slots) {
		free(h);
		errno = ENOMEM;
		return NULL;
	}
	return h;
}

void htab__free(struct htab *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->cap; i++)
		free(h->slots[i].key);
	free(h->slots);
	free(h);
}

static struct slot *probe(struct slot *slots, size_t cap, uint64_t hash, const void *key,
			  size_t len)
{
	size_t i = hash & (cap - 1);

	for (;;) {
		struct slot *s = &slots[i];

		if (!s->key)
			return s;
		if (s->hash == hash && s->len == len && (len == 0 || memcmp(s->key, key, len) == 0))
			return s;
		i = (i + 1) & (cap - 1);
	}
}

static int grow(struct htab *h)
{
	size_t cap = h->cap * 2;
	struct slot *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < h->cap; i++) {
		struct slot *old = &h->slots[i];

		if (old->key)
			*probe(slots, cap, old->hash, old->key, old->len) = *old;
	}
	free(h->slots);
	h->slots = slots;
	h->cap = cap;
	return 0;
}

uint64_t *htab__get(struct htab *h, const void *key, size_t len, int insert, uint64_t init,
		    int *added)
{
	uint64_t hash = htab_hash(key, len);
	struct slot *s = probe(h->slots, h->cap, hash, key, len);

	if (added)
		*added = 0;
	if (s->key)
		return &s->value;
	if (!insert)
		return NULL;
	if ((h->count + 1) * 2 > h->cap) {
		if (grow(h)) {
			errno = ENOMEM;
			return NULL;
		}
		s = probe(h->slots, h->cap, hash, key, len);
	}
	/* One extra byte so string keys can be read back NUL-terminated. */
	s->key = malloc(len + 1);
	if (!s->key) {
		errno = ENOMEM;
		return NULL;
	}
	if (len)
		memcpy(s->key, key, len);
	((char *)s->key)[len] = '\0';
	s->len = len;
	s->hash = hash;
	s->value = init;
	h->count++;
	if (added)
		*added = 1;
	return &s->value;
}

int htab__del(struct htab *h, const void *key, size_t len)
{
	uint64_t hash = htab_hash(key, len);
	struct slot *s = probe(h->slots, h->cap, hash, key, len);
	size_t mask = h->cap - 1, hole, i;

	if (!s->key)
		return -ENOENT;
	free(s->key);
	hole = (size_t)(s - h->slots);
	h->slots[hole].key = NULL;
	h->count--;
	/*
	 * Walk the rest of the run. An entry may move into the hole when its home
	 * slot is not strictly between the hole and its current place (cyclically).
	 */
	for (i = (hole + 1) & mask; h->slots[i].key; i = (i + 1) & mask) {
		size_t home = h->slots[i].hash & mask;
		int between = hole <= i ? (hole < home && home <= i) : (hole < home || home <= i);

		if (between)
			continue;
		h->slots[hole] = h->slots[i];
		h->slots[i].key = NULL;
		hole = i;
	}
	return 0;
}

const char *htab__key(const struct htab *h, const void *key, size_t len)
{
	struct slot *s = probe(h->slots, h->cap, htab_hash(key, len), key, len);

	return s->key;
}

size_t htab__count(const struct htab *h)
{
	return h->count;
}

size_t htab__bytes(const struct htab *h)
{
	size_t sum = sizeof(*h) + h->cap * sizeof(*h->slots);

	for (size_t i = 0; i < h->cap; i++)
		if (h->slots[i].key)
			sum += h->slots[i].len + 1;
	return sum;
}

void htab__for_each(struct htab *h, htab_iter_fn fn, void *arg)
{
	for (size_t i = 0; i < h->cap; i++)
		if (h->slots[i].key)
			fn(h->slots[i].key, h->slots[i].len, &h->slots[i].value, arg);
}
