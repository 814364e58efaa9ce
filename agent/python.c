// SPDX-License-Identifier: Apache-2.0
/*
 * CPython: finding the interpreter, its layout, and naming code objects.
 *
 * Naming reads another process's memory with process_vm_readv (no file
 * descriptor is held). What it reads is untrusted and may change under the
 * read: every pointer is bounded, every string and table is copied with a
 * cap and decoded by symbolizer/pycode.c, and a code object whose type is
 * not PyCode_Type is not named.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "agent/proc.h"
#include "agent/python.h"
#include "lib/htab.h"
#include "lib/log.h"
#include "symbolizer/elf_file.h"
#include "symbolizer/symbolizer.h"

#define N EMBER_PY_NONE

/*
 * The layouts, from CPython's headers (Include/cpython/pystate.h,
 * Include/internal/pycore_runtime.h, pycore_interp.h, pycore_frame.h,
 * Include/cpython/code.h, Include/cpython/unicodeobject.h) at the tags
 * v3.10.13, v3.11.7, v3.12.1 and v3.13.0, as offsetof() gives them for
 * x86-64 with the default build (no Py_DEBUG, no free threading);
 * scripts/py-offsets.sh prints them from an installed interpreter's
 * headers. Debian 12's 3.11.2 has the 3.11.7 values. Fields, in order:
 * _PyRuntimeState.interpreters.head, PyInterpreterState.threads.head
 * (3.10: tstate_head), PyThreadState.next, .thread_id, .frame / .cframe /
 * .current_frame, _PyCFrame.current_frame, the frame's previous (3.10:
 * f_back), code (f_code; 3.13 f_executable), instruction (3.10 f_lasti;
 * prev_instr; 3.13 instr_ptr), is_entry, owner, PyCodeObject.
 * co_code_adaptive. 3.11 has an owner field too, but no C-stack shim
 * frames to skip, so the walk does not read it.
 */
static const struct py_layout layouts[] = {
	{
		.minor = 10,
		.bpf = {.interp_head = 32,
			.threads_head = 8,
			.tstate_next = 8,
			.tstate_thread_id = 176,
			.tstate_frame = 24,
			.cframe_frame = N,
			.frame_previous = 24,
			.frame_code = 32,
			.frame_instr = 96,
			.frame_entry = N,
			.frame_owner = N,
			.code_adaptive = N,
			.minor = 10},
		.co_name = 112,
		.co_qualname = N,
		.co_filename = 104,
		.co_firstlineno = 40,
		.co_linetable = 120,
		.str = {.ascii_size = 48, .compact_size = 72},
	},
	{
		.minor = 11,
		.bpf = {.interp_head = 40,
			.threads_head = 16,
			.tstate_next = 8,
			.tstate_thread_id = 152,
			.tstate_frame = 56,
			.cframe_frame = 8,
			.frame_previous = 48,
			.frame_code = 32,
			.frame_instr = 56,
			.frame_entry = 68,
			.frame_owner = N,
			.code_adaptive = 184,
			.minor = 11},
		.co_name = 120,
		.co_qualname = 128,
		.co_filename = 112,
		.co_firstlineno = 72,
		.co_linetable = 136,
		.str = {.ascii_size = 48, .compact_size = 72},
	},
	{
		.minor = 12,
		.bpf = {.interp_head = 40,
			.threads_head = 72,
			.tstate_next = 8,
			.tstate_thread_id = 136,
			.tstate_frame = 56,
			.cframe_frame = 0,
			.frame_previous = 8,
			.frame_code = 0,
			.frame_instr = 56,
			.frame_entry = N,
			.frame_owner = 70,
			.code_adaptive = 192,
			.minor = 12},
		.co_name = 120,
		.co_qualname = 128,
		.co_filename = 112,
		.co_firstlineno = 68,
		.co_linetable = 136,
		.str = {.ascii_size = 40, .compact_size = 56},
	},
	{
		/* Used only to check what 3.13 publishes: its own offsets are read. */
		.minor = 13,
		.bpf = {.interp_head = 632,
			.threads_head = 7344,
			.tstate_next = 8,
			.tstate_thread_id = 152,
			.tstate_frame = 72,
			.cframe_frame = N,
			.frame_previous = 8,
			.frame_code = 0,
			.frame_instr = 56,
			.frame_entry = N,
			.frame_owner = 70,
			.code_adaptive = 200,
			.minor = 13},
		.co_name = 120,
		.co_qualname = 128,
		.co_filename = 112,
		.co_firstlineno = 68,
		.co_linetable = 136,
		.str = {.ascii_size = 40, .compact_size = 56},
	},
};

