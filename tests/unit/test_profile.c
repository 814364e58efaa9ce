// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of the profile model and its writers: interning and merging, the
 * folded format byte for byte, and the pprof encoding decoded back with
 * protobuf-c, field by field. Also the hash table under churn, checked
 * against a plain array, and output path templates.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "profile.pb-c.h"
#include "lib/htab.h"
#include "lib/path.h"
#include "symbolizer/symbolizer.h"
#include "profile/folded.h"
#include "profile/pprof.h"
#include "profile/profile.h"
#include "profile/rank.h"

#define PERIOD 10101010

struct fixture {
	struct profile *p;
	uint64_t leaf, mid, root, kern, unnamed;
};

static struct sym_result one_line(const char *fn, const char *file)
{
	struct sym_result r = {.nlines = 1};

	r.lines[0] = (struct sym_line){.function = fn, .system_name = fn, .file = file};
	return r;
}

/*
 * Two threads of pid 100: thread 100 in main -> work(inlined helper) and
 * thread 101 in a syscall from main; plus an unnamed frame.
 */
static int build(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct sym_result r_main = one_line("main", NULL);
	struct sym_result r_work = {.nlines = 2};
	struct sym_result r_kern = one_line("do_syscall_64", "[kernel.kallsyms]");
	struct prof_frame f = {.map_file = "/bin/app",
			       .build_id = "abcd",
			       .map_start = 0x1000,
			       .map_limit = 0x9000,
			       .map_offset = 0};
	uint64_t stack[3];

	r_work.lines[0] = (struct sym_line){.function = "helper", .file = "app.c", .line = 7};
	r_work.lines[1] = (struct sym_line){.function = "work", .file = "app.c", .line = 20};
	fx->p = profile__new(PERIOD, 1700000000000000000ull);
	assert_non_null(fx->p);

	f.address = 0x1100;
	f.sym = &r_main;
	fx->root = profile__location(fx->p, &f);
	f.address = 0x1200;
	f.sym = &r_work;
	fx->leaf = profile__location(fx->p, &f);
	f.address = 0x1100; /* same address and mapping: same location */
	f.sym = &r_main;
	assert_true(profile__location(fx->p, &f) == fx->root);
	f.address = 0x1300;
	f.sym = &(struct sym_result){0};
	fx->unnamed = profile__location(fx->p, &f);

	fx->kern = profile__location(fx->p, &(struct prof_frame){.address = 0xffffffff81000010ull,
								 .map_file = "[kernel.kallsyms]",
								 .map_start = 0xffff800000000000ull,
								 .map_limit = ~0ull,
								 .kernel = 1,
								 .sym = &r_kern});
	assert_true(fx->root && fx->leaf && fx->kern && fx->unnamed);

	stack[0] = fx->leaf;
	stack[1] = fx->root;
	assert_int_equal(profile__add(fx->p, stack, 2, 100, 100, "app", "app", 0, 5), 0);
	assert_int_equal(profile__add(fx->p, stack, 2, 100, 100, "app", "app", 0, 2),
			 0); /* merged */
	assert_int_equal(profile__add(fx->p, stack, 2, 100, 101, "worker", "app", 0, 3), 0);
	stack[0] = fx->kern;
	stack[1] = fx->root;
	assert_int_equal(profile__add(fx->p, stack, 2, 100, 101, "worker", "app", 0, 4), 0);
	stack[0] = fx->unnamed;
	assert_int_equal(profile__add(fx->p, stack, 2, 100, 100, "app", "app", 0, 1), 0);
	profile__set_duration(fx->p, 2000000000);
	*state = fx;
	return 0;
}

static int destroy(void **state)
{
	struct fixture *fx = *state;

	profile__free(fx->p);
	free(fx);
	return 0;
}

