// SPDX-License-Identifier: Apache-2.0
/*
 * The unwinder's bookkeeping (see unwind.h).
 *
 * Rows live in one BPF array; a file's table is copied in through an mmap of
 * just the pages it covers, unmapped again at once so the array never counts
 * in the agent's RSS. A batch update, the fallback where the array cannot be
 * mapped, costs the kernel a user copy and checks per row: at start-up, with
 * some 350k rows for everything running, it took a quarter of the agent's
 * CPU in a 15 s run.
 * Space in it is handed out first-fit from a sorted free list, and returned
 * when a file's last mapping goes; neighbouring free ranges merge.
 *
 * The trie wants prefixes, not ranges, so a mapping [start, end) is split
 * into the largest aligned power-of-two blocks that tile it: a page-aligned
 * range of a few MiB needs a few dozen at most.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <bpf/bpf.h>

#include "array.h"
#include "htab.h"
#include "log.h"
#include "proc.h"
#include "unwind.h"
#include "unwind_table.h"
#include "symbolizer/elf_file.h"
#include "symbolizer/symbolizer.h"

struct table {
	uint32_t first, n; /* n 0: the file has no usable table */
	unsigned long refs;
	char key[136];
	size_t keylen;
};

struct free_range {
	uint32_t first, n;
};

/* One executable mapping of one process (the same file at the same place). */
struct map_key {
	uint32_t pid, pad;
	uint64_t start, end, offset, dev, ino;
};

struct map_ref {
	struct map_key key;
	struct table *table;
	unsigned long refs;
};

/*
 * A range of a process's address space, whose trie prefixes belong to the
 * newest mapping placed there: a library unmapped and another mapped at the
 * same place (or an exec reusing addresses) must not lose its entries when
 * the old mapping's generation expires.
 */
struct range_key {
	uint32_t pid, pad;
	uint64_t start, end;
};

struct unwinder {
	struct symbolizer *sym;
	int rows_fd, trie_fd;
	int no_mmap; /* the rows array cannot be mapped: batch updates */

	uint32_t max_rows;
	struct free_range *free;
	size_t nfree, free_cap;
	struct htab *tables; /* file key -> struct table * */
	struct htab *maps;   /* struct map_key -> struct map_ref * */
	struct htab *owners; /* struct range_key -> the struct map_ref * installed there */
	struct unwinder_stats st;
};

struct unwinder *unwinder__new(struct symbolizer *sym, int rows_fd, uint32_t max_rows, int trie_fd)
{
	struct unwinder *u = calloc(1, sizeof(*u));
	int err = ENOMEM;

	if (!u)
		goto fail;
	u->sym = sym;
	u->rows_fd = rows_fd;
	u->trie_fd = trie_fd;
	u->max_rows = max_rows;
	u->st.rows_max = max_rows;
	u->free = malloc(sizeof(*u->free));
	u->tables = htab__new();
	u->maps = htab__new();
	u->owners = htab__new();
	if (!u->free || !u->tables || !u->maps || !u->owners)
		goto fail;
	u->free[0] = (struct free_range){0, max_rows};
	u->nfree = 1;
	u->free_cap = 1;
	return u;
fail:
	unwinder__free(u);
	errno = err;
	return NULL;
}

static void free_value(const void *key, size_t len, uint64_t *value, void *arg)
{
	free((void *)(uintptr_t)*value);
}

void unwinder__free(struct unwinder *u)
{
	if (!u)
		return;
	if (u->tables) {
		htab__for_each(u->tables, free_value, NULL);
		htab__free(u->tables);
	}
	if (u->maps) {
		htab__for_each(u->maps, free_value, NULL);
		htab__free(u->maps);
	}
	htab__free(u->owners);
	free(u->free);
	free(u);
}

/* Copies @n rows into the array from index @first through a mapping. Returns 0 or -errno. */
static int map_rows(struct unwinder *u, uint32_t first, const struct ember_row *rows, uint32_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t start = (size_t)first * sizeof(*rows), len = (size_t)n * sizeof(*rows);
	size_t off = start & ~(page - 1), span = (start - off + len + page - 1) & ~(page - 1);
	char *p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_SHARED, u->rows_fd, (off_t)off);

	if (p == MAP_FAILED)
		return -errno;
	memcpy(p + (start - off), rows, len);
	munmap(p, span);
	return 0;
}

