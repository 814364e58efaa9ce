// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of the OTLP side: the .proto field numbers against the published
 * ones (the guard against v1.10's renumbering of Sample, which older encoders
 * get silently wrong), the encoder's dictionary rules on a small profile
 * decoded back, and the key=value list parser of the OTEL_* variables.
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

#include "opentelemetry/proto/collector/profiles/v1development/profiles_service.pb-c.h"
#include "symbolizer/symbolizer.h"
#include "profile/otlp.h"
#include "profile/profile.h"

/* message, field name, number: opentelemetry-proto v1.10 as published. */
static const struct {
	const ProtobufCMessageDescriptor *msg;
	const char *field;
	unsigned int number;
} published[] = {
#define PROF(m) &opentelemetry__proto__profiles__v1development__##m##__descriptor
#define COMMON(m) &opentelemetry__proto__common__v1__##m##__descriptor
#define COLL(m) &opentelemetry__proto__collector__profiles__v1development__##m##__descriptor
	{COLL(export_profiles_service_request), "resource_profiles", 1},
	{COLL(export_profiles_service_request), "dictionary", 2},
	{COLL(export_profiles_service_response), "partial_success", 1},
	{COLL(export_profiles_partial_success), "rejected_profiles", 1},
	{COLL(export_profiles_partial_success), "error_message", 2},
	{PROF(profiles_dictionary), "mapping_table", 1},
	{PROF(profiles_dictionary), "location_table", 2},
	{PROF(profiles_dictionary), "function_table", 3},
	{PROF(profiles_dictionary), "link_table", 4},
	{PROF(profiles_dictionary), "string_table", 5},
	{PROF(profiles_dictionary), "attribute_table", 6},
	{PROF(profiles_dictionary), "stack_table", 7},
	{PROF(resource_profiles), "resource", 1},
	{PROF(resource_profiles), "scope_profiles", 2},
	{PROF(resource_profiles), "schema_url", 3},
	{PROF(scope_profiles), "scope", 1},
	{PROF(scope_profiles), "profiles", 2},
	{PROF(scope_profiles), "schema_url", 3},
	{PROF(profile), "sample_type", 1},
	{PROF(profile), "samples", 2},
	{PROF(profile), "time_unix_nano", 3},
	{PROF(profile), "duration_nano", 4},
	{PROF(profile), "period_type", 5},
	{PROF(profile), "period", 6},
	{PROF(profile), "profile_id", 7},
	{PROF(profile), "dropped_attributes_count", 8},
	{PROF(profile), "original_payload_format", 9},
	{PROF(profile), "original_payload", 10},
	{PROF(profile), "attribute_indices", 11},
	{PROF(sample), "stack_index", 1},
	{PROF(sample), "attribute_indices", 2},
	{PROF(sample), "link_index", 3},
	{PROF(sample), "values", 4},
	{PROF(sample), "timestamps_unix_nano", 5},
	{PROF(stack), "location_indices", 1},
	{PROF(location), "mapping_index", 1},
	{PROF(location), "address", 2},
	{PROF(location), "lines", 3},
	{PROF(location), "attribute_indices", 4},
	{PROF(line), "function_index", 1},
	{PROF(line), "line", 2},
	{PROF(line), "column", 3},
	{PROF(mapping), "memory_start", 1},
	{PROF(mapping), "memory_limit", 2},
	{PROF(mapping), "file_offset", 3},
	{PROF(mapping), "filename_strindex", 4},
	{PROF(mapping), "attribute_indices", 5},
	{PROF(function), "name_strindex", 1},
	{PROF(function), "system_name_strindex", 2},
	{PROF(function), "filename_strindex", 3},
	{PROF(function), "start_line", 4},
	{PROF(link), "trace_id", 1},
	{PROF(link), "span_id", 2},
	{PROF(value_type), "type_strindex", 1},
	{PROF(value_type), "unit_strindex", 2},
	{PROF(key_value_and_unit), "key_strindex", 1},
	{PROF(key_value_and_unit), "value", 2},
	{PROF(key_value_and_unit), "unit_strindex", 3},
	{COMMON(key_value), "key", 1},
	{COMMON(key_value), "value", 2},
	{COMMON(key_value), "key_strindex", 3},
	{COMMON(any_value), "string_value", 1},
	{COMMON(any_value), "bool_value", 2},
	{COMMON(any_value), "int_value", 3},
	{COMMON(any_value), "double_value", 4},
	{COMMON(any_value), "array_value", 5},
	{COMMON(any_value), "kvlist_value", 6},
	{COMMON(any_value), "bytes_value", 7},
	{COMMON(any_value), "string_value_strindex", 8},
	{COMMON(array_value), "values", 1},
	{COMMON(key_value_list), "values", 1},
	{COMMON(instrumentation_scope), "name", 1},
	{COMMON(instrumentation_scope), "version", 2},
	{COMMON(instrumentation_scope), "attributes", 3},
	{COMMON(instrumentation_scope), "dropped_attributes_count", 4},
	{&opentelemetry__proto__resource__v1__resource__descriptor, "attributes", 1},
	{&opentelemetry__proto__resource__v1__resource__descriptor, "dropped_attributes_count", 2},
};

