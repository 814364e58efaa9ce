// SPDX-License-Identifier: Apache-2.0
/*
 * bench/unwind_tables: what the unwind tables of one ELF file cost, offline.
 * For each file named: its rows and their memory in the old layout (16-byte
 * rows, a GAP row after every FDE not followed by the next, built whole) and
 * in the current one (8-byte rows, no GAP row for padding, built per
 * EMBER_CHUNK_BYTES chunk), the time to build the whole table, the time to
 * open it for chunk builds, and every chunk's build time: the median and the
 * longest, which is what one request can hold the agent's event loop for.
 * One line per file, for bench/unwind_tables.sh.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "symbolizer/elf_file.h"
#include "agent/unwind_table.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int bench_file(const char *path)
{
	struct elf_file *ef = elf_file__open_fd(open(path, O_RDONLY));
	struct unwind_table_stats st;
	struct unwind_source *src;
	struct ember_row *rows;
	double t0, whole_ms, open_ms, *times = NULL;
	size_t n, nchunks = 0, cap = 0, chunk_rows = 0;
	int err;

	if (!ef) {
		fprintf(stderr, "unwind_tables: %s: %s\n", path, strerror(errno));
		return 1;
	}
	t0 = now_ms();
	err = unwind_table__build(elf_file__elf(ef), &rows, &n, &st);
	whole_ms = now_ms() - t0;
	if (err) {
		fprintf(stderr, "unwind_tables: %s: %s\n", path, strerror(-err));
		elf_file__free(ef);
		return 1;
	}
	t0 = now_ms();
	src = unwind_source__new(elf_file__elf(ef));
	open_ms = now_ms() - t0;
	for (uint64_t lo = n ? rows[0].pc & ~(uint64_t)(EMBER_CHUNK_BYTES - 1) : 1;
	     src && n && lo <= rows[n - 1].pc; lo += EMBER_CHUNK_BYTES) {
		struct ember_row *part;
		size_t m;
		double *grown;

		t0 = now_ms();
		if (unwind_source__build(src, lo, lo + EMBER_CHUNK_BYTES, &part, &m, NULL))
			break;
		if (nchunks == cap) {
			cap = cap ? 2 * cap : 256;
			grown = realloc(times, cap * sizeof(*times));
			if (!grown)
				break;
			times = grown;
		}
		times[nchunks++] = now_ms() - t0;
		chunk_rows += m;
		free(part);
	}
	if (nchunks)
		qsort(times, nchunks, sizeof(*times), cmp_double);
	/* file old_rows old_mib new_rows new_mib whole_ms open_ms chunks chunk_rows median_ms
	 * max_ms */
	printf("%s %zu %.1f %zu %.1f %.0f %.1f %zu %zu %.2f %.1f\n", path, n + st.padding,
	       (n + st.padding) * 16.0 / (1 << 20), n, n * (double)sizeof(*rows) / (1 << 20),
	       whole_ms, open_ms, nchunks, chunk_rows, nchunks ? times[nchunks / 2] : 0.0,
	       nchunks ? times[nchunks - 1] : 0.0);
	free(times);
	free(rows);
	unwind_source__free(src);
	elf_file__free(ef);
	return 0;
}

int main(int argc, char **argv)
{
	int rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: unwind_tables ELF...\n");
		return 2;
	}
	for (int i = 1; i < argc; i++)
		rc |= bench_file(argv[i]);
	return rc;
}
