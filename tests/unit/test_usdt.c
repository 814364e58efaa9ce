// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of agent/usdt.c, the USDT note reader, on real files:
 * libotelmem.so has the two otel_memory probes (alloc and free); Debian's
 * libstdc++ has three of its own provider, libstdcxx, and none of
 * otel_memory; a
 * copy of libotelmem whose notes are cut short or renamed counts none.
 */
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

#include "agent/usdt.h"

static int count_in(const char *path, const char *provider)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), n;
	Elf *e;

	assert_true(fd >= 0);
	e = elf_begin(fd, ELF_C_READ, NULL);
	assert_non_null(e);
	n = usdt__count_probes(e, provider);
	elf_end(e);
	close(fd);
	return n;
}

static void otelmem_has_both_probes(void **state)
{
	(void)state;
	assert_int_equal(count_in(EMBER_OTELMEM_LIB, "otel_memory"), 2);
	assert_int_equal(count_in(EMBER_OTELMEM_LIB, "otel_mem"), 0);
}

static void libstdcxx_has_only_its_own(void **state)
{
	(void)state;
	assert_int_equal(count_in("/lib/x86_64-linux-gnu/libstdc++.so.6", "libstdcxx"), 3);
	assert_int_equal(count_in("/lib/x86_64-linux-gnu/libstdc++.so.6", "otel_memory"), 0);
}

/* Reads libotelmem into memory, for the corrupted copies below. */
static char *read_lib(size_t *len)
{
	FILE *f = fopen(EMBER_OTELMEM_LIB, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* The offset and size of @buf's .note.stapsdt section. */
static void note_section(char *buf, size_t len, size_t *off, size_t *size)
{
	Elf *e = elf_memory(buf, len);
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	assert_non_null(e);
	assert_int_equal(elf_getshdrstrndx(e, &shstrndx), 0);
	*size = 0;
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;

		assert_non_null(gelf_getshdr(scn, &sh));
		if (strcmp(elf_strptr(e, shstrndx, sh.sh_name), ".note.stapsdt") == 0) {
			*off = sh.sh_offset;
			*size = sh.sh_size;
		}
	}
	elf_end(e);
	assert_true(*size > 0);
}

static int count_buf(char *buf, size_t len)
{
	Elf *e = elf_memory(buf, len);
	int n;

	assert_non_null(e);
	n = usdt__count_probes(e, "otel_memory");
	elf_end(e);
	return n;
}

static void corrupt_notes_count_none(void **state)
{
	size_t len, off, size;
	char *buf = read_lib(&len), *p;

	(void)state;
	note_section(buf, len, &off, &size);
	assert_int_equal(count_buf(buf, len), 2);
	/* Each provider's NUL overwritten: the strings run to the descriptor's end. */
	for (p = buf + off; (p = memmem(p, buf + off + size - p, "otel_memory", 12)); p += 12)
		p[11] = 'x';
	assert_int_equal(count_buf(buf, len), 0);
	free(buf);
	buf = read_lib(&len);
	/* Every descriptor size claims more than the section holds. */
	for (size_t i = 0; i + 12 <= size;) {
		uint32_t namesz, descsz;

		memcpy(&namesz, buf + off + i, 4);
		memcpy(&descsz, buf + off + i + 4, 4);
		memcpy(buf + off + i + 4, &(uint32_t){0x7fffffff}, 4);
		i += 12 + ((namesz + 3) & ~3u) + ((descsz + 3) & ~3u);
	}
	assert_int_equal(count_buf(buf, len), 0);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(otelmem_has_both_probes),
		cmocka_unit_test(libstdcxx_has_only_its_own),
		cmocka_unit_test(corrupt_notes_count_none),
	};

	elf_version(EV_CURRENT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