static void field_numbers_match_published(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(published) / sizeof(published[0]); i++) {
		const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(
			published[i].msg, published[i].field);

		if (!f)
			fail_msg("%s has no field %s", published[i].msg->name, published[i].field);
		if (f->id != published[i].number)
			fail_msg("%s.%s is %u, published %u", published[i].msg->name,
				 published[i].field, f->id, published[i].number);
	}
}

/* Every field the .proto declares is in the table: nothing unchecked slips in. */
static void no_unchecked_fields(void **state)
{
	const ProtobufCMessageDescriptor *seen[64];
	size_t nseen = 0, declared = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(published) / sizeof(published[0]); i++) {
		size_t j;

		for (j = 0; j < nseen && seen[j] != published[i].msg; j++)
			;
		if (j == nseen) {
			seen[nseen++] = published[i].msg;
			declared += published[i].msg->n_fields;
		}
	}
	assert_int_equal(declared, sizeof(published) / sizeof(published[0]));
}

static struct sym_result one(const char *fn)
{
	struct sym_result r = {.nlines = 1};

	r.lines[0] = (struct sym_line){.function = fn, .system_name = fn};
	return r;
}

static void encoder_follows_dictionary_rules(void **state)
{
	struct profile *p = profile__new(10101010, 1700000000000000000ull);
	struct sym_result r_main = one("main"), r_leaf = one("leaf"), r_k = one("do_syscall_64");
	struct prof_frame f = {.map_file = "/bin/app",
			       .build_id = "ab12",
			       .htlhash = "00112233445566778899aabbccddeeff",
			       .map_start = 0x1000,
			       .map_limit = 0x9000};
	struct otlp_attr extra[] = {{"team", "a b"}};
	uint8_t id[16] = {1, 2, 3};
	struct otlp_encode_opts o = {.host_name = "h",
				     .service_name = "svc",
				     .resource = extra,
				     .nresource = 1,
				     .profile_id = id};
	Opentelemetry__Proto__Collector__Profiles__V1development__ExportProfilesServiceRequest *req;
	Opentelemetry__Proto__Profiles__V1development__ProfilesDictionary *d;
	uint64_t stack[2];
	uint8_t *buf;
	size_t len;

	(void)state;
	f.address = 0x1100;
	f.sym = &r_main;
	stack[1] = profile__location(p, &f);
	f.address = 0x1200;
	f.sym = &r_leaf;
	stack[0] = profile__location(p, &f);
	assert_int_equal(profile__add(p, stack, 2, 7, 8, "t1", "app", 0, 5), 0);
	assert_int_equal(
		profile__set_process(p, 7,
				     &(struct prof_process_info){.name = "app", .exe = "/bin/app"}),
		0);
	stack[0] = profile__location(p, &(struct prof_frame){.address = 0xffffffff81000000ull,
							     .map_file = "[kernel.kallsyms]",
							     .kernel = 1,
							     .sym = &r_k});
	assert_int_equal(profile__add(p, stack, 2, 9, 9, "t2", "other", 0, 2), 0);
	assert_int_equal(
		profile__set_process(p, 9, &(struct prof_process_info){.name = "other", .exe = ""}),
		0);
	profile__set_duration(p, 2000000000);

	assert_int_equal(otlp__encode(p, &o, &buf, &len), 0);
	req = opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__unpack(
		NULL, len, buf);
	assert_non_null(req);
	d = req->dictionary;
	assert_non_null(d);
	/* Index 0 of every table is the zero value. */
	assert_string_equal(d->string_table[0], "");
	assert_int_equal(d->mapping_table[0]->memory_start, 0);
	assert_int_equal(d->location_table[0]->n_lines, 0);
	assert_int_equal(d->function_table[0]->name_strindex, 0);
	assert_int_equal(d->stack_table[0]->n_location_indices, 0);
	assert_int_equal(d->attribute_table[0]->key_strindex, 0);
	assert_int_equal(d->link_table[0]->trace_id.len, 16);
	assert_int_equal(d->link_table[0]->span_id.len, 8);
	/* One resource per process, samples in range and resolving to names. */
	assert_int_equal(req->n_resource_profiles, 2);
	for (size_t r = 0; r < req->n_resource_profiles; r++) {
		Opentelemetry__Proto__Profiles__V1development__Profile *pr =
			req->resource_profiles[r]->scope_profiles[0]->profiles[0];

		assert_int_equal(pr->period, 10101010);
		assert_string_equal(d->string_table[pr->sample_type->type_strindex], "samples");
		assert_string_equal(d->string_table[pr->period_type->unit_strindex], "nanoseconds");
		assert_int_equal(pr->profile_id.len, 16);
		assert_int_equal(pr->n_samples, 1);
		for (size_t s = 0; s < pr->n_samples; s++) {
			Opentelemetry__Proto__Profiles__V1development__Sample *smp = pr->samples[s];
			Opentelemetry__Proto__Profiles__V1development__Stack *st;
			Opentelemetry__Proto__Profiles__V1development__Location *leaf;

			assert_in_range(smp->stack_index, 1, d->n_stack_table - 1);
			st = d->stack_table[smp->stack_index];
			assert_int_equal(st->n_location_indices, 2);
			leaf = d->location_table[st->location_indices[0]];
			assert_in_range(leaf->lines[0]->function_index, 1, d->n_function_table - 1);
			for (size_t a = 0; a < smp->n_attribute_indices; a++)
				assert_in_range(smp->attribute_indices[a], 1,
						d->n_attribute_table - 1);
			assert_int_equal(smp->link_index, 0);
			assert_int_equal(smp->values[0], r == 0 ? 5 : 2);
		}
	}
	/* The app mapping carries both build ids. */
	{
		Opentelemetry__Proto__Profiles__V1development__Mapping *m = d->mapping_table[1];
		int saw_gnu = 0, saw_htl = 0;

		assert_string_equal(d->string_table[m->filename_strindex], "/bin/app");
		for (size_t a = 0; a < m->n_attribute_indices; a++) {
			Opentelemetry__Proto__Profiles__V1development__KeyValueAndUnit *kv =
				d->attribute_table[m->attribute_indices[a]];
			const char *k = d->string_table[kv->key_strindex];

			saw_gnu |= strcmp(k, "process.executable.build_id.gnu") == 0 &&
				   strcmp(kv->value->string_value, "ab12") == 0;
			saw_htl |= strcmp(k, "process.executable.build_id.htlhash") == 0 &&
				   strcmp(kv->value->string_value,
					  "00112233445566778899aabbccddeeff") == 0;
		}
		assert_true(saw_gnu && saw_htl);
	}
	opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__free_unpacked(
		req, NULL);
	free(buf);
	profile__free(p);
}

