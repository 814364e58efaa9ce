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

/*
 * The same, for an interval that starts in the same second as the one
 * before it (a rotation that ran late, then one on time, or a short last
 * interval at SIGTERM): every %t becomes "TIME-SEQ", so that its file does
 * not overwrite the earlier interval's.
 */
int path_template_expand_again(const char *tmpl, uint64_t unix_time, unsigned long seq, char *out,
			       size_t size);

#endif
