// SPDX-License-Identifier: Apache-2.0
/*
 * The process table. See proc.h for the life cycle. Only executable mappings
 * are kept: a sampled instruction pointer or return address always lies in
 * one, and that keeps a process's state to a few dozen entries.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "lib/array.h"
#include "lib/htab.h"
#include "lib/log.h"
#include "symbolizer/symbolizer.h"
#include "agent/cgroup.h"
#include "agent/proc.h"

struct map_set {
	struct proc_mapping *maps; /* sorted by start */
	size_t n;
	struct map_set *older;
};

struct proc {
	uint32_t pid;
	uint32_t nspid; /* the pid in its own namespace, which names its perf map */
	int exited;
	int rescanned; /* re-read this interval already */
	char name[64];
	char *exe; /* the executable's path as the kernel reports it, or NULL */
	char perfmap[384];
	struct container_info container;
	struct map_set *maps;
};

struct proc_table {
	struct symbolizer *sym;
	char root[256];
	struct htab *procs; /* pid -> struct proc * */
	size_t count;
	proc_map_fn added, removed;
	void *hook_ctx;
	proc_fn loaded, gone;
	void *proc_hook_ctx;
};

int proc_maps_parse_line(char *line, struct proc_mapping *m)
{
	unsigned int major, minor;
	unsigned long long start, end, offset, ino;
	int path_at = 0;
	char perms[5];

	line[strcspn(line, "\n")] = '\0';
	if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu %n", &start, &end, perms, &offset, &major,
		   &minor, &ino, &path_at) < 7)
		return -EINVAL;
	if (end < start || strlen(perms) != 4)
		return -EINVAL;
	if (path_at == 0 || (size_t)path_at > strlen(line))
		path_at = (int)strlen(line);
	memset(m, 0, sizeof(*m));
	m->start = start;
	m->end = end;
	m->offset = offset;
	m->dev = makedev(major, minor);
	m->ino = ino;
	memcpy(m->perms, perms, sizeof(perms));
	m->path = line + path_at;
	return 0;
}

struct proc_table *proc_table__new(struct symbolizer *sym, const char *proc_root)
{
	struct proc_table *pt = calloc(1, sizeof(*pt));

	if (!pt)
		return NULL;
	pt->sym = sym;
	snprintf(pt->root, sizeof(pt->root), "%s", proc_root);
	pt->procs = htab__new();
	if (!pt->procs) {
		free(pt);
		errno = ENOMEM;
		return NULL;
	}
	return pt;
}

/* @announced: the mappings were reported to the added hook, so report their removal. */
static void free_set(struct proc_table *pt, uint32_t pid, struct map_set *set, int announced)
{
	while (set) {
		struct map_set *older = set->older;

		for (size_t i = 0; i < set->n; i++) {
			if (pt->removed && announced)
				pt->removed(pt->hook_ctx, pid, &set->maps[i]);
			symbolizer__put_module(pt->sym, set->maps[i].module);
			free(set->maps[i].path);
		}
		free(set->maps);
		free(set);
		set = older;
	}
}

static void free_proc_entry(const void *key, size_t len, uint64_t *value, void *arg)
{
	struct proc_table *pt = arg;
	struct proc *p = (struct proc *)(uintptr_t)*value;

	(void)key;
	(void)len;
	if (p) {
		if (pt->gone)
			pt->gone(pt->proc_hook_ctx, p->pid, p);
		symbolizer__forget_pid(pt->sym, p->pid);
		free_set(pt, p->pid, p->maps, 1);
		free(p->exe);
		free(p);
	}
	*value = 0;
}

void proc_table__free(struct proc_table *pt)
{
	if (!pt)
		return;
	htab__for_each(pt->procs, free_proc_entry, pt);
	htab__free(pt->procs);
	free(pt);
}

static void read_name(struct proc_table *pt, struct proc *p)
{
	char path[PATH_MAX], exe[PATH_MAX];
	ssize_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%u/exe", pt->root, p->pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n > 0) {
		const char *base;

		exe[n] = '\0';
		/* A replaced or deleted binary reads as "/path (deleted)". */
		if (n > 10 && strcmp(exe + n - 10, " (deleted)") == 0)
			exe[n - 10] = '\0';
		free(p->exe);
		p->exe = strdup(exe);
		base = strrchr(exe, '/');
		snprintf(p->name, sizeof(p->name), "%.63s", base ? base + 1 : exe);
		return;
	}
	snprintf(path, sizeof(path), "%s/%u/comm", pt->root, p->pid);
	f = fopen(path, "re");
	if (f) {
		if (fgets(p->name, sizeof(p->name), f))
			p->name[strcspn(p->name, "\n")] = '\0';
		fclose(f);
	}
}

