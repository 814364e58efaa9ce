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

#include "lib/array.h"
#include "lib/htab.h"
#include "lib/log.h"
#include "lib/path.h"
#include "lib/strbuf.h"
#include "symbolizer/symbolizer.h"
#include "profile/flamegraph.h"
#include "profile/folded.h"
#include "profile/otlp.h"
#include "profile/pprof.h"
#include "profile/profile.h"
#include "profile/rank.h"
#include "agent/cgroup.h"
#include "agent/heap.h"
#include "agent/memory.h"
#include "agent/otelctx.h"
#include "agent/otlp_http.h"
#include "agent/privilege.h"
#include "agent/proc.h"
#include "agent/python.h"
#include "agent/report.h"
#include "agent/run.h"
#include "agent/sampler.h"
#include "agent/status.h"
#include "agent/unwind.h"

static volatile sig_atomic_t stop_requested, reopen_requested;

/* How long the loop builds unwind-table chunks before it looks at events again. */
#define BUILD_SLICE_NS (20 * 1000000ull)

void run_request_stop(void)
{
	stop_requested = 1;
}

void run_request_reopen(void)
{
	reopen_requested = 1;
}

/*
 * A sample held back from a drain. The drain callback only aggregates and
 * symbolizes: reading /proc, and what the process table's hooks do then
 * (BPF map writes for the unwinder and the thread context, reads of the
 * process's memory for its OTel context), would otherwise run in the middle
 * of one drain. A sample whose process the table does not hold yet, or
 * with a user address in no known mapping (a library dlopen'ed since the
 * maps were read), waits: after the drain the processes are read and the
 * held samples aggregated, named as if nothing had waited.
 */
struct held {
	struct ember_key key;
	enum sample_kind kind;
	uint64_t count;
	uint32_t nk, nu;
	int has_link;
	struct ember_link link;
	uint64_t *ips; /* nk kernel addresses, then nu user ones */
};

/*
 * Held samples in one drain at most: each holds up to 4 KiB of addresses.
 * Past it a sample's process is read at once, as before the queue existed.
 */
#define EMBER_MAX_HELD 4096

/* A process exec'ed (--alloc), and when (CLOCK_MONOTONIC). */
struct exec_seen {
	uint32_t pid;
	uint64_t at_ns;
};

struct agent {
	const struct run_opts *opts;
	struct sampler *sampler;
	struct symbolizer *sym;
	struct proc_table *procs;
	struct profile *profile;
	struct htab *seen_pids; /* every process sampled during the run */
	struct unwinder *unwinder;
	struct otlp_exporter *exporter;
	struct ctx_cache *contexts; /* the OTel contexts processes publish */
	struct python *python;	    /* CPython processes; NULL with --no-python */
	struct status_server *status;
	struct mem_budget budget;
	uint64_t filtered; /* samples left out by --container-id */
	char host_name[256];
	uint64_t frames_unnamed;
	uint64_t stopped;      /* samples whose user stack ends in an [unwind stopped] frame */
	uint64_t unattributed; /* samples with neither stack, left out */
	unsigned long seq;
	uint64_t last_start_s;	 /* the previous interval's start, unix seconds */
	uint64_t drained_wall;	 /* the profile's start: sampling's, then each drain's close */
	uint64_t write_failures; /* intervals in which an output could not be written */
	struct held *held;	 /* samples held back from this drain (see struct held) */
	size_t nheld, held_cap;
	int replaying;		      /* aggregating the held samples: hold nothing back */
	struct heap *heap;	      /* --alloc: the processes with probes, live stacks */
	struct profile *heap_profile; /* --alloc: this interval's memory profile */
	struct exec_seen *execs;      /* --alloc: processes exec'ed, not read since */
	size_t nexecs, execs_cap;
};

static uint64_t now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The symbolizer is about to open a DWARF session: room for it first, or lean. */
static int make_room(void *ctx, uint64_t want)
{
	struct agent *a = ctx;

	return mem_budget__make_room(&a->budget, a->sym, want, now_ns(CLOCK_MONOTONIC));
}

/* A file's unwind table is about to be built: room for what libdw will parse. */
static int unwind_room(void *ctx, uint64_t want)
{
	struct agent *a = ctx;

	mem_budget__reserve(&a->budget, a->sym, want, now_ns(CLOCK_MONOTONIC));
	return 0;
}

/* Every few hundred DWARF lookups within a drain: still within the budget? */
static void check_budget(void *ctx)
{
	struct agent *a = ctx;

	mem_budget__check(&a->budget, a->sym, now_ns(CLOCK_MONOTONIC));
}

static void on_event(const struct ember_event *ev, void *ctx)
{
	struct agent *a = ctx;
	int err;

	switch (ev->type) {
	case EMBER_EV_NEW_PROC:
	case EMBER_EV_REMAP:
		/* A re-read that finds nothing new keeps the set it has (proc_table__load). */
		err = proc_table__load(a->procs, ev->tgid);
		if (err)
			pr_debug("pid %u (%.16s): cannot read mappings: %s", ev->tgid, ev->comm,
				 strerror(-err));
		break;
	case EMBER_EV_EXEC:
		/* The old image's mappings stay in history until the interval ends. */
		if (a->heap && !EMBER_RESERVE(a->execs, a->execs_cap, a->nexecs + 1))
			a->execs[a->nexecs++] =
				(struct exec_seen){ev->tgid, now_ns(CLOCK_MONOTONIC)};
		break;
	case EMBER_EV_EXIT:
		proc_table__exited(a->procs, ev->tgid);
		if (a->python)
			python__exited(a->python, ev->tgid);
		break;
	case EMBER_EV_NEED_CHUNK:
		if (a->unwinder)
			unwinder__request(a->unwinder, ev->slot);
		break;
	}
}