static void model_merges_and_counts(void **state)
{
	struct fixture *fx = *state;
	size_t n;

	assert_int_equal(profile__total(fx->p), 15);
	profile__samples(fx->p, &n);
	assert_int_equal(n, 4);
	profile__locations(fx->p, &n);
	assert_int_equal(n, 4);
	profile__mappings(fx->p, &n);
	assert_int_equal(n, 2);
	profile__functions(fx->p, &n);
	assert_int_equal(n, 4); /* main, helper, work, do_syscall_64 */
	assert_string_equal(profile__strings(fx->p, &n)[0], "");
}

static void folded_output_is_exact(void **state)
{
	struct fixture *fx = *state;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	assert_int_equal(folded__fprint(fx->p, f, 0, FOLDED_SAMPLES), 0);
	fclose(f);
	/* Sorted; thread labels merged (7 + 3); inline frames expanded caller first. */
	assert_string_equal(text, "app;main;app+0x300 1\n"
				  "app;main;do_syscall_64_[k] 4\n"
				  "app;main;work;helper 10\n");
	free(text);
}

static const char *str(const Perftools__Profiles__Profile *pb, int64_t i)
{
	assert_true(i >= 0 && (size_t)i < pb->n_string_table);
	return pb->string_table[i];
}

static int64_t label_num(const Perftools__Profiles__Profile *pb,
			 const Perftools__Profiles__Sample *s, const char *key)
{
	for (size_t i = 0; i < s->n_label; i++)
		if (strcmp(str(pb, s->label[i]->key), key) == 0)
			return s->label[i]->num;
	fail_msg("no label %s", key);
	return -1;
}

static void pprof_decodes_field_by_field(void **state)
{
	struct fixture *fx = *state;
	Perftools__Profiles__Profile *pb;
	uint8_t *buf;
	size_t len;
	int64_t total = 0, cpu = 0;
	int saw_inline = 0;

	assert_int_equal(pprof__encode(fx->p, &buf, &len), 0);
	pb = perftools__profiles__profile__unpack(NULL, len, buf);
	assert_non_null(pb);
	assert_string_equal(str(pb, 0), "");
	assert_int_equal(pb->n_sample_type, 2);
	assert_string_equal(str(pb, pb->sample_type[0]->type), "samples");
	assert_string_equal(str(pb, pb->sample_type[0]->unit), "count");
	assert_string_equal(str(pb, pb->sample_type[1]->type), "cpu");
	assert_string_equal(str(pb, pb->sample_type[1]->unit), "nanoseconds");
	assert_string_equal(str(pb, pb->period_type->type), "cpu");
	assert_int_equal(pb->period, PERIOD);
	assert_int_equal(pb->duration_nanos, 2000000000);
	assert_true(pb->time_nanos == 1700000000000000000ll);
	assert_int_equal(pb->n_sample, 4);
	for (size_t i = 0; i < pb->n_sample; i++) {
		Perftools__Profiles__Sample *s = pb->sample[i];

		assert_int_equal(s->n_value, 2);
		assert_int_equal(s->value[1], s->value[0] * PERIOD);
		total += s->value[0];
		cpu += s->value[1];
		assert_int_equal(label_num(pb, s, "pid"), 100);
		assert_in_range(label_num(pb, s, "tid"), 100, 101);
		for (size_t j = 0; j < s->n_location_id; j++)
			assert_in_range(s->location_id[j], 1, pb->n_location);
	}
	assert_int_equal(total, 15);
	assert_int_equal(cpu, 15 * PERIOD);
	for (size_t i = 0; i < pb->n_location; i++) {
		Perftools__Profiles__Location *l = pb->location[i];

		assert_int_equal(l->id, i + 1);
		assert_in_range(l->mapping_id, 1, pb->n_mapping);
		if (l->n_line == 2) {
			/* innermost first */
			assert_string_equal(
				str(pb, pb->function[l->line[0]->function_id - 1]->name), "helper");
			assert_int_equal(l->line[0]->line, 7);
			assert_string_equal(
				str(pb, pb->function[l->line[1]->function_id - 1]->name), "work");
			saw_inline = 1;
		}
	}
	assert_true(saw_inline);
	for (size_t i = 0; i < pb->n_mapping; i++) {
		Perftools__Profiles__Mapping *m = pb->mapping[i];

		if (strcmp(str(pb, m->filename), "/bin/app") == 0) {
			assert_string_equal(str(pb, m->build_id), "abcd");
			assert_true(m->memory_start == 0x1000 && m->memory_limit == 0x9000);
			assert_true(m->has_functions);
		} else {
			assert_string_equal(str(pb, m->filename), "[kernel.kallsyms]");
		}
	}
	perftools__profiles__profile__free_unpacked(pb, NULL);
	free(buf);
}

