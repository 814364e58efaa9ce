// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of unwind-table generation, on this test binary's own
 * .eh_frame (gcc on Debian emits it for every function) and on a Rust
 * binary linked by lld, of the load bias the walker's table lookups use,
 * and of the range tiling the mapping trie relies on.
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
#include <cmocka.h>

#include "symbolizer/demangle.h"
#include "symbolizer/elf_file.h"
#include "agent/proc.h"
#include "agent/unwind_table.h"

/* The Makefile passes tests/workloads/rust/split.rs's binary, built before this test. */
#ifndef EMBER_RUST_BIN
#error "EMBER_RUST_BIN must name the rust-split workload (see the Makefile)"
#endif

#define EMBER_PAGE 4096ull

__attribute__((noinline)) int ember_unwind_target(int x)
{
	return x * 7 + 3;
}

/* The row in force at file address @pc (the last one at or below it). */
static const struct ember_row *row_at(const struct ember_row *rows, size_t n, uint64_t pc)
{
	const struct ember_row *found = NULL;

	for (size_t i = 0; i < n && rows[i].pc <= pc; i++)
		found = &rows[i];
	return found;
}

/* File address of a function of this binary, through /proc/self/maps. */
static uint64_t self_vaddr(struct elf_file *ef, uint64_t addr)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	uint64_t vaddr = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		struct proc_mapping m;

		if (proc_maps_parse_line(line, &m) == 0 && addr >= m.start && addr < m.end) {
			assert_int_equal(elf_file__vaddr(ef, m.start, m.offset, addr, &vaddr), 0);
			break;
		}
	}
	fclose(f);
	return vaddr;
}

static void rows_describe_own_functions(void **state)
{
	struct elf_file *ef = elf_file__open_fd(open("/proc/self/exe", O_RDONLY));
	struct unwind_table_stats st;
	struct ember_row *rows;
	const struct ember_row *r;
	size_t n, plt = 0, end = 0;
	uint64_t fn;

	(void)state;
	assert_non_null(ef);
	assert_int_equal(unwind_table__build(elf_file__elf(ef), &rows, &n, &st), 0);
	assert_true(n > 10 && st.fdes > 5);
	for (size_t i = 1; i < n; i++)
		assert_true(rows[i].pc > rows[i - 1].pc); /* sorted, one row per pc */
	/* At a function's first instruction the CFA is rsp + 8 (the return address). */
	fn = self_vaddr(ef, (uintptr_t)&ember_unwind_target);
	r = row_at(rows, n, fn);
	assert_non_null(r);
	assert_int_equal(ember_row_cfa_rule(r), EMBER_CFA_RSP);
	assert_int_equal(ember_row_cfa_off(r), 8);
	for (size_t i = 0; i < n; i++) {
		plt += ember_row_cfa_rule(&rows[i]) == EMBER_CFA_PLT;
		end += ember_row_cfa_rule(&rows[i]) == EMBER_CFA_END;
	}
	/* The PLT's lazy-binding expression, and _start's undefined return address. */
	assert_true(plt >= 1);
	assert_true(end >= 1);
	free(rows);
	elf_file__free(ef);
}

static void no_eh_frame_hdr_is_enoent(void **state)
{
	char path[] = "/tmp/ember-unit-noeh.XXXXXX";
	int fd = mkstemp(path);
	Elf *e;
	struct ember_row *rows;
	size_t n;

	(void)state;
	assert_true(fd >= 0);
	/* An ELF header and nothing else. */
	{
		Elf64_Ehdr eh = {0};

		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = ELFCLASS64;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		eh.e_ident[EI_VERSION] = EV_CURRENT;
		eh.e_type = ET_DYN;
		eh.e_machine = EM_X86_64;
		eh.e_version = EV_CURRENT;
		eh.e_ehsize = sizeof(eh);
		assert_int_equal(write(fd, &eh, sizeof(eh)), sizeof(eh));
	}
	unlink(path);
	elf_version(EV_CURRENT);
	e = elf_begin(fd, ELF_C_READ, NULL);
	assert_non_null(e);
	assert_int_equal(unwind_table__build(e, &rows, &n, NULL), -ENOENT);
	elf_end(e);
	close(fd);
}