/* The innermost pid from "NSpid:" in /proc/PID/status; @pid itself without namespaces. */
static uint32_t read_nspid(struct proc_table *pt, uint32_t pid)
{
	char path[PATH_MAX], line[256];
	uint32_t nspid = pid;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%u/status", pt->root, pid);
	f = fopen(path, "re");
	if (!f)
		return pid;
	while (fgets(line, sizeof(line), f)) {
		char *last;

		if (strncmp(line, "NSpid:", 6))
			continue;
		line[strcspn(line, "\n")] = '\0';
		last = strrchr(line, '\t');
		if (last && strtoul(last + 1, NULL, 10) > 0)
			nspid = (uint32_t)strtoul(last + 1, NULL, 10);
		break;
	}
	fclose(f);
	return nspid;
}

static void open_module(struct proc_table *pt, uint32_t pid, struct proc_mapping *m)
{
	char direct[PATH_MAX], rooted[PATH_MAX];

	if (strcmp(m->path, "[vdso]") == 0) {
		m->module = symbolizer__get_vdso(pt->sym);
		return;
	}
	if (m->ino == 0 || m->path[0] != '/')
		return;
	snprintf(direct, sizeof(direct), "%s/%u/map_files/%" PRIx64 "-%" PRIx64, pt->root, pid,
		 m->start, m->end);
	snprintf(rooted, sizeof(rooted), "%s/%u/root%s", pt->root, pid, m->path);
	m->module = symbolizer__get_module(pt->sym, direct, rooted, m->dev, m->ino);
	if (!m->module)
		pr_debug("cannot open %s of pid %u: %s", m->path, pid, strerror(errno));
}

static int map_cmp(const void *a, const void *b)
{
	const struct proc_mapping *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static int read_maps(struct proc_table *pt, uint32_t pid, struct map_set **out)
{
	struct map_set *set;
	char path[PATH_MAX];
	char *line = NULL;
	size_t len = 0, cap = 0;
	FILE *f;
	int err = 0;

	snprintf(path, sizeof(path), "%s/%u/maps", pt->root, pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	set = calloc(1, sizeof(*set));
	if (!set) {
		fclose(f);
		return -ENOMEM;
	}
	while (getline(&line, &len, f) > 0) {
		struct proc_mapping m;

		if (proc_maps_parse_line(line, &m) || m.perms[2] != 'x')
			continue;
		if (EMBER_RESERVE(set->maps, cap, set->n + 1)) {
			err = -ENOMEM;
			break;
		}
		m.path = strdup(m.path);
		if (!m.path) {
			err = -ENOMEM;
			break;
		}
		open_module(pt, pid, &m);
		set->maps[set->n++] = m;
	}
	free(line);
	fclose(f);
	if (err) {
		free_set(pt, pid, set, 0);
		return err;
	}
	qsort(set->maps, set->n, sizeof(*set->maps), map_cmp);
	*out = set;
	return 0;
}

/* Whether @a and @b (both sorted) hold the same mappings of the same files. */
static int same_maps(const struct map_set *a, const struct map_set *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++) {
		const struct proc_mapping *x = &a->maps[i], *y = &b->maps[i];

		if (x->start != y->start || x->end != y->end || x->offset != y->offset ||
		    x->dev != y->dev || x->ino != y->ino || x->module != y->module ||
		    strcmp(x->path, y->path) != 0)
			return 0;
	}
	return 1;
}

static struct proc *lookup(struct proc_table *pt, uint32_t pid)
{
	uint64_t *slot = htab__get(pt->procs, &pid, sizeof(pid), 0, 0, NULL);

	return slot ? (struct proc *)(uintptr_t)*slot : NULL;
}

int proc_table__load(struct proc_table *pt, uint32_t pid)
{
	struct proc *p = lookup(pt, pid);
	struct map_set *set = NULL;
	uint64_t *slot;
	int err, fresh = !p;

	err = read_maps(pt, pid, &set);
	if (err)
		return err;
	if (fresh) {
		p = calloc(1, sizeof(*p));
		slot = p ? htab__get(pt->procs, &pid, sizeof(pid), 1, 0, NULL) : NULL;
		if (!slot) {
			free(p);
			free_set(pt, pid, set, 1);
			return -ENOMEM;
		}
		*slot = (uintptr_t)p;
		p->pid = pid;
		pt->count++;
	}
	p->exited = 0;
	read_name(pt, p);
	p->nspid = read_nspid(pt, pid);
	if (cgroup_read(pt->root, pid, &p->container))
		memset(&p->container, 0, sizeof(p->container));
	/* Seen through the process's root, so a container's /tmp is the one read. */
	snprintf(p->perfmap, sizeof(p->perfmap), "%s/%u/root/tmp/perf-%u.map", pt->root, pid,
		 p->nspid);
	/*
	 * A re-read that finds nothing new (a walk's ask, a drain's rescan)
	 * keeps the current set: generations pile up only as mappings change.
	 */
	if (p->maps && same_maps(p->maps, set)) {
		free_set(pt, pid, set, 0);
	} else {
		for (size_t i = 0; pt->added && i < set->n; i++)
			pt->added(pt->hook_ctx, pid, &set->maps[i]);
		set->older = p->maps;
		p->maps = set;
	}
	if (pt->loaded)
		pt->loaded(pt->proc_hook_ctx, pid, p);
	return 0;
}

struct proc *proc_table__get(struct proc_table *pt, uint32_t pid)
{
	struct proc *p = lookup(pt, pid);

	if (p)
		return p;
	if (proc_table__load(pt, pid))
		return NULL;
	return lookup(pt, pid);
}

void proc_table__set_hooks(struct proc_table *pt, proc_map_fn added, proc_map_fn removed, void *ctx)
{
	pt->added = added;
	pt->removed = removed;
	pt->hook_ctx = ctx;
}

void proc_table__set_proc_hooks(struct proc_table *pt, proc_fn loaded, proc_fn gone, void *ctx)
{
	pt->loaded = loaded;
	pt->gone = gone;
	pt->proc_hook_ctx = ctx;
}

void proc_table__exited(struct proc_table *pt, uint32_t pid)
{
	struct proc *p = lookup(pt, pid);

	if (p)
		p->exited = 1;
}

static int alive(struct proc_table *pt, uint32_t pid)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%u/maps", pt->root, pid);
	return access(path, R_OK) == 0;
}

