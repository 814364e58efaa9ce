// SPDX-License-Identifier: Apache-2.0
/*
 * spin: one thread burning CPU in spin_here() for a given time.
 *
 * The end-to-end tests run it beside cpusplit as the process that a -p
 * filter must leave out and a whole-system profile must include. It does no
 * system calls while spinning except a vDSO clock read, so nearly all its
 * samples have spin_here as the leaf.
 *
 * Usage: spin [SECONDS]   (default 10)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Not static either, so GCC cannot clone the profiled function under another name. */
#define EMBER_NOINLINE __attribute__((noinline))

/* Results go here so that the loop is not optimised away. */
static volatile unsigned long sink;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Spin until the deadline, reading the clock every million steps. */
EMBER_NOINLINE unsigned long spin_here(double deadline)
{
	volatile unsigned long acc = 0;

	do {
		for (unsigned long i = 0; i < 1000000; i++)
			acc = acc * 33 + i;
	} while (now() < deadline);
	return acc;
}

int main(int argc, char **argv)
{
	double seconds = 10;
	char *end;

	if (argc > 1) {
		seconds = strtod(argv[1], &end);
		if (*end || seconds <= 0) {
			fprintf(stderr, "usage: %s [SECONDS]\n", argv[0]);
			return 2;
		}
	}
	sink += spin_here(now() + seconds);
	return 0;
}