/* unwind_table__build() on a copy of this test binary, first letting @patch edit its .eh_frame. */
static int build_patched(void (*patch)(uint8_t *eh_frame, size_t size))
{
	char path[] = "/tmp/ember-unit-eh.XXXXXX";
	int fd = mkstemp(path), self = open("/proc/self/exe", O_RDONLY), err;
	size_t size = (size_t)lseek(self, 0, SEEK_END), shstrndx;
	uint8_t *buf = malloc(size);
	Elf_Scn *scn = NULL;
	struct ember_row *rows = NULL;
	size_t n;
	Elf *e;

	assert_true(fd >= 0 && self >= 0 && buf);
	assert_int_equal(pread(self, buf, size, 0), (ssize_t)size);
	close(self);
	elf_version(EV_CURRENT);
	e = elf_memory((char *)buf, size);
	assert_non_null(e);
	assert_int_equal(elf_getshdrstrndx(e, &shstrndx), 0);
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;

		assert_non_null(gelf_getshdr(scn, &sh));
		if (!strcmp(elf_strptr(e, shstrndx, sh.sh_name), ".eh_frame")) {
			patch(buf + sh.sh_offset, sh.sh_size);
			break;
		}
	}
	assert_non_null(scn);
	elf_end(e);
	assert_int_equal(write(fd, buf, size), (ssize_t)size);
	free(buf);
	unlink(path);
	e = elf_begin(fd, ELF_C_READ, NULL);
	assert_non_null(e);
	err = unwind_table__build(e, &rows, &n, NULL);
	free(rows);
	elf_end(e);
	close(fd);
	return err;
}

static void no_patch(uint8_t *eh, size_t size)
{
	(void)eh;
	(void)size;
}

/*
 * Replaces the first CIE's initial "DW_CFA_def_cfa rsp+8; DW_CFA_offset rip,
 * cfa-8" (0c 07 08 90 01) with the five bytes @to.
 */
static void patch_first_cie(uint8_t *eh, size_t size, const uint8_t to[5])
{
	static const uint8_t from[] = {0x0c, 0x07, 0x08, 0x90, 0x01};
	uint32_t cie_len;

	assert_true(size > 4);
	memcpy(&cie_len, eh, 4);
	assert_true(cie_len + 4 <= size);
	for (size_t i = 8; i + sizeof(from) <= cie_len + 4; i++) {
		if (!memcmp(eh + i, from, sizeof(from))) {
			memcpy(eh + i, to, sizeof(from));
			return;
		}
	}
	fail_msg("no def_cfa rsp+8 in the first CIE");
}

/* "DW_CFA_undefined 0x7ffffff": a register that would make libdw zero 2 GiB. */
static void huge_register(uint8_t *eh, size_t size)
{
	patch_first_cie(eh, size, (const uint8_t[5]){0x07, 0xff, 0xff, 0xff, 0x3f});
}

/* An opcode no x86-64 compiler emits (DW_CFA_MIPS_advance_loc8). */
static void unknown_opcode(uint8_t *eh, size_t size)
{
	patch_first_cie(eh, size, (const uint8_t[5]){0x1d, 0x07, 0x08, 0x90, 0x01});
}

static void hostile_cfi_is_refused(void **state)
{
	(void)state;
	assert_int_equal(build_patched(no_patch), 0);
	assert_int_equal(build_patched(huge_register), -EINVAL);
	assert_int_equal(build_patched(unknown_opcode), -EINVAL);
}

/*
 * The Rust workload, opened by each test's setup and freed by its teardown,
 * so that a failed assertion leaks nothing into the sanitizer's report. A
 * missing binary fails the setup, and so the test: it is never skipped.
 */
struct rust_bin {
	struct elf_file *ef;
	struct ember_row *rows;
};

static int rust_setup(void **state)
{
	struct rust_bin *rb = calloc(1, sizeof(*rb));
	int fd = open(EMBER_RUST_BIN, O_RDONLY);

	if (fd < 0) {
		print_error("%s: %s (make builds it before this test)\n", EMBER_RUST_BIN,
			    strerror(errno));
		free(rb);
		return -1;
	}
	if (!rb) {
		close(fd);
		return -1;
	}
	rb->ef = elf_file__open_fd(fd);
	if (!rb->ef) {
		print_error("%s: not an ELF file libelf reads: %s\n", EMBER_RUST_BIN,
			    strerror(errno));
		free(rb);
		return -1;
	}
	*state = rb;
	return 0;
}

static int rust_teardown(void **state)
{
	struct rust_bin *rb = *state;

	if (rb) {
		free(rb->rows);
		elf_file__free(rb->ef);
		free(rb);
	}
	return 0;
}

