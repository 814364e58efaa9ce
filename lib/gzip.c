// SPDX-License-Identifier: Apache-2.0
/*
 * gzip in memory over zlib. Inputs can exceed zlib's 32-bit counters (a
 * whole-system profile's pprof is tens of MB, a bomb far more), so both
 * directions feed zlib in pieces of at most 1 GiB.
 */
#include <errno.h>
#include <stdlib.h>
#include <zlib.h>

#include "lib/gzip.h"

#define EMBER_GZ_PIECE (1u << 30)

int gzip__is(const uint8_t *p, size_t len)
{
	return len >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

/* Hands zlib the next piece of @in once it has used the last one. */
static void feed(z_stream *z, const uint8_t *in, size_t len)
{
	size_t used = (size_t)(z->next_in - in);

	if (z->avail_in == 0 && used < len) {
		size_t left = len - used;

		z->avail_in = left > EMBER_GZ_PIECE ? EMBER_GZ_PIECE : (uInt)left;
	}
}

int gzip__compress(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
	z_stream z = {0};
	size_t cap = compressBound(len) + 32;
	uint8_t *buf = malloc(cap);
	int rc, err = 0;

	if (!buf)
		return -ENOMEM;
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY)) {
		free(buf);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)in;
	z.next_out = buf;
	do {
		size_t done = z.total_out;

		feed(&z, in, len);
		z.avail_out = cap - done > EMBER_GZ_PIECE ? EMBER_GZ_PIECE : (uInt)(cap - done);
		rc = deflate(&z,
			     (size_t)(z.next_in - in) + z.avail_in == len ? Z_FINISH : Z_NO_FLUSH);
	} while (rc == Z_OK);
	if (rc != Z_STREAM_END)
		err = -EIO;
	*out_len = z.total_out;
	deflateEnd(&z);
	if (err) {
		free(buf);
		return err;
	}
	*out = buf;
	return 0;
}

int gzip__inflate(const uint8_t *in, size_t len, size_t max, uint8_t **out, size_t *out_len)
{
	z_stream z = {0};
	size_t cap = len * 4 > 4096 ? len * 4 : 4096;
	uint8_t *buf = NULL;
	int err = 0, zr;

	if (inflateInit2(&z, 15 + 32) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)in;
	do {
		if (!buf || z.avail_out == 0) {
			size_t used = buf ? z.total_out : 0;
			uint8_t *p;

			if (buf)
				cap *= 2;
			if (cap > max)
				cap = max;
			if (buf && used >= cap) {
				err = -EFBIG;
				goto out;
			}
			p = realloc(buf, cap ? cap : 1);
			if (!p) {
				err = -ENOMEM;
				goto out;
			}
			buf = p;
			z.next_out = buf + used;
			z.avail_out =
				cap - used > EMBER_GZ_PIECE ? EMBER_GZ_PIECE : (uInt)(cap - used);
		}
		feed(&z, in, len);
		zr = inflate(&z, Z_NO_FLUSH);
	} while (zr == Z_OK || (zr == Z_BUF_ERROR && z.avail_out == 0));
	if (zr != Z_STREAM_END) {
		err = -EINVAL;
		goto out;
	}
	*out = buf;
	*out_len = z.total_out;
	buf = NULL;
out:
	inflateEnd(&z);
	free(buf);
	return err;
}
