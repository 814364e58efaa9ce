// SPDX-License-Identifier: Apache-2.0
/*
 * churn: starts short-lived processes at a steady rate, for soak tests.
 *
 * The parent starts RATE processes per second (each a fresh exec of this
 * binary in child mode), never more than a few at once; each child burns CPU
 * in churn_child_burn() for MS milliseconds and exits. A profiler must name
 * the children's frames although each lives only milliseconds.
 *
 * Usage: churn SECONDS [RATE [MS]]   (defaults: 10 s, 200 per second, 3 ms)
 *        churn --child MS
 *
 * With CHURN_PIDS=FILE in the environment, the parent writes each child's
 * pid to FILE, a line each, so that a test can tell its samples from those
 * of any other process with the same name.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long sink;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void churn_child_burn(double end)
{
	unsigned long acc = 0;

	while (now() < end)
		for (int i = 0; i < 20000; i++)
			acc = acc * 31 + (unsigned long)i;
	sink = acc;
}

int main(int argc, char **argv)
{
	double secs, rate, ms, end, next;
	unsigned long started = 0;
	int running = 0;
	const char *pids_path = getenv("CHURN_PIDS");
	FILE *pids = NULL;

	if (argc == 3 && strcmp(argv[1], "--child") == 0) {
		churn_child_burn(now() + atof(argv[2]) / 1000);
		return 0;
	}
	secs = argc > 1 ? atof(argv[1]) : 10;
	rate = argc > 2 ? atof(argv[2]) : 200;
	ms = argc > 3 ? atof(argv[3]) : 3;
	end = now() + secs;
	next = now();
	signal(SIGCHLD, SIG_DFL);
	if (pids_path && !(pids = fopen(pids_path, "w"))) {
		perror(pids_path);
		return 1;
	}
	/* A line at a time: the test reads the file while this still runs. */
	if (pids)
		setvbuf(pids, NULL, _IOLBF, 0);
	while (now() < end) {
		char msarg[32];
		pid_t pid;

		/* Reap whatever finished; keep at most 4 children at once. */
		while (running > 0 && waitpid(-1, NULL, running >= 4 ? 0 : WNOHANG) > 0)
			running--;
		if (now() < next) {
			struct timespec ts = {0, 200000};

			nanosleep(&ts, NULL);
			continue;
		}
		next += 1.0 / rate;
		snprintf(msarg, sizeof(msarg), "%g", ms);
		pid = fork();
		if (pid == 0) {
			execl("/proc/self/exe", argv[0], "--child", msarg, (char *)NULL);
			_exit(127);
		}
		if (pid > 0) {
			running++;
			started++;
			if (pids)
				fprintf(pids, "%d\n", (int)pid);
		}
	}
	while (running > 0 && waitpid(-1, NULL, 0) > 0)
		running--;
	if (pids && fclose(pids) != 0)
		perror(pids_path);
	fprintf(stderr, "churn: started %lu processes in %.0f s\n", started, secs);
	return 0;
}
