// SPDX-License-Identifier: Apache-2.0
/*
 * The main loop. Process events (first sample, exec, exit) are handled as they
 * arrive, so a process's mappings are read while it is still alive; samples
 * are drained every second so the kernel maps never hold more than a second
 * of distinct stacks; and symbolization happens at drain time, once per
 * distinct address per interval thanks to the profile model's location table.
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <dirent.h>
#include <malloc.h>
#include <sys/random.h>
#include <unistd.h>

#include "aggregate.h"
#include "export/folded.h"
#include "flamegraph.h"
#include "export/otlp.h"
#include "export/otlp_http.h"
#include "export/path.h"
#include "export/pprof.h"
#include "cgroup.h"
#include "htab.h"
#include "otelctx.h"
#include "log.h"
#include "proc.h"
#include "run.h"
#include "privilege.h"
#include "sampler.h"
#include "status.h"
#include "unwind.h"
#include "../symbolizer/symbolizer.h"

static volatile sig_atomic_t stop_requested, reopen_requested;

void run_request_stop(void)
{
	stop_requested = 1;
}

void run_request_reopen(void)
{
	reopen_requested = 1;
}

struct agent {
	const struct run_opts *opts;
	struct sampler *sampler;
	struct symbolizer *sym;
	struct proc_table *procs;
	struct profile *profile;
	struct htab *seen_pids; /* every process sampled during the run */
	struct unwinder *unwinder;
	struct otlp_exporter *exporter;
	struct htab *contexts; /* pid -> struct ctx_entry *: processes publishing OTel context */
	struct otelctx_stats ctx_stats;
	struct status_server *status;
	uint64_t filtered; /* samples left out by --container-id */
	char host_name[256];
	uint64_t frames_unnamed;
	uint64_t unattributed; /* samples with neither stack, left out */
	uint64_t events;
	uint64_t drains; /* drains begun: a process context is checked once in each */
	unsigned long seq;
	int write_failed;
};

static uint64_t now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_event(const struct ember_event *ev, void *ctx)
{
	struct agent *a = ctx;
	int err;

	a->events++;
	switch (ev->type) {
	case EMBER_EV_NEW_PROC:
		err = proc_table__load(a->procs, ev->tgid);
		if (err)
			pr_debug("pid %u (%.16s): cannot read mappings: %s", ev->tgid, ev->comm,
				 strerror(-err));
		break;
	case EMBER_EV_EXEC:
		/* The old image's mappings stay in history until the interval ends. */
		break;
	case EMBER_EV_EXIT:
		proc_table__exited(a->procs, ev->tgid);
		break;
	}
}

/*
 * Builds the location of one frame. @ret: the address is a return address
 * (every frame but the leaf), so the call instruction is the byte before it;
 * using addr - 1 names the caller's line, not the line after the call, and
 * keeps a call at the very end of a function inside that function.
 */
static uint64_t frame_location(struct agent *a, struct proc *p, uint64_t addr, int ret, int kernel)
{
	struct prof_frame f = {0};
	struct sym_result res = {0};
	const struct proc_mapping *m = NULL;
	uint64_t pc = ret ? addr - 1 : addr, id;
	int named;

	f.address = pc;
	if (kernel) {
		f.map_file = "[kernel.kallsyms]";
		f.map_start = 0xffff800000000000ull;
		f.map_limit = ~0ull;
		f.kernel = 1;
	} else if (p && (m = proc_table__find(a->procs, p, pc))) {
		f.map_file = m->path[0] ? m->path : "[anon]";
		f.map_start = m->start;
		f.map_limit = m->end;
		f.map_offset = m->offset;
		if (m->module) {
			f.build_id = sym_module__build_id(m->module);
			f.htlhash = sym_module__htlhash(m->module);
		}
	}
	/* Seen before in this profile: its names are interned already. */
	id = profile__find_location(a->profile, &f, &named);
	if (id) {
		a->frames_unnamed += !named;
		return id;
	}
	f.sym = &res;
	if (kernel) {
		symbolizer__lookup_kernel(a->sym, pc, &res);
	} else if (m && m->module) {
		symbolizer__lookup(a->sym, m->module, m->start, m->offset, pc, &res);
		f.has_dwarf = sym_module__has_dwarf(a->sym, m->module);
	} else if (m && m->ino == 0) {
		/* Anonymous executable memory: JIT code, named by its perf map. */
		symbolizer__lookup_perfmap(a->sym, proc__pid(p), proc__perfmap_path(p), pc, &res);
		f.jit = 1;
	}
	if (!res.nlines)
		a->frames_unnamed++;
	return profile__location(a->profile, &f);
}

