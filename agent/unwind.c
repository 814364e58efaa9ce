// SPDX-License-Identifier: Apache-2.0
/*
 * The unwinder's bookkeeping (see unwind.h).
 *
 * Two BPF arrays hold the tables. The chunks array has one slot per chunk of
 * every mapped executable file, EMBER_CHUNK_BYTES of its code each; the
 * agent keeps it mapped and writes a slot's word in place, so a walk sees a
 * chunk's rows appear (or go) in one 8-byte store. The rows array holds the
 * rows of the chunks that were built; a chunk's rows are copied in through
 * an mmap of just the pages they cover, unmapped again at once so the array
 * never counts in the agent's RSS (a batch update, the fallback where the
 * array cannot be mapped, costs a user copy and checks per row).
 *
 * Why chunks, built on demand: building every mapped file's table at start
 * gave clang++ ~1.8M rows for libLLVM and libclang-cpp alone, more than the
 * whole budget, and most of that code never runs in a given workload. A
 * walk that lands in an unbuilt chunk takes a frame-pointer step and asks
 * for the chunk (once: it sets the slot's requested flag); the event loop
 * builds queued chunks between drains, a few milliseconds each, so even a
 * library of 100 MB never holds the loop for longer than one chunk.
 *
 * Space in both arrays is handed out first-fit from sorted free lists.
 * Freed space does not go back to the free list at once: a walk on another
 * CPU may have read a slot or a trie entry a moment before it was cleared
 * and still be reading the rows behind it. Freed ranges wait in limbo, and
 * before limbo is reused the agent waits for every program run in flight to
 * end (an RCU grace period, through the sampler). When the rows array is
 * full, the chunks walked least recently (their used stamp, an epoch the
 * agent bumps every drain) are evicted, never one walked in this epoch or
 * the one before; a chunk that still finds no room is counted and may be
 * asked for again after the next drain.
 *
 * The trie wants prefixes, not ranges, so a mapping [start, end) is split
 * into the largest aligned power-of-two blocks that tile it: a page-aligned
 * range of a few MiB needs a few dozen at most.
 */
#include <errno.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <bpf/bpf.h>

#include "lib/array.h"
#include "lib/htab.h"
#include "lib/log.h"
#include "symbolizer/elf_file.h"
#include "symbolizer/symbolizer.h"
#include "agent/proc.h"
#include "agent/unwind.h"
#include "agent/unwind_table.h"

#define CHUNK_NO_TABLE EMBER_CHUNK_NO_TABLE
/* Drains (seconds) after an eviction during which nothing is built ahead of walks. */
#define SPARE_QUIET_EPOCHS 30
/* A chunk that was built and holds no rows (no FDE covers it): first row 2, no rows. */
#define CHUNK_EMPTY 2ull

struct range {
	uint32_t first, n;
};

/* Chunk slots waiting to be built, oldest first. */
struct slot_queue {
	uint32_t *v;
	size_t n, cap, head;
};

/* A first-fit allocator over [0, max) with a limbo for freed ranges (see above). */
struct ranges {
	struct range *free, *limbo;
	size_t nfree, free_cap, nlimbo, limbo_cap;
	size_t used;
};

/* One executable file: its chunk slots and what they are built from. */
struct table {
	char key[136];
	size_t keylen;
	char name[64]; /* the file's base name, for reports */
	unsigned long refs;
	uint32_t idle_since;	   /* the epoch its last mapping went, while refs is 0 */
	uint32_t built_epoch;	   /* the epoch of its last chunk build */
	struct sym_module *mod;	   /* held: the file the rows come from */
	struct unwind_source *src; /* opened at the first build */
	int failed;		   /* the file has no usable .eh_frame */
	int prefetched;		   /* its other chunks were queued for building in spare room */
	uint32_t first_slot, nslots, chunk0;
	uint64_t refused, refused_rows; /* builds refused for lack of room */
};

