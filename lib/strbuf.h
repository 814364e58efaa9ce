/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A growable byte buffer, kept NUL-terminated so it can be used as text.
 * Allocation failure is sticky: the writer appends freely and checks
 * `failed` once at the end, as with the encoders' arena.
 */
#ifndef EMBER_LIB_STRBUF_H
#define EMBER_LIB_STRBUF_H

#include <stddef.h>

struct strbuf {
	char *s;    /* NULL until the first append; NUL-terminated after it */
	size_t len; /* bytes in s, the terminating NUL not counted */
	size_t cap;
	int failed; /* an append could not allocate; what came after it was dropped */
};

/* Appends @n bytes of @p. */
void strbuf__put(struct strbuf *b, const void *p, size_t n);
/* Appends printf(@fmt, ...). */
__attribute__((format(printf, 2, 3))) void strbuf__printf(struct strbuf *b, const char *fmt, ...);
/* Frees the buffer and empties @b; @b may be reused. */
void strbuf__free(struct strbuf *b);

#endif