struct ctx_entry {
	struct otel_ctx c;
	uint64_t last_try; /* monotonic ns of the last process-context read */
	uint64_t drain;	   /* the drain in which it was last checked */
};

static struct ctx_entry *context_of(struct agent *a, uint32_t pid)
{
	uint64_t *slot = htab__get(a->contexts, &pid, sizeof(pid), 0, 0, NULL);

	return slot ? (struct ctx_entry *)(uintptr_t)*slot : NULL;
}

/*
 * A process's mappings were (re)read: look for the contexts it publishes, and
 * hand BPF its thread-context offset. A process context whose schema we do
 * not know disables the thread context (its records could be laid out
 * differently); no process context at all still allows it.
 */
static void on_proc_loaded(void *ctx, uint32_t pid, struct proc *p)
{
	struct agent *a = ctx;
	struct ctx_entry *e = context_of(a, pid), fresh = {0};
	const struct proc_mapping *maps;
	size_t n;

	maps = proc__mappings(p, &n);
	otelctx_find_tls("/proc", pid, maps, n, proc__exe_path(p), &fresh.c, &a->ctx_stats);
	if (fresh.c.tls_model == OTEL_TLS_NONE && !e)
		return; /* the common case: nothing published */
	/*
	 * A context mapping that cannot be read (bad header or payload) disables
	 * the thread context too: what the process publishes cannot be trusted.
	 * No mapping at all is fine.
	 */
	if (otelctx_read_process("/proc", pid, &fresh.c, &a->ctx_stats) == -EINVAL)
		fresh.c.tls_model = OTEL_TLS_UNSUPPORTED;
	fresh.last_try = now_ns(CLOCK_MONOTONIC);
	fresh.drain = a->drains; /* just read: no second look in this drain */
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e || !htab__get(a->contexts, &pid, sizeof(pid), 1, (uintptr_t)e, NULL)) {
			free(e);
			otelctx_clear(&fresh.c);
			return;
		}
	}
	otelctx_clear(&e->c);
	*e = fresh;
	if (e->c.tls_model != OTEL_TLS_NONE && e->c.tls_model != OTEL_TLS_UNSUPPORTED &&
	    (!e->c.found || e->c.schema_ok)) {
		sampler__set_tls(a->sampler, pid, e->c.tls_offset);
		pr_debug("pid %u: thread context at tp%+lld (%s)%s%s", pid,
			 (long long)e->c.tls_offset,
			 e->c.tls_model == OTEL_TLS_DESC	   ? "TLSDESC"
			 : e->c.tls_model == OTEL_TLS_INITIAL_EXEC ? "initial-exec"
								   : "local-exec",
			 e->c.found ? ", schema " : "", e->c.found ? e->c.schema : "");
	} else {
		sampler__clear_tls(a->sampler, pid);
	}
}

static void on_proc_gone(void *ctx, uint32_t pid, struct proc *p)
{
	struct agent *a = ctx;
	struct ctx_entry *e = context_of(a, pid);

	(void)p;
	if (!e)
		return;
	sampler__clear_tls(a->sampler, pid);
	otelctx_clear(&e->c);
	free(e);
	htab__del(a->contexts, &pid, sizeof(pid));
}

/* Re-reads process contexts that changed, or that were not there yet (every 2 s at most). */
static void refresh_context(struct agent *a, uint32_t pid, struct ctx_entry *e)
{
	struct otel_ctx fresh = {0};
	uint64_t now;
	int err;

	/* Once per drain: every entry of a process carrying a link asks. */
	if (e->drain == a->drains)
		return;
	e->drain = a->drains;
	now = now_ns(CLOCK_MONOTONIC);
	if (e->c.found ? !otelctx_changed("/proc", pid, &e->c) : now - e->last_try < 2000000000ull)
		return;
	e->last_try = now;
	fresh.tls_model = e->c.tls_model;
	fresh.tls_offset = e->c.tls_offset;
	err = otelctx_read_process("/proc", pid, &fresh, &a->ctx_stats);
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
		sampler__clear_tls(a->sampler, pid);
}