/* The .symtab function whose demangled name is @want: its value and size. */
static void find_func(Elf *e, const char *want, uint64_t *value, uint64_t *size)
{
	Elf_Scn *scn = NULL;
	int found = 0;

	while ((scn = elf_nextscn(e, scn))) {
		Elf_Data *data = elf_getdata(scn, NULL);
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || !data)
			continue;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *name;
			char *dm;
			int match;

			if (!gelf_getsym(data, (int)i, &sym) ||
			    GELF_ST_TYPE(sym.st_info) != STT_FUNC)
				continue;
			name = elf_strptr(e, sh.sh_link, sym.st_name);
			dm = demangle(name);
			match = dm && !strcmp(dm, want);
			free(dm);
			if (match) {
				*value = sym.st_value;
				*size = sym.st_size;
				found++;
			}
		}
	}
	if (found != 1)
		fail_msg("%s: %d functions %s in .symtab (want 1)", EMBER_RUST_BIN, found, want);
}

/* The executable PT_LOAD of @e. */
static GElf_Phdr exec_segment(Elf *e)
{
	size_t nph;
	GElf_Phdr ph, found = {0};

	assert_int_equal(elf_getphdrnum(e, &nph), 0);
	for (size_t i = 0; i < nph; i++) {
		assert_non_null(gelf_getphdr(e, (int)i, &ph));
		if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X)) {
			assert_int_equal(found.p_type, 0); /* lld makes one */
			found = ph;
		}
	}
	if (found.p_type != PT_LOAD)
		fail_msg("%s: no executable PT_LOAD", EMBER_RUST_BIN);
	return found;
}

/*
 * lld's layout, the case this test is for: the code segment starts inside
 * the file page where another PT_LOAD (the read-only data) ends, so the
 * kernel's mapping of the code shows that segment's last bytes first.
 * Without it the test would pass on any bias code and pin nothing.
 */
static void assert_shared_first_page(Elf *e, const GElf_Phdr *code)
{
	uint64_t first = code->p_offset & ~(EMBER_PAGE - 1);
	size_t nph;
	GElf_Phdr ph;

	assert_int_equal(elf_getphdrnum(e, &nph), 0);
	for (size_t i = 0; i < nph; i++) {
		assert_non_null(gelf_getphdr(e, (int)i, &ph));
		if (ph.p_type == PT_LOAD && ph.p_offset < code->p_offset &&
		    ph.p_offset + ph.p_filesz > first)
			return;
	}
	fail_msg("%s: code at file offset %#llx shares its page with no other PT_LOAD: "
		 "not lld's layout, so the bias is not tested (was it linked with lld?)",
		 EMBER_RUST_BIN, (unsigned long long)code->p_offset);
}

/*
 * The code mapping as the kernel makes it for a PIE loaded at @base: from the
 * page holding the segment's first byte, at that page's runtime address.
 * Its bias must be @base exactly, so that work_a's runtime address maps back
 * to work_a's symbol value; the read-only segment whose tail the mapping's
 * first bytes also are once made it a page off.
 */
static void rust_code_bias_is_exact(void **state)
{
	const uint64_t base = 0x555555554000ull;
	struct elf_file *ef = ((struct rust_bin *)*state)->ef;
	Elf *e = elf_file__elf(ef);
	GElf_Phdr code = exec_segment(e);
	uint64_t fn, fn_size, map_start, map_offset, rt, bias = 0, vaddr = 0, start = 0;
	const char *name;
	char *dm;
	int same;

	assert_shared_first_page(e, &code);
	find_func(e, "rust_split::work_a", &fn, &fn_size);
	assert_true(fn >= code.p_vaddr && fn + fn_size <= code.p_vaddr + code.p_filesz);
	map_offset = code.p_offset & ~(EMBER_PAGE - 1);
	map_start = base + (code.p_vaddr & ~(EMBER_PAGE - 1));
	rt = base + fn;

	assert_int_equal(elf_file__bias(ef, map_start, map_offset, &bias), 0);
	if (bias != base)
		fail_msg(
			"bias of the code mapping (start %#llx, offset %#llx) is %#llx, want %#llx "
			"(%+lld bytes off)",
			(unsigned long long)map_start, (unsigned long long)map_offset,
			(unsigned long long)bias, (unsigned long long)base,
			(long long)(bias - base));
	assert_int_equal(rt - bias, fn);
	/* The same translation for an address inside the mapping, and back to the name. */
	assert_int_equal(elf_file__vaddr(ef, map_start, map_offset, rt, &vaddr), 0);
	assert_int_equal(vaddr, fn);
	name = elf_file__lookup(ef, rt - bias, &start);
	assert_non_null(name);
	assert_int_equal(start, fn);
	dm = demangle(name);
	assert_non_null(dm);
	/* Compared once freed: a failed assertion leaves the function. */
	same = !strcmp(dm, "rust_split::work_a");
	free(dm);
	assert_true(same);
}

