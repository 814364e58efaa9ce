// SPDX-License-Identifier: Apache-2.0
/*
 * CPython line tables and str objects. The formats are CPython's, read as
 * facts from its sources; the decoding is written here, with every read
 * bounded by the bytes given.
 */
#include <string.h>

#include "symbolizer/pycode.h"

/*
 * 3.10: pairs of (bytecode bytes the range covers, signed line delta);
 * a delta of -128 means the range has no line. Ranges follow each other
 * from offset 0, and each delta applies to the line so far.
 */
static int64_t line_310(const uint8_t *tab, size_t len, int64_t line, uint32_t lasti)
{
	uint64_t addr = (uint64_t)lasti * 2, start, end = 0;

	for (size_t i = 0; i + 1 < len; i += 2) {
		int8_t ldelta = (int8_t)tab[i + 1];

		start = end;
		end = start + tab[i];
		if (ldelta != -128)
			line += ldelta;
		if (addr >= start && addr < end)
			return ldelta == -128 || line <= 0 ? 0 : line;
	}
	return 0;
}

/* A 3.11 varint from @p (6 bits a byte, low first, 0x40: more) within [p, end). */
static uint32_t varint(const uint8_t *p, const uint8_t *end)
{
	uint32_t val, shift = 0;
	uint8_t b;

	if (p >= end)
		return 0;
	b = *p++;
	val = b & 63;
	while ((b & 64) && p < end && shift < 24) {
		b = *p++;
		shift += 6;
		val |= (uint32_t)(b & 63) << shift;
	}
	return val;
}

static int32_t svarint(const uint8_t *p, const uint8_t *end)
{
	uint32_t v = varint(p, end);

	return v & 1 ? -(int32_t)(v >> 1) : (int32_t)(v >> 1);
}

/*
 * 3.11 and later: entries that each start with a byte with bit 7 set,
 * bits 3-6 a code and bits 0-2 the code units covered, minus one. Code 15:
 * no location; 14 (long form) and 13 (no columns): a signed varint line
 * delta follows; 10-12: the line moves by code - 10; 0-9: the same line.
 */
static int64_t line_311(const uint8_t *tab, size_t len, int64_t line, uint32_t lasti)
{
	const uint8_t *p = tab, *end = tab + len;
	uint64_t start, stop = 0;

	while (p < end) {
		uint8_t first = *p;
		unsigned int code = (first >> 3) & 15;
		int none = 0;

		if (!(first & 128))
			return 0; /* not at an entry: not a location table */
		if (code == 15)
			none = 1;
		else if (code == 13 || code == 14)
			line += svarint(p + 1, end);
		else if (code >= 10)
			line += code - 10;
		start = stop;
		stop = start + (first & 7) + 1;
		if (lasti >= start && lasti < stop)
			return none || line <= 0 ? 0 : line;
		do
			p++;
		while (p < end && !(*p & 128));
	}
	return 0;
}

int64_t pycode_line(const uint8_t *tab, size_t len, int minor, int64_t firstlineno, uint32_t lasti)
{
	if (!tab || firstlineno < 0 || firstlineno > INT32_MAX)
		return 0;
	return minor == 10 ? line_310(tab, len, firstlineno, lasti)
			   : line_311(tab, len, firstlineno, lasti);
}

size_t pycode_str_bytes(const struct pycode_str_layout *l, size_t chars)
{
	return l->compact_size + 4 * chars;
}

/* Appends code point @c to @out as UTF-8 if it fits with a NUL after. Returns 0 or -1. */
static int put_utf8(char *out, size_t cap, size_t *n, uint32_t c)
{
	uint8_t b[4];
	size_t k;

	if (c < 0x80) {
		b[0] = (uint8_t)c;
		k = 1;
	} else if (c < 0x800) {
		b[0] = (uint8_t)(0xc0 | (c >> 6));
		b[1] = (uint8_t)(0x80 | (c & 63));
		k = 2;
	} else if (c < 0x10000) {
		b[0] = (uint8_t)(0xe0 | (c >> 12));
		b[1] = (uint8_t)(0x80 | ((c >> 6) & 63));
		b[2] = (uint8_t)(0x80 | (c & 63));
		k = 3;
	} else if (c < 0x110000) {
		b[0] = (uint8_t)(0xf0 | (c >> 18));
		b[1] = (uint8_t)(0x80 | ((c >> 12) & 63));
		b[2] = (uint8_t)(0x80 | ((c >> 6) & 63));
		b[3] = (uint8_t)(0x80 | (c & 63));
		k = 4;
	} else {
		b[0] = '?'; /* no code point: a torn read */
		k = 1;
	}
	if (*n + k >= cap)
		return -1;
	memcpy(out + *n, b, k);
	*n += k;
	return 0;
}

int pycode_str(const uint8_t *obj, size_t len, const struct pycode_str_layout *l, char *out,
	       size_t cap)
{
	uint64_t length;
	uint32_t state, kind, data;
	size_t n = 0;

	if (!cap)
		return -1;
	out[0] = '\0';
	if (len < PYCODE_STR_STATE + 4 || l->ascii_size > l->compact_size)
		return -1;
	memcpy(&length, obj + PYCODE_STR_LENGTH, sizeof(length));
	memcpy(&state, obj + PYCODE_STR_STATE, sizeof(state));
	kind = (state >> 2) & 7;
	if (!((state >> 5) & 1)) /* not compact: its text is elsewhere */
		return -1;
	if ((state >> 6) & 1) { /* ascii: one byte a character, after PyASCIIObject */
		if (kind != 1)
			return -1;
		data = l->ascii_size;
	} else {
		if (kind != 1 && kind != 2 && kind != 4)
			return -1;
		data = l->compact_size;
	}
	if (length > (1u << 20))
		return -1;
	for (uint64_t i = 0; i < length; i++) {
		uint64_t at = data + i * kind;
		uint32_t c;

		if (at + kind > len)
			break; /* cut: the copy held no more */
		if (kind == 1) {
			c = obj[at];
		} else if (kind == 2) {
			uint16_t u;

			memcpy(&u, obj + at, 2);
			c = u;
		} else {
			memcpy(&c, obj + at, 4);
		}
		if (!c)
			c = '?'; /* a NUL would end the name early */
		if (put_utf8(out, cap, &n, c))
			break;
	}
	out[n] = '\0';
	return (int)n;
}
