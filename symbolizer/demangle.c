// SPDX-License-Identifier: Apache-2.0
/*
 * Demangling is libiberty's cplus_demangle, the same code binutils and gdb
 * use, so names read as they do in those tools. DMGL_AUTO picks the scheme
 * from the name; Rust legacy names look like C++ ones and libiberty tells
 * them apart by their hash suffix. The recursion limit stays on: a hostile
 * name must not exhaust the stack.
 */
#include <string.h>
#include <libiberty/demangle.h>

#include "symbolizer/demangle.h"

char *demangle(const char *name)
{
	/* Only the mangling prefixes are worth a call: most C names are not mangled. */
	if (!name || name[0] != '_' || (name[1] != 'Z' && name[1] != 'R'))
		return NULL;
	return cplus_demangle(name, DMGL_PARAMS | DMGL_ANSI | DMGL_AUTO);
}