/* Copies @n rows into the array from index @first. Returns 0 or -errno. */
static int write_rows(struct unwinder *u, uint32_t first, const struct ember_row *rows, uint32_t n)
{
	enum { BATCH = 8192 };
	uint32_t keys[BATCH];

	if (!u->no_mmap) {
		int err = map_rows(u, first, rows, n);

		if (!err)
			return 0;
		pr_debug("unwind rows: cannot map the array (%s); batch updates instead",
			 strerror(-err));
		u->no_mmap = 1;
	}

	for (uint32_t done = 0; done < n;) {
		uint32_t count = n - done < BATCH ? n - done : BATCH;

		for (uint32_t i = 0; i < count; i++)
			keys[i] = first + done + i;
		if (bpf_map_update_batch(u->rows_fd, keys, &rows[done], &count, NULL))
			return -errno;
		done += count;
	}
	return 0;
}

/* First fit. Returns 0 and the first row, or -ENOSPC. */
static int rows_alloc(struct unwinder *u, uint32_t n, uint32_t *first)
{
	for (size_t i = 0; i < u->nfree; i++) {
		if (u->free[i].n < n)
			continue;
		*first = u->free[i].first;
		u->free[i].first += n;
		u->free[i].n -= n;
		if (!u->free[i].n) {
			memmove(&u->free[i], &u->free[i + 1],
				(u->nfree - i - 1) * sizeof(*u->free));
			u->nfree--;
		}
		u->st.rows_used += n;
		return 0;
	}
	return -ENOSPC;
}

