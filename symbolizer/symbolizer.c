// SPDX-License-Identifier: Apache-2.0
/*
 * The symbolizer front.
 *
 * Modules. One per distinct file, found by the identity /proc/PID/maps gives
 * (device, inode) before anything is opened, and after opening also by GNU
 * build ID, so the same library seen through two container roots is parsed
 * once. Modules are reference counted by the process table. A module whose
 * last user went away becomes idle rather than freed: short-lived processes
 * that run the same binary over and over would otherwise reparse it each
 * time. Idle modules beyond a cap are freed least recently used first.
 * DWARF is opened lazily, at a module's first lookup, since most mapped files
 * are never sampled.
 *
 * Memory. The agent's budget (agent/memory.c) asks for room in this order:
 * idle modules, least recently used first; then the address cache; then the
 * DWARF sessions of modules still in use, least recently looked up first
 * (the module keeps its ELF symbols and reopens DWARF at its next lookup).
 * Below all that, "lean" mode opens no new DWARF session: frames are named
 * by ELF symbols alone, and counted.
 *
 * The address cache. Symbolizing an address through DWARF walks a CU's
 * scopes; a continuous profiler sees the same hot addresses every interval,
 * so results are cached by (module, file address), bounded by a byte cap and
 * evicted LRU. Each entry is also on its module's list, so freeing a module
 * drops exactly its entries (their strings point into the module).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <gelf.h>
#include <openssl/evp.h>

#include "lib/hex.h"
#include "lib/htab.h"
#include "symbolizer/demangle.h"
#include "symbolizer/dwarf.h"
#include "symbolizer/elf_file.h"
#include "symbolizer/kallsyms.h"
#include "symbolizer/perfmap.h"
#include "symbolizer/symbolizer.h"

struct cache_entry {
	struct cache_entry *lru_prev, *lru_next; /* global LRU, most recent at head */
	struct cache_entry *mod_prev, *mod_next; /* the module's entries */
	struct sym_module *m;
	uint64_t vaddr;
	size_t bytes;
	unsigned int nlines;
	struct sym_line lines[];
};

struct sym_module {
	struct elf_file *elf;
	struct dwarf_file *dwarf;
	int dwarf_tried;
	char *path; /* for .gnu_debuglink; may no longer exist */
	uint64_t dev, ino;
	unsigned long refs;
	struct sym_module *idle_prev, *idle_next; /* idle list, when refs == 0 */
	struct sym_module *dw_prev, *dw_next;	  /* modules with a DWARF session, by last lookup */
	uint64_t dwarf_cost;			  /* heap its DWARF session held when last closed */
	int cost_guessed;			  /* dwarf_cost was guessed once already */
	signed char elf_mapped, dwarf_mapped; /* file pages to release: 1 yes, -1 no, 0 unknown */
	struct cache_entry *entries;
	struct htab *names; /* mangled ELF name -> demangled (owned), for symbol-only frames */
	char htlhash[33];
	int htlhash_done;
	int own_debug_info; /* the file has .debug_info itself (not stripped of it) */
};

struct module_key {
	uint64_t dev, ino;
};

struct cache_key {
	const struct sym_module *m;
	uint64_t vaddr;
};

struct pm_state {
	struct perfmap *map;
	struct stat st; /* of the file when read: reread on change */
};

/*
 * What a parsed file holds per function symbol, for the memory check: a
 * 32-byte entry in an array grown by doubling, and libelf's share
 * (libLLVM-14: 33850 symbols, 2.0 MiB).
 */
#define SYM_BYTES_PER_SYMBOL 64

struct symbolizer {
	const char **debug_dirs;
	size_t cache_cap;
	unsigned int idle_cap;
	struct htab *by_inode;	  /* module_key -> module */
	struct htab *by_build_id; /* build id hex -> module */
	struct sym_module *idle_head, *idle_tail;
	unsigned int nidle;
	struct htab *cache; /* cache_key -> entry */
	struct cache_entry *lru_head, *lru_tail;
	size_t cache_used;
	struct htab *perfmaps; /* pid -> struct pm_state * */
	struct kallsyms *ksyms;
	int ksyms_failed;
	uint64_t modules_hash; /* of /proc/modules when kallsyms was read */
	struct sym_module *vdso;
	int vdso_tried;
	struct sym_module *dw_head, *dw_tail; /* most recently looked up first */
	int lean;
	int (*make_room)(void *ctx, uint64_t want);
	void (*check)(void *ctx);
	void *room_ctx;
	unsigned long dwarf_lookups; /* for the check every SYM_CHECK_EVERY */
	uint64_t grown_unchecked;    /* growth since the last check, estimated */
	uint64_t check_bytes;	     /* that brings the check forward */
	struct symbolizer_stats stats;
};

