/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CPython support on the agent's side: finding the interpreter in a process,
 * handing BPF its layout (bpf/python.bpf.h walks the frames), and naming the
 * code objects the frames point at, read from the process's memory.
 *
 * A process runs CPython when its executable or a mapped libpython3.X.so
 * defines _PyRuntime. The version is Py_Version (3.11+) or the file's name.
 * 3.13 publishes its own layout (_Py_DebugOffsets at the start of
 * _PyRuntime), which is read; 3.10 to 3.12 use the offsets pinned below,
 * from CPython's headers. Any other version gets native frames only.
 */
#ifndef EMBER_PYTHON_H
#define EMBER_PYTHON_H

#include <stddef.h>
#include <stdint.h>

#include "bpf/emberprof.h"
#include "symbolizer/pycode.h"

struct proc_mapping;
struct sym_result;

/* Everything the walk (BPF) and the naming (here) need of one CPython version. */
struct py_layout {
	int minor;
	struct ember_py_proc bpf; /* the offsets; the addresses are per process */
	/* PyCodeObject */
	uint16_t co_name, co_qualname, co_filename, co_firstlineno, co_linetable;
	struct pycode_str_layout str;
};

/* The pinned layout of CPython 3.@minor (10 to 12, and 13 for checks), or NULL. */
const struct py_layout *python_layout(int minor);

/*
 * Builds @out from the _Py_DebugOffsets of CPython 3.13 (@buf, @len bytes
 * copied from the start of _PyRuntime). Returns 0, or -EINVAL when the
 * cookie, the version or a value is not what 3.13's struct holds (a free-
 * threaded build, say), and -ENOTSUP for another version's.
 */
int python_debug_offsets(const uint8_t *buf, size_t len, struct py_layout *out);

struct python_stats {
	uint64_t procs;	      /* processes found running a supported CPython */
	uint64_t unsupported; /* processes running a CPython it does not read */
	uint64_t codes;	      /* code objects read */
	uint64_t code_faults; /* code objects that could not be read or made no sense */
	uint64_t reused;      /* cached code objects found changed: a freed address reused */
	uint64_t cache_bytes; /* what the code-object cache holds */
	uint64_t resets;      /* times the cache was over its cap and started again */
};

struct python;

/* @cache_bytes: the code-object cache's cap (0: 8 MiB). Returns NULL with errno set. */
struct python *python__new(size_t cache_bytes);
void python__free(struct python *py);

/*
 * After @pid's mappings were (re)read (@exe: its executable's path): sets
 * *@out and returns 1 when it runs a supported CPython, returns 0 when it
 * runs none, and -ENOTSUP (logged once per process, counted) for a CPython
 * it does not read. Only the executable and libpython3* files are searched.
 */
int python__find(struct python *py, uint32_t pid, const char *exe, const struct proc_mapping *maps,
		 size_t n, struct ember_py_proc *out);

/* @pid exited: its code objects are named from the cache, not read again. */
void python__exited(struct python *py, uint32_t pid);
/* @pid left the process table: forget it. */
void python__forget(struct python *py, uint32_t pid);

/*
 * Names Python frame @word (EMBER_PY_IS_FRAME) of @pid into @res: one line,
 * the function's qualified name, its .py file, and the line of the
 * instruction. Returns 0, or -ENOENT when the code object cannot be named
 * (@res then has no lines: never a guess).
 */
int python__symbolize(struct python *py, uint32_t pid, uint64_t word, struct sym_result *res);

/* Call between intervals: cached code objects are checked again before reuse. */
void python__end_interval(struct python *py);

void python__stats(const struct python *py, struct python_stats *out);

#endif
