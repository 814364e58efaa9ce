// SPDX-License-Identifier: Apache-2.0
/*
 * libotelmem: allocation sampling for the OpenTelemetry memory-profiling
 * contract, preloaded into a dynamically linked program (LD_PRELOAD) with
 * no rebuild.
 *
 * The contract. USDT provider otel_memory, two probes:
 *   alloc(ptr, size, weight)  for a sampled allocation only;
 *   free(ptr)                 for a pointer that was sampled, only.
 * Sampling is a Poisson process over allocated bytes, as in tcmalloc and
 * jemalloc: each thread counts down a byte budget drawn from an exponential
 * distribution (mean OTELMEM_SAMPLE_BYTES, 512 KiB by default). An
 * allocation that takes the budget to zero or below is sampled; it uses up
 * as many draws as the sampling points it spans, and its weight is that
 * count times the mean, so the weights sum to an unbiased estimate of the
 * bytes allocated, however large or small the allocations are.
 *
 * Cost. Each probe has a semaphore that the kernel raises while a tracer is
 * attached (libbpf and bpftrace both do). With both at zero, an allocation
 * is one load and a predicted branch before the real allocator. With an
 * agent attached, it also counts down a thread-local integer (initial-exec
 * TLS, so no call): no system call and no lock unless the allocation is
 * sampled.
 *
 * Telling a sampled pointer apart at free, with no table. A sampled block
 * is allocated 16 bytes larger (or by its alignment, if larger), and the
 * caller gets the pointer past a 16-byte tag: {key0 ^ ptr, key1 ^ offset},
 * the keys random per process. free() reads the 16 bytes before every
 * pointer it is given. Under glibc those are the chunk's own header, which
 * is always mapped and which the real free is about to read anyway; they
 * match both tag words by a 2^-128 chance. A table would cost a lock or a
 * hash on every free, sampled or not. Until the first block is sampled,
 * free() does not even read the tag.
 *
 * Reading before a pointer is only safe for an allocator that keeps such a
 * header, so the library samples only when the allocator it wraps is
 * glibc's (checked once, at start). In front of any other allocator it
 * passes every call through and fires nothing.
 *
 * Start-up. dlsym() itself may allocate (its error buffer); those calls,
 * made while this thread looks the real functions up, are served from a
 * small static arena that is never freed.
 */
#define _GNU_SOURCE
#define _SDT_HAS_SEMAPHORES 1
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/sdt.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* Raised by the kernel while a tracer is attached to the probe (USDT semaphores). */
EXPORT unsigned short otel_memory_alloc_semaphore __attribute__((section(".probes")));
EXPORT unsigned short otel_memory_free_semaphore __attribute__((section(".probes")));

#define TAG_SIZE 16
#define DEFAULT_MEAN (512 * 1024)
/* The largest alignment a sampled block is offset by; larger ones pass through. */
#define MAX_TAG_OFFSET (1UL << 20)

struct tag {
	uintptr_t check;  /* key0 ^ the caller's pointer */
	uintptr_t offset; /* key1 ^ bytes from the real block to the caller's pointer */
};

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static void *(*real_memalign)(size_t, size_t);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static size_t (*real_usable_size)(void *);

static uintptr_t key0, key1;
static int64_t mean = DEFAULT_MEAN;
/* 1: the wrapped allocator is glibc's, so tags can be read (see above). */
static int can_tag;
/* Set before the first tagged block is handed out; free() reads tags only after. */
static int tagged_any;

struct sampler {
	int64_t left; /* bytes to the next sampling point */
	uint64_t rng; /* xorshift64* state; 0 until the thread's first draw */
};

static __thread struct sampler sampler __attribute__((tls_model("initial-exec")));
static __thread int resolving __attribute__((tls_model("initial-exec")));

/* --- start-up -------------------------------------------------------------- */

static _Alignas(16) char boot_arena[16384];
static size_t boot_used;

static int in_boot_arena(const void *p)
{
	return (const char *)p >= boot_arena && (const char *)p < boot_arena + sizeof(boot_arena);
}

/* Each block is preceded by its size, so realloc can copy it out. */
static void *boot_alloc(size_t n)
{
	size_t need = TAG_SIZE + ((n + 15) & ~(size_t)15), at;

	at = __atomic_fetch_add(&boot_used, need, __ATOMIC_RELAXED);
	if (n > sizeof(boot_arena) || at + need > sizeof(boot_arena))
		return NULL;
	*(size_t *)(boot_arena + at) = n;
	return boot_arena + at + TAG_SIZE;
}

static size_t boot_size(const void *p)
{
	return *(const size_t *)((const char *)p - TAG_SIZE);
}

