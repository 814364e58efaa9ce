// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of the /metrics text: every sample line of a report's numbers,
 * in Prometheus text format (a # TYPE line before each family's samples,
 * one family name per TYPE), with the values the report holds, and the
 * families that exist only when their part does (OTLP, the unwinder).
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

#include "lib/strbuf.h"
#include "agent/report.h"
#include "agent/status.h"

static struct report sample_report(void)
{
	struct report r = {0};

	r.m[EMBER_M_SAMPLES] = 12345;
	r.m[EMBER_M_USTACK_LOST] = 3;
	r.m[EMBER_M_UNWIND_DEPTH_CUT] = 9;
	r.lost = ember_lost(r.m);
	r.processes = 17;
	r.filtered = 4;
	r.unattributed = 2;
	r.stopped = 11;
	r.frames_unnamed = 5;
	r.write_failures = 1;
	r.sym.cache_hits = 100;
	r.sym.cache_misses = 7;
	r.rss = 50 << 20;
	r.budget.heap_target = 48 << 20;
	r.mem.files = 1000;
	r.mem.otlp = 2000;
	return r;
}

/* The value of the sample line that starts with @name followed by a space. */
static const char *value_of(const char *text, const char *name)
{
	size_t n = strlen(name);

	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (strncmp(l, name, n) == 0 && l[n] == ' ')
			return l + n + 1;
	return NULL;
}

static long num(const char *text, const char *name)
{
	const char *v = value_of(text, name);

	assert_non_null(v);
	return strtol(v, NULL, 10);
}

static void values_from_the_report(void **state)
{
	struct report r = sample_report();
	struct strbuf t = {0};

	(void)state;
	status__metrics_text(&r, &t);
	assert_false(t.failed);
	assert_int_equal(num(t.s, "emberprof_samples_total"), 12345);
	assert_int_equal(num(t.s, "emberprof_samples_lost_total{reason=\"user_stack_map_full\"}"),
			 3);
	assert_int_equal(num(t.s, "emberprof_bpf_events_total{event=\"unwind_depth_cut\"}"), 9);
	assert_int_equal(num(t.s, "emberprof_processes"), 17);
	assert_int_equal(num(t.s, "emberprof_samples_left_out_total{reason=\"container_filter\"}"),
			 4);
	assert_int_equal(num(t.s, "emberprof_samples_left_out_total{reason=\"no_stack\"}"), 2);
	assert_int_equal(num(t.s, "emberprof_unwind_stopped_samples_total"), 11);
	assert_int_equal(num(t.s, "emberprof_frames_unnamed_total"), 5);
	assert_int_equal(num(t.s, "emberprof_write_failures_total"), 1);
	assert_int_equal(num(t.s, "emberprof_symbolizer_cache_hits_total"), 100);
	assert_int_equal(num(t.s, "emberprof_resident_memory_bytes"), 50 << 20);
	assert_int_equal(num(t.s, "emberprof_memory_budget_bytes"), 48 << 20);
	assert_int_equal(num(t.s, "emberprof_memory_bytes{cache=\"otlp_queue\"}"), 2000);
	strbuf__free(&t);
}

/* Each family is typed once, before its first sample, and every sample line is typed. */
static void well_formed(void **state)
{
	struct report r = sample_report();
	struct strbuf t = {0};
	char typed[128][96];
	size_t ntyped = 0;

	(void)state;
	r.has_otlp = 1;
	r.has_unwinder = 1;
	status__metrics_text(&r, &t);
	assert_non_null(t.s);
	assert_true(t.len > 0 && t.s[t.len - 1] == '\n');
	for (char *l = t.s; *l; l = strchr(l, '\n') + 1) {
		char name[96];

		if (strncmp(l, "# HELP ", 7) == 0)
			continue;
		if (strncmp(l, "# TYPE ", 7) == 0) {
			char type[16];

			assert_int_equal(sscanf(l + 7, "%95s %15s", name, type), 2);
			assert_true(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0);
			for (size_t i = 0; i < ntyped; i++)
				assert_string_not_equal(typed[i], name);
			assert_true(ntyped < 128);
			snprintf(typed[ntyped++], sizeof(typed[0]), "%s", name);
			continue;
		}
		assert_true(l[0] != '#');
		assert_int_equal(sscanf(l, "%95[^{ ]", name), 1);
		assert_true(ntyped > 0);
		assert_string_equal(typed[ntyped - 1], name);
	}
	strbuf__free(&t);
}

static void parts_only_when_present(void **state)
{
	struct report r = sample_report();
	struct strbuf t = {0};

	(void)state;
	status__metrics_text(&r, &t);
	assert_null(strstr(t.s, "emberprof_export_sent_total"));
	assert_null(strstr(t.s, "emberprof_unwind_rows_used"));
	strbuf__free(&t);
	r.has_otlp = 1;
	r.otlp.sent = 6;
	r.otlp.dropped_queue_full = 2;
	r.otlp.dropped_at_stop = 1;
	r.has_unwinder = 1;
	r.unwind.rows_used = 77;
	r.nstarved = 1;
	snprintf(r.starved[0].name, sizeof(r.starved[0].name), "libLLVM.so");
	r.starved[0].rows = 4096;
	status__metrics_text(&r, &t);
	assert_int_equal(num(t.s, "emberprof_export_sent_total"), 6);
	assert_int_equal(num(t.s, "emberprof_export_dropped_total"), 3);
	assert_int_equal(num(t.s, "emberprof_unwind_rows_used"), 77);
	assert_int_equal(num(t.s, "emberprof_unwind_refused_rows{file=\"libLLVM.so\"}"), 4096);
	strbuf__free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(values_from_the_report),
		cmocka_unit_test(well_formed),
		cmocka_unit_test(parts_only_when_present),
	};

	return cmocka_run_group_tests_name("status", tests, NULL, NULL);
}
