// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of unwind-table generation, on this test binary's own
 * .eh_frame (gcc on Debian emits it for every function), and of the range
 * tiling the mapping trie relies on.
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

#include "agent/proc.h"
#include "agent/unwind_table.h"
#include "symbolizer/elf_file.h"

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
	assert_int_equal(r->cfa_rule, EMBER_CFA_RSP);
	assert_int_equal(r->cfa_off, 8);
	for (size_t i = 0; i < n; i++) {
		plt += rows[i].cfa_rule == EMBER_CFA_PLT;
		end += rows[i].cfa_rule == EMBER_CFA_END;
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

struct tiles {
	uint64_t next;
	unsigned int count;
};

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
	};

	return cmocka_run_group_tests_name("unwind", tests, NULL, NULL);
}
