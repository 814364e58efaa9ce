// SPDX-License-Identifier: Apache-2.0
/*
 * Sampler: the user side of bpf/emberprof.bpf.c. The perf events are opened
 * here (not by libbpf) because the event choice needs a fallback: hardware
 * cycles fail with ENOENT or EOPNOTSUPP on machines with no PMU (most VMs),
 * and cpu-clock, a software event driven by an hrtimer, measures the same CPU
 * time. The fallback is logged once.
 *
 * Draining flips the programs' `active` generation, waits for samples already
 * running on other CPUs to finish (they run for microseconds, with interrupts
 * off), then reads the closed generation at leisure and empties it.
 */
#include <errno.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "emberprof.skel.h"
#include "lib/log.h"
#include "agent/sampler.h"
#include "agent/unwind.h"

struct sampler {
	struct emberprof_bpf *skel;
	uint32_t frequency;
	int obi;		     /* the OBI map is reused */
	uint32_t tls_procs;	     /* entries in tls_offsets, mirrored to BPF */
	uint32_t py_procs;	     /* entries in py_procs, mirrored to BPF */
	struct ember_link *link_buf; /* drain scratch */
	struct ring_buffer *rb;
	int *fds;
	struct bpf_link **links;
	int nfds;
	const char *event_name;
	sampler_event_fn on_event;
	void *ctx;
	struct ember_key *keys; /* drain scratch */
	struct ember_stack *ustack, *kstack;
	int off_cpu;
	uint32_t off_cpu_walks; /* the walk budget, a second */
	/* User threads' sleeping switches at the last rate estimate, and when (CLOCK_MONOTONIC). */
	uint64_t switches, switches_at;
	/* The closed generation's per-thread times, from the flush (sorted by tid). */
	struct ember_thread_wait *waits;
	size_t nwaits, waits_cap;
	struct sampler_offcpu_stats offcpu_stats;
	int alloc, inuse;
	sampler_mem_fn mem_fn;
	void *mem_ctx;
	struct ember_live_key *live_keys; /* live-pass scratch, max_live entries */
	uint32_t max_live;
};

/* Off-CPU stacks and links kept across drains (LRU). */
#define OFFCPU_STACKS 4096
#define OFFCPU_LINKS 1024

