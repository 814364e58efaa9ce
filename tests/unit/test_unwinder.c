// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of the unwinder's bookkeeping on real BPF maps (the suite runs
 * as root): a mapping of libc gets trie entries and chunk slots, chunks are
 * built when asked for, and under a budget too small for libc the chunks
 * walked least recently are evicted first, freed rows are reused only after
 * a wait for the walks in flight, and a chunk asked for again is rebuilt.
 * The walks are played by the test: it stamps a chunk's used epoch in the
 * mapped chunks array, as the BPF walker does.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <cmocka.h>

#include "symbolizer/elf_file.h"
#include "symbolizer/symbolizer.h"
#include "bpf/emberprof.h"
#include "agent/proc.h"
#include "agent/unwind.h"

#define LIBC "/lib/x86_64-linux-gnu/libc.so.6"
#define PID 4242
#define MAX_ROWS 6000 /* libc has ~23k rows: far too few for all of it */
#define MAX_CHUNKS 256

struct fixture {
	int rows_fd, chunks_fd, trie_fd;
	struct ember_chunk *slots;
	uint32_t epoch;
	unsigned int waits;
	struct symbolizer *sym;
	struct sym_module *mod;
	struct proc_mapping map;
	struct unwinder *u;
};

static void count_wait(void *ctx)
{
	((struct fixture *)ctx)->waits++;
}

/* libc's executable segment, mapped as the kernel would at a made-up base. */
static void libc_mapping(struct fixture *f)
{
	Elf *e = elf_file__elf(sym_module__elf(f->mod));
	size_t nph = 0;
	struct stat st;

	assert_int_equal(stat(LIBC, &st), 0);
	assert_int_equal(elf_getphdrnum(e, &nph), 0);
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(e, (int)i, &ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
			continue;
		f->map.start = 0x7f0000000000ull + (ph.p_vaddr & ~4095ull);
		f->map.end = (0x7f0000000000ull + ph.p_vaddr + ph.p_memsz + 4095) & ~4095ull;
		f->map.offset = ph.p_offset & ~4095ull;
	}
	assert_true(f->map.end > f->map.start);
	f->map.dev = st.st_dev;
	f->map.ino = st.st_ino;
	strcpy(f->map.perms, "r-xp");
	f->map.path = LIBC;
	f->map.module = f->mod;
}

static int setup(void **state)
{
	LIBBPF_OPTS(bpf_map_create_opts, mmapable, .map_flags = BPF_F_MMAPABLE);
	LIBBPF_OPTS(bpf_map_create_opts, noprealloc, .map_flags = BPF_F_NO_PREALLOC);
	struct fixture *f = calloc(1, sizeof(*f));
	struct stat st;

	assert_non_null(f);
	f->rows_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t_rows", 4, sizeof(struct ember_row),
				    MAX_ROWS, &mmapable);
	f->chunks_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t_chunks", 4, sizeof(struct ember_chunk),
				      MAX_CHUNKS, &mmapable);
	f->trie_fd = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "t_trie", sizeof(struct ember_lpm_key),
				    sizeof(struct ember_exec_map), 4096, &noprealloc);
	if (f->rows_fd < 0 || f->chunks_fd < 0 || f->trie_fd < 0)
		fail_msg("cannot create BPF maps: %s (the unit tests run as root)",
			 strerror(errno));
	f->slots = mmap(NULL, MAX_CHUNKS * sizeof(struct ember_chunk), PROT_READ | PROT_WRITE,
			MAP_SHARED, f->chunks_fd, 0);
	assert_true(f->slots != MAP_FAILED);
	f->sym = symbolizer__new(NULL);
	assert_non_null(f->sym);
	assert_int_equal(stat(LIBC, &st), 0);
	f->mod = symbolizer__get_module(f->sym, LIBC, NULL, st.st_dev, st.st_ino);
	assert_non_null(f->mod);
	libc_mapping(f);
	f->u = unwinder__new(f->sym, &(struct unwinder_maps){
					     .rows_fd = f->rows_fd,
					     .max_rows = MAX_ROWS,
					     .chunks_fd = f->chunks_fd,
					     .max_chunks = MAX_CHUNKS,
					     .trie_fd = f->trie_fd,
					     .epoch = &f->epoch,
					     .wait_programs = count_wait,
					     .ctx = f,
				     });
	assert_non_null(f->u);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	unwinder__free(f->u);
	symbolizer__put_module(f->sym, f->mod);
	symbolizer__free(f->sym);
	munmap(f->slots, MAX_CHUNKS * sizeof(struct ember_chunk));
	close(f->rows_fd);
	close(f->chunks_fd);
	close(f->trie_fd);
	free(f);
	return 0;
}