/*
 * The rows lld's output gets for work_a: at its first instruction the CFA is
 * rsp + 8 (only the return address is pushed); in its body, past the
 * prologue that makes room for its 64-word buffer, it is rsp plus more than
 * that buffer. The rows of any other function would not have both.
 */
static void rust_rows_describe_work_a(void **state)
{
	struct rust_bin *rb = *state;
	Elf *e = elf_file__elf(rb->ef);
	struct unwind_table_stats st;
	const struct ember_row *rows, *r;
	uint64_t fn, fn_size;
	size_t n, body = 0;
	uint32_t max_off = 0;

	find_func(e, "rust_split::work_a", &fn, &fn_size);
	assert_true(fn_size > 0);
	assert_int_equal(unwind_table__build(e, &rb->rows, &n, &st), 0);
	rows = rb->rows;
	assert_true(n > 100 && st.fdes > 50);
	r = row_at(rows, n, fn);
	assert_non_null(r);
	assert_int_equal(r->pc, fn); /* a row starts at the function */
	assert_int_equal(ember_row_cfa_rule(r), EMBER_CFA_RSP);
	assert_int_equal(ember_row_cfa_off(r), 8);
	for (size_t i = 0; i < n; i++) {
		if (rows[i].pc <= fn || rows[i].pc >= fn + fn_size)
			continue;
		body++;
		if (ember_row_cfa_rule(&rows[i]) == EMBER_CFA_RSP &&
		    ember_row_cfa_off(&rows[i]) > max_off)
			max_off = ember_row_cfa_off(&rows[i]);
	}
	assert_true(body >= 2); /* the prologue's push and sub, at least */
	if (max_off < 8 + 64 * 8)
		fail_msg("work_a's rows (%zu in its body) reach rsp + %u at most, want >= rsp + %d",
			 body, max_off, 8 + 64 * 8);
}

struct tiles {
	uint64_t next;
	unsigned int count;
};

/*
 * The rule a table gives at @pc: GAP before its first row and, for a chunk,
 * past what the whole table's next row would end.
 */
static uint32_t rule_at(const struct ember_row *rows, size_t n, uint64_t pc)
{
	const struct ember_row *r = row_at(rows, n, pc);

	return r ? r->rule : EMBER_CFA_GAP;
}

/*
 * Builds @path's table whole and then chunk by chunk, as the agent does, and
 * checks that every chunk gives the rule the whole table gives at each of
 * its row boundaries and the whole table's, inside the chunk. Padding gaps
 * under 16 bytes may read as the row before in either; any address where
 * the two disagree otherwise fails.
 */
static void chunks_match_whole(const char *path)
{
	struct elf_file *ef = elf_file__open_fd(open(path, O_RDONLY));
	struct ember_row *whole, *part;
	struct unwind_source *src;
	size_t n, m, chunks = 0, checked = 0;

	assert_non_null(ef);
	assert_int_equal(unwind_table__build(elf_file__elf(ef), &whole, &n, NULL), 0);
	assert_true(n > 100);
	src = unwind_source__new(elf_file__elf(ef));
	assert_non_null(src);
	for (uint64_t lo = whole[0].pc & ~(uint64_t)(EMBER_CHUNK_BYTES - 1); lo <= whole[n - 1].pc;
	     lo += EMBER_CHUNK_BYTES) {
		uint64_t hi = lo + EMBER_CHUNK_BYTES;

		assert_int_equal(unwind_source__build(src, lo, hi, &part, &m, NULL), 0);
		for (size_t i = 0; i < m; i++) {
			assert_true(part[i].pc >= lo && part[i].pc < hi);
			assert_true(i == 0 || part[i].pc > part[i - 1].pc);
			if (ember_row_cfa_rule(&part[i]) == EMBER_CFA_GAP)
				continue; /* a gap at the chunk's end: the whole table may differ */
			if (rule_at(whole, n, part[i].pc) != part[i].rule)
				fail_msg("%s: chunk %#lx: rule %#x at %#x, whole table %#x", path,
					 (unsigned long)lo, part[i].rule, part[i].pc,
					 rule_at(whole, n, part[i].pc));
			checked++;
		}
		for (size_t i = 0; i < n; i++) {
			if (whole[i].pc < lo || whole[i].pc >= hi ||
			    ember_row_cfa_rule(&whole[i]) == EMBER_CFA_GAP)
				continue;
			if (rule_at(part, m, whole[i].pc) != whole[i].rule)
				fail_msg("%s: chunk %#lx: whole-table rule %#x at %#x, chunk %#x",
					 path, (unsigned long)lo, whole[i].rule, whole[i].pc,
					 rule_at(part, m, whole[i].pc));
			checked++;
		}
		chunks += m > 0;
		free(part);
	}
	assert_true(chunks >= 1 && checked >= n);
	unwind_source__free(src);
	free(whole);
	elf_file__free(ef);
}

