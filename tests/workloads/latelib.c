// SPDX-License-Identifier: Apache-2.0
/*
 * latelib: code in libraries mapped long after the process started, for
 * test_late_library.
 *
 * warm_up() spins in the executable alone until SIGUSR1 arrives (by then
 * the profiler has read the process's mappings, none of the libraries'
 * among them). Then, for each LIB in turn, main dlopens it and run_lib()
 * calls its lib_work() for SECONDS s; the handles stay open, so every
 * library stays mapped to the end. Prints "loaded PATH" as each one is.
 *
 * Usage: latelib SECONDS LIB...
 */
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#define EMBER_NOINLINE __attribute__((noinline))

static volatile sig_atomic_t go;
static volatile unsigned long sink;

static void on_usr1(int sig)
{
	(void)sig;
	go = 1;
}

EMBER_NOINLINE unsigned long warm_up(void)
{
	volatile unsigned long acc = 1;

	while (!go)
		for (unsigned long i = 0; i < 100000; i++)
			acc = acc * 33 + i;
	return acc;
}

EMBER_NOINLINE unsigned long run_lib(unsigned long (*work)(double), double secs)
{
	unsigned long r = work(secs);

	sink += r;
	return r;
}

int main(int argc, char **argv)
{
	double secs;

	if (argc < 3) {
		fprintf(stderr, "usage: latelib SECONDS LIB...\n");
		return 2;
	}
	secs = atof(argv[1]);
	signal(SIGUSR1, on_usr1);
	sink += warm_up();
	for (int i = 2; i < argc; i++) {
		void *h = dlopen(argv[i], RTLD_NOW | RTLD_LOCAL);
		unsigned long (*work)(double);

		if (!h) {
			fprintf(stderr, "latelib: %s\n", dlerror());
			return 1;
		}
		*(void **)&work = dlsym(h, "lib_work");
		if (!work) {
			fprintf(stderr, "latelib: %s has no lib_work\n", argv[i]);
			return 1;
		}
		printf("loaded %s\n", argv[i]);
		fflush(stdout);
		sink += run_lib(work, secs);
	}
	return 0;
}
