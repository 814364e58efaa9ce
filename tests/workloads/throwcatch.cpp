// SPDX-License-Identifier: Apache-2.0
/*
 * throwcatch: C++ that throws and catches in its hot path, for the
 * unwinding tests.
 *
 * main() calls catcher() in a loop; catcher() calls hot_thrower(), which
 * burns CPU and then throws; catcher() catches. So samples land both in
 * hot_thrower() (the busy loop, about two thirds of the time) and inside
 * the C++ runtime: __cxa_throw, _Unwind_RaiseException and the personality
 * routine in libstdc++ and libgcc_s, which walk this very stack by
 * .eh_frame. A profiler must find main under both kinds of sample.
 *
 * Why it is written this way:
 * - hot_thrower() and catcher() are noinline and not static (no clones
 *   under suffixed names), and catcher() uses the result after the try
 *   block, so neither call is a tail call.
 * - Each throw comes from a few frames deep (thrower_depth() recursion),
 *   so the unwinder has real work per throw: the share of samples in the
 *   runtime stays large enough to measure.
 * - The busy loop's accumulator is volatile so the loop is not folded.
 *
 * Usage: throwcatch [SECONDS]   (default 10)
 */
#include <cstdlib>
#include <ctime>
#include <stdexcept>

#define EMBER_NOINLINE __attribute__((noinline))

/* Busy iterations before each throw: a few microseconds of work. */
#define EMBER_HOT_ITERS 4000UL

static volatile unsigned long sink;

EMBER_NOINLINE unsigned long hot_thrower(unsigned long round)
{
	volatile unsigned long acc = round;

	for (unsigned long i = 0; i < EMBER_HOT_ITERS; i++)
		acc = acc * 31 + (i ^ (acc >> 7));
	if (acc != 1) /* always true; the compiler cannot know */
		throw std::runtime_error("round over");
	return acc;
}

/* A few frames between the throw and the catch. */
EMBER_NOINLINE unsigned long thrower_depth(unsigned long round, int depth)
{
	unsigned long r;

	if (depth == 0)
		r = hot_thrower(round);
	else
		r = thrower_depth(round, depth - 1);
	sink += r;
	return r + 1;
}

EMBER_NOINLINE unsigned long catcher(unsigned long round)
{
	unsigned long r = 0;

	try {
		r = thrower_depth(round, 3);
	} catch (const std::runtime_error &e) {
		r = round + 1;
	}
	sink += r;
	return r;
}

static double now()
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? std::atof(argv[1]) : 10, end = now() + secs;
	unsigned long round = 0;

	if (secs <= 0)
		return 2;
	while (now() < end) {
		/* Check the clock only every 64 rounds: now() is not the point. */
		for (int i = 0; i < 64; i++)
			sink = sink + catcher(round++);
	}
	return static_cast<int>(sink & 0);
}