struct end_ctx {
	struct proc_table *pt;
	uint32_t *gone;
	size_t ngone;
};

static void end_interval_entry(const void *key, size_t len, uint64_t *value, void *arg)
{
	struct end_ctx *ctx = arg;
	struct proc *p = (struct proc *)(uintptr_t)*value;

	(void)key;
	(void)len;
	if (p->exited || !alive(ctx->pt, p->pid)) {
		ctx->gone[ctx->ngone++] = p->pid;
		return;
	}
	p->rescanned = 0;
	if (p->maps) {
		free_set(ctx->pt, p->pid, p->maps->older, 1);
		p->maps->older = NULL;
	}
}

void proc_table__end_interval(struct proc_table *pt)
{
	struct end_ctx ctx = {pt, calloc(pt->count + 1, sizeof(uint32_t)), 0};

	if (!ctx.gone)
		return; /* try again next interval */
	htab__for_each(pt->procs, end_interval_entry, &ctx);
	for (size_t i = 0; i < ctx.ngone; i++) {
		uint64_t *slot = htab__get(pt->procs, &ctx.gone[i], sizeof(uint32_t), 0, 0, NULL);

		free_proc_entry(NULL, 0, slot, pt);
		htab__del(pt->procs, &ctx.gone[i], sizeof(uint32_t));
		pt->count--;
	}
	free(ctx.gone);
}

size_t proc_table__count(const struct proc_table *pt)
{
	return pt->count;
}

static void add_bytes(const void *key, size_t len, uint64_t *value, void *arg)
{
	const struct proc *p = (const struct proc *)(uintptr_t)*value;
	size_t *sum = arg;

	*sum += sizeof(*p) + len + (p->exe ? strlen(p->exe) + 1 : 0);
	for (const struct map_set *set = p->maps; set; set = set->older) {
		*sum += sizeof(*set) + set->n * sizeof(*set->maps);
		for (size_t i = 0; i < set->n; i++)
			*sum += strlen(set->maps[i].path) + 1;
	}
}

size_t proc_table__bytes(const struct proc_table *pt)
{
	size_t sum = sizeof(*pt);

	htab__for_each(pt->procs, add_bytes, &sum);
	return sum;
}

const char *proc__name(const struct proc *p)
{
	return p->name;
}

const struct container_info *proc__container(const struct proc *p)
{
	return &p->container;
}

const struct proc_mapping *proc__mappings(const struct proc *p, size_t *n)
{
	*n = p->maps ? p->maps->n : 0;
	return p->maps ? p->maps->maps : NULL;
}

const char *proc__exe_path(const struct proc *p)
{
	return p->exe ? p->exe : "";
}

uint32_t proc__pid(const struct proc *p)
{
	return p->pid;
}

const char *proc__perfmap_path(const struct proc *p)
{
	return p->perfmap;
}

static const struct proc_mapping *find_in(const struct map_set *set, uint64_t addr)
{
	size_t lo = 0, hi = set->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (set->maps[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo && addr < set->maps[lo - 1].end)
		return &set->maps[lo - 1];
	return NULL;
}

const struct proc_mapping *proc__mapping_at(const struct proc *p, uint64_t addr)
{
	for (const struct map_set *set = p->maps; set; set = set->older) {
		const struct proc_mapping *m = find_in(set, addr);

		if (m)
			return m;
	}
	return NULL;
}

int proc__can_rescan(const struct proc *p)
{
	return !p->exited && !p->rescanned;
}

int proc_table__rescan(struct proc_table *pt, struct proc *p)
{
	if (!proc__can_rescan(p))
		return -EALREADY;
	p->rescanned = 1;
	return proc_table__load(pt, p->pid);
}

struct proc *proc_table__lookup(struct proc_table *pt, uint32_t pid)
{
	return lookup(pt, pid);
}
