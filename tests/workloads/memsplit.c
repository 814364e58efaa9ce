// SPDX-License-Identifier: Apache-2.0
/*
 * memsplit: a workload with a known allocation split, for the memory tests.
 *
 * Each round, alloc_a(), alloc_b() and alloc_c() allocate 6, 3 and 1 MiB in
 * blocks from 16 B to 1 MiB (log-uniform, the same sequence of sizes for
 * all three). alloc_a and alloc_c free each block at once; alloc_b keeps
 * every block it allocates, never freeing it. So a memory profiler
 * must find 60/30/10% of the allocated bytes under the three functions,
 * and all the bytes still in use under alloc_b.
 *
 * The measured phase starts once a tracer is attached to both otel_memory
 * probes (their USDT semaphores, read from libotelmem.so when it is
 * preloaded, are nonzero), or after WAIT seconds, and lasts SECONDS, paced
 * to RATE MiB allocated a second; only its allocations are counted. At the
 * end it prints
 *   memsplit: allocated A B C bytes, kept K bytes, traced T
 * with T 1 if the tracer was attached when the phase began, then holds
 * alloc_b's blocks HOLD seconds more before it exits.
 *
 * The functions are noinline and not static, so their names stay exact, and
 * every call's result is used, so none becomes a tail call.
 *
 * Usage: memsplit [SECONDS [WAIT [RATE [HOLD]]]]   (defaults 3, 10, 300 and 0)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EMBER_NOINLINE __attribute__((noinline))
#define MIB (1024 * 1024)

static uint64_t rng = 0x2545f4914f6cdd1dULL;
static void **kept;
static size_t nkept, capkept;
static volatile unsigned char sink;

/* 16 B to 1 MiB, each octave as likely: every size class gets its share of calls. */
static size_t next_size(void)
{
	size_t base;

	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	base = (size_t)16 << (rng % 16);
	return base + (size_t)(rng >> 8) % base;
}

static void keep(void *p)
{
	if (nkept == capkept) {
		capkept = capkept ? 2 * capkept : 4096;
		kept = realloc(kept, capkept * sizeof(*kept));
		if (!kept)
			abort();
	}
	kept[nkept++] = p;
}

/* Allocates in sizes from sizes[] until budget bytes; returns the bytes allocated. */
static size_t allocate(size_t budget, const size_t *sizes, size_t nsizes, int keep_them)
{
	size_t done = 0;

	for (size_t i = 0; done < budget; i = (i + 1) % nsizes) {
		size_t n = sizes[i] < budget - done ? sizes[i] : budget - done;
		unsigned char *p = malloc(n);

		if (!p)
			abort();
		p[0] = (unsigned char)n; /* touched, so the block is real */
		sink = p[n - 1];
		done += n;
		if (keep_them)
			keep(p);
		else
			free(p);
	}
	return done;
}

EMBER_NOINLINE size_t alloc_a(const size_t *sizes, size_t nsizes)
{
	size_t n = allocate(6 * MIB, sizes, nsizes, 0);

	__asm__ volatile("" ::: "memory");
	return n;
}

EMBER_NOINLINE size_t alloc_b(const size_t *sizes, size_t nsizes)
{
	size_t n = allocate(3 * MIB, sizes, nsizes, 1);

	__asm__ volatile("" ::: "memory");
	return n;
}

EMBER_NOINLINE size_t alloc_c(const size_t *sizes, size_t nsizes)
{
	size_t n = allocate(1 * MIB, sizes, nsizes, 0);

	__asm__ volatile("" ::: "memory");
	return n;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 1 once both otel_memory semaphores are up, 0 after wait seconds or with no libotelmem. */
static int wait_for_tracer(double wait)
{
	unsigned short *sa = dlsym(RTLD_DEFAULT, "otel_memory_alloc_semaphore");
	unsigned short *sf = dlsym(RTLD_DEFAULT, "otel_memory_free_semaphore");
	double end = now() + wait;

	if (!sa || !sf)
		return 0;
	while (!(*(volatile unsigned short *)sa && *(volatile unsigned short *)sf)) {
		if (now() > end)
			return 0;
		usleep(10000);
	}
	return 1;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 3, wait = argc > 2 ? atof(argv[2]) : 10;
	double rate = argc > 3 ? atof(argv[3]) : 300, hold = argc > 4 ? atof(argv[4]) : 0, start, t;
	size_t a = 0, b = 0, c = 0, sizes[64];
	int traced;

	traced = wait_for_tracer(wait);
	start = now();
	while ((t = now()) < start + secs) {
		/* Paced: round k starts no sooner than k x 10 MiB at the rate. */
		double due = start + (double)(a + b + c) / MIB / rate;

		if (due > t) {
			usleep((useconds_t)((due - t) * 1e6));
			continue;
		}
		for (size_t i = 0; i < 64; i++)
			sizes[i] = next_size();
		a += alloc_a(sizes, 64);
		b += alloc_b(sizes, 64);
		c += alloc_c(sizes, 64);
	}
	printf("memsplit: allocated %zu %zu %zu bytes, kept %zu bytes, traced %d\n", a, b, c, b,
	       traced);
	fflush(stdout);
	if (hold > 0)
		usleep((useconds_t)(hold * 1e6));
	return 0; /* alloc_b's blocks are still in use at exit */
}