/* The agent's side of one chunk slot. */
struct chunk {
	struct table *table; /* NULL: a free slot */
	uint32_t first, n;   /* its rows, when loaded */
	uint8_t loaded, queued, built_before, refused, spare;
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
	struct unwinder_maps maps;
	int no_mmap;		   /* the rows array cannot be mapped: batch updates */
	struct ember_chunk *slots; /* the chunks array, mapped */
	struct chunk *chunks;	   /* the agent's side, one per slot */
	struct ranges rows, slot_ranges;
	struct slot_queue asked; /* slots walks asked for */
	struct slot_queue spare; /* slots to build while there is room to spare */
	uint32_t epoch;
	uint32_t last_eviction; /* the epoch of the last one */
	struct htab *tables;	/* file key -> struct table * */
	struct htab *refs;	/* struct map_key -> struct map_ref * */
	struct htab *owners;	/* struct range_key -> the struct map_ref * installed there */
	unsigned long sources;	/* tables with an unwind source open */
	int (*make_room)(void *ctx, uint64_t want);
	void *room_ctx;
	struct unwinder_stats st;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* --- ranges ---------------------------------------------------------------- */

static int ranges_init(struct ranges *r, uint32_t first, uint32_t n)
{
	r->free = malloc(sizeof(*r->free));
	if (!r->free)
		return -ENOMEM;
	r->free[0] = (struct range){first, n};
	r->nfree = n ? 1 : 0;
	r->free_cap = 1;
	return 0;
}

static void ranges_fini(struct ranges *r)
{
	free(r->free);
	free(r->limbo);
}

/* First fit. Returns 0 and the first index, or -ENOSPC. */
static int ranges_alloc(struct ranges *r, uint32_t n, uint32_t *first)
{
	for (size_t i = 0; i < r->nfree; i++) {
		if (r->free[i].n < n)
			continue;
		*first = r->free[i].first;
		r->free[i].first += n;
		r->free[i].n -= n;
		if (!r->free[i].n) {
			memmove(&r->free[i], &r->free[i + 1],
				(r->nfree - i - 1) * sizeof(*r->free));
			r->nfree--;
		}
		r->used += n;
		return 0;
	}
	return -ENOSPC;
}

/* Puts [first, first + n) back on the sorted free list, merging with its neighbours. */
static void ranges_free(struct ranges *r, uint32_t first, uint32_t n)
{
	size_t i = 0;

	while (i < r->nfree && r->free[i].first < first)
		i++;
	if (i > 0 && r->free[i - 1].first + r->free[i - 1].n == first) {
		r->free[i - 1].n += n;
		if (i < r->nfree && first + n == r->free[i].first) {
			r->free[i - 1].n += r->free[i].n;
			memmove(&r->free[i], &r->free[i + 1],
				(r->nfree - i - 1) * sizeof(*r->free));
			r->nfree--;
		}
	} else if (i < r->nfree && first + n == r->free[i].first) {
		r->free[i].first = first;
		r->free[i].n += n;
	} else {
		if (EMBER_RESERVE(r->free, r->free_cap, r->nfree + 1))
			return; /* that range stays lost to reuse; nothing breaks */
		memmove(&r->free[i + 1], &r->free[i], (r->nfree - i) * sizeof(*r->free));
		r->free[i] = (struct range){first, n};
		r->nfree++;
	}
}

/* Frees a range into limbo: reusable only after ranges_settle(). */
static void ranges_put(struct ranges *r, uint32_t first, uint32_t n)
{
	if (!n)
		return;
	r->used -= n;
	if (EMBER_RESERVE(r->limbo, r->limbo_cap, r->nlimbo + 1))
		return;
	r->limbo[r->nlimbo++] = (struct range){first, n};
}

static void ranges_settle(struct ranges *r)
{
	for (size_t i = 0; i < r->nlimbo; i++)
		ranges_free(r, r->limbo[i].first, r->limbo[i].n);
	r->nlimbo = 0;
}

/* Waits out every walk in flight, then lets limbo be reused. */
static void settle(struct unwinder *u)
{
	uint64_t t0 = now_ns();

	if (u->maps.wait_programs)
		u->maps.wait_programs(u->maps.ctx);
	ranges_settle(&u->rows);
	ranges_settle(&u->slot_ranges);
	u->st.waits++;
	u->st.wait_ns += now_ns() - t0;
}

/* ranges_alloc, settling limbo first when that is what stands in the way. */
static int alloc_settled(struct unwinder *u, struct ranges *r, uint32_t n, uint32_t *first)
{
	if (ranges_alloc(r, n, first) == 0)
		return 0;
	if (!r->nlimbo)
		return -ENOSPC;
	settle(u);
	return ranges_alloc(r, n, first);
}

/* --- rows -------------------------------------------------------------------- */

/* Copies @n rows into the array from index @first through a mapping. Returns 0 or -errno. */
static int map_rows(struct unwinder *u, uint32_t first, const struct ember_row *rows, uint32_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t start = (size_t)first * sizeof(*rows), len = (size_t)n * sizeof(*rows);
	size_t off = start & ~(page - 1), span = (start - off + len + page - 1) & ~(page - 1);
	char *p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_SHARED, u->maps.rows_fd, (off_t)off);

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
		if (bpf_map_update_batch(u->maps.rows_fd, keys, &rows[done], &count, NULL))
			return -errno;
		done += count;
	}
	return 0;
}