const struct py_layout *python_layout(int minor)
{
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
		if (layouts[i].minor == minor)
			return &layouts[i];
	return NULL;
}

/*
 * 3.13's _Py_DebugOffsets (Include/internal/pycore_runtime.h, v3.13.0):
 * char cookie[8] = "xdebugpy", u64 version (PY_VERSION_HEX), u64
 * free_threaded, then groups of u64 offsets, each group led by its
 * struct's size. The byte positions of the fields read here:
 */
enum {
	DBG_VERSION = 8,
	DBG_FREE_THREADED = 16,
	DBG_INTERP_HEAD = 40,
	DBG_THREADS_HEAD = 72,
	DBG_TSTATE_NEXT = 168,
	DBG_TSTATE_FRAME = 184,
	DBG_TSTATE_THREAD_ID = 192,
	DBG_FRAME_PREVIOUS = 232,
	DBG_FRAME_EXECUTABLE = 240,
	DBG_FRAME_INSTR = 248,
	DBG_FRAME_OWNER = 264,
	DBG_CO_FILENAME = 280,
	DBG_CO_NAME = 288,
	DBG_CO_QUALNAME = 296,
	DBG_CO_LINETABLE = 304,
	DBG_CO_FIRSTLINENO = 312,
	DBG_CO_ADAPTIVE = 344,
	DBG_STR_STATE = 544,
	DBG_STR_LENGTH = 552,
	DBG_STR_ASCII_SIZE = 560,
	DBG_SIZE = 584, /* sizeof(_Py_DebugOffsets) in 3.13 */
};

static uint64_t dbg_u64(const uint8_t *buf, size_t at)
{
	uint64_t v;

	memcpy(&v, buf + at, sizeof(v));
	return v;
}

