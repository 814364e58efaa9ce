// SPDX-License-Identifier: Apache-2.0
/*
 * OpenTelemetry context discovery (see otelctx.h).
 *
 * The process context is read the way OTEP 4719 asks of readers: the header,
 * then the payload it points to, then the header again; if published_at_ns
 * changed (or was 0, an update in progress) the read is retried a few times.
 * The payload is a protobuf ProcessContext, decoded by protobuf-c with a
 * 64 KiB bound.
 *
 * The thread context's TLS offset depends on how the variable's module was
 * linked (FORMATS.md has the table): for a library in static TLS, the
 * relocation against otel_thread_ctx_v1 tells where the dynamic linker wrote
 * the offset (TLSDESC: the descriptor's second word; TPOFF64: the GOT slot),
 * and that word is read from the process; for the executable itself with no
 * relocation (local-exec), the offset follows from its PT_TLS segment, which
 * x86-64 places just below the thread pointer.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "opentelemetry/proto/processcontext/v1development/process_context.pb-c.h"
#include "lib/htab.h"
#include "lib/log.h"
#include "symbolizer/elf_file.h"
#include "symbolizer/symbolizer.h"
#include "agent/otelctx.h"
#include "agent/proc.h"

#define HEADER_SIZE 32
#define MAX_PAYLOAD 65536
#define READ_TRIES 4
#define SYMBOL "otel_thread_ctx_v1"

typedef Opentelemetry__Proto__Processcontext__V1development__ProcessContext ProcessContext;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;

struct header {
	char signature[8];
	uint32_t version;
	uint32_t payload_size;
	uint64_t published_at_ns;
	uint64_t payload;
};
_Static_assert(sizeof(struct header) == HEADER_SIZE, "OTEP 4719 header");

void otelctx_clear(struct otel_ctx *c)
{
	free(c->schema);
	for (size_t i = 0; i < c->nresource; i++) {
		free((char *)c->resource[i].key);
		free((char *)c->resource[i].value);
	}
	for (size_t i = 0; i < c->nkeys; i++)
		free(c->keys[i]);
	memset(c, 0, sizeof(*c));
}

/* An AnyValue as text: strings as they are, numbers and booleans printed. */
static char *any_text(const AnyValue *v)
{
	char buf[64];

	if (!v)
		return NULL;
	switch (v->value_case) {
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE:
		return strdup(v->string_value);
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
		snprintf(buf, sizeof(buf), "%lld", (long long)v->int_value);
		return strdup(buf);
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
		return strdup(v->bool_value ? "true" : "false");
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
		snprintf(buf, sizeof(buf), "%g", v->double_value);
		return strdup(buf);
	default:
		return NULL;
	}
}

static int known_schema(const char *s)
{
	return strcmp(s, "tlsdesc_v1_dev") == 0 || strcmp(s, "tlsdesc_v1") == 0 ||
	       strcmp(s, "tls_v1") == 0;
}

int otelctx_parse_payload(const uint8_t *buf, size_t len, struct otel_ctx *c)
{
	ProcessContext *pc;

	if (len == 0 || len > MAX_PAYLOAD)
		return -EINVAL;
	pc = opentelemetry__proto__processcontext__v1development__process_context__unpack(NULL, len,
											  buf);
	if (!pc)
		return -EINVAL;
	for (size_t i = 0; pc->resource && i < pc->resource->n_attributes; i++) {
		const Opentelemetry__Proto__Common__V1__KeyValue *kv = pc->resource->attributes[i];
		char *v = any_text(kv->value);

		if (!v || c->nresource == PROF_MAX_ATTRS || !kv->key[0]) {
			free(v);
			continue;
		}
		c->resource[c->nresource].key = strdup(kv->key);
		c->resource[c->nresource].value = v;
		if (!c->resource[c->nresource].key) {
			free(v);
			continue;
		}
		c->nresource++;
	}
	for (size_t i = 0; i < pc->n_attributes; i++) {
		const Opentelemetry__Proto__Common__V1__KeyValue *kv = pc->attributes[i];

		if (strcmp(kv->key, "threadlocal.schema_version") == 0) {
			free(c->schema);
			c->schema = any_text(kv->value);
		} else if (strcmp(kv->key, "threadlocal.attribute_key_map") == 0 && kv->value &&
			   kv->value->value_case ==
				   OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE &&
			   kv->value->array_value) {
			const Opentelemetry__Proto__Common__V1__ArrayValue *arr =
				kv->value->array_value;

			for (size_t j = 0; j < arr->n_values && c->nkeys < OTEL_CTX_MAX_KEYS; j++) {
				char *k = any_text(arr->values[j]);

				c->keys[c->nkeys++] = k ? k : strdup("");
			}
		}
	}
	c->schema_ok = c->schema && known_schema(c->schema);
	opentelemetry__proto__processcontext__v1development__process_context__free_unpacked(pc,
											    NULL);
	return 0;
}

