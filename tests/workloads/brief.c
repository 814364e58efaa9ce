// SPDX-License-Identifier: Apache-2.0
/*
 * brief: burns CPU in brief_burn() for a given number of milliseconds, then
 * exits. The tests start it many times while the agent runs, to check that a
 * process living 300 ms is still symbolized after it is gone.
 *
 * Usage: brief [MILLISECONDS]   (default 300)
 */
#include <stdlib.h>
#include <time.h>

static volatile unsigned long sink;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void brief_burn(double end)
{
	unsigned long acc = 0;

	while (now() < end)
		for (int i = 0; i < 100000; i++)
			acc = acc * 31 + (unsigned long)i;
	sink = acc;
}

int main(int argc, char **argv)
{
	double ms = argc > 1 ? atof(argv[1]) : 300;

	brief_burn(now() + ms / 1000);
	return (int)(sink & 0);
}