static void rows_release(struct unwinder *u, uint32_t first, uint32_t n)
{
	size_t i = 0;

	if (!n)
		return;
	while (i < u->nfree && u->free[i].first < first)
		i++;
	/* Merge with the range before and/or after. */
	if (i > 0 && u->free[i - 1].first + u->free[i - 1].n == first) {
		u->free[i - 1].n += n;
		if (i < u->nfree && first + n == u->free[i].first) {
			u->free[i - 1].n += u->free[i].n;
			memmove(&u->free[i], &u->free[i + 1],
				(u->nfree - i - 1) * sizeof(*u->free));
			u->nfree--;
		}
	} else if (i < u->nfree && first + n == u->free[i].first) {
		u->free[i].first = first;
		u->free[i].n += n;
	} else {
		if (EMBER_RESERVE(u->free, u->free_cap, u->nfree + 1))
			return; /* those rows stay lost to reuse; nothing breaks */
		memmove(&u->free[i + 1], &u->free[i], (u->nfree - i) * sizeof(*u->free));
		u->free[i] = (struct free_range){first, n};
		u->nfree++;
	}
	u->st.rows_used -= n;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The file's table, built and loaded on first use. NULL only on ENOMEM. */
static struct table *get_table(struct unwinder *u, struct sym_module *mod)
{
	const char *bid = sym_module__build_id(mod);
	struct unwind_table_stats ts;
	struct ember_row *rows = NULL;
	struct table *t;
	uint64_t *slot, t0;
	size_t n = 0;
	int err;

	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	if (bid[0]) {
		t->keylen = (size_t)snprintf(t->key, sizeof(t->key), "b:%s", bid);
	} else {
		uint64_t dev, ino;

		sym_module__identity(mod, &dev, &ino);
		t->keylen = (size_t)snprintf(t->key, sizeof(t->key), "i:%lx:%lx",
					     (unsigned long)dev, (unsigned long)ino);
	}
	slot = htab__get(u->tables, t->key, t->keylen, 0, 0, NULL);
	if (slot) {
		free(t);
		return (struct table *)(uintptr_t)*slot;
	}
	t0 = now_ns();
	err = unwind_table__build(elf_file__elf(sym_module__elf(mod)), &rows, &n, &ts);
	u->st.build_ns += now_ns() - t0;
	if (err || n == 0 || n > (1u << EMBER_ROW_SEARCH_STEPS)) {
		u->st.no_table++;
		n = 0;
	} else if (rows_alloc(u, (uint32_t)n, &t->first)) {
		u->st.table_full++;
		n = 0;
	} else {
		if (write_rows(u, t->first, rows, (uint32_t)n)) {
			rows_release(u, t->first, (uint32_t)n);
			u->st.table_full++;
			n = 0;
		} else {
			u->st.tables++;
		}
	}
	free(rows);
	t->n = (uint32_t)n;
	if (!htab__get(u->tables, t->key, t->keylen, 1, (uintptr_t)t, NULL)) {
		rows_release(u, t->first, t->n);
		free(t);
		return NULL;
	}
	return t;
}

static void put_table(struct unwinder *u, struct table *t)
{
	if (--t->refs)
		return;
	if (t->n)
		u->st.tables--;
	rows_release(u, t->first, t->n);
	htab__del(u->tables, t->key, t->keylen);
	free(t);
}

struct trie_op {
	struct unwinder *u;
	uint32_t pid;
	const struct ember_exec_map *val; /* NULL: delete */
};

static void trie_block(uint64_t start, unsigned int bits, void *arg)
{
	struct trie_op *op = arg;
	struct ember_lpm_key key = {
		.prefixlen = 32 + 64 - bits,
		.tgid_be = __builtin_bswap32(op->pid),
		.addr_be = __builtin_bswap64(start),
	};

	if (op->val) {
		if (bpf_map_update_elem(op->u->trie_fd, &key, op->val, BPF_ANY) == 0)
			op->u->st.trie_entries++;
	} else if (bpf_map_delete_elem(op->u->trie_fd, &key) == 0) {
		op->u->st.trie_entries--;
	}
}

/* Adds (@val) or deletes (NULL) the trie prefixes covering [start, end) of @pid. */
static void trie_range(struct unwinder *u, uint32_t pid, uint64_t start, uint64_t end,
		       const struct ember_exec_map *val)
{
	struct trie_op op = {u, pid, val};

	unwind_tile_range(start, end, trie_block, &op);
}

void unwinder__map_added(struct unwinder *u, uint32_t pid, const struct proc_mapping *m)
{
	struct map_key key = {.pid = pid,
			      .start = m->start,
			      .end = m->end,
			      .offset = m->offset,
			      .dev = m->dev,
			      .ino = m->ino};
	struct range_key range = {.pid = pid, .start = m->start, .end = m->end};
	struct ember_exec_map val = {0};
	struct map_ref *ref;
	uint64_t *slot;
	int added;

	slot = htab__get(u->maps, &key, sizeof(key), 1, 0, &added);
	if (!slot)
		return;
	if (!added) {
		((struct map_ref *)(uintptr_t)*slot)->refs++;
		return;
	}
	ref = calloc(1, sizeof(*ref));
	if (!ref) {
		htab__del(u->maps, &key, sizeof(key));
		return;
	}
	ref->key = key;
	ref->refs = 1;
	*slot = (uintptr_t)ref;
	u->st.mappings++;
	/* No file (JIT, anonymous code), or no bias: frame pointers, as with no entry. */
	if (!m->module ||
	    elf_file__bias(sym_module__elf(m->module), m->start, m->offset, (uint64_t *)&val.bias))
		return;
	ref->table = get_table(u, m->module);
	if (!ref->table)
		return;
	ref->table->refs++;
	val.start = m->start;
	val.end = m->end;
	val.first_row = ref->table->first;
	val.nrows = ref->table->n;
	if (!val.nrows)
		return;
	slot = htab__get(u->owners, &range, sizeof(range), 1, 0, NULL);
	if (!slot)
		return;
	*slot = (uintptr_t)ref;
	trie_range(u, pid, m->start, m->end, &val);
}

void unwinder__map_removed(struct unwinder *u, uint32_t pid, const struct proc_mapping *m)
{
	struct map_key key = {.pid = pid,
			      .start = m->start,
			      .end = m->end,
			      .offset = m->offset,
			      .dev = m->dev,
			      .ino = m->ino};
	struct range_key range = {.pid = pid, .start = m->start, .end = m->end};
	uint64_t *slot = htab__get(u->maps, &key, sizeof(key), 0, 0, NULL);
	struct map_ref *ref;

	if (!slot)
		return;
	ref = (struct map_ref *)(uintptr_t)*slot;
	if (--ref->refs)
		return;
	slot = htab__get(u->owners, &range, sizeof(range), 0, 0, NULL);
	if (slot && *slot == (uintptr_t)ref) {
		trie_range(u, pid, m->start, m->end, NULL);
		htab__del(u->owners, &range, sizeof(range));
	}
	if (ref->table)
		put_table(u, ref->table);
	free(ref);
	htab__del(u->maps, &key, sizeof(key));
	u->st.mappings--;
}

void unwinder__stats(const struct unwinder *u, struct unwinder_stats *st)
{
	*st = u->st;
}
