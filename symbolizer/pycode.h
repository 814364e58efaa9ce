/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CPython code objects, decoded from bytes copied out of another process:
 * the line an instruction belongs to, from the code object's line table,
 * and a str object's text. Every input is untrusted (a profiled process
 * owns it, and it may change while it is copied), so every length is
 * checked and nothing here reads past what it was given.
 */
#ifndef EMBER_PYCODE_H
#define EMBER_PYCODE_H

#include <stddef.h>
#include <stdint.h>

/*
 * The line of the instruction at index @lasti (in 2-byte code units) of a
 * code object whose first line is @firstlineno, from its co_linetable
 * @tab of @len bytes, in the format of CPython 3.@minor: 3.10's (start
 * delta, line delta) byte pairs (Objects/lnotab_notes.txt), or the
 * location table of 3.11 and later (InternalDocs/locations.md). Returns the
 * line (> 0), or 0 when the table gives none for @lasti.
 */
int64_t pycode_line(const uint8_t *tab, size_t len, int minor, int64_t firstlineno, uint32_t lasti);

/*
 * Where a str object keeps its text: the size of PyASCIIObject (48 through
 * 3.11, which had wstr; 40 from 3.12) and of PyCompactUnicodeObject (72,
 * then 56).
 */
struct pycode_str_layout {
	uint32_t ascii_size, compact_size;
};

/* Offsets inside every str object (3.10 to 3.13): the length, then the state bits. */
#define PYCODE_STR_LENGTH 16
#define PYCODE_STR_STATE 32

/*
 * The text of the str object whose first @len bytes are @obj, as UTF-8 in
 * @out (@cap bytes, NUL-terminated). Only compact strings are read (every
 * name and file name of a code object is one); text longer than @obj holds
 * or @out fits is cut at a character. Returns the bytes written, or -1 for
 * bytes that are no compact str.
 */
int pycode_str(const uint8_t *obj, size_t len, const struct pycode_str_layout *l, char *out,
	       size_t cap);

/* Bytes of a str object to copy so that pycode_str can read up to @chars characters. */
size_t pycode_str_bytes(const struct pycode_str_layout *l, size_t chars);

#endif