/* The link of a sample, with its attributes named from the process's key map. */
static uint32_t link_id(struct agent *a, uint32_t pid, const struct ember_link *l)
{
	struct ctx_entry *e = context_of(a, pid);
	struct prof_kv attrs[PROF_MAX_ATTRS];
	char names[PROF_MAX_ATTRS][16], values[PROF_MAX_ATTRS][EMBER_LINK_ATTRS + 1];
	size_t n = 0, off = 0, size = l->attrs_size;

	if (e)
		refresh_context(a, pid, e);
	/* {u8 key_index; u8 len; u8 val[len]}..., cut at what BPF copied. */
	while (off + 2 <= size && size <= EMBER_LINK_ATTRS && n < PROF_MAX_ATTRS) {
		uint8_t k = l->attrs[off], len = l->attrs[off + 1];

		if (off + 2 + len > size)
			break;
		memcpy(values[n], &l->attrs[off + 2], len);
		values[n][len] = '\0';
		if (e && k < e->c.nkeys && e->c.keys[k][0]) {
			attrs[n].key = e->c.keys[k];
		} else {
			snprintf(names[n], sizeof(names[n]), "attr.%u", k);
			attrs[n].key = names[n];
		}
		attrs[n].value = values[n];
		n++;
		off += 2 + (size_t)len;
	}
	return profile__link(a->profile, l->trace_id, l->span_id, attrs, n);
}

static int on_sample(const struct ember_key *key, uint64_t count, const uint64_t *kips, uint32_t nk,
		     const uint64_t *uips, uint32_t nu, const struct ember_link *link, void *ctx)
{
	struct agent *a = ctx;
	uint64_t locs[2 * EMBER_MAX_STACK];
	struct proc *p = proc_table__get(a->procs, key->tgid);
	char comm[EMBER_COMM_LEN + 1];
	struct prof_process_info info = {0};
	struct ctx_entry *e;
	const char *pname;
	uint32_t n = 0, lid = 0;

	/* --container-id: the BPF side cannot know container ids; filter here, before any
	 * symbolization. */
	if (a->opts->container_prefix &&
	    (!p || strncmp(proc__container(p)->id, a->opts->container_prefix,
			   strlen(a->opts->container_prefix)) != 0)) {
		a->filtered += count;
		return 0;
	}
	for (uint32_t i = 0; i < nk; i++) {
		locs[n] = frame_location(a, p, kips[i], i > 0, 1);
		if (!locs[n])
			return -ENOMEM;
		n++;
	}
	for (uint32_t i = 0; i < nu; i++) {
		locs[n] = frame_location(a, p, uips[i], i > 0, 0);
		if (!locs[n])
			return -ENOMEM;
		n++;
	}
	/*
	 * Both stacks lost (the stack map was full, which BPF counted): such a
	 * sample names no code. pprof tools disagree on how to show it, so it is
	 * left out, and its count is among the lost samples already.
	 */
	if (n == 0) {
		a->unattributed += count;
		return 0;
	}
	memcpy(comm, key->comm, EMBER_COMM_LEN);
	comm[EMBER_COMM_LEN] = '\0';
	pname = p && proc__name(p)[0] ? proc__name(p) : comm;
	e = context_of(a, key->tgid);
	if (link) {
		lid = link_id(a, key->tgid, link);
		if (!lid)
			return -ENOMEM;
	}
	info.name = pname;
	info.exe = p ? proc__exe_path(p) : "";
	if (p) {
		info.container_id = proc__container(p)->id;
		info.pod_uid = proc__container(p)->pod_uid;
		info.qos = proc__container(p)->qos;
	}
	if (e && e->c.found) {
		info.resource = e->c.resource;
		info.nresource = e->c.nresource;
	}
	if (!htab__get(a->seen_pids, &key->tgid, sizeof(key->tgid), 1, 0, NULL) ||
	    profile__set_process(a->profile, key->tgid, &info))
		return -ENOMEM;
	return profile__add(a->profile, locs, n, key->tgid, key->tid, comm, pname, lid,
			    (int64_t)count);
}

static int drain(struct agent *a)
{
	int err;

	a->drains++;
	err = sampler__drain(a->sampler, on_sample, a);

	if (err)
		pr_warn("cannot aggregate samples: %s", strerror(-err));
	return err;
}

struct top_entry {
	uint64_t function_id;
	int64_t self;
};

static int top_cmp(const void *x, const void *y)
{
	const struct top_entry *a = x, *b = y;

	return (a->self < b->self) - (a->self > b->self);
}

