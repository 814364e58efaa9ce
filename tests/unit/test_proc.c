// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of the process table: the /proc/PID/maps line parser on real
 * line shapes (file, anonymous, special, deleted, paths with spaces, broken
 * lines), and the table itself on a fake /proc tree built in a temp dir.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <cmocka.h>

#include "symbolizer/symbolizer.h"
#include "agent/proc.h"

static void parses_file_mapping(void **state)
{
	char line[] = "7f1c2a628000-7f1c2a7bd000 r-xp 00028000 fe:01 1835290                    "
		      "/usr/lib/x86_64-linux-gnu/libc.so.6\n";
	struct proc_mapping m;

	(void)state;
	assert_int_equal(proc_maps_parse_line(line, &m), 0);
	assert_true(m.start == 0x7f1c2a628000ull);
	assert_true(m.end == 0x7f1c2a7bd000ull);
	assert_true(m.offset == 0x28000);
	assert_true(m.dev == makedev(0xfe, 0x01));
	assert_true(m.ino == 1835290);
	assert_string_equal(m.perms, "r-xp");
	assert_string_equal(m.path, "/usr/lib/x86_64-linux-gnu/libc.so.6");
}

static void parses_anonymous_and_special(void **state)
{
	char anon[] = "7ffd1c9b1000-7ffd1c9d2000 rw-p 00000000 00:00 0\n";
	char vdso[] = "7ffd1c9f6000-7ffd1c9f8000 r-xp 00000000 00:00 0                          "
		      "[vdso]\n";
	struct proc_mapping m;

	(void)state;
	assert_int_equal(proc_maps_parse_line(anon, &m), 0);
	assert_string_equal(m.path, "");
	assert_true(m.ino == 0);
	assert_int_equal(proc_maps_parse_line(vdso, &m), 0);
	assert_string_equal(m.path, "[vdso]");
	assert_int_equal(m.perms[2], 'x');
}

static void keeps_spaces_and_deleted_suffix(void **state)
{
	char line[] =
		"55d0a0a00000-55d0a0a01000 r-xp 00001000 08:02 42 /tmp/my dir/a.out (deleted)";
	struct proc_mapping m;

	(void)state;
	assert_int_equal(proc_maps_parse_line(line, &m), 0);
	assert_string_equal(m.path, "/tmp/my dir/a.out (deleted)");
}

static void rejects_malformed_lines(void **state)
{
	const char *bad[] = {
		"",
		"garbage",
		"7f00-7e00 r-xp 00000000 00:00 0",	/* end before start */
		"7f00-7f10 r-xp 00000000 00:00",	/* no inode */
		"7f00-7f10 rx 00000000 00:00 0 /bin/x", /* short perms */
		"zz-7f10 r-xp 00000000 00:00 0",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char buf[128];
		struct proc_mapping m;

		snprintf(buf, sizeof(buf), "%s", bad[i]);
		assert_int_equal(proc_maps_parse_line(buf, &m), -EINVAL);
	}
}