static ssize_t read_mem(int fd, uint64_t addr, void *buf, size_t len)
{
	return pread(fd, buf, len, (off_t)addr);
}

static int is_ctx_mapping(const struct proc_mapping *m)
{
	const char *n = m->path;
	size_t len = strlen(n);

	if (m->perms[2] == 'x' || m->perms[0] != 'r')
		return 0;
	if (len > 10 && strcmp(n + len - 10, " (deleted)") == 0)
		len -= 10;
	return (len == 21 && strncmp(n, "[anon_shmem:OTEL_CTX]", 21) == 0) ||
	       (len == 15 && strncmp(n, "[anon:OTEL_CTX]", 15) == 0) ||
	       (len == 15 && strncmp(n, "/memfd:OTEL_CTX", 15) == 0);
}

/* The start of @pid's OTEL_CTX mapping, or 0. */
static uint64_t find_ctx_mapping(const char *proc_root, uint32_t pid)
{
	char path[256], *line = NULL;
	size_t cap = 0;
	uint64_t addr = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%u/maps", proc_root, pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (!addr && getline(&line, &cap, f) > 0) {
		struct proc_mapping m;

		if (proc_maps_parse_line(line, &m) == 0 && is_ctx_mapping(&m) &&
		    m.end - m.start >= HEADER_SIZE)
			addr = m.start;
	}
	free(line);
	fclose(f);
	return addr;
}

static int valid_header(const struct header *h)
{
	return memcmp(h->signature, "OTEL_CTX", 8) == 0 && h->version == 2 && h->payload_size > 0 &&
	       h->payload_size <= MAX_PAYLOAD && h->payload;
}

int otelctx_read_process(const char *proc_root, uint32_t pid, struct otel_ctx *c,
			 struct otelctx_stats *st)
{
	uint64_t addr = find_ctx_mapping(proc_root, pid);
	uint8_t *payload = NULL;
	char path[256];
	enum otel_tls_model model = c->tls_model;
	int64_t offset = c->tls_offset;
	int fd, err = -EINVAL;