/* Prints the @n functions with the most self samples (the leaf's innermost line). */
static void print_top(const struct profile *p, unsigned int n)
{
	size_t nsamples, nlocs, nfns, nstr;
	const struct prof_sample *samples = profile__samples(p, &nsamples);
	const struct prof_location *locs = profile__locations(p, &nlocs);
	const struct prof_function *fns = profile__functions(p, &nfns);
	const char *const *strings = profile__strings(p, &nstr);
	struct top_entry *t = calloc(nfns + 1, sizeof(*t));
	int64_t total = profile__total(p), unnamed = 0;

	if (!t || total <= 0) {
		free(t);
		return;
	}
	for (size_t i = 0; i <= nfns; i++)
		t[i].function_id = i;
	for (size_t i = 0; i < nsamples; i++) {
		const struct prof_location *leaf;

		if (!samples[i].nlocs)
			continue;
		leaf = &locs[samples[i].loc_ids[0] - 1];
		if (leaf->nlines)
			t[leaf->lines[0].function_id].self += samples[i].count;
		else
			unnamed += samples[i].count;
	}
	qsort(t + 1, nfns, sizeof(*t), top_cmp);
	printf("%8s %6s  %s\n", "samples", "self%", "function");
	for (size_t i = 1; i <= nfns && i <= n && t[i].self > 0; i++)
		printf("%8" PRId64 " %5.1f%%  %s\n", t[i].self, 100.0 * t[i].self / total,
		       strings[fns[t[i].function_id - 1].name]);
	if (unnamed)
		printf("%8" PRId64 " %5.1f%%  (unnamed frames)\n", unnamed,
		       100.0 * unnamed / total);
	free(t);
}

/* Encodes the profile for OTLP and queues it; the exporter thread sends it. */
static void export_otlp(struct agent *a)
{
	const struct run_opts *o = a->opts;
	uint8_t id[16], *buf = NULL;
	struct otlp_encode_opts eo = {
		.host_name = a->host_name,
		.node_name = getenv("K8S_NODE_NAME") && *getenv("K8S_NODE_NAME")
				     ? getenv("K8S_NODE_NAME")
				     : NULL,
		.service_name = o->service_name,
		.resource = o->resource_attrs,
		.nresource = o->nresource_attrs,
		.scope_version = EMBERPROF_VERSION,
		.profile_id = id,
	};
	size_t len = 0;
	int err;

	if (getrandom(id, sizeof(id), 0) != sizeof(id))
		eo.profile_id = NULL;
	err = otlp__encode(a->profile, &eo, &buf, &len);
	if (err) {
		pr_warn("cannot encode the OTLP profile: %s", strerror(-err));
		return;
	}
	otlp_exporter__send(a->exporter, buf, len);
}

static int write_outputs(struct agent *a, uint64_t end_wall)
{
	const struct run_opts *o = a->opts;
	uint64_t start_s = profile__start(a->profile) / 1000000000ull;
	char path[4096];
	int err = 0, e;

	profile__set_duration(a->profile, end_wall - profile__start(a->profile));
	if (o->output) {
		e = export_path_expand(o->output, start_s, a->seq, path, sizeof(path));
		if (!e)
			e = pprof__write(a->profile, path);
		if (e) {
			pr_warn("cannot write %s: %s", path, strerror(-e));
			err = e;
		} else {
			pr_info("wrote %s (%" PRId64 " samples)", path, profile__total(a->profile));
		}
	}
	if (o->folded) {
		e = export_path_expand(o->folded, start_s, a->seq, path, sizeof(path));
		if (!e)
			e = folded__write(a->profile, path, o->folded_span);
		if (e) {
			pr_warn("cannot write %s: %s", path, strerror(-e));
			err = e;
		}
	}
	if (a->exporter)
		export_otlp(a);
	if (o->flamegraph) {
		uint8_t *buf = NULL;
		size_t len = 0;

		e = export_path_expand(o->flamegraph, start_s, a->seq, path, sizeof(path));
		if (!e)
			e = pprof__encode(a->profile, &buf, &len);
		if (!e)
			e = flamegraph__write(buf, len, "emberprof", path);
		free(buf);
		if (e) {
			pr_warn("cannot write %s: %s", path, strerror(-e));
			err = e;
		}
	}
	if (o->on_profile) {
		uint64_t m[EMBER_M_NR] = {0};
		struct run_status st = {0};

		sampler__metrics(a->sampler, m);
		st.samples = m[EMBER_M_SAMPLES];
		st.lost = m[EMBER_M_KSTACK_LOST] + m[EMBER_M_USTACK_LOST] +
			  m[EMBER_M_USTACK_FAULT] + m[EMBER_M_COUNTS_FULL];
		st.processes = proc_table__count(a->procs);
		st.seconds = profile__duration(a->profile) / 1e9;
		o->on_profile(a->profile, &st, o->on_profile_ctx);
	}
	if (err)
		a->write_failed = 1;
	a->seq++;
	return err;
}