static void resolve(void)
{
	const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);
	const char *env = getenv("OTELMEM_SAMPLE_BYTES");
	void *libc_malloc;

	resolving = 1;
	real_calloc = dlsym(RTLD_NEXT, "calloc");
	real_realloc = dlsym(RTLD_NEXT, "realloc");
	real_free = dlsym(RTLD_NEXT, "free");
	real_memalign = dlsym(RTLD_NEXT, "memalign");
	real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
	real_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
	real_usable_size = dlsym(RTLD_NEXT, "malloc_usable_size");
	libc_malloc = dlsym(RTLD_NEXT, "__libc_malloc");
	/* Last: the other wrappers take real_malloc as the sign that all are set. */
	__atomic_store_n(&real_malloc, dlsym(RTLD_NEXT, "malloc"), __ATOMIC_RELEASE);
	resolving = 0;

	if (r) {
		memcpy(&key0, r, sizeof(key0));
		memcpy(&key1, r + 8, sizeof(key1));
	}
	key0 |= 1; /* never 0, so a zeroed header never looks tagged */
	if (env && *env) {
		long long v = atoll(env);

		if (v > 0)
			mean = v;
	}
	can_tag = real_malloc && libc_malloc && (void *)real_malloc == libc_malloc && real_calloc &&
		  real_realloc && real_free && real_memalign && real_usable_size;
}

__attribute__((constructor)) static void otelmem_init(void)
{
	if (!real_malloc)
		resolve();
}

/* 1 while this thread is inside resolve(): its allocations come from the boot arena. */
static int booting(void)
{
	if (likely(__atomic_load_n(&real_malloc, __ATOMIC_ACQUIRE)))
		return 0;
	if (resolving)
		return 1;
	resolve();
	return !real_malloc;
}

/* --- sampling -------------------------------------------------------------- */

static int64_t draw(struct sampler *s)
{
	double u;

	if (!s->rng)
		s->rng = key0 ^ (uintptr_t)s ^ 0x9e3779b97f4a7c15ULL;
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	/* (0, 1]: 53 random bits, never 0, so the log is finite. */
	u = (double)(((s->rng * 0x2545f4914f6cdd1dULL) >> 11) + 1) * 0x1p-53;
	return (int64_t)(-log(u) * (double)mean) + 1;
}

/*
 * Counts n bytes off this thread's budget. Returns the sample's weight in
 * bytes, or 0 when the allocation is not sampled (the common case).
 */
static inline uint64_t sample_weight(size_t n)
{
	struct sampler *s = &sampler;
	uint64_t points = 0;

	if (likely(!otel_memory_alloc_semaphore) || !can_tag)
		return 0;
	if (likely((s->left -= (int64_t)n) > 0))
		return 0;
	if (!s->rng) {
		/* The thread's first allocation since a tracer came: start a budget, then count. */
		s->left += draw(s);
		if (s->left > 0)
			return 0;
	}
	while (s->left <= 0) {
		points++;
		s->left += draw(s);
	}
	return points * (uint64_t)mean;
}

static int is_tagged(const void *p)
{
	const struct tag *t = (const struct tag *)p - 1;
	uintptr_t off;

	if (likely(!__atomic_load_n(&tagged_any, __ATOMIC_RELAXED)) || !can_tag)
		return 0;
	if (t->check != (key0 ^ (uintptr_t)p))
		return 0;
	off = t->offset ^ key1;
	return off >= TAG_SIZE && off <= MAX_TAG_OFFSET && (off & (off - 1)) == 0;
}

static void *tagged_real(void *p)
{
	const struct tag *t = (const struct tag *)p - 1;

	return (char *)p - (t->offset ^ key1);
}

/* Tags the block real allocated offset bytes short of the caller's pointer, and fires alloc. */
__attribute__((noinline)) static void *tag_block(void *real, size_t offset, size_t n,
						 uint64_t weight)
{
	char *p;
	struct tag *t;

	if (!real)
		return NULL;
	p = (char *)real + offset;
	t = (struct tag *)p - 1;
	__atomic_store_n(&tagged_any, 1, __ATOMIC_RELAXED);
	t->check = key0 ^ (uintptr_t)p;
	t->offset = key1 ^ offset;
	STAP_PROBE3(otel_memory, alloc, p, n, weight);
	return p;
}

__attribute__((noinline)) static void free_tagged(void *p)
{
	struct tag *t = (struct tag *)p - 1;
	void *real = tagged_real(p);

	if (otel_memory_free_semaphore)
		STAP_PROBE1(otel_memory, free, p);
	t->check = 0; /* a second free of p must not pass as tagged */
	real_free(real);
}

static size_t tagged_size(void *p)
{
	return real_usable_size(tagged_real(p)) - (size_t)((char *)p - (char *)tagged_real(p));
}