	/* Start over on the process context; what is known of the thread context stays. */
	otelctx_clear(c);
	c->tls_model = model;
	c->tls_offset = offset;
	if (!addr)
		return -ENOENT;
	snprintf(path, sizeof(path), "%s/%u/mem", proc_root, pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ENOENT;
	payload = malloc(MAX_PAYLOAD);
	for (int i = 0; payload && i < READ_TRIES; i++) {
		struct header h1, h2;

		if (read_mem(fd, addr, &h1, sizeof(h1)) != sizeof(h1) || !valid_header(&h1)) {
			if (read_mem(fd, addr, &h1, sizeof(h1)) == sizeof(h1) &&
			    h1.published_at_ns == 0 && memcmp(h1.signature, "OTEL_CTX", 8) == 0)
				continue; /* an update in progress */
			st->bad_headers++;
			break;
		}
		if (h1.published_at_ns == 0)
			continue;
		if (read_mem(fd, h1.payload, payload, h1.payload_size) !=
			    (ssize_t)h1.payload_size ||
		    read_mem(fd, addr, &h2, sizeof(h2)) != sizeof(h2)) {
			st->bad_headers++;
			break;
		}
		if (h2.published_at_ns != h1.published_at_ns || h2.payload != h1.payload ||
		    h2.payload_size != h1.payload_size) {
			st->torn_reads++;
			continue;
		}
		if (otelctx_parse_payload(payload, h1.payload_size, c)) {
			st->bad_payloads++;
			otelctx_clear(c);
			c->tls_model = model;
			c->tls_offset = offset;
			break;
		}
		c->found = 1;
		c->header_addr = addr;
		c->published_at = h1.published_at_ns;
		st->contexts++;
		if (!c->schema_ok)
			st->unknown_schemas++;
		err = 0;
		break;
	}
	free(payload);
	close(fd);
	return err;
}

int otelctx_changed(const char *proc_root, uint32_t pid, const struct otel_ctx *c)
{
	struct header h;
	char path[256];
	int fd, changed = 1;

	if (!c->found)
		return 0;
	snprintf(path, sizeof(path), "%s/%u/mem", proc_root, pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0; /* gone: nothing to refresh */
	if (read_mem(fd, c->header_addr, &h, sizeof(h)) == sizeof(h) &&
	    h.published_at_ns == c->published_at)
		changed = 0;
	close(fd);
	return changed;
}

/*
 * A dynamic relocation of @elf against otel_thread_ctx_v1: returns its type
 * and sets *@r_offset, or 0 when there is none.
 */
static unsigned int find_reloc(Elf *elf, uint64_t *r_offset)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh, symsh;
		Elf_Data *data, *symdata;
		Elf_Scn *symscn;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_RELA || !sh.sh_entsize)
			continue;
		symscn = elf_getscn(elf, sh.sh_link);
		if (!symscn || !gelf_getshdr(symscn, &symsh))
			continue;
		data = elf_getdata(scn, NULL);
		symdata = elf_getdata(symscn, NULL);
		for (size_t i = 0; data && symdata && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Rela r;
			GElf_Sym sym;
			const char *name;
			unsigned int type;

			if (!gelf_getrela(data, (int)i, &r))
				break;
			type = (unsigned int)GELF_R_TYPE(r.r_info);
			if (type != R_X86_64_TLSDESC && type != R_X86_64_TPOFF64 &&
			    type != R_X86_64_DTPMOD64 && type != R_X86_64_DTPOFF64)
				continue;
			if (!GELF_R_SYM(r.r_info) ||
			    !gelf_getsym(symdata, (int)GELF_R_SYM(r.r_info), &sym))
				continue;
			name = elf_strptr(elf, symsh.sh_link, sym.st_name);
			if (name && strcmp(name, SYMBOL) == 0) {
				*r_offset = r.r_offset;
				return type;
			}
		}
	}
	return 0;
}

/* roundup(PT_TLS p_memsz, p_align): the size of the executable's TLS block. */
static int tls_block_size(Elf *elf, uint64_t *size)
{
	size_t nph = 0;

	if (elf_getphdrnum(elf, &nph))
		return -1;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_TLS) {
			uint64_t align = ph.p_align ? ph.p_align : 1;

			*size = (ph.p_memsz + align - 1) / align * align;
			return 0;
		}
	}
	return -1;
}