static void free_dirs(const char **dirs)
{
	for (size_t i = 0; dirs && dirs[i]; i++)
		free((char *)dirs[i]);
	free(dirs);
}

struct symbolizer *symbolizer__new(const struct symbolizer_opts *opts)
{
	struct symbolizer *s = calloc(1, sizeof(*s));
	size_t ndirs = 0;

	if (!s)
		goto nomem;
	s->cache_cap = opts && opts->cache_bytes ? opts->cache_bytes : 32u << 20;
	s->idle_cap = opts && opts->idle_modules ? opts->idle_modules : 128;
	s->check_bytes = opts && opts->check_bytes ? opts->check_bytes : SYM_CHECK_BYTES;
	if (opts) {
		s->make_room = opts->make_room;
		s->check = opts->check;
		s->room_ctx = opts->room_ctx;
	}
	while (opts && opts->debug_dirs && opts->debug_dirs[ndirs])
		ndirs++;
	s->debug_dirs = calloc(ndirs + 1, sizeof(*s->debug_dirs));
	if (!s->debug_dirs)
		goto nomem;
	for (size_t i = 0; i < ndirs; i++)
		if (!(s->debug_dirs[i] = strdup(opts->debug_dirs[i])))
			goto nomem;
	s->by_inode = htab__new();
	s->by_build_id = htab__new();
	s->cache = htab__new();
	s->perfmaps = htab__new();
	if (!s->by_inode || !s->by_build_id || !s->cache || !s->perfmaps)
		goto nomem;
	return s;
nomem:
	symbolizer__free(s);
	errno = ENOMEM;
	return NULL;
}

/* --- the address cache ------------------------------------------------------ */

static void cache_unlink(struct symbolizer *s, struct cache_entry *e)
{
	struct cache_key key = {e->m, e->vaddr};

	if (e->lru_prev)
		e->lru_prev->lru_next = e->lru_next;
	else
		s->lru_head = e->lru_next;
	if (e->lru_next)
		e->lru_next->lru_prev = e->lru_prev;
	else
		s->lru_tail = e->lru_prev;
	if (e->mod_prev)
		e->mod_prev->mod_next = e->mod_next;
	else
		e->m->entries = e->mod_next;
	if (e->mod_next)
		e->mod_next->mod_prev = e->mod_prev;
	htab__del(s->cache, &key, sizeof(key));
	s->cache_used -= e->bytes;
	s->stats.cache_entries--;
	free(e);
}

static void lru_to_front(struct symbolizer *s, struct cache_entry *e)
{
	if (s->lru_head == e)
		return;
	e->lru_prev->lru_next = e->lru_next;
	if (e->lru_next)
		e->lru_next->lru_prev = e->lru_prev;
	else
		s->lru_tail = e->lru_prev;
	e->lru_prev = NULL;
	e->lru_next = s->lru_head;
	s->lru_head->lru_prev = e;
	s->lru_head = e;
}

static const struct cache_entry *cache_get(struct symbolizer *s, struct sym_module *m,
					   uint64_t vaddr)
{
	struct cache_key key = {m, vaddr};
	uint64_t *slot = htab__get(s->cache, &key, sizeof(key), 0, 0, NULL);
	struct cache_entry *e;

	if (!slot) {
		s->stats.cache_misses++;
		return NULL;
	}
	e = (struct cache_entry *)(uintptr_t)*slot;
	lru_to_front(s, e);
	s->stats.cache_hits++;
	return e;
}

/* Best effort: a result that cannot be cached is still returned to the caller. */
static void cache_put(struct symbolizer *s, struct sym_module *m, uint64_t vaddr,
		      const struct sym_result *res)
{
	size_t bytes = sizeof(struct cache_entry) + res->nlines * sizeof(struct sym_line);
	struct cache_key key = {m, vaddr};
	struct cache_entry *e;
	uint64_t *slot;

	if (bytes > s->cache_cap)
		return;
	while (s->lru_tail && s->cache_used + bytes > s->cache_cap)
		cache_unlink(s, s->lru_tail);
	e = calloc(1, bytes);
	if (!e)
		return;
	slot = htab__get(s->cache, &key, sizeof(key), 1, (uintptr_t)e, NULL);
	if (!slot) {
		free(e);
		return;
	}
	e->m = m;
	e->vaddr = vaddr;
	e->bytes = bytes;
	e->nlines = res->nlines;
	memcpy(e->lines, res->lines, res->nlines * sizeof(struct sym_line));
	e->lru_next = s->lru_head;
	if (s->lru_head)
		s->lru_head->lru_prev = e;
	s->lru_head = e;
	if (!s->lru_tail)
		s->lru_tail = e;
	e->mod_next = m->entries;
	if (m->entries)
		m->entries->mod_prev = e;
	m->entries = e;
	s->cache_used += bytes;
	s->stats.cache_entries++;
}