/*
 * With --off-cpu each resource's scope holds two profiles: CPU samples
 * (samples/count, period cpu) with only the samples that have CPU samples,
 * then blocked time (off_cpu/nanoseconds, no period) with only those that
 * have blocked time, under a profile id of its own.
 */
static void off_cpu_is_a_second_profile(void **state)
{
	struct profile *p = profile__new(10101010, 1700000000000000000ull);
	struct sym_result r_main = one("main"), r_k = one("futex_wait");
	uint8_t id[16] = {4, 5, 6};
	struct otlp_encode_opts o = {.host_name = "h", .profile_id = id};
	Opentelemetry__Proto__Collector__Profiles__V1development__ExportProfilesServiceRequest *req;
	Opentelemetry__Proto__Profiles__V1development__ScopeProfiles *sp;
	Opentelemetry__Proto__Profiles__V1development__Profile *cpu, *off;
	const char *const *strs;
	uint64_t stack[2];
	uint8_t *buf;
	size_t len;

	(void)state;
	profile__enable_off_cpu(p);
	stack[1] = profile__location(p, &(struct prof_frame){.address = 0x1100,
							     .map_file = "/bin/app",
							     .map_start = 0x1000,
							     .map_limit = 0x9000,
							     .sym = &r_main});
	stack[0] = profile__location(p, &(struct prof_frame){.address = 0xffffffff81000000ull,
							     .map_file = "[kernel.kallsyms]",
							     .kernel = 1,
							     .sym = &r_k});
	assert_int_equal(profile__add(p, stack + 1, 1, 7, 7, "t", "app", 0, 3), 0);
	assert_int_equal(profile__add_off_cpu(p, stack, 2, 7, 8, "w", "app", 0, 123456789), 0);
	assert_int_equal(
		profile__set_process(p, 7,
				     &(struct prof_process_info){.name = "app", .exe = "/bin/app"}),
		0);
	assert_int_equal(otlp__encode(p, &o, &buf, &len), 0);
	req = opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__unpack(
		NULL, len, buf);
	assert_non_null(req);
	strs = (const char *const *)req->dictionary->string_table;
	assert_int_equal(req->n_resource_profiles, 1);
	sp = req->resource_profiles[0]->scope_profiles[0];
	assert_int_equal(sp->n_profiles, 2);
	cpu = sp->profiles[0];
	off = sp->profiles[1];
	assert_string_equal(strs[cpu->sample_type->type_strindex], "samples");
	assert_int_equal(cpu->n_samples, 1);
	assert_int_equal(cpu->samples[0]->values[0], 3);
	assert_string_equal(strs[off->sample_type->type_strindex], "off_cpu");
	assert_string_equal(strs[off->sample_type->unit_strindex], "nanoseconds");
	assert_null(off->period_type);
	assert_int_equal(off->n_samples, 1);
	assert_int_equal(off->samples[0]->values[0], 123456789);
	assert_int_equal(
		req->dictionary->stack_table[off->samples[0]->stack_index]->n_location_indices, 2);
	assert_int_equal(off->profile_id.len, 16);
	assert_memory_not_equal(off->profile_id.data, cpu->profile_id.data, 16);
	opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__free_unpacked(
		req, NULL);
	free(buf);
	profile__free(p);
}

