// SPDX-License-Identifier: Apache-2.0
/*
 * memstress: every allocation call libotelmem wraps, checked, under the
 * preload, from several threads and across fork.
 *
 * It raises the two otel_memory semaphores itself (a tracer's job), so the
 * library samples without one; run with a small OTELMEM_SAMPLE_BYTES, most
 * blocks are then sampled ones, with a tag before them, mixed with blocks
 * that are not. Each thread keeps 256 slots and does random operations on
 * them: malloc, calloc, realloc (growing, shrinking, to 0), reallocarray,
 * posix_memalign, aligned_alloc, memalign and free. Every block is filled
 * with a byte pattern of its own; the pattern, the alignment asked for,
 * malloc_usable_size >= the size and calloc's zeros are checked at every
 * step. Half-way, the process forks, and the child frees and reallocates
 * the blocks it inherited. A block the library mistook (a tagged pointer
 * handed to glibc, or a plain one taken for tagged) makes glibc abort or a
 * check fail.
 *
 * Exits 0 and prints "memstress: ok N operations" when all checks held;
 * exits 2 when libotelmem is not preloaded (nothing would be tested).
 * Usage: memstress [THREADS [OPERATIONS]]   (defaults 4 and 200000)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SLOTS 256

struct slot {
	unsigned char *p;
	size_t n;
	unsigned char fill;
};

static long ops_per_thread = 200000;

static void die(const char *what, size_t n)
{
	fprintf(stderr, "memstress: %s (size %zu)\n", what, n);
	exit(1);
}

static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Mostly small, sometimes up to 256 KiB (glibc's mmap'd chunks too). */
static size_t pick_size(uint64_t *s)
{
	uint64_t r = next(s);

	return (r & 7) == 0 ? (size_t)(r >> 8) % (256 * 1024) : (size_t)(r >> 8) % 600;
}

static void check(const struct slot *sl)
{
	if (!sl->p)
		return;
	if (malloc_usable_size(sl->p) < sl->n)
		die("malloc_usable_size below the size", sl->n);
	for (size_t i = 0; i < sl->n; i += 1 + i / 8)
		if (sl->p[i] != sl->fill)
			die("block contents changed", sl->n);
}

static void fill(struct slot *sl, unsigned char v)
{
	sl->fill = v;
	memset(sl->p, v, sl->n);
}

static void drop(struct slot *sl)
{
	check(sl);
	free(sl->p);
	sl->p = NULL;
	sl->n = 0;
}

static void step(struct slot *slots, uint64_t *s)
{
	struct slot *sl = &slots[next(s) % SLOTS];
	size_t n = pick_size(s), align = (size_t)8 << (next(s) % 10);
	unsigned char v = (unsigned char)(next(s) | 1);
	unsigned char *q;
	void *pm;

	check(sl);
	switch (next(s) % 9) {
	case 0:
	case 1:
		drop(sl);
		if (!(sl->p = malloc(n)) && n)
			die("malloc failed", n);
		break;
	case 2:
		drop(sl);
		if (!(sl->p = calloc(1, n)) && n)
			die("calloc failed", n);
		for (size_t i = 0; i < n; i++)
			if (sl->p[i])
				die("calloc block not zero", n);
		break;
	case 3: /* realloc keeps the shorter of the two sizes' contents */
		if (!sl->p)
			return;
		if (!n) {
			free(sl->p); /* realloc(p, 0) is left to glibc's own tests */
			sl->p = NULL;
			sl->n = 0;
			return;
		}
		q = realloc(sl->p, n);
		if (!q)
			die("realloc failed", n);
		for (size_t i = 0; i < (n < sl->n ? n : sl->n); i++)
			if (q[i] != sl->fill)
				die("realloc lost contents", n);
		sl->p = q;
		sl->n = n;
		break;
	case 4:
		if (!(q = reallocarray(sl->p, n, 1)) && n)
			die("reallocarray failed", n);
		for (size_t i = 0; i < (n < sl->n ? n : sl->n); i++)
			if (q[i] != sl->fill)
				die("reallocarray lost contents", n);
		sl->p = q;
		sl->n = n;
		break;
	case 5:
		drop(sl);
		if (posix_memalign(&pm, align, n))
			die("posix_memalign failed", n);
		sl->p = pm;
		break;
	case 6:
		drop(sl);
		n = (n + align - 1) / align * align;
		sl->p = aligned_alloc(align, n);
		break;
	case 7:
		drop(sl);
		sl->p = memalign(align, n);
		break;
	default:
		drop(sl);
		return;
	}
	if (!sl->p && n)
		die("allocation failed", n);
	if (sl->p && ((uintptr_t)sl->p & 15))
		die("block not 16-byte aligned", n);
	sl->n = n;
	if (sl->p)
		fill(sl, v);
}