/* --- slots ------------------------------------------------------------------ */

static void set_slot(struct unwinder *u, uint32_t slot, uint64_t rows, uint32_t requested)
{
	struct ember_chunk *c = &u->slots[slot];

	__atomic_store_n(&c->rows, rows, __ATOMIC_RELEASE);
	if (rows > CHUNK_EMPTY)
		__atomic_store_n(&c->used, u->epoch, __ATOMIC_RELAXED);
	__atomic_store_n(&c->requested, requested, __ATOMIC_RELAXED);
}

/* Drops a loaded chunk's rows (into limbo) and marks it unbuilt. */
static void unload(struct unwinder *u, uint32_t slot)
{
	struct chunk *c = &u->chunks[slot];

	if (!c->loaded)
		return;
	set_slot(u, slot, 0, 0);
	ranges_put(&u->rows, c->first, c->n);
	c->loaded = 0;
	c->built_before = 1;
	c->n = 0;
	u->st.chunks_loaded--;
}

struct victim {
	uint32_t slot, age;
};

static int victim_cmp(const void *a, const void *b)
{
	const struct victim *x = a, *y = b;

	return x->age > y->age ? -1 : x->age < y->age;
}

/*
 * Evicts the least recently walked chunks, not walked in this epoch or the
 * one before, until their rows add up to @want. Returns how many went.
 */
static size_t evict(struct unwinder *u, uint32_t want, uint32_t keep)
{
	struct victim *v = NULL;
	size_t nv = 0, cap = 0, gone = 0;
	uint64_t freed = 0;

	for (uint32_t s = 1; s < u->maps.max_chunks; s++) {
		uint32_t used, age;

		if (!u->chunks[s].loaded || s == keep)
			continue;
		used = __atomic_load_n(&u->slots[s].used, __ATOMIC_RELAXED);
		age = u->epoch - used;
		if (age < 2)
			continue;
		if (EMBER_RESERVE(v, cap, nv + 1))
			break;
		v[nv++] = (struct victim){s, age};
	}
	if (nv)
		qsort(v, nv, sizeof(*v), victim_cmp);
	/*
	 * At least a 64th of the array at once: reusing the rows means a wait
	 * for the walks in flight (milliseconds), paid once per batch.
	 */
	if (want < u->maps.max_rows / 64)
		want = u->maps.max_rows / 64;
	for (size_t i = 0; i < nv && freed < want; i++) {
		freed += u->chunks[v[i].slot].n;
		unload(u, v[i].slot);
		gone++;
	}
	free(v);
	u->st.evictions += gone;
	if (gone)
		u->last_eviction = u->epoch;
	return gone;
}

/* Room for @n rows, evicting when the array is full. Returns 0 or -ENOSPC. */
static int rows_room(struct unwinder *u, uint32_t n, uint32_t keep, uint32_t *first)
{
	for (int round = 0; round < 4; round++) {
		if (alloc_settled(u, &u->rows, n, first) == 0)
			return 0;
		if (!evict(u, n, keep))
			return -ENOSPC;
	}
	return alloc_settled(u, &u->rows, n, first);
}