void otelctx_find_tls(const char *proc_root, uint32_t pid, const struct proc_mapping *maps,
		      size_t n, const char *exe, struct otel_ctx *c, struct otelctx_stats *st)
{
	const struct proc_mapping *def = NULL;
	GElf_Sym sym;
	char path[256];
	int fd;

	c->tls_model = OTEL_TLS_NONE;
	for (size_t i = 0; i < n && !def; i++)
		if (maps[i].module &&
		    elf_file__symbol(sym_module__elf(maps[i].module), SYMBOL, STT_TLS, &sym) == 0)
			def = &maps[i];
	if (!def)
		return;
	snprintf(path, sizeof(path), "%s/%u/mem", proc_root, pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	c->tls_model = OTEL_TLS_UNSUPPORTED;
	/* A relocation anywhere that resolves the variable's offset for the dynamic linker. */
	for (size_t i = 0; i < n; i++) {
		struct elf_file *ef = maps[i].module ? sym_module__elf(maps[i].module) : NULL;
		uint64_t r_offset, bias, word;
		unsigned int type;

		if (!ef || elf_file__bias(ef, maps[i].start, maps[i].offset, &bias))
			continue;
		type = find_reloc(elf_file__elf(ef), &r_offset);
		if (!type)
			continue;
		if (type == R_X86_64_TLSDESC &&
		    read_mem(fd, bias + r_offset + 8, &word, sizeof(word)) == sizeof(word)) {
			/*
			 * Static TLS: the word is the (negative) offset. A module
			 * dlopen'ed into dynamic TLS has a pointer here instead.
			 */
			if ((int64_t)word < 0 && (int64_t)word > -(1ll << 30)) {
				c->tls_model = OTEL_TLS_DESC;
				c->tls_offset = (int64_t)word;
			}
		} else if (type == R_X86_64_TPOFF64 &&
			   read_mem(fd, bias + r_offset, &word, sizeof(word)) == sizeof(word) &&
			   (int64_t)word < 0 && (int64_t)word > -(1ll << 30)) {
			c->tls_model = OTEL_TLS_INITIAL_EXEC;
			c->tls_offset = (int64_t)word;
		}
		if (c->tls_model != OTEL_TLS_UNSUPPORTED)
			break;
	}
	/* No relocation, defined in the executable: local-exec, below the thread pointer. */
	if (c->tls_model == OTEL_TLS_UNSUPPORTED && exe && strcmp(def->path, exe) == 0) {
		uint64_t block;

		if (tls_block_size(elf_file__elf(sym_module__elf(def->module)), &block) == 0) {
			c->tls_model = OTEL_TLS_LOCAL_EXEC;
			c->tls_offset = (int64_t)sym.st_value - (int64_t)block;
		}
	}
	close(fd);
	if (c->tls_model == OTEL_TLS_UNSUPPORTED)
		st->tls_unsupported++;
	else
		st->tls_found++;
}

/* --- The cache of the contexts processes publish ------------------------------ */

struct ctx_entry {
	struct otel_ctx c;
	uint64_t last_try; /* monotonic ns of the last process-context read */
};

struct ctx_cache {
	char root[256];
	struct ctx_cache_hooks hooks;
	struct htab *by_pid; /* pid -> struct ctx_entry * */
	struct otelctx_stats st;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct ctx_cache *ctx_cache__new(const char *proc_root, const struct ctx_cache_hooks *hooks)
{
	struct ctx_cache *cc = calloc(1, sizeof(*cc));

	if (!cc)
		return NULL;
	snprintf(cc->root, sizeof(cc->root), "%s", proc_root);
	cc->hooks = *hooks;
	cc->by_pid = htab__new();
	if (!cc->by_pid) {
		free(cc);
		errno = ENOMEM;
		return NULL;
	}
	return cc;
}

static struct ctx_entry *entry_of(const struct ctx_cache *cc, uint32_t pid)
{
	uint64_t *slot = htab__get(cc->by_pid, &pid, sizeof(pid), 0, 0, NULL);

	return slot ? (struct ctx_entry *)(uintptr_t)*slot : NULL;
}

static void free_entry(const void *key, size_t len, uint64_t *value, void *arg)
{
	struct ctx_entry *e = (struct ctx_entry *)(uintptr_t)*value;

	otelctx_clear(&e->c);
	free(e);
}

void ctx_cache__free(struct ctx_cache *cc)
{
	if (!cc)
		return;
	htab__for_each(cc->by_pid, free_entry, NULL);
	htab__free(cc->by_pid);
	free(cc);
}

void ctx_cache__loaded(struct ctx_cache *cc, uint32_t pid, const struct proc_mapping *maps,
		       size_t n, const char *exe)
{
	struct ctx_entry *e = entry_of(cc, pid), fresh = {0};

	otelctx_find_tls(cc->root, pid, maps, n, exe, &fresh.c, &cc->st);
	if (fresh.c.tls_model == OTEL_TLS_NONE && !e)
		return; /* the common case: nothing published */
	/*
	 * A context mapping that cannot be read (bad header or payload) disables
	 * the thread context too: what the process publishes cannot be trusted.
	 * No mapping at all is fine.
	 */
	if (otelctx_read_process(cc->root, pid, &fresh.c, &cc->st) == -EINVAL)
		fresh.c.tls_model = OTEL_TLS_UNSUPPORTED;
	fresh.last_try = mono_ns();
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e || !htab__get(cc->by_pid, &pid, sizeof(pid), 1, (uintptr_t)e, NULL)) {
			free(e);
			otelctx_clear(&fresh.c);
			return;
		}
	}
	otelctx_clear(&e->c);
	*e = fresh;
	if (e->c.tls_model != OTEL_TLS_NONE && e->c.tls_model != OTEL_TLS_UNSUPPORTED &&
	    (!e->c.found || e->c.schema_ok)) {
		cc->hooks.set_tls(cc->hooks.ctx, pid, e->c.tls_offset);
		pr_debug("pid %u: thread context at tp%+lld (%s)%s%s", pid,
			 (long long)e->c.tls_offset,
			 e->c.tls_model == OTEL_TLS_DESC	   ? "TLSDESC"
			 : e->c.tls_model == OTEL_TLS_INITIAL_EXEC ? "initial-exec"
								   : "local-exec",
			 e->c.found ? ", schema " : "", e->c.found ? e->c.schema : "");
	} else {
		cc->hooks.clear_tls(cc->hooks.ctx, pid);
	}
}

