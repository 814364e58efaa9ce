// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of the unwinder's range allocator (rows and chunk slots are
 * handed out from it): first fit, freed ranges held in limbo until the walks
 * in flight are waited out, and a sorted free list that merges neighbours so
 * that space freed piece by piece can be handed out whole again. The
 * allocator is static in agent/unwind.c; UNITTEST builds reach it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

struct ranges;
struct ranges *unit_ranges_new(uint32_t first, uint32_t n);
void unit_ranges_free(struct ranges *r);
int unit_ranges_alloc(struct ranges *r, uint32_t n, uint32_t *first);
void unit_ranges_put(struct ranges *r, uint32_t first, uint32_t n);
void unit_ranges_settle(struct ranges *r);
size_t unit_ranges_list(const struct ranges *r, uint32_t (*out)[2], size_t max, size_t *used);

/* Checks the free list is exactly @want (@n pairs) and @used are allocated. */
static void expect_free(const struct ranges *r, const uint32_t (*want)[2], size_t n, size_t used)
{
	uint32_t got[16][2];
	size_t u, nfree = unit_ranges_list(r, got, 16, &u);

	assert_int_equal(nfree, n);
	assert_int_equal(u, used);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(got[i][0], want[i][0]);
		assert_int_equal(got[i][1], want[i][1]);
	}
}

static void first_fit_in_order(void **state)
{
	struct ranges *r = unit_ranges_new(1, 100);
	uint32_t a, b, c;

	(void)state;
	assert_non_null(r);
	assert_int_equal(unit_ranges_alloc(r, 10, &a), 0);
	assert_int_equal(unit_ranges_alloc(r, 20, &b), 0);
	assert_int_equal(unit_ranges_alloc(r, 70, &c), 0);
	assert_int_equal(a, 1);
	assert_int_equal(b, 11);
	assert_int_equal(c, 31);
	expect_free(r, NULL, 0, 100);
	assert_int_equal(unit_ranges_alloc(r, 1, &a), -ENOSPC);
	unit_ranges_free(r);
}

static void limbo_until_settled(void **state)
{
	struct ranges *r = unit_ranges_new(0, 30);
	uint32_t a, b;

	(void)state;
	assert_int_equal(unit_ranges_alloc(r, 30, &a), 0);
	unit_ranges_put(r, a, 30);
	/* Freed, but a walk may still read it: not handed out yet. */
	expect_free(r, NULL, 0, 0);
	assert_int_equal(unit_ranges_alloc(r, 1, &b), -ENOSPC);
	unit_ranges_settle(r);
	expect_free(r, (const uint32_t[][2]){{0, 30}}, 1, 0);
	assert_int_equal(unit_ranges_alloc(r, 30, &b), 0);
	assert_int_equal(b, 0);
	unit_ranges_free(r);
}

static void merges_neighbours(void **state)
{
	struct ranges *r = unit_ranges_new(0, 40);
	uint32_t x[4], big;

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(unit_ranges_alloc(r, 10, &x[i]), 0);
	/* 2nd and 4th back: two holes, kept apart and in order. */
	unit_ranges_put(r, x[3], 10);
	unit_ranges_put(r, x[1], 10);
	unit_ranges_settle(r);
	expect_free(r, (const uint32_t[][2]){{10, 10}, {30, 10}}, 2, 20);
	/* The 3rd joins both neighbours into one range. */
	unit_ranges_put(r, x[2], 10);
	unit_ranges_settle(r);
	expect_free(r, (const uint32_t[][2]){{10, 30}}, 1, 10);
	/* The 1st joins it from below: the whole space is one range again. */
	unit_ranges_put(r, x[0], 10);
	unit_ranges_settle(r);
	expect_free(r, (const uint32_t[][2]){{0, 40}}, 1, 0);
	assert_int_equal(unit_ranges_alloc(r, 40, &big), 0);
	assert_int_equal(big, 0);
	unit_ranges_free(r);
}

static void first_hole_that_fits(void **state)
{
	struct ranges *r = unit_ranges_new(0, 100);
	uint32_t x[5], got;

	(void)state;
	for (int i = 0; i < 5; i++)
		assert_int_equal(unit_ranges_alloc(r, 20, &x[i]), 0);
	unit_ranges_put(r, x[1], 20); /* [20, 40) */
	unit_ranges_put(r, x[3], 20); /* [60, 80) */
	unit_ranges_settle(r);
	/* 15 fits the first hole; what is left of it (5) comes before the second. */
	assert_int_equal(unit_ranges_alloc(r, 15, &got), 0);
	assert_int_equal(got, 20);
	expect_free(r, (const uint32_t[][2]){{35, 5}, {60, 20}}, 2, 75);
	/* 10 does not fit the 5 left there: the second hole. */
	assert_int_equal(unit_ranges_alloc(r, 10, &got), 0);
	assert_int_equal(got, 60);
	expect_free(r, (const uint32_t[][2]){{35, 5}, {70, 10}}, 2, 85);
	/* Nothing of 11 is left anywhere. */
	assert_int_equal(unit_ranges_alloc(r, 11, &got), -ENOSPC);
	unit_ranges_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(first_fit_in_order),
		cmocka_unit_test(limbo_until_settled),
		cmocka_unit_test(merges_neighbours),
		cmocka_unit_test(first_hole_that_fits),
	};

	return cmocka_run_group_tests_name("ranges", tests, NULL, NULL);
}