/* Aligned calls check their alignment here: step() forgets which call made a block. */
static void aligned_checks(uint64_t *s)
{
	for (int i = 0; i < 2000; i++) {
		size_t align = (size_t)16 << (next(s) % 12), n = pick_size(s) + 1;
		void *a = memalign(align, n), *b = aligned_alloc(align, align * 2), *c = NULL;

		if (posix_memalign(&c, align, n) || !a || !b || !c)
			die("aligned allocation failed", n);
		if (((uintptr_t)a | (uintptr_t)b | (uintptr_t)c) & (align - 1))
			die("aligned block misaligned", align);
		memset(a, 1, n);
		memset(b, 2, align * 2);
		memset(c, 3, n);
		free(a);
		free(b);
		free(c);
	}
}

static void run(uint64_t seed, long ops, struct slot *slots)
{
	uint64_t s = seed | 1;

	for (long i = 0; i < ops; i++)
		step(slots, &s);
}

static void *thread_main(void *arg)
{
	struct slot *slots = calloc(SLOTS, sizeof(*slots));
	uint64_t s = (uintptr_t)arg * 0x9e3779b97f4a7c15ULL | 1;

	if (!slots)
		die("calloc of the slots failed", 0);
	aligned_checks(&s);
	run((uintptr_t)arg, ops_per_thread, slots);
	for (int i = 0; i < SLOTS; i++)
		drop(&slots[i]);
	free(slots);
	return NULL;
}

int main(int argc, char **argv)
{
	int nthreads = argc > 1 ? atoi(argv[1]) : 4, status;
	unsigned short *sa = dlsym(RTLD_DEFAULT, "otel_memory_alloc_semaphore");
	unsigned short *sf = dlsym(RTLD_DEFAULT, "otel_memory_free_semaphore");
	struct slot *slots = calloc(SLOTS, sizeof(*slots));
	pthread_t th[64];
	pid_t child;

	if (argc > 2)
		ops_per_thread = atol(argv[2]);
	if (!sa || !sf) {
		fprintf(stderr, "memstress: libotelmem.so is not preloaded\n");
		return 2;
	}
	if (nthreads < 1 || nthreads > 64 || !slots)
		return 2;
	*sa = 1;
	*sf = 1;
	run(12345, ops_per_thread / 2, slots);
	child = fork();
	if (child < 0)
		die("fork failed", 0);
	if (child == 0) {
		/* The inherited blocks, sampled or not, freed and grown in the child. */
		run(777, ops_per_thread / 4, slots);
		for (int i = 0; i < SLOTS; i++)
			drop(&slots[i]);
		_exit(0);
	}
	for (int i = 0; i < nthreads; i++)
		if (pthread_create(&th[i], NULL, thread_main, (void *)(uintptr_t)(i + 1)))
			die("pthread_create failed", 0);
	run(54321, ops_per_thread / 2, slots);
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status))
		die("the forked child failed", 0);
	for (int i = 0; i < SLOTS; i++)
		drop(&slots[i]);
	free(slots);
	printf("memstress: ok %ld operations\n",
	       ops_per_thread * (nthreads + 1) + ops_per_thread / 4);
	return 0;
}