/* The trie's entry for runtime address @addr of PID. Returns 0 or -errno. */
static int trie_at(struct fixture *f, uint64_t addr, struct ember_exec_map *out)
{
	struct ember_lpm_key key = {
		.prefixlen = 96,
		.tgid_be = __builtin_bswap32(PID),
		.addr_be = __builtin_bswap64(addr),
	};

	return bpf_map_lookup_elem(f->trie_fd, &key, out) ? -errno : 0;
}

static uint32_t slot_rows(struct fixture *f, uint32_t slot)
{
	return (uint32_t)(__atomic_load_n(&f->slots[slot].rows, __ATOMIC_ACQUIRE) >> 32);
}

static void chunks_built_on_demand_and_evicted_lru(void **state)
{
	struct fixture *f = *state;
	struct unwinder_stats st;
	struct ember_exec_map m;
	uint32_t loaded[MAX_CHUNKS], nloaded = 0, hot = 0, victim = 0, asked;

	unwinder__map_added(f->u, PID, &f->map);
	assert_int_equal(trie_at(f, f->map.start + 0x100, &m), 0);
	assert_int_equal(m.start, f->map.start);
	assert_true(m.nslots >= 8 && m.first_slot >= 1);
	assert_true(m.first_slot + m.nslots <= MAX_CHUNKS);
	/* Nothing is built before a walk asks. */
	unwinder__stats(f->u, &st);
	assert_int_equal(st.rows_used, 0);
	for (uint32_t i = 0; i < m.nslots; i++)
		assert_int_equal(f->slots[m.first_slot + i].rows, 0);

	/*
	 * Walks ask for the chunks one by one, an epoch apart: the budget
	 * fills, and each later chunk needs room that only evictions make.
	 */
	for (uint32_t i = 0; i < m.nslots; i++) {
		uint32_t s = m.first_slot + i;

		unwinder__tick(f->u);
		unwinder__request(f->u, s);
		unwinder__work(f->u, UINT64_MAX);
		if (slot_rows(f, s))
			f->slots[s].used = f->epoch; /* the asking walk's stamp */
		/* One chunk stays hot: a walk stamps it every epoch. */
		if (hot)
			f->slots[hot].used = f->epoch;
		else if (slot_rows(f, s) > 100)
			hot = s;
	}
	assert_true(hot != 0);
	unwinder__stats(f->u, &st);
	assert_true(st.rows_used <= MAX_ROWS);
	assert_true(st.evictions > 0);
	assert_true(f->waits > 0); /* evicted rows were reused only after a wait */
	assert_true(slot_rows(f, hot) > 0);
	for (uint32_t i = 0; i < m.nslots; i++) {
		uint32_t s = m.first_slot + i;

		if (slot_rows(f, s))
			loaded[nloaded++] = s;
		else if (!victim && f->slots[s].rows == 0 && s != hot)
			victim = s;
	}
	assert_true(nloaded >= 1 && victim != 0);
	/*
	 * Least recently walked first. The kept chunks get walked at known
	 * epochs: the first the longest ago, the last most recently (but long
	 * enough ago to be evictable). Chunks are then asked for until one
	 * needs an eviction: the first kept chunk goes before the last.
	 */
	{
		uint32_t oldest = 0, youngest = 0, eligible = 0, ev0;

		for (uint32_t i = 0; i < nloaded; i++) {
			if (loaded[i] == hot)
				continue;
			if (!oldest)
				oldest = loaded[i];
			youngest = loaded[i];
			f->slots[loaded[i]].used = f->epoch - 6;
			eligible++;
		}
		assert_true(eligible >= 2);
		f->slots[oldest].used = f->epoch - 10;
		f->slots[youngest].used = f->epoch - 3;
		f->slots[hot].used = f->epoch;
		unwinder__stats(f->u, &st);
		ev0 = (uint32_t)st.evictions;
		for (uint32_t i = 0; i < m.nslots && st.evictions == ev0; i++) {
			uint32_t s = m.first_slot + i;

			if (slot_rows(f, s) || f->slots[s].rows)
				continue;
			unwinder__request(f->u, s);
			unwinder__work(f->u, UINT64_MAX);
			unwinder__stats(f->u, &st);
		}
		assert_true(st.evictions > ev0);
		assert_int_equal(slot_rows(f, oldest), 0);
		if (st.evictions - ev0 < eligible && !slot_rows(f, youngest))
			fail_msg("%u of %u evictable chunks went, the most recently walked among "
				 "them",
				 (unsigned)(st.evictions - ev0), eligible);
		assert_true(slot_rows(f, hot) > 0);
		victim = oldest;
	}

	/* A walk lands in an evicted chunk again: it comes back, counted as a rebuild. */
	asked = victim;
	unwinder__tick(f->u);
	unwinder__tick(f->u);
	f->slots[hot].used = f->epoch;
	unwinder__request(f->u, asked);
	unwinder__work(f->u, UINT64_MAX);
	unwinder__stats(f->u, &st);
	assert_true(slot_rows(f, asked) > 0 || st.no_room > 0);
	if (slot_rows(f, asked))
		assert_true(st.rebuilds >= 1);
	assert_true(slot_rows(f, hot) > 0);

	/*
	 * The last mapping goes: its trie entries at once, while the file's
	 * table stays idle, rows and all, for the next program that maps it.
	 */
	unwinder__map_removed(f->u, PID, &f->map);
	assert_int_equal(trie_at(f, f->map.start + 0x100, &m), -ENOENT);
	unwinder__stats(f->u, &st);
	assert_int_equal(st.mappings, 0);
	assert_int_equal(st.tables, 1);
	assert_true(st.rows_used > 0);
	unwinder__map_added(f->u, PID, &f->map);
	assert_int_equal(trie_at(f, f->map.start + 0x100, &m), 0);
	assert_true(slot_rows(f, hot) > 0);
	unwinder__map_removed(f->u, PID, &f->map);

	/* Idle for UNWIND_TABLE_IDLE_EPOCHS drains: the table goes, every row with it. */
	for (int i = 0; i < UNWIND_TABLE_IDLE_EPOCHS - 1; i++)
		unwinder__tick(f->u);
	unwinder__stats(f->u, &st);
	assert_int_equal(st.tables, 1);
	unwinder__tick(f->u);
	unwinder__stats(f->u, &st);
	assert_int_equal(st.rows_used, 0);
	assert_int_equal(st.tables, 0);
	assert_int_equal(st.mappings, 0);
}