static void log_status(struct agent *a)
{
	uint64_t m[EMBER_M_NR];
	struct symbolizer_stats st;
	unsigned long lookups;

	if (log_get_level() < EMBER_LOG_INFO || sampler__metrics(a->sampler, m))
		return;
	symbolizer__stats(a->sym, &st);
	lookups = st.cache_hits + st.cache_misses;
	pr_info("samples %" PRIu64 " (profile %" PRId64 "), lost: kstack %" PRIu64
		" ustack %" PRIu64 " ufault %" PRIu64 " counts %" PRIu64 ", events lost %" PRIu64
		", processes %zu",
		m[EMBER_M_SAMPLES], profile__total(a->profile), m[EMBER_M_KSTACK_LOST],
		m[EMBER_M_USTACK_LOST], m[EMBER_M_USTACK_FAULT], m[EMBER_M_COUNTS_FULL],
		m[EMBER_M_EVENTS_LOST], proc_table__count(a->procs));
	pr_info("symbolizer: modules %lu (opened %lu, reused %lu, failed %lu, with DWARF %lu); "
		"address cache %lu entries, %zu KiB, hit rate %.1f%%; kernel symbols %lu",
		st.modules_open, st.module_opens, st.module_hits, st.module_failures,
		st.dwarf_files, st.cache_entries, st.cache_bytes / 1024,
		lookups ? 100.0 * st.cache_hits / lookups : 0.0, st.kernel_symbols);
	pr_info("trace links: links %" PRIu64 ", link read faults %" PRIu64
		", invalid records %" PRIu64 ", links merged %" PRIu64
		"; process contexts %lu (bad headers %lu, bad payloads %lu, unknown schemas %lu, "
		"torn reads %lu); thread contexts %lu (unsupported %lu)",
		m[EMBER_M_LINKS], m[EMBER_M_LINK_READ_FAULT], m[EMBER_M_LINK_INVALID],
		m[EMBER_M_LINKS_MERGED], a->ctx_stats.contexts, a->ctx_stats.bad_headers,
		a->ctx_stats.bad_payloads, a->ctx_stats.unknown_schemas, a->ctx_stats.torn_reads,
		a->ctx_stats.tls_found, a->ctx_stats.tls_unsupported);
	if (a->unwinder) {
		struct unwinder_stats us;

		unwinder__stats(a->unwinder, &us);
		pr_info("unwind: %zu tables, %zu/%zu rows (%.1f MiB), %zu mappings in %zu "
			"prefixes, "
			"%zu files without tables, %zu left out (no room in the rows array), built "
			"in %.0f ms; "
			"BPF maps %.1f MiB; walks ended early: no table %" PRIu64
			", read fault %" PRIu64 ", depth %" PRIu64 ", bad CFA %" PRIu64
			", unsupported %" PRIu64 ", signal frame %" PRIu64,
			us.tables, us.rows_used, us.rows_max, us.rows_max * 16.0 / (1 << 20),
			us.mappings, us.trie_entries, us.no_table, us.table_full, us.build_ns / 1e6,
			sampler__map_bytes(a->sampler) / (1024.0 * 1024),
			m[EMBER_M_UNWIND_NO_TABLE], m[EMBER_M_UNWIND_READ_FAULT],
			m[EMBER_M_UNWIND_DEPTH_CUT], m[EMBER_M_UNWIND_BAD_CFA],
			m[EMBER_M_UNWIND_UNSUPPORTED], m[EMBER_M_UNWIND_SIGNAL]);
	}
}