/* The file's executable address range [*lo, *hi). Returns 0, or -ENOENT for none. */
static int exec_range(Elf *elf, uint64_t *lo, uint64_t *hi)
{
	size_t nph = 0;

	*lo = UINT64_MAX;
	*hi = 0;
	if (elf_getphdrnum(elf, &nph))
		return -ENOENT;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
			continue;
		if (ph.p_vaddr < *lo)
			*lo = ph.p_vaddr;
		if (ph.p_vaddr + ph.p_memsz > *hi)
			*hi = ph.p_vaddr + ph.p_memsz;
	}
	return *lo < *hi ? 0 : -ENOENT;
}

/* Marks every slot of @t: the file has no usable table, and none will be built. */
static void table_failed(struct unwinder *u, struct table *t, int err)
{
	t->failed = 1;
	u->st.no_table++;
	pr_debug("unwind: %s: no usable .eh_frame (%s); frame pointers there", t->name,
		 strerror(-err));
	for (uint32_t i = 0; i < t->nslots; i++)
		set_slot(u, t->first_slot + i, CHUNK_NO_TABLE, 1);
}

/*
 * Whether @n more rows may go to chunks built ahead of the walks: a quarter
 * of the array stays free for the chunks walks ask for, and nothing is built
 * ahead for a while after an eviction (the working set is then as large as
 * the array).
 */
static int spare_room(const struct unwinder *u, size_t n)
{
	return u->rows.used + n <= u->maps.max_rows / 4 * 3 &&
	       u->epoch - u->last_eviction > SPARE_QUIET_EPOCHS;
}

/*
 * Builds one chunk's rows and publishes them. @spare: only into free room,
 * evicting nothing, and stamped as long unused so that it is the first to go.
 * Returns 0 (built, or nothing to build), -ENOSPC, or -errno.
 */
static int build_chunk(struct unwinder *u, uint32_t slot, int spare)
{
	struct chunk *c = &u->chunks[slot];
	struct table *t = c->table;
	struct ember_row *rows = NULL;
	uint64_t lo, t0 = now_ns(), dt;
	uint32_t first = 0;
	size_t n = 0;
	int err;

	if (!t || c->loaded || t->failed)
		return 0;
	if (spare && !spare_room(u, 0))
		return -ENOSPC; /* before the build, not after it */
	if (!t->src) {
		t->src = unwind_source__new(elf_file__elf(sym_module__elf(t->mod)));
		if (!t->src) {
			err = -errno;
			table_failed(u, t, err);
			return err;
		}
		u->sources++;
		if (u->make_room)
			u->make_room(u->room_ctx, unwind_source__max_bytes(t->src));
	}
	t->built_epoch = u->epoch;
	lo = ((uint64_t)t->chunk0 + (slot - t->first_slot)) << EMBER_CHUNK_SHIFT;
	err = unwind_source__build(t->src, lo, lo + EMBER_CHUNK_BYTES, &rows, &n, NULL);
	dt = now_ns() - t0;
	u->st.build_ns += dt;
	if (dt > u->st.build_max_ns)
		u->st.build_max_ns = dt;
	if (err) {
		/* Out of memory: leave it unbuilt, to be asked for again. */
		set_slot(u, slot, 0, 0);
		return err;
	}
	if (!n) {
		u->st.builds++;
		set_slot(u, slot, CHUNK_EMPTY, 1);
		free(rows);
		return 0;
	}
	if (spare) {
		err = spare_room(u, n) ? ranges_alloc(&u->rows, (uint32_t)n, &first) : -ENOSPC;
		if (err) {
			free(rows);
			return err;
		}
	} else {
		err = rows_room(u, (uint32_t)n, slot, &first);
	}
	if (!err && write_rows(u, first, rows, (uint32_t)n)) {
		ranges_put(&u->rows, first, (uint32_t)n);
		err = -EIO;
	}
	if (err) {
		u->st.no_room++;
		t->refused++;
		t->refused_rows += n;
		c->refused = 1; /* requested stays set until the next tick */
		free(rows);
		return err;
	}
	free(rows);
	u->st.builds++;
	if (c->built_before)
		u->st.rebuilds++;
	c->first = first;
	c->n = (uint32_t)n;
	c->loaded = 1;
	c->refused = 0;
	u->st.chunks_loaded++;
	set_slot(u, slot, (uint64_t)first | (uint64_t)n << 32, 1);
	if (spare)
		__atomic_store_n(&u->slots[slot].used, u->epoch - 2, __ATOMIC_RELAXED);
	return 0;
}