static long perf_event_open(struct perf_event_attr *attr, int cpu)
{
	return syscall(SYS_perf_event_open, attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

/* Online CPUs from "0-3,6"-style text. Returns the count filled into @cpus. */
static int online_cpus(int *cpus, int max)
{
	FILE *f = fopen("/sys/devices/system/cpu/online", "re");
	int n = 0, a, b;
	char sep;

	if (!f)
		return -errno;
	while (n < max && fscanf(f, "%d", &a) == 1) {
		b = a;
		if (fscanf(f, "%c", &sep) == 1 && sep == '-') {
			if (fscanf(f, "%d", &b) != 1)
				break;
			if (fscanf(f, "%c", &sep) != 1)
				sep = '\n';
		}
		for (int c = a; c <= b && n < max; c++)
			cpus[n++] = c;
		if (sep != ',')
			break;
	}
	fclose(f);
	return n ? n : -ENOENT;
}

static int open_events(struct sampler *s, uint32_t freq)
{
	struct perf_event_attr attr = {
		.size = sizeof(attr),
		.type = PERF_TYPE_HARDWARE,
		.config = PERF_COUNT_HW_CPU_CYCLES,
		.freq = 1,
		.sample_freq = freq,
	};
	int ncpu = libbpf_num_possible_cpus(), *cpus, n, err = 0;

	if (ncpu <= 0)
		return ncpu ? ncpu : -ENOENT;
	cpus = calloc(ncpu, sizeof(*cpus));
	s->fds = calloc(ncpu, sizeof(*s->fds));
	s->links = calloc(ncpu, sizeof(*s->links));
	if (!cpus || !s->fds || !s->links) {
		err = -ENOMEM;
		goto out;
	}
	n = online_cpus(cpus, ncpu);
	if (n < 0) {
		err = n;
		pr_warn("cannot read the online CPUs: %s", strerror(-err));
		goto out;
	}
	s->event_name = "cycles";
	for (int i = 0; i < n; i++) {
		long fd = perf_event_open(&attr, cpus[i]);

		if (fd < 0 && attr.type == PERF_TYPE_HARDWARE &&
		    (errno == ENOENT || errno == EOPNOTSUPP || errno == ENODEV)) {
			pr_info("no hardware cycles event (%s); sampling on cpu-clock",
				strerror(errno));
			attr.type = PERF_TYPE_SOFTWARE;
			attr.config = PERF_COUNT_SW_CPU_CLOCK;
			s->event_name = "cpu-clock";
			fd = perf_event_open(&attr, cpus[i]);
		}
		if (fd < 0) {
			err = -errno;
			if (err == -EACCES || err == -EPERM)
				pr_warn("cannot open perf events: %s (run as root or grant "
					"CAP_PERFMON)",
					strerror(-err));
			else
				pr_warn("cannot open a perf event on CPU %d: %s", cpus[i],
					strerror(-err));
			goto out;
		}
		s->fds[s->nfds] = (int)fd;
		s->links[s->nfds] =
			bpf_program__attach_perf_event(s->skel->progs.on_sample, (int)fd);
		s->nfds++;
		if (!s->links[s->nfds - 1]) {
			err = -errno;
			pr_warn("cannot attach to the perf event on CPU %d: %s", cpus[i],
				strerror(-err));
			goto out;
		}
	}
out:
	free(cpus);
	return err;
}

static int handle_event(void *ctx, void *data, size_t size)
{
	struct sampler *s = ctx;

	if (size >= sizeof(struct ember_event) && s->on_event)
		s->on_event(data, s->ctx);
	return 0;
}

static int attach_obi(struct sampler *s, const char *path);

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The smallest shift that brings @rate walks a second to @walks or below. */
static __u32 shift_for_rate(double rate, uint32_t walks)
{
	__u32 shift = 0;

	while (shift < 15 && rate / (double)(1u << shift) > walks)
		shift++;
	return shift;
}

/*
 * Map sizes for one drain period (a second): at most frequency x CPUs samples
 * arrive, each with up to two new stacks. A quarter more for jitter in the
 * drain timer; never below 1024 or above 65536 entries (a stack entry is
 * 1 KiB, and there are two generations of each map).
 */
/* kernel.perf_event_max_stack, which caps bpf_get_stack; 127 when unreadable. */
static uint32_t perf_max_stack(void)
{
	FILE *f = fopen("/proc/sys/kernel/perf_event_max_stack", "re");
	unsigned int v = 0;

	if (f) {
		if (fscanf(f, "%u", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v ? v : 127;
}

static uint32_t size_for_rate(uint64_t per_second)
{
	uint64_t n = per_second + per_second / 4;

	return n < 1024 ? 1024 : n > 65536 ? 65536 : (uint32_t)n;
}

struct sampler *sampler__new(const struct sampler_opts *opts_in, sampler_event_fn on_event,
			     void *ctx)
{
	struct sampler_opts o = *opts_in, *opts = &o;
	struct sampler *s = calloc(1, sizeof(*s));
	int ncpu = libbpf_num_possible_cpus(), err;

	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	if (ncpu < 1)
		ncpu = 1;
	if (!o.max_counts)
		o.max_counts = size_for_rate((uint64_t)o.frequency * ncpu);
	if (!o.max_stacks)
		o.max_stacks = size_for_rate(2ull * o.frequency * ncpu);
	s->on_event = on_event;
	s->ctx = ctx;
	s->keys = calloc(opts->max_counts, sizeof(*s->keys));
	s->ustack = calloc(1, sizeof(*s->ustack));
	s->link_buf = calloc(1, sizeof(*s->link_buf));
	s->kstack = calloc(1, sizeof(*s->kstack));
	if (!s->keys || !s->ustack || !s->kstack || !s->link_buf) {
		err = -ENOMEM;
		goto fail;
	}
	libbpf_set_print(log_libbpf_print);
	LIBBPF_OPTS(bpf_object_open_opts, open_opts, .btf_custom_path = opts->btf_path);
	s->skel = emberprof_bpf__open_opts(&open_opts);
	if (!s->skel) {
		err = -errno;
		pr_warn("cannot open the BPF object: %s", strerror(-err));
		goto fail;
	}
	s->skel->rodata->filter_pids = opts->npids > 0;
	s->skel->rodata->dwarf_unwind = opts->dwarf_unwind;
	s->skel->rodata->fp_max_frames = perf_max_stack();
	s->skel->rodata->filter_cgroup = opts->cgroup_fd > 0;
	s->skel->rodata->python_frames = opts->python;
	bpf_map__set_max_entries(s->skel->maps.unwind_rows,
				 opts->dwarf_unwind && opts->unwind_rows ? opts->unwind_rows : 1);
	bpf_map__set_max_entries(s->skel->maps.unwind_chunks,
				 opts->dwarf_unwind ? EMBER_UNWIND_CHUNKS : 1);
	bpf_map__set_max_entries(s->skel->maps.exec_maps,
				 opts->dwarf_unwind && opts->unwind_maps ? opts->unwind_maps : 1);
	bpf_map__set_max_entries(s->skel->maps.counts0, opts->max_counts);
	bpf_map__set_max_entries(s->skel->maps.counts1, opts->max_counts);
	bpf_map__set_max_entries(s->skel->maps.stacks0, opts->max_stacks);
	bpf_map__set_max_entries(s->skel->maps.stacks1, opts->max_stacks);
	bpf_map__set_max_entries(s->skel->maps.links0, opts->max_links ? opts->max_links : 4096);
	bpf_map__set_max_entries(s->skel->maps.links1, opts->max_links ? opts->max_links : 4096);
	/* Without --off-cpu the switch program is not even loaded: the tracepoint costs nothing. */
	s->off_cpu = opts->off_cpu;
	s->off_cpu_walks = opts->off_cpu_walks ? opts->off_cpu_walks : EMBER_OFFCPU_WALKS_PER_SEC;
	bpf_program__set_autoload(s->skel->progs.on_switch, opts->off_cpu);
	/* Attached with the perf events (sampler__start()): blocked time has their window. */
	bpf_program__set_autoattach(s->skel->progs.on_switch, false);
	bpf_program__set_autoload(s->skel->progs.flush_waits, opts->off_cpu);
	if (opts->off_cpu) {
		bpf_map__set_max_entries(s->skel->maps.offcpu0, opts->max_counts);
		bpf_map__set_max_entries(s->skel->maps.offcpu1, opts->max_counts);
		bpf_map__set_max_entries(s->skel->maps.offcpu_stacks, OFFCPU_STACKS);
		bpf_map__set_max_entries(s->skel->maps.offcpu_links, OFFCPU_LINKS);
		s->skel->rodata->offcpu_min_ns = opts->off_cpu_min_ns;
	} else {
		bpf_map__set_max_entries(s->skel->maps.offcpu_gone, 1);
	}
	/* Likewise the memory programs without --alloc; they attach per process later. */
	s->alloc = opts->alloc;
	s->inuse = opts->alloc && opts->inuse;
	bpf_program__set_autoload(s->skel->progs.on_alloc, s->alloc);
	bpf_program__set_autoload(s->skel->progs.on_free, s->inuse);
	bpf_program__set_autoload(s->skel->progs.on_fork, s->alloc);
	if (s->alloc) {
		bpf_map__set_max_entries(s->skel->maps.mem0, opts->max_counts);
		bpf_map__set_max_entries(s->skel->maps.mem1, opts->max_counts);
	}
	if (s->inuse) {
		s->max_live = opts->max_live;
		s->live_keys = calloc(s->max_live, sizeof(*s->live_keys));
		if (!s->live_keys) {
			err = -ENOMEM;
			goto fail;
		}
		bpf_map__set_max_entries(s->skel->maps.mem_live, s->max_live);
		s->skel->rodata->mem_inuse = 1;
		s->skel->rodata->mem_proc_max = opts->proc_live;
	}
	if (opts->obi_map_path && attach_obi(s, opts->obi_map_path) == 0)
		s->obi = 1;
	s->skel->rodata->obi_enabled = s->obi;
	err = emberprof_bpf__load(s->skel);
	if (err) {
		/* privilege_check() passed before: the capabilities are there. */
		if (err == -EPERM || err == -EACCES)
			pr_warn("cannot load BPF programs: %s (the kernel's verifier or a security "
				"module refused them; run with -v for the verifier log)",
				strerror(-err));
		else
			pr_warn("cannot load BPF programs: %s (run with -v for the verifier log)",
				strerror(-err));
		goto fail;
	}
	for (size_t i = 0; i < opts->npids; i++) {
		__u8 one = 1;

		if (bpf_map__update_elem(s->skel->maps.pid_filter, &opts->pids[i],
					 sizeof(opts->pids[i]), &one, sizeof(one), BPF_ANY)) {
			err = -errno;
			pr_warn("cannot set the pid filter: %s", strerror(-err));
			goto fail;
		}
	}
	if (opts->cgroup_fd > 0) {
		__u32 zero = 0, fd = (__u32)opts->cgroup_fd;

		if (bpf_map__update_elem(s->skel->maps.cgroup_filter, &zero, sizeof(zero), &fd,
					 sizeof(fd), BPF_ANY)) {
			err = -errno;
			pr_warn("cannot set the cgroup filter: %s", strerror(-err));
			goto fail;
		}
	}
	err = emberprof_bpf__attach(s->skel);
	if (err) {
		pr_warn("cannot attach the process tracepoints: %s", strerror(-err));
		goto fail;
	}
	s->rb = ring_buffer__new(bpf_map__fd(s->skel->maps.events), handle_event, s, NULL);
	if (!s->rb) {
		err = -errno;
		pr_warn("cannot open the event ring buffer: %s", strerror(-err));
		goto fail;
	}
	s->frequency = opts->frequency;
	return s;
fail:
	sampler__free(s);
	errno = -err;
	return NULL;
}

int sampler__start(struct sampler *s)
{
	int err = open_events(s, s->frequency);

	if (err || !s->off_cpu)
		return err;
	/*
	 * Every sleeping switch is walked until the first rate is known, a
	 * tenth of a second in (sampler__poll): on a node switching 100k times
	 * a second that first tenth costs about a tenth of a CPU-second, once.
	 */
	s->switches_at = mono_ns();
	s->skel->links.on_switch = bpf_program__attach(s->skel->progs.on_switch);
	if (!s->skel->links.on_switch) {
		err = -errno;
		pr_warn("cannot attach to sched_switch: %s", strerror(-err));
	}
	return err;
}

void sampler__free(struct sampler *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->nfds; i++) {
		bpf_link__destroy(s->links[i]);
		close(s->fds[i]);
	}
	ring_buffer__free(s->rb);
	emberprof_bpf__destroy(s->skel);
	free(s->fds);
	free(s->links);
	free(s->keys);
	free(s->ustack);
	free(s->kstack);
	free(s->link_buf);
	free(s->live_keys);
	free(s->waits);
	free(s);
}

static void set_off_cpu_shift(struct sampler *s);

int sampler__poll(struct sampler *s, int timeout_ms)
{
	int n;

	/* A burst of switches gets its sampling within a tenth of a second, not at the drain. */
	if (s->off_cpu && timeout_ms > 100)
		timeout_ms = 100;
	n = ring_buffer__poll(s->rb, timeout_ms);
	if (s->off_cpu && mono_ns() - s->switches_at >= 100 * 1000000ull)
		set_off_cpu_shift(s);

	return n < 0 ? n : 0;
}

/* Reads the stack with hash @h into @st; returns its number of frames (0: none). */
static uint32_t read_stack(int map_fd, __u64 h, struct ember_stack *st)
{
	if (!h || bpf_map_lookup_elem(map_fd, &h, st))
		return 0;
	return st->len < EMBER_MAX_STACK ? st->len : EMBER_MAX_STACK;
}

static void clear_map(int fd, size_t key_size)
{
	char key[64], next[64];
	void *prev = NULL;

	/* Nothing writes this generation now, so deleting while walking is safe. */
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(key, next, key_size);
		bpf_map_delete_elem(fd, key);
		prev = NULL;
	}
}

/* The keys (struct ember_key) of map @fd into s->keys, @max at most. Returns how many. */
static uint32_t collect_keys(struct sampler *s, int fd, uint32_t max)
{
	struct ember_key *prev = NULL;
	uint32_t n = 0;

	while (n < max && bpf_map_get_next_key(fd, prev, &s->keys[n]) == 0) {
		prev = &s->keys[n];
		n++;
	}
	return n;
}

/*
 * Hands @count under @key to @fn, with its stacks and link read from
 * @stacks_fd and @links_fd. With @need_stack, a key whose stacks are both
 * gone is not handed on, and 1 returned.
 */
static int emit(struct sampler *s, enum sample_kind kind, const struct ember_key *key,
		uint64_t count, int stacks_fd, int links_fd, int need_stack, sampler_sample_fn fn,
		void *ctx)
{
	uint32_t nk = read_stack(stacks_fd, key->kstack, s->kstack);
	uint32_t nu = read_stack(stacks_fd, key->ustack, s->ustack);
	const struct ember_link *link;

	if (need_stack && !nk && !nu)
		return 1;
	link = key->link && bpf_map_lookup_elem(links_fd, &key->link, s->link_buf) == 0
		       ? s->link_buf
		       : NULL;
	return fn(key, kind, count, (const uint64_t *)s->kstack->ips, nk,
		  (const uint64_t *)s->ustack->ips, nu, link, ctx);
}

static int by_tid(const void *a, const void *b)
{
	uint32_t x = ((const struct ember_thread_wait *)a)->key.tid;
	uint32_t y = ((const struct ember_thread_wait *)b)->key.tid;

	return (x > y) - (x < y);
}

/*
 * @count weighted nanoseconds under @key, scaled by its thread's measured
 * over weighted time in the generation being drained (see struct
 * ember_thread_wait). A thread that has exited took its sums with it: its
 * count stays the unbiased estimate.
 */
static uint64_t scale_wait(const struct sampler *s, const struct ember_key *key, uint64_t count)
{
	struct ember_thread_wait k = {.key.tid = key->tid}, *tw;

	tw = s->nwaits ? bsearch(&k, s->waits, s->nwaits, sizeof(k), by_tid) : NULL;
	if (!tw || tw->key.tgid != key->tgid || !tw->weighted_ns)
		return count;
	return (uint64_t)((unsigned __int128)count * tw->measured_ns / tw->weighted_ns);
}

/*
 * The threads none of whose waits in the generation was walked: their
 * measured time goes under their last walked wait's stacks, or is counted
 * lost if those were evicted.
 */
static int emit_unwalked(struct sampler *s, int stacks_fd, int links_fd, sampler_sample_fn fn,
			 void *ctx)
{
	struct sampler_offcpu_stats *st = &s->offcpu_stats;
	int err = 0;

	for (size_t i = 0; i < s->nwaits && err <= 0; i++) {
		const struct ember_thread_wait *tw = &s->waits[i];

		if (tw->weighted_ns) {
			st->scaled++;
			continue;
		}
		err = emit(s, SAMPLE_OFF_CPU, &tw->key, tw->measured_ns, stacks_fd, links_fd, 1, fn,
			   ctx);
		if (err == 1) {
			st->lost++;
			st->lost_ns += tw->measured_ns;
			err = 0;
		} else if (!err) {
			st->last_stacks++;
			st->last_ns += tw->measured_ns;
		}
	}
	return err;
}

/*
 * Hands every entry of the count map @counts_fd to @fn as @kind, stacks from
 * @stacks_fd and links from @links_fd, then empties @counts_fd. Off-CPU
 * counts are scaled to their threads' measured time first.
 */
static int drain_counts(struct sampler *s, enum sample_kind kind, int counts_fd, uint32_t max,
			int stacks_fd, int links_fd, sampler_sample_fn fn, void *ctx)
{
	uint32_t n = collect_keys(s, counts_fd, max);
	int err = 0;

	for (uint32_t i = 0; i < n && !err; i++) {
		uint64_t count;

		if (bpf_map_lookup_elem(counts_fd, &s->keys[i], &count))
			continue;
		if (kind == SAMPLE_OFF_CPU)
			count = scale_wait(s, &s->keys[i], count);
		err = emit(s, kind, &s->keys[i], count, stacks_fd, links_fd, 0, fn, ctx);
	}
	if (kind == SAMPLE_OFF_CPU && !err)
		err = emit_unwalked(s, stacks_fd, links_fd, fn, ctx);
	clear_map(counts_fd, sizeof(struct ember_key));
	return err;
}

/* Hands every entry of the memory count map @fd to s->mem_fn, with its user stack. */
static int drain_mem(struct sampler *s, int fd, uint32_t max, int stacks_fd)
{
	uint32_t n = collect_keys(s, fd, max);
	int err = 0;

	for (uint32_t i = 0; i < n && !err; i++) {
		struct ember_mem m;
		uint32_t nu;

		if (bpf_map_lookup_elem(fd, &s->keys[i], &m))
			continue;
		nu = read_stack(stacks_fd, s->keys[i].ustack, s->ustack);
		err = s->mem_fn(&s->keys[i], &m, (const uint64_t *)s->ustack->ips, nu, s->mem_ctx);
	}
	return err;
}

void sampler__set_mem_fn(struct sampler *s, sampler_mem_fn fn, void *ctx)
{
	s->mem_fn = fn;
	s->mem_ctx = ctx;
}

int sampler__attach_usdt(struct sampler *s, uint32_t pid, const char *path, struct bpf_link **links)
{
	links[0] = links[1] = NULL;
	if (!s->alloc)
		return -EINVAL;
	links[0] = bpf_program__attach_usdt(s->skel->progs.on_alloc, (pid_t)pid, path,
					    "otel_memory", "alloc", NULL);
	if (!links[0])
		return -errno;
	if (!s->inuse)
		return 0;
	links[1] = bpf_program__attach_usdt(s->skel->progs.on_free, (pid_t)pid, path, "otel_memory",
					    "free", NULL);
	if (!links[1]) {
		int err = -errno;

		bpf_link__destroy(links[0]);
		links[0] = NULL;
		return err;
	}
	return 0;
}

long sampler__live(struct sampler *s, sampler_live_fn fn, void *ctx)
{
	int fd = s->inuse ? bpf_map__fd(s->skel->maps.mem_live) : -1;
	int procs_fd = s->inuse ? bpf_map__fd(s->skel->maps.mem_proc_live) : -1;
	struct ember_live_key *prev = NULL;
	uint32_t n = 0, last_gone = 0;

	if (fd < 0)
		return -EINVAL;
	/* Keys first: the programs add and delete meanwhile, and a walk must not restart. */
	while (n < s->max_live && bpf_map_get_next_key(fd, prev, &s->live_keys[n]) == 0) {
		prev = &s->live_keys[n];
		n++;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct ember_live v;

		if (bpf_map_lookup_elem(fd, &s->live_keys[i], &v))
			continue; /* freed since */
		if (!fn(&s->live_keys[i], &v, ctx))
			continue;
		bpf_map_delete_elem(fd, &s->live_keys[i]);
		/* Its process is gone, and its share with it (once per run of its blocks). */
		if (s->live_keys[i].tgid != last_gone) {
			last_gone = s->live_keys[i].tgid;
			bpf_map_delete_elem(procs_fd, &last_gone);
		}
	}
	return n;
}

void sampler__mem_attached(struct sampler *s, uint32_t pid, int attached)
{
	__u8 one = 1;

	if (!s->alloc)
		return;
	if (attached)
		bpf_map__update_elem(s->skel->maps.mem_procs, &pid, sizeof(pid), &one, sizeof(one),
				     BPF_ANY);
	else
		bpf_map__delete_elem(s->skel->maps.mem_procs, &pid, sizeof(pid), 0);
}

void sampler__forget_live(struct sampler *s, uint32_t pid)
{
	if (s->inuse)
		bpf_map__delete_elem(s->skel->maps.mem_proc_live, &pid, sizeof(pid), 0);
}

/*
 * The sampling of sleeping switches from now on: the smallest shift that
 * brings the rate since the last estimate (of user threads) to the walk
 * budget (--off-cpu-walks) or below. It depends on the past only, never
 * on the waits it will pick, so the weights keep the totals unbiased.
 */
static void set_off_cpu_shift(struct sampler *s)
{
	int ncpu = libbpf_num_possible_cpus();
	__u32 ms[2] = {EMBER_M_OFFCPU_SWITCHES, EMBER_M_OFFCPU_KTHREAD};
	uint64_t now, sum[2] = {0, 0}, total, *vals;

	vals = ncpu > 0 ? calloc(ncpu, sizeof(*vals)) : NULL;
	if (!vals)
		return;
	for (int k = 0; k < 2; k++)
		if (bpf_map__lookup_elem(s->skel->maps.metrics, &ms[k], sizeof(ms[k]), vals,
					 ncpu * sizeof(*vals), 0) == 0)
			for (int c = 0; c < ncpu; c++)
				sum[k] += vals[c];
	free(vals);
	/* Kernel threads' switches are left out before the sampling: not its rate. */
	total = sum[0] - sum[1];
	now = mono_ns();
	if (s->switches_at && now > s->switches_at)
		__atomic_store_n(&s->skel->bss->offcpu_shift,
				 shift_for_rate((double)(total - s->switches) * 1e9 /
							(double)(now - s->switches_at),
						s->off_cpu_walks),
				 __ATOMIC_RELAXED);
	s->switches = total;
	s->switches_at = now;
}

/* Room for one more entry in s->waits. Returns 0, or -ENOMEM. */
static int reserve_wait(struct sampler *s)
{
	size_t want = s->waits_cap ? 2 * s->waits_cap : 1024;
	void *p;

	if (s->nwaits < s->waits_cap)
		return 0;
	p = realloc(s->waits, want * sizeof(*s->waits));
	if (!p)
		return -ENOMEM;
	s->waits = p;
	s->waits_cap = want;
	return 0;
}

/* Appends the sums of the threads that exited in generation @gen, deleting them from BPF. */
static void add_gone(struct sampler *s, __u32 gen)
{
	int fd = bpf_map__fd(s->skel->maps.offcpu_gone);
	__u64 key, next, *prev = NULL;
	size_t first = s->nwaits;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (key >> 32 != gen)
			continue;
		if (reserve_wait(s))
			break; /* the rest are left for the next drain of this generation */
		if (bpf_map_lookup_elem(fd, &key, &s->waits[s->nwaits]) == 0)
			s->nwaits++;
	}
	/* Deleted after the walk, so it never restarts from a key gone under it. */
	for (size_t i = first; i < s->nwaits; i++) {
		key = ((__u64)gen << 32) | s->waits[i].key.tid;
		bpf_map_delete_elem(fd, &key);
	}
}

/*
 * Runs flush_waits over every task, adding the waits under way to
 * generation @gen (closed, not read yet), and reads the threads' sums for
 * it into s->waits, with those of threads that exited. A failure costs the
 * split, and leaves the counts unscaled: those waits are added whole when
 * they end.
 */
static void flush_waits(struct sampler *s, __u32 gen)
{
	size_t bytes = 0;
	ssize_t n;
	int fd;

	s->nwaits = 0;
	s->skel->bss->flush_gen = gen;
	fd = s->skel->links.flush_waits ? bpf_iter_create(bpf_link__fd(s->skel->links.flush_waits))
					: -1;
	if (fd < 0) {
		pr_debug("cannot run the off-CPU flush: %s", strerror(errno));
		return;
	}
	/*
	 * Reading to the end runs the program over every task; one record per
	 * waiting thread. (A read may end inside a record: nwaits counts the
	 * whole ones.)
	 */
	for (;;) {
		s->nwaits = bytes / sizeof(*s->waits);
		if (reserve_wait(s))
			break; /* the threads not read keep their counts' estimates */
		n = read(fd, (char *)s->waits + bytes, s->waits_cap * sizeof(*s->waits) - bytes);
		if (n <= 0)
			break;
		bytes += (size_t)n;
	}
	close(fd);
	s->nwaits = bytes / sizeof(*s->waits);
	add_gone(s, gen);
	for (size_t i = 0; i < s->nwaits; i++)
		s->offcpu_stats.measured_ns += s->waits[i].measured_ns;
	if (s->nwaits)
		qsort(s->waits, s->nwaits, sizeof(*s->waits), by_tid);
}

int sampler__drain(struct sampler *s, sampler_sample_fn fn, void *ctx)
{
	__u32 closed = s->skel->bss->active;
	struct bpf_map *counts = closed ? s->skel->maps.counts1 : s->skel->maps.counts0;
	struct bpf_map *stacks = closed ? s->skel->maps.stacks1 : s->skel->maps.stacks0;
	struct bpf_map *links = closed ? s->skel->maps.links1 : s->skel->maps.links0;
	struct bpf_map *offcpu = closed ? s->skel->maps.offcpu1 : s->skel->maps.offcpu0;
	int stacks_fd = bpf_map__fd(stacks), links_fd = bpf_map__fd(links);
	struct timespec settle = {0, 2 * 1000 * 1000};
	int err;

	__atomic_store_n(&s->skel->bss->active, !closed, __ATOMIC_SEQ_CST);
	nanosleep(&settle, NULL);

	err = drain_counts(s, SAMPLE_CPU, bpf_map__fd(counts), bpf_map__max_entries(counts),
			   stacks_fd, links_fd, fn, ctx);
	if (s->alloc) {
		struct bpf_map *mem = closed ? s->skel->maps.mem1 : s->skel->maps.mem0;

		if (!err && s->mem_fn)
			err = drain_mem(s, bpf_map__fd(mem), bpf_map__max_entries(mem), stacks_fd);
		clear_map(bpf_map__fd(mem), sizeof(struct ember_key));
	}
	clear_map(stacks_fd, sizeof(__u64));
	clear_map(links_fd, sizeof(__u64));
	if (!s->off_cpu)
		return err;
	/* The off-CPU stacks stay: waits under way still point at them. */
	flush_waits(s, closed);
	if (!err)
		err = drain_counts(s, SAMPLE_OFF_CPU, bpf_map__fd(offcpu),
				   bpf_map__max_entries(offcpu),
				   bpf_map__fd(s->skel->maps.offcpu_stacks),
				   bpf_map__fd(s->skel->maps.offcpu_links), fn, ctx);
	else
		clear_map(bpf_map__fd(offcpu), sizeof(struct ember_key));
	set_off_cpu_shift(s);
	return err;
}

uint32_t sampler__off_cpu_shift(const struct sampler *s)
{
	return s->off_cpu ? s->skel->bss->offcpu_shift : 0;
}

void sampler__off_cpu_stats(const struct sampler *s, struct sampler_offcpu_stats *out)
{
	*out = s->offcpu_stats;
}

int sampler__off_cpu_check(const char *btf_path)
{
	struct btf *btf = btf_path ? btf__parse(btf_path, NULL) : btf__load_vmlinux_btf();
	int err = btf ? 0 : -errno;

	if (err) {
		pr_warn("--off-cpu: cannot read the kernel's BTF%s%s: %s", btf_path ? " " : "",
			btf_path ? btf_path : "", strerror(-err));
		return err;
	}
	/* tp_btf/sched_switch attaches through this typedef of the tracepoint's prototype. */
	if (btf__find_by_name_kind(btf, "btf_trace_sched_switch", BTF_KIND_TYPEDEF) < 0) {
		pr_warn("--off-cpu needs the sched_switch tracepoint in the kernel's BTF, and %s "
			"has none (btf_trace_sched_switch): profile without --off-cpu",
			btf_path ? btf_path : "this kernel's");
		err = -ENOENT;
	}
	btf__free(btf);
	return err;
}

int sampler__metrics(struct sampler *s, uint64_t *out)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *vals;

	if (ncpu <= 0)
		return -EINVAL;
	vals = calloc(ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (__u32 m = 0; m < EMBER_M_NR; m++) {
		out[m] = 0;
		if (bpf_map__lookup_elem(s->skel->maps.metrics, &m, sizeof(m), vals,
					 ncpu * sizeof(*vals), 0))
			continue;
		for (int c = 0; c < ncpu; c++)
			out[m] += vals[c];
	}
	free(vals);
	return 0;
}

/* Reads the pinned OBI map in place of our own: same key and value layout. */
static int attach_obi(struct sampler *s, const char *path)
{
	struct bpf_map_info info = {0};
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(path), err;

	if (fd < 0)
		return -errno; /* not pinned: nothing to read, not an error */
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.type != BPF_MAP_TYPE_LRU_HASH ||
	    info.key_size != sizeof(__u64) || info.value_size != sizeof(struct ember_obi_ctx)) {
		pr_warn("%s is not an OBI trace-context map (key 8, value 24 bytes); ignoring it",
			path);
		close(fd);
		return -EINVAL;
	}
	bpf_map__set_max_entries(s->skel->maps.obi_traces, info.max_entries);
	err = bpf_map__reuse_fd(s->skel->maps.obi_traces, fd);
	close(fd);
	if (err)
		pr_warn("cannot use %s: %s", path, strerror(-err));
	else
		pr_info("reading trace context from %s", path);
	return err;
}

int sampler__set_tls(struct sampler *s, uint32_t pid, int64_t offset)
{
	struct ember_tls v = {.offset = offset};

	/* New entries are counted, so that BPF can skip the lookup while there are none. */
	if (bpf_map__update_elem(s->skel->maps.tls_offsets, &pid, sizeof(pid), &v, sizeof(v),
				 BPF_NOEXIST) == 0) {
		__atomic_store_n(&s->skel->bss->tls_procs, ++s->tls_procs, __ATOMIC_RELAXED);
		return 0;
	}
	if (errno != EEXIST)
		return -errno;
	if (bpf_map__update_elem(s->skel->maps.tls_offsets, &pid, sizeof(pid), &v, sizeof(v),
				 BPF_EXIST))
		return -errno;
	return 0;
}

void sampler__clear_tls(struct sampler *s, uint32_t pid)
{
	if (bpf_map__delete_elem(s->skel->maps.tls_offsets, &pid, sizeof(pid), 0) == 0 &&
	    s->tls_procs)
		__atomic_store_n(&s->skel->bss->tls_procs, --s->tls_procs, __ATOMIC_RELAXED);
}

int sampler__set_python(struct sampler *s, uint32_t pid, const struct ember_py_proc *py)
{
	/* As with tls_procs: while no process runs CPython, BPF skips the lookup. */
	if (bpf_map__update_elem(s->skel->maps.py_procs, &pid, sizeof(pid), py, sizeof(*py),
				 BPF_NOEXIST) == 0) {
		__atomic_store_n(&s->skel->bss->py_procs_n, ++s->py_procs, __ATOMIC_RELAXED);
		return 0;
	}
	if (errno != EEXIST)
		return -errno;
	if (bpf_map__update_elem(s->skel->maps.py_procs, &pid, sizeof(pid), py, sizeof(*py),
				 BPF_EXIST))
		return -errno;
	return 0;
}

void sampler__clear_python(struct sampler *s, uint32_t pid)
{
	if (bpf_map__delete_elem(s->skel->maps.py_procs, &pid, sizeof(pid), 0) == 0 && s->py_procs)
		__atomic_store_n(&s->skel->bss->py_procs_n, --s->py_procs, __ATOMIC_RELAXED);
}

int sampler__obi_attached(const struct sampler *s)
{
	return s->obi;
}

/*
 * Rewriting an array-of-maps entry makes the kernel wait for an RCU grace
 * period (maybe_wait_bpf_programs() in kernel/bpf/syscall.c), which is the
 * end of every perf-event program run that had begun. Slot 0 of counts_gen
 * is set to the map it already holds, so nothing else changes.
 */
static void wait_programs(void *ctx)
{
	struct sampler *s = ctx;
	int inner = bpf_map__fd(s->skel->maps.counts0);
	__u32 zero = 0;

	if (bpf_map__update_elem(s->skel->maps.counts_gen, &zero, sizeof(zero), &inner,
				 sizeof(inner), BPF_ANY))
		pr_debug("cannot wait for BPF programs: %s", strerror(errno));
}

void sampler__unwind_maps(struct sampler *s, struct unwinder_maps *m)
{
	m->rows_fd = bpf_map__fd(s->skel->maps.unwind_rows);
	m->max_rows = bpf_map__max_entries(s->skel->maps.unwind_rows);
	m->chunks_fd = bpf_map__fd(s->skel->maps.unwind_chunks);
	m->max_chunks = bpf_map__max_entries(s->skel->maps.unwind_chunks);
	m->trie_fd = bpf_map__fd(s->skel->maps.exec_maps);
	m->epoch = &s->skel->bss->unwind_epoch;
	m->wait_programs = wait_programs;
	m->ctx = s;
}

uint64_t sampler__map_bytes(const struct sampler *s)
{
	struct bpf_map *m;
	uint64_t total = 0;

	bpf_object__for_each_map(m, s->skel->obj)
	{
		uint64_t per = bpf_map__key_size(m) + bpf_map__value_size(m);

		/* Preallocated maps hold every entry; the trie holds what is in it. */
		if (bpf_map__type(m) == BPF_MAP_TYPE_LPM_TRIE)
			continue;
		if (bpf_map__type(m) == BPF_MAP_TYPE_PERCPU_ARRAY)
			per *= (uint64_t)libbpf_num_possible_cpus();
		total += per * bpf_map__max_entries(m);
	}
	return total;
}

const char *sampler__event_name(const struct sampler *s)
{
	return s->event_name;
}
