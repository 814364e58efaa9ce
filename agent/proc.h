/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Process tracking: for every sampled process, its executable name and its
 * executable mappings from /proc/PID/maps, each with the symbolizer module of
 * the mapped file. Files are opened while the process is alive (through
 * /proc/PID/map_files, then /proc/PID/root), so a process that exits or a
 * binary that is deleted before the interval ends is still symbolized.
 *
 * Mappings are kept in generations: an exec or a rescan pushes the current set
 * into history instead of freeing it, because samples taken before the change
 * are still waiting to be symbolized. History and exited processes are
 * dropped by proc_table__end_interval, after symbolization.
 */
#ifndef EMBER_PROC_H
#define EMBER_PROC_H

#include <stddef.h>
#include <stdint.h>

struct symbolizer;
struct sym_module;
struct proc_table;
struct proc;

struct proc_mapping {
	uint64_t start, end, offset;
	uint64_t dev; /* makedev(major, minor) as in st_dev */
	uint64_t ino;
	char perms[5];
	char *path;		   /* "" for anonymous; "[vdso]" etc. for special ones */
	struct sym_module *module; /* NULL when not a readable ELF file */
};

/*
 * Parses one /proc/PID/maps line into @m; m->path points into @line (which is
 * modified: the trailing newline is cut). Returns 0, or -EINVAL for a line
 * that is not in the maps format.
 */
int proc_maps_parse_line(char *line, struct proc_mapping *m);

/*
 * @proc_root is normally "/proc" (tests pass another). Borrows @sym, which must
 * outlive the table. Returns NULL with errno set.
 */
struct proc_table *proc_table__new(struct symbolizer *sym, const char *proc_root);
/* Accepts NULL. */
void proc_table__free(struct proc_table *pt);

/*
 * Reads (or re-reads) @pid's name and mappings; the previous mappings move to
 * history. Returns 0, or -ESRCH when the process is gone (its old state, if
 * any, is kept until the interval ends).
 */
int proc_table__load(struct proc_table *pt, uint32_t pid);

/* The process, loading it on first use. NULL when it never could be read. */
struct proc *proc_table__get(struct proc_table *pt, uint32_t pid);

struct container_info;
/* Container and pod identity from the process's cgroup (read with its mappings). */
const struct container_info *proc__container(const struct proc *p);

/* The process's current executable mappings (sorted by address), *@n of them. */
const struct proc_mapping *proc__mappings(const struct proc *p, size_t *n);

/*
 * Optional observers of executable mappings (the unwinder): @added is called
 * for each mapping read, after its module is opened; @removed when that
 * mapping is dropped (a generation expiring, the process leaving the table).
 */
typedef void (*proc_map_fn)(void *ctx, uint32_t pid, const struct proc_mapping *m);
void proc_table__set_hooks(struct proc_table *pt, proc_map_fn added, proc_map_fn removed,
			   void *ctx);

/*
 * Optional observers of processes: @loaded after each (re)read of a process's
 * mappings, @gone when it leaves the table.
 */
typedef void (*proc_fn)(void *ctx, uint32_t pid, struct proc *p);
void proc_table__set_proc_hooks(struct proc_table *pt, proc_fn loaded, proc_fn gone, void *ctx);

/* The process exited: keep it only until the end of this interval. */
void proc_table__exited(struct proc_table *pt, uint32_t pid);

/* After an interval's samples are symbolized: drop history, exited and vanished processes. */
void proc_table__end_interval(struct proc_table *pt);

size_t proc_table__count(const struct proc_table *pt);
/* Bytes the table allocated: processes, their mappings and paths (a count, not a measure). */
size_t proc_table__bytes(const struct proc_table *pt);

/* Executable base name ("bash"), or the kernel thread's comm. */
const char *proc__name(const struct proc *p);
uint32_t proc__pid(const struct proc *p);
/* The executable's full path ("" for kernel threads or when unreadable). */
const char *proc__exe_path(const struct proc *p);

/*
 * Where the process's JIT perf map would be: /tmp/perf-NSPID.map inside its
 * own root, NSPID being its pid in its own pid namespace.
 */
const char *proc__perfmap_path(const struct proc *p);

/*
 * The mapping holding @addr: the current generation first, then older ones.
 * NULL when none holds it. Reads nothing: the table as it stands.
 */
const struct proc_mapping *proc__mapping_at(const struct proc *p, uint64_t addr);

/*
 * Whether proc_table__rescan() may re-read @p: alive, and not re-read yet
 * this interval. An address no mapping holds may be in a library dlopen'ed
 * since the last read; one re-read per interval finds it.
 */
int proc__can_rescan(const struct proc *p);

/* Re-reads @p's mappings (once per interval). Returns 0, -EALREADY, or -ESRCH when gone. */
int proc_table__rescan(struct proc_table *pt, struct proc *p);

/* The process if the table holds it; reads nothing (proc_table__get loads). */
struct proc *proc_table__lookup(struct proc_table *pt, uint32_t pid);

#endif