/* Appends @slot. Returns 0 or -ENOMEM. */
static int queue_push(struct slot_queue *q, uint32_t slot)
{
	if (q->head == q->n) {
		q->head = q->n = 0;
	} else if (q->head > 1024 && q->head * 2 > q->n) {
		memmove(q->v, q->v + q->head, (q->n - q->head) * sizeof(*q->v));
		q->n -= q->head;
		q->head = 0;
	}
	if (EMBER_RESERVE(q->v, q->cap, q->n + 1))
		return -ENOMEM;
	q->v[q->n++] = slot;
	return 0;
}

/* Queues every unbuilt chunk of @t to be built in spare room. */
static void prefetch(struct unwinder *u, struct table *t)
{
	t->prefetched = 1;
	for (uint32_t i = 0; i < t->nslots; i++) {
		uint32_t s = t->first_slot + i;
		struct chunk *c = &u->chunks[s];

		if (c->loaded || c->spare || c->queued || queue_push(&u->spare, s))
			continue;
		c->spare = 1;
	}
}

static void want_table(const void *key, size_t len, uint64_t *value, void *arg)
{
	struct table *t = (struct table *)(uintptr_t)*value;

	if (!t->failed && !t->prefetched)
		prefetch(arg, t);
}

void unwinder__want_all(struct unwinder *u)
{
	htab__for_each(u->tables, want_table, u);
}

void unwinder__request(struct unwinder *u, uint32_t slot)
{
	struct chunk *c;

	if (slot == 0 || slot >= u->maps.max_chunks)
		return;
	c = &u->chunks[slot];
	if (!c->table || c->loaded || c->queued || c->table->failed)
		return; /* a second CPU's request, or one for a slot freed since */
	if (queue_push(&u->asked, slot)) {
		set_slot(u, slot, 0, 0); /* ask again later */
		return;
	}
	c->queued = 1;
	u->st.requests++;
}

void unwinder__set_make_room(struct unwinder *u, int (*make_room)(void *ctx, uint64_t want),
			     void *ctx)
{
	u->make_room = make_room;
	u->room_ctx = ctx;
}

static void close_source(const void *key, size_t len, uint64_t *value, void *arg)
{
	struct table *t = (struct table *)(uintptr_t)*value;
	struct unwinder *u = arg;

	if (!t->src || u->epoch - t->built_epoch < UNWIND_SOURCE_IDLE_EPOCHS)
		return;
	unwind_source__free(t->src);
	t->src = NULL;
	u->sources--;
}

/*
 * The unwind sources no build used for a while go. libdw keeps every FDE
 * it has parsed (it looks libLLVM's up by a linear walk, not through
 * .eh_frame_hdr, so each one before the address asked for), until the
 * handle ends: a table built whole came to 7.2 MiB for libLLVM-14. A
 * build after this opens the source again (a sort of the FDE starts and a
 * scan of .eh_frame: 12 ms for libLLVM-14).
 */
static void close_idle_sources(struct unwinder *u)
{
	if (u->sources)
		htab__for_each(u->tables, close_source, u);
}

size_t unwinder__work(struct unwinder *u, uint64_t budget_ns)
{
	uint64_t t0 = now_ns(),
		 deadline = budget_ns > UINT64_MAX - t0 ? UINT64_MAX : t0 + budget_ns;

	for (;;) {
		struct slot_queue *q = u->asked.head < u->asked.n ? &u->asked : &u->spare;
		uint32_t slot;

		if (q->head == q->n)
			break;
		slot = q->v[q->head++];
		if (q == &u->asked) {
			u->chunks[slot].queued = 0;
			if (build_chunk(u, slot, 0) == 0 && u->chunks[slot].table &&
			    !u->chunks[slot].table->prefetched)
				prefetch(u, u->chunks[slot].table);
		} else {
			u->chunks[slot].spare = 0;
			/* No room to spare: the rest waits until walks ask for it. */
			if (build_chunk(u, slot, 1) == -ENOSPC) {
				while (u->spare.head < u->spare.n)
					u->chunks[u->spare.v[u->spare.head++]].spare = 0;
			}
		}
		if (now_ns() >= deadline)
			break;
	}
	return u->asked.n - u->asked.head + u->spare.n - u->spare.head;
}