/* Sets *@out to the offset at @at if it fits @max; returns 0 or -EINVAL. */
static int dbg_off(const uint8_t *buf, size_t at, uint64_t max, uint16_t *out)
{
	uint64_t v = dbg_u64(buf, at);

	if (v > max)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

int python_debug_offsets(const uint8_t *buf, size_t len, struct py_layout *out)
{
	struct py_layout l = {.minor = 13};
	uint64_t version;
	int err = 0;

	if (len < DBG_SIZE || memcmp(buf, "xdebugpy", 8) != 0)
		return -EINVAL;
	version = dbg_u64(buf, DBG_VERSION);
	if ((version >> 16) != 0x030d)
		return -ENOTSUP;
	if (dbg_u64(buf, DBG_FREE_THREADED))
		return -EINVAL; /* a free-threaded build: other frames, other locks */
	/* Frame fields lie inside the bytes BPF reads of a frame; the rest fit a u16. */
	err |= dbg_off(buf, DBG_INTERP_HEAD, 0xfff0, &l.bpf.interp_head);
	err |= dbg_off(buf, DBG_THREADS_HEAD, 0xfff0, &l.bpf.threads_head);
	err |= dbg_off(buf, DBG_TSTATE_NEXT, 0xfff0, &l.bpf.tstate_next);
	err |= dbg_off(buf, DBG_TSTATE_FRAME, 0xfff0, &l.bpf.tstate_frame);
	err |= dbg_off(buf, DBG_TSTATE_THREAD_ID, 0xfff0, &l.bpf.tstate_thread_id);
	err |= dbg_off(buf, DBG_FRAME_PREVIOUS, EMBER_PY_FRAME_READ - 8, &l.bpf.frame_previous);
	err |= dbg_off(buf, DBG_FRAME_EXECUTABLE, EMBER_PY_FRAME_READ - 8, &l.bpf.frame_code);
	err |= dbg_off(buf, DBG_FRAME_INSTR, EMBER_PY_FRAME_READ - 8, &l.bpf.frame_instr);
	err |= dbg_off(buf, DBG_FRAME_OWNER, EMBER_PY_FRAME_READ - 1, &l.bpf.frame_owner);
	err |= dbg_off(buf, DBG_CO_ADAPTIVE, 0x1000, &l.bpf.code_adaptive);
	err |= dbg_off(buf, DBG_CO_FILENAME, 0x1000, &l.co_filename);
	err |= dbg_off(buf, DBG_CO_NAME, 0x1000, &l.co_name);
	err |= dbg_off(buf, DBG_CO_QUALNAME, 0x1000, &l.co_qualname);
	err |= dbg_off(buf, DBG_CO_LINETABLE, 0x1000, &l.co_linetable);
	err |= dbg_off(buf, DBG_CO_FIRSTLINENO, 0x1000, &l.co_firstlineno);
	if (err)
		return -EINVAL;
	/* The str layout the decoder knows: state and length where they always were. */
	if (dbg_u64(buf, DBG_STR_STATE) != PYCODE_STR_STATE ||
	    dbg_u64(buf, DBG_STR_LENGTH) != PYCODE_STR_LENGTH ||
	    dbg_u64(buf, DBG_STR_ASCII_SIZE) > 256)
		return -EINVAL;
	l.str.ascii_size = (uint32_t)dbg_u64(buf, DBG_STR_ASCII_SIZE);
	/* PyCompactUnicodeObject adds utf8_length and utf8 to PyASCIIObject. */
	l.str.compact_size = l.str.ascii_size + 16;
	l.bpf.cframe_frame = N;
	l.bpf.frame_entry = N;
	l.bpf.minor = 13;
	*out = l;
	return 0;
}

/* --- Processes and their code objects ------------------------------------- */

/* What is known of one code object: its names and line table, copied. */
struct py_code {
	char *name, *file;
	uint8_t *linetable;
	size_t ltlen;
	int64_t firstlineno;
	uint64_t name_ptr, file_ptr; /* with firstlineno, the fingerprint of what was read */
	unsigned long checked;	     /* the interval it was last checked in */
	int bad;		     /* could not be named: not read again this interval */
};

struct py_proc {
	struct py_layout layout;
	uint64_t code_type;
	struct htab *codes; /* code object address -> struct py_code * */
	size_t bytes;	    /* what codes holds, counted */
	int exited;
};

struct python {
	struct htab *procs;  /* pid -> struct py_proc * */
	struct htab *warned; /* pids told about an unsupported version */
	size_t cache_cap;
	unsigned long interval;
	struct python_stats st;
};

/* Longest text kept of a name or a file name. */
#define PY_NAME_MAX 256
/* Longest line table read: a function of some 30k instructions. */
#define PY_LINETABLE_MAX (64 * 1024)

static int read_mem(uint32_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = {.iov_base = buf, .iov_len = len};
	struct iovec remote = {.iov_base = (void *)(uintptr_t)addr, .iov_len = len};
	ssize_t got = process_vm_readv((pid_t)pid, &local, 1, &remote, 1, 0);

	return got == (ssize_t)len ? 0 : -EFAULT;
}

static void free_code(const void *key, size_t len, uint64_t *value, void *arg)
{
	struct py_code *c = (struct py_code *)(uintptr_t)*value;

	(void)key;
	(void)len;
	(void)arg;
	if (!c)
		return;
	free(c->name);
	free(c->file);
	free(c->linetable);
	free(c);
}

static void free_codes(struct htab *codes)
{
	htab__for_each(codes, free_code, NULL);
	htab__free(codes);
}

static void free_proc(const void *key, size_t len, uint64_t *value, void *arg)
{
	struct py_proc *p = (struct py_proc *)(uintptr_t)*value;

	(void)key;
	(void)len;
	(void)arg;
	if (!p)
		return;
	free_codes(p->codes);
	free(p);
}

struct python *python__new(size_t cache_bytes)
{
	struct python *py = calloc(1, sizeof(*py));

	if (!py)
		return NULL;
	py->procs = htab__new();
	py->warned = htab__new();
	py->cache_cap = cache_bytes ? cache_bytes : 8u << 20;
	py->interval = 1;
	if (!py->procs || !py->warned) {
		python__free(py);
		errno = ENOMEM;
		return NULL;
	}
	return py;
}

void python__free(struct python *py)
{
	if (!py)
		return;
	if (py->procs) {
		htab__for_each(py->procs, free_proc, NULL);
		htab__free(py->procs);
	}
	htab__free(py->warned);
	free(py);
}

static struct py_proc *proc_of(const struct python *py, uint32_t pid)
{
	uint64_t *v = htab__get(py->procs, &pid, sizeof(pid), 0, 0, NULL);

	return v ? (struct py_proc *)(uintptr_t)*v : NULL;
}

/* The minor version from a file name such as python3.10 or libpython3.10.so.1.0, or 0. */
static int minor_from_name(const char *path)
{
	const char *base = strrchr(path, '/'), *p;
	char *end;
	long minor;

	base = base ? base + 1 : path;
	p = strstr(base, "python3.");
	if (!p)
		return 0;
	minor = strtol(p + 8, &end, 10);
	return end != p + 8 && minor > 0 && minor < 100 ? (int)minor : 0;
}

/* The runtime address of @name (type @type) in @m's file; 0 when it has none. */
static uint64_t symbol_addr(const struct proc_mapping *m, const char *name, int type,
			    uint64_t *size)
{
	struct elf_file *ef = m->module ? sym_module__elf(m->module) : NULL;
	uint64_t bias;
	GElf_Sym sym;

	if (!ef || elf_file__symbol(ef, name, type, &sym) ||
	    elf_file__bias(ef, m->start, m->offset, &bias))
		return 0;
	if (size)
		*size = sym.st_size;
	return sym.st_value + bias;
}

/* Logs once per process that its CPython is not one the walk reads. */
static int unsupported(struct python *py, uint32_t pid, const char *path, const char *why)
{
	int added = 0;

	if (htab__get(py->warned, &pid, sizeof(pid), 1, 1, &added) && added) {
		py->st.unsupported++;
		pr_info("pid %u: %s: %s; its stacks show native frames only", pid, path, why);
	}
	return -ENOTSUP;
}

/*
 * Whether @m may define _PyRuntime: the executable @exe, or a libpython.
 * Searching every mapped library's symbols by name, for every process,
 * cost the agent's start-up (reading a whole system) a tenth more CPU.
 */
static int may_be_python(const struct proc_mapping *m, const char *exe)
{
	const char *base = strrchr(m->path, '/');

	base = base ? base + 1 : m->path;
	return (exe && exe[0] && strcmp(m->path, exe) == 0) || strncmp(base, "libpython3", 10) == 0;
}

int python__find(struct python *py, uint32_t pid, const char *exe, const struct proc_mapping *maps,
		 size_t n, struct ember_py_proc *out)
{
	const struct proc_mapping *m = NULL;
	struct py_layout l;
	struct py_proc *p;
	uint64_t runtime = 0, version = 0, eval, eval_size = 0, code_type, *slot;
	char why[64];
	int minor, added;

	/* The file that defines _PyRuntime: the executable, or libpython. */
	for (size_t i = 0; i < n && !runtime; i++) {
		if (maps[i].perms[2] != 'x' || !maps[i].module || !may_be_python(&maps[i], exe))
			continue;
		runtime = symbol_addr(&maps[i], "_PyRuntime", STT_OBJECT, NULL);
		m = &maps[i];
	}
	if (!runtime)
		return 0;
	minor = minor_from_name(m->path);
	{
		uint64_t vaddr = symbol_addr(m, "Py_Version", STT_OBJECT, NULL);

		if (vaddr && read_mem(pid, vaddr, &version, sizeof(version)) == 0) {
			if ((version >> 24) != 3)
				return unsupported(py, pid, m->path, "Py_Version is not 3.x");
			minor = (int)((version >> 16) & 0xff);
		}
	}
	eval = symbol_addr(m, "_PyEval_EvalFrameDefault", STT_FUNC, &eval_size);
	code_type = symbol_addr(m, "PyCode_Type", STT_OBJECT, NULL);
	if (!eval || !eval_size || !code_type)
		return unsupported(py, pid, m->path,
				   "no _PyEval_EvalFrameDefault or PyCode_Type symbol");
	if (minor == 13) {
		uint8_t buf[DBG_SIZE];
		int err;

		if (read_mem(pid, runtime, buf, sizeof(buf)))
			return -ESRCH; /* gone, or not readable: tried again at its next read */
		err = python_debug_offsets(buf, sizeof(buf), &l);
		if (err)
			return unsupported(py, pid, m->path,
					   err == -ENOTSUP ? "_Py_DebugOffsets of another version"
							   : "unreadable _Py_DebugOffsets");
	} else if (minor >= 10 && minor <= 12) {
		l = *python_layout(minor);
	} else {
		snprintf(why, sizeof(why), "CPython 3.%d is not supported (3.10 to 3.13 are)",
			 minor);
		return unsupported(py, pid, m->path, minor ? why : "CPython of unknown version");
	}
	p = proc_of(py, pid);
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p || !(p->codes = htab__new())) {
			free(p);
			return -ENOMEM;
		}
		slot = htab__get(py->procs, &pid, sizeof(pid), 1, (uint64_t)(uintptr_t)p, &added);
		if (!slot) {
			free_codes(p->codes);
			free(p);
			return -ENOMEM;
		}
		py->st.procs++;
	} else if (p->layout.minor != l.minor || p->code_type != code_type) {
		/* exec'ed into another interpreter: nothing cached holds */
		py->st.cache_bytes -= p->bytes;
		p->bytes = 0;
		free_codes(p->codes);
		p->codes = htab__new();
		if (!p->codes) {
			htab__del(py->procs, &pid, sizeof(pid));
			free(p);
			return -ENOMEM;
		}
	}
	p->layout = l;
	p->code_type = code_type;
	p->exited = 0;
	*out = l.bpf;
	out->runtime = runtime;
	out->eval_start = eval;
	out->eval_end = eval + eval_size;
	out->code_type = code_type;
	return 1;
}

