// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of CPython support: the pinned layouts of 3.10 to 3.13 (one
 * test per version), the reading of 3.13's _Py_DebugOffsets, line tables
 * of every format against what the interpreters themselves say, and str
 * objects of every kind.
 *
 * The line-table vectors are the co_linetable, co_firstlineno and
 * co_lines() of one function (loops, branches, a try, a 300-line jump),
 * printed by CPython 3.10.13, 3.11.7, 3.12.1 and 3.13.0 themselves:
 * expected[i] is the line co_lines() gives code unit i, 0 for None.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "agent/python.h"
#include "symbolizer/pycode.h"

#define N EMBER_PY_NONE

static const uint8_t py310_table[] = {0x04, 0x01, 0x0c, 0x01, 0x08, 0x01, 0x0a, 0x01, 0x0a, 0x02,
				      0x02, 0x01, 0x0a, 0x01, 0x00, 0x7f, 0x00, 0x7f, 0x08, 0x32,
				      0x00, 0x81, 0x00, 0x81, 0x0c, 0xcf, 0x06, 0x01, 0x00, 0x7f,
				      0x00, 0x7f, 0x08, 0x30, 0x00, 0x81, 0x00, 0x81, 0x02, 0xcf};
static const int64_t py310_lines[] = {3,  3,  4,  4,  4,   4,	4,   4,	  5,   5,  5,  5,
				      6,  6,  6,  6,  6,   8,	8,   8,	  8,   8,  9,  10,
				      10, 10, 10, 10, 314, 314, 314, 314, 11,  11, 11, 11,
				      11, 11, 12, 12, 12,  314, 314, 314, 314, 11};
static const int64_t py310_first = 2;
static const uint8_t py311_table[] = {
	0x80, 0x00, 0xd8, 0x0c, 0x0d, 0x80, 0x45, 0xdd, 0x0d, 0x12, 0x90, 0x31, 0x89, 0x58, 0x8c,
	0x58, 0xf0, 0x00, 0x04, 0x05, 0x17, 0xf0, 0x00, 0x04, 0x05, 0x17, 0x88, 0x01, 0xd8, 0x0b,
	0x0c, 0x88, 0x71, 0x89, 0x35, 0xf0, 0x00, 0x03, 0x09, 0x17, 0xd8, 0x0c, 0x11, 0x90, 0x51,
	0x89, 0x4a, 0x88, 0x45, 0x88, 0x45, 0xe0, 0x0c, 0x11, 0x90, 0x51, 0x89, 0x4a, 0x88, 0x45,
	0x88, 0x45, 0xf0, 0x02, 0x03, 0x05, 0x0e, 0xd8, 0x0c, 0x0d, 0x90, 0x01, 0x89, 0x45, 0x88,
	0x01, 0x88, 0x01, 0xf8, 0xdd, 0x0b, 0x1c, 0xf0, 0x00, 0x01, 0x05, 0x0e, 0xf0, 0x00, 0x01,
	0x05, 0x0e, 0xf0, 0x00, 0x01, 0x05, 0x0e, 0xd8, 0x0c, 0x0d, 0x88, 0x01, 0x88, 0x01, 0x88,
	0x01, 0xf0, 0x03, 0x01, 0x05, 0x0e, 0xf8, 0xf8, 0xf8, 0xf0, 0x5e, 0x09, 0x00, 0x0c, 0x11,
	0x90, 0x31, 0x89, 0x39, 0xd0, 0x04, 0x14};
static const int64_t py311_lines[] = {
	2,  3,	3,  4,	4,  4,	4,  4,	4,  4,	4,  4,	4,  4, 4, 4,  4,   4,	4,   4,	  5,  5, 5,
	5,  5,	6,  6,	6,  6,	6,  6,	8,  8,	8,  8,	8,  8, 9, 10, 10,  10,	10,  10,  10, 0, 11,
	11, 11, 11, 11, 11, 11, 11, 11, 12, 12, 12, 12, 11, 0, 0, 0,  314, 314, 314, 314, 314};
