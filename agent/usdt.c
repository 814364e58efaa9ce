// SPDX-License-Identifier: Apache-2.0
/* USDT probe notes (see usdt.h), read with libelf's note iterator. */
#include <gelf.h>
#include <string.h>

#include "agent/usdt.h"

#define NT_STAPSDT 3

/* The provider of one stapsdt descriptor @desc (@len bytes), or NULL if it is malformed. */
static const char *note_provider(const char *desc, size_t len, int elf64)
{
	size_t addrs = elf64 ? 3 * 8 : 3 * 4;

	if (len <= addrs || !memchr(desc + addrs, '\0', len - addrs))
		return NULL;
	return desc + addrs;
}

int usdt__count_probes(Elf *elf, const char *provider)
{
	Elf_Scn *scn = NULL;
	int elf64 = gelf_getclass(elf) == ELFCLASS64, n = 0;
	size_t shstrndx;

	if (elf_kind(elf) != ELF_K_ELF || elf_getshdrstrndx(elf, &shstrndx))
		return 0;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;
		const char *name;
		size_t off = 0, next, name_off, desc_off;
		GElf_Nhdr nh;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (!name || strcmp(name, ".note.stapsdt") != 0)
			continue;
		data = elf_getdata(scn, NULL);
		if (!data || !data->d_buf)
			continue;
		/* gelf_getnote checks each note's sizes against the section; 0 ends it. */
		while ((next = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
			const char *buf = data->d_buf, *prov;

			off = next;
			if (nh.n_type != NT_STAPSDT || nh.n_namesz != 8 ||
			    memcmp(buf + name_off, "stapsdt", 8) != 0)
				continue;
			prov = note_provider(buf + desc_off, nh.n_descsz, elf64);
			if (prov && strcmp(prov, provider) == 0)
				n++;
		}
	}
	return n;
}
