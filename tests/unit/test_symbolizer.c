// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of the symbolizer's parsers: kallsyms text, and ELF symbol
 * lookup on this very test binary, whose functions' addresses we know at run
 * time, through the same /proc/self/maps bias arithmetic the agent uses.
 */
#include <errno.h>
#include <fcntl.h>
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

#include "lib/htab.h"
#include "symbolizer/demangle.h"
#include "symbolizer/elf_file.h"
#include "symbolizer/kallsyms.h"
#include "symbolizer/perfmap.h"
#include "symbolizer/symbolizer.h"
#include "agent/proc.h"

static const char kallsyms_text[] = "ffffffff81000000 T _stext\n"
				    "ffffffff81000000 T startup_64\n"
				    "ffffffff81001000 t helper_local\n"
				    "ffffffff81002000 D some_data\n"
				    "ffffffff81003000 T do_syscall_64\n"
				    "this line is broken\n"
				    "ffffffffc0001000 t ext4_fill_super\t[ext4]\n"
				    "ffffffffc0002000 T ext4_iget\t[ext4]\n"
				    "0000000000000000 T hidden_by_kptr_restrict\n";

static struct kallsyms *parse_text(const char *text)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	struct kallsyms *k;

	assert_non_null(f);
	k = kallsyms__parse(f);
	fclose(f);
	return k;
}

static void kallsyms_lookup_names_and_modules(void **state)
{
	struct kallsyms *k = parse_text(kallsyms_text);
	const char *mod = NULL;
	uint64_t start = 0;

	(void)state;
	assert_non_null(k);
	/* Text only: some_data and the zero address are not kept. */
	assert_int_equal(kallsyms__count(k), 6);
	assert_int_equal(kallsyms__skipped(k), 1);
	assert_string_equal(kallsyms__lookup(k, 0xffffffff81003010ull, &mod, &start),
			    "do_syscall_64");
	assert_string_equal(mod, "");
	assert_true(start == 0xffffffff81003000ull);
	/* Falls in helper_local: some_data is not text, so does not end it. */
	assert_string_equal(kallsyms__lookup(k, 0xffffffff81002010ull, &mod, NULL), "helper_local");
	assert_string_equal(kallsyms__lookup(k, 0xffffffffc0001234ull, &mod, NULL),
			    "ext4_fill_super");
	assert_string_equal(mod, "[ext4]");
	assert_null(kallsyms__lookup(k, 0xffffffff80000000ull, &mod, NULL));
	/* Far past the last symbol: unknown, not attributed to it. */
	assert_null(kallsyms__lookup(k, 0xffffffffc9000000ull, &mod, NULL));
	kallsyms__free(k);
}

static void kallsyms_all_hidden_is_an_error(void **state)
{
	(void)state;
	errno = 0;
	assert_null(parse_text("0000000000000000 T a\n0000000000000000 t b\n"));
	assert_int_equal(errno, ENOENT);
}

/* Functions whose addresses the ELF tests look up. */
static const int target_one_line = __LINE__ + 2; /* the opening brace */
__attribute__((noinline)) int ember_unit_target_one(int x)
{
	return x * 3 + 1;
}

__attribute__((noinline)) int ember_unit_target_two(int x)
{
	return ember_unit_target_one(x) ^ 0x55;
}

/* The executable mapping of this binary that holds @addr, from /proc/self/maps. */
static int self_mapping(uint64_t addr, struct proc_mapping *out, char *line, size_t size)
{
	FILE *f = fopen("/proc/self/maps", "r");
	int found = 0;

	assert_non_null(f);
	while (fgets(line, (int)size, f)) {
		if (proc_maps_parse_line(line, out) == 0 && addr >= out->start && addr < out->end) {
			found = 1;
			break;
		}
	}
	fclose(f);
	return found;
}

