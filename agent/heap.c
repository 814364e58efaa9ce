// SPDX-License-Identifier: Apache-2.0
/*
 * Memory profiling's bookkeeping (see heap.h).
 *
 * Attaching. A file is checked for otel_memory notes once (by device and
 * inode), the first time a process maps it executable. A process that maps
 * one gets the memory programs attached for its pid only, through libbpf's
 * USDT support, which also raises the probes' semaphores in that process;
 * the links are kept per (process, file) and destroyed when the process
 * exits or stops mapping the file (an exec into a program without it).
 *
 * Live stacks. A live block names its stack by hash; the stack itself came
 * in the generation stack map of the drain that counted its allocation, and
 * is gone from the kernel after that drain. So, with --inuse, every
 * allocation stack drained is copied here, and kept while some live block
 * points at it: the pass at each interval's end marks the stacks it used
 * and forgets the rest.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "lib/array.h"
#include "lib/htab.h"
#include "lib/log.h"
#include "agent/heap.h"
#include "agent/proc.h"
#include "agent/sampler.h"
#include "agent/usdt.h"

#define PROVIDER "otel_memory"

enum file_kind {
	FILE_PROBES = 1,
	FILE_NONE = 2,
};

/* One file with probes that a process maps, and its two links. */
struct attached {
	uint64_t dev, ino;
	struct bpf_link *links[2];
	int mapped; /* seen in the mappings just read */
};

struct heap_proc {
	struct attached *a;
	size_t n, cap;
};

/* A (process, stack hash) pair: the key of kept stacks and of the pass's sums. */
struct stack_key {
	uint32_t pid;
	uint32_t pad;
	uint64_t hash;
};

struct kept {
	uint32_t n;
	uint32_t mark; /* the pass that last used it */
	uint64_t ips[];
};

struct group {
	struct stack_key key;
	int64_t objects, bytes;
};

struct heap {
	struct sampler *sampler;
	int inuse;
	struct htab *files;  /* (dev, ino) -> enum file_kind */
	struct htab *procs;  /* pid -> struct heap_proc * */
	struct htab *stacks; /* struct stack_key -> struct kept * */
	uint32_t mark;
	size_t stack_bytes, max_stack_bytes;
	struct heap_stats st;
	/* The pass's scratch. */
	struct htab *sums; /* struct stack_key -> index in groups */
	struct group *groups;
	size_t ngroups, groups_cap;
	int (*alive)(uint32_t pid, void *ctx);
	void *alive_ctx;
};

struct heap *heap__new(struct sampler *s, int inuse, size_t stack_bytes)
{
	struct heap *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->sampler = s;
	h->inuse = inuse;
	h->max_stack_bytes = stack_bytes;
	h->files = htab__new();
	h->procs = htab__new();
	h->stacks = htab__new();
	if (!h->files || !h->procs || !h->stacks) {
		heap__free(h);
		errno = ENOMEM;
		return NULL;
	}
	elf_version(EV_CURRENT);
	return h;
}

static void detach(struct attached *at)
{
	bpf_link__destroy(at->links[0]);
	bpf_link__destroy(at->links[1]);
	at->links[0] = at->links[1] = NULL;
}

static void free_proc(const void *key, size_t len, uint64_t *value, void *arg)
{
	struct heap_proc *hp = (struct heap_proc *)(uintptr_t)*value;

	(void)key;
	(void)len;
	(void)arg;
	for (size_t i = 0; i < hp->n; i++)
		detach(&hp->a[i]);
	free(hp->a);
	free(hp);
}

static void free_kept(const void *key, size_t len, uint64_t *value, void *arg)
{
	(void)key;
	(void)len;
	(void)arg;
	free((struct kept *)(uintptr_t)*value);
}

void heap__free(struct heap *h)
{
	if (!h)
		return;
	if (h->procs)
		htab__for_each(h->procs, free_proc, NULL);
	if (h->stacks)
		htab__for_each(h->stacks, free_kept, NULL);
	htab__free(h->files);
	htab__free(h->procs);
	htab__free(h->stacks);
	htab__free(h->sums);
	free(h->groups);
	free(h);
}

