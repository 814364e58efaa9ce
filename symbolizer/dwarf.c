// SPDX-License-Identifier: Apache-2.0
/*
 * DWARF symbolization with libdwfl.
 *
 * Each file gets its own Dwfl session holding one module reported at bias 0,
 * so module addresses are the file's own virtual addresses and no per-process
 * relocation is needed: the caller translates a runtime address with the
 * mapping's load bias first. libdwfl's standard debuginfo finder then does
 * the searching (build-id tree, debuglink, the directories in
 * debuginfo_path), and reads compressed sections transparently.
 *
 * The inline chain. For an address, the DIEs that contain it, innermost
 * first, are lexical blocks, a DW_TAG_inlined_subroutine for each inlined
 * call, and finally the DW_TAG_subprogram (found through the per-CU index
 * below). The innermost frame's
 * file:line comes from the line table. Every inlined_subroutine then gives
 * its *caller's* position through DW_AT_call_file/DW_AT_call_line, so walking
 * outwards we emit (function, current position) and move the position to the
 * call site, until the real function is reached. This is the algorithm of
 * eu-addr2line -i and llvm-symbolizer --inlining.
 *
 * Names: the linkage name (through DW_AT_abstract_origin/specification) is
 * demangled when present, as DW_AT_name of a C++ method lacks its class and
 * namespace; otherwise DW_AT_name. Demangled strings are interned per file.
 */
#include <dwarf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <gelf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>

#include "lib/array.h"
#include "lib/htab.h"
#include "symbolizer/demangle.h"
#include "symbolizer/dwarf.h"
#include "symbolizer/symbolizer.h"

struct dwarf_file {
	Dwfl *dwfl;
	Dwfl_Module *mod;
	char *debuginfo_path;
	Dwfl_Callbacks callbacks;
	struct htab *names; /* mangled -> demangled (char *, owned) */
	struct htab *paths; /* absolute source paths (the keys) */
	struct htab *cus;   /* CU DIE offset -> struct cu_index * */
	uint64_t grown;	    /* bytes the CUs read so far hold, estimated */
};

static void free_index(const void *key, size_t len, uint64_t *value, void *arg);

static void free_name(const void *key, size_t len, uint64_t *value, void *arg)
{
	free((char *)(uintptr_t)*value);
}

void dwarf_file__free(struct dwarf_file *d)
{
	if (!d)
		return;
	if (d->dwfl)
		dwfl_end(d->dwfl);
	if (d->names) {
		htab__for_each(d->names, free_name, NULL);
		htab__free(d->names);
	}
	htab__free(d->paths);
	if (d->cus) {
		htab__for_each(d->cus, free_index, NULL);
		htab__free(d->cus);
	}
	free(d->debuginfo_path);
	free(d);
}

/* "-:.debug:/usr/lib/debug[:DIR...]": libdwfl's search list, see libdwfl.h. */
static char *make_debuginfo_path(const char *const *dirs)
{
	size_t len = strlen("-:.debug:/usr/lib/debug") + 1;
	char *p;

	for (size_t i = 0; dirs && dirs[i]; i++)
		len += strlen(dirs[i]) + 1;
	p = malloc(len);
	if (!p)
		return NULL;
	strcpy(p, "-:.debug:/usr/lib/debug");
	for (size_t i = 0; dirs && dirs[i]; i++) {
		strcat(p, ":");
		strcat(p, dirs[i]);
	}
	return p;
}

struct dwarf_file *dwarf_file__open(int fd, const char *path, const char *const *debug_dirs)
{
	struct dwarf_file *d = calloc(1, sizeof(*d));
	Dwarf_Addr bias;
	int dup_fd, err = ENOMEM;

	if (!d)
		goto fail;
	d->names = htab__new();
	d->paths = htab__new();
	d->cus = htab__new();
	d->debuginfo_path = make_debuginfo_path(debug_dirs);
	if (!d->names || !d->paths || !d->cus || !d->debuginfo_path)
		goto fail;
	d->callbacks.find_elf = dwfl_build_id_find_elf;
	d->callbacks.find_debuginfo = dwfl_standard_find_debuginfo;
	d->callbacks.section_address = dwfl_offline_section_address;
	d->callbacks.debuginfo_path = &d->debuginfo_path;
	d->dwfl = dwfl_begin(&d->callbacks);
	if (!d->dwfl)
		goto fail;
	dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dup_fd < 0) {
		err = errno;
		goto fail;
	}
	/* libdwfl owns dup_fd from here, even when reporting fails. */
	d->mod = dwfl_report_elf(d->dwfl, "", path ? path : "", dup_fd, 0, false);
	err = ENOENT;
	if (!d->mod || dwfl_report_end(d->dwfl, NULL, NULL) != 0)
		goto fail;
	/* No DWARF anywhere: the caller falls back to ELF symbols. */
	if (!dwfl_module_getdwarf(d->mod, &bias))
		goto fail;
	return d;
