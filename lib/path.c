// SPDX-License-Identifier: Apache-2.0
/*
 * Output path templates for continuous mode: one file per interval, named by
 * the interval's start time or sequence number.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lib/path.h"

static int expand(const char *tmpl, uint64_t unix_time, unsigned long seq, int again, char *out,
		  size_t size)
{
	size_t o = 0;

	for (const char *p = tmpl; *p; p++) {
		char piece[32];
		size_t len;

		if (p[0] == '%' && p[1] == 't' && again) {
			snprintf(piece, sizeof(piece), "%" PRIu64 "-%lu", unix_time, seq);
			p++;
		} else if (p[0] == '%' && p[1] == 't') {
			snprintf(piece, sizeof(piece), "%" PRIu64, unix_time);
			p++;
		} else if (p[0] == '%' && p[1] == 'n') {
			snprintf(piece, sizeof(piece), "%lu", seq);
			p++;
		} else {
			piece[0] = *p;
			piece[1] = '\0';
			if (p[0] == '%' && p[1] == '%')
				p++;
		}
		len = strlen(piece);
		if (o + len + 1 > size)
			return -ENAMETOOLONG;
		memcpy(out + o, piece, len);
		o += len;
	}
	out[o] = '\0';
	return 0;
}

int path_template_expand(const char *tmpl, uint64_t unix_time, unsigned long seq, char *out,
			 size_t size)
{
	return expand(tmpl, unix_time, seq, 0, out, size);
}

int path_template_expand_again(const char *tmpl, uint64_t unix_time, unsigned long seq, char *out,
			       size_t size)
{
	return expand(tmpl, unix_time, seq, 1, out, size);
}
