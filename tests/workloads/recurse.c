// SPDX-License-Identifier: Apache-2.0
/*
 * recurse: one deep call stack, for the stack-depth tests.
 *
 * main() loops over recurse(DEPTH), which calls itself DEPTH times and does
 * its busy work only at the bottom, so nearly every sample has DEPTH frames
 * of recurse() under main(). DEPTH defaults to 300, more than the 256 user
 * frames a sample keeps; bench/unwind.sh uses 25 (30 frames in all), a
 * typical depth.
 *
 * Why it is written this way:
 * - recurse() is noinline and adds its own depth to the callee's result
 *   after the call returns, so the call can be neither a tail call nor
 *   turned into a loop, with or without frame pointers.
 * - The depth is passed at run time (argv), so the compiler cannot unroll
 *   the recursion into fewer frames.
 * - The leaf runs about a millisecond of work per descent, so the time
 *   spent going down and up the stack is negligible.
 * - The accumulator is volatile so the busy loop is not folded.
 *
 * Usage: recurse [SECONDS [DEPTH]]   (defaults 10 and 300)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define EMBER_NOINLINE __attribute__((noinline))

/* Iterations of busy work at the bottom: about a millisecond. */
#define EMBER_LEAF_ITERS 250000UL

static volatile unsigned long sink;

EMBER_NOINLINE unsigned long leaf_work(void)
{
	volatile unsigned long acc = 0;

	for (unsigned long i = 0; i < EMBER_LEAF_ITERS; i++)
		acc = acc * 31 + (i ^ (acc >> 7));
	return acc;
}

EMBER_NOINLINE unsigned long recurse(unsigned long depth)
{
	unsigned long r;

	if (depth <= 1)
		return leaf_work() + 1;
	r = recurse(depth - 1);
	/* Used after the call: no tail call, the frame stays. */
	sink += depth;
	return r + depth;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double seconds = 10, deadline;
	unsigned long depth = 300;
	char *end;

	if (argc > 1) {
		seconds = strtod(argv[1], &end);
		if (*end || seconds <= 0)
			goto usage;
	}
	if (argc > 2) {
		depth = strtoul(argv[2], &end, 10);
		if (*end || depth == 0)
			goto usage;
	}
	deadline = now() + seconds;
	while (now() < deadline)
		sink += recurse(depth);
	return 0;
usage:
	fprintf(stderr, "usage: %s [SECONDS [DEPTH]]\n", argv[0]);
	return 2;
}