fail:
	dwarf_file__free(d);
	errno = err;
	return NULL;
}

Elf *dwarf_file__elf(const struct dwarf_file *d)
{
	Dwarf_Addr bias;
	Dwarf *dw = dwfl_module_getdwarf(d->mod, &bias);
	Elf *elf = dw ? dwarf_getelf(dw) : NULL;
	GElf_Ehdr eh;

	if (!elf || !gelf_getehdr(elf, &eh) || eh.e_type == ET_REL)
		return NULL;
	return elf;
}

/* Display name of a function DIE: demangled linkage name, else DW_AT_name. */
static const char *die_name(struct dwarf_file *d, Dwarf_Die *die, const char **system_name)
{
	Dwarf_Attribute attr;
	const char *linkage = NULL, *name;
	uint64_t *slot;
	int added;

	if (dwarf_attr_integrate(die, DW_AT_linkage_name, &attr) ||
	    dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr))
		linkage = dwarf_formstring(&attr);
	name = dwarf_diename(die);
	*system_name = linkage ? linkage : name;
	if (!linkage)
		return name;
	slot = htab__get(d->names, linkage, strlen(linkage), 1, 0, &added);
	if (!slot)
		return name ? name : linkage;
	if (added)
		*slot = (uintptr_t)demangle(linkage);
	if (*slot)
		return (const char *)(uintptr_t)*slot;
	return name ? name : linkage;
}

/*
 * Makes a relative source path absolute with the CU's compilation directory,
 * as llvm-symbolizer and pprof's source view expect; interned in @d.
 */
static const char *full_path(struct dwarf_file *d, Dwarf_Die *cu, const char *file)
{
	Dwarf_Attribute attr;
	const char *dir;
	char buf[4096];
	uint64_t *slot;
	int added, n;

	if (!file || file[0] == '/')
		return file;
	dir = dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &attr));
	if (!dir || dir[0] != '/')
		return file;
	n = snprintf(buf, sizeof(buf), "%s/%s", dir,
		     file[0] == '.' && file[1] == '/' ? file + 2 : file);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return file;
	/* Keys are the joined paths; the value is unused, the key copy is the string. */
	slot = htab__get(d->paths, buf, (size_t)n, 1, 0, &added);
	return slot ? htab__key(d->paths, buf, (size_t)n) : file;
}

/* The source file for a DW_AT_call_file index of @cu. */
static const char *call_file(Dwarf_Die *cu, Dwarf_Word idx)
{
	Dwarf_Files *files;
	size_t nfiles;

	if (dwarf_getsrcfiles(cu, &files, &nfiles) != 0 || idx >= nfiles)
		return NULL;
	return dwarf_filesrc(files, idx, NULL, NULL);
}

/*
 * The per-CU scope index.
 *
 * Naming an address needs the chain of function DIEs containing it: the
 * innermost inlined_subroutine up to its subprogram. libdw's
 * dwarf_getscopes() finds it by walking the CU's whole DIE tree on every call,
 * which made a cold symbolization of libc five times slower than
 * llvm-symbolizer. Instead, the first lookup in a CU walks the tree once and
 * records every subprogram and inlined_subroutine: its DIE, its parent in the
 * function tree, and its address ranges. The ranges of one CU nest (an inlined
 * call lies inside its caller), so a sweep over them sorted by start, outer
 * first, with a stack of open ranges, flattens them into disjoint segments,
 * each naming its innermost function DIE. A lookup is then a binary search
 * over segments and a walk up the parent links.
 *
 * Bounds: the walk goes at most SCOPE_MAX_DEPTH levels deep, and malformed
 * (overlapping, not nested) ranges only make segments name a wrong but real
 * DIE of the same CU; nothing reads outside the arrays. A DIE tree visited in
 * order has ever larger DIE offsets, so a DIE at or before the last one
 * visited (a DW_AT_sibling pointing back, as a corrupt file can have) ends
 * the walk there: otherwise a cycle of siblings would record scopes until
 * memory ran out (the fuzzer found one at 4 GiB).
 */
#define SCOPE_MAX_DEPTH 128
#define SCOPE_NONE UINT32_MAX

struct scope {
	Dwarf_Die die;
	uint32_t parent; /* index of the enclosing function DIE, or SCOPE_NONE */
};

struct scope_range {
	uint64_t lo, hi;
	uint32_t scope;
	uint32_t depth;
};

struct segment {
	uint64_t lo, hi;
	uint32_t scope;
};

struct cu_index {
	struct scope *scopes;
	size_t nscopes;
	struct segment *segs;
	size_t nsegs;
};

