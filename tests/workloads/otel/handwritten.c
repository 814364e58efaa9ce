// SPDX-License-Identifier: Apache-2.0
/*
 * ctx-handwritten: publishes the OpenTelemetry process and thread contexts
 * without sdk/c, writing the OTEP structures directly, to check that
 * emberprof reads any conforming writer and not only its own library.
 *
 * Differences from the SDK on purpose: the process context lives in an
 * anonymous mapping named with PR_SET_VMA_ANON_NAME ("[anon:OTEL_CTX]"),
 * falling back to a memfd where the kernel lacks it; the schema is "tls_v1";
 * the payload bytes are a fixed protobuf encoding written out below; the
 * thread record is a single static one per thread.
 *
 * One thread alternates hw_traced() under span
 * (trace 11111111111111112222222222222222, span 3333333333333333) and
 * hw_untraced() with no span.
 *
 * Usage: ctx-handwritten [SECONDS]   (default 10)
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctx_page.h"

struct record {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t valid;
	uint8_t trace_flags;
	uint16_t attrs_size;
	uint8_t attrs[8];
} __attribute__((packed));

__attribute__((visibility("default"))) __thread struct record *otel_thread_ctx_v1;
static __thread struct record rec;

/*
 * ProcessContext {
 *   resource { attributes { key: "service.name" value { string_value: "handwritten" } } }
 *   attributes { key: "threadlocal.schema_version" value { string_value: "tls_v1" } }
 *   attributes { key: "threadlocal.attribute_key_map" value { array_value { values { string_value:
 * "k" } } } }
 * }
 */
static const uint8_t payload[] = {
	0x0a, 0x1f, 0x0a, 0x1d, 0x0a, 0x0c, 's',  'e',	'r',  'v', 'i', 'c', 'e', '.',	'n',
	'a',  'm',  'e',  0x12, 0x0d, 0x0a, 0x0b, 'h',	'a',  'n', 'd', 'w', 'r', 'i',	't',
	't',  'e',  'n',  0x12, 0x26, 0x0a, 0x1a, 't',	'h',  'r', 'e', 'a', 'd', 'l',	'o',
	'c',  'a',  'l',  '.',	's',  'c',  'h',  'e',	'm',  'a', '_', 'v', 'e', 'r',	's',
	'i',  'o',  'n',  0x12, 0x08, 0x0a, 0x06, 't',	'l',  's', '_', 'v', '1', 0x12, 0x28,
	0x0a, 0x1d, 't',  'h',	'r',  'e',  'a',  'd',	'l',  'o', 'c', 'a', 'l', '.',	'a',
	't',  't',  'r',  'i',	'b',  'u',  't',  'e',	'_',  'k', 'e', 'y', '_', 'm',	'a',
	'p',  0x12, 0x07, 0x2a, 0x05, 0x0a, 0x03, 0x0a, 0x01, 'k',
};

static volatile unsigned long sink;

__attribute__((noinline)) unsigned long hw_traced(void)
{
	volatile unsigned long acc = 0;

	for (unsigned long i = 0; i < 2000000UL; i++)
		acc = acc * 31 + (i ^ (acc >> 7));
	return acc;
}

__attribute__((noinline)) unsigned long hw_untraced(void)
{
	volatile unsigned long acc = 0;

	for (unsigned long i = 0; i < 2000000UL; i++)
		acc = acc * 31 + (i ^ (acc >> 7));
	return acc;
}

int main(int argc, char **argv)
{
	double end = now() + (argc > 1 ? atof(argv[1]) : 10);
	size_t size;

	if (!ctx_publish(payload, sizeof(payload), &size))
		return 1;
	memset(rec.trace_id, 0x11, 8);
	memset(rec.trace_id + 8, 0x22, 8);
	memset(rec.span_id, 0x33, 8);
	rec.trace_flags = 1;
	rec.attrs[0] = 0; /* key index 0: "k" */
	rec.attrs[1] = 2;
	rec.attrs[2] = 'h';
	rec.attrs[3] = 'w';
	rec.attrs_size = 4;
	rec.valid = 1;
	while (now() < end) {
		__atomic_store_n(&otel_thread_ctx_v1, &rec, __ATOMIC_RELEASE);
		sink += hw_traced();
		__atomic_store_n(&otel_thread_ctx_v1, NULL, __ATOMIC_RELEASE);
		sink += hw_untraced();
	}
	return (int)(sink & 0);
}