static unsigned int rooms;
static uint64_t room_want;

/* The budget's side: counts the asks, and says there is no room. */
static int refuse_room(void *ctx, uint64_t want)
{
	(void)ctx;
	rooms++;
	room_want = want;
	return 1;
}

/*
 * A file's first build asks the budget for room for all of its FDEs, and
 * builds even when told there is none; the source (libdw's parsed FDEs)
 * stays for the builds of the next few drains, then goes, and the next
 * build asks again.
 */
static void builds_ask_for_room_then_close_their_source(void **state)
{
	struct fixture *f = *state;
	struct unwinder_stats st;
	struct ember_exec_map m;
	uint32_t again = 0;

	rooms = 0;
	unwinder__set_make_room(f->u, refuse_room, NULL);
	unwinder__map_added(f->u, PID, &f->map);
	assert_int_equal(trie_at(f, f->map.start + 0x100, &m), 0);
	unwinder__request(f->u, m.first_slot);
	unwinder__work(f->u, UINT64_MAX);
	assert_int_equal(rooms, 1);
	/* libc has a few thousand FDEs, at 80 bytes each. */
	assert_true(room_want > (100u << 10) && room_want < (4u << 20));
	assert_true(f->slots[m.first_slot].rows != 0);
	/* Built: the source stays through UNWIND_SOURCE_IDLE_EPOCHS drains without a build... */
	unwinder__stats(f->u, &st);
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.sources, 1);
	for (int i = 0; i < UNWIND_SOURCE_IDLE_EPOCHS - 1; i++)
		unwinder__tick(f->u);
	unwinder__stats(f->u, &st);
	assert_int_equal(st.sources, 1);
	/* ...and then goes. */
	unwinder__tick(f->u);
	unwinder__stats(f->u, &st);
	assert_int_equal(st.sources, 0);
	/* libc does not fit in MAX_ROWS: a chunk is still unbuilt, and building it asks again. */
	for (uint32_t i = 0; i < m.nslots && !again; i++)
		if (f->slots[m.first_slot + i].rows == 0)
			again = m.first_slot + i;
	assert_true(again != 0);
	unwinder__request(f->u, again);
	unwinder__work(f->u, UINT64_MAX);
	assert_int_equal(rooms, 2);
	unwinder__stats(f->u, &st);
	assert_int_equal(st.sources, 1);
	unwinder__map_removed(f->u, PID, &f->map);
}