/*
 * Builds the location of one frame. @ret: the address is a return address
 * (every frame but the leaf), so the call instruction is the byte before it;
 * using addr - 1 names the caller's line, not the line after the call, and
 * keeps a call at the very end of a function inside that function.
 * @m: the user frame's mapping (NULL: none known); @kernel: a kernel frame.
 */
static uint64_t frame_location(struct agent *a, struct profile *prof, struct proc *p,
			       const struct proc_mapping *m, uint64_t addr, int ret, int kernel)
{
	struct prof_frame f = {0};
	struct sym_result res = {0};
	uint64_t pc = ret ? addr - 1 : addr, id;
	int named;

	f.address = pc;
	if (kernel) {
		f.map_file = "[kernel.kallsyms]";
		f.map_start = 0xffff800000000000ull;
		f.map_limit = ~0ull;
		f.kernel = 1;
	} else if (m) {
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
	id = profile__find_location(prof, &f, &named);
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
	return profile__location(prof, &f);
}

/*
 * The location of Python frame @word (see emberprof.h) of process @pid. All
 * of a process's Python frames sit in one mapping, "[python]", whose
 * offset is the pid, so that code objects of two processes at one address
 * stay apart.
 */
static uint64_t python_location(struct agent *a, struct profile *prof, uint32_t pid, uint64_t word)
{
	struct prof_frame f = {
		.address = word,
		.map_file = PROF_PYTHON_MAPPING,
		.map_start = EMBER_PY_TAG,
		.map_limit = EMBER_PY_TAG | ((1ull << 60) - 1),
		.map_offset = pid,
	};
	struct sym_result res = {0};
	uint64_t id;
	int named;

	id = profile__find_location(prof, &f, &named);
	if (id) {
		a->frames_unnamed += !named;
		return id;
	}
	if (!a->python || python__symbolize(a->python, pid, word, &res))
		a->frames_unnamed++;
	f.sym = &res;
	return profile__location(prof, &f);
}

/* The location of a stopped walk's marker: no mapping, the reason as its function. */
static uint64_t stop_location(struct profile *prof, uint64_t marker)
{
	struct prof_frame f = {.address = marker};
	struct sym_result res = {.nlines = 1};
	uint64_t id;
	int named;

	id = profile__find_location(prof, &f, &named);
	if (id)
		return id;
	res.lines[0].function = ember_stop_frame(marker);
	f.sym = &res;
	return profile__location(prof, &f);
}

/* The on_proc_loaded/gone hooks: the context cache reads, BPF learns the TLS offset. */
static void on_proc_loaded(void *ctx, uint32_t pid, struct proc *p)
{
	struct agent *a = ctx;
	const struct proc_mapping *maps;
	struct ember_py_proc py;
	size_t n;
	int err;

	maps = proc__mappings(p, &n);
	ctx_cache__loaded(a->contexts, pid, maps, n, proc__exe_path(p));
	if (a->heap)
		heap__proc_loaded(a->heap, pid, maps, n);
	if (!a->python)
		return;
	/* Re-read after exec too: the process may run another interpreter, or none. */
	if (python__find(a->python, pid, proc__exe_path(p), maps, n, &py) == 1) {
		err = sampler__set_python(a->sampler, pid, &py);
		if (err)
			pr_warn("pid %u: cannot hand CPython's layout to BPF: %s", pid,
				strerror(-err));
	} else {
		sampler__clear_python(a->sampler, pid);
	}
}

static void on_proc_gone(void *ctx, uint32_t pid, struct proc *p)
{
	struct agent *a = ctx;

	(void)p;
	ctx_cache__gone(a->contexts, pid);
	if (a->heap)
		heap__proc_gone(a->heap, pid);
	if (a->python) {
		python__forget(a->python, pid);
		sampler__clear_python(a->sampler, pid);
	}
}

static void set_tls(void *ctx, uint32_t pid, int64_t offset)
{
	struct agent *a = ctx;

	sampler__set_tls(a->sampler, pid, offset);
}

static void clear_tls(void *ctx, uint32_t pid)
{
	struct agent *a = ctx;

	sampler__clear_tls(a->sampler, pid);
}

/* The link of a sample, with its attributes named from the process's key map. */
static uint32_t link_id(struct agent *a, uint32_t pid, const struct ember_link *l)
{
	struct ctx_link_attrs la;
	size_t n = ctx_cache__link_attrs(a->contexts, pid, l, &la);

	return profile__link(a->profile, l->trace_id, l->span_id, la.kv, n);
}

/*
 * The mapping of each user frame of @uips into @um (NULL: none, a stopped
 * walk's marker, or a Python frame). Returns how many frames that are code lie in no
 * known mapping.
 */
static uint32_t user_mappings(const struct proc *p, const uint64_t *uips, uint32_t nu,
			      const struct proc_mapping **um)
{
	uint32_t unmapped = 0;

	for (uint32_t i = 0; i < nu; i++) {
		/* A caller's address is a return address: the call is the byte before. */
		uint64_t pc = i ? uips[i] - 1 : uips[i];

		int code = uips[i] < EMBER_STOP_IP_BASE && !EMBER_PY_IS_FRAME(uips[i]);

		um[i] = p && code ? proc__mapping_at(p, pc) : NULL;
		unmapped += !um[i] && code;
	}
	return unmapped;
}

/* Whether @p must be read (or re-read) before a sample with @unmapped such frames is named. */
static int needs_read(const struct proc *p, uint32_t unmapped)
{
	return !p || (unmapped && proc__can_rescan(p));
}

/* Reads @pid (@p: what the table holds of it, or NULL) and returns it, or NULL. */
static struct proc *read_now(struct agent *a, uint32_t pid, struct proc *p)
{
	if (!p)
		return proc_table__get(a->procs, pid);
	proc_table__rescan(a->procs, p);
	return p;
}

static int hold(struct agent *a, const struct ember_key *key, enum sample_kind kind, uint64_t count,
		const uint64_t *kips, uint32_t nk, const uint64_t *uips, uint32_t nu,
		const struct ember_link *link)
{
	struct held *h;

	if (EMBER_RESERVE(a->held, a->held_cap, a->nheld + 1))
		return -ENOMEM;
	h = &a->held[a->nheld];
	memset(h, 0, sizeof(*h));
	h->ips = malloc(((size_t)nk + nu) * sizeof(*h->ips) + 1);
	if (!h->ips)
		return -ENOMEM;
	memcpy(h->ips, kips, nk * sizeof(*kips));
	memcpy(h->ips + nk, uips, nu * sizeof(*uips));
	h->key = *key;
	h->kind = kind;
	h->count = count;
	h->nk = nk;
	h->nu = nu;
	if (link) {
		h->has_link = 1;
		h->link = *link;
	}
	a->nheld++;
	return 0;
}

static int on_sample(const struct ember_key *key, enum sample_kind kind, uint64_t count,
		     const uint64_t *kips, uint32_t nk, const uint64_t *uips, uint32_t nu,
		     const struct ember_link *link, void *ctx);

/*
 * After a drain: reads the processes the held samples wait for (each once;
 * the table's hooks run now), then aggregates the samples.
 */
static int replay_held(struct agent *a)
{
	int err = 0;

	for (size_t i = 0; i < a->nheld; i++) {
		const struct proc_mapping *um[EMBER_MAX_STACK];
		struct held *h = &a->held[i];
		struct proc *p = proc_table__lookup(a->procs, h->key.tgid);

		if (needs_read(p, p ? user_mappings(p, h->ips + h->nk, h->nu, um) : 0))
			read_now(a, h->key.tgid, p);
	}
	a->replaying = 1;
	for (size_t i = 0; i < a->nheld; i++) {
		struct held *h = &a->held[i];

		if (!err)
			err = on_sample(&h->key, h->kind, h->count, h->ips, h->nk, h->ips + h->nk,
					h->nu, h->has_link ? &h->link : NULL, a);
		free(h->ips);
	}
	a->replaying = 0;
	a->nheld = 0;
	return err;
}

/*
 * Whether kernel address @ip is the tracing machinery's own: the switch
 * program's code and the tracepoint's call into it (bpf_trace_run4, or
 * __bpf_trace_* / __traceiter_* on other kernels), which top an off-CPU
 * kernel stack above __schedule. Their number differs between kernels, so
 * they are found by name rather than skipped by count in BPF.
 */
static int tracing_frame(struct agent *a, uint64_t ip)
{
	struct sym_result res;
	const char *name;

	if (symbolizer__lookup_kernel(a->sym, ip, &res) || !res.nlines)
		return 0;
	name = res.lines[res.nlines - 1].function;
	return name &&
	       (strncmp(name, "bpf_prog_", 9) == 0 || strncmp(name, "bpf_trace_run", 13) == 0 ||
		strncmp(name, "__bpf_trace_", 12) == 0 || strncmp(name, "__traceiter_", 12) == 0);
}

/* The location of user frame @ip of @pid (in mapping @m; NULL: none): code, Python or a stop. */
static uint64_t user_location(struct agent *a, struct profile *prof, struct proc *p, uint32_t pid,
			      const struct proc_mapping *m, uint64_t ip, int ret)
{
	if (ip >= EMBER_STOP_IP_BASE)
		return stop_location(prof, ip);
	if (EMBER_PY_IS_FRAME(ip))
		return python_location(a, prof, pid, ip);
	return frame_location(a, prof, p, m, ip, ret, 0);
}

/* Whether --container-id leaves @p out (a process not known is left out too). */
static int container_filtered(const struct agent *a, struct proc *p)
{
	const char *want = a->opts->container_prefix;

	return want && (!p || strncmp(proc__container(p)->id, want, strlen(want)) != 0);
}

/* Records @pid's identity (@p: what the table holds, or NULL) in @prof. Returns 0 or -ENOMEM. */
static int record_process(struct agent *a, struct profile *prof, uint32_t pid, struct proc *p,
			  const char *pname)
{
	const struct otel_ctx *c = ctx_cache__get(a->contexts, pid);
	struct prof_process_info info = {.name = pname, .exe = p ? proc__exe_path(p) : ""};

	if (p) {
		info.container_id = proc__container(p)->id;
		info.pod_uid = proc__container(p)->pod_uid;
		info.qos = proc__container(p)->qos;
	}
	if (c && c->found) {
		info.resource = c->resource;
		info.nresource = c->nresource;
	}
	if (!htab__get(a->seen_pids, &pid, sizeof(pid), 1, 0, NULL) ||
	    profile__set_process(prof, pid, &info))
		return -ENOMEM;
	return 0;
}

/*
 * One drained count: @count CPU samples, or @count nanoseconds blocked. The
 * loop's own counters (filtered, stopped, unattributed) count CPU samples
 * only; what happens to blocked time BPF counts.
 */
static int on_sample(const struct ember_key *key, enum sample_kind kind, uint64_t count,
		     const uint64_t *kips, uint32_t nk, const uint64_t *uips, uint32_t nu,
		     const struct ember_link *link, void *ctx)
{
	struct agent *a = ctx;
	uint64_t locs[2 * EMBER_MAX_STACK];
	const struct proc_mapping *um[EMBER_MAX_STACK];
	struct proc *p = proc_table__lookup(a->procs, key->tgid);
	char comm[EMBER_COMM_LEN + 1];
	const char *pname;
	uint32_t n = 0, lid = 0, unmapped;

	while (kind == SAMPLE_OFF_CPU && nk > 1 && tracing_frame(a, kips[0])) {
		kips++;
		nk--;
	}
	unmapped = user_mappings(p, uips, nu, um);
	if (!a->replaying && needs_read(p, unmapped)) {
		if (a->nheld < EMBER_MAX_HELD)
			return hold(a, key, kind, count, kips, nk, uips, nu, link);
		p = read_now(a, key->tgid, p);
		user_mappings(p, uips, nu, um);
	}
	/* --container-id: the BPF side cannot know container ids; filter here, before any
	 * symbolization. */
	if (container_filtered(a, p)) {
		if (kind == SAMPLE_CPU)
			a->filtered += count;
		return 0;
	}
	for (uint32_t i = 0; i < nk; i++) {
		locs[n] = frame_location(a, a->profile, p, NULL, kips[i], i > 0, 1);
		if (!locs[n])
			return -ENOMEM;
		n++;
	}
	for (uint32_t i = 0; i < nu; i++) {
		if (uips[i] >= EMBER_STOP_IP_BASE && kind == SAMPLE_CPU)
			a->stopped += count;
		locs[n] = user_location(a, a->profile, p, key->tgid, um[i], uips[i], i > 0);
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
		if (kind == SAMPLE_CPU)
			a->unattributed += count;
		return 0;
	}
	memcpy(comm, key->comm, EMBER_COMM_LEN);
	comm[EMBER_COMM_LEN] = '\0';
	pname = p && proc__name(p)[0] ? proc__name(p) : comm;
	if (link) {
		lid = link_id(a, key->tgid, link);
		if (!lid)
			return -ENOMEM;
	}
	if (record_process(a, a->profile, key->tgid, p, pname))
		return -ENOMEM;
	if (kind == SAMPLE_OFF_CPU)
		return profile__add_off_cpu(a->profile, locs, n, key->tgid, key->tid, comm, pname,
					    lid, (int64_t)count);
	return profile__add(a->profile, locs, n, key->tgid, key->tid, comm, pname, lid,
			    (int64_t)count);
}

/* --- memory (--alloc, --inuse) ------------------------------------------- */

/* Go's heap-profile names, which pprof -sample_index= users know. */
static const char *const heap_types[] = {"alloc_objects", "alloc_space", "inuse_objects",
					 "inuse_space"};
static const char *const heap_units[] = {"count", "bytes", "count", "bytes"};
#define HEAP_TYPES 4

/* The interval's memory profile: inuse_space shown first with --inuse, else alloc_space. */
static struct profile *new_heap_profile(const struct run_opts *o, uint64_t start_wall)
{
	struct profile *p = profile__new(0, start_wall);

	if (p &&
	    profile__set_sample_types(p, heap_types, heap_units, HEAP_TYPES, o->inuse ? 3 : 1)) {
		profile__free(p);
		return NULL;
	}
	return p;
}

/*
 * Adds a memory sample of @pid: @values per heap type, user stack @uips.
 * The stack starts in the sampler's own wrappers (malloc in libotelmem.so,
 * then the probe's caller inside it): the frames in the probe's file are
 * left out when that file is a library, so the leaf is the code that called
 * malloc, as in other heap profiles.
 */
static int heap_sample(struct agent *a, uint32_t pid, uint32_t tid, const char *comm,
		       const uint64_t *uips, uint32_t nu, const int64_t *values)
{
	uint64_t locs[EMBER_MAX_STACK];
	const struct proc_mapping *um[EMBER_MAX_STACK];
	struct proc *p = proc_table__lookup(a->procs, pid);
	const char *pname;
	uint32_t first = 0, n = 0;

	if (needs_read(p, user_mappings(p, uips, nu, um))) {
		p = read_now(a, pid, p);
		user_mappings(p, uips, nu, um);
	}
	if (container_filtered(a, p))
		return 0;
	if (nu && um[0] && p && strcmp(um[0]->path, proc__exe_path(p)) != 0)
		while (first + 1 < nu && um[first] && um[first]->dev == um[0]->dev &&
		       um[first]->ino == um[0]->ino)
			first++;
	for (uint32_t i = first; i < nu; i++) {
		locs[n] = user_location(a, a->heap_profile, p, pid, um[i], uips[i], i > 0);
		if (!locs[n])
			return -ENOMEM;
		n++;
	}
	if (!n)
		return 0; /* the stack was lost, which BPF counted */
	pname = p && proc__name(p)[0] ? proc__name(p) : comm;
	if (record_process(a, a->heap_profile, pid, p, pname))
		return -ENOMEM;
	return profile__add_values(a->heap_profile, locs, n, pid, tid, comm, pname, 0, values);
}

/* One drained memory count: alloc_objects and alloc_space. */
static int on_mem(const struct ember_key *key, const struct ember_mem *m, const uint64_t *uips,
		  uint32_t nu, void *ctx)
{
	struct agent *a = ctx;
	int64_t values[HEAP_TYPES] = {
		(int64_t)((m->objects + EMBER_MEM_OBJ_SCALE / 2) / EMBER_MEM_OBJ_SCALE),
		(int64_t)m->bytes,
	};
	char comm[EMBER_COMM_LEN + 1];

	heap__keep_stack(a->heap, key->tgid, key->ustack, uips, nu);
	memcpy(comm, key->comm, EMBER_COMM_LEN);
	comm[EMBER_COMM_LEN] = '\0';
	return heap_sample(a, key->tgid, key->tid, comm, uips, nu, values);
}

/* One stack's live blocks at the interval's end: inuse_objects and inuse_space. */
static int on_inuse(uint32_t pid, const uint64_t *ips, uint32_t n, int64_t objects, int64_t bytes,
		    void *ctx)
{
	struct agent *a = ctx;
	struct proc *p = proc_table__lookup(a->procs, pid);
	int64_t values[HEAP_TYPES] = {0, 0, objects, bytes};

	return heap_sample(a, pid, 0, p && proc__name(p)[0] ? proc__name(p) : "", ips, n, values);
}

static int proc_alive(uint32_t pid, void *ctx)
{
	(void)ctx;
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/*
 * Processes exec'ed since the last drain whose libraries ld.so has had time
 * to map (200 ms): read now, so the heap hooks attach to a program that
 * allocates but is never on a CPU sample. The rest wait for the next drain.
 */
static void read_execs(struct agent *a)
{
	uint64_t now = now_ns(CLOCK_MONOTONIC);
	size_t kept = 0;

	for (size_t i = 0; i < a->nexecs; i++) {
		struct exec_seen *e = &a->execs[i];

		if (now - e->at_ns < 200 * 1000000ull)
			a->execs[kept++] = *e;
		else
			proc_table__load(a->procs, e->pid);
	}
	a->nexecs = kept;
}

static int drain(struct agent *a)
{
	int err;

	/* Contexts that changed are re-read first, so links are named by the current key map. */
	ctx_cache__refresh(a->contexts);
	/* The generation closes now: what is sampled from here on is the next profile's. */
	a->drained_wall = now_ns(CLOCK_REALTIME);
	err = sampler__drain(a->sampler, on_sample, a);
	if (!err)
		err = replay_held(a);
	else
		replay_held(a); /* frees what was held */

	if (err)
		pr_warn("cannot aggregate samples: %s", strerror(-err));
	return err;
}

/* --top N: the @n functions with the most self samples, as `emberprof top` ranks them. */
static void print_top(const struct profile *p, unsigned int n)
{
	struct ranking r = {0};

	if (profile__rank(p, RANK_FUNCTION, 0, RANK_SAMPLES, &r) == 0 && r.samples > 0) {
		printf("%8s %6s  %s\n", "samples", "self%", "function");
		for (size_t i = 0; i < r.n && i < n && r.rows[i].self > 0; i++)
			printf("%8" PRId64 " %5.1f%%  %s\n", r.rows[i].self,
			       100.0 * r.rows[i].self / r.samples, r.rows[i].name);
	}
	ranking__free(&r);
}

/* Encodes @prof for OTLP and queues it; the exporter thread sends it. */
static void export_otlp(struct agent *a, const struct profile *prof)
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
	err = otlp__encode(prof, &eo, &buf, &len);
	if (err) {
		pr_warn("cannot encode the OTLP profile: %s", strerror(-err));
		return;
	}
	otlp_exporter__send(a->exporter, buf, len);
}

/* --alloc: what is in use now, then the interval's memory profile to --heap-output, if any. */
static int write_heap(struct agent *a, uint64_t end_wall, uint64_t start_s,
		      int (*expand)(const char *, uint64_t, unsigned long, char *, size_t))
{
	char path[4096];
	size_t n;
	int e;

	e = heap__inuse(a->heap, proc_alive, on_inuse, a);
	if (e)
		pr_warn("cannot add what is in use: %s", strerror(-e));
	profile__set_duration(a->heap_profile, end_wall - profile__start(a->heap_profile));
	if (!a->opts->heap_output)
		return 0; /* exported over OTLP only */
	e = expand(a->opts->heap_output, start_s, a->seq, path, sizeof(path));
	if (!e)
		e = pprof__write(a->heap_profile, path);
	if (e) {
		pr_warn("cannot write %s: %s", path, strerror(-e));
		return e;
	}
	profile__samples(a->heap_profile, &n);
	pr_info("wrote %s (%zu memory samples)", path, n);
	return 0;
}

static int write_outputs(struct agent *a, uint64_t end_wall)
{
	const struct run_opts *o = a->opts;
	uint64_t start_s = profile__start(a->profile) / 1000000000ull;
	int (*expand)(const char *, uint64_t, unsigned long, char *, size_t) = path_template_expand;
	char path[4096];
	int err = 0, e;

	if (a->seq && start_s == a->last_start_s)
		expand = path_template_expand_again;
	a->last_start_s = start_s;

	profile__set_duration(a->profile, end_wall - profile__start(a->profile));
	if (o->output) {
		e = expand(o->output, start_s, a->seq, path, sizeof(path));
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
		e = expand(o->folded, start_s, a->seq, path, sizeof(path));
		if (!e)
			e = folded__write(a->profile, path, o->folded_span, FOLDED_SAMPLES);
		if (e) {
			pr_warn("cannot write %s: %s", path, strerror(-e));
			err = e;
		}
	}
	if (o->folded_off_cpu) {
		e = expand(o->folded_off_cpu, start_s, a->seq, path, sizeof(path));
		if (!e)
			e = folded__write(a->profile, path, o->folded_span, FOLDED_OFF_CPU_US);
		if (e) {
			pr_warn("cannot write %s: %s", path, strerror(-e));
			err = e;
		}
	}
	if (a->heap_profile) {
		e = write_heap(a, end_wall, start_s, expand);
		if (e)
			err = e;
	}
	if (a->exporter) {
		export_otlp(a, a->profile);
		if (a->heap_profile)
			export_otlp(a, a->heap_profile);
	}
	if (o->flamegraph) {
		e = expand(o->flamegraph, start_s, a->seq, path, sizeof(path));
		if (!e)
			e = flamegraph__write(a->profile, "emberprof", path);
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
		st.lost = ember_lost(m);
		st.processes = proc_table__count(a->procs);
		st.seconds = profile__duration(a->profile) / 1e9;
		o->on_profile(o->on_profile_heap && a->heap_profile ? a->heap_profile : a->profile,
			      &st, o->on_profile_ctx);
	}
	if (err)
		a->write_failures++;
	a->seq++;
	return err;
}

/*
 * Everything the reports show, in one place: -v, the summary line and
 * /metrics render this (agent/report.c, agent/status.c), never the parts.
 */
static void gather(struct agent *a, struct report *r)
{
	struct mem_split *ms = &r->mem;
	uint64_t counted;

	memset(r, 0, sizeof(*r));
	sampler__metrics(a->sampler, r->m);
	r->lost = ember_lost(r->m);
	r->event = sampler__event_name(a->sampler);
	r->processes = proc_table__count(a->procs);
	r->processes_seen = htab__count(a->seen_pids);
	r->profile_samples = profile__total(a->profile);
	r->filtered = a->filtered;
	r->unattributed = a->unattributed;
	r->stopped = a->stopped;
	r->frames_unnamed = a->frames_unnamed;
	r->write_failures = a->write_failures;
	symbolizer__stats(a->sym, &r->sym);
	if (a->python) {
		r->has_python = 1;
		python__stats(a->python, &r->python);
	}
	r->ctx = *ctx_cache__stats(a->contexts);
	r->has_off_cpu = a->opts->off_cpu;
	r->off_cpu_shift = sampler__off_cpu_shift(a->sampler);
	sampler__off_cpu_stats(a->sampler, &r->off_cpu);
	if (a->heap) {
		r->has_heap = 1;
		heap__stats(a->heap, &r->heap);
	}
	r->budget = a->budget;
	r->rss = mem_rss();
	r->map_bytes = sampler__map_bytes(a->sampler);
	if (a->unwinder) {
		r->has_unwinder = 1;
		unwinder__stats(a->unwinder, &r->unwind);
		r->nstarved = unwinder__starved(a->unwinder, r->starved, EMBER_REPORT_STARVED);
	}
	if (a->exporter) {
		r->has_otlp = 1;
		otlp_exporter__stats(a->exporter, &r->otlp);
	}
	ms->symbols = r->sym.cache_bytes;
	ms->kernel = r->sym.kernel_bytes;
	ms->processes = proc_table__bytes(a->procs);
	/* The profiles being built: CPU, and with --alloc memory, with the live blocks' stacks. */
	ms->profile = profile__bytes(a->profile) +
		      (a->heap_profile ? profile__bytes(a->heap_profile) : 0) + r->heap.bytes;
	ms->otlp = r->has_otlp ? r->otlp.queued_bytes : 0;
	/*
	 * libelf's and libdw's state cannot be counted from outside: the
	 * parsed files are what the heap holds beyond the tables that count
	 * themselves (with the libraries' own small state in it).
	 */
	counted = ms->symbols + ms->kernel + ms->processes + ms->profile + ms->otlp;
	ms->files =
		a->budget.st.last.heap_used > counted ? a->budget.st.last.heap_used - counted : 0;
}

/* After every drain: the /metrics page the status server answers with. */
static void publish_metrics(struct agent *a)
{
	struct strbuf text = {0};
	struct report r;

	if (!a->status)
		return;
	gather(a, &r);
	status__metrics_text(&r, &text);
	if (!text.failed && text.s)
		status_server__publish(a->status, text.s);
	strbuf__free(&text);
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
	struct unwinder_maps maps;

	sampler__unwind_maps(a->sampler, &maps);
	a->unwinder = unwinder__new(a->sym, &maps);
	if (!a->unwinder) {
		pr_warn("cannot map the unwind tables: %s", strerror(errno));
		return -1;
	}
	unwinder__set_make_room(a->unwinder, unwind_room, a);
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
	/* Reading every process's mappings churned the heap: give the free pages back. */
	malloc_trim(0);
}

/* The loop's parts, each in place before the next: budget, symbolizer, tables, exporter. */
static int agent_init(struct agent *a)
{
	const struct run_opts *opts = a->opts;
	uint64_t cache_bytes, budget;

	/*
	 * Big transient buffers (encoded profiles, table builds, decompressed
	 * sections) go to their own mappings and leave at free; without a fixed
	 * threshold glibc raises it after the first such free and keeps them.
	 * The helper threads share one arena instead of one each.
	 */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	mallopt(M_ARENA_MAX, 2);
	budget = opts->memory_bytes ? opts->memory_bytes : EMBER_MEMORY_DEFAULT;
	mem_budget__init(&a->budget, budget, opts->max_files);
	cache_bytes = budget / 8;
	if (opts->symbol_cache_bytes)
		cache_bytes = opts->symbol_cache_bytes;
	/* A cache bigger than the whole budget would only be evicted by it. */
	if (cache_bytes > budget)
		cache_bytes = budget;
	a->sym = symbolizer__new(&(struct symbolizer_opts){
		.debug_dirs = opts->debug_dirs,
		.cache_bytes = cache_bytes ? (size_t)cache_bytes : 1,
		.idle_modules = opts->idle_modules,
		.make_room = make_room,
		.check = check_budget,
		.room_ctx = a,
	});
	a->seen_pids = htab__new();
	a->contexts = ctx_cache__new("/proc", &(struct ctx_cache_hooks){set_tls, clear_tls, a});
	a->procs = a->sym ? proc_table__new(a->sym, "/proc") : NULL;
	a->profile = profile__new(1000000000ull / opts->frequency, now_ns(CLOCK_REALTIME));
	if (a->profile && opts->off_cpu)
		profile__enable_off_cpu(a->profile);
	if (opts->python)
		a->python = python__new((size_t)(budget / 32));
	if (opts->alloc)
		a->heap_profile = new_heap_profile(opts, now_ns(CLOCK_REALTIME));
	if (!a->sym || !a->procs || !a->profile || !a->seen_pids || !a->contexts ||
	    (opts->python && !a->python) || (opts->alloc && !a->heap_profile)) {
		pr_warn("out of memory");
		return -1;
	}
	gethostname(a->host_name, sizeof(a->host_name) - 1);
	if (opts->otlp) {
		a->exporter = otlp_exporter__new(opts->otlp);
		if (!a->exporter) {
			pr_warn("cannot start the OTLP exporter: %s", strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Loads and attaches the BPF side, reads the processes, and starts sampling. */
static int agent_start(struct agent *a)
{
	const struct run_opts *opts = a->opts;
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
		.python = opts->python,
		.off_cpu = opts->off_cpu,
		.off_cpu_min_ns = opts->off_cpu_min_ns,
		.off_cpu_walks = opts->off_cpu_walks,
		.alloc = opts->alloc,
		.inuse = opts->inuse,
		.max_live = EMBER_LIVE_BLOCKS,
		.proc_live = EMBER_LIVE_BLOCKS / 4,
	};
	int err;

	a->sampler = sampler__new(&so, on_event, a);
	if (!a->sampler)
		return -1;
	/* Before the processes are read: their hooks attach to the memory probes. */
	if (opts->alloc) {
		/* Within the memory budget: a sixteenth of it for the live blocks' stacks. */
		a->heap = heap__new(a->sampler, opts->inuse, (size_t)(a->budget.heap_target / 16));
		if (!a->heap) {
			pr_warn("out of memory");
			return -1;
		}
		sampler__set_mem_fn(a->sampler, on_mem, a);
	}
	if (opts->dwarf_unwind && start_unwinder(a))
		return -1;
	proc_table__set_proc_hooks(a->procs, on_proc_loaded, on_proc_gone, a);
	/*
	 * Read the processes to profile now rather than at their first sample:
	 * with DWARF unwinding, a process's first samples would otherwise be
	 * walked without mappings. Whole-system, tables are then built as
	 * samples land in them; with -p, all of them before sampling starts.
	 */
	if (opts->npids) {
		for (size_t i = 0; i < opts->npids; i++)
			proc_table__load(a->procs, opts->pids[i]);
		/* A few processes: their tables now, before the first sample. */
		if (a->unwinder) {
			unwinder__want_all(a->unwinder);
			unwinder__work(a->unwinder, UINT64_MAX);
		}
	} else if (opts->dwarf_unwind || opts->alloc) {
		load_all_processes(a);
	}
	/* Tables and contexts are in place: now the samples may come. */
	if (sampler__start(a->sampler))
		return -1;
	/* The first profile covers the sampling, not the loading before it. */
	a->drained_wall = now_ns(CLOCK_REALTIME);
	profile__set_start(a->profile, a->drained_wall);
	if (a->heap_profile)
		profile__set_start(a->heap_profile, a->drained_wall);
	/* Loaded and attached: from here on only reading processes needs privilege. */
	err = privilege_drop(opts->alloc);
	if (err)
		pr_warn("cannot drop capabilities: %s", strerror(-err));
	if (opts->status_addr) {
		a->status = status_server__start(opts->status_addr);
		if (!a->status)
			return -1;
		publish_metrics(a);
	}
	pr_info("sampling %s at %u Hz on every CPU%s", sampler__event_name(a->sampler),
		opts->frequency, opts->npids ? " (selected processes)" : "");
	return 0;
}

/* Once a second: drain into the profile, then what may only happen between drains. */
static int agent_tick(struct agent *a)
{
	if (a->nexecs)
		read_execs(a);
	if (drain(a))
		return -1;
	/* Every sample so far is symbolized: exited processes can go. */
	proc_table__end_interval(a->procs);
	if (a->python)
		python__end_interval(a->python);
	/* Also gives the files' pages this drain touched back to the page cache. */
	mem_budget__check(&a->budget, a->sym, now_ns(CLOCK_MONOTONIC));
	if (a->unwinder)
		unwinder__tick(a->unwinder);
	publish_metrics(a);
	if (reopen_requested) {
		reopen_requested = 0;
		pr_info("SIGHUP: outputs are opened by path at every write; nothing to reopen");
	}
	return 0;
}

/* At the end of an interval (-i): write the profile and start the next one. */
static int agent_next_interval(struct agent *a)
{
	struct report r;

	write_outputs(a, a->drained_wall);
	if (log_get_level() >= EMBER_LOG_INFO) {
		gather(a, &r);
		report__interval(&r);
	}
	profile__free(a->profile);
	symbolizer__refresh_kernel(a->sym);
	/* The interval's transient memory leaves the process. */
	malloc_trim(0);
	a->profile = profile__new(1000000000ull / a->opts->frequency, a->drained_wall);
	if (!a->profile) {
		pr_warn("out of memory");
		return -1;
	}
	if (a->opts->off_cpu)
		profile__enable_off_cpu(a->profile);
	if (a->heap_profile) {
		profile__free(a->heap_profile);
		a->heap_profile = new_heap_profile(a->opts, a->drained_wall);
		if (!a->heap_profile) {
			pr_warn("out of memory");
			return -1;
		}
	}
	return 0;
}

/* Runs until the deadline or a signal. Returns 0, or -1 after a failure it has said. */
static int agent_loop(struct agent *a)
{
	const struct run_opts *opts = a->opts;
	uint64_t start = now_ns(CLOCK_MONOTONIC), next_interval = 0, deadline = 0;
	uint64_t next_drain = start + 1000000000ull;
	size_t queued = 0;
	int err;

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
			/* Chunks still to build: look at events and come straight back. */
			int ms = queued ? 0 : (int)((wake - now + 999999) / 1000000);

			err = sampler__poll(a->sampler, ms);
			if (err && err != -EINTR) {
				pr_warn("cannot poll process events: %s", strerror(-err));
				return -1;
			}
			/* Table builds in slices, so a drain is never late by more than one. */
			if (a->unwinder)
				queued = unwinder__work(a->unwinder, BUILD_SLICE_NS);
			continue;
		}
		if (deadline && now >= deadline)
			break;
		if (agent_tick(a))
			return -1;
		next_drain = now + 1000000000ull;
		if (next_interval && now >= next_interval) {
			if (agent_next_interval(a))
				return -1;
			next_interval += (uint64_t)(opts->interval * 1e9);
		}
	}
	return 0;
}

/* Stopped by the deadline or a signal: flush what the kernel holds, write, report. */
static int agent_finish(struct agent *a)
{
	const struct run_opts *opts = a->opts;
	struct report r;
	int rc = 1;

	sampler__poll(a->sampler, 0);
	if (drain(a))
		return 1;
	if (write_outputs(a, a->drained_wall) == 0)
		rc = 0;
	gather(a, &r);
	report__final(&r);
	if (a->heap && !r.heap.attached)
		pr_info("--alloc: no process mapped a file with otel_memory probes, so no "
			"allocation was seen (preload libotelmem.so: see README)");
	if (opts->top)
		print_top(a->profile, opts->top);
	report__summary(&r, opts->output, opts->folded);
	return rc;
}

static void agent_free(struct agent *a)
{
	status_server__stop(a->status);
	/* Sends what is queued, within the flush deadline, before anything else goes. */
	if (a->exporter) {
		struct otlp_exporter_stats es = {0};

		otlp_exporter__stop(a->exporter, &es);
		pr_info("OTLP: %" PRIu64 " sent, %" PRIu64 " failed, %" PRIu64 " retries, %" PRIu64
			" dropped (queue full), %" PRIu64 " dropped at the flush deadline",
			es.sent, es.failed, es.retries, es.dropped_queue_full, es.dropped_at_stop);
	}
	profile__free(a->profile);
	profile__free(a->heap_profile);
	free(a->execs);
	/* The process table first: dropping its mappings updates the unwinder and the heap. */
	proc_table__free(a->procs);
	heap__free(a->heap);
	unwinder__free(a->unwinder);
	sampler__free(a->sampler);
	symbolizer__free(a->sym);
	python__free(a->python);
	free(a->held);
	htab__free(a->seen_pids);
	ctx_cache__free(a->contexts);
}

int run(const struct run_opts *opts)
{
	struct agent a = {.opts = opts};
	int rc = 1;

	if (agent_init(&a) == 0 && agent_start(&a) == 0 && agent_loop(&a) == 0)
		rc = agent_finish(&a);
	agent_free(&a);
	return rc;
}