static size_t drop_idle(struct unwinder *u, uint32_t min_age);

void unwinder__tick(struct unwinder *u)
{
	u->epoch++;
	drop_idle(u, UNWIND_TABLE_IDLE_EPOCHS);
	close_idle_sources(u);
	if (u->maps.epoch)
		__atomic_store_n(u->maps.epoch, u->epoch, __ATOMIC_RELAXED);
	for (uint32_t s = 1; s < u->maps.max_chunks; s++) {
		if (!u->chunks[s].refused)
			continue;
		u->chunks[s].refused = 0;
		set_slot(u, s, 0, 0);
	}
}

/* --- files and mappings ----------------------------------------------------------- */

struct unwinder *unwinder__new(struct symbolizer *sym, const struct unwinder_maps *maps)
{
	struct unwinder *u = calloc(1, sizeof(*u));
	size_t bytes = (size_t)maps->max_chunks * sizeof(struct ember_chunk);
	int err = ENOMEM;

	if (!u)
		goto fail;
	u->sym = sym;
	u->maps = *maps;
	u->slots = MAP_FAILED;
	if (maps->max_chunks < 2) {
		err = EINVAL;
		goto fail;
	}
	u->slots = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, maps->chunks_fd, 0);
	if (u->slots == MAP_FAILED) {
		err = errno;
		goto fail;
	}
	u->chunks = calloc(maps->max_chunks, sizeof(*u->chunks));
	u->tables = htab__new();
	u->refs = htab__new();
	u->owners = htab__new();
	if (!u->chunks || !u->tables || !u->refs || !u->owners ||
	    ranges_init(&u->rows, 0, maps->max_rows) ||
	    /* Slot 0 is never handed out: the walker's "no cached row" value. */
	    ranges_init(&u->slot_ranges, 1, maps->max_chunks - 1))
		goto fail;
	u->last_eviction = 0u - SPARE_QUIET_EPOCHS - 1; /* none yet */
	u->st.rows_max = maps->max_rows;
	u->st.slots_max = maps->max_chunks - 1;
	return u;
fail:
	unwinder__free(u);
	errno = err;
	return NULL;
}

static void free_table(const void *key, size_t len, uint64_t *value, void *arg)
{
	struct unwinder *u = arg;
	struct table *t = (struct table *)(uintptr_t)*value;

	unwind_source__free(t->src);
	symbolizer__put_module(u->sym, t->mod);
	free(t);
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
		htab__for_each(u->tables, free_table, u);
		htab__free(u->tables);
	}
	if (u->refs) {
		htab__for_each(u->refs, free_value, NULL);
		htab__free(u->refs);
	}
	htab__free(u->owners);
	if (u->slots != MAP_FAILED && u->slots)
		munmap(u->slots, (size_t)u->maps.max_chunks * sizeof(struct ember_chunk));
	free(u->chunks);
	free(u->asked.v);
	free(u->spare.v);
	ranges_fini(&u->rows);
	ranges_fini(&u->slot_ranges);
	free(u);
}

