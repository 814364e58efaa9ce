// SPDX-License-Identifier: Apache-2.0
/*
 * mallocpairs: the cost of one malloc/free pair, for bench/otelmem.sh.
 *
 * One thread allocates and frees in a loop, with sizes from a fixed
 * sequence of 16 to 527 bytes and eight blocks alive at a time (a FIFO), so
 * that glibc takes its tcache path, as most of a program's allocations do.
 * After a warm-up it times PAIRS pairs and prints
 *   ns/pair N  bytes B
 * RAISE 0 leaves libotelmem's two USDT semaphores as they are; 1 raises
 * them itself, as an attached tracer would, so the library counts bytes
 * down with no tracer there; 2 waits (up to 20 s) until a tracer has
 * raised them, then starts.
 *
 * Usage: mallocpairs PAIRS RAISE
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t loop(long pairs, void **ring)
{
	uint32_t r = 0x9e3779b9;
	size_t bytes = 0;

	for (long i = 0; i < pairs; i++) {
		size_t n;

		r = r * 1664525 + 1013904223;
		n = 16 + (r >> 23);
		free(ring[i & 7]);
		ring[i & 7] = malloc(n);
		bytes += n;
	}
	return bytes;
}

int main(int argc, char **argv)
{
	long pairs = argc > 1 ? atol(argv[1]) : 50000000;
	void *ring[8] = {0};
	double t0, t1;
	size_t bytes;

	int raise = argc > 2 ? atoi(argv[2]) : 0;

	if (raise) {
		volatile unsigned short *sa = dlsym(RTLD_DEFAULT, "otel_memory_alloc_semaphore");
		volatile unsigned short *sf = dlsym(RTLD_DEFAULT, "otel_memory_free_semaphore");
		double end = now() + 20;

		if (!sa || !sf) {
			fprintf(stderr, "mallocpairs: RAISE needs libotelmem.so preloaded\n");
			return 2;
		}
		if (raise == 1) {
			++*sa;
			++*sf;
		}
		while (!(*sa && *sf))
			if (now() > end) {
				fprintf(stderr, "mallocpairs: no tracer attached in 20 s\n");
				return 2;
			}
	}
	loop(pairs / 10, ring);
	t0 = now();
	bytes = loop(pairs, ring);
	t1 = now();
	printf("ns/pair %.2f  bytes %zu\n", (t1 - t0) * 1e9 / (double)pairs, bytes);
	for (int i = 0; i < 8; i++)
		free(ring[i]);
	return 0;
}