/* --- modules ----------------------------------------------------------------- */

static void idle_unlink(struct symbolizer *s, struct sym_module *m)
{
	if (m->idle_prev)
		m->idle_prev->idle_next = m->idle_next;
	else
		s->idle_head = m->idle_next;
	if (m->idle_next)
		m->idle_next->idle_prev = m->idle_prev;
	else
		s->idle_tail = m->idle_prev;
	m->idle_prev = m->idle_next = NULL;
	s->nidle--;
}

static void dw_unlink(struct symbolizer *s, struct sym_module *m)
{
	if (m->dw_prev)
		m->dw_prev->dw_next = m->dw_next;
	else
		s->dw_head = m->dw_next;
	if (m->dw_next)
		m->dw_next->dw_prev = m->dw_prev;
	else
		s->dw_tail = m->dw_prev;
	m->dw_prev = m->dw_next = NULL;
}

static void dw_to_front(struct symbolizer *s, struct sym_module *m)
{
	if (s->dw_head == m)
		return;
	if (m->dw_prev || m->dw_next || s->dw_tail == m)
		dw_unlink(s, m);
	m->dw_next = s->dw_head;
	if (s->dw_head)
		s->dw_head->dw_prev = m;
	s->dw_head = m;
	if (!s->dw_tail)
		s->dw_tail = m;
}

static void free_name(const void *key, size_t len, uint64_t *value, void *arg)
{
	free((char *)(uintptr_t)*value);
}

/* What a module owns besides its cache entries. */
static void free_module_data(struct sym_module *m)
{
	if (m->names) {
		htab__for_each(m->names, free_name, NULL);
		htab__free(m->names);
	}
	dwarf_file__free(m->dwarf);
	elf_file__free(m->elf);
	free(m->path);
	free(m);
}

static void free_module(struct symbolizer *s, struct sym_module *m)
{
	struct module_key key = {m->dev, m->ino};
	const char *bid = elf_file__build_id(m->elf);
	uint64_t *slot;

	while (m->entries)
		cache_unlink(s, m->entries);
	if (m->dwarf) {
		dw_unlink(s, m);
		s->stats.dwarf_open--;
	}
	slot = htab__get(s->by_inode, &key, sizeof(key), 0, 0, NULL);
	if (slot && *slot == (uintptr_t)m)
		htab__del(s->by_inode, &key, sizeof(key));
	slot = bid[0] ? htab__get(s->by_build_id, bid, strlen(bid), 0, 0, NULL) : NULL;
	if (slot && *slot == (uintptr_t)m)
		htab__del(s->by_build_id, bid, strlen(bid));
	free_module_data(m);
	s->stats.modules_open--;
}

static void free_all_modules(const void *key, size_t len, uint64_t *value, void *arg)
{
	struct sym_module *m = (struct sym_module *)(uintptr_t)*value;

	/* Called only at teardown, with the tables about to go: no unlinking. */
	while (m->entries) {
		struct cache_entry *e = m->entries;

		m->entries = e->mod_next;
		free(e);
	}
	free_module_data(m);
}

static void free_perfmap(const void *key, size_t len, uint64_t *value, void *arg)
{
	struct pm_state *pm = (struct pm_state *)(uintptr_t)*value;

	perfmap__free(pm->map);
	free(pm);
}

void symbolizer__free(struct symbolizer *s)
{
	if (!s)
		return;
	/* Every module is in by_inode (the vDSO under a key of its own). */
	if (s->by_inode)
		htab__for_each(s->by_inode, free_all_modules, NULL);
	if (s->perfmaps)
		htab__for_each(s->perfmaps, free_perfmap, NULL);
	htab__free(s->by_inode);
	htab__free(s->by_build_id);
	htab__free(s->cache);
	htab__free(s->perfmaps);
	kallsyms__free(s->ksyms);
	free_dirs(s->debug_dirs);
	free(s);
}

static int open_checked(const char *path, uint64_t dev, uint64_t ino)
{
	struct stat st;
	int fd, err;

	if (!path)
		return -ENOENT;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		close(fd);
		return err;
	}
	if (st.st_ino != ino || st.st_dev != dev) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

static struct sym_module *take(struct symbolizer *s, struct sym_module *m)
{
	if (m->refs++ == 0 && (m->idle_prev || m->idle_next || s->idle_head == m))
		idle_unlink(s, m);
	s->stats.module_hits++;
	return m;
}

