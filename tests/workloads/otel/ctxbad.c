// SPDX-License-Identifier: Apache-2.0
/*
 * ctxbad: publishes broken or hostile OpenTelemetry contexts, one kind per
 * run, for tests/e2e/test_trace_bad.sh. The agent must attach no link for
 * them, count what it can, keep profiling the process and never crash.
 *
 * Like ctx-handwritten it writes the OTEP structures by hand: a process
 * context in an anonymous mapping named "[anon:OTEL_CTX]" (a memfd named
 * OTEL_CTX where the kernel cannot name anonymous mappings), and the TLS
 * variable otel_thread_ctx_v1 in the executable (local-exec; build with
 * -Wl,--export-dynamic-symbol=otel_thread_ctx_v1). The payload is encoded
 * below by a few lines of protobuf writing, so that each mode can change
 * one thing. The good context is service.name=ctxbad, schema tls_v1, key map
 * ["k"]; the good record is trace 55555555555555556666666666666666, span
 * 7777777777777777, attribute k=bad.
 *
 * One thread alternates ctx_work(), with otel_thread_ctx_v1 set as the mode
 * says, and ctx_idle(), with it NULL. Modes:
 *   good            everything valid (the control)
 *   invalid         record with valid = 0
 *   zero-trace      record with valid = 1 and an all-zero trace id
 *   ptr-low         otel_thread_ctx_v1 = 0x10
 *   ptr-unmapped    otel_thread_ctx_v1 points into a page that was unmapped
 *   attrs-huge      good record at the very end of a page followed by an
 *                   unmapped one, attrs_size = 0xffff
 *   psize0          good record; header payload_size = 0
 *   psize-big       good record; header payload_size = 65537
 *   pptr-unmapped   good record; header payload pointer into an unmapped page
 *   payload-random  good record; payload = 200 pseudo-random bytes
 *   payload-trunc   good record; payload_size cut in the middle of a field
 *   schema-unknown  good record; threadlocal.schema_version = "tls_v99"
 * and two that change mid-run, after SWITCH seconds (default 3): until then
 * phase_before() runs with everything good, then phase_after():
 *   unmap           the OTEL_CTX mapping is unmapped and the record pointer
 *                   set to NULL
 *   nullptr         the header's payload pointer is set to NULL and
 *                   published_at_ns bumped (the record stays good)
 *
 * Usage: ctxbad MODE [SECONDS [SWITCH]]   (default 10 s)
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx_page.h"

struct record {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t valid;
	uint8_t trace_flags;
	uint16_t attrs_size;
	uint8_t attrs[5];
} __attribute__((packed));

__attribute__((visibility("default"))) __thread struct record *otel_thread_ctx_v1;

static volatile unsigned long sink;
static uint8_t payload[512];
static size_t payload_len;

#define BURN()                                                                                     \
	({                                                                                         \
		volatile unsigned long acc = 0;                                                    \
		for (unsigned long i = 0; i < 2000000UL; i++)                                      \
			acc = acc * 31 + (i ^ (acc >> 7));                                         \
		acc;                                                                               \
	})

__attribute__((noinline)) unsigned long ctx_work(void)
{
	return BURN();
}

__attribute__((noinline)) unsigned long ctx_idle(void)
{
	return BURN();
}

__attribute__((noinline)) unsigned long phase_before(void)
{
	return BURN();
}

__attribute__((noinline)) unsigned long phase_after(void)
{
	return BURN();
}

/* Protobuf writing: a length-delimited field holding @len bytes, after its tag. */
static uint8_t *put_len(uint8_t *p, unsigned int field, size_t len)
{
	*p++ = (uint8_t)(field << 3 | 2);
	while (len >= 0x80) {
		*p++ = (uint8_t)(len | 0x80);
		len >>= 7;
	}
	*p++ = (uint8_t)len;
	return p;
}

static uint8_t *put_str(uint8_t *p, unsigned int field, const char *s)
{
	size_t n = strlen(s);

	p = put_len(p, field, n);
	memcpy(p, s, n);
	return p + n;
}

/* KeyValue {key=1, value=2 AnyValue {string_value=1}} as field @field. */
static uint8_t *put_kv(uint8_t *p, unsigned int field, const char *k, const char *v)
{
	size_t kl = strlen(k), vl = strlen(v);
	size_t any = 2 + vl, inner = 2 + kl + 2 + any;

	p = put_len(p, field, inner);
	p = put_str(p, 1, k);
	p = put_len(p, 2, any);
	return put_str(p, 1, v);
}

