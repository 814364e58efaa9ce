// SPDX-License-Identifier: Apache-2.0
/*
 * spin2: a CPU-bound program that counts its own work, for part B of
 * bench/unwind_ratio.sh (how much of a program's throughput a profiler
 * takes away).
 *
 * THREADS threads (default 2) each go DEPTH frames down (default 10) and
 * run one block of integer work at the bottom, over and over, until SECONDS
 * have passed. At exit it prints, on one line of stdout, the work done over
 * all threads per second of its own wall time and the CPU time it got
 * (wrapped here):
 *
 *   spin2: 2 threads, depth 10, 4.000 s: 5760000000 iterations,
 *   1440000000 iterations/s, user 7.990 s, sys 0.004 s
 *
 * The CPU times let the bench tell how much of the machine other processes
 * took while it ran.
 *
 * Why it is written this way:
 * - The bench builds it with -O2 -fomit-frame-pointer: only .eh_frame
 *   describes its stack, the case both emberprof's DWARF unwinder and
 *   perf --call-graph dwarf are there for.
 * - A block is EMBER_BLOCK_ITERS steps of a dependent multiply-add chain,
 *   about 27 microseconds here: short against the 1 ms between samples at
 *   999 Hz, so the count moves in fine steps, and long against the vDSO
 *   clock read between blocks (no system call while it runs).
 * - spin2_down() stores to the thread's volatile slot after its call
 *   returns, so GCC can neither turn the recursion into a loop (its
 *   tail-recursion pass handles "return f(x) + c") nor make it a tail call.
 *   The depth comes from argv, so nothing can be unrolled either.
 * - Each thread counts into its own cache line, so the threads do not slow
 *   each other down; the rate is taken over the program's own clock, from
 *   before the first thread starts to after the last one is joined, so the
 *   exec and the dynamic loader do not count.
 *
 * Usage: spin2 SECONDS [THREADS [DEPTH]]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

/* Not static either, so GCC cannot clone the profiled functions under other names. */
#define EMBER_NOINLINE __attribute__((noinline))

#define EMBER_MAX_THREADS 64
/* Steps of work per block: about 27 us on the 2-CPU bench VM (740M steps/s a thread). */
#define EMBER_BLOCK_ITERS 20000UL

struct spin2_thread {
	pthread_t tid;
	unsigned long blocks;
	volatile unsigned long sink;
} __attribute__((aligned(64)));

static struct spin2_thread threads[EMBER_MAX_THREADS];
static unsigned long depth = 10;
static double deadline;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

EMBER_NOINLINE unsigned long spin2_block(unsigned long x)
{
	for (unsigned long i = 0; i < EMBER_BLOCK_ITERS; i++)
		x = x * 6364136223846793005UL + 1442695040888963407UL;
	return x;
}

EMBER_NOINLINE unsigned long spin2_down(struct spin2_thread *t, unsigned long d, unsigned long x)
{
	unsigned long r;

	if (d <= 1)
		return spin2_block(x);
	r = spin2_down(t, d - 1, x);
	/* Used after the call: the frame stays. */
	t->sink += d;
	return r ^ d;
}

static void *spin2_run(void *arg)
{
	struct spin2_thread *t = arg;
	unsigned long x = (unsigned long)(t - threads) + 1;

	while (now() < deadline) {
		x = spin2_down(t, depth, x);
		t->blocks++;
	}
	t->sink += x;
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned long n = 2, blocks = 0;
	double seconds, t0, t1;
	struct rusage ru;
	char *end;

	if (argc < 2 || argc > 4)
		goto usage;
	seconds = strtod(argv[1], &end);
	if (*end || seconds <= 0)
		goto usage;
	if (argc > 2) {
		n = strtoul(argv[2], &end, 10);
		if (*end || n == 0 || n > EMBER_MAX_THREADS)
			goto usage;
	}
	if (argc > 3) {
		depth = strtoul(argv[3], &end, 10);
		if (*end || depth == 0)
			goto usage;
	}
	t0 = now();
	deadline = t0 + seconds;
	for (unsigned long i = 1; i < n; i++) {
		if (pthread_create(&threads[i].tid, NULL, spin2_run, &threads[i]) != 0) {
			perror("spin2: pthread_create");
			return 1;
		}
	}
	spin2_run(&threads[0]);
	for (unsigned long i = 1; i < n; i++)
		pthread_join(threads[i].tid, NULL);
	t1 = now();
	for (unsigned long i = 0; i < n; i++)
		blocks += threads[i].blocks;
	if (getrusage(RUSAGE_SELF, &ru) != 0) {
		perror("spin2: getrusage");
		return 1;
	}
	printf("spin2: %lu threads, depth %lu, %.3f s: %lu iterations, %.0f iterations/s, "
	       "user %.3f s, sys %.3f s\n",
	       n, depth, t1 - t0, blocks * EMBER_BLOCK_ITERS,
	       blocks * EMBER_BLOCK_ITERS / (t1 - t0),
	       ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	return 0;
usage:
	fprintf(stderr, "usage: %s SECONDS [THREADS [DEPTH]]\n", argv[0]);
	return 2;
}