/* Whether @a names more than @b: more symbols, or as many and DWARF of its own. */
static int names_more(const struct sym_module *a, const struct sym_module *b)
{
	unsigned long na = elf_file__nsyms(a->elf), nb = elf_file__nsyms(b->elf);

	return na > nb || (na == nb && a->own_debug_info > b->own_debug_info);
}

/*
 * The module that stands for @m's build ID, when it names more than @m
 * does (a full copy of a file @m is a stripped copy of); else @m.
 */
static struct sym_module *richest(struct symbolizer *s, struct sym_module *m)
{
	const char *bid = elf_file__build_id(m->elf);
	uint64_t *slot = bid[0] ? htab__get(s->by_build_id, bid, strlen(bid), 0, 0, NULL) : NULL;
	struct sym_module *other = slot ? (struct sym_module *)(uintptr_t)*slot : NULL;

	return other && names_more(other, m) ? other : m;
}

/*
 * Registers a freshly opened module, or returns the one already open with
 * its build ID. Of two files with one build ID (one code), the one that
 * names more stands for it (names_more()), whichever was opened first: a
 * stripped copy seen first must not hide what a full copy names.
 */
static struct sym_module *add_module(struct symbolizer *s, struct sym_module *m)
{
	struct module_key key = {m->dev, m->ino};
	const char *bid = elf_file__build_id(m->elf);
	uint64_t *slot = NULL;
	int added;

	if (bid[0]) {
		slot = htab__get(s->by_build_id, bid, strlen(bid), 0, 0, NULL);
		if (slot && !names_more(m, (struct sym_module *)(uintptr_t)*slot)) {
			struct sym_module *same = (struct sym_module *)(uintptr_t)*slot;

			elf_file__free(m->elf);
			free(m->path);
			free(m);
			return take(s, same);
		}
	}
	if (!htab__get(s->by_inode, &key, sizeof(key), 1, (uintptr_t)m, &added))
		goto nomem;
	if (slot) {
		/* The poorer copy stays by its inode until its users let go. */
		*slot = (uintptr_t)m;
	} else if (bid[0] &&
		   !htab__get(s->by_build_id, bid, strlen(bid), 1, (uintptr_t)m, &added)) {
		htab__del(s->by_inode, &key, sizeof(key));
		goto nomem;
	}
	m->refs = 1;
	s->stats.module_opens++;
	s->stats.modules_open++;
	return m;
nomem:
	elf_file__free(m->elf);
	free(m->path);
	free(m);
	errno = ENOMEM;
	return NULL;
}

/* 1 when @elf has a .debug_info section of its own (plain or compressed). */
static int has_debug_info(Elf *elf)
{
	GElf_Shdr sh;

	return elf_section_named(elf, ".debug_info", &sh) ||
	       elf_section_named(elf, ".zdebug_info", &sh);
}

/*
 * 1 when @addr lies in a mapping of a file. libelf maps files, but reads one
 * into malloc'd memory when mmap fails: MADV_DONTNEED would zero that.
 */
static int file_mapped(uintptr_t addr)
{
	unsigned long lo, hi, ino;
	char line[512];
	int ok = 0;
	FILE *f = fopen("/proc/self/maps", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx %*s %*s %*s %lu", &lo, &hi, &ino) == 3 && addr >= lo &&
		    addr < hi) {
			ok = ino != 0;
			break;
		}
	}
	fclose(f);
	return ok;
}

