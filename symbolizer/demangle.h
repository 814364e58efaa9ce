/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Symbol demangling through libiberty: Itanium C++ ("_Z...") and Rust, both
 * legacy ("_ZN...17h<hash>E") and v0 ("_R..."). Other names pass through.
 */
#ifndef EMBER_SYM_DEMANGLE_H
#define EMBER_SYM_DEMANGLE_H

/*
 * Returns a malloc'd demangled form of @name, or NULL when @name is not
 * mangled (or cannot be demangled): the caller then shows @name as it is.
 */
char *demangle(const char *name);

#endif
