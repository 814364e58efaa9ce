/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Flame graphs with no backend: one self-contained HTML file (script, style
 * and data inline, no network references) that opens from file:// in any
 * browser. Built from a pprof profile, emberprof's own or any other tool's.
 */
#ifndef EMBER_FLAMEGRAPH_H
#define EMBER_FLAMEGRAPH_H

#include <stddef.h>
#include <stdint.h>

/*
 * Writes the flame graph of the pprof profile in @pprof (@len bytes, gzip'd
 * or not) to @path (atomically: temporary file, then rename), titled
 * @title. Returns 0, -EINVAL for bytes that are not a pprof profile, or
 * -errno.
 */
int flamegraph__write(const uint8_t *pprof, size_t len, const char *title, const char *path);

/*
 * A differential flame graph of @base against @next (pprof bytes each): frames
 * are sized by @next and coloured by the change of their share from @base.
 */
int flamegraph__write_diff(const uint8_t *base, size_t base_len, const uint8_t *next,
			   size_t next_len, const char *title, const char *path);

/* `emberprof flamegraph IN.pb.gz -o OUT.html`; @argv[0] is "flamegraph". Returns the exit code. */
int flamegraph_main(int argc, char **argv);

/* `emberprof diff BASE.pb.gz NEW.pb.gz -o OUT.html`; @argv[0] is "diff". */
int diff_main(int argc, char **argv);

#endif
