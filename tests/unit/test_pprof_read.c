// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of the pprof reader: a profile the writer encoded comes back
 * whole, gzip'd or not, from bytes or from a file, into the model and out of
 * it again; another tool's profile (ids in any order, its own sample types
 * and labels) reads too; bytes that are not a pprof profile (garbage, a gzip
 * stream cut short, nothing) are refused with -EINVAL, and a missing file
 * with its errno.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/file.h"
#include "lib/gzip.h"
#include "symbolizer/symbolizer.h"
#include "profile/pprof.h"
#include "profile/pprof_read.h"
#include "profile/profile.h"

/* A profile of 7 samples of main -> work in pid 42, encoded. */
static void encoded(uint8_t **buf, size_t *len)
{
	struct profile *p = profile__new(10000000, 1700000000000000000ull);
	struct sym_result rm = {.nlines = 1}, rw = {.nlines = 1};
	struct prof_frame f = {
		.map_file = "/bin/app", .map_start = 0x400000, .map_limit = 0x500000};
	uint64_t stack[2];

	assert_non_null(p);
	rm.lines[0].function = "main";
	rw.lines[0].function = "work";
	f.address = 0x401000;
	f.sym = &rw;
	stack[0] = profile__location(p, &f);
	f.address = 0x402000;
	f.sym = &rm;
	stack[1] = profile__location(p, &f);
	assert_int_equal(profile__add(p, stack, 2, 42, 43, "app", "app", 0, 7), 0);
	profile__set_duration(p, 1000000000);
	assert_int_equal(pprof__encode(p, buf, len), 0);
	profile__free(p);
}

/* The decoded profile is the one encoded: types, one sample of 7, its two frames. */
static void check(const Perftools__Profiles__Profile *d)
{
	assert_int_equal(d->n_sample_type, 2);
	assert_string_equal(d->string_table[d->sample_type[0]->type], "samples");
	assert_string_equal(d->string_table[d->sample_type[1]->unit], "nanoseconds");
	assert_int_equal(d->n_sample, 1);
	assert_int_equal(d->sample[0]->n_value, 2);
	assert_int_equal(d->sample[0]->value[0], 7);
	assert_int_equal(d->sample[0]->value[1], 7 * 10000000);
	assert_int_equal(d->sample[0]->n_location_id, 2);
	assert_int_equal(d->n_location, 2);
	assert_int_equal(d->n_function, 2);
	assert_int_equal(d->period, 10000000);
}

static void reads_plain_and_gzipped(void **state)
{
	Perftools__Profiles__Profile *d;
	uint8_t *buf, *gz;
	size_t len, gz_len;

	(void)state;
	encoded(&buf, &len);
	assert_int_equal(pprof__decode(buf, len, &d), 0);
	check(d);
	perftools__profiles__profile__free_unpacked(d, NULL);
	assert_int_equal(gzip__compress(buf, len, &gz, &gz_len), 0);
	assert_true(gzip__is(gz, gz_len));
	assert_int_equal(pprof__decode(gz, gz_len, &d), 0);
	check(d);
	perftools__profiles__profile__free_unpacked(d, NULL);
	free(gz);
	free(buf);
}

static void refuses_what_is_not_pprof(void **state)
{
	static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02};
	Perftools__Profiles__Profile *d = (void *)1;
	uint8_t *buf, *gz;
	size_t len, gz_len;

	(void)state;
	assert_int_equal(pprof__decode(garbage, sizeof(garbage), &d), -EINVAL);
	assert_null(d);
	assert_int_equal(pprof__decode(garbage, 0, &d), -EINVAL);
	encoded(&buf, &len);
	assert_int_equal(gzip__compress(buf, len, &gz, &gz_len), 0);
	/* A gzip stream cut short is corrupt, not a shorter profile. */
	assert_int_equal(pprof__decode(gz, gz_len / 2, &d), -EINVAL);
	assert_null(d);
	free(gz);
	free(buf);
}

/* The model read back holds what was written: types, values, frames, labels. */
static void check_model(const struct profile *m)
{
	size_t dflt, n, nstr, nlocs, nfns;
	const char *name, *unit;
	const struct prof_sample *s = profile__samples(m, &n);
	const char *const *str = profile__strings(m, &nstr);
	const struct prof_location *locs = profile__locations(m, &nlocs);
	const struct prof_function *fns = profile__functions(m, &nfns);

	assert_int_equal(profile__sample_types(m, &dflt), 2);
	assert_int_equal(dflt, 1); /* pprof's choice: the last type */
	profile__sample_type(m, 1, &name, &unit);
	assert_string_equal(name, "cpu");
	assert_string_equal(unit, "nanoseconds");
	assert_int_equal(n, 1);
	assert_int_equal(profile__value(m, &s[0], 0), 7);
	assert_int_equal(profile__value(m, &s[0], 1), 7 * 10000000);
	assert_int_equal(s[0].count, 7 * 10000000); /* the default type's value */
	assert_int_equal(s[0].pid, 42);
	assert_int_equal(s[0].tid, 43);
	assert_string_equal(str[s[0].comm], "app");
	assert_int_equal(s[0].nlocs, 2);
	assert_int_equal(nlocs, 2);
	assert_int_equal(nfns, 2);
	/* Leaf first: work, then main. */
	assert_string_equal(str[fns[locs[s[0].loc_ids[0] - 1].lines[0].function_id - 1].name],
			    "work");
	assert_string_equal(str[fns[locs[s[0].loc_ids[1] - 1].lines[0].function_id - 1].name],
			    "main");
	assert_int_equal(profile__period(m), 10000000);
}