/*
 * --off-cpu: blocked nanoseconds merge into the samples by stack and labels
 * beside CPU samples, pprof gets a third type off_cpu/nanoseconds (cpu stays
 * the default), folded off-CPU output is in microseconds with CPU-only
 * stacks left out (and the CPU output without the blocked-only ones), and
 * ranking by the off_cpu type counts nanoseconds.
 */
static void off_cpu_is_a_third_value(void **state)
{
	struct fixture *fx = *state;
	Perftools__Profiles__Profile *pb;
	uint64_t stack[2] = {fx->kern, fx->root};
	struct ranking r = {0};
	int64_t off = 0, cpu_samples = 0;
	char *text = NULL;
	size_t len = 0, n;
	uint8_t *buf;
	FILE *f;

	assert_int_equal(profile__off_cpu_type(fx->p), -1);
	assert_int_equal(profile__add_off_cpu(fx->p, stack, 2, 100, 101, "worker", "app", 0, 5),
			 -EINVAL);
	profile__enable_off_cpu(fx->p);
	assert_int_equal(profile__off_cpu_type(fx->p), 2);
	/* Merges into the CPU sample with this stack and labels... */
	assert_int_equal(
		profile__add_off_cpu(fx->p, stack, 2, 100, 101, "worker", "app", 0, 2500000), 0);
	/* ...and makes a sample of its own with another thread's labels (1.5 ms). */
	assert_int_equal(profile__add_off_cpu(fx->p, stack, 2, 100, 100, "app", "app", 0, 1500400),
			 0);
	profile__samples(fx->p, &n);
	assert_int_equal(n, 5);
	assert_int_equal(profile__total(fx->p), 15); /* CPU samples unchanged */
	assert_int_equal(profile__off_cpu_total(fx->p), 4000400);

	assert_int_equal(pprof__encode(fx->p, &buf, &len), 0);
	pb = perftools__profiles__profile__unpack(NULL, len, buf);
	assert_non_null(pb);
	assert_int_equal(pb->n_sample_type, 3);
	assert_string_equal(str(pb, pb->sample_type[2]->type), "off_cpu");
	assert_string_equal(str(pb, pb->sample_type[2]->unit), "nanoseconds");
	assert_string_equal(str(pb, pb->default_sample_type), "cpu");
	for (size_t i = 0; i < pb->n_sample; i++) {
		assert_int_equal(pb->sample[i]->n_value, 3);
		cpu_samples += pb->sample[i]->value[0];
		off += pb->sample[i]->value[2];
	}
	assert_int_equal(cpu_samples, 15);
	assert_int_equal(off, 4000400);
	perftools__profiles__profile__free_unpacked(pb, NULL);
	free(buf);

	f = open_memstream(&text, &len);
	assert_non_null(f);
	assert_int_equal(folded__fprint(fx->p, f, 0, FOLDED_OFF_CPU_US), 0);
	fclose(f);
	/* Both threads merged: 4000.4 us, rounded down once. */
	assert_string_equal(text, "app;main;do_syscall_64_[k] 4000\n");
	free(text);
	f = open_memstream(&text, &len);
	assert_non_null(f);
	assert_int_equal(folded__fprint(fx->p, f, 0, FOLDED_SAMPLES), 0);
	fclose(f);
	assert_string_equal(text, "app;main;app+0x300 1\n"
				  "app;main;do_syscall_64_[k] 4\n"
				  "app;main;work;helper 10\n");
	free(text);

	assert_int_equal(profile__rank(fx->p, RANK_FUNCTION, 1, profile__off_cpu_type(fx->p), &r),
			 0);
	assert_int_equal(r.samples, 4000400);
	assert_true(r.n >= 2);
	assert_int_equal(r.rows[0].total, 4000400); /* main and do_syscall_64 both */
	assert_int_equal(profile__rank(fx->p, RANK_FUNCTION, 0, RANK_SAMPLES, &r), 0);
	assert_int_equal(r.samples, 15);
	assert_string_equal(r.rows[0].name, "helper");
	ranking__free(&r);
}

