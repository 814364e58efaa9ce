/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Discovery of the OpenTelemetry contexts a process publishes for profilers:
 * the process context (OTEP 4719: a mapping named OTEL_CTX holding a header
 * and a protobuf ProcessContext) and the thread context (OTEP 4947: the TLS
 * variable otel_thread_ctx_v1, whose offset from the thread pointer BPF
 * needs). Everything read here comes from another process's memory and is
 * untrusted: sizes are bounded, reads are checked, and a bad context yields
 * no context rather than an error.
 */
#ifndef EMBER_OTELCTX_H
#define EMBER_OTELCTX_H

#include <stddef.h>
#include <stdint.h>

#include "aggregate.h"

struct proc_mapping;

enum otel_tls_model {
	OTEL_TLS_NONE = 0,     /* no otel_thread_ctx_v1 in the process */
	OTEL_TLS_LOCAL_EXEC,   /* defined in the executable, no relocation */
	OTEL_TLS_INITIAL_EXEC, /* R_X86_64_TPOFF64: the GOT slot holds the offset */
	OTEL_TLS_DESC,	       /* R_X86_64_TLSDESC, module in static TLS */
	OTEL_TLS_UNSUPPORTED,  /* general dynamic or dlopen'ed (needs a DTV walk) */
};

#define OTEL_CTX_MAX_KEYS 256

struct otel_ctx {
	/* Process context */
	int found;	       /* a valid context was read */
	uint64_t header_addr;  /* where its header lives in the process */
	uint64_t published_at; /* its version */
	int schema_ok;	       /* threadlocal.schema_version is one we read */
	char *schema;
	struct prof_kv resource[PROF_MAX_ATTRS]; /* strings owned */
	size_t nresource;
	char *keys[OTEL_CTX_MAX_KEYS]; /* threadlocal.attribute_key_map */
	size_t nkeys;
	/* Thread context */
	enum otel_tls_model tls_model;
	int64_t tls_offset;
};

struct otelctx_stats {
	unsigned long contexts, bad_headers, bad_payloads, unknown_schemas, torn_reads;
	unsigned long tls_found, tls_unsupported;
};

/*
 * Parses a ProcessContext payload into @c (resource, schema, key map).
 * Returns 0, or -EINVAL for bytes that are not a ProcessContext.
 */
int otelctx_parse_payload(const uint8_t *buf, size_t len, struct otel_ctx *c);

/*
 * Finds and reads @pid's process context into @c, replacing what @c held of
 * a process context (its thread-context fields stay). @proc_root is normally
 * "/proc".
 * Returns 0 (c->found set), -ENOENT when the process publishes none, or
 * -EINVAL for a bad header or payload (counted in @st).
 */
int otelctx_read_process(const char *proc_root, uint32_t pid, struct otel_ctx *c,
			 struct otelctx_stats *st);

/*
 * Whether the process context changed since @c was read (its header's
 * published_at differs). Cheap: one 32-byte read.
 */
int otelctx_changed(const char *proc_root, uint32_t pid, const struct otel_ctx *c);

/*
 * Locates otel_thread_ctx_v1 among @maps (the process's executable mappings,
 * with their modules) and sets c->tls_model and c->tls_offset. @exe is the
 * executable's path, to tell the main program from libraries.
 */
void otelctx_find_tls(const char *proc_root, uint32_t pid, const struct proc_mapping *maps,
		      size_t n, const char *exe, struct otel_ctx *c, struct otelctx_stats *st);

/* Frees what @c owns and zeroes it. */
void otelctx_clear(struct otel_ctx *c);

#endif
