// SPDX-License-Identifier: Apache-2.0
/*
 * waits: a workload with known blocked time, for the off-CPU tests.
 *
 * Three threads:
 *   - "napper" loops over burn_cpu() (10 ms of its own CPU time) then nap()
 *     (a 20 ms nanosleep): a third on CPU, two thirds asleep in
 *     do_nanosleep;
 *   - "reader" loops in wait_pipe(), blocked in read() on a pipe, so it is
 *     off CPU all but the moments a byte arrives (pipe_read in the kernel);
 *   - "feeder" loops over feed_sleep() (a 10 ms nanosleep) then feed_pipe()
 *     (one byte into the pipe).
 * The design's shares are what the tests expect; the workload also measures
 * what happened, so a test can tell the profiler's error from the
 * machine's: at exit it prints, per function, the CLOCK_MONOTONIC time its
 * calls took ("wait nap 12.34" in seconds), and burn_cpu's thread CPU time.
 *
 * The functions are noinline and not static, so the tests find them by
 * name; every call's result is used, so none is a tail call. Threads are
 * named with pthread_setname_np, so a test can tell them apart by comm.
 *
 * Usage: waits [SECONDS]   (default 10)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define EMBER_NOINLINE __attribute__((noinline))

#define BURN_NS 10000000L /* burn_cpu: 10 ms of thread CPU time */
#define NAP_NS 20000000L  /* nap: 20 ms asleep */
#define FEED_NS 10000000L /* feed_sleep: 10 ms between bytes */

static double run_secs = 10;
static int pipe_fd[2];
static volatile int stop;
static volatile unsigned long sink;
/* Seconds spent in each function's calls, by the clock, and burn_cpu's CPU time. */
static double t_nap, t_wait_pipe, t_feed_sleep, t_burn_wall, t_burn_cpu;

static double now(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

EMBER_NOINLINE unsigned long burn_cpu(void)
{
	double end = now(CLOCK_THREAD_CPUTIME_ID) + BURN_NS / 1e9;
	volatile unsigned long acc = 1;

	while (now(CLOCK_THREAD_CPUTIME_ID) < end)
		for (int i = 0; i < 10000; i++)
			acc = acc * 31 + (i ^ (acc >> 7));
	return acc;
}

/* Each wait's result goes through sink, so the call is not a tail call that drops the frame. */
EMBER_NOINLINE int nap(void)
{
	struct timespec d = {0, NAP_NS};
	int r = nanosleep(&d, NULL);

	sink += (unsigned long)r;
	return r;
}

EMBER_NOINLINE long wait_pipe(char *c)
{
	long n = read(pipe_fd[0], c, 1);

	sink += (unsigned long)n;
	return n;
}

EMBER_NOINLINE int feed_sleep(void)
{
	struct timespec d = {0, FEED_NS};
	int r = nanosleep(&d, NULL);

	sink += (unsigned long)r;
	return r;
}

EMBER_NOINLINE long feed_pipe(void)
{
	long n = write(pipe_fd[1], "x", 1);

	sink += (unsigned long)n;
	return n;
}

static void *napper(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "napper");
	while (!stop) {
		double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_THREAD_CPUTIME_ID), w1;

		sink += burn_cpu();
		w1 = now(CLOCK_MONOTONIC);
		t_burn_cpu += now(CLOCK_THREAD_CPUTIME_ID) - c0;
		t_burn_wall += w1 - w0;
		sink += nap();
		t_nap += now(CLOCK_MONOTONIC) - w1;
	}
	return NULL;
}

static void *reader(void *arg)
{
	char c;

	(void)arg;
	pthread_setname_np(pthread_self(), "reader");
	for (;;) {
		double w0 = now(CLOCK_MONOTONIC);
		long n = wait_pipe(&c);

		t_wait_pipe += now(CLOCK_MONOTONIC) - w0;
		if (n != 1 || c == 'q')
			break;
		sink += (unsigned long)n;
	}
	return NULL;
}

static void *feeder(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "feeder");
	while (!stop) {
		double w0 = now(CLOCK_MONOTONIC);

		sink += feed_sleep();
		t_feed_sleep += now(CLOCK_MONOTONIC) - w0;
		sink += (unsigned long)feed_pipe();
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[3];
	struct timespec d;

	if (argc > 1)
		run_secs = atof(argv[1]);
	/*
	 * A profiler learns a new process's mappings at its first sample or
	 * wait, and walks that first wait without them; a short nap first
	 * keeps the threads' waits, which the tests measure, after it.
	 */
	d.tv_sec = 0;
	d.tv_nsec = 100 * 1000000L;
	nanosleep(&d, NULL);
	if (pipe(pipe_fd)) {
		perror("pipe");
		return 1;
	}
	if (pthread_create(&t[0], NULL, napper, NULL) ||
	    pthread_create(&t[1], NULL, reader, NULL) ||
	    pthread_create(&t[2], NULL, feeder, NULL)) {
		fprintf(stderr, "waits: cannot start threads\n");
		return 1;
	}
	d.tv_sec = (time_t)run_secs;
	d.tv_nsec = (long)((run_secs - (double)d.tv_sec) * 1e9);
	nanosleep(&d, NULL);
	stop = 1;
	pthread_join(t[0], NULL);
	pthread_join(t[2], NULL);
	if (write(pipe_fd[1], "q", 1) != 1)
		return 1;
	pthread_join(t[1], NULL);
	printf("wait nap %.4f\nwait wait_pipe %.4f\nwait feed_sleep %.4f\n", t_nap, t_wait_pipe,
	       t_feed_sleep);
	printf("burn wall %.4f cpu %.4f\n", t_burn_wall, t_burn_cpu);
	return 0;
}