static void empty_profile_encodes(void **state)
{
	struct profile *p = profile__new(1000, 1);
	Perftools__Profiles__Profile *pb;
	uint8_t *buf;
	size_t len;

	(void)state;
	assert_int_equal(pprof__encode(p, &buf, &len), 0);
	pb = perftools__profiles__profile__unpack(NULL, len, buf);
	assert_non_null(pb);
	assert_int_equal(pb->n_sample, 0);
	assert_int_equal(pb->n_sample_type, 2);
	perftools__profiles__profile__free_unpacked(pb, NULL);
	free(buf);
	profile__free(p);
}

static void htab_matches_reference_under_churn(void **state)
{
	enum { N = 5000 };
	struct htab *h = htab__new();
	static uint64_t ref[N]; /* 0: absent, else value */
	uint64_t x = 88172645463325252ull;

	(void)state;
	assert_non_null(h);
	for (int round = 0; round < 60000; round++) {
		uint32_t k;
		int added;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		k = (uint32_t)(x % N);
		if ((x >> 32) % 3 == 0) {
			assert_int_equal(htab__del(h, &k, sizeof(k)), ref[k] ? 0 : -ENOENT);
			ref[k] = 0;
		} else {
			uint64_t *v = htab__get(h, &k, sizeof(k), 1, k + 1, &added);

			assert_non_null(v);
			assert_int_equal(added, ref[k] == 0);
			assert_true(*v == k + 1);
			ref[k] = k + 1;
		}
	}
	size_t present = 0;
	for (uint32_t k = 0; k < N; k++) {
		uint64_t *v = htab__get(h, &k, sizeof(k), 0, 0, NULL);

		present += ref[k] != 0;
		if (ref[k])
			assert_true(v && *v == ref[k]);
		else
			assert_null(v);
	}
	assert_int_equal(htab__count(h), present);
	htab__free(h);
}

static void path_templates_expand(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(path_template_expand("p-%n.pb.gz", 17, 3, out, sizeof(out)), 0);
	assert_string_equal(out, "p-3.pb.gz");
	assert_int_equal(path_template_expand("/x/%t_%n%%", 1700000000, 12, out, sizeof(out)), 0);
	assert_string_equal(out, "/x/1700000000_12%");
	assert_int_equal(path_template_expand("plain%", 0, 0, out, sizeof(out)), 0);
	assert_string_equal(out, "plain%");
	assert_int_equal(path_template_expand("%t%t%t", 1700000000, 0, out, 12), -ENAMETOOLONG);
	/* A second interval in the same second: %t carries the sequence too. */
	assert_int_equal(path_template_expand_again("/x/%t.pb.gz", 1700000000, 4, out, sizeof(out)),
			 0);
	assert_string_equal(out, "/x/1700000000-4.pb.gz");
	assert_int_equal(path_template_expand_again("%%t-%n", 1, 4, out, sizeof(out)), 0);
	assert_string_equal(out, "%t-4");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(model_merges_and_counts, build, destroy),
		cmocka_unit_test_setup_teardown(folded_output_is_exact, build, destroy),
		cmocka_unit_test_setup_teardown(pprof_decodes_field_by_field, build, destroy),
		cmocka_unit_test_setup_teardown(off_cpu_is_a_third_value, build, destroy),
		cmocka_unit_test(empty_profile_encodes),
		cmocka_unit_test(htab_matches_reference_under_churn),
		cmocka_unit_test(path_templates_expand),
	};

	return cmocka_run_group_tests_name("profile", tests, NULL, NULL);
}
