// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of the growable-array helper: it keeps what was appended, grows
 * only when asked for more than it has, and refuses sizes that would wrap
 * without touching the array.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "lib/array.h"

static void keeps_appended_elements(void **state)
{
	uint64_t *v = NULL;
	size_t n = 0, cap = 0;

	(void)state;
	for (uint64_t i = 0; i < 10000; i++) {
		assert_int_equal(EMBER_RESERVE(v, cap, n + 1), 0);
		assert_true(cap >= n + 1);
		v[n++] = i * 7;
	}
	for (size_t i = 0; i < n; i++)
		assert_int_equal(v[i], i * 7);
	/* Capacity doubles: 10000 elements need no more than 16384. */
	assert_int_equal(cap, 16384);
	free(v);
}

static void grows_only_when_needed(void **state)
{
	uint32_t *v = NULL, *before;
	size_t cap = 0, cap_before;

	(void)state;
	assert_int_equal(EMBER_RESERVE(v, cap, 0), 0);
	assert_null(v);
	assert_int_equal(cap, 0);
	assert_int_equal(EMBER_RESERVE(v, cap, 100), 0);
	assert_non_null(v);
	assert_int_equal(cap, 128);
	before = v;
	cap_before = cap;
	assert_int_equal(EMBER_RESERVE(v, cap, 128), 0);
	assert_ptr_equal(v, before);
	assert_int_equal(cap, cap_before);
	free(v);
}

static void overflow_is_enomem_and_harmless(void **state)
{
	uint64_t *v = NULL;
	size_t cap = 0;

	(void)state;
	assert_int_equal(EMBER_RESERVE(v, cap, 4), 0);
	v[3] = 42;
	assert_int_equal(EMBER_RESERVE(v, cap, SIZE_MAX / 4), -ENOMEM);
	assert_int_equal(EMBER_RESERVE(v, cap, SIZE_MAX), -ENOMEM);
	assert_int_equal(cap, 16);
	assert_int_equal(v[3], 42);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(keeps_appended_elements),
		cmocka_unit_test(grows_only_when_needed),
		cmocka_unit_test(overflow_is_enomem_and_harmless),
	};

	return cmocka_run_group_tests_name("array", tests, NULL, NULL);
}
