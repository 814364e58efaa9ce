// SPDX-License-Identifier: Apache-2.0
/*
 * ELF symbol tables through libelf. At open, the function symbols of .symtab
 * and .dynsym are gathered into one array sorted by address, so a lookup is a
 * binary search. Where two symbols share an address the global one wins over
 * a weak one, and either over a local one, which is the name a user expects
 * (e.g. "memcpy" rather than an internal alias).
 *
 * A stripped file may carry MiniDebugInfo instead (.gnu_debugdata: an
 * xz-compressed ELF with the .symtab stripping removed, as Fedora and RHEL
 * ship their binaries). libdwfl reads that as a module's auxiliary symbol
 * table, so a file with no .symtab and a .gnu_debugdata is also reported to
 * a Dwfl of its own, which holds the names for as long as the file is open.
 *
 * Every field read from the file is untrusted: sizes and offsets come through
 * libelf's checked accessors, and a section that fails to read is skipped,
 * leaving the frame unnamed rather than failing the whole file.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <elfutils/libdwfl.h>

#include "lib/array.h"
#include "lib/hex.h"
#include "symbolizer/elf_file.h"

struct elf_sym {
	uint64_t addr;
	uint64_t size;
	const char *name;
	int rank; /* 2 global, 1 weak, 0 local */
};

struct load_seg {
	uint64_t offset, vaddr, filesz;
};

struct elf_file {
	int fd;
	Elf *elf;
	Dwfl *mini; /* holds the MiniDebugInfo symbols' names, or NULL */
	struct elf_sym *syms;
	size_t nsyms;
	struct load_seg *segs;
	size_t nsegs;
	char build_id[2 * 64 + 1];
};

static int bind_rank(int bind)
{
	if (bind == STB_GLOBAL)
		return 2;
	if (bind == STB_WEAK)
		return 1;
	return 0;
}

/* Adds @sym, named @name, if it is a defined function. Returns 0 or -ENOMEM. */
static int add_sym(struct elf_file *f, size_t *cap, const GElf_Sym *sym, const char *name)
{
	int type = GELF_ST_TYPE(sym->st_info);

	if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym->st_shndx == SHN_UNDEF ||
	    sym->st_value == 0 || !name || !name[0])
		return 0;
	if (EMBER_RESERVE(f->syms, *cap, f->nsyms + 1))
		return -ENOMEM;
	f->syms[f->nsyms++] = (struct elf_sym){
		.addr = sym->st_value,
		.size = sym->st_size,
		.name = name,
		.rank = bind_rank(GELF_ST_BIND(sym->st_info)),
	};
	return 0;
}

static int read_symtab(struct elf_file *f, Elf_Scn *scn, GElf_Shdr *sh, size_t *cap)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t n;

	if (!data || sh->sh_entsize == 0)
		return 0;
	n = sh->sh_size / sh->sh_entsize;
	for (size_t i = 0; i < n; i++) {
		GElf_Sym sym;

		if (!gelf_getsym(data, (int)i, &sym))
			break;
		if (add_sym(f, cap, &sym, elf_strptr(f->elf, sh->sh_link, sym.st_name)))
			return -ENOMEM;
	}
	return 0;
}

/* No debuginfo search: only the file's own MiniDebugInfo is wanted. */
static int no_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
			const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
			char **debuginfo_file_name)
{
	return -1;
}

/* Adds the function symbols of the .gnu_debugdata of @f's file. Returns 0 or -ENOMEM. */
static int read_minidebuginfo(struct elf_file *f, size_t *cap)
{
	static const Dwfl_Callbacks cb = {.find_debuginfo = no_debuginfo};
	Dwfl_Module *mod;
	int fd = dup(f->fd), n;

	if (fd < 0)
		return 0;
	f->mini = dwfl_begin(&cb);
	/* On success the fd is libdwfl's. */
	mod = f->mini ? dwfl_report_elf(f->mini, "mini", "", fd, 0, false) : NULL;
	if (!mod) {
		close(fd);
		return 0; /* unreadable: the frames stay unnamed */
	}
	dwfl_report_end(f->mini, NULL, NULL);
	n = dwfl_module_getsymtab(mod);
	for (int i = 1; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr addr;
		const char *name = dwfl_module_getsym_info(mod, i, &sym, &addr, NULL, NULL, NULL);

		if (name && add_sym(f, cap, &sym, name))
			return -ENOMEM;
	}
	return 0;
}