static uint64_t rss_bytes(void)
{
	unsigned long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (f) {
		if (fscanf(f, "%lu %lu", &pages, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

struct text {
	char *buf;
	size_t len, cap;
};

__attribute__((format(printf, 2, 3))) static void tprintf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (t->len + (size_t)n < t->cap) {
			t->len += (size_t)n;
			return;
		}
		char *b = realloc(t->buf, t->cap * 2 + (size_t)n);
		if (!b)
			return;
		t->buf = b;
		t->cap = t->cap * 2 + (size_t)n;
	}
}

/* The /metrics page: Prometheus text format. */
static void publish_metrics(struct agent *a)
{
	static const enum ember_metric lost[] = {EMBER_M_KSTACK_LOST, EMBER_M_USTACK_LOST,
						 EMBER_M_USTACK_FAULT, EMBER_M_COUNTS_FULL};
	struct text t = {malloc(8192), 0, 8192};
	struct symbolizer_stats st;
	uint64_t m[EMBER_M_NR] = {0};

	if (!a->status || !t.buf)
		goto out;
	sampler__metrics(a->sampler, m);
	symbolizer__stats(a->sym, &st);
	tprintf(&t,
		"# HELP emberprof_samples_total Samples taken on CPU.\n"
		"# TYPE emberprof_samples_total counter\nemberprof_samples_total %" PRIu64 "\n",
		m[EMBER_M_SAMPLES]);
	tprintf(&t, "# HELP emberprof_samples_lost_total Samples lost or degraded, by reason.\n"
		    "# TYPE emberprof_samples_lost_total counter\n");
	for (size_t i = 0; i < sizeof(lost) / sizeof(lost[0]); i++)
		tprintf(&t, "emberprof_samples_lost_total{reason=\"%s\"} %" PRIu64 "\n",
			sampler_metric_name(lost[i]), m[lost[i]]);
	tprintf(&t, "# TYPE emberprof_bpf_events_total counter\n");
	for (int i = 0; i < EMBER_M_NR; i++)
		tprintf(&t, "emberprof_bpf_events_total{event=\"%s\"} %" PRIu64 "\n",
			sampler_metric_name((enum ember_metric)i), m[i]);
	tprintf(&t, "# TYPE emberprof_processes gauge\nemberprof_processes %zu\n",
		proc_table__count(a->procs));
	tprintf(&t,
		"# TYPE emberprof_symbolizer_cache_hits_total counter\n"
		"emberprof_symbolizer_cache_hits_total %lu\n"
		"# TYPE emberprof_symbolizer_cache_misses_total counter\n"
		"emberprof_symbolizer_cache_misses_total %lu\n"
		"# TYPE emberprof_symbolizer_cache_bytes gauge\n"
		"emberprof_symbolizer_cache_bytes %zu\n"
		"# TYPE emberprof_symbolizer_modules gauge\nemberprof_symbolizer_modules %lu\n",
		st.cache_hits, st.cache_misses, st.cache_bytes, st.modules_open);
	if (a->exporter) {
		struct otlp_exporter_stats es;

		otlp_exporter__stats(a->exporter, &es);
		tprintf(&t,
			"# TYPE emberprof_export_sent_total counter\nemberprof_export_sent_total "
			"%" PRIu64 "\n# TYPE emberprof_export_failures_total counter\n"
			"emberprof_export_failures_total %" PRIu64
			"\n# TYPE emberprof_export_retries_total counter\n"
			"emberprof_export_retries_total %" PRIu64
			"\n# TYPE emberprof_export_dropped_total counter\n"
			"emberprof_export_dropped_total %" PRIu64
			"\n# TYPE emberprof_export_queue_bytes gauge\nemberprof_export_queue_bytes "
			"%zu\n"
			"# TYPE emberprof_export_queue_profiles gauge\n"
			"emberprof_export_queue_profiles %zu\n",
			es.sent, es.failed, es.retries, es.dropped_queue_full + es.dropped_at_stop,
			es.queued_bytes, es.queued);
	}
	tprintf(&t, "# TYPE emberprof_bpf_map_bytes gauge\nemberprof_bpf_map_bytes %" PRIu64 "\n",
		sampler__map_bytes(a->sampler));
	if (a->unwinder) {
		struct unwinder_stats us;

		unwinder__stats(a->unwinder, &us);
		tprintf(&t,
			"# TYPE emberprof_unwind_rows_used gauge\nemberprof_unwind_rows_used %zu\n"
			"# TYPE emberprof_unwind_rows_capacity gauge\n"
			"emberprof_unwind_rows_capacity %zu\n",
			us.rows_used, us.rows_max);
	}
	tprintf(&t,
		"# TYPE emberprof_resident_memory_bytes gauge\nemberprof_resident_memory_bytes "
		"%" PRIu64 "\n",
		rss_bytes());
	status_server__publish(a->status, t.buf);
out:
	free(t.buf);
}

/* -v: one line each interval. */
static void log_interval(struct agent *a)
{
	uint64_t m[EMBER_M_NR] = {0};
	struct symbolizer_stats st;
	unsigned long lookups;

	if (log_get_level() < EMBER_LOG_INFO)
		return;
	sampler__metrics(a->sampler, m);
	symbolizer__stats(a->sym, &st);
	lookups = st.cache_hits + st.cache_misses;
	pr_info("status: %" PRIu64 " samples (%" PRId64 " in this profile), %" PRIu64
		" lost, %zu processes, %" PRIu64 " with a trace link, symbol cache hit %.0f%%, "
		"rss %.1f MiB",
		m[EMBER_M_SAMPLES], profile__total(a->profile),
		m[EMBER_M_KSTACK_LOST] + m[EMBER_M_USTACK_LOST] + m[EMBER_M_USTACK_FAULT] +
			m[EMBER_M_COUNTS_FULL],
		proc_table__count(a->procs), m[EMBER_M_LINKS],
		lookups ? 100.0 * st.cache_hits / lookups : 0.0, rss_bytes() / 1048576.0);
}

static void print_summary(struct agent *a)
{
	const struct run_opts *o = a->opts;
	uint64_t m[EMBER_M_NR] = {0};
	uint64_t lost;
	char line[1024];
	int len;

	sampler__metrics(a->sampler, m);
	lost = m[EMBER_M_KSTACK_LOST] + m[EMBER_M_USTACK_LOST] + m[EMBER_M_USTACK_FAULT] +
	       m[EMBER_M_COUNTS_FULL];
	len = snprintf(line, sizeof(line),
		       "%" PRIu64 " samples on %s, %" PRIu64
		       " lost (stack map full: kernel %" PRIu64 ", user %" PRIu64
		       "; user stack unreadable %" PRIu64 "; count map full %" PRIu64
		       "), %zu processes",
		       m[EMBER_M_SAMPLES], sampler__event_name(a->sampler), lost,
		       m[EMBER_M_KSTACK_LOST], m[EMBER_M_USTACK_LOST], m[EMBER_M_USTACK_FAULT],
		       m[EMBER_M_COUNTS_FULL], htab__count(a->seen_pids));
	if (o->output && len > 0 && (size_t)len < sizeof(line))
		len += snprintf(line + len, sizeof(line) - len, "; pprof %s", o->output);
	if (o->folded && len > 0 && (size_t)len < sizeof(line))
		snprintf(line + len, sizeof(line) - len, "; folded %s", o->folded);
	pr_warn("%s", line);
}

static void on_map_added(void *ctx, uint32_t pid, const struct proc_mapping *m)
{
	unwinder__map_added(ctx, pid, m);
}

static void on_map_removed(void *ctx, uint32_t pid, const struct proc_mapping *m)
{
	unwinder__map_removed(ctx, pid, m);
}

static int start_unwinder(struct agent *a)
{
	int rows_fd, trie_fd;

	sampler__unwind_fds(a->sampler, &rows_fd, &trie_fd);
	a->unwinder = unwinder__new(a->sym, rows_fd, a->opts->unwind_rows, trie_fd);
	if (!a->unwinder) {
		pr_warn("cannot map the unwind tables: %s", strerror(errno));
		return -1;
	}
	proc_table__set_hooks(a->procs, on_map_added, on_map_removed, a->unwinder);
	return 0;
}

/* Every process now running, so their first samples already have tables. */
static void load_all_processes(struct agent *a)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	uint64_t t0 = now_ns(CLOCK_MONOTONIC);
	unsigned long n = 0;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char *end;
		unsigned long pid = strtoul(e->d_name, &end, 10);

		if (*end || !pid || pid == (unsigned long)getpid())
			continue;
		if (proc_table__load(a->procs, (uint32_t)pid) == 0)
			n++;
	}
	closedir(d);
	pr_info("read %lu processes in %.0f ms", n, (now_ns(CLOCK_MONOTONIC) - t0) / 1e6);
	/* Building tables for every file churned the heap: give the free pages back. */
	malloc_trim(0);
}

