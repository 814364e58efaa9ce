// SPDX-License-Identifier: Apache-2.0
/*
 * inlined: a static inline helper, always inlined into three callers, for
 * the DWARF symbolizer's tests.
 *
 * mix_step() is forced inline into caller_one(), caller_two() and
 * caller_three(), which run it 3:2:1 units each round on one thread. In a
 * profile each sample's leaf Location must then hold two Lines: mix_step at
 * its own source line (inline) and the caller at the line of the call. The
 * marker comments name those lines; the test reads them from this file, so
 * editing the file cannot silently break the expectation.
 *
 * Usage: inlined [SECONDS]   (default 10)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define EMBER_NOINLINE __attribute__((noinline))
#define EMBER_UNIT_ITERS 250000UL

static volatile unsigned long sink;

static inline __attribute__((always_inline)) unsigned long mix_step(unsigned long units)
{
	volatile unsigned long acc = 0;

	for (unsigned long i = 0; i < EMBER_UNIT_ITERS * units; i++)
		acc = acc * 31 + (i ^ (acc >> 7)); /* LINE:mix_step */
	return acc;
}

EMBER_NOINLINE unsigned long caller_one(void)
{
	unsigned long r = mix_step(3); /* LINE:caller_one */

	return r + 1;
}

EMBER_NOINLINE unsigned long caller_two(void)
{
	unsigned long r = mix_step(2); /* LINE:caller_two */

	return r + 2;
}

EMBER_NOINLINE unsigned long caller_three(void)
{
	unsigned long r = mix_step(1); /* LINE:caller_three */

	return r + 3;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 10, end = now() + secs;

	while (now() < end) {
		sink += caller_one();
		sink += caller_two();
		sink += caller_three();
	}
	return (int)(sink & 0);
}