void python__exited(struct python *py, uint32_t pid)
{
	struct py_proc *p = proc_of(py, pid);

	if (p)
		p->exited = 1;
}

void python__forget(struct python *py, uint32_t pid)
{
	struct py_proc *p = proc_of(py, pid);

	htab__del(py->warned, &pid, sizeof(pid));
	if (!p)
		return;
	htab__del(py->procs, &pid, sizeof(pid));
	py->st.cache_bytes -= p->bytes;
	free_codes(p->codes);
	free(p);
}

void python__end_interval(struct python *py)
{
	py->interval++;
}

void python__stats(const struct python *py, struct python_stats *out)
{
	*out = py->st;
}

/* A field of the code object header @hdr (read up to co_linetable + 8). */
static uint64_t hdr_u64(const uint8_t *hdr, uint16_t off)
{
	uint64_t v;

	memcpy(&v, hdr + off, sizeof(v));
	return v;
}

/* The text of the str object at @addr, malloc'd, or NULL. */
static char *read_str(uint32_t pid, const struct pycode_str_layout *sl, uint64_t addr)
{
	uint8_t buf[72 + 4 * PY_NAME_MAX];
	char text[4 * PY_NAME_MAX + 1];
	size_t len = pycode_str_bytes(sl, PY_NAME_MAX);

	if (!addr || len > sizeof(buf))
		return NULL;
	/* The object may end before the copy does: copy less until a read fits. */
	while (read_mem(pid, addr, buf, len)) {
		if (len <= sl->compact_size)
			return NULL;
		len = len / 2 > sl->compact_size ? len / 2 : sl->compact_size;
	}
	if (pycode_str(buf, len, sl, text, sizeof(text)) <= 0)
		return NULL;
	return strdup(text);
}

