// SPDX-License-Identifier: Apache-2.0
/*
 * mutexfight: two threads fight over one pthread mutex, for the off-CPU
 * test of lock contention.
 *
 * Each thread loops in fight_lock(): take the mutex, hold it for about
 * 2 ms of CPU, let it go, then a short pause (0.2 ms of CPU) before trying
 * again. With two threads and the lock held nine tenths of the time, each
 * spends about half its time waiting for the other: blocked in the kernel
 * in futex_wait, under pthread_mutex_lock, under fight_lock.
 *
 * Usage: mutexfight [SECONDS]   (default 10)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define EMBER_NOINLINE __attribute__((noinline))

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static volatile int stop;
static volatile unsigned long sink;

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

EMBER_NOINLINE unsigned long hold_cpu(double secs)
{
	double end = cpu_now() + secs;
	volatile unsigned long acc = 1;

	while (cpu_now() < end)
		for (int i = 0; i < 2000; i++)
			acc = acc * 31 + (i ^ (acc >> 7));
	return acc;
}

EMBER_NOINLINE unsigned long fight_lock(void)
{
	unsigned long r;

	pthread_mutex_lock(&lock);
	r = hold_cpu(0.002);
	pthread_mutex_unlock(&lock);
	return r + hold_cpu(0.0002);
}

static void *fighter(void *arg)
{
	(void)arg;
	while (!stop)
		sink += fight_lock();
	return NULL;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 10;
	struct timespec d = {(time_t)secs, (long)((secs - (long)secs) * 1e9)};
	pthread_t t[2];

	for (int i = 0; i < 2; i++)
		if (pthread_create(&t[i], NULL, fighter, NULL))
			return 1;
	nanosleep(&d, NULL);
	stop = 1;
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	return 0;
}
