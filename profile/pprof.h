/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pprof output: the profile model encoded as perftools.profiles.Profile with
 * protobuf-c, gzip'd with zlib, as `pprof`, Pyroscope and Parca read it.
 */
#ifndef EMBER_PROFILE_PPROF_H
#define EMBER_PROFILE_PPROF_H

#include <stddef.h>
#include <stdint.h>

struct profile;

/*
 * Encodes @p (not compressed). On success returns 0 and a malloc'd buffer in
 * *@buf (the caller frees it) of *@len bytes; -ENOMEM otherwise.
 */
int pprof__encode(const struct profile *p, uint8_t **buf, size_t *len);

/*
 * Writes @p gzip'd to @path, atomically: through a temporary file in the same
 * directory, renamed into place, so a reader never sees half a profile.
 * Returns 0 or -errno.
 */
int pprof__write(const struct profile *p, const char *path);

#endif