static const int64_t py311_first = 2;
static const uint8_t py312_table[] = {
	0x80, 0x00, 0xd8, 0x0c, 0x0d, 0x80, 0x45, 0xdc, 0x0d, 0x12, 0x90, 0x31, 0x8b, 0x58, 0xf2,
	0x00, 0x04, 0x05, 0x17, 0x88, 0x01, 0xd8, 0x0b, 0x0c, 0x88, 0x71, 0x8a, 0x35, 0xd8, 0x0c,
	0x11, 0x90, 0x51, 0x89, 0x4a, 0x89, 0x45, 0xe0, 0x0c, 0x11, 0x90, 0x51, 0x89, 0x4a, 0x89,
	0x45, 0xf0, 0x09, 0x04, 0x05, 0x17, 0xf0, 0x0a, 0x03, 0x05, 0x0e, 0xd8, 0x0c, 0x0d, 0x90,
	0x01, 0x89, 0x45, 0x88, 0x01, 0xf0, 0x60, 0x09, 0x00, 0x0c, 0x11, 0x90, 0x31, 0x89, 0x39,
	0xd0, 0x04, 0x14, 0xf8, 0xf4, 0x5f, 0x09, 0x00, 0x0c, 0x1d, 0xf2, 0x00, 0x01, 0x05, 0x0e,
	0xd8, 0x0c, 0x0d, 0x89, 0x01, 0xf0, 0x5c, 0x09, 0x00, 0x0c, 0x11, 0x90, 0x31, 0x89, 0x39,
	0xd0, 0x04, 0x14, 0xf0, 0x5f, 0x09, 0x01, 0x05, 0x0e, 0xfa};
static const int64_t py312_lines[] = {
	2,  3,	3,  4,	4,  4,	4,  4,	 4,   4,   4,	4,   4,	 4,  4,	 4,  4,
	5,  5,	5,  5,	5,  6,	6,  6,	 6,   6,   6,	8,   8,	 8,  8,	 8,  8,
	4,  9,	10, 10, 10, 10, 10, 314, 314, 314, 314, 314, 0,	 11, 11, 11, 11,
	11, 11, 11, 11, 12, 12, 12, 314, 314, 314, 314, 314, 11, 0,  0,	 0};
static const int64_t py312_first = 2;
static const uint8_t py313_table[] = {
	0x80, 0x00, 0xd8, 0x0c, 0x0d, 0x80, 0x45, 0xdc, 0x0d, 0x12, 0x90, 0x31, 0x8e, 0x58, 0x88,
	0x01, 0xd8, 0x0b, 0x0c, 0x88, 0x71, 0x8f, 0x35, 0xd8, 0x0c, 0x11, 0x89, 0x4a, 0x8a, 0x45,
	0xe0, 0x0c, 0x11, 0x90, 0x51, 0x89, 0x4a, 0x8a, 0x45, 0xf1, 0x09, 0x00, 0x0e, 0x16, 0xf0,
	0x0a, 0x03, 0x05, 0x0e, 0xd8, 0x0c, 0x0d, 0x90, 0x01, 0x89, 0x45, 0x88, 0x01, 0xf0, 0x60,
	0x09, 0x00, 0x0c, 0x11, 0x89, 0x39, 0xd0, 0x04, 0x14, 0xf8, 0xf4, 0x5f, 0x09, 0x00, 0x0c,
	0x1d, 0xf3, 0x00, 0x01, 0x05, 0x0e, 0xd8, 0x0c, 0x0d, 0x89, 0x01, 0xf0, 0x5c, 0x09, 0x00,
	0x0c, 0x11, 0x89, 0x39, 0xd0, 0x04, 0x14, 0xf0, 0x5f, 0x09, 0x01, 0x05, 0x0e, 0xfa};
static const int64_t py313_lines[] = {
	2,  3,	3,  4,	4,  4,	4,  4,	4,   4,	  4,   4,   4,	 4,   4, 4,  4,	 5,  5,
	5,  5,	5,  5,	5,  5,	5,  5,	6,   6,	  6,   6,   6,	 6,   8, 8,  8,	 8,  8,
	8,  8,	4,  4,	9,  10, 10, 10, 10,  10,  314, 314, 314, 314, 0, 11, 11, 11, 11,
	11, 11, 11, 11, 11, 12, 12, 12, 314, 314, 314, 314, 11,	 0,   0, 0};
static const int64_t py313_first = 2;