static void elf_names_own_functions(void **state)
{
	uint64_t addrs[2] = {(uintptr_t)&ember_unit_target_one, (uintptr_t)&ember_unit_target_two};
	const char *names[2] = {"ember_unit_target_one", "ember_unit_target_two"};
	struct elf_file *ef = elf_file__open_fd(open("/proc/self/exe", O_RDONLY));

	(void)state;
	assert_non_null(ef);
	assert_true(elf_file__nsyms(ef) > 10);
	/* gcc on Debian links with --build-id: 20 bytes, 40 hex digits. */
	assert_int_equal(strlen(elf_file__build_id(ef)), 40);
	for (int i = 0; i < 2; i++) {
		struct proc_mapping m;
		char line[512];
		uint64_t vaddr, start;

		assert_true(self_mapping(addrs[i], &m, line, sizeof(line)));
		assert_int_equal(elf_file__vaddr(ef, m.start, m.offset, addrs[i] + 2, &vaddr), 0);
		assert_string_equal(elf_file__lookup(ef, vaddr, &start), names[i]);
		assert_true(vaddr - start == 2);
	}
	/* Below every symbol: nothing. */
	assert_null(elf_file__lookup(ef, 1, NULL));
	elf_file__free(ef);
}

static void elf_rejects_non_elf(void **state)
{
	char path[] = "/tmp/ember-unit-notelf.XXXXXX";
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "#!/bin/sh\necho not elf\n", 23), 23);
	unlink(path);
	errno = 0;
	assert_null(elf_file__open_fd(fd));
	assert_int_equal(errno, EINVAL);
}

static void symbolizer_shares_modules_and_checks_identity(void **state)
{
	struct symbolizer *s = symbolizer__new(NULL);
	struct sym_module *a, *b;
	struct sym_result res;
	struct proc_mapping m;
	struct stat st;
	char line[512];
	uint64_t addr = (uintptr_t)&ember_unit_target_two;
	struct symbolizer_stats stats;

	(void)state;
	assert_int_equal(stat("/proc/self/exe", &st), 0);
	a = symbolizer__get_module(s, "/proc/self/exe", NULL, st.st_dev, st.st_ino);
	b = symbolizer__get_module(s, "/nonexistent", "/proc/self/exe", st.st_dev, st.st_ino);
	assert_non_null(a);
	assert_ptr_equal(a, b);
	symbolizer__stats(s, &stats);
	assert_int_equal(stats.module_opens, 1);
	assert_int_equal(stats.module_hits, 1);

	assert_true(self_mapping(addr, &m, line, sizeof(line)));
	assert_int_equal(symbolizer__lookup(s, a, m.start, m.offset, addr + 1, &res), 0);
	assert_int_equal(res.nlines, 1);
	assert_string_equal(res.lines[0].function, "ember_unit_target_two");

	/* Wrong identity: the file is not the one that was mapped. */
	errno = 0;
	assert_null(symbolizer__get_module(s, "/proc/self/exe", NULL, st.st_dev, st.st_ino + 1));
	assert_int_equal(errno, ESTALE);
	symbolizer__put_module(s, a);
	symbolizer__put_module(s, b);
	/* Idle, not freed: the next user gets it without a reparse. */
	symbolizer__stats(s, &stats);
	assert_int_equal(stats.modules_open, 1);
	a = symbolizer__get_module(s, "/proc/self/exe", NULL, st.st_dev, st.st_ino);
	symbolizer__stats(s, &stats);
	assert_int_equal(stats.module_opens, 1);
	symbolizer__put_module(s, a);
	symbolizer__free(s);
}

/* The function symbolizer__lookup() gives for ember_unit_target_two through @mod, or "". */
static const char *name_through(struct symbolizer *s, struct sym_module *mod)
{
	static struct sym_result res;
	uint64_t addr = (uintptr_t)&ember_unit_target_two;
	struct proc_mapping m;
	char line[512];

	assert_true(self_mapping(addr, &m, line, sizeof(line)));
	if (symbolizer__lookup(s, mod, m.start, m.offset, addr + 1, &res) || !res.nlines)
		return "";
	return res.lines[res.nlines - 1].function;
}

/*
 * Two copies of one build ID: stripped (no .symtab, no DWARF) opened first,
 * then the full one. The full copy stands for the build ID from then on,
 * also for a later lookup through the stripped copy's inode.
 */