/* A bytes object's contents (the line table), malloc'd with its length, or NULL. */
static uint8_t *read_bytes(uint32_t pid, uint64_t addr, size_t *len)
{
	uint64_t size;
	uint8_t *b;

	if (!addr || read_mem(pid, addr + 16, &size, sizeof(size)) || size > PY_LINETABLE_MAX)
		return NULL;
	b = malloc(size ? size : 1);
	if (!b)
		return NULL;
	if (size && read_mem(pid, addr + 32, b, size)) {
		free(b);
		return NULL;
	}
	*len = size;
	return b;
}

/* Reads the code object at @addr into @c. Returns 0, or -EFAULT / -EINVAL. */
static int read_code(uint32_t pid, const struct py_proc *p, const uint8_t *hdr, struct py_code *c)
{
	const struct py_layout *l = &p->layout;
	uint16_t name_off = l->co_qualname != N ? l->co_qualname : l->co_name;
	int32_t first;

	memcpy(&first, hdr + l->co_firstlineno, sizeof(first));
	c->firstlineno = first;
	c->name_ptr = hdr_u64(hdr, name_off);
	c->file_ptr = hdr_u64(hdr, l->co_filename);
	c->name = read_str(pid, &l->str, c->name_ptr);
	c->file = read_str(pid, &l->str, c->file_ptr);
	c->linetable = read_bytes(pid, hdr_u64(hdr, l->co_linetable), &c->ltlen);
	if (!c->name)
		return -EINVAL;
	return 0;
}

