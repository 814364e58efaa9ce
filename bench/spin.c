// Fallback busy load for bench/run.sh when build/workloads/cpusplit is not
// built: keeps N threads on the CPU for S seconds.
//
// usage: spin SECONDS [THREADS]   (THREADS defaults to 2)
//
// The work goes through two non-inlined functions so that the profilers
// under test see a user stack deeper than one frame.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MAX_THREADS 256

static double deadline;
static volatile unsigned long sink;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static unsigned long spin_leaf(unsigned long x)
{
	for (int i = 0; i < 200000; i++)
		x = x * 6364136223846793005UL + 1442695040888963407UL;
	return x;
}

__attribute__((noinline)) static unsigned long spin_mid(unsigned long x)
{
	return spin_leaf(x) ^ (x >> 7);
}

static void *spin_thread(void *arg)
{
	unsigned long x = (unsigned long)arg;

	while (now() < deadline) {
		x = spin_mid(x);
		sink = x;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t tid[MAX_THREADS];
	double secs;
	int n;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s SECONDS [THREADS]\n", argv[0]);
		return 2;
	}
	secs = atof(argv[1]);
	n = argc == 3 ? atoi(argv[2]) : 2;
	if (secs <= 0 || n < 1 || n > MAX_THREADS) {
		fprintf(stderr, "%s: bad SECONDS or THREADS\n", argv[0]);
		return 2;
	}
	deadline = now() + secs;
	for (int i = 1; i < n; i++) {
		if (pthread_create(&tid[i], NULL, spin_thread, (void *)(unsigned long)i) != 0) {
			perror("pthread_create");
			return 1;
		}
	}
	spin_thread(NULL);
	for (int i = 1; i < n; i++)
		pthread_join(tid[i], NULL);
	return 0;
}
