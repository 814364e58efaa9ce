/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kernel symbols from /proc/kallsyms: text symbols sorted once by address,
 * with the module each belongs to ("" for the core kernel).
 */
#ifndef EMBER_SYM_KALLSYMS_H
#define EMBER_SYM_KALLSYMS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct kallsyms;

/*
 * Parses a kallsyms-format stream. Malformed lines are skipped and counted.
 * Returns NULL with errno set (ENOMEM, or ENOENT when no text symbol with a
 * non-zero address was found, as when kptr_restrict hides addresses).
 */
struct kallsyms *kallsyms__parse(FILE *in);
/* Opens and parses @path (normally "/proc/kallsyms"). */
struct kallsyms *kallsyms__load(const char *path);
/* Accepts NULL. */
void kallsyms__free(struct kallsyms *k);

/*
 * The symbol at or below @addr. Returns its name and sets *@module ("[name]" for a
 * module, "" for vmlinux) and *@start; NULL when @addr is below the first symbol or past the
 * end of the last one's plausible extent.
 */
const char *kallsyms__lookup(const struct kallsyms *k, uint64_t addr, const char **module,
			     uint64_t *start);

unsigned long kallsyms__count(const struct kallsyms *k);
/* Bytes held: the sorted array and the string blocks. */
size_t kallsyms__bytes(const struct kallsyms *k);
unsigned long kallsyms__skipped(const struct kallsyms *k);

#endif