/* ProcessContext {resource {service.name}, schema_version, attribute_key_map ["k"]}. */
static void encode_payload(const char *schema)
{
	uint8_t res[64], *r = put_kv(res, 1, "service.name", "ctxbad"), *p = payload;
	const char *map = "threadlocal.attribute_key_map";

	p = put_len(p, 1, (size_t)(r - res));
	memcpy(p, res, (size_t)(r - res));
	p += r - res;
	p = put_kv(p, 2, "threadlocal.schema_version", schema);
	/* {key: map, value {array_value {values {string_value: "k"}}}} */
	p = put_len(p, 2, 2 + strlen(map) + 2 + 2 + 2 + 3);
	p = put_str(p, 1, map);
	p = put_len(p, 2, 2 + 2 + 3);
	p = put_len(p, 5, 2 + 3);
	p = put_len(p, 1, 3);
	p = put_str(p, 1, "k");
	payload_len = (size_t)(p - payload);
}

static void *unmapped_page(void)
{
	long page = sysconf(_SC_PAGESIZE);
	void *p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		       0);

	if (p == MAP_FAILED)
		return NULL;
	munmap(p, (size_t)page);
	return p;
}

static void fill(struct record *r)
{
	memset(r->trace_id, 0x55, 8);
	memset(r->trace_id + 8, 0x66, 8);
	memset(r->span_id, 0x77, 8);
	r->trace_flags = 1;
	r->attrs[0] = 0; /* key index 0: "k" */
	r->attrs[1] = 3;
	memcpy(r->attrs + 2, "bad", 3);
	r->attrs_size = 5;
	r->valid = 1;
}

int main(int argc, char **argv)
{
	static __thread struct record rec;
	const char *mode = argc > 1 ? argv[1] : "good";
	double start = now(), end = start + (argc > 2 ? atof(argv[2]) : 10);
	double sw = start + (argc > 3 ? atof(argv[3]) : 3);
	int midrun = !strcmp(mode, "unmap") || !strcmp(mode, "nullptr"), switched = 0;
	struct record *r = &rec;
	struct header *h;
	size_t hsize;

	encode_payload(strcmp(mode, "schema-unknown") ? "tls_v1" : "tls_v99");
	h = ctx_publish(payload, payload_len, &hsize);
	if (!h)
		return 1;
	fill(&rec);
	if (!strcmp(mode, "invalid")) {
		rec.valid = 0;
	} else if (!strcmp(mode, "zero-trace")) {
		memset(rec.trace_id, 0, 16);
	} else if (!strcmp(mode, "ptr-low")) {
		r = (struct record *)(uintptr_t)0x10;
	} else if (!strcmp(mode, "ptr-unmapped")) {
		r = unmapped_page();
	} else if (!strcmp(mode, "attrs-huge")) {
		long page = sysconf(_SC_PAGESIZE);
		uint8_t *two = mmap(NULL, 2 * (size_t)page, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (two == MAP_FAILED)
			return 1;
		munmap(two + page, (size_t)page);
		r = (struct record *)(two + page - sizeof(struct record));
		fill(r);
		r->attrs_size = 0xffff;
	} else if (!strcmp(mode, "psize0")) {
		h->payload_size = 0;
	} else if (!strcmp(mode, "psize-big")) {
		h->payload_size = 65537;
	} else if (!strcmp(mode, "pptr-unmapped")) {
		h->payload = (uint64_t)(uintptr_t)unmapped_page();
	} else if (!strcmp(mode, "payload-random")) {
		uint32_t x = 2463534242u;

		for (size_t i = 0; i < 200; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			payload[i] = (uint8_t)x;
		}
		h->payload_size = 200;
	} else if (!strcmp(mode, "payload-trunc")) {
		/* Inside the schema_version KeyValue, which starts after the resource. */
		h->payload_size = (uint32_t)(payload[1] + 2 + 10);
	} else if (strcmp(mode, "good") && strcmp(mode, "schema-unknown") && !midrun) {
		fprintf(stderr, "ctxbad: unknown mode %s\n", mode);
		return 2;
	}
	if (r == NULL)
		return 1;
	__atomic_store_n(&h->published_at_ns, boottime_ns(), __ATOMIC_RELEASE);

	while (now() < end) {
		if (midrun) {
			if (!switched && now() >= sw) {
				switched = 1;
				if (!strcmp(mode, "unmap")) {
					__atomic_store_n(&otel_thread_ctx_v1, NULL,
							 __ATOMIC_RELEASE);
					munmap(h, hsize);
				} else {
					__atomic_store_n(&h->published_at_ns, 0, __ATOMIC_RELEASE);
					h->payload = 0;
					__atomic_store_n(&h->published_at_ns, boottime_ns(),
							 __ATOMIC_RELEASE);
				}
			}
			if (!switched)
				__atomic_store_n(&otel_thread_ctx_v1, r, __ATOMIC_RELEASE);
			sink += switched ? phase_after() : phase_before();
			continue;
		}
		__atomic_store_n(&otel_thread_ctx_v1, r, __ATOMIC_RELEASE);
		sink += ctx_work();
		__atomic_store_n(&otel_thread_ctx_v1, NULL, __ATOMIC_RELEASE);
		sink += ctx_idle();
	}
	return (int)(sink & 0);
}
