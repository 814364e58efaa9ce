/* SPDX-License-Identifier: Apache-2.0 */
/*
 * otel_ctx: publish an application's OpenTelemetry context to out-of-process
 * readers such as emberprof, per the OpenTelemetry process-context (OTEP 4719)
 * and thread-context (OTEP 4947) specifications.
 *
 *   otel_ctx_publish_process()  once: the process's resource (service.name...)
 *   otel_ctx_set_span()         when a thread starts working for a span
 *   otel_ctx_clear_span()       when it stops
 *
 * A profiler then attributes each CPU sample of a thread to the span that
 * thread was running. Setting and clearing cost a few stores and no system
 * call: each thread owns two records, fills the idle one, then publishes it
 * with a single pointer store to the exported TLS variable otel_thread_ctx_v1.
 *
 * Build: link libotelctx.so (built with -mtls-dialect=gnu2, so readers find
 * the variable through its TLSDESC relocation), or compile otel_ctx.c into an
 * executable linked with -Wl,--export-dynamic-symbol=otel_thread_ctx_v1.
 * pkg-config --cflags --libs otel_ctx gives the flags.
 */
#ifndef OTEL_CTX_H
#define OTEL_CTX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes of attribute entries one thread record holds (the OTEP recommends <= 640 in all). */
#define OTEL_CTX_MAX_ATTRS 256

/* The thread record, exactly as readers see it (OTEP 4947): packed, native endian. */
struct otel_thread_ctx_record {
	uint8_t trace_id[16]; /* W3C byte order */
	uint8_t span_id[8];
	uint8_t valid; /* 1: the record may be used */
	uint8_t trace_flags;
	uint16_t attrs_size;		   /* bytes of attrs in use */
	uint8_t attrs[OTEL_CTX_MAX_ATTRS]; /* {u8 key_index; u8 len; u8 val[len]}... */
} __attribute__((packed));

/* The exported thread-local pointer readers look up; NULL means no context. */
extern __thread struct otel_thread_ctx_record *otel_thread_ctx_v1;

struct otel_ctx_attr {
	const char *key, *value;
};

/*
 * Publishes the process context: @resource (e.g. {"service.name", "checkout"})
 * and @attr_keys, the names thread-context attribute indices refer to (index
 * i names key_index i). May be called again to update it. Returns 0 or
 * -errno (ENOMEM, E2BIG when the encoding exceeds 64 KiB).
 */
int otel_ctx_publish_process(const struct otel_ctx_attr *resource, size_t nresource,
			     const char *const *attr_keys, size_t nkeys);

/* Withdraws the process context (unmaps it). */
void otel_ctx_unpublish_process(void);

/*
 * Makes the calling thread's current span @trace_id/@span_id. @attrs, which
 * may be NULL, are (key index, value) pairs for the reader's key map; values
 * longer than 255 bytes are cut, and entries that do not fit are left out.
 */
void otel_ctx_set_span(const uint8_t trace_id[16], const uint8_t span_id[8], uint8_t trace_flags,
		       const uint8_t *key_indices, const char *const *values, size_t nattrs);

/* The calling thread runs no span any more. */
void otel_ctx_clear_span(void);

#ifdef __cplusplus
}
#endif

#endif