/* Drops this process's resident copy of @elf's file; @known caches whether it is a file map. */
static void release_elf_pages(Elf *elf, signed char *known)
{
	size_t size = 0;
	char *base = elf ? elf_rawfile(elf, &size) : NULL;
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t lo, hi;

	if (!base || !size || page <= 0)
		return;
	if (!*known)
		*known = file_mapped((uintptr_t)base) ? 1 : -1;
	if (*known < 0)
		return;
	lo = (uintptr_t)base & ~((uintptr_t)page - 1);
	hi = ((uintptr_t)base + size + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
	madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

static struct sym_module *module_from_fd(struct symbolizer *s, int fd, const char *path,
					 uint64_t dev, uint64_t ino)
{
	struct sym_module *m = calloc(1, sizeof(*m));

	if (!m) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	m->elf = elf_file__open_fd(fd);
	m->path = path ? strdup(path) : NULL;
	if (!m->elf || (path && !m->path)) {
		int err = m->elf ? ENOMEM : errno;

		elf_file__free(m->elf);
		free(m->path);
		free(m);
		s->stats.module_failures++;
		errno = err;
		return NULL;
	}
	m->dev = dev;
	m->ino = ino;
	m->own_debug_info = has_debug_info(elf_file__elf(m->elf));
	/* Its symbol table, for the next lookup's memory check. */
	s->grown_unchecked += elf_file__nsyms(m->elf) * SYM_BYTES_PER_SYMBOL;
	/* Sorting the symbols read all of .symtab: lookups need a few pages of it. */
	release_elf_pages(elf_file__elf(m->elf), &m->elf_mapped);
	return add_module(s, m);
}

struct sym_module *symbolizer__get_module(struct symbolizer *s, const char *path,
					  const char *fallback, uint64_t dev, uint64_t ino)
{
	struct module_key key = {dev, ino};
	uint64_t *slot;
	int fd;

	slot = htab__get(s->by_inode, &key, sizeof(key), 0, 0, NULL);
	if (slot)
		return take(s, richest(s, (struct sym_module *)(uintptr_t)*slot));
	fd = open_checked(path, dev, ino);
	if (fd < 0) {
		int first = fd;

		fd = open_checked(fallback, dev, ino);
		/* Report why the first path failed unless it simply was not there. */
		if (fd == -ENOENT && first != -ENOENT)
			fd = first;
		else if (fd >= 0)
			path = fallback;
	}
	if (fd < 0) {
		s->stats.module_failures++;
		errno = -fd;
		return NULL;
	}
	return module_from_fd(s, fd, path, dev, ino);
}

/*
 * The vDSO is not a file: copy this process's image into a memfd. Every
 * process of this kernel and ABI maps the same image, prelinked at address 0,
 * so a mapping's offset arithmetic works on it like on any file.
 */
static int vdso_fd(void)
{
	char line[512];
	unsigned long long start = 0, end = 0;
	FILE *maps = fopen("/proc/self/maps", "re");
	int fd = -1;

	if (!maps)
		return -1;
	while (fgets(line, sizeof(line), maps)) {
		if (strstr(line, "[vdso]") && sscanf(line, "%llx-%llx", &start, &end) == 2)
			break;
		start = end = 0;
	}
	fclose(maps);
	if (!end || end <= start || end - start > (16u << 20))
		return -1;
	fd = memfd_create("vdso", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	if (write(fd, (void *)(uintptr_t)start, end - start) != (ssize_t)(end - start)) {
		close(fd);
		return -1;
	}
	return fd;
}

struct sym_module *symbolizer__get_vdso(struct symbolizer *s)
{
	int fd;

	if (s->vdso)
		return take(s, s->vdso);
	if (s->vdso_tried)
		return NULL;
	s->vdso_tried = 1;
	fd = vdso_fd();
	if (fd < 0)
		return NULL;
	/* A key no file has: device and inode of all ones. */
	s->vdso = module_from_fd(s, fd, NULL, ~0ull, ~0ull);
	if (s->vdso)
		s->vdso->refs++; /* the symbolizer's own, so it is never idle */
	return s->vdso;
}

struct sym_module *symbolizer__hold_module(struct symbolizer *s, struct sym_module *m)
{
	m->refs++; /* a module someone holds is never idle */
	return m;
}

void symbolizer__put_module(struct symbolizer *s, struct sym_module *m)
{
	if (!m || --m->refs)
		return;
	m->idle_next = s->idle_head;
	if (s->idle_head)
		s->idle_head->idle_prev = m;
	s->idle_head = m;
	if (!s->idle_tail)
		s->idle_tail = m;
	s->nidle++;
	while (s->nidle > s->idle_cap)
		symbolizer__evict_idle(s);
}

static int hash_range(EVP_MD_CTX *ctx, int fd, off_t off, size_t len)
{
	char buf[4096];

	if (len > sizeof(buf) || pread(fd, buf, len, off) != (ssize_t)len)
		return -1;
	return EVP_DigestUpdate(ctx, buf, len) == 1 ? 0 : -1;
}

const char *sym_module__htlhash(struct sym_module *m)
{
	int fd = elf_file__fd(m->elf);
	unsigned char md[EVP_MAX_MD_SIZE], len_be[8];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx;
	struct stat st;
	size_t part;

	if (m->htlhash_done)
		return m->htlhash;
	m->htlhash_done = 1;
	if (fstat(fd, &st) || st.st_size < 0)
		return m->htlhash;
	part = st.st_size < 4096 ? (size_t)st.st_size : 4096;
	for (int i = 0; i < 8; i++)
		len_be[i] = (unsigned char)((uint64_t)st.st_size >> (56 - 8 * i));
	ctx = EVP_MD_CTX_new();
	if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    hash_range(ctx, fd, 0, part) == 0 &&
	    hash_range(ctx, fd, st.st_size - (off_t)part, part) == 0 &&
	    EVP_DigestUpdate(ctx, len_be, sizeof(len_be)) == 1 &&
	    EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen >= 16)
		hex_encode(md, 16, m->htlhash);
	EVP_MD_CTX_free(ctx);
	return m->htlhash;
}

struct elf_file *sym_module__elf(const struct sym_module *m)
{
	return m->elf;
}

void sym_module__identity(const struct sym_module *m, uint64_t *dev, uint64_t *ino)
{
	*dev = m->dev;
	*ino = m->ino;
}

const char *sym_module__build_id(const struct sym_module *m)
{
	return elf_file__build_id(m->elf);
}

/*
 * What libdw will decompress into the heap for @elf's DWARF: the full size of
 * each compressed .debug_ section (it inflates them all when the session
 * opens; uncompressed ones are read in place). 0 when there is none.
 */
static uint64_t compressed_debug_bytes(Elf *elf)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;
	uint64_t sum = 0;

	if (!elf || elf_getshdrstrndx(elf, &shstrndx))
		return 0;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		GElf_Chdr ch;
		const char *name;

		if (!gelf_getshdr(scn, &sh) || !(sh.sh_flags & SHF_COMPRESSED))
			continue;
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (name && strncmp(name, ".debug_", 7) == 0 && gelf_getchdr(scn, &ch))
			sum += ch.ch_size;
	}
	return sum;
}