/* The file's table, its slots given out on first use. NULL on ENOMEM. */
static struct table *get_table(struct unwinder *u, const struct proc_mapping *m)
{
	struct sym_module *mod = m->module;
	const char *bid = sym_module__build_id(mod), *base = strrchr(m->path, '/');
	uint64_t *slot, lo, hi;
	struct table *t;
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
	snprintf(t->name, sizeof(t->name), "%s", base ? base + 1 : m->path);
	err = exec_range(elf_file__elf(sym_module__elf(mod)), &lo, &hi);
	if (!err && (hi - 1) >> EMBER_CHUNK_SHIFT > UINT32_MAX)
		err = -E2BIG;
	if (!err) {
		t->chunk0 = (uint32_t)(lo >> EMBER_CHUNK_SHIFT);
		t->nslots = (uint32_t)(((hi - 1) >> EMBER_CHUNK_SHIFT) - t->chunk0 + 1);
		if (alloc_settled(u, &u->slot_ranges, t->nslots, &t->first_slot) &&
		    (!drop_idle(u, 0) ||
		     alloc_settled(u, &u->slot_ranges, t->nslots, &t->first_slot))) {
			u->st.no_slots++;
			t->nslots = 0;
		}
	}
	if (!t->nslots) {
		t->failed = 1;
		u->st.no_table++;
	}
	t->mod = symbolizer__hold_module(u->sym, mod);
	for (uint32_t i = 0; i < t->nslots; i++) {
		u->chunks[t->first_slot + i] = (struct chunk){.table = t};
		set_slot(u, t->first_slot + i, 0, 0);
	}
	if (!htab__get(u->tables, t->key, t->keylen, 1, (uintptr_t)t, NULL)) {
		for (uint32_t i = 0; i < t->nslots; i++)
			u->chunks[t->first_slot + i].table = NULL;
		ranges_put(&u->slot_ranges, t->first_slot, t->nslots);
		symbolizer__put_module(u->sym, t->mod);
		free(t);
		return NULL;
	}
	u->st.tables++;
	return t;
}

/* Frees @t, its rows and its slots: no mapping of it is left. */
static void drop_table(struct unwinder *u, struct table *t)
{
	for (uint32_t i = 0; i < t->nslots; i++) {
		uint32_t s = t->first_slot + i;

		unload(u, s);
		set_slot(u, s, 0, 0);
		u->chunks[s] = (struct chunk){0};
	}
	ranges_put(&u->slot_ranges, t->first_slot, t->nslots);
	if (t->failed)
		u->st.no_table--;
	u->st.tables--;
	htab__del(u->tables, t->key, t->keylen);
	if (t->src)
		u->sources--;
	unwind_source__free(t->src);
	symbolizer__put_module(u->sym, t->mod);
	free(t);
}

/* The last mapping of @t went: it stays, idle, for UNWIND_TABLE_IDLE_EPOCHS. */
static void put_table(struct unwinder *u, struct table *t)
{
	if (--t->refs)
		return;
	t->idle_since = u->epoch;
}

struct idle_scan {
	struct table **v;
	size_t n, cap;
	uint32_t min_age, epoch;
};

static void find_idle(const void *key, size_t len, uint64_t *value, void *arg)
{
	struct table *t = (struct table *)(uintptr_t)*value;
	struct idle_scan *sc = arg;

	if (t->refs || sc->epoch - t->idle_since < sc->min_age)
		return;
	if (!EMBER_RESERVE(sc->v, sc->cap, sc->n + 1))
		sc->v[sc->n++] = t;
}

/* Frees the tables idle for @min_age epochs or more. Returns how many. */
static size_t drop_idle(struct unwinder *u, uint32_t min_age)
{
	struct idle_scan sc = {.min_age = min_age, .epoch = u->epoch};

	/* Collected first: the table map cannot change under its own walk. */
	htab__for_each(u->tables, find_idle, &sc);
	for (size_t i = 0; i < sc.n; i++)
		drop_table(u, sc.v[i]);
	free(sc.v);
	return sc.n;
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
		if (bpf_map_update_elem(op->u->maps.trie_fd, &key, op->val, BPF_ANY) == 0)
			op->u->st.trie_entries++;
	} else if (bpf_map_delete_elem(op->u->maps.trie_fd, &key) == 0) {
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

	slot = htab__get(u->refs, &key, sizeof(key), 1, 0, &added);
	if (!slot)
		return;
	if (!added) {
		((struct map_ref *)(uintptr_t)*slot)->refs++;
		return;
	}
	ref = calloc(1, sizeof(*ref));
	if (!ref) {
		htab__del(u->refs, &key, sizeof(key));
		return;
	}
	ref->key = key;
	ref->refs = 1;
	*slot = (uintptr_t)ref;
	u->st.mappings++;
	val.start = m->start;
	val.end = m->end;
	/*
	 * No file (JIT, anonymous code), no bias, or no table: frame pointers.
	 * Entered all the same, so that a walk tells this code from a mapping
	 * the agent has not read yet (which it asks to have read).
	 */
	if (!m->module ||
	    elf_file__bias(sym_module__elf(m->module), m->start, m->offset, (uint64_t *)&val.bias))
		ref->table = NULL;
	else
		ref->table = get_table(u, m);
	if (!ref->table)
		val.flags = EMBER_EXEC_NO_FILE;
	else
		ref->table->refs++;
	if (ref->table && !ref->table->failed) {
		val.first_slot = ref->table->first_slot;
		val.nslots = ref->table->nslots;
		val.chunk0 = ref->table->chunk0;
	}
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
	uint64_t *slot = htab__get(u->refs, &key, sizeof(key), 0, 0, NULL);
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
	htab__del(u->refs, &key, sizeof(key));
	u->st.mappings--;
}