static void a_full_copy_outranks_a_stripped_one(void **state)
{
	char dir[] = "/tmp/ember-unit-XXXXXX", cmd[8400], self[4096], stripped[64], full[64];
	struct symbolizer *s = symbolizer__new(NULL);
	struct sym_module *a, *b, *c;
	struct stat sa, sb;
	ssize_t n;

	(void)state;
	/* The shell system() runs has a /proc/self/exe of its own. */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = '\0';
	assert_non_null(mkdtemp(dir));
	snprintf(stripped, sizeof(stripped), "%s/stripped", dir);
	snprintf(full, sizeof(full), "%s/full", dir);
	snprintf(cmd, sizeof(cmd), "objcopy --strip-all '%s' %s && cp '%s' %s", self, stripped,
		 self, full);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(stat(stripped, &sa), 0);
	assert_int_equal(stat(full, &sb), 0);

	a = symbolizer__get_module(s, stripped, NULL, sa.st_dev, sa.st_ino);
	assert_non_null(a);
	assert_string_not_equal(name_through(s, a), "ember_unit_target_two");
	b = symbolizer__get_module(s, full, NULL, sb.st_dev, sb.st_ino);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	assert_string_equal(name_through(s, b), "ember_unit_target_two");
	c = symbolizer__get_module(s, stripped, NULL, sa.st_dev, sa.st_ino);
	assert_ptr_equal(c, b);
	symbolizer__put_module(s, c);
	symbolizer__put_module(s, b);
	symbolizer__put_module(s, a);
	symbolizer__free(s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void idle_modules_are_capped(void **state)
{
	struct symbolizer *s = symbolizer__new(&(struct symbolizer_opts){.idle_modules = 1});
	const char *paths[] = {"/proc/self/exe", "/bin/sh", "/bin/true"};
	struct symbolizer_stats stats;

	(void)state;
	for (int i = 0; i < 3; i++) {
		struct stat st;
		struct sym_module *m;

		assert_int_equal(stat(paths[i], &st), 0);
		m = symbolizer__get_module(s, paths[i], NULL, st.st_dev, st.st_ino);
		assert_non_null(m);
		symbolizer__put_module(s, m);
	}
	symbolizer__stats(s, &stats);
	assert_int_equal(stats.module_opens, 3);
	assert_int_equal(stats.modules_open, 1);
	symbolizer__free(s);
}

/* This file is built with -g: DWARF names the function, file and line. */
static void dwarf_gives_file_and_line(void **state)
{
	struct symbolizer *s = symbolizer__new(NULL);
	uint64_t addr = (uintptr_t)&ember_unit_target_one;
	struct symbolizer_stats stats;
	struct sym_result res;
	struct proc_mapping m;
	struct sym_module *mod;
	struct stat st;
	char line[512];

	(void)state;
	assert_int_equal(stat("/proc/self/exe", &st), 0);
	mod = symbolizer__get_module(s, "/proc/self/exe", NULL, st.st_dev, st.st_ino);
	assert_non_null(mod);
	assert_true(sym_module__has_dwarf(s, mod));
	assert_true(self_mapping(addr, &m, line, sizeof(line)));
	assert_int_equal(symbolizer__lookup(s, mod, m.start, m.offset, addr, &res), 0);
	assert_int_equal(res.nlines, 1);
	assert_string_equal(res.lines[0].function, "ember_unit_target_one");
	assert_non_null(strstr(res.lines[0].file, "test_symbolizer.c"));
	assert_int_equal(res.lines[0].line, target_one_line);
	/* Second time: from the cache, same answer. */
	assert_int_equal(symbolizer__lookup(s, mod, m.start, m.offset, addr, &res), 0);
	assert_string_equal(res.lines[0].function, "ember_unit_target_one");
	symbolizer__stats(s, &stats);
	assert_int_equal(stats.cache_hits, 1);
	assert_int_equal(stats.cache_misses, 1);
	symbolizer__put_module(s, mod);
	symbolizer__free(s);
}

static int checks;

static void count_check(void *ctx)
{
	(void)ctx;
	checks++;
}

/* Looks @fn up through @mod, by its address in this process. */
static void lookup_fn(struct symbolizer *s, struct sym_module *mod, uint64_t fn, const char *name)
{
	struct sym_result res;
	struct proc_mapping m;
	char line[512];

	assert_true(self_mapping(fn, &m, line, sizeof(line)));
	assert_int_equal(symbolizer__lookup(s, mod, m.start, m.offset, fn, &res), 0);
	assert_string_equal(res.lines[res.nlines - 1].function, name);
}

/*
 * The memory check comes before the 256th lookup once the files parsed and
 * the CUs read since the last one add up to check_bytes; a lookup in a CU
 * already read adds nothing.
 */
static void growth_brings_the_check_forward(void **state)
{
	struct symbolizer *s =
		symbolizer__new(&(struct symbolizer_opts){.check = count_check, .check_bytes = 1});
	struct sym_module *mod;
	struct stat st;

	(void)state;
	checks = 0;
	assert_int_equal(stat("/proc/self/exe", &st), 0);
	mod = symbolizer__get_module(s, "/proc/self/exe", NULL, st.st_dev, st.st_ino);
	assert_non_null(mod);
	/* The file's symbol table was just read: the first lookup checks. */
	lookup_fn(s, mod, (uintptr_t)&ember_unit_target_one, "ember_unit_target_one");
	assert_int_equal(checks, 1);
	/* That lookup read this file's CU: the next one checks again... */
	lookup_fn(s, mod, (uintptr_t)&ember_unit_target_two, "ember_unit_target_two");
	assert_int_equal(checks, 2);
	/* ...but it was in the same CU, so this one does not. */
	lookup_fn(s, mod, (uintptr_t)&count_check, "count_check");
	assert_int_equal(checks, 2);
	/* lib/htab.c's CU is new: the lookup after it checks. */
	lookup_fn(s, mod, (uintptr_t)&htab__new, "htab__new");
	assert_int_equal(checks, 2);
	lookup_fn(s, mod, (uintptr_t)&lookup_fn, "lookup_fn");
	assert_int_equal(checks, 3);
	symbolizer__put_module(s, mod);
	symbolizer__free(s);
}

static void demangles_cpp_and_rust(void **state)
{
	struct {
		const char *in, *out;
	} cases[] = {
		{"_ZN3foo3barIiE3bazEv", "foo::bar<int>::baz()"},
		{"_ZN4core3fmt5write17h0123456789abcdefE", "core::fmt::write"},
		{"_RNvNtCs1234_7mycrate3foo3bar", "mycrate::foo::bar"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *d = demangle(cases[i].in);

		assert_non_null(d);
		assert_string_equal(d, cases[i].out);
		free(d);
	}
	assert_null(demangle("main"));
	assert_null(demangle("_Zgarbage"));
}

static void perfmap_parses_defensively(void **state)
{
	static const char text[] = "7f0000001000 40 js:foo\n"
				   "7f0000001040 20 Interpreted bar baz\n"
				   "zz 10 broken\n"
				   "7f0000002000 0 zero-size\n"
				   "ffffffffffffff00 1000 wraps\n"
				   "7f0000001000 40 js:foo-reoptimized\n"
				   "7f0000003000 10\n";
	FILE *f = fmemopen((void *)text, sizeof(text) - 1, "r");
	struct perfmap *m;

	(void)state;
	m = perfmap__parse(f);
	fclose(f);
	assert_non_null(m);
	assert_int_equal(perfmap__count(m), 2);
	assert_int_equal(perfmap__skipped(m), 4);
	/* The later line for the same start wins. */
	assert_string_equal(perfmap__lookup(m, 0x7f0000001010ull), "js:foo-reoptimized");
	assert_string_equal(perfmap__lookup(m, 0x7f000000105full), "Interpreted bar baz");
	assert_null(perfmap__lookup(m, 0x7f0000001060ull));
	assert_null(perfmap__lookup(m, 0x1000));
	perfmap__free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kallsyms_lookup_names_and_modules),
		cmocka_unit_test(kallsyms_all_hidden_is_an_error),
		cmocka_unit_test(elf_names_own_functions),
		cmocka_unit_test(elf_rejects_non_elf),
		cmocka_unit_test(symbolizer_shares_modules_and_checks_identity),
		cmocka_unit_test(a_full_copy_outranks_a_stripped_one),
		cmocka_unit_test(idle_modules_are_capped),
		cmocka_unit_test(dwarf_gives_file_and_line),
		cmocka_unit_test(growth_brings_the_check_forward),
		cmocka_unit_test(demangles_cpp_and_rust),
		cmocka_unit_test(perfmap_parses_defensively),
	};

	return cmocka_run_group_tests_name("symbolizer", tests, NULL, NULL);
}