/* Whether @m's file has otel_memory probes: read once per file, through @pid's root. */
static int has_probes(struct heap *h, uint32_t pid, const struct proc_mapping *m)
{
	uint64_t key[2] = {m->dev, m->ino}, *v;
	char path[4096];
	int fd, n = 0;
	Elf *e;

	v = htab__get(h->files, key, sizeof(key), 0, 0, NULL);
	if (v)
		return *v == FILE_PROBES;
	snprintf(path, sizeof(path), "/proc/%u/root%s", pid, m->path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0; /* not cached: the next process that maps it may be readable */
	e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (e)
		n = usdt__count_probes(e, PROVIDER);
	elf_end(e);
	close(fd);
	h->st.files++;
	h->st.files_probes += n > 0;
	htab__get(h->files, key, sizeof(key), 1, n > 0 ? FILE_PROBES : FILE_NONE, NULL);
	return n > 0;
}

static struct heap_proc *get_proc(struct heap *h, uint32_t pid, int create)
{
	uint64_t *v = htab__get(h->procs, &pid, sizeof(pid), 0, 0, NULL);
	struct heap_proc *hp;

	if (v || !create)
		return v ? (struct heap_proc *)(uintptr_t)*v : NULL;
	hp = calloc(1, sizeof(*hp));
	if (!hp || !htab__get(h->procs, &pid, sizeof(pid), 1, (uintptr_t)hp, NULL)) {
		free(hp);
		return NULL;
	}
	return hp;
}

static void attach(struct heap *h, uint32_t pid, struct heap_proc *hp, const struct proc_mapping *m)
{
	struct attached *at;
	char path[4096];
	int err;

	for (size_t i = 0; i < hp->n; i++) {
		if (hp->a[i].dev == m->dev && hp->a[i].ino == m->ino) {
			hp->a[i].mapped = 1;
			return;
		}
	}
	if (array__reserve((void **)&hp->a, &hp->cap, hp->n + 1, sizeof(*hp->a)))
		return;
	at = &hp->a[hp->n];
	memset(at, 0, sizeof(*at));
	snprintf(path, sizeof(path), "/proc/%u/root%s", pid, m->path);
	err = sampler__attach_usdt(h->sampler, pid, path, at->links);
	if (err) {
		h->st.attach_fails++;
		pr_info("pid %u: cannot attach to the otel_memory probes in %s: %s", pid, m->path,
			strerror(-err));
		return;
	}
	at->dev = m->dev;
	at->ino = m->ino;
	at->mapped = 1;
	hp->n++;
	h->st.attached++;
	pr_debug("pid %u: attached to the otel_memory probes in %s", pid, m->path);
}

void heap__proc_loaded(struct heap *h, uint32_t pid, const struct proc_mapping *maps, size_t n)
{
	struct heap_proc *hp = get_proc(h, pid, 0);
	size_t kept = 0;

	for (size_t i = 0; hp && i < hp->n; i++)
		hp->a[i].mapped = 0;
	for (size_t i = 0; i < n; i++) {
		const struct proc_mapping *m = &maps[i];

		if (!m->ino || m->perms[2] != 'x' || m->path[0] != '/' || !has_probes(h, pid, m))
			continue;
		if (!hp && !(hp = get_proc(h, pid, 1)))
			return;
		attach(h, pid, hp, m);
	}
	if (!hp)
		return;
	/* Files it maps no more (an exec into another program): their links go. */
	for (size_t i = 0; i < hp->n; i++) {
		if (hp->a[i].mapped)
			hp->a[kept++] = hp->a[i];
		else
			detach(&hp->a[i]);
	}
	hp->n = kept;
	sampler__mem_attached(h->sampler, pid, kept > 0);
}

void heap__proc_gone(struct heap *h, uint32_t pid)
{
	uint64_t *v = htab__get(h->procs, &pid, sizeof(pid), 0, 0, NULL);

	sampler__forget_live(h->sampler, pid);
	if (!v)
		return;
	sampler__mem_attached(h->sampler, pid, 0);
	free_proc(NULL, 0, v, NULL);
	htab__del(h->procs, &pid, sizeof(pid));
}

void heap__keep_stack(struct heap *h, uint32_t pid, uint64_t hash, const uint64_t *ips, uint32_t n)
{
	struct stack_key key = {.pid = pid, .hash = hash};
	struct kept *k;
	int added = 0;
	uint64_t *v;

	if (!h->inuse || !hash || !n)
		return;
	if (htab__get(h->stacks, &key, sizeof(key), 0, 0, NULL))
		return;
	if (h->stack_bytes + sizeof(*k) + n * sizeof(*ips) > h->max_stack_bytes) {
		h->st.stacks_full++;
		return;
	}
	k = malloc(sizeof(*k) + n * sizeof(*ips));
	if (!k)
		return;
	k->n = n;
	k->mark = h->mark;
	memcpy(k->ips, ips, n * sizeof(*ips));
	v = htab__get(h->stacks, &key, sizeof(key), 1, (uintptr_t)k, &added);
	if (!v || !added) {
		free(k);
		return;
	}
	h->stack_bytes += sizeof(*k) + n * sizeof(*ips);
}

static int add_live(const struct ember_live_key *lk, const struct ember_live *lv, void *ctx)
{
	struct heap *h = ctx;
	struct stack_key key = {.pid = lk->tgid, .hash = lv->ustack};
	uint64_t *idx;
	int added = 0;

	if (!h->alive(lk->tgid, h->alive_ctx)) {
		h->st.live_dropped++;
		return 1;
	}
	h->st.live++;
	idx = htab__get(h->sums, &key, sizeof(key), 1, h->ngroups, &added);
	if (!idx)
		return 0;
	if (added) {
		if (array__reserve((void **)&h->groups, &h->groups_cap, h->ngroups + 1,
				   sizeof(*h->groups))) {
			htab__del(h->sums, &key, sizeof(key));
			return 0;
		}
		h->groups[h->ngroups++] = (struct group){.key = key};
	}
	h->groups[*idx].objects += (int64_t)lv->objects;
	h->groups[*idx].bytes += (int64_t)lv->bytes;
	return 0;
}

struct sweep {
	uint32_t mark;
	struct stack_key *old;
	size_t n, cap;
};

static void find_unused(const void *key, size_t len, uint64_t *value, void *arg)
{
	struct sweep *sw = arg;
	struct kept *k = (struct kept *)(uintptr_t)*value;

	(void)len;
	if (k->mark == sw->mark ||
	    array__reserve((void **)&sw->old, &sw->cap, sw->n + 1, sizeof(*sw->old)))
		return;
	memcpy(&sw->old[sw->n++], key, sizeof(*sw->old));
}

int heap__inuse(struct heap *h, int (*alive)(uint32_t pid, void *ctx), heap_inuse_fn fn, void *ctx)
{
	struct sweep sw = {0};
	int err = 0;

	if (!h->inuse)
		return 0;
	htab__free(h->sums);
	h->sums = htab__new();
	if (!h->sums)
		return -ENOMEM;
	h->ngroups = 0;
	h->alive = alive;
	h->alive_ctx = ctx;
	h->mark++;
	h->st.live = h->st.live_pending = 0;
	if (sampler__live(h->sampler, add_live, h) < 0)
		return 0; /* nothing kept in the kernel to sum */
	for (size_t i = 0; i < h->ngroups && !err; i++) {
		const struct group *g = &h->groups[i];
		uint64_t *v = htab__get(h->stacks, &g->key, sizeof(g->key), 0, 0, NULL);
		struct kept *k = v ? (struct kept *)(uintptr_t)*v : NULL;

		/* Allocated since the last drain: its stack comes with the next one. */
		if (!k) {
			h->st.live_pending++;
			continue;
		}
		k->mark = h->mark;
		err = fn(g->key.pid, k->ips, k->n,
			 (g->objects + EMBER_MEM_OBJ_SCALE / 2) / EMBER_MEM_OBJ_SCALE, g->bytes,
			 ctx);
	}
	/*
	 * Stacks no live block points at. One allocated since the last drain
	 * is not among them: its stack is not here yet either.
	 */
	sw.mark = h->mark;
	htab__for_each(h->stacks, find_unused, &sw);
	for (size_t i = 0; i < sw.n; i++) {
		uint64_t *v = htab__get(h->stacks, &sw.old[i], sizeof(sw.old[i]), 0, 0, NULL);
		struct kept *k = v ? (struct kept *)(uintptr_t)*v : NULL;

		if (!k)
			continue;
		h->stack_bytes -= sizeof(*k) + k->n * sizeof(k->ips[0]);
		free(k);
		htab__del(h->stacks, &sw.old[i], sizeof(sw.old[i]));
	}
	free(sw.old);
	return err;
}

void heap__stats(const struct heap *h, struct heap_stats *st)
{
	*st = h->st;
	st->procs = htab__count(h->procs);
	st->stacks = htab__count(h->stacks);
	st->bytes = h->stack_bytes + htab__bytes(h->files) + htab__bytes(h->procs) +
		    htab__bytes(h->stacks) + h->groups_cap * sizeof(*h->groups);
}
