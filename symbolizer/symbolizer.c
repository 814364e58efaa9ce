// SPDX-License-Identifier: Apache-2.0
/*
 * The symbolizer front: a cache of opened ELF modules keyed by the file's
 * identity (device and inode, as /proc/PID/maps reports them), so a library
 * that hundreds of processes map is opened and parsed once. Modules are
 * reference counted by the process table; a module whose last mapping went
 * away is freed.
 *
 * Kernel symbols are read from /proc/kallsyms on first use.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "elf_file.h"
#include "kallsyms.h"
#include "symbolizer.h"
#include "../agent/htab.h"

struct sym_module {
	struct elf_file *elf;
	uint64_t dev, ino;
	unsigned long refs;
};

struct module_key {
	uint64_t dev, ino;
};

struct symbolizer {
	struct htab *modules; /* module_key -> struct sym_module * */
	struct kallsyms *ksyms;
	int ksyms_failed;
	struct symbolizer_stats stats;
};

struct symbolizer *symbolizer__new(void)
{
	struct symbolizer *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->modules = htab__new();
	if (!s->modules) {
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	return s;
}

static void free_module(const void *key, size_t len, uint64_t *value, void *arg)
{
	struct sym_module *m = (struct sym_module *)(uintptr_t)*value;

	(void)key;
	(void)len;
	(void)arg;
	if (m) {
		elf_file__free(m->elf);
		free(m);
	}
}

void symbolizer__free(struct symbolizer *s)
{
	if (!s)
		return;
	htab__for_each(s->modules, free_module, NULL);
	htab__free(s->modules);
	kallsyms__free(s->ksyms);
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

struct sym_module *symbolizer__get_module(struct symbolizer *s, const char *path,
					  const char *fallback, uint64_t dev, uint64_t ino)
{
	struct module_key key = {dev, ino};
	struct sym_module *m;
	uint64_t *slot;
	int added, fd;

	slot = htab__get(s->modules, &key, sizeof(key), 0, 0, NULL);
	if (slot) {
		m = (struct sym_module *)(uintptr_t)*slot;
		m->refs++;
		s->stats.module_hits++;
		return m;
	}
	fd = open_checked(path, dev, ino);
	if (fd < 0) {
		int first = fd;

		fd = open_checked(fallback, dev, ino);
		/* Report why the first path failed unless it simply was not there. */
		if (fd == -ENOENT && first != -ENOENT)
			fd = first;
	}
	if (fd < 0) {
		s->stats.module_failures++;
		errno = -fd;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	m->elf = elf_file__open_fd(fd);
	if (!m->elf) {
		int err = errno;

		free(m);
		s->stats.module_failures++;
		errno = err;
		return NULL;
	}
	m->dev = dev;
	m->ino = ino;
	m->refs = 1;
	slot = htab__get(s->modules, &key, sizeof(key), 1, (uintptr_t)m, &added);
	if (!slot) {
		elf_file__free(m->elf);
		free(m);
		errno = ENOMEM;
		return NULL;
	}
	s->stats.module_opens++;
	s->stats.modules_open++;
	return m;
}

void symbolizer__put_module(struct symbolizer *s, struct sym_module *m)
{
	struct module_key key;

	if (!m || --m->refs)
		return;
	key = (struct module_key){m->dev, m->ino};
	htab__del(s->modules, &key, sizeof(key));
	elf_file__free(m->elf);
	free(m);
	s->stats.modules_open--;
}

const char *sym_module__build_id(const struct sym_module *m)
{
	return elf_file__build_id(m->elf);
}

int symbolizer__lookup(struct symbolizer *s, struct sym_module *m, uint64_t map_start,
		       uint64_t map_offset, uint64_t addr, struct sym_result *res)
{
	uint64_t vaddr;
	const char *name;

	(void)s;
	res->nlines = 0;
	if (elf_file__vaddr(m->elf, map_start, map_offset, addr, &vaddr))
		return -ENOENT;
	name = elf_file__lookup(m->elf, vaddr, NULL);
	if (!name)
		return -ENOENT;
	res->lines[0] = (struct sym_line){.function = name, .system_name = name};
	res->nlines = 1;
	return 0;
}

int symbolizer__lookup_kernel(struct symbolizer *s, uint64_t addr, struct sym_result *res)
{
	const char *name, *module = "";

	res->nlines = 0;
	if (!s->ksyms && !s->ksyms_failed) {
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

void symbolizer__stats(const struct symbolizer *s, struct symbolizer_stats *st)
{
	*st = s->stats;
}
