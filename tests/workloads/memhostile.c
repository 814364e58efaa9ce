// SPDX-License-Identifier: Apache-2.0
/*
 * memhostile: otel_memory probes that break the contract, for test_alloc.
 *
 * It has probes of its own (provider otel_memory, with semaphores, as
 * <sys/sdt.h> makes them), not libotelmem's, and once a tracer raises them
 * it fires, for SECONDS: frees of pointers it never reported allocated,
 * allocs of size 0 and of a weight near 2^64, and allocs of one pointer
 * again and again without its free. A profiler must count these and go
 * on. It prints "memhostile: N frees, M allocs" at the end.
 *
 * Usage: memhostile [SECONDS]   (default 3)
 */
#define _SDT_HAS_SEMAPHORES 1
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/sdt.h>
#include <time.h>
#include <unistd.h>

unsigned short otel_memory_alloc_semaphore __attribute__((section(".probes")));
unsigned short otel_memory_free_semaphore __attribute__((section(".probes")));

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 3, end = now() + 20;
	uint64_t r = 0x9e3779b97f4a7c15ULL, frees = 0, allocs = 0;

	while (!(*(volatile unsigned short *)&otel_memory_alloc_semaphore &&
		 *(volatile unsigned short *)&otel_memory_free_semaphore) &&
	       now() < end)
		usleep(10000);
	end = now() + secs;
	while (now() < end) {
		for (int i = 0; i < 50; i++) {
			uintptr_t p;

			r ^= r << 13;
			r ^= r >> 7;
			r ^= r << 17;
			p = (uintptr_t)r;
			STAP_PROBE1(otel_memory, free, p);
			frees++;
		}
		STAP_PROBE3(otel_memory, alloc, (uintptr_t)0x1000, (size_t)0, (uint64_t)524288);
		STAP_PROBE3(otel_memory, alloc, (uintptr_t)0x2000, (size_t)16, UINT64_MAX - 1);
		allocs += 2;
		usleep(2000);
	}
	printf("memhostile: %llu frees, %llu allocs\n", (unsigned long long)frees,
	       (unsigned long long)allocs);
	return 0;
}
