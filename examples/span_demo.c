// SPDX-License-Identifier: Apache-2.0
/*
 * span_demo: the smallest use of otel_ctx. It publishes the process's
 * service.name, then handles "requests", each in a span of its own, so a
 * profiler reading the OpenTelemetry thread context (emberprof) attributes
 * the CPU of handle_request() to each request's trace.
 *
 *   cc span_demo.c $(pkg-config --cflags --libs otel_ctx) -o span_demo
 *   ./span_demo & emberprof -p $! -d 5 -o demo.pb.gz
 *   pprof -symbolize=none -tags demo.pb.gz      # trace_id / span_id labels
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#include "otel_ctx.h"

static volatile unsigned long sink;

static void handle_request(unsigned int n)
{
	for (unsigned long i = 0; i < 50000000UL + n; i++)
		sink += i ^ (sink >> 3);
}

int main(int argc, char **argv)
{
	const struct otel_ctx_attr resource[] = {{"service.name", "span-demo"}};
	const char *keys[] = {"request.id"};
	int requests = argc > 1 ? atoi(argv[1]) : 20;

	if (otel_ctx_publish_process(resource, 1, keys, 1)) {
		fprintf(stderr, "cannot publish the process context\n");
		return 1;
	}
	for (int i = 0; i < requests; i++) {
		uint8_t trace[16], span[8];
		const uint8_t key = 0;
		char id[16];
		const char *value = id;

		/* A real service takes these from the incoming request's traceparent. */
		if (getrandom(trace, sizeof(trace), 0) != sizeof(trace) ||
		    getrandom(span, sizeof(span), 0) != sizeof(span))
			return 1;
		snprintf(id, sizeof(id), "%d", i);
		otel_ctx_set_span(trace, span, 1, &key, &value, 1);
		handle_request((unsigned int)i);
		otel_ctx_clear_span();
	}
	otel_ctx_unpublish_process();
	return (int)(sink & 0);
}