/* The memory profile's four types: one OTLP profile each, with its own values. */
static void explicit_types_are_a_profile_each(void **state)
{
	static const char *const names[] = {"alloc_objects", "alloc_space", "inuse_objects",
					    "inuse_space"};
	static const char *const units[] = {"count", "bytes", "count", "bytes"};
	struct profile *p = profile__new(0, 1700000000000000000ull);
	struct sym_result r_main = one("main");
	uint8_t id[16] = {7};
	struct otlp_encode_opts o = {.host_name = "h", .profile_id = id};
	Opentelemetry__Proto__Collector__Profiles__V1development__ExportProfilesServiceRequest *req;
	Opentelemetry__Proto__Profiles__V1development__ScopeProfiles *sp;
	const int64_t alloc[4] = {40, 4096, 0, 0}, inuse[4] = {0, 0, 2, 512};
	const char *const *strs;
	uint64_t loc;
	uint8_t *buf;
	size_t len;

	(void)state;
	assert_int_equal(profile__set_sample_types(p, names, units, 4, 3), 0);
	loc = profile__location(p, &(struct prof_frame){.address = 0x1100,
							.map_file = "/bin/app",
							.map_start = 0x1000,
							.map_limit = 0x9000,
							.sym = &r_main});
	assert_int_equal(profile__add_values(p, &loc, 1, 7, 7, "t", "app", 0, alloc), 0);
	assert_int_equal(profile__add_values(p, &loc, 1, 7, 0, "app", "app", 0, inuse), 0);
	assert_int_equal(
		profile__set_process(p, 7,
				     &(struct prof_process_info){.name = "app", .exe = "/bin/app"}),
		0);
	assert_int_equal(otlp__encode(p, &o, &buf, &len), 0);
	req = opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__unpack(
		NULL, len, buf);
	assert_non_null(req);
	strs = (const char *const *)req->dictionary->string_table;
	sp = req->resource_profiles[0]->scope_profiles[0];
	assert_int_equal(sp->n_profiles, 4);
	for (int k = 0; k < 4; k++) {
		Opentelemetry__Proto__Profiles__V1development__Profile *pr = sp->profiles[k];

		assert_string_equal(strs[pr->sample_type->type_strindex], names[k]);
		assert_string_equal(strs[pr->sample_type->unit_strindex], units[k]);
		assert_null(pr->period_type);
		/* Only the sample with a value of this type. */
		assert_int_equal(pr->n_samples, 1);
		assert_int_equal(pr->samples[0]->values[0], k < 2 ? alloc[k] : inuse[k]);
		for (int j = 0; j < k; j++)
			assert_memory_not_equal(pr->profile_id.data,
						sp->profiles[j]->profile_id.data, 16);
	}
	opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__free_unpacked(
		req, NULL);
	free(buf);
	profile__free(p);
}

