// SPDX-License-Identifier: Apache-2.0
/*
 * inlined: a static inline helper, always inlined into three callers, for
 * the DWARF symbolizer's tests.
 *
 * mix_step() is forced inline into caller_one(), caller_two() and
 * caller_three(), which run it 3, 2 and 1 units a call on one thread. Each
 * step calls one of the three, picked at random with equal odds, so their
 * shares of the time are 3:2:1. A fixed round (one, two, three) would take
 * about 1.5 ms, and a sampling period near a multiple of that sees the same
 * few phases of the round over and over: at 99 Hz one round-robin run gave
 * caller_one 56% instead of 50. Equal code is not equal time either: where
 * the linker puts each copy of the loop changes its speed by a few percent,
 * so the workload times each call and, on SIGUSR1, prints each caller's
 * share of that time so far as "caller_one=P caller_two=P caller_three=P"
 * (percent) on stdout. Tests compare the profile with that. In a
 * profile each sample's leaf Location must then hold two Lines: mix_step at
 * its own source line (inline) and the caller at the line of the call. The
 * marker comments name those lines; the test reads them from this file, so
 * editing the file cannot silently break the expectation.
 *
 * Usage: inlined [SECONDS]   (default 10)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define EMBER_NOINLINE __attribute__((noinline))
#define EMBER_UNIT_ITERS 250000UL

static volatile unsigned long sink;
static volatile sig_atomic_t report;

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

static double seconds(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_usr1(int sig)
{
	(void)sig;
	report = 1;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 10, end = seconds(CLOCK_MONOTONIC) + secs;
	unsigned long x = 88172645463325252UL;
	double spent[3] = {0}, t0, sum;

	signal(SIGUSR1, on_usr1);
	/*
	 * Calls are timed in the thread's CPU time, not the wall clock: the
	 * profiler samples CPU time, and a call preempted on a busy machine (the
	 * suite runs the agent and more beside it) would otherwise count its wait.
	 */
	while (seconds(CLOCK_MONOTONIC) < end) {
		t0 = seconds(CLOCK_THREAD_CPUTIME_ID);
		if (report) {
			report = 0;
			sum = spent[0] + spent[1] + spent[2];
			if (sum > 0)
				printf("caller_one=%.0f caller_two=%.0f caller_three=%.0f\n",
				       100 * spent[0] / sum, 100 * spent[1] / sum,
				       100 * spent[2] / sum);
			fflush(stdout);
		}
		/* xorshift64: any sequence without a period near the sampler's */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		switch (x % 3) {
		case 0:
			sink += caller_one();
			break;
		case 1:
			sink += caller_two();
			break;
		default:
			sink += caller_three();
			break;
		}
		spent[x % 3] += seconds(CLOCK_THREAD_CPUTIME_ID) - t0;
	}
	return (int)(sink & 0);
}