static void chunk_tables_match_whole(void **state)
{
	(void)state;
	chunks_match_whole("/proc/self/exe");
	chunks_match_whole(EMBER_RUST_BIN);
	/* A file of many chunks, with FDEs that cross chunk boundaries. */
	chunks_match_whole("/lib/x86_64-linux-gnu/libc.so.6");
}

/* The packed word keeps every field the walker reads, and refuses what it cannot hold. */
static void packed_rows_round_trip(void **state)
{
	struct elf_file *ef = elf_file__open_fd(open("/lib/x86_64-linux-gnu/libc.so.6", O_RDONLY));
	struct ember_row *rows;
	size_t n, rbp_saved = 0, big = 0;

	(void)state;
	assert_non_null(ef);
	assert_int_equal(unwind_table__build(elf_file__elf(ef), &rows, &n, NULL), 0);
	for (size_t i = 0; i < n; i++) {
		const struct ember_row *r = &rows[i];
		uint32_t cfa = ember_row_cfa_rule(r);

		assert_true(cfa <= EMBER_CFA_UNSUPPORTED);
		if (cfa != EMBER_CFA_RSP && cfa != EMBER_CFA_RBP && cfa != EMBER_CFA_PLT) {
			/* Nothing else is read: the word is the rule alone. */
			assert_int_equal(r->rule, cfa);
			continue;
		}
		assert_true(ember_row_cfa_off(r) >= 8 || cfa == EMBER_CFA_RBP);
		big += ember_row_cfa_off(r) > 255;
		if (ember_row_rbp_rule(r) == EMBER_RBP_AT_CFA) {
			/* Saved below the return address, on an 8-byte slot. */
			assert_true(ember_row_rbp_off(r) < 0 && ember_row_rbp_off(r) % 8 == 0);
			rbp_saved++;
		}
	}
	/* libc saves rbp in most functions and has frames larger than a byte can say. */
	assert_true(rbp_saved > n / 10);
	assert_true(big > 0);
	free(rows);
	elf_file__free(ef);
}

static void check_tile(uint64_t start, unsigned int bits, void *arg)
{
	struct tiles *t = arg;

	assert_true(start == t->next);					/* contiguous, in order */
	assert_true(bits == 64 || (start & ((1ull << bits) - 1)) == 0); /* aligned */
	t->next = start + (1ull << bits);
	t->count++;
}

static void tiling_covers_exactly(void **state)
{
	const uint64_t cases[][2] = {
		{0x7f1c2a628000ull, 0x7f1c2a7bd000ull}, /* libc's text */
		{0x400000, 0x401000},
		{0x1000, 0x1001},
		{0, 0x10},
		{0xfffffffffffff000ull, 0xffffffffffffffffull},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tiles t = {cases[i][0], 0};

		unwind_tile_range(cases[i][0], cases[i][1], check_tile, &t);
		assert_true(t.next == cases[i][1]);
		assert_true(t.count <= 2 * 64);
	}
	{
		struct tiles t = {0x7f1c2a628000ull, 0};

		unwind_tile_range(0x7f1c2a628000ull, 0x7f1c2a7bd000ull, check_tile, &t);
		assert_true(t.count < 20); /* a 1.6 MiB page-aligned range */
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rows_describe_own_functions),
		cmocka_unit_test(no_eh_frame_hdr_is_enoent),
		cmocka_unit_test(hostile_cfi_is_refused),
		cmocka_unit_test(tiling_covers_exactly),
		cmocka_unit_test(chunk_tables_match_whole),
		cmocka_unit_test(packed_rows_round_trip),
		cmocka_unit_test_setup_teardown(rust_code_bias_is_exact, rust_setup, rust_teardown),
		cmocka_unit_test_setup_teardown(rust_rows_describe_work_a, rust_setup,
						rust_teardown),
	};

	return cmocka_run_group_tests_name("unwind", tests, NULL, NULL);
}