/*
 * A first guess at a DWARF session's cost, before it has ever been opened
 * and measured: the compressed debug sections of the file itself, or of its
 * debug file by build ID (where Debian's -dbg packages put them). Without a
 * guess a budget would learn libc's ~10 MiB only by overshooting once.
 */
static uint64_t guess_dwarf_cost(struct symbolizer *s, struct sym_module *m)
{
	const char *bid = elf_file__build_id(m->elf);
	uint64_t own = compressed_debug_bytes(elf_file__elf(m->elf));
	char path[4096];

	if (own || strlen(bid) < 3)
		return own;
	for (size_t i = 0; i == 0 || (s->debug_dirs && s->debug_dirs[i - 1]); i++) {
		const char *root = i == 0 ? "/usr/lib/debug" : s->debug_dirs[i - 1];
		uint64_t sum;
		Elf *elf;
		int fd;

		snprintf(path, sizeof(path), "%s/.build-id/%.2s/%s.debug", root, bid, bid + 2);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
		sum = compressed_debug_bytes(elf);
		elf_end(elf);
		close(fd);
		if (sum)
			return sum;
	}
	return 0;
}

static struct dwarf_file *module_dwarf(struct symbolizer *s, struct sym_module *m)
{
	if (!m->dwarf_tried) {
		/* Lean, or no room: not now; a later lookup, with room again, tries. */
		if (s->make_room && !m->cost_guessed) {
			m->cost_guessed = 1;
			if (!m->dwarf_cost)
				m->dwarf_cost = guess_dwarf_cost(s, m);
		}
		if (s->make_room ? s->make_room(s->room_ctx, m->dwarf_cost) : s->lean) {
			s->stats.dwarf_skipped++;
			return NULL;
		}
		m->dwarf_tried = 1;
		m->dwarf = dwarf_file__open(elf_file__fd(m->elf), m->path, s->debug_dirs);
		if (m->dwarf) {
			s->stats.dwarf_files++;
			s->stats.dwarf_open++;
		}
	}
	if (m->dwarf)
		dw_to_front(s, m);
	return m->dwarf;
}

/* Closes @m's DWARF session and drops the results that point into it. */
static void drop_dwarf(struct symbolizer *s, struct sym_module *m)
{
	while (m->entries)
		cache_unlink(s, m->entries);
	if (m->dwarf) {
		dw_unlink(s, m);
		dwarf_file__free(m->dwarf);
		m->dwarf = NULL;
		m->dwarf_mapped = 0;
		s->stats.dwarf_open--;
	}
	m->dwarf_tried = 0;
}

int symbolizer__evict_idle(struct symbolizer *s)
{
	struct sym_module *victim = s->idle_tail;

	if (!victim)
		return 0;
	idle_unlink(s, victim);
	free_module(s, victim);
	s->stats.modules_evicted++;
	return 1;
}

int symbolizer__drop_dwarf(struct symbolizer *s, uint64_t (*heap)(void))
{
	struct sym_module *victim = s->dw_tail;
	uint64_t before;

	if (!victim)
		return 0;
	before = heap ? heap() : 0;
	drop_dwarf(s, victim);
	if (heap) {
		uint64_t after = heap();

		victim->dwarf_cost = before > after ? before - after : 0;
	}
	s->stats.dwarf_dropped++;
	return 1;
}