struct build {
	struct cu_index *ix;
	size_t scopes_cap;
	struct scope_range *ranges;
	size_t nranges, ranges_cap, segs_cap;
	Dwarf_Off last; /* the offset of the DIE last visited */
	int failed;
	int cut; /* the tree went backwards: the walk stopped, what it found is kept */
};

static void *grow_array(void *p, size_t *cap, size_t need, size_t elem, int *failed)
{
	if (array__reserve(&p, cap, need, elem))
		*failed = 1;
	return p;
}

static void add_scope(struct build *b, Dwarf_Die *die, uint32_t parent, uint32_t depth,
		      uint32_t *index)
{
	struct cu_index *ix = b->ix;
	Dwarf_Addr base, lo, hi;
	ptrdiff_t off = 0;

	ix->scopes = grow_array(ix->scopes, &b->scopes_cap, ix->nscopes + 1, sizeof(*ix->scopes),
				&b->failed);
	if (b->failed)
		return;
	*index = (uint32_t)ix->nscopes;
	ix->scopes[ix->nscopes++] = (struct scope){*die, parent};
	while ((off = dwarf_ranges(die, off, &base, &lo, &hi)) > 0) {
		if (hi <= lo)
			continue;
		b->ranges = grow_array(b->ranges, &b->ranges_cap, b->nranges + 1,
				       sizeof(*b->ranges), &b->failed);
		if (b->failed)
			return;
		b->ranges[b->nranges++] = (struct scope_range){lo, hi, *index, depth};
	}
}

/* Records the function DIEs among @parent_die's descendants. */
static void walk(struct build *b, Dwarf_Die *parent_die, uint32_t parent, uint32_t depth)
{
	Dwarf_Die child;

	if (depth >= SCOPE_MAX_DEPTH || dwarf_child(parent_die, &child) != 0)
		return;
	do {
		int tag = dwarf_tag(&child);
		uint32_t index = parent;

		if (dwarf_dieoffset(&child) <= b->last) {
			b->cut = 1;
			return;
		}
		b->last = dwarf_dieoffset(&child);
		if (tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine) {
			add_scope(b, &child, parent, depth, &index);
			if (b->failed)
				return;
		}
		/* Blocks, namespaces, classes and functions can all hold functions. */
		if (dwarf_haschildren(&child))
			walk(b, &child, index, depth + 1);
	} while (!b->failed && !b->cut && dwarf_siblingof(&child, &child) == 0);
}

static int range_cmp(const void *a, const void *b)
{
	const struct scope_range *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->hi != y->hi)
		return x->hi > y->hi ? -1 : 1; /* outer first */
	return x->depth < y->depth ? -1 : x->depth > y->depth;
}

static void emit(struct build *b, size_t *cap, uint64_t lo, uint64_t hi, uint32_t scope)
{
	struct cu_index *ix = b->ix;

	if (lo >= hi)
		return;
	if (ix->nsegs && ix->segs[ix->nsegs - 1].hi == lo &&
	    ix->segs[ix->nsegs - 1].scope == scope) {
		ix->segs[ix->nsegs - 1].hi = hi;
		return;
	}
	ix->segs = grow_array(ix->segs, cap, ix->nsegs + 1, sizeof(*ix->segs), &b->failed);
	if (!b->failed)
		ix->segs[ix->nsegs++] = (struct segment){lo, hi, scope};
}

/* Flattens nested ranges into disjoint segments naming the innermost scope. */
static void flatten(struct build *b)
{
	struct scope_range *stack[SCOPE_MAX_DEPTH + 1];
	size_t depth = 0, *cap = &b->segs_cap;
	uint64_t cur = 0;

	if (b->nranges > 1)
		qsort(b->ranges, b->nranges, sizeof(*b->ranges), range_cmp);
	for (size_t i = 0; i < b->nranges && !b->failed; i++) {
		struct scope_range *r = &b->ranges[i];

		while (depth && stack[depth - 1]->hi <= r->lo) {
			struct scope_range *top = stack[--depth];

			emit(b, cap, cur > top->lo ? cur : top->lo, top->hi, top->scope);
			if (top->hi > cur)
				cur = top->hi;
		}
		if (depth)
			emit(b, cap, cur, r->lo, stack[depth - 1]->scope);
		if (depth == SCOPE_MAX_DEPTH)
			depth--; /* malformed nesting: replace the innermost */
		stack[depth++] = r;
		cur = r->lo;
	}
	while (depth && !b->failed) {
		struct scope_range *top = stack[--depth];

		emit(b, cap, cur > top->lo ? cur : top->lo, top->hi, top->scope);
		if (top->hi > cur)
			cur = top->hi;
	}
}

static void free_index(const void *key, size_t len, uint64_t *value, void *arg)
{
	struct cu_index *ix = (struct cu_index *)(uintptr_t)*value;

	if (ix) {
		free(ix->scopes);
		free(ix->segs);
		free(ix);
	}
}

