// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of the memory budget: its heap and file readings follow real
 * allocations and descriptors, and when over a target it frees in its fixed
 * order (idle modules least recently used first, then the address cache,
 * then DWARF sessions) only as much as it must, then goes lean and comes
 * back from lean mode after the hold. Modules are real files: this binary
 * (built with -g, so it has DWARF) and two system binaries.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "symbolizer/symbolizer.h"
#include "agent/memory.h"
#include "agent/proc.h"

#define SEC 1000000000ull

__attribute__((noinline)) int ember_memory_target(int x)
{
	return x * 7 + 3;
}

static uint64_t heap_now(void)
{
	struct mem_usage u;

	mem_usage__read(&u);
	return u.heap_used;
}

static void readings_follow_allocations(void **state)
{
	size_t big = 16u << 20;
	uint64_t before, during, after;
	struct mem_usage u;
	int files, fd;
	char *p;

	(void)state;
	before = heap_now();
	p = malloc(big);
	assert_non_null(p);
	memset(p, 1, big);
	during = heap_now();
	assert_true(during >= before + big);
	mem_usage__read(&u);
	/* Touched: the pages are resident and anonymous. */
	assert_true(u.rss >= big && u.rss_anon >= big);
	assert_true(mem_rss() >= big);
	free(p);
	after = heap_now();
	assert_true(after + big <= during);

	files = mem_open_files();
	assert_true(files >= 3);
	fd = open("/proc/self/exe", O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(mem_open_files(), files + 1);
	close(fd);
	assert_int_equal(mem_open_files(), files);
}

struct fixture {
	struct symbolizer *s;
	struct sym_module *self;
	struct proc_mapping map; /* this binary's mapping of ember_memory_target */
	char line[512];
};

static struct sym_module *open_module(struct symbolizer *s, const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return symbolizer__get_module(s, path, NULL, st.st_dev, st.st_ino);
}

static void lookup_self(struct fixture *f, struct sym_result *res)
{
	uint64_t addr = (uintptr_t)&ember_memory_target;

	assert_int_equal(symbolizer__lookup(f->s, f->self, f->map.start, f->map.offset, addr, res),
			 0);
	assert_string_equal(res->lines[res->nlines - 1].function, "ember_memory_target");
}

/*
 * This binary in use with its DWARF open and one result cached; /bin/sh and
 * then /bin/true idle (so /bin/sh is the least recently used).
 */
static void fixture_open(struct fixture *f)
{
	uint64_t addr = (uintptr_t)&ember_memory_target;
	struct symbolizer_stats st;
	struct sym_result res;
	FILE *maps;
	int found = 0;

	memset(f, 0, sizeof(*f));
	f->s = symbolizer__new(NULL);
	assert_non_null(f->s);
	maps = fopen("/proc/self/maps", "r");
	assert_non_null(maps);
	while (!found && fgets(f->line, sizeof(f->line), maps))
		found = proc_maps_parse_line(f->line, &f->map) == 0 && addr >= f->map.start &&
			addr < f->map.end;
	fclose(maps);
	assert_true(found);
	f->self = open_module(f->s, "/proc/self/exe");
	assert_non_null(f->self);
	assert_true(sym_module__has_dwarf(f->s, f->self));
	lookup_self(f, &res);
	symbolizer__put_module(f->s, open_module(f->s, "/bin/sh"));
	symbolizer__put_module(f->s, open_module(f->s, "/bin/true"));
	symbolizer__stats(f->s, &st);
	assert_int_equal(st.modules_open, 3);
	assert_int_equal(st.modules_idle, 2);
	assert_int_equal(st.dwarf_open, 1);
	assert_int_equal(st.cache_entries, 1);
}

static void fixture_close(struct fixture *f)
{
	symbolizer__put_module(f->s, f->self);
	symbolizer__free(f->s);
}

/* 1 when @path's module is still open: getting it again reuses it. */
static int still_open(struct symbolizer *s, const char *path)
{
	struct symbolizer_stats before, after;
	struct sym_module *m;

	symbolizer__stats(s, &before);
	m = open_module(s, path);
	symbolizer__stats(s, &after);
	symbolizer__put_module(s, m);
	return after.module_opens == before.module_opens;
}

static void under_target_frees_nothing(void **state)
{
	struct mem_budget b;
	struct fixture f;
	struct symbolizer_stats st;

	(void)state;
	fixture_open(&f);
	mem_budget__init(&b, heap_now() + (256u << 20), 100000);
	assert_int_equal(mem_budget__check(&b, f.s, 10 * SEC), 0);
	symbolizer__stats(f.s, &st);
	assert_int_equal(st.modules_open, 3);
	assert_int_equal(st.cache_entries, 1);
	assert_int_equal(st.dwarf_open, 1);
	assert_int_equal(b.st.checks, 1);
	assert_int_equal(b.st.over_heap, 0);
	assert_true(b.st.heap_peak > 0 && b.st.rss_peak > 0);
	fixture_close(&f);
}

/* Over by one byte: one idle module, the least recently used, is enough. */
static void just_over_evicts_the_oldest_idle_module(void **state)
{
	struct mem_budget b;
	struct fixture f;
	struct symbolizer_stats st;

	(void)state;
	fixture_open(&f);
	mem_budget__init(&b, 0, 100000);
	b.heap_target = heap_now() - 1;
	assert_int_equal(mem_budget__check(&b, f.s, 10 * SEC), 1);
	symbolizer__stats(f.s, &st);
	assert_int_equal(st.modules_evicted, 1);
	assert_int_equal(st.cache_evicted, 0);
	assert_int_equal(st.dwarf_dropped, 0);
	assert_int_equal(b.st.over_heap, 1);
	assert_false(still_open(f.s, "/bin/sh"));
	assert_true(still_open(f.s, "/bin/true"));
	fixture_close(&f);
}

/*
 * Three files too many: both idle modules go, then the DWARF session (libdw's
 * own descriptor of this binary); the address cache, which holds no file, is
 * not trimmed on the way.
 */
static void over_files_evicts_modules_not_cache(void **state)
{
	struct mem_budget b;
	struct fixture f;
	struct symbolizer_stats st;

	(void)state;
	fixture_open(&f);
	mem_budget__init(&b, heap_now() + (256u << 20), 16);
	b.files_target = mem_open_files() - 3;
	assert_int_equal(mem_budget__check(&b, f.s, 10 * SEC), 3);
	symbolizer__stats(f.s, &st);
	assert_int_equal(st.modules_evicted, 2);
	assert_int_equal(st.dwarf_dropped, 1);
	assert_int_equal(st.cache_evicted, 0);
	assert_int_equal(b.st.over_files, 1);
	assert_true(b.st.files <= b.files_target);
	fixture_close(&f);
}

/*
 * A budget nothing fits in: everything freeable goes, in order, and lean
 * mode names frames by ELF symbols until LEAN_HOLD after the last check
 * over the target; then DWARF comes back.
 */
static void impossible_target_frees_all_then_goes_lean(void **state)
{
	struct mem_budget b;
	struct fixture f;
	struct symbolizer_stats st;
	struct sym_result res;

	(void)state;
	fixture_open(&f);
	mem_budget__init(&b, 1, 100000);
	assert_true(mem_budget__check(&b, f.s, 10 * SEC) >= 4);
	symbolizer__stats(f.s, &st);
	assert_int_equal(st.modules_evicted, 2);
	assert_int_equal(st.modules_idle, 0);
	assert_int_equal(st.cache_entries, 0);
	assert_int_equal(st.dwarf_dropped, 1);
	assert_int_equal(st.dwarf_open, 0);
	assert_int_equal(b.st.lean_checks, 1);
	/* Lean: still named, from the symbol table, and counted. */
	lookup_self(&f, &res);
	assert_int_equal(res.nlines, 1);
	assert_null(res.lines[0].file);
	symbolizer__stats(f.s, &st);
	assert_true(st.dwarf_skipped >= 1);
	assert_int_equal(st.dwarf_open, 0);
	/* Under the target again, but within the hold: still lean. */
	b.heap_target = heap_now() + (256u << 20);
	mem_budget__check(&b, f.s, 20 * SEC);
	assert_int_equal(b.st.lean_checks, 2);
	/* Past the hold: DWARF again at the next lookup of a new address. */
	mem_budget__check(&b, f.s, 41 * SEC);
	assert_int_equal(b.st.lean_checks, 2);
	lookup_self(&f, &res);
	assert_non_null(res.lines[0].file);
	symbolizer__stats(f.s, &st);
	assert_int_equal(st.dwarf_open, 1);
	fixture_close(&f);
}

/* Room for a session of known cost: freed for first, refused if it cannot fit. */
static void make_room_counts_what_the_session_will_need(void **state)
{
	struct symbolizer_stats st;
	struct mem_budget b;
	struct fixture f;

	(void)state;
	fixture_open(&f);
	mem_budget__init(&b, heap_now() + (64u << 20), 100000);
	assert_int_equal(mem_budget__make_room(&b, f.s, 1u << 20, 10 * SEC), 0);
	symbolizer__stats(f.s, &st);
	assert_int_equal(st.modules_evicted, 0);
	/* 128 MiB more cannot fit in 64 MiB of room: all is freed, then lean. */
	assert_int_equal(mem_budget__make_room(&b, f.s, 128u << 20, 11 * SEC), 1);
	symbolizer__stats(f.s, &st);
	assert_int_equal(st.modules_evicted, 2);
	assert_int_equal(st.dwarf_dropped, 1);
	assert_int_equal(b.st.over_heap, 1);
	fixture_close(&f);
}

static void drop_dwarf_takes_least_recently_looked_up(void **state)
{
	struct symbolizer_stats st;
	struct fixture f;
	struct sym_result res;

	(void)state;
	fixture_open(&f);
	assert_int_equal(symbolizer__drop_dwarf(f.s, NULL), 1);
	symbolizer__stats(f.s, &st);
	assert_int_equal(st.dwarf_open, 0);
	/* Its results pointed into the session: gone with it. */
	assert_int_equal(st.cache_entries, 0);
	assert_int_equal(symbolizer__drop_dwarf(f.s, NULL), 0);
	/* Reopened on demand: same answer. */
	lookup_self(&f, &res);
	assert_non_null(strstr(res.lines[res.nlines - 1].file, "test_memory.c"));
	symbolizer__stats(f.s, &st);
	assert_int_equal(st.dwarf_open, 1);
	assert_int_equal(st.dwarf_files, 2);
	/* Freeing modules keeps the count of open sessions right. */
	assert_int_equal(symbolizer__evict_idle(f.s), 1);
	assert_int_equal(symbolizer__evict_idle(f.s), 1);
	assert_int_equal(symbolizer__evict_idle(f.s), 0);
	fixture_close(&f);
}

/* Released file pages come back from the file: the same names after. */
static void released_pages_read_back_the_same(void **state)
{
	struct sym_result before, after;
	struct fixture f;

	(void)state;
	fixture_open(&f);
	lookup_self(&f, &before);
	symbolizer__trim_cache(f.s, 0);
	symbolizer__release_pages(f.s);
	lookup_self(&f, &after);
	assert_int_equal(after.nlines, before.nlines);
	assert_string_equal(after.lines[0].file, before.lines[0].file);
	assert_int_equal(after.lines[0].line, before.lines[0].line);
	fixture_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(readings_follow_allocations),
		cmocka_unit_test(under_target_frees_nothing),
		cmocka_unit_test(just_over_evicts_the_oldest_idle_module),
		cmocka_unit_test(over_files_evicts_modules_not_cache),
		cmocka_unit_test(impossible_target_frees_all_then_goes_lean),
		cmocka_unit_test(make_room_counts_what_the_session_will_need),
		cmocka_unit_test(drop_dwarf_takes_least_recently_looked_up),
		cmocka_unit_test(released_pages_read_back_the_same),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
