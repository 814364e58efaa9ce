/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Growable arrays: the one place that grows a plain C array by doubling.
 * Every module keeps its own `T *v; size_t n, cap;` and asks for room before
 * it appends, so the arrays stay typed and no container type leaks into
 * the modules' structs.
 */
#ifndef EMBER_ARRAY_H
#define EMBER_ARRAY_H

#include <stddef.h>

/*
 * Makes room for at least @need elements of @elem bytes in the array *@data,
 * whose capacity in elements is *@cap: doubles it (from 16) until @need fits.
 * Returns 0, or -ENOMEM when the allocation fails or the size overflows; then
 * *@data and *@cap are unchanged and the array is still valid.
 */
int array__reserve(void **data, size_t *cap, size_t need, size_t elem);

/* array__reserve() for a typed pointer @v with capacity @cap (an lvalue). */
#define EMBER_RESERVE(v, cap, need) array__reserve((void **)&(v), &(cap), (need), sizeof(*(v)))

#endif