static int sym_cmp(const void *a, const void *b)
{
	const struct elf_sym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->rank != y->rank)
		return y->rank - x->rank; /* best first */
	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Sort and keep one symbol per address (the best-ranked, sorted first). */
static void sort_syms(struct elf_file *f)
{
	size_t out = 0;

	if (!f->nsyms)
		return;
	qsort(f->syms, f->nsyms, sizeof(*f->syms), sym_cmp);
	for (size_t i = 0; i < f->nsyms; i++)
		if (out == 0 || f->syms[out - 1].addr != f->syms[i].addr)
			f->syms[out++] = f->syms[i];
	f->nsyms = out;
}

static void hex_build_id(struct elf_file *f, const unsigned char *desc, size_t len)
{
	if (len > 64)
		len = 64;
	hex_encode(desc, len, f->build_id);
}

/* Scans one note buffer for NT_GNU_BUILD_ID. Returns 1 when found. */
static int scan_notes(struct elf_file *f, Elf_Data *data)
{
	size_t off = 0, name_off, desc_off;
	GElf_Nhdr nh;

	while ((off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
		if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && nh.n_descsz > 0 &&
		    memcmp((char *)data->d_buf + name_off, "GNU", 4) == 0) {
			hex_build_id(f, (unsigned char *)data->d_buf + desc_off, nh.n_descsz);
			return 1;
		}
	}
	return 0;
}

static void read_build_id(struct elf_file *f)
{
	Elf_Scn *scn = NULL;
	size_t nph = 0;

	while ((scn = elf_nextscn(f->elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		data = elf_getdata(scn, NULL);
		if (data && scan_notes(f, data))
			return;
	}
	/* No section headers (or no note section): try the program headers. */
	if (elf_getphdrnum(f->elf, &nph))
		return;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;
		Elf_Data *data;

		if (!gelf_getphdr(f->elf, (int)i, &ph) || ph.p_type != PT_NOTE)
			continue;
		data = elf_getdata_rawchunk(f->elf, ph.p_offset, ph.p_filesz, ELF_T_NHDR);
		if (data && scan_notes(f, data))
			return;
	}
}

static int read_segments(struct elf_file *f)
{
	size_t nph = 0;

	if (elf_getphdrnum(f->elf, &nph))
		return 0;
	f->segs = calloc(nph ? nph : 1, sizeof(*f->segs));
	if (!f->segs)
		return -ENOMEM;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(f->elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		f->segs[f->nsegs++] = (struct load_seg){ph.p_offset, ph.p_vaddr, ph.p_filesz};
	}
	return 0;
}

struct elf_file *elf_file__open_fd(int fd)
{
	struct elf_file *f;
	Elf_Scn *scn = NULL;
	size_t cap = 0, shstrndx = 0;
	int err, has_symtab = 0, has_mini = 0;

	elf_version(EV_CURRENT);
	f = calloc(1, sizeof(*f));
	if (!f) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	f->fd = fd;
	f->elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!f->elf || elf_kind(f->elf) != ELF_K_ELF) {
		err = -EINVAL;
		goto fail;
	}
	if (elf_getshdrstrndx(f->elf, &shstrndx))
		shstrndx = 0;
	while ((scn = elf_nextscn(f->elf, scn))) {
		GElf_Shdr sh;
		const char *name;

		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_SYMTAB)
			has_symtab = 1;
		name = elf_strptr(f->elf, shstrndx, sh.sh_name);
		if (name && !strcmp(name, ".gnu_debugdata"))
			has_mini = 1;
		if (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM)
			continue;
		err = read_symtab(f, scn, &sh, &cap);
		if (err)
			goto fail;
	}
	if (has_mini && !has_symtab) {
		err = read_minidebuginfo(f, &cap);
		if (err)
			goto fail;
	}
	sort_syms(f);
	err = read_segments(f);
	if (err)
		goto fail;
	read_build_id(f);
	return f;
fail:
	elf_file__free(f);
	errno = -err;
	return NULL;
}

void elf_file__free(struct elf_file *f)
{
	if (!f)
		return;
	if (f->mini)
		dwfl_end(f->mini);
	if (f->elf)
		elf_end(f->elf);
	if (f->fd >= 0)
		close(f->fd);
	free(f->syms);
	free(f->segs);
	free(f);
}

