/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What every command shares: the defaults of a profiling run, and the parsers
 * and checks of its flags. Each failure is one line on stderr, worded the
 * same whichever command took the flag; the parsers return 0 or -errno and
 * opt_bad_value() turns that into the line and the exit code 2.
 */
#ifndef EMBER_CLI_OPTIONS_H
#define EMBER_CLI_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

struct run_opts;

#define EMBER_MAX_PIDS 1024
/* Default sampling rates: low for an always-on recording, higher for a live view. */
#define EMBER_RECORD_HZ 19
#define EMBER_TOP_HZ 49
/* Unwind tables: the rows array in MiB, and the mapping trie in prefixes. */
#define EMBER_UNWIND_TABLE_MB 24
#define EMBER_UNWIND_MAPS (1u << 18)

/* Fills @o with the defaults of a run at @frequency Hz, sampling into @pids (EMBER_MAX_PIDS). */
void opt_defaults(struct run_opts *o, uint32_t frequency, uint32_t *pids);

/* A decimal in [@min, @max]: -EINVAL for no number, -ERANGE outside. */
int opt_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out);
/* Seconds > 0 (fractions allowed), at most 1e7. */
int opt_seconds(const char *s, double *out);
/* PID[,PID..] appended to @pids (*@n of EMBER_MAX_PIDS used); @s is cut up by strtok_r. */
int opt_pids(char *s, uint32_t *pids, size_t *n);
/* The one-line diagnosis of a bad value of @flag; returns the exit code, 2. */
int opt_bad_value(const char *flag, const char *value, int err, const char *range);

/*
 * The flags every profiling command takes, -F HZ, -p PID[,PID..] and -d SEC,
 * for a getopt loop: @c is getopt's answer and @arg its optarg. Returns 0
 * when it was one of them and is stored in @o (PIDs in @pids, the array
 * o->pids points at), 2 (the exit code, the reason
 * said) for a bad value, or -1 when @c is another flag.
 */
int opt_common(int c, char *arg, struct run_opts *o, uint32_t *pids);

/* Each fails with one line on stderr and returns -1. */
int opt_check_pids(const uint32_t *pids, size_t n);
int opt_check_btf(const char *path);
int opt_check_writable(const char *tmpl);

#endif
