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
 * call, and finally the DW_TAG_subprogram. The innermost frame's
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
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>

#include "agent/htab.h"
#include "demangle.h"
#include "dwarf.h"
#include "symbolizer.h"

struct dwarf_file {
	Dwfl *dwfl;
	Dwfl_Module *mod;
	char *debuginfo_path;
	Dwfl_Callbacks callbacks;
	struct htab *names; /* mangled -> demangled (char *, owned) */
	struct htab *paths; /* absolute source paths (the keys) */
};

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
	d->debuginfo_path = make_debuginfo_path(debug_dirs);
	if (!d->names || !d->paths || !d->debuginfo_path)
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

int dwarf_file__lookup(struct dwarf_file *d, uint64_t vaddr, struct sym_result *res)
{
	Dwarf_Addr bias = 0;
	Dwarf_Die *cu, *scopes = NULL;
	Dwfl_Line *line;
	const char *file = NULL;
	int lineno = 0, n;

	res->nlines = 0;
	cu = dwfl_module_addrdie(d->mod, vaddr, &bias);
	if (!cu)
		return -ENOENT;
	line = dwfl_module_getsrc(d->mod, vaddr);
	if (line)
		file = full_path(d, cu, dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL));

	/*
	 * dwarf_getscopes() continues from an inlined instance into its abstract
	 * definition's scopes, not into its caller; re-walking from the innermost
	 * DIE with dwarf_getscopes_die() follows the concrete tree, which is the
	 * chain of callers.
	 */
	n = dwarf_getscopes(cu, vaddr - bias, &scopes);
	if (n > 0) {
		Dwarf_Die innermost = scopes[0];

		free(scopes);
		scopes = NULL;
		n = dwarf_getscopes_die(&innermost, &scopes);
	}
	for (int i = 0; i < n && res->nlines < SYM_MAX_LINES; i++) {
		Dwarf_Die *die = &scopes[i];
		int tag = dwarf_tag(die);
		struct sym_line *out;
		Dwarf_Attribute attr;
		Dwarf_Word v;

		if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram)
			continue;
		out = &res->lines[res->nlines++];
		out->function = die_name(d, die, &out->system_name);
		out->file = file;
		out->line = lineno;
		if (tag == DW_TAG_subprogram)
			break;
		/* Move to the call site, in the caller. */
		file = NULL;
		lineno = 0;
		if (dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &attr), &v) == 0)
			file = full_path(d, cu, call_file(cu, v));
		if (dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &attr), &v) == 0)
			lineno = (int)v;
	}
	free(scopes);
	if (res->nlines == 0 && file) {
		/* Line info but no function DIE (assembly, some startup code). */
		res->lines[0] = (struct sym_line){.file = file, .line = lineno};
		res->nlines = 1;
	}
	return res->nlines ? 0 : -ENOENT;
}
