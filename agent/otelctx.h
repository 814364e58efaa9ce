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

#include "profile/profile.h"
#include "bpf/emberprof.h"

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

/*
 * The contexts of the processes that publish one, kept from the time their
 * mappings are read until they leave the process table. The cache decides
 * whether BPF may follow a process's thread context and tells it through
 * @hooks: a process context with a schema we do not know, or one that
 * cannot be read, turns the thread context off (its records could be laid
 * out otherwise); no process context at all leaves it on.
 */
struct ctx_cache;

struct ctx_cache_hooks {
	void (*set_tls)(void *ctx, uint32_t pid, int64_t tls_offset); /* follow it */
	void (*clear_tls)(void *ctx, uint32_t pid);		      /* stop following */
	void *ctx;
};

/* @proc_root is normally "/proc". Returns NULL with errno set. */
struct ctx_cache *ctx_cache__new(const char *proc_root, const struct ctx_cache_hooks *hooks);
/* Accepts NULL. */
void ctx_cache__free(struct ctx_cache *cc);

/* @pid's mappings were (re)read: look for the contexts it publishes. */
void ctx_cache__loaded(struct ctx_cache *cc, uint32_t pid, const struct proc_mapping *maps,
		       size_t n, const char *exe);
/* @pid left the process table. */
void ctx_cache__gone(struct ctx_cache *cc, uint32_t pid);

/*
 * Re-reads the process contexts that changed (one 32-byte read each), and
 * those not found yet every 2 s at most. Run before each drain, so the
 * drain names links by the key maps in effect.
 */
void ctx_cache__refresh(struct ctx_cache *cc);

/* @pid's context, or NULL when it publishes none. Valid until the next call that changes the cache.
 */
const struct otel_ctx *ctx_cache__get(const struct ctx_cache *cc, uint32_t pid);

/* A link's attributes, named (storage for the kv pairs' strings included). */
struct ctx_link_attrs {
	struct prof_kv kv[PROF_MAX_ATTRS];
	char names[PROF_MAX_ATTRS][16];
	char values[PROF_MAX_ATTRS][EMBER_LINK_ATTRS + 1];
};

/*
 * Decodes the attributes BPF copied into @l ({u8 key_index; u8 len; u8
 * val[len]}..., cut at what was copied), naming keys by @pid's key map, or
 * "attr.N" where it has none. Returns how many are in @out->kv.
 */
size_t ctx_cache__link_attrs(const struct ctx_cache *cc, uint32_t pid, const struct ember_link *l,
			     struct ctx_link_attrs *out);

const struct otelctx_stats *ctx_cache__stats(const struct ctx_cache *cc);

#endif
