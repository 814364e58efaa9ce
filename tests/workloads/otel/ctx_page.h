/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the hand-written context writers (handwritten.c, ctxbad.c) share: the
 * OTEP process-context header and the page that holds it. The page is an
 * anonymous mapping named "OTEL_CTX" with PR_SET_VMA_ANON_NAME, so that it
 * shows as "[anon:OTEL_CTX]" in /proc/PID/maps; where the kernel cannot name
 * anonymous memory, a memfd called OTEL_CTX stands in ("/memfd:OTEL_CTX").
 * The SDK in sdk/c is deliberately not used: these programs are the second,
 * independent writer the agent is tested against.
 */
#ifndef EMBER_TEST_CTX_PAGE_H
#define EMBER_TEST_CTX_PAGE_H

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

struct header {
	char signature[8];
	uint32_t version;
	uint32_t payload_size;
	uint64_t published_at_ns;
	uint64_t payload;
};

static inline double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline uint64_t boottime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Maps the OTEL_CTX page and publishes a version 2 header pointing at
 * @payload (@len bytes), stamped now. Returns the header, or NULL; *@size is
 * the page's size, for munmap.
 */
static inline struct header *ctx_publish(const void *payload, size_t len, size_t *size)
{
	long page = sysconf(_SC_PAGESIZE);
	struct header *h = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	*size = (size_t)page;
	if (h == MAP_FAILED)
		return NULL;
	if (prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, h, page, "OTEL_CTX")) {
		int fd = memfd_create("OTEL_CTX", 0);

		munmap(h, (size_t)page);
		if (fd < 0 || ftruncate(fd, page))
			return NULL;
		h = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
		if (h == MAP_FAILED)
			return NULL;
	}
	memcpy(h->signature, "OTEL_CTX", 8);
	h->version = 2;
	h->payload_size = (uint32_t)len;
	h->payload = (uint64_t)(uintptr_t)payload;
	__atomic_store_n(&h->published_at_ns, boottime_ns(), __ATOMIC_RELEASE);
	return h;
}

#endif
