// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of lib/'s file, gzip and text-buffer helpers: an atomic write
 * replaces the target whole or leaves it as it was, with no temporary file
 * left behind either way; whole-file reads stop at their bound; gzip round
 * trips and refuses a bomb past its bound; strbuf grows and stays
 * NUL-terminated.
 */
#include <dirent.h>
#include <errno.h>
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

#include "lib/file.h"
#include "lib/gzip.h"
#include "lib/strbuf.h"

static char dir[] = "/tmp/test_file.XXXXXX";

static int make_dir(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char cmd[64];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Files in the directory: the target alone, never a leftover temporary. */
static int entries(void)
{
	DIR *d = opendir(dir);
	int n = 0;

	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void atomic_write_replaces_or_keeps(void **state)
{
	struct atomic_file af;
	char path[128];
	uint8_t *got;
	size_t len;
	struct stat st;

	(void)state;
	snprintf(path, sizeof(path), "%s/out", dir);
	assert_int_equal(atomic_file__write(path, 0644, "first", 5), 0);
	assert_int_equal(entries(), 1);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	/* Aborted halfway: the old file stays, and the temporary is gone. */
	assert_int_equal(atomic_file__open(&af, path, 0644), 0);
	fputs("second, never committed", af.f);
	assert_int_equal(entries(), 2);
	atomic_file__abort(&af);
	assert_int_equal(entries(), 1);
	assert_int_equal(file__read_all(path, 1 << 20, &got, &len), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(got, "first", 5);
	free(got);
	/* Committed: the new content under the same name. */
	assert_int_equal(atomic_file__open(&af, path, 0600), 0);
	fputs("third", af.f);
	assert_int_equal(atomic_file__commit(&af), 0);
	assert_int_equal(entries(), 1);
	assert_int_equal(file__read_all(path, 1 << 20, &got, &len), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(got, "third", 5);
	free(got);
}

static void atomic_write_errors(void **state)
{
	char path[8192], sub[128];

	(void)state;
	/* A directory that does not exist: nothing is created. */
	snprintf(sub, sizeof(sub), "%s/no/such/dir/out", dir);
	assert_int_equal(atomic_file__write(sub, 0644, "x", 1), -ENOENT);
	/* A name with no room for the temporary suffix. */
	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(atomic_file__write(path, 0644, "x", 1), -ENAMETOOLONG);
	/* A target that is a directory cannot be replaced by a file. */
	snprintf(sub, sizeof(sub), "%s/adir", dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_true(atomic_file__write(sub, 0644, "x", 1) < 0);
	assert_int_equal(entries(), 2); /* out and adir: no temporary left */
	rmdir(sub);
}

static void read_all_bounded(void **state)
{
	char path[128];
	uint8_t *got = NULL;
	size_t len;

	(void)state;
	snprintf(path, sizeof(path), "%s/big", dir);
	assert_int_equal(atomic_file__write(path, 0644, "0123456789", 10), 0);
	assert_int_equal(file__read_all(path, 10, &got, &len), 0);
	assert_int_equal(len, 10);
	free(got);
	assert_int_equal(file__read_all(path, 9, &got, &len), -EFBIG);
	snprintf(path, sizeof(path), "%s/none", dir);
	assert_int_equal(file__read_all(path, 10, &got, &len), -ENOENT);
}

static void gzip_round_trip_and_bomb(void **state)
{
	size_t n = 1 << 20, gz_len, out_len;
	uint8_t *in = malloc(n), *gz, *out;

	(void)state;
	assert_non_null(in);
	for (size_t i = 0; i < n; i++)
		in[i] = (uint8_t)(i % 251 < 100 ? 'a' : i % 7);
	assert_int_equal(gzip__compress(in, n, &gz, &gz_len), 0);
	assert_true(gzip__is(gz, gz_len));
	assert_false(gzip__is(in, n));
	assert_true(gz_len < n / 4);
	assert_int_equal(gzip__inflate(gz, gz_len, n, &out, &out_len), 0);
	assert_int_equal(out_len, n);
	assert_memory_equal(out, in, n);
	free(out);
	/* One byte under what it inflates to: refused, not truncated. */
	assert_int_equal(gzip__inflate(gz, gz_len, n - 1, &out, &out_len), -EFBIG);
	assert_int_equal(gzip__inflate(in, 64, n, &out, &out_len), -EINVAL);
	free(gz);
	free(in);
}

static void strbuf_grows(void **state)
{
	struct strbuf b = {0};

	(void)state;
	for (int i = 0; i < 1000; i++)
		strbuf__printf(&b, "line %d\n", i);
	strbuf__put(&b, "end", 3);
	assert_false(b.failed);
	assert_int_equal(strlen(b.s), b.len);
	assert_non_null(strstr(b.s, "line 999\nend"));
	assert_memory_equal(b.s, "line 0\nline 1\n", 14);
	strbuf__free(&b);
	assert_null(b.s);
	assert_int_equal(b.len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(atomic_write_replaces_or_keeps),
		cmocka_unit_test(atomic_write_errors),
		cmocka_unit_test(read_all_bounded),
		cmocka_unit_test(gzip_round_trip_and_bomb),
		cmocka_unit_test(strbuf_grows),
	};

	return cmocka_run_group_tests_name("file", tests, make_dir, remove_dir);
}