static size_t code_bytes(const struct py_code *c)
{
	return sizeof(*c) + (c->name ? strlen(c->name) + 1 : 0) +
	       (c->file ? strlen(c->file) + 1 : 0) + c->ltlen + 64;
}

static void reset_codes(const void *key, size_t len, uint64_t *value, void *arg)
{
	struct py_proc *p = (struct py_proc *)(uintptr_t)*value;
	struct htab *fresh = htab__new();

	(void)key;
	(void)len;
	(void)arg;
	/* Without memory for a new table the old one stays: the next call tries again. */
	if (!fresh)
		return;
	free_codes(p->codes);
	p->codes = fresh;
	p->bytes = 0;
}

/*
 * Over its cap, the cache starts again empty: a bound, at the cost of
 * reading the hot code objects again (a few reads each). Called before a
 * lookup, so no entry in use is freed.
 */
static void trim_cache(struct python *py)
{
	if (py->st.cache_bytes <= py->cache_cap)
		return;
	htab__for_each(py->procs, reset_codes, NULL);
	py->st.cache_bytes = 0;
	py->st.resets++;
}

int python__symbolize(struct python *py, uint32_t pid, uint64_t word, struct sym_result *res)
{
	struct py_proc *p = proc_of(py, pid);
	uint64_t addr = EMBER_PY_CODE(word), lasti = EMBER_PY_LASTI(word), *slot;
	struct py_code *c = NULL;
	uint8_t hdr[256];
	size_t hdrlen;
	int added;

	memset(res, 0, sizeof(*res));
	if (!p)
		return -ENOENT;
	trim_cache(py);
	hdrlen = (size_t)p->layout.co_linetable + 8;
	if (hdrlen > sizeof(hdr))
		return -ENOENT;
	slot = htab__get(p->codes, &addr, sizeof(addr), 1, 0, &added);
	if (!slot)
		return -ENOENT;
	c = (struct py_code *)(uintptr_t)*slot;
	/* Checked once an interval while the process lives: a freed address may hold new code. */
	if (c && !p->exited && c->checked != py->interval) {
		int32_t first;
		uint16_t name_off =
			p->layout.co_qualname != N ? p->layout.co_qualname : p->layout.co_name;

		if (read_mem(pid, addr, hdr, hdrlen) == 0) {
			memcpy(&first, hdr + p->layout.co_firstlineno, sizeof(first));
			if (hdr_u64(hdr, 8) != p->code_type || first != c->firstlineno ||
			    hdr_u64(hdr, name_off) != c->name_ptr ||
			    hdr_u64(hdr, p->layout.co_filename) != c->file_ptr) {
				py->st.reused++;
				py->st.cache_bytes -= code_bytes(c);
				p->bytes -= code_bytes(c);
				free_code(NULL, 0, slot, NULL);
				*slot = 0;
				c = NULL;
			} else {
				c->checked = py->interval;
			}
		} else {
			/*
			 * Unreadable now (exited, or the object's memory given
			 * back since the sample): what was read while it lived
			 * stands, and is not checked again this interval.
			 */
			c->checked = py->interval;
		}
	}
	if (!c) {
		if (p->exited)
			return -ENOENT;
		c = calloc(1, sizeof(*c));
		if (!c)
			return -ENOMEM;
		c->checked = py->interval;
		if (read_mem(pid, addr, hdr, hdrlen) || hdr_u64(hdr, 8) != p->code_type ||
		    read_code(pid, p, hdr, c)) {
			c->bad = 1;
			py->st.code_faults++;
		} else {
			py->st.codes++;
		}
		*slot = (uint64_t)(uintptr_t)c;
		py->st.cache_bytes += code_bytes(c);
		p->bytes += code_bytes(c);
	}
	if (c->bad || !c->name)
		return -ENOENT;
	res->nlines = 1;
	res->lines[0].function = c->name;
	res->lines[0].file = c->file ? c->file : "";
	res->lines[0].line = lasti == EMBER_PY_LASTI_NONE
				     ? 0
				     : pycode_line(c->linetable, c->ltlen, p->layout.minor,
						   c->firstlineno, (uint32_t)lasti);
	return 0;
}