static void kv_lists_parse_and_reject(void **state)
{
	struct otlp_attr kv[4];
	char storage[128];

	(void)state;
	assert_int_equal(otlp_parse_kv_list("a=1, b = x%20y ,,c=", kv, 4, storage), 3);
	assert_string_equal(kv[0].key, "a");
	assert_string_equal(kv[1].key, "b");
	assert_string_equal(kv[1].value, "x y");
	assert_string_equal(kv[2].value, "");
	assert_int_equal(otlp_parse_kv_list("novalue", kv, 4, storage), -EINVAL);
	assert_int_equal(otlp_parse_kv_list("=x", kv, 4, storage), -EINVAL);
	assert_int_equal(otlp_parse_kv_list("a=%zz", kv, 4, storage), -EINVAL);
	assert_int_equal(otlp_parse_kv_list("a=%4", kv, 4, storage), -EINVAL);
	assert_int_equal(otlp_parse_kv_list("a=1,b=2,c=3,d=4,e=5", kv, 4, storage), -E2BIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(field_numbers_match_published),
		cmocka_unit_test(no_unchecked_fields),
		cmocka_unit_test(encoder_follows_dictionary_rules),
		cmocka_unit_test(off_cpu_is_a_second_profile),
		cmocka_unit_test(explicit_types_are_a_profile_each),
		cmocka_unit_test(kv_lists_parse_and_reject),
	};

	return cmocka_run_group_tests_name("otlp", tests, NULL, NULL);
}
