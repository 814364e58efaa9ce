// SPDX-License-Identifier: Apache-2.0
/*
 * otel_ctx (see otel_ctx.h).
 *
 * Process context: a memfd named "OTEL_CTX", mapped shared, so it shows in
 * /proc/PID/maps as "/memfd:OTEL_CTX (deleted)", holding the 32-byte header
 * {"OTEL_CTX", version 2, payload size, published_at_ns, payload pointer};
 * the payload, a protobuf ProcessContext, lives in ordinary heap memory the
 * header points to. Updates follow the seqlock the specification asks of
 * readers: published_at_ns goes to 0, the payload pointer and size change,
 * then published_at_ns gets the new CLOCK_BOOTTIME time.
 *
 * The protobuf is written by hand: the library must not pull protobuf
 * runtimes into applications, and the message has four field kinds.
 *
 * Thread context: two records per thread, alternated, so a reader that loaded
 * the old pointer still sees a whole (old) record while the new one is
 * filled; the pointer store that publishes it is a release store.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "otel_ctx.h"

__attribute__((visibility("default"))) __thread struct otel_thread_ctx_record *otel_thread_ctx_v1;

static __thread struct otel_thread_ctx_record records[2];
static __thread unsigned int next_record;

/* --- thread context ------------------------------------------------------- */

void otel_ctx_set_span(const uint8_t trace_id[16], const uint8_t span_id[8], uint8_t trace_flags,
		       const uint8_t *key_indices, const char *const *values, size_t nattrs)
{
	struct otel_thread_ctx_record *r = &records[next_record];
	size_t off = 0;

	next_record ^= 1;
	r->valid = 0;
	memcpy(r->trace_id, trace_id, 16);
	memcpy(r->span_id, span_id, 8);
	r->trace_flags = trace_flags;
	for (size_t i = 0; i < nattrs && key_indices && values; i++) {
		size_t len = strlen(values[i]);

		if (len > 255)
			len = 255;
		if (off + 2 + len > OTEL_CTX_MAX_ATTRS)
			break;
		r->attrs[off] = key_indices[i];
		r->attrs[off + 1] = (uint8_t)len;
		memcpy(&r->attrs[off + 2], values[i], len);
		off += 2 + len;
	}
	r->attrs_size = (uint16_t)off;
	r->valid = 1;
	__atomic_store_n(&otel_thread_ctx_v1, r, __ATOMIC_RELEASE);
}

void otel_ctx_clear_span(void)
{
	__atomic_store_n(&otel_thread_ctx_v1, NULL, __ATOMIC_RELEASE);
}

/* --- process context ------------------------------------------------------ */

struct header {
	char signature[8];
	uint32_t version;
	uint32_t payload_size;
	uint64_t published_at_ns;
	uint64_t payload;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct header *header;
static uint8_t *payload;

struct buf {
	uint8_t *p;
	size_t len, cap;
	int failed;
};

static void put(struct buf *b, const void *data, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		uint8_t *p;

		while (cap < b->len + n)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->failed = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

static void varint(struct buf *b, uint64_t v)
{
	uint8_t out[10];
	size_t n = 0;

	do {
		out[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	put(b, out, n);
}

/* A length-delimited field (wire type 2) holding @inner. */
static void field_bytes(struct buf *b, unsigned int field, const void *inner, size_t len)
{
	varint(b, (uint64_t)field << 3 | 2);
	varint(b, len);
	put(b, inner, len);
}

/* KeyValue{key=1, value=2: AnyValue{string_value=1}} */
static void key_string(struct buf *out, unsigned int field, const char *key, const char *value)
{
	struct buf any = {0}, kv = {0};

	field_bytes(&any, 1, value, strlen(value));
	field_bytes(&kv, 1, key, strlen(key));
	field_bytes(&kv, 2, any.p, any.len);
	field_bytes(out, field, kv.p, kv.len);
	out->failed |= any.failed | kv.failed;
	free(any.p);
	free(kv.p);
}

/* KeyValue{key, value: AnyValue{array_value=5: ArrayValue{values=1: AnyValue{string}...}}} */
static void key_strings(struct buf *out, unsigned int field, const char *key,
			const char *const *values, size_t n)
{
	struct buf arr = {0}, any = {0}, kv = {0};

	for (size_t i = 0; i < n; i++) {
		struct buf v = {0};

		field_bytes(&v, 1, values[i], strlen(values[i]));
		field_bytes(&arr, 1, v.p, v.len);
		arr.failed |= v.failed;
		free(v.p);
	}
	field_bytes(&any, 5, arr.p, arr.len);
	field_bytes(&kv, 1, key, strlen(key));
	field_bytes(&kv, 2, any.p, any.len);
	field_bytes(out, field, kv.p, kv.len);
	out->failed |= arr.failed | any.failed | kv.failed;
	free(arr.p);
	free(any.p);
	free(kv.p);
}

static uint64_t boottime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int otel_ctx_publish_process(const struct otel_ctx_attr *resource, size_t nresource,
			     const char *const *attr_keys, size_t nkeys)
{
	struct buf res = {0}, msg = {0};
	uint8_t *old;
	int err = 0;

	/* ProcessContext{resource=1: Resource{attributes=1...}, attributes=2...} */
	for (size_t i = 0; i < nresource; i++)
		key_string(&res, 1, resource[i].key, resource[i].value);
	field_bytes(&msg, 1, res.p, res.len);
	key_string(&msg, 2, "threadlocal.schema_version", "tlsdesc_v1_dev");
	key_strings(&msg, 2, "threadlocal.attribute_key_map", attr_keys, nkeys);
	free(res.p);
	if (res.failed || msg.failed) {
		free(msg.p);
		return -ENOMEM;
	}
	if (msg.len > 65536) {
		free(msg.p);
		return -E2BIG;
	}

	pthread_mutex_lock(&lock);
	if (!header) {
		int fd = memfd_create("OTEL_CTX", MFD_CLOEXEC);
		void *p = fd < 0 ? MAP_FAILED
				 : mmap(NULL, sizeof(struct header), PROT_READ | PROT_WRITE,
					MAP_SHARED, fd, 0);

		if (fd >= 0 && ftruncate(fd, sizeof(struct header)) == 0 && p != MAP_FAILED) {
			header = p;
			memcpy(header->signature, "OTEL_CTX", 8);
			header->version = 2;
		} else {
			err = -errno;
			if (p != MAP_FAILED)
				munmap(p, sizeof(struct header));
		}
		if (fd >= 0)
			close(fd); /* the mapping keeps the memfd alive */
	}
	if (!err) {
		__atomic_store_n(&header->published_at_ns, 0, __ATOMIC_RELEASE);
		old = payload;
		payload = msg.p;
		header->payload = (uint64_t)(uintptr_t)payload;
		header->payload_size = (uint32_t)msg.len;
		__atomic_store_n(&header->published_at_ns, boottime_ns(), __ATOMIC_RELEASE);
		/* A reader mid-read of the old payload sees published_at_ns change and retries. */
		free(old);
	} else {
		free(msg.p);
	}
	pthread_mutex_unlock(&lock);
	return err;
}

void otel_ctx_unpublish_process(void)
{
	pthread_mutex_lock(&lock);
	if (header) {
		__atomic_store_n(&header->published_at_ns, 0, __ATOMIC_RELEASE);
		munmap(header, sizeof(struct header));
		header = NULL;
	}
	free(payload);
	payload = NULL;
	pthread_mutex_unlock(&lock);
}
