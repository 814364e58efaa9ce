/* SPDX-License-Identifier: Apache-2.0 */
/* Hexadecimal digits both ways: trace and span ids, percent-encoding. */
#ifndef EMBER_LIB_HEX_H
#define EMBER_LIB_HEX_H

#include <stddef.h>
#include <stdint.h>

/* The value of hex digit @c (either case), or -1. */
int hex_digit(char c);

/* @s must be exactly 2 * @n hex digits; decodes them into @out. Returns 0 or -EINVAL. */
int hex_decode(const char *s, uint8_t *out, size_t n);

/* Writes @n bytes as 2 * @n lowercase digits and a NUL into @out. */
void hex_encode(const uint8_t *in, size_t n, char *out);

#endif
