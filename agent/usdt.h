/* SPDX-License-Identifier: Apache-2.0 */
/*
 * USDT probe notes: whether an ELF file carries probes of a provider. Each
 * probe a program compiled in with <sys/sdt.h> is one SHT_NOTE note named
 * "stapsdt", type 3, in section .note.stapsdt, whose descriptor holds three
 * addresses (the probe's pc, the .stapsdt.base address, the semaphore) and
 * then three NUL-terminated strings: provider, probe name and the argument
 * specification. libbpf attaches by reading the same notes; this only
 * answers, cheaply and once per file, whether attaching is worth trying.
 */
#ifndef EMBER_USDT_H
#define EMBER_USDT_H

#include <libelf.h>

/*
 * How many probes of @provider the notes of @elf name (each name counted
 * once per note), 0 for none. Malformed notes are skipped, never read past.
 */
int usdt__count_probes(Elf *elf, const char *provider);

#endif