const char *elf_file__lookup(const struct elf_file *f, uint64_t vaddr, uint64_t *start)
{
	size_t lo = 0, hi = f->nsyms;
	const struct elf_sym *s;

	/* Binary search for the last symbol at or below vaddr. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->syms[mid].addr <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	s = &f->syms[lo - 1];
	if (s->size) {
		if (vaddr - s->addr >= s->size)
			return NULL;
	} else if (lo < f->nsyms && vaddr >= f->syms[lo].addr) {
		return NULL;
	}
	if (start)
		*start = s->addr;
	return s->name;
}

int elf_file__symbol(const struct elf_file *f, const char *name, int type, GElf_Sym *out)
{
	static const Elf64_Word tables[] = {SHT_DYNSYM, SHT_SYMTAB};

	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		Elf_Scn *scn = NULL;

		while ((scn = elf_nextscn(f->elf, scn))) {
			GElf_Shdr sh;
			Elf_Data *data;

			if (!gelf_getshdr(scn, &sh) || sh.sh_type != tables[t] || !sh.sh_entsize)
				continue;
			data = elf_getdata(scn, NULL);
			for (size_t i = 0; data && i < sh.sh_size / sh.sh_entsize; i++) {
				GElf_Sym sym;
				const char *sname;

				if (!gelf_getsym(data, (int)i, &sym) ||
				    GELF_ST_TYPE(sym.st_info) != type || sym.st_shndx == SHN_UNDEF)
					continue;
				sname = elf_strptr(f->elf, sh.sh_link, sym.st_name);
				if (sname && strcmp(sname, name) == 0) {
					*out = sym;
					return 0;
				}
			}
		}
	}
	return -ENOENT;
}

const char *elf_file__build_id(const struct elf_file *f)
{
	return f->build_id;
}

/*
 * Which segment a mapping shows. The kernel maps each PT_LOAD from the page
 * that holds its first byte, so where segments share a file page (lld's
 * layout, and so every Rust binary from rustc 1.90 on: the read-only segment
 * ends at 0x13d6c and the code starts at 0x13d70) the mapping's first bytes
 * lie in two segments' file ranges. The one it belongs to is the last segment
 * whose first page is at or below the mapping's offset. Taking the first
 * segment that holds the offset instead put the code's bias a page off, and
 * every unwind-table lookup in such a file then read another function's rows.
 */
int elf_file__vaddr(const struct elf_file *f, uint64_t map_start, uint64_t map_offset,
		    uint64_t addr, uint64_t *vaddr)
{
	const uint64_t page = 4096; /* x86-64; the only target of the unwinder */
	uint64_t file_off = addr - map_start + map_offset;
	const struct load_seg *best = NULL;

	for (size_t i = 0; i < f->nsegs; i++) {
		const struct load_seg *s = &f->segs[i];
		uint64_t first = s->offset & ~(page - 1);

		if (first > map_offset || file_off < first || file_off >= s->offset + s->filesz)
			continue;
		if (!best || first > (best->offset & ~(page - 1)))
			best = s;
	}
	if (!best)
		return -ENOENT;
	*vaddr = file_off - best->offset + best->vaddr;
	return 0;
}

int elf_file__bias(const struct elf_file *f, uint64_t map_start, uint64_t map_offset,
		   uint64_t *bias)
{
	uint64_t vaddr;
	int err = elf_file__vaddr(f, map_start, map_offset, map_start, &vaddr);

	if (err)
		return err;
	*bias = map_start - vaddr;
	return 0;
}

Elf *elf_file__elf(const struct elf_file *f)
{
	return f->elf;
}

int elf_file__fd(const struct elf_file *f)
{
	return f->fd;
}

unsigned long elf_file__nsyms(const struct elf_file *f)
{
	return f->nsyms;
}

Elf_Scn *elf_section_named(Elf *elf, const char *name, GElf_Shdr *sh)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (!elf || elf_getshdrstrndx(elf, &shstrndx))
		return NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		const char *n;

		if (!gelf_getshdr(scn, sh) || sh->sh_type == SHT_NOBITS)
			continue;
		n = elf_strptr(elf, shstrndx, sh->sh_name);
		if (n && strcmp(n, name) == 0)
			return scn;
	}
	return NULL;
}
