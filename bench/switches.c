// SPDX-License-Identifier: Apache-2.0
/*
 * switches: two threads ping-ponging one byte over two pipes, for the
 * off-CPU benchmark: a known rate of sleeping context switches.
 *
 * Every round trip blocks each thread once in read(), two sleeping
 * switches. The main thread paces the trips: every millisecond (an
 * absolute clock_nanosleep, one more sleep) it makes RATE/2000 round trips,
 * so that trips + pacing sleeps give RATE switches a second; a RATE the
 * machine cannot reach runs flat out. At exit it prints what it achieved
 * and the time its threads were blocked, by the clock minus their CPU time:
 *   switches/s N  round_trips N  blocked_s S  cpu_s S  wall_s S
 *
 * Usage: switches RATE SECONDS
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static int ping[2], pong[2];

static double now(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *ponger(void *arg)
{
	char c;

	(void)arg;
	while (read(ping[0], &c, 1) == 1 && c != 'q')
		if (write(pong[1], &c, 1) != 1)
			break;
	return NULL;
}

int main(int argc, char **argv)
{
	long rate = argc > 1 ? atol(argv[1]) : 20000;
	double secs = argc > 2 ? atof(argv[2]) : 10, t0, t1;
	long per_ms = rate / 2000 > 0 ? rate / 2000 : 1, trips = 0, naps = 0;
	struct timespec tick;
	struct rusage ru;
	pthread_t t;
	char c = 'x';

	if (pipe(ping) || pipe(pong) || pthread_create(&t, NULL, ponger, NULL)) {
		perror("switches");
		return 1;
	}
	t0 = now(CLOCK_MONOTONIC);
	clock_gettime(CLOCK_MONOTONIC, &tick);
	while (now(CLOCK_MONOTONIC) - t0 < secs) {
		for (long i = 0; i < per_ms; i++) {
			if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1)
				return 1;
			trips++;
		}
		tick.tv_nsec += 1000000;
		if (tick.tv_nsec >= 1000000000) {
			tick.tv_nsec -= 1000000000;
			tick.tv_sec++;
		}
		/* Behind the clock (the rate is out of reach): no pause, flat out. */
		if (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &tick, NULL) == 0)
			naps++;
	}
	t1 = now(CLOCK_MONOTONIC);
	c = 'q';
	if (write(ping[1], &c, 1) != 1)
		return 1;
	pthread_join(t, NULL);
	getrusage(RUSAGE_SELF, &ru);
	{
		double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
			     ru.ru_stime.tv_usec / 1e6;

		printf("switches/s %.0f  round_trips %ld  blocked_s %.4f  cpu_s %.4f  wall_s "
		       "%.4f\n",
		       (2.0 * trips + naps) / (t1 - t0), trips, 2 * (t1 - t0) - cpu, cpu, t1 - t0);
	}
	return 0;
}
