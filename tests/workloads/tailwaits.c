// SPDX-License-Identifier: Apache-2.0
/*
 * tailwaits: blocked time in a few long waits among many short ones, the
 * case where sampling waits at random (one walked in 2^k, weighted 2^k)
 * estimates a thread's total from a handful of long waits.
 *
 * The thread "tails" loops over SHORT_WAITS calls of short_wait() (a 50 us
 * nanosleep) then one long_wait() (a 20 ms nanosleep): about nine tenths
 * of its time in long_wait(), in one wait in 41, and all but a percent or
 * so of it off CPU. The main thread sleeps until the end.
 *
 * At exit it prints the CLOCK_MONOTONIC seconds each function's calls took
 * ("wait long_wait 12.34") and the thread's CPU time ("cpu tails 0.12").
 *
 * Usage: tailwaits [SECONDS]   (default 10)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define EMBER_NOINLINE __attribute__((noinline))

#define SHORT_WAITS 40
#define SHORT_NS 50000L	  /* short_wait: 50 us asleep */
#define LONG_NS 20000000L /* long_wait: 20 ms asleep */

static volatile int stop;
static volatile unsigned long sink;
static double t_short, t_long, t_cpu;

static double now(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Each wait's result goes through sink, so the call is not a tail call that drops the frame. */
EMBER_NOINLINE int short_wait(void)
{
	struct timespec d = {0, SHORT_NS};
	int r = nanosleep(&d, NULL);

	sink += (unsigned long)r;
	return r;
}

EMBER_NOINLINE int long_wait(void)
{
	struct timespec d = {0, LONG_NS};
	int r = nanosleep(&d, NULL);

	sink += (unsigned long)r;
	return r;
}

EMBER_NOINLINE void *tail_loop(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "tails");
	while (!stop) {
		double t0 = now(CLOCK_MONOTONIC), t1;

		for (int i = 0; i < SHORT_WAITS; i++)
			short_wait();
		t1 = now(CLOCK_MONOTONIC);
		long_wait();
		t_short += t1 - t0;
		t_long += now(CLOCK_MONOTONIC) - t1;
	}
	t_cpu = now(CLOCK_THREAD_CPUTIME_ID);
	return NULL;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 10;
	struct timespec d;
	pthread_t t;

	if (secs <= 0 || pthread_create(&t, NULL, tail_loop, NULL)) {
		fprintf(stderr, "usage: tailwaits [SECONDS]\n");
		return 2;
	}
	d.tv_sec = (time_t)secs;
	d.tv_nsec = (long)((secs - (double)d.tv_sec) * 1e9);
	nanosleep(&d, NULL);
	stop = 1;
	pthread_join(t, NULL);
	printf("wait short_wait %.6f\nwait long_wait %.6f\ncpu tails %.6f\n", t_short, t_long,
	       t_cpu);
	return 0;
}