int run(const struct run_opts *opts)
{
	struct sampler_opts so = {
		.frequency = opts->frequency,
		.pids = opts->pids,
		.npids = opts->npids,
		.max_counts = opts->max_counts,
		.max_stacks = opts->max_stacks,
		.btf_path = opts->btf_path,
		.dwarf_unwind = opts->dwarf_unwind,
		.unwind_rows = opts->unwind_rows,
		.unwind_maps = opts->unwind_maps,
		.max_links = opts->max_links,
		.obi_map_path = "/sys/fs/bpf/otel/traces_ctx_v1",
		.cgroup_fd = opts->cgroup_fd,
	};
	struct agent a = {.opts = opts};
	uint64_t start, next_drain, next_interval = 0, deadline = 0;
	int rc = 1, err;

	a.sym = symbolizer__new(&(struct symbolizer_opts){
		.debug_dirs = opts->debug_dirs,
		.cache_bytes = opts->symbol_cache_bytes,
		.idle_modules = opts->idle_modules,
	});
	a.seen_pids = htab__new();
	a.contexts = htab__new();
	a.procs = a.sym ? proc_table__new(a.sym, "/proc") : NULL;
	a.profile = profile__new(1000000000ull / opts->frequency, now_ns(CLOCK_REALTIME));
	if (!a.sym || !a.procs || !a.profile || !a.seen_pids || !a.contexts) {
		pr_warn("out of memory");
		goto out;
	}
	gethostname(a.host_name, sizeof(a.host_name) - 1);
	if (opts->otlp) {
		a.exporter = otlp_exporter__new(opts->otlp);
		if (!a.exporter) {
			pr_warn("cannot start the OTLP exporter: %s", strerror(errno));
			goto out;
		}
	}
	a.sampler = sampler__new(&so, on_event, &a);
	if (!a.sampler)
		goto out;
	if (opts->dwarf_unwind && start_unwinder(&a))
		goto out;
	proc_table__set_proc_hooks(a.procs, on_proc_loaded, on_proc_gone, &a);
	/*
	 * Read the processes to profile now rather than at their first sample:
	 * with DWARF unwinding, a process's first samples would otherwise be
	 * walked without tables.
	 */
	if (opts->npids)
		for (size_t i = 0; i < opts->npids; i++)
			proc_table__load(a.procs, opts->pids[i]);
	else if (opts->dwarf_unwind)
		load_all_processes(&a);
	/* Tables and contexts are in place: now the samples may come. */
	if (sampler__start(a.sampler))
		goto out;
	/* Loaded and attached: from here on only reading processes needs privilege. */
	err = privilege_drop();
	if (err)
		pr_warn("cannot drop capabilities: %s", strerror(-err));
	if (opts->status_addr) {
		a.status = status_server__start(opts->status_addr);
		if (!a.status)
			goto out;
		publish_metrics(&a);
	}
	pr_info("sampling %s at %u Hz on every CPU%s", sampler__event_name(a.sampler),
		opts->frequency, opts->npids ? " (selected processes)" : "");

	start = now_ns(CLOCK_MONOTONIC);
	next_drain = start + 1000000000ull;
	if (opts->interval > 0)
		next_interval = start + (uint64_t)(opts->interval * 1e9);
	if (opts->duration > 0)
		deadline = start + (uint64_t)(opts->duration * 1e9);

	while (!stop_requested) {
		uint64_t now = now_ns(CLOCK_MONOTONIC), wake = next_drain;

		if (next_interval && next_interval < wake)
			wake = next_interval;
		if (deadline && deadline < wake)
			wake = deadline;
		if (wake > now) {
			err = sampler__poll(a.sampler, (int)((wake - now + 999999) / 1000000));
			if (err && err != -EINTR) {
				pr_warn("cannot poll process events: %s", strerror(-err));
				goto out;
			}
			continue;
		}
		if (deadline && now >= deadline)
			break;
		if (drain(&a))
			goto out;
		/* Every sample so far is symbolized: exited processes can go. */
		proc_table__end_interval(a.procs);
		publish_metrics(&a);
		if (reopen_requested) {
			reopen_requested = 0;
			pr_info("SIGHUP: outputs are opened by path at every write; nothing to "
				"reopen");
		}
		next_drain = now + 1000000000ull;
		if (next_interval && now >= next_interval) {
			write_outputs(&a, now_ns(CLOCK_REALTIME));
			log_interval(&a);
			profile__free(a.profile);
			symbolizer__refresh_kernel(a.sym);
			a.profile = profile__new(1000000000ull / opts->frequency,
						 now_ns(CLOCK_REALTIME));
			if (!a.profile) {
				pr_warn("out of memory");
				goto out;
			}
			next_interval += (uint64_t)(opts->interval * 1e9);
		}
	}
	/* Stopped by the deadline or a signal: flush what the kernel holds. */
	sampler__poll(a.sampler, 0);
	if (drain(&a))
		goto out;
	if (write_outputs(&a, now_ns(CLOCK_REALTIME)) == 0)
		rc = 0;
	log_status(&a);
	if (opts->top)
		print_top(a.profile, opts->top);
	print_summary(&a);
out:
	status_server__stop(a.status);
	/* Sends what is queued, within the flush deadline, before anything else goes. */
	if (a.exporter) {
		struct otlp_exporter_stats es = {0};

		otlp_exporter__stop(a.exporter, &es);
		pr_info("OTLP: %" PRIu64 " sent, %" PRIu64 " failed, %" PRIu64 " retries, %" PRIu64
			" dropped (queue full), %" PRIu64 " dropped at the flush deadline",
			es.sent, es.failed, es.retries, es.dropped_queue_full, es.dropped_at_stop);
	}
	profile__free(a.profile);
	/* The process table first: dropping its mappings updates the unwinder. */
	proc_table__free(a.procs);
	unwinder__free(a.unwinder);
	sampler__free(a.sampler);
	symbolizer__free(a.sym);
	htab__free(a.seen_pids);
	htab__free(a.contexts);
	return rc;
}