#define CHECK_LINES(minor, name)                                                                   \
	do {                                                                                       \
		for (uint32_t i = 0; i < sizeof(name##_lines) / sizeof(name##_lines[0]); i++)      \
			assert_int_equal(pycode_line(name##_table, sizeof(name##_table), minor,    \
						     name##_first, i),                             \
					 name##_lines[i]);                                         \
	} while (0)

static void lines_310(void **state)
{
	(void)state;
	CHECK_LINES(10, py310);
	/* Past the table: no line, and a table cut short loses only its end. */
	assert_int_equal(pycode_line(py310_table, sizeof(py310_table), 10, py310_first, 100000), 0);
	assert_int_equal(pycode_line(py310_table, 1, 10, py310_first, 0), 0);
}

static void lines_311(void **state)
{
	(void)state;
	CHECK_LINES(11, py311);
}

static void lines_312(void **state)
{
	(void)state;
	CHECK_LINES(12, py312);
}

static void lines_313(void **state)
{
	(void)state;
	CHECK_LINES(13, py313);
	/* A table cut in the middle of a varint, and bytes that are no table. */
	for (size_t len = 0; len < sizeof(py313_table); len++)
		for (uint32_t i = 0; i < 64; i++)
			assert_true(pycode_line(py313_table, len, 13, py313_first, i) >= 0);
	assert_int_equal(pycode_line((const uint8_t *)"\x01\x02", 2, 13, 1, 0), 0);
	assert_int_equal(pycode_line(NULL, 0, 13, 1, 0), 0);
}

/* The fields of a layout, in struct order, to compare with a pinned list. */
static void expect_layout(const struct py_layout *l, const uint16_t want[17])
{
	const uint16_t got[17] = {
		l->bpf.interp_head,
		l->bpf.threads_head,
		l->bpf.tstate_next,
		l->bpf.tstate_thread_id,
		l->bpf.tstate_frame,
		l->bpf.cframe_frame,
		l->bpf.frame_previous,
		l->bpf.frame_code,
		l->bpf.frame_instr,
		l->bpf.frame_entry,
		l->bpf.frame_owner,
		l->bpf.code_adaptive,
		l->co_name,
		l->co_qualname,
		l->co_filename,
		l->co_firstlineno,
		l->co_linetable,
	};

	for (int i = 0; i < 17; i++) {
		if (got[i] != want[i])
			fail_msg("3.%d field %d: %u, want %u", l->minor, i, got[i], want[i]);
	}
}

/*
 * The values offsetof() gives with each version's headers (x86-64, default
 * build), as scripts/py-offsets.sh prints them.
 */
static void layout_310(void **state)
{
	const struct py_layout *l = python_layout(10);

	(void)state;
	assert_non_null(l);
	expect_layout(l, (const uint16_t[]){32, 8, 8, 176, 24, N, 24, 32, 96, N, N, N, 112, N, 104,
					    40, 120});
	assert_int_equal(l->str.ascii_size, 48);
	assert_int_equal(l->str.compact_size, 72);
	assert_int_equal(l->bpf.minor, 10);
}

static void layout_311(void **state)
{
	const struct py_layout *l = python_layout(11);

	(void)state;
	assert_non_null(l);
	expect_layout(l, (const uint16_t[]){40, 16, 8, 152, 56, 8, 48, 32, 56, 68, N, 184, 120, 128,
					    112, 72, 136});
	assert_int_equal(l->str.ascii_size, 48);
	assert_int_equal(l->str.compact_size, 72);
}

static void layout_312(void **state)
{
	const struct py_layout *l = python_layout(12);

	(void)state;
	assert_non_null(l);
	expect_layout(l, (const uint16_t[]){40, 72, 8, 136, 56, 0, 8, 0, 56, N, 70, 192, 120, 128,
					    112, 68, 136});
	assert_int_equal(l->str.ascii_size, 40);
	assert_int_equal(l->str.compact_size, 56);
}

static void layout_313(void **state)
{
	const struct py_layout *l = python_layout(13);

	(void)state;
	assert_non_null(l);
	expect_layout(l, (const uint16_t[]){632, 7344, 8, 152, 72, N, 8, 0, 56, N, 70, 200, 120,
					    128, 112, 68, 136});
	/* Frame fields must lie inside what BPF reads of a frame. */
	for (int m = 10; m <= 13; m++) {
		l = python_layout(m);
		assert_true(l->bpf.frame_previous <= EMBER_PY_FRAME_READ - 8);
		assert_true(l->bpf.frame_code <= EMBER_PY_FRAME_READ - 8);
		assert_true(l->bpf.frame_instr <= EMBER_PY_FRAME_READ - 8);
	}
	assert_null(python_layout(9));
	assert_null(python_layout(14));
}

static void put_u64(uint8_t *buf, size_t at, uint64_t v)
{
	memcpy(buf + at, &v, sizeof(v));
}

/* A 3.13 _Py_DebugOffsets with the values of v3.13.0's header, where its fields are. */
static void debug_offsets_313(uint8_t buf[584])
{
	memset(buf, 0, 584);
	memcpy(buf, "xdebugpy", 8);
	put_u64(buf, 8, 0x030d00f0);
	put_u64(buf, 40, 632);	/* runtime_state.interpreters_head */
	put_u64(buf, 72, 7344); /* interpreter_state.threads_head */
	put_u64(buf, 168, 8);	/* thread_state.next */
	put_u64(buf, 184, 72);	/* thread_state.current_frame */
	put_u64(buf, 192, 152); /* thread_state.thread_id */
	put_u64(buf, 232, 8);	/* interpreter_frame.previous */
	put_u64(buf, 240, 0);	/* interpreter_frame.executable */
	put_u64(buf, 248, 56);	/* interpreter_frame.instr_ptr */
	put_u64(buf, 264, 70);	/* interpreter_frame.owner */
	put_u64(buf, 280, 112); /* code_object.filename */
	put_u64(buf, 288, 120); /* code_object.name */
	put_u64(buf, 296, 128); /* code_object.qualname */
	put_u64(buf, 304, 136); /* code_object.linetable */
	put_u64(buf, 312, 68);	/* code_object.firstlineno */
	put_u64(buf, 344, 200); /* code_object.co_code_adaptive */
	put_u64(buf, 544, 32);	/* unicode_object.state */
	put_u64(buf, 552, 16);	/* unicode_object.length */
	put_u64(buf, 560, 40);	/* unicode_object.asciiobject_size */
}

static void reads_debug_offsets(void **state)
{
	uint8_t buf[584];
	struct py_layout l;
	const struct py_layout *pinned = python_layout(13);

	(void)state;
	debug_offsets_313(buf);
	assert_int_equal(python_debug_offsets(buf, sizeof(buf), &l), 0);
	assert_int_equal(l.minor, 13);
	assert_memory_equal(&l.bpf, &pinned->bpf, sizeof(l.bpf));
	assert_int_equal(l.co_qualname, pinned->co_qualname);
	assert_int_equal(l.co_linetable, pinned->co_linetable);
	assert_int_equal(l.co_firstlineno, pinned->co_firstlineno);
	assert_int_equal(l.str.ascii_size, 40);
	assert_int_equal(l.str.compact_size, 56);

	/* Short, a wrong cookie, another version, free-threaded, a frame field out of reach. */
	assert_int_equal(python_debug_offsets(buf, 583, &l), -EINVAL);
	buf[0] = 'X';
	assert_int_equal(python_debug_offsets(buf, sizeof(buf), &l), -EINVAL);
	debug_offsets_313(buf);
	put_u64(buf, 8, 0x030e00a0);
	assert_int_equal(python_debug_offsets(buf, sizeof(buf), &l), -ENOTSUP);
	debug_offsets_313(buf);
	put_u64(buf, 16, 1);
	assert_int_equal(python_debug_offsets(buf, sizeof(buf), &l), -EINVAL);
	debug_offsets_313(buf);
	put_u64(buf, 232, 4096);
	assert_int_equal(python_debug_offsets(buf, sizeof(buf), &l), -EINVAL);
	debug_offsets_313(buf);
	put_u64(buf, 544, 24);
	assert_int_equal(python_debug_offsets(buf, sizeof(buf), &l), -EINVAL);
}

/* A compact str object of @kind with @n characters @chars, laid out as 3.12 lays it out. */
static size_t make_str(uint8_t *obj, int ascii, uint32_t kind, const void *chars, size_t n)
{
	const struct pycode_str_layout l = {40, 56};
	uint32_t state = (kind << 2) | (1u << 5) | ((uint32_t)ascii << 6);
	uint64_t len = n;
	size_t data = ascii ? l.ascii_size : l.compact_size;

	memset(obj, 0, 256);
	memcpy(obj + PYCODE_STR_LENGTH, &len, 8);
	memcpy(obj + PYCODE_STR_STATE, &state, 4);
	memcpy(obj + data, chars, n * kind);
	return data + n * kind;
}

static void strings(void **state)
{
	const struct pycode_str_layout l = {40, 56};
	uint8_t obj[256];
	char out[64];
	size_t len;

	(void)state;
	len = make_str(obj, 1, 1, "Worker.handle", 13);
	assert_int_equal(pycode_str(obj, len, &l, out, sizeof(out)), 13);
	assert_string_equal(out, "Worker.handle");
	/* Latin-1 "caf\xe9", UCS-2 "\u0394t", UCS-4 "\U0001F600!" as UTF-8. */
	len = make_str(obj, 0, 1, "caf\xe9", 4);
	assert_int_equal(pycode_str(obj, len, &l, out, sizeof(out)), 5);
	assert_string_equal(out, "caf\xc3\xa9");
	len = make_str(obj, 0, 2, (const uint16_t[]){0x394, 't'}, 2);
	assert_int_equal(pycode_str(obj, len, &l, out, sizeof(out)), 3);
	assert_string_equal(out, "\xce\x94t");
	len = make_str(obj, 0, 4, (const uint32_t[]){0x1f600, '!'}, 2);
	assert_int_equal(pycode_str(obj, len, &l, out, sizeof(out)), 5);
	assert_string_equal(out, "\xf0\x9f\x98\x80!");
	/* Cut where the copy or the output ends, at a character. */
	len = make_str(obj, 1, 1, "abcdef", 6);
	assert_int_equal(pycode_str(obj, len - 2, &l, out, sizeof(out)), 4);
	assert_string_equal(out, "abcd");
	assert_int_equal(pycode_str(obj, len, &l, out, 4), 3);
	assert_string_equal(out, "abc");
	/* Not compact, an ascii kind other than 1, an unknown kind, too short: not read. */
	len = make_str(obj, 1, 1, "x", 1);
	obj[PYCODE_STR_STATE] &= (uint8_t) ~(1u << 5);
	assert_int_equal(pycode_str(obj, len, &l, out, sizeof(out)), -1);
	make_str(obj, 1, 2, "xxxx", 1);
	assert_int_equal(pycode_str(obj, len, &l, out, sizeof(out)), -1);
	make_str(obj, 0, 3, "xxxx", 1);
	assert_int_equal(pycode_str(obj, 64, &l, out, sizeof(out)), -1);
	assert_int_equal(pycode_str(obj, 20, &l, out, sizeof(out)), -1);
}

static void frame_words(void **state)
{
	uint64_t code = 0x7f12345678a8ull, w = EMBER_PY_FRAME(code, 1234);

	(void)state;
	assert_true(EMBER_PY_IS_FRAME(w));
	assert_true(w < EMBER_STOP_IP_BASE);
	assert_int_equal(EMBER_PY_CODE(w), code);
	assert_int_equal(EMBER_PY_LASTI(w), 1234);
	w = EMBER_PY_FRAME(0x7ffffffffff8ull, EMBER_PY_LASTI_NONE);
	assert_int_equal(EMBER_PY_CODE(w), 0x7ffffffffff8ull);
	assert_int_equal(EMBER_PY_LASTI(w), EMBER_PY_LASTI_NONE);
	assert_false(EMBER_PY_IS_FRAME(0x7ffffffffff8ull));
	assert_false(EMBER_PY_IS_FRAME(EMBER_STOP_IP(3)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lines_310),	       cmocka_unit_test(lines_311),
		cmocka_unit_test(lines_312),	       cmocka_unit_test(lines_313),
		cmocka_unit_test(layout_310),	       cmocka_unit_test(layout_311),
		cmocka_unit_test(layout_312),	       cmocka_unit_test(layout_313),
		cmocka_unit_test(reads_debug_offsets), cmocka_unit_test(strings),
		cmocka_unit_test(frame_words),
	};

	return cmocka_run_group_tests_name("python", tests, NULL, NULL);
}