size_t symbolizer__trim_cache(struct symbolizer *s, size_t bytes)
{
	size_t before = s->cache_used;

	while (s->lru_tail && s->cache_used > bytes) {
		cache_unlink(s, s->lru_tail);
		s->stats.cache_evicted++;
	}
	return before - s->cache_used;
}

void symbolizer__set_lean(struct symbolizer *s, int lean)
{
	s->lean = lean;
}

static void release_pages(const void *key, size_t len, uint64_t *value, void *arg)
{
	struct sym_module *m = (struct sym_module *)(uintptr_t)*value;

	release_elf_pages(elf_file__elf(m->elf), &m->elf_mapped);
	if (m->dwarf)
		release_elf_pages(dwarf_file__elf(m->dwarf), &m->dwarf_mapped);
}

void symbolizer__release_pages(struct symbolizer *s)
{
	htab__for_each(s->by_inode, release_pages, NULL);
}

int sym_module__has_dwarf(struct symbolizer *s, struct sym_module *m)
{
	return module_dwarf(s, m) != NULL;
}

/* @name demangled, interned in @m (shown as is when not mangled). */
static const char *demangled(struct symbolizer *s, struct sym_module *m, const char *name)
{
	uint64_t *slot;
	int added;

	(void)s;
	if (!m->names && !(m->names = htab__new()))
		return name;
	slot = htab__get(m->names, name, strlen(name), 1, 0, &added);
	if (slot && added)
		*slot = (uintptr_t)demangle(name);
	return slot && *slot ? (const char *)(uintptr_t)*slot : name;
}

int symbolizer__lookup_vaddr(struct symbolizer *s, struct sym_module *m, uint64_t vaddr,
			     struct sym_result *res)
{
	const struct cache_entry *e = cache_get(s, m, vaddr);
	struct dwarf_file *dw;
	const char *name;
	uint64_t start = 0;
	int last;

	if (e) {
		res->nlines = e->nlines;
		memcpy(res->lines, e->lines, e->nlines * sizeof(struct sym_line));
		return res->nlines ? 0 : -ENOENT;
	}
	res->nlines = 0;
	/*
	 * Before @m's state is touched: the check may close its session. A
	 * session grows by the CUs it reads (pyenv's libpython3.11 holds 38
	 * MiB once all of its 141 are read), and a burst of new ones within a
	 * drain would outgrow the budget long before the 256th lookup: they
	 * bring the check forward, as do files parsed since (their symbol
	 * tables).
	 */
	if (s->check && ((m->dwarf && ++s->dwarf_lookups % SYM_CHECK_EVERY == 0) ||
			 s->grown_unchecked >= s->check_bytes)) {
		s->grown_unchecked = 0;
		s->check(s->room_ctx);
	}
	dw = module_dwarf(s, m);
	if (dw) {
		uint64_t grown = dwarf_file__grown(dw);

		dwarf_file__lookup(dw, vaddr, res);
		s->grown_unchecked += dwarf_file__grown(dw) - grown;
	}
	name = elf_file__lookup(m->elf, vaddr, &start);
	/*
	 * Where the symbol table has a symbol for exactly the function DWARF
	 * found, its best-ranked name (global over weak over local) names it:
	 * C code renamed with asm labels (glibc's __libc_start_main_impl,
	 * exported as __libc_start_main; __GI_ aliases of public functions) is
	 * known to users, perf and llvm-symbolizer by that name.
	 */
	if (res->nlines && name && res->entry && start == res->entry) {
		struct sym_line *outer = &res->lines[res->nlines - 1];

		outer->system_name = name;
		outer->function = demangled(s, m, name);
	}
	if (res->nlines == 0 && name) {
		res->lines[0] =
			(struct sym_line){.function = demangled(s, m, name), .system_name = name};
		res->nlines = 1;
	}
	/* DWARF without a name for the real function (assembly): the symbol's. */
	last = (int)res->nlines - 1;
	if (last >= 0 && !res->lines[last].function && name) {
		res->lines[last].function = name;
		res->lines[last].system_name = name;
	}
	for (unsigned int i = 0; i < res->nlines; i++)
		if (!res->lines[i].function)
			res->lines[i].function = "??";
	/* A lean answer is not kept: with room again, DWARF names it fully. */
	if (m->dwarf_tried)
		cache_put(s, m, vaddr, res);
	return res->nlines ? 0 : -ENOENT;
}

