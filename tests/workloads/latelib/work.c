// SPDX-License-Identifier: Apache-2.0
/*
 * The library latelib dlopens, built as most distributions build theirs:
 * -O2 without frame pointers, so only its .eh_frame gives lib_work's and
 * lib_inner's callers. test_late_library maps copies of it under other
 * names, each a file of its own.
 */
#include <time.h>

#define EMBER_NOINLINE __attribute__((noinline))

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The leaf: a busy loop whose result its caller uses, so it is no tail call. */
EMBER_NOINLINE unsigned long lib_inner(unsigned long x)
{
	volatile unsigned long acc = x;

	for (unsigned long i = 0; i < 200000; i++)
		acc = acc * 31 + i;
	return acc;
}

/* Calls lib_inner for @secs seconds of the clock. */
EMBER_NOINLINE unsigned long lib_work(double secs)
{
	double end = now() + secs;
	unsigned long acc = 1;

	while (now() < end)
		acc += lib_inner(acc);
	return acc;
}
