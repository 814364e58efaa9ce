/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Files written whole or not at all, and files read whole.
 *
 * A writer gets a temporary file beside its target (same directory, so the
 * rename stays on one file system), writes through a stdio stream, and on
 * commit flushes, fsyncs the data, renames the file over the target and
 * fsyncs the directory. A crash or a power cut at any point leaves the old
 * file or the new one under the target's name, never a truncated one; a
 * reader that opens the name mid-write sees the old file.
 */
#ifndef EMBER_LIB_FILE_H
#define EMBER_LIB_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct atomic_file {
	FILE *f;	  /* write here between open and commit */
	char tmp[4096];	  /* the temporary file's name */
	const char *path; /* the target; borrowed until commit or abort */
};

/*
 * Creates the temporary file for @path with permissions @mode. Returns 0, or
 * -ENAMETOOLONG when @path leaves no room for the temporary suffix, or -errno;
 * on failure nothing is left behind and @af needs no abort.
 */
int atomic_file__open(struct atomic_file *af, const char *path, mode_t mode);

/*
 * Flushes, fsyncs and renames the file over its target; on any failure
 * (including an earlier write error on af->f) removes the temporary file
 * instead. Returns 0 or -errno (-EIO for a failed write whose errno is gone).
 */
int atomic_file__commit(struct atomic_file *af);

/* Closes and removes the temporary file; the target is untouched. */
void atomic_file__abort(struct atomic_file *af);

/* Writes @len bytes of @buf to @path through an atomic_file. Returns 0 or -errno. */
int atomic_file__write(const char *path, mode_t mode, const void *buf, size_t len);

/*
 * Reads the whole of @path into a new buffer (*@out, freed by the caller) of
 * *@len bytes. Returns 0, -EFBIG past @max bytes, or -errno.
 */
int file__read_all(const char *path, size_t max, uint8_t **out, size_t *len);

#endif
