/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A hash table from byte-string keys to a 64-bit value: the interning
 * primitive of the profile model (strings, functions, mappings, locations and
 * sample keys all intern through it). Keys are copied; the table owns them.
 */
#ifndef EMBER_HTAB_H
#define EMBER_HTAB_H

#include <stddef.h>
#include <stdint.h>

struct htab;

/* Returns NULL and sets errno (ENOMEM) on failure. */
struct htab *htab__new(void);
/* Accepts NULL. */
void htab__free(struct htab *h);

/*
 * Looks @key up. When found, returns a pointer to its value, valid until the
 * next insert. When missing and @insert is true, adds it with value @init and
 * sets *@added; returns NULL with errno ENOMEM when that fails, or NULL when
 * missing and @insert is false.
 */
uint64_t *htab__get(struct htab *h, const void *key, size_t len, int insert, uint64_t init,
		    int *added);

/* Removes @key. Returns 0, or -ENOENT when it is not there. Not during htab__for_each. */
int htab__del(struct htab *h, const void *key, size_t len);

/*
 * The table's own NUL-terminated copy of @key, valid while the entry lives;
 * NULL when absent. Lets a table double as a string interner.
 */
const char *htab__key(const struct htab *h, const void *key, size_t len);

size_t htab__count(const struct htab *h);
/* Bytes the table allocated: its slots and its copies of the keys. Walks every slot. */
size_t htab__bytes(const struct htab *h);

/* Iteration: calls @fn for every entry, in no particular order. */
typedef void (*htab_iter_fn)(const void *key, size_t len, uint64_t *value, void *arg);
void htab__for_each(struct htab *h, htab_iter_fn fn, void *arg);

/* 64-bit FNV-1a, exposed for callers that shard by hash. */
uint64_t htab_hash(const void *data, size_t len);

#endif