/* A fake /proc/PID with maps and comm, for the table. */
static char root[64];

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int make_fake_proc(void **state)
{
	char path[256];

	(void)state;
	snprintf(root, sizeof(root), "/tmp/ember-unit-proc.XXXXXX");
	assert_non_null(mkdtemp(root));
	snprintf(path, sizeof(path), "%s/4242", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/4242/comm", root);
	write_file(path, "fakeproc\n");
	snprintf(path, sizeof(path), "%s/4242/maps", root);
	write_file(path, "00400000-00401000 r--p 00000000 00:00 0 \n"
			 "00401000-00402000 r-xp 00001000 00:00 0 [anon_x]\n"
			 "7f0000000000-7f0000010000 r-xp 00000000 00:00 0 [vdso]\n"
			 "7f0000020000-7f0000030000 rw-p 00000000 00:00 0\n");
	return 0;
}

static int remove_fake_proc(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	return system(cmd);
}

static void table_finds_executable_mappings(void **state)
{
	struct symbolizer *sym = symbolizer__new(NULL);
	struct proc_table *pt = proc_table__new(sym, root);
	const struct proc_mapping *m;
	struct proc *p;

	(void)state;
	assert_non_null(pt);
	p = proc_table__get(pt, 4242);
	assert_non_null(p);
	assert_string_equal(proc__name(p), "fakeproc");
	m = proc__mapping_at(p, 0x7f0000000100ull);
	assert_non_null(m);
	assert_string_equal(m->path, "[vdso]");
	m = proc__mapping_at(p, 0x401800);
	assert_non_null(m);
	assert_true(m->start == 0x401000);
	/* Not executable, so not kept: */
	assert_null(proc__mapping_at(p, 0x400800));
	assert_null(proc__mapping_at(p, 0x7f0000020100ull));
	assert_int_equal(proc_table__load(pt, 999999), -ESRCH);
	assert_null(proc_table__get(pt, 999999));
	assert_int_equal(proc_table__count(pt), 1);

	/* Exited: kept until the interval ends, then dropped. */
	proc_table__exited(pt, 4242);
	assert_non_null(proc__mapping_at(p, 0x401800));
	proc_table__end_interval(pt);
	assert_int_equal(proc_table__count(pt), 0);
	proc_table__free(pt);
	symbolizer__free(sym);
}

/* An address no mapping holds: one re-read per interval may find a new library. */
static void table_rescans_once_per_interval(void **state)
{
	struct symbolizer *sym = symbolizer__new(NULL);
	struct proc_table *pt = proc_table__new(sym, root);
	char path[256];
	struct proc *p;

	(void)state;
	p = proc_table__get(pt, 4242);
	assert_non_null(p);
	assert_ptr_equal(proc_table__lookup(pt, 4242), p);
	assert_null(proc_table__lookup(pt, 4243)); /* never loaded: lookup reads nothing */
	snprintf(path, sizeof(path), "%s/4242/maps", root);
	write_file(path, "00401000-00402000 r-xp 00001000 00:00 0 [anon_x]\n"
			 "00600000-00601000 r-xp 00000000 00:00 0 [dlopened]\n");
	assert_null(proc__mapping_at(p, 0x600010)); /* not read yet */
	assert_true(proc__can_rescan(p));
	assert_int_equal(proc_table__rescan(pt, p), 0);
	assert_string_equal(proc__mapping_at(p, 0x600010)->path, "[dlopened]");
	assert_false(proc__can_rescan(p));
	assert_int_equal(proc_table__rescan(pt, p), -EALREADY);
	proc_table__end_interval(pt);
	assert_true(proc__can_rescan(p));
	proc_table__exited(pt, 4242);
	assert_false(proc__can_rescan(p));
	proc_table__free(pt);
	symbolizer__free(sym);
}

static void table_keeps_old_generation_until_interval_end(void **state)
{
	struct symbolizer *sym = symbolizer__new(NULL);
	struct proc_table *pt = proc_table__new(sym, root);
	char path[256];
	struct proc *p;

	(void)state;
	p = proc_table__get(pt, 4242);
	assert_non_null(p);
	/* exec: a new image with other mappings */
	snprintf(path, sizeof(path), "%s/4242/maps", root);
	write_file(path, "00500000-00501000 r-xp 00000000 00:00 0 [new]\n");
	assert_int_equal(proc_table__load(pt, 4242), 0);
	assert_string_equal(proc__mapping_at(p, 0x500010)->path, "[new]");
	assert_string_equal(proc__mapping_at(p, 0x401010)->path, "[anon_x]");
	proc_table__end_interval(pt);
	assert_string_equal(proc__mapping_at(p, 0x500010)->path, "[new]");
	assert_null(proc__mapping_at(p, 0x401010));
	proc_table__free(pt);
	symbolizer__free(sym);
}

static void count_added(void *ctx, uint32_t pid, const struct proc_mapping *m)
{
	(void)pid;
	(void)m;
	(*(int *)ctx)++;
}

/* A re-read that finds the same mappings keeps the set it has: nothing is announced again. */
static void table_rereads_unchanged_without_a_generation(void **state)
{
	struct symbolizer *sym = symbolizer__new(NULL);
	struct proc_table *pt = proc_table__new(sym, root);
	char path[256];
	int added = 0, first;
	struct proc *p;

	(void)state;
	proc_table__set_hooks(pt, count_added, NULL, &added);
	p = proc_table__get(pt, 4242);
	assert_non_null(p);
	first = added;
	assert_true(first > 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(proc_table__load(pt, 4242), 0);
	assert_int_equal(added, first);
	/* A library mapped since: the new set is announced whole. */
	snprintf(path, sizeof(path), "%s/4242/maps", root);
	write_file(path, "00401000-00402000 r-xp 00001000 00:00 0 [anon_x]\n"
			 "00600000-00601000 r-xp 00000000 00:00 0 [dlopened]\n");
	assert_int_equal(proc_table__load(pt, 4242), 0);
	assert_int_equal(added, first + 2);
	assert_string_equal(proc__mapping_at(p, 0x600010)->path, "[dlopened]");
	proc_table__free(pt);
	symbolizer__free(sym);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_file_mapping),
		cmocka_unit_test(parses_anonymous_and_special),
		cmocka_unit_test(keeps_spaces_and_deleted_suffix),
		cmocka_unit_test(rejects_malformed_lines),
		cmocka_unit_test_setup_teardown(table_finds_executable_mappings, make_fake_proc,
						remove_fake_proc),
		cmocka_unit_test_setup_teardown(table_rescans_once_per_interval, make_fake_proc,
						remove_fake_proc),
		cmocka_unit_test_setup_teardown(table_keeps_old_generation_until_interval_end,
						make_fake_proc, remove_fake_proc),
		cmocka_unit_test_setup_teardown(table_rereads_unchanged_without_a_generation,
						make_fake_proc, remove_fake_proc),
	};

	return cmocka_run_group_tests_name("proc", tests, NULL, NULL);
}