/* A slot no file owns, slot 0 and one past the array are ignored. */
static void stray_requests_are_ignored(void **state)
{
	struct fixture *f = *state;
	struct unwinder_stats st;

	unwinder__request(f->u, 0);
	unwinder__request(f->u, 7);
	unwinder__request(f->u, MAX_CHUNKS);
	assert_int_equal(unwinder__work(f->u, UINT64_MAX), 0);
	unwinder__stats(f->u, &st);
	assert_int_equal(st.requests, 0);
	assert_int_equal(st.builds, 0);
}

/*
 * Code in no file (JIT, anonymous memory) is entered in the trie all the
 * same, marked: a walk tells it from a mapping not read yet, which it asks
 * the agent to read. Its removal takes the entry out.
 */
static void anonymous_code_is_entered_as_no_file(void **state)
{
	struct fixture *f = *state;
	struct proc_mapping anon = {
		.start = 0x7e0000000000ull, .end = 0x7e0000010000ull, .perms = "r-xp", .path = ""};
	struct unwinder_stats st;
	struct ember_exec_map m;

	assert_int_equal(trie_at(f, anon.start + 0x100, &m), -ENOENT);
	unwinder__map_added(f->u, PID, &anon);
	assert_int_equal(trie_at(f, anon.start + 0x100, &m), 0);
	assert_int_equal(m.flags, EMBER_EXEC_NO_FILE);
	assert_int_equal(m.start, anon.start);
	assert_int_equal(m.end, anon.end);
	assert_int_equal(m.nslots, 0);
	unwinder__stats(f->u, &st);
	assert_int_equal(st.mappings, 1);
	assert_int_equal(st.tables, 0);
	/* A file's mapping is not marked. */
	unwinder__map_added(f->u, PID, &f->map);
	assert_int_equal(trie_at(f, f->map.start + 0x100, &m), 0);
	assert_int_equal(m.flags, 0);
	unwinder__map_removed(f->u, PID, &f->map);
	unwinder__map_removed(f->u, PID, &anon);
	assert_int_equal(trie_at(f, anon.start + 0x100, &m), -ENOENT);
	unwinder__stats(f->u, &st);
	assert_int_equal(st.mappings, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(chunks_built_on_demand_and_evicted_lru, setup,
						teardown),
		cmocka_unit_test_setup_teardown(stray_requests_are_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(anonymous_code_is_entered_as_no_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(builds_ask_for_room_then_close_their_source, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("unwinder", tests, NULL, NULL);
}