static void reads_files(void **state)
{
	char path[] = "/tmp/test_pprof_read.XXXXXX";
	struct profile *m = (void *)1;
	uint8_t *buf, *gz, *again;
	size_t len, gz_len, again_len;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	encoded(&buf, &len);
	assert_int_equal(gzip__compress(buf, len, &gz, &gz_len), 0);
	assert_int_equal(atomic_file__write(path, 0644, gz, gz_len), 0);
	assert_int_equal(pprof__read_file(path, &m), 0);
	check_model(m);
	/* Written again from the read model, it is the same profile. */
	assert_int_equal(pprof__encode(m, &again, &again_len), 0);
	profile__free(m);
	assert_int_equal(pprof__read(again, again_len, &m), 0);
	check_model(m);
	profile__free(m);
	free(again);
	unlink(path);
	assert_int_equal(pprof__read_file(path, &m), -ENOENT);
	assert_null(m);
	assert_int_equal(pprof__read(gz, gz_len / 2, &m), -EINVAL);
	assert_null(m);
	free(gz);
	free(buf);
}

/* Another tool's profile: ids out of order, three types, a default one, labels by name. */
static void reads_foreign_profiles(void **state)
{
	Perftools__Profiles__Profile p = PERFTOOLS__PROFILES__PROFILE__INIT;
	Perftools__Profiles__ValueType t[3], *tp[3] = {&t[0], &t[1], &t[2]};
	Perftools__Profiles__Function f = PERFTOOLS__PROFILES__FUNCTION__INIT, *fp[1] = {&f};
	Perftools__Profiles__Line line = PERFTOOLS__PROFILES__LINE__INIT, *lp[1] = {&line};
	Perftools__Profiles__Location l[2], *locp[2] = {&l[0], &l[1]};
	Perftools__Profiles__Label lab[3], *labp[3] = {&lab[0], &lab[1], &lab[2]};
	Perftools__Profiles__Sample smp = PERFTOOLS__PROFILES__SAMPLE__INIT, *sp[1] = {&smp};
	char *strs[] = {"",
			"alloc_objects",
			"count",
			"alloc_space",
			"bytes",
			"inuse_space",
			"malloc",
			"thread",
			"worker",
			"trace_id",
			"0af7651916cd43dd8448eb211c80319c",
			"span_id",
			"zz"};
	uint64_t ids[] = {900, 5, 77}; /* 77 names no location: dropped */
	int64_t vals[] = {3, 4096, 2048};
	struct profile *m;
	size_t dflt, n, nstr, nlinks;
	const struct prof_sample *s;
	const char *const *str;
	uint8_t *buf;
	size_t len;

	(void)state;
	for (int i = 0; i < 3; i++) {
		perftools__profiles__value_type__init(&t[i]);
		t[i].type = 1 + 2 * i;
		t[i].unit = i ? 4 : 2;
		perftools__profiles__label__init(&lab[i]);
	}
	t[2].type = 5;
	p.string_table = strs;
	p.n_string_table = sizeof(strs) / sizeof(strs[0]);
	p.sample_type = tp;
	p.n_sample_type = 3;
	p.default_sample_type = 3; /* alloc_space */
	f.id = 31;
	f.name = 6;
	fp[0] = &f;
	p.function = fp;
	p.n_function = 1;
	line.function_id = 31;
	line.line = 12;
	for (int i = 0; i < 2; i++) {
		perftools__profiles__location__init(&l[i]);
		l[i].line = lp;
		l[i].n_line = 1;
	}
	l[0].id = 900;
	l[1].id = 5;
	l[1].address = 0x1234;
	l[1].n_line = 0;
	p.location = locp;
	p.n_location = 2;
	lab[0].key = 7;
	lab[0].str = 8;
	lab[1].key = 9;
	lab[1].str = 10;
	lab[2].key = 11;
	lab[2].str = 12; /* not 16 hex digits: no link */
	smp.location_id = ids;
	smp.n_location_id = 3;
	smp.value = vals;
	smp.n_value = 3;
	smp.label = labp;
	smp.n_label = 3;
	p.sample = sp;
	p.n_sample = 1;
	len = perftools__profiles__profile__get_packed_size(&p);
	buf = malloc(len);
	assert_non_null(buf);
	perftools__profiles__profile__pack(&p, buf);
	assert_int_equal(pprof__read(buf, len, &m), 0);
	free(buf);
	assert_int_equal(profile__sample_types(m, &dflt), 3);
	assert_int_equal(dflt, 1);
	s = profile__samples(m, &n);
	str = profile__strings(m, &nstr);
	assert_int_equal(n, 1);
	assert_int_equal(s[0].nlocs, 2);
	assert_int_equal(s[0].count, 4096);
	assert_int_equal(profile__value(m, &s[0], 2), 2048);
	assert_string_equal(str[s[0].comm], "worker");
	assert_int_equal(s[0].link, 0);
	profile__links(m, &nlinks);
	assert_int_equal(nlinks, 0);
	profile__free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reads_plain_and_gzipped),
		cmocka_unit_test(refuses_what_is_not_pprof),
		cmocka_unit_test(reads_files),
		cmocka_unit_test(reads_foreign_profiles),
	};

	return cmocka_run_group_tests_name("pprof_read", tests, NULL, NULL);
}
