/* SPDX-License-Identifier: Apache-2.0 */
/* gzip in memory, both ways, over zlib: for profile files and OTLP bodies. */
#ifndef EMBER_LIB_GZIP_H
#define EMBER_LIB_GZIP_H

#include <stddef.h>
#include <stdint.h>

/* Whether @len bytes at @p start with gzip's magic. */
int gzip__is(const uint8_t *p, size_t len);

/* gzip @in into a new buffer *@out (freed by the caller). Returns 0, -ENOMEM or -EIO. */
int gzip__compress(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len);

/*
 * gunzip @in (gzip or zlib framing) into a new buffer *@out. Returns 0,
 * -EINVAL for corrupt data, -EFBIG past @max output bytes (a bound against
 * gzip bombs), or -ENOMEM.
 */
int gzip__inflate(const uint8_t *in, size_t len, size_t max, uint8_t **out, size_t *out_len);

#endif
