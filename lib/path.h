/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EMBER_LIB_PATH_H
#define EMBER_LIB_PATH_H

#include <stddef.h>
#include <stdint.h>

/*
 * Expands %t (@unix_time, seconds) and %n (@seq) in @tmpl into @out of @size
 * bytes; "%%" is a literal %, any other character is copied. Returns 0, or
 * -ENAMETOOLONG when the result does not fit.
 */
int path_template_expand(const char *tmpl, uint64_t unix_time, unsigned long seq, char *out,
			 size_t size);

#endif