void ctx_cache__gone(struct ctx_cache *cc, uint32_t pid)
{
	struct ctx_entry *e = entry_of(cc, pid);

	if (!e)
		return;
	cc->hooks.clear_tls(cc->hooks.ctx, pid);
	otelctx_clear(&e->c);
	free(e);
	htab__del(cc->by_pid, &pid, sizeof(pid));
}

/* Re-reads one process context if it changed, or was not there yet (every 2 s at most). */
static void refresh_entry(struct ctx_cache *cc, uint32_t pid, struct ctx_entry *e, uint64_t now)
{
	struct otel_ctx fresh = {0};
	int err;

	if (e->c.found ? !otelctx_changed(cc->root, pid, &e->c) : now - e->last_try < 2000000000ull)
		return;
	e->last_try = now;
	fresh.tls_model = e->c.tls_model;
	fresh.tls_offset = e->c.tls_offset;
	err = otelctx_read_process(cc->root, pid, &fresh, &cc->st);
	if (err == 0) {
		/* Changed: the new one replaces it. */
		otelctx_clear(&e->c);
		e->c = fresh;
	} else {
		/*
		 * Gone or turned bad. Its key map still names the attributes of
		 * links recorded before (they are drained with later ones), so
		 * it stays until a valid context replaces it; found = 0 makes
		 * the next look a fresh read. A bad one stops links, as at
		 * discovery; the samples already taken keep theirs.
		 */
		otelctx_clear(&fresh);
		e->c.found = 0;
		if (err == -EINVAL)
			e->c.tls_model = OTEL_TLS_UNSUPPORTED;
	}
	if (e->c.tls_model == OTEL_TLS_UNSUPPORTED || (e->c.found && !e->c.schema_ok))
		cc->hooks.clear_tls(cc->hooks.ctx, pid);
}

struct refresh_arg {
	struct ctx_cache *cc;
	uint64_t now;
};

static void refresh_one(const void *key, size_t len, uint64_t *value, void *arg)
{
	struct refresh_arg *r = arg;
	uint32_t pid;

	memcpy(&pid, key, sizeof(pid));
	refresh_entry(r->cc, pid, (struct ctx_entry *)(uintptr_t)*value, r->now);
}

void ctx_cache__refresh(struct ctx_cache *cc)
{
	struct refresh_arg r = {cc, mono_ns()};

	htab__for_each(cc->by_pid, refresh_one, &r);
}

const struct otel_ctx *ctx_cache__get(const struct ctx_cache *cc, uint32_t pid)
{
	struct ctx_entry *e = entry_of(cc, pid);

	return e ? &e->c : NULL;
}

size_t ctx_cache__link_attrs(const struct ctx_cache *cc, uint32_t pid, const struct ember_link *l,
			     struct ctx_link_attrs *out)
{
	const struct ctx_entry *e = entry_of(cc, pid);
	size_t n = 0, off = 0, size = l->attrs_size;

	while (off + 2 <= size && size <= EMBER_LINK_ATTRS && n < PROF_MAX_ATTRS) {
		uint8_t k = l->attrs[off], len = l->attrs[off + 1];

		if (off + 2 + len > size)
			break;
		memcpy(out->values[n], &l->attrs[off + 2], len);
		out->values[n][len] = '\0';
		if (e && k < e->c.nkeys && e->c.keys[k][0]) {
			out->kv[n].key = e->c.keys[k];
		} else {
			snprintf(out->names[n], sizeof(out->names[n]), "attr.%u", k);
			out->kv[n].key = out->names[n];
		}
		out->kv[n].value = out->values[n];
		n++;
		off += 2 + (size_t)len;
	}
	return n;
}

const struct otelctx_stats *ctx_cache__stats(const struct ctx_cache *cc)
{
	return &cc->st;
}
