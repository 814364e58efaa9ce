// SPDX-License-Identifier: Apache-2.0
/*
 * Growable arrays. Doubling keeps appends amortised O(1); the overflow check
 * matters because callers size arrays from what they parse (maps lines, ELF
 * symbol counts, DWARF scopes), and a wrapped size would allocate too little.
 */
#include "lib/array.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

int array__reserve(void **data, size_t *cap, size_t need, size_t elem)
{
	size_t ncap = *cap ? *cap : 16;
	void *p;

	if (need <= *cap)
		return 0;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return -ENOMEM;
		ncap *= 2;
	}
	if (elem && ncap > SIZE_MAX / elem)
		return -ENOMEM;
	p = realloc(*data, ncap * elem);
	if (!p)
		return -ENOMEM;
	*data = p;
	*cap = ncap;
	return 0;
}
