// SPDX-License-Identifier: Apache-2.0
/*
 * pyfake: a process that looks like CPython to the agent and is not, for the
 * tests of hostile input to the Python walker.
 *
 * It defines the symbols the agent finds CPython by (_PyRuntime, Py_Version,
 * _PyEval_EvalFrameDefault, PyCode_Type), laid out as CPython 3.11 lays them
 * out as far as the walk's first steps go: _PyRuntime.interpreters.head
 * points to an interpreter whose thread list holds one thread state, the
 * main thread's (thread_id = pthread_self()), whose cframe's current frame
 * points into a 64 KiB arena. From there on everything is garbage, and
 * changes all the time: a second thread rewrites the arena's words at
 * random with pointers into the arena, pointers to fake code objects (of
 * type PyCode_Type, with random fields, also rewritten), random values and
 * zeros, and re-points the current frame now and then. The main thread
 * spins inside _PyEval_EvalFrameDefault, so its native stack has the frame
 * Python frames would replace.
 *
 * Usage: pyfake SECONDS [VERSION_HEX]   (default Py_Version 0x030b07f0, 3.11.7)
 * With another VERSION_HEX, such as 0x030e00f0 (3.14), the agent must not
 * read it at all.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ARENA_WORDS 8192
#define CODES 8

/* What the agent reads. Writable, as the real ones are; Py_Version is patched from argv. */
unsigned char _PyRuntime[4096] __attribute__((aligned(64)));
unsigned long Py_Version = 0x030b07f0;
unsigned char PyCode_Type[512] __attribute__((aligned(64)));

static unsigned char interp[4096] __attribute__((aligned(64)));
static unsigned char tstate[4096] __attribute__((aligned(64)));
static unsigned char cframe[64] __attribute__((aligned(64)));
static uint64_t arena[ARENA_WORDS] __attribute__((aligned(64)));
static uint64_t codes[CODES][64] __attribute__((aligned(64)));
static volatile int stop;
static volatile uint64_t sink;

/* 3.11's offsets (agent/python.c's table). */
#define RUNTIME_INTERP_HEAD 40
#define INTERP_THREADS_HEAD 16
#define TSTATE_THREAD_ID 152
#define TSTATE_CFRAME 56
#define CFRAME_CURRENT_FRAME 8

static void put(unsigned char *base, size_t off, uint64_t v)
{
	memcpy(base + off, &v, sizeof(v));
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* One garbage word: into the arena, a fake code object, anything, or zero. */
static uint64_t garbage(uint64_t *rng)
{
	uint64_t r = xorshift(rng);

	switch (r & 7) {
	case 0:
	case 1:
	case 2:
		return (uint64_t)(uintptr_t)&arena[(r >> 8) % ARENA_WORDS];
	case 3:
	case 4:
		return (uint64_t)(uintptr_t)codes[(r >> 8) % CODES];
	case 5:
		return (uint64_t)(uintptr_t)&arena[(r >> 8) % ARENA_WORDS] + ((r >> 40) & 7);
	case 6:
		return r;
	default:
		return 0;
	}
}

static void *scribble(void *arg)
{
	uint64_t rng = 0x9e3779b97f4a7c15ull;

	(void)arg;
	while (!stop) {
		for (int i = 0; i < 4096; i++)
			arena[xorshift(&rng) % ARENA_WORDS] = garbage(&rng);
		for (int c = 0; c < CODES; c++) {
			uint64_t w = xorshift(&rng) % 64;

			if (w != 1) /* ob_type stays PyCode_Type: the walk must look further */
				codes[c][w] = garbage(&rng);
		}
		put(cframe, CFRAME_CURRENT_FRAME, garbage(&rng));
	}
	return NULL;
}

/* Where the interpreter's eval loop would be: the main thread's samples land here. */
__attribute__((noinline)) uint64_t _PyEval_EvalFrameDefault(uint64_t n)
{
	uint64_t acc = n;

	for (uint64_t i = 0; i < 2000000; i++)
		acc = acc * 6364136223846793005ull + i;
	return acc;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 10;
	struct timespec t0, now;
	pthread_t t;

	if (argc > 2)
		Py_Version = strtoul(argv[2], NULL, 0);
	for (int c = 0; c < CODES; c++)
		codes[c][1] = (uint64_t)(uintptr_t)PyCode_Type;
	put(_PyRuntime, RUNTIME_INTERP_HEAD, (uint64_t)(uintptr_t)interp);
	put(interp, INTERP_THREADS_HEAD, (uint64_t)(uintptr_t)tstate);
	put(tstate, TSTATE_THREAD_ID, (uint64_t)pthread_self());
	put(tstate, TSTATE_CFRAME, (uint64_t)(uintptr_t)cframe);
	put(cframe, CFRAME_CURRENT_FRAME, (uint64_t)(uintptr_t)arena);
	if (pthread_create(&t, NULL, scribble, NULL)) {
		fprintf(stderr, "pyfake: cannot start a thread\n");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		sink ^= _PyEval_EvalFrameDefault(sink);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((double)(now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
	stop = 1;
	pthread_join(t, NULL);
	return 0;
}