/* n bytes, aligned to align (a power of two), sampled with weight. */
static void *alloc_sampled(size_t align, size_t n, uint64_t weight, int zero)
{
	size_t off = align > TAG_SIZE ? align : TAG_SIZE;
	void *real;

	if (n > SIZE_MAX - off) {
		errno = ENOMEM;
		return NULL;
	}
	if (off == TAG_SIZE)
		real = zero ? real_calloc(1, n + off) : real_malloc(n + off);
	else
		real = real_memalign(align, n + off);
	if (real && zero && off != TAG_SIZE)
		memset((char *)real + off, 0, n);
	return tag_block(real, off, n, weight);
}

/* --- the wrapped functions ------------------------------------------------- */

EXPORT void *malloc(size_t n)
{
	uint64_t w;

	if (unlikely(booting()))
		return boot_alloc(n);
	w = sample_weight(n);
	if (likely(!w))
		return real_malloc(n);
	return alloc_sampled(TAG_SIZE, n, w, 0);
}

EXPORT void free(void *p)
{
	if (unlikely(!p || in_boot_arena(p)))
		return;
	if (unlikely(is_tagged(p))) {
		free_tagged(p);
		return;
	}
	if (unlikely(!real_free) && booting())
		return; /* not ours, and nothing to hand it to yet */
	real_free(p);
}

EXPORT void *calloc(size_t nmemb, size_t size)
{
	size_t n;
	uint64_t w;

	if (__builtin_mul_overflow(nmemb, size, &n)) {
		errno = ENOMEM;
		return NULL;
	}
	if (unlikely(booting()))
		return boot_alloc(n); /* static, so already zero */
	w = sample_weight(n);
	if (likely(!w))
		return real_calloc(nmemb, size);
	return alloc_sampled(TAG_SIZE, n, w, 1);
}

/* realloc of a block the real allocator cannot resize: a new block, the old copied and freed. */
static void *move_block(void *p, size_t old, size_t n)
{
	void *q = malloc(n);

	if (!q)
		return NULL; /* p is left as it was, as realloc does */
	memcpy(q, p, old < n ? old : n);
	free(p);
	return q;
}

EXPORT void *realloc(void *p, size_t n)
{
	uint64_t w;
	void *q;

	if (!p)
		return malloc(n);
	if (unlikely(in_boot_arena(p)))
		return move_block(p, boot_size(p), n);
	if (unlikely(is_tagged(p))) {
		if (!n) {
			free_tagged(p); /* glibc's realloc(p, 0) frees p */
			return NULL;
		}
		return move_block(p, tagged_size(p), n);
	}
	if (unlikely(booting()))
		return NULL;
	w = n ? sample_weight(n) : 0;
	if (likely(!w))
		return real_realloc(p, n);
	/* The new block is sampled: it has to be a tagged one. */
	q = alloc_sampled(TAG_SIZE, n, w, 0);
	if (!q)
		return NULL;
	memcpy(q, p, real_usable_size(p) < n ? real_usable_size(p) : n);
	real_free(p);
	return q;
}

EXPORT void *reallocarray(void *p, size_t nmemb, size_t size)
{
	size_t n;

	if (__builtin_mul_overflow(nmemb, size, &n)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, n);
}

static int good_alignment(size_t align)
{
	return align && (align & (align - 1)) == 0 && align <= MAX_TAG_OFFSET;
}

EXPORT void *memalign(size_t align, size_t n)
{
	uint64_t w;

	if (unlikely(booting()))
		return align <= 16 ? boot_alloc(n) : NULL;
	w = good_alignment(align) ? sample_weight(n) : 0;
	if (likely(!w))
		return real_memalign(align, n);
	return alloc_sampled(align, n, w, 0);
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
	uint64_t w;

	if (unlikely(booting()))
		return align <= 16 ? boot_alloc(n) : NULL;
	w = good_alignment(align) ? sample_weight(n) : 0;
	if (likely(!w))
		return real_aligned_alloc(align, n);
	return alloc_sampled(align, n, w, 0);
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	uint64_t w;
	void *p;

	if (unlikely(booting())) {
		*out = align <= 16 ? boot_alloc(n) : NULL;
		return *out ? 0 : ENOMEM;
	}
	/* A bad alignment goes through, for the real function's EINVAL. */
	w = good_alignment(align) && align % sizeof(void *) == 0 ? sample_weight(n) : 0;
	if (likely(!w))
		return real_posix_memalign(out, align, n);
	p = alloc_sampled(align, n, w, 0);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

EXPORT size_t malloc_usable_size(void *p)
{
	if (!p)
		return 0;
	if (unlikely(in_boot_arena(p)))
		return boot_size(p);
	if (unlikely(is_tagged(p)))
		return tagged_size(p);
	if (unlikely(booting()))
		return 0;
	return real_usable_size(p);
}