int symbolizer__lookup(struct symbolizer *s, struct sym_module *m, uint64_t map_start,
		       uint64_t map_offset, uint64_t addr, struct sym_result *res)
{
	uint64_t vaddr;

	res->nlines = 0;
	if (elf_file__vaddr(m->elf, map_start, map_offset, addr, &vaddr))
		return -ENOENT;
	return symbolizer__lookup_vaddr(s, m, vaddr, res);
}

/* A hash of /proc/modules: it changes when a module is loaded or unloaded. */
static uint64_t modules_hash(void)
{
	char buf[4096];
	uint64_t h = 0;
	size_t n;
	FILE *f = fopen("/proc/modules", "re");

	if (!f)
		return 0;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		h = h * 31 + htab_hash(buf, n);
	fclose(f);
	return h;
}

void symbolizer__refresh_kernel(struct symbolizer *s)
{
	if (!s->ksyms || modules_hash() == s->modules_hash)
		return;
	/* Reread at the next kernel lookup; earlier results were copied already. */
	kallsyms__free(s->ksyms);
	s->ksyms = NULL;
	s->stats.kernel_reloads++;
}

int symbolizer__lookup_kernel(struct symbolizer *s, uint64_t addr, struct sym_result *res)
{
	const char *name, *module = "";

	res->nlines = 0;
	if (!s->ksyms && !s->ksyms_failed) {
		s->modules_hash = modules_hash();
		s->ksyms = kallsyms__load("/proc/kallsyms");
		s->ksyms_failed = !s->ksyms;
		if (s->ksyms)
			s->stats.kernel_symbols = kallsyms__count(s->ksyms);
	}
	if (!s->ksyms)
		return -ENOENT;
	name = kallsyms__lookup(s->ksyms, addr, &module, NULL);
	if (!name)
		return -ENOENT;
	res->lines[0] = (struct sym_line){
		.function = name,
		.system_name = name,
		.file = module[0] ? module : "[kernel.kallsyms]",
	};
	res->nlines = 1;
	return 0;
}

static struct perfmap *perfmap_for(struct symbolizer *s, uint32_t pid, const char *path)
{
	uint64_t *slot = htab__get(s->perfmaps, &pid, sizeof(pid), 0, 0, NULL);
	struct pm_state *pm = slot ? (struct pm_state *)(uintptr_t)*slot : NULL;
	struct stat st;
	FILE *f;

	f = fopen(path, "re");
	if (!f)
		return pm ? pm->map : NULL; /* gone: keep what was read */
	if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
		fclose(f);
		return pm ? pm->map : NULL;
	}
	if (pm && pm->st.st_ino == st.st_ino && pm->st.st_size == st.st_size &&
	    pm->st.st_mtim.tv_sec == st.st_mtim.tv_sec &&
	    pm->st.st_mtim.tv_nsec == st.st_mtim.tv_nsec) {
		fclose(f);
		return pm->map;
	}
	if (!pm) {
		pm = calloc(1, sizeof(*pm));
		if (!pm || !htab__get(s->perfmaps, &pid, sizeof(pid), 1, (uintptr_t)pm, NULL)) {
			free(pm);
			fclose(f);
			return NULL;
		}
	}
	perfmap__free(pm->map);
	pm->map = perfmap__parse(f);
	pm->st = st;
	fclose(f);
	if (pm->map) {
		s->stats.perfmap_loads++;
		s->stats.perfmap_bad_lines += perfmap__skipped(pm->map);
	}
	return pm->map;
}

int symbolizer__lookup_perfmap(struct symbolizer *s, uint32_t pid, const char *path, uint64_t addr,
			       struct sym_result *res)
{
	struct perfmap *map = perfmap_for(s, pid, path);
	const char *name = map ? perfmap__lookup(map, addr) : NULL;

	res->nlines = 0;
	if (!name)
		return -ENOENT;
	res->lines[0] = (struct sym_line){.function = name, .system_name = name};
	res->nlines = 1;
	return 0;
}

void symbolizer__forget_pid(struct symbolizer *s, uint32_t pid)
{
	uint64_t *slot = htab__get(s->perfmaps, &pid, sizeof(pid), 0, 0, NULL);

	if (!slot)
		return;
	free_perfmap(NULL, 0, slot, NULL);
	htab__del(s->perfmaps, &pid, sizeof(pid));
}

void symbolizer__stats(const struct symbolizer *s, struct symbolizer_stats *st)
{
	*st = s->stats;
	st->cache_bytes = s->cache_used;
	st->modules_idle = s->nidle;
	st->kernel_bytes = s->ksyms ? kallsyms__bytes(s->ksyms) : 0;
}
