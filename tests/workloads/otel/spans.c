// SPDX-License-Identifier: Apache-2.0
/*
 * spans: a program instrumented with sdk/c's otel_ctx, for the trace
 * correlation tests. Two threads loop over three phases of equal work:
 *   span A (trace 0af7651916cd43dd8448eb211c80319c, span b7ad6b7169203331,
 *           attribute http.route=/a) in in_span_a();
 *   span B (trace 4bf92f3577b34da6a3ce929d0e0e4736, span 00f067aa0ba902b7,
 *           attribute http.route=/b) in in_span_b();
 *   no span, in no_span().
 * The process context publishes service.name=spans-demo and the key map
 * ["http.route"]. Built twice: linking libotelctx.so (TLSDESC) and with
 * otel_ctx.c compiled in (local-exec).
 *
 * Each round's phases take 1 to 8 steps (the same for all three), from an
 * xorshift sequence per thread, so that no round length stays in step with
 * the sampling period: with a fixed round, a clean-clone run once gave
 * span A 44% of the samples, not a third.
 *
 * Usage: spans [SECONDS]   (default 10)
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "otel_ctx.h"

static const uint8_t trace_a[16] = {0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd,
				    0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c};
static const uint8_t span_a[8] = {0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31};
static const uint8_t trace_b[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
				    0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
static const uint8_t span_b[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};

static volatile unsigned long sink;
static double end_time;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#define BURN(steps)                                                                                \
	({                                                                                         \
		volatile unsigned long acc = 0;                                                    \
		for (unsigned long i = 0; i < 500000UL * (steps); i++)                             \
			acc = acc * 31 + (i ^ (acc >> 7));                                         \
		acc;                                                                               \
	})

__attribute__((noinline)) unsigned long in_span_a(unsigned long steps)
{
	return BURN(steps);
}

__attribute__((noinline)) unsigned long in_span_b(unsigned long steps)
{
	return BURN(steps);
}

__attribute__((noinline)) unsigned long no_span(unsigned long steps)
{
	return BURN(steps);
}

static void *worker(void *arg)
{
	const uint8_t key0 = 0;
	const char *route_a = "/a", *route_b = "/b";
	unsigned long rng = 0x9e3779b97f4a7c15UL ^ (unsigned long)(uintptr_t)arg, steps;

	while (now() < end_time) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		steps = 1 + (rng >> 61);
		otel_ctx_set_span(trace_a, span_a, 1, &key0, &route_a, 1);
		sink += in_span_a(steps);
		otel_ctx_set_span(trace_b, span_b, 1, &key0, &route_b, 1);
		sink += in_span_b(steps);
		otel_ctx_clear_span();
		sink += no_span(steps);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const struct otel_ctx_attr resource[] = {{"service.name", "spans-demo"},
						 {"deployment.environment", "test"}};
	const char *keys[] = {"http.route"};
	pthread_t t[2];

	end_time = now() + (argc > 1 ? atof(argv[1]) : 10);
	if (otel_ctx_publish_process(resource, 2, keys, 1))
		return 1;
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1) /* its seed */);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	return (int)(sink & 0);
}
