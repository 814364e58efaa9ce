/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The way in: a pprof profile from any tool (emberprof's, Go's runtime/pprof,
 * perf's through converters), gzip'd or not, decoded with protobuf-c's
 * generated code under bounds that a hostile file cannot push past, and
 * built into the profile model, from which every writer works.
 */
#ifndef EMBER_PROFILE_PPROF_READ_H
#define EMBER_PROFILE_PPROF_READ_H

#include <stddef.h>
#include <stdint.h>

#include "profile.pb-c.h"

/* A gzip'd profile may not inflate past this: a bound against gzip bombs. */
#define EMBER_PPROF_MAX_INFLATE (512ul << 20)
/* Input files are read whole; larger ones are refused rather than swapped in. */
#define EMBER_PPROF_MAX_FILE (1024ul << 20)

/*
 * Decodes @len bytes of pprof into *@out, freed with
 * perftools__profiles__profile__free_unpacked(). Returns 0, -EINVAL for bytes
 * that are not a pprof profile, -EFBIG past EMBER_PPROF_MAX_INFLATE, or -ENOMEM.
 */
int pprof__decode(const uint8_t *bytes, size_t len, Perftools__Profiles__Profile **out);

struct profile;

/*
 * Builds the profile model from @len bytes of pprof: every sample type and
 * value, mappings, functions (with their start lines), locations with their
 * inline lines, and the labels the writers know: pid, tid, comm (or
 * thread), process, and trace_id/span_id as a link when they are hex ids of
 * 16 and 8 bytes. Ids that point nowhere are dropped, never followed.
 * Returns 0 and *@out (free with profile__free), or what pprof__decode()
 * returns.
 */
int pprof__read(const uint8_t *bytes, size_t len, struct profile **out);

/* pprof__read() of the whole file at @path; -errno for the file, -EFBIG past EMBER_PPROF_MAX_FILE.
 */
int pprof__read_file(const char *path, struct profile **out);

#endif