/*
 * What libdw keeps of a CU once it has been read: its line table (the
 * lookup has just read it, so asking for it again is free) at about
 * DWARF_LINE_BYTES a row, and DWARF_CU_BYTES more. Fitted with mallinfo2
 * to a lookup of every function of pyenv's libpython3.11 (141 CUs, 621k
 * rows: 37.9 MiB) and of Debian's libc from libc6-dbg (1580 CUs, 195k
 * rows: 17.5 MiB), the scope indexes included.
 */
#define DWARF_LINE_BYTES 53
#define DWARF_CU_BYTES 3600

static uint64_t cu_libdw_bytes(Dwarf_Die *cu)
{
	Dwarf_Lines *lines;
	size_t n = 0;

	if (dwarf_getsrclines(cu, &lines, &n) != 0)
		n = 0;
	return DWARF_CU_BYTES + n * DWARF_LINE_BYTES;
}

/* The index of @cu, built on first use. NULL on ENOMEM. */
static struct cu_index *cu_index(struct dwarf_file *d, Dwarf_Die *cu)
{
	Dwarf_Off off = dwarf_dieoffset(cu);
	struct build b = {0};
	uint64_t *slot = htab__get(d->cus, &off, sizeof(off), 0, 0, NULL);

	if (slot)
		return (struct cu_index *)(uintptr_t)*slot;
	b.ix = calloc(1, sizeof(*b.ix));
	if (!b.ix)
		return NULL;
	b.last = dwarf_dieoffset(cu);
	walk(&b, cu, SCOPE_NONE, 0);
	if (!b.failed)
		flatten(&b);
	free(b.ranges);
	slot = b.failed ? NULL : htab__get(d->cus, &off, sizeof(off), 1, (uintptr_t)b.ix, NULL);
	if (!slot) {
		uint64_t v = (uintptr_t)b.ix;

		free_index(NULL, 0, &v, NULL);
		return NULL;
	}
	d->grown += sizeof(*b.ix) + b.scopes_cap * sizeof(struct scope) +
		    b.segs_cap * sizeof(struct segment) + cu_libdw_bytes(cu);
	return b.ix;
}

static const struct scope *innermost_scope(const struct cu_index *ix, uint64_t addr)
{
	size_t lo = 0, hi = ix->nsegs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ix->segs[mid].lo <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo && addr < ix->segs[lo - 1].hi)
		return &ix->scopes[ix->segs[lo - 1].scope];
	return NULL;
}

uint64_t dwarf_file__grown(const struct dwarf_file *d)
{
	return d->grown;
}

int dwarf_file__lookup(struct dwarf_file *d, uint64_t vaddr, struct sym_result *res)
{
	Dwarf_Addr bias = 0;
	const struct scope *sc = NULL;
	struct cu_index *ix;
	Dwarf_Die *cu;
	Dwfl_Line *line;
	const char *file = NULL;
	int lineno = 0;

	res->nlines = 0;
	res->entry = 0;
	cu = dwfl_module_addrdie(d->mod, vaddr, &bias);
	if (!cu)
		return -ENOENT;
	line = dwfl_module_getsrc(d->mod, vaddr);
	if (line)
		file = full_path(d, cu, dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL));
	ix = cu_index(d, cu);
	if (ix)
		sc = innermost_scope(ix, vaddr - bias);
	/* Innermost first; each inlined call moves the position to its call site. */
	for (uint32_t hops = 0; sc && res->nlines < SYM_MAX_LINES; hops++) {
		Dwarf_Die die = sc->die;
		struct sym_line *out = &res->lines[res->nlines++];
		Dwarf_Attribute attr;
		Dwarf_Word v;

		out->function = die_name(d, &die, &out->system_name);
		out->file = file;
		out->line = lineno;
		if (dwarf_tag(&die) == DW_TAG_subprogram || sc->parent == SCOPE_NONE ||
		    hops >= SCOPE_MAX_DEPTH) {
			Dwarf_Addr entry;

			if (dwarf_entrypc(&die, &entry) == 0)
				res->entry = entry;
			break;
		}
		file = NULL;
		lineno = 0;
		if (dwarf_formudata(dwarf_attr(&die, DW_AT_call_file, &attr), &v) == 0)
			file = full_path(d, cu, call_file(cu, v));
		if (dwarf_formudata(dwarf_attr(&die, DW_AT_call_line, &attr), &v) == 0)
			lineno = (int)v;
		sc = &ix->scopes[sc->parent];
	}
	if (res->nlines == 0 && file) {
		/* Line info but no function DIE (assembly, some startup code). */
		res->lines[0] = (struct sym_line){.file = file, .line = lineno};
		res->nlines = 1;
	}
	return res->nlines ? 0 : -ENOENT;
}