void unwinder__stats(const struct unwinder *u, struct unwinder_stats *st)
{
	*st = u->st;
	st->rows_used = u->rows.used;
	st->slots_used = u->slot_ranges.used;
	st->queued = u->asked.n - u->asked.head;
	st->sources = u->sources;
}

struct starved_ctx {
	struct unwinder_starved *out;
	size_t max, n;
};

static void add_starved(const void *key, size_t len, uint64_t *value, void *arg)
{
	const struct table *t = (const struct table *)(uintptr_t)*value;
	struct starved_ctx *c = arg;
	size_t i;

	if (!t->refused)
		return;
	/* Kept sorted, most refused first: an insertion into at most @max. */
	for (i = c->n; i > 0 && c->out[i - 1].refused < t->refused; i--)
		if (i < c->max)
			c->out[i] = c->out[i - 1];
	if (i >= c->max)
		return;
	snprintf(c->out[i].name, sizeof(c->out[i].name), "%s", t->name);
	c->out[i].refused = t->refused;
	c->out[i].rows = t->refused_rows;
	if (c->n < c->max)
		c->n++;
}

size_t unwinder__starved(const struct unwinder *u, struct unwinder_starved *out, size_t max)
{
	struct starved_ctx c = {out, max, 0};

	htab__for_each(u->tables, add_starved, &c);
	return c.n;
}

#ifdef UNITTEST
/*
 * The range allocator on its own, for tests/unit/test_ranges.c: curl's
 * UNITTEST trick. The unit-test objects are built with -DUNITTEST, so these
 * reach the static functions above without widening unwind.h; the agent's
 * objects do not have them.
 */
struct ranges *unit_ranges_new(uint32_t first, uint32_t n);
void unit_ranges_free(struct ranges *r);
int unit_ranges_alloc(struct ranges *r, uint32_t n, uint32_t *first);
void unit_ranges_put(struct ranges *r, uint32_t first, uint32_t n);
void unit_ranges_settle(struct ranges *r);
size_t unit_ranges_list(const struct ranges *r, uint32_t (*out)[2], size_t max, size_t *used);

struct ranges *unit_ranges_new(uint32_t first, uint32_t n)
{
	struct ranges *r = calloc(1, sizeof(*r));

	if (r && ranges_init(r, first, n)) {
		free(r);
		return NULL;
	}
	return r;
}

void unit_ranges_free(struct ranges *r)
{
	ranges_fini(r);
	free(r);
}

int unit_ranges_alloc(struct ranges *r, uint32_t n, uint32_t *first)
{
	return ranges_alloc(r, n, first);
}

void unit_ranges_put(struct ranges *r, uint32_t first, uint32_t n)
{
	ranges_put(r, first, n);
}

void unit_ranges_settle(struct ranges *r)
{
	ranges_settle(r);
}

/* The free list as [first, n] pairs, in order; *@used the allocated total. */
size_t unit_ranges_list(const struct ranges *r, uint32_t (*out)[2], size_t max, size_t *used)
{
	size_t i;

	for (i = 0; i < r->nfree && i < max; i++) {
		out[i][0] = r->free[i].first;
		out[i][1] = r->free[i].n;
	}
	*used = r->used;
	return r->nfree;
}
#endif
