// SPDX-License-Identifier: Apache-2.0
/*
 * cpusplit: a workload with a known CPU split, for the end-to-end tests.
 *
 * Two worker threads each loop over run_round(), which calls work_a(),
 * work_b() and work_c() with 6, 3 and 1 units of the same busy loop. A
 * profiler that samples on CPU time must therefore find work_a, work_b and
 * work_c as leaves in 60%, 30% and 10% of the workload's samples, each under
 * the chain worker -> run_round -> work_x.
 *
 * Why it is written this way:
 * - The loop body lives in one macro so the three functions differ only in
 *   their iteration count; a shared helper would become the leaf instead.
 * - The accumulator is volatile so the compiler can neither fold the loop
 *   nor turn it into a closed form.
 * - Every call is followed by a use of its result, so no call becomes a tail
 *   call and no caller disappears from the stack.
 * - The profiled functions are noinline and not static: GCC may clone a
 *   static function under a suffixed name (work_a.constprop.0), and the
 *   tests look for the exact names.
 * - Each round's length is drawn from a fixed pseudo-random sequence (1 to 8
 *   steps of about 2.5 ms, the same for all three functions), so that no
 *   round length stays in step with the sampling period. A fixed round of
 *   about 10 ms against 99 Hz sampling (10.1 ms) beat with it: clean-clone
 *   runs gave work_a 54.3% of the samples in one test and 70.1% in another.
 * - The thread names are left alone, so every thread's comm is "cpusplit".
 * - Nothing is printed while running.
 *
 * Usage: cpusplit [SECONDS]   (default 10)
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EMBER_NOINLINE __attribute__((noinline))

/* Iterations in one step of one unit of work: about 0.25 ms on a current x86 core. */
#define EMBER_STEP_ITERS 62500UL

#define EMBER_NR_WORKERS 2

/*
 * The one loop body every work_x() runs. The xor-shift keeps each step
 * dependent on the last, and the volatile accumulator forces a load and a
 * store per step, so the cost per iteration is the same in all three.
 */
#define EMBER_BURN(units)                                                                          \
	({                                                                                         \
		volatile unsigned long acc = 0;                                                    \
		for (unsigned long i = 0; i < EMBER_STEP_ITERS * (units); i++)                     \
			acc = acc * 31 + (i ^ (acc >> 7));                                         \
		acc;                                                                               \
	})

/* Results go here so that no call's result is dead and no call is a tail call. */
static volatile unsigned long sink;

EMBER_NOINLINE unsigned long work_a(unsigned long steps)
{
	return EMBER_BURN(6 * steps);
}

EMBER_NOINLINE unsigned long work_b(unsigned long steps)
{
	return EMBER_BURN(3 * steps);
}

EMBER_NOINLINE unsigned long work_c(unsigned long steps)
{
	return EMBER_BURN(steps);
}

EMBER_NOINLINE void run_round(unsigned long steps)
{
	sink += work_a(steps);
	sink += work_b(steps);
	sink += work_c(steps);
	sink++;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct worker_arg {
	double deadline;
	unsigned long rng; /* each thread's own sequence of round lengths */
};

EMBER_NOINLINE void *worker(void *arg)
{
	struct worker_arg *w = arg;

	while (now() < w->deadline) {
		/* xorshift64: the round's length, 1 to 8 steps. */
		w->rng ^= w->rng << 13;
		w->rng ^= w->rng >> 7;
		w->rng ^= w->rng << 17;
		run_round(1 + (w->rng >> 61));
	}
	sink++;
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t threads[EMBER_NR_WORKERS];
	struct worker_arg args[EMBER_NR_WORKERS];
	double seconds = 10, deadline;
	char *end;
	int i, err;

	if (argc > 1) {
		seconds = strtod(argv[1], &end);
		if (*end || seconds <= 0) {
			fprintf(stderr, "usage: %s [SECONDS]\n", argv[0]);
			return 2;
		}
	}
	deadline = now() + seconds;

	for (i = 0; i < EMBER_NR_WORKERS; i++) {
		args[i].deadline = deadline;
		args[i].rng = 0x9e3779b97f4a7c15UL + (unsigned long)i * 0x2545f4914f6cdd1dUL;
		err = pthread_create(&threads[i], NULL, worker, &args[i]);
		if (err) {
			fprintf(stderr, "cpusplit: pthread_create: %s\n", strerror(err));
			return 1;
		}
	}
	for (i = 0; i < EMBER_NR_WORKERS; i++)
		pthread_join(threads[i], NULL);
	return 0;
}
