// SPDX-License-Identifier: Apache-2.0
/*
 * `emberprof symbolize`: the symbolizer on its own, for users checking why a
 * frame is named as it is and for tests comparing against llvm-symbolizer.
 * Output follows llvm-symbolizer --inlining: per address, one "function"
 * line and one "file:line:column" line per frame, innermost first, then a
 * blank line; "??" where nothing is known.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "lib/array.h"
#include "lib/log.h"
#include "symbolizer/symbolizer.h"
#include "agent/proc.h"
#include "agent/run.h"
#include "cli/commands.h"

#define MAX_DEBUG_DIRS 16

static const char usage_text[] =
	"Usage: emberprof symbolize (--pid PID | --elf FILE) [--debug-dir DIR]... [ADDR...]\n"
	"Name addresses as a profile would: function, file:line and inlined frames.\n"
	"  --pid PID        ADDR are runtime addresses in process PID (kernel ones too)\n"
	"  --elf FILE       ADDR are virtual addresses of FILE, as in its symbol table\n"
	"  --debug-dir DIR  also look for debug info under DIR (repeatable)\n"
	"  --passes N       symbolize the list N times, timing each pass on stderr\n"
	"Addresses are hex (0x optional); without any, they are read from stdin.\n";

static void print_result(uint64_t addr, const struct sym_result *res)
{
	(void)addr;
	if (!res->nlines) {
		printf("??\n??:0:0\n\n");
		return;
	}
	for (unsigned int i = 0; i < res->nlines; i++) {
		const struct sym_line *l = &res->lines[i];

		printf("%s\n%s:%" PRId64 ":0\n", l->function ? l->function : "??",
		       l->file ? l->file : "??", l->line);
	}
	printf("\n");
}

struct target {
	struct symbolizer *sym;
	struct sym_module *elf;
	struct proc_table *procs;
	struct proc *proc;
};

/* @print: write the answer (later passes of --passes only measure). */
static void symbolize_one(struct target *t, uint64_t addr, int print)
{
	struct sym_result res = {0};
	const struct proc_mapping *m;

	if (t->elf) {
		symbolizer__lookup_vaddr(t->sym, t->elf, addr, &res);
	} else if (addr >= 0xffff800000000000ull) {
		symbolizer__lookup_kernel(t->sym, addr, &res);
	} else if ((m = proc__mapping_at(t->proc, addr)) ||
		   (proc_table__rescan(t->procs, t->proc) == 0 &&
		    (m = proc__mapping_at(t->proc, addr)))) {
		if (m->module)
			symbolizer__lookup(t->sym, m->module, m->start, m->offset, addr, &res);
		else if (m->ino == 0)
			symbolizer__lookup_perfmap(t->sym, proc__pid(t->proc),
						   proc__perfmap_path(t->proc), addr, &res);
	}
	if (print)
		print_result(addr, &res);
}

static int parse_addr(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 16);
	return errno || end == s || *end ? -EINVAL : 0;
}

struct addr_list {
	uint64_t *addrs;
	size_t n, cap;
};

static int push_addr(struct addr_list *l, const char *text)
{
	uint64_t addr;

	if (parse_addr(text, &addr)) {
		pr_warn("not a hex address: '%s'", text);
		return 2;
	}
	if (EMBER_RESERVE(l->addrs, l->cap, l->n + 1)) {
		pr_warn("out of memory");
		return 1;
	}
	l->addrs[l->n++] = addr;
	return 0;
}

/* Addresses from the command line, or else one per line from stdin. Returns the exit code. */
static int read_addresses(int argc, char **argv, struct addr_list *l)
{
	char line[128];
	int rc = 0;

	if (optind < argc) {
		for (int i = optind; i < argc; i++)
			rc = push_addr(l, argv[i]) ?: rc;
		return rc;
	}
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, " \t\r\n")] = '\0';
		if (line[0])
			rc = push_addr(l, line) ?: rc;
	}
	return rc;
}

int cmd_symbolize(int argc, char **argv)
{
	static const struct option opts[] = {
		{"pid", required_argument, NULL, 'p'},
		{"elf", required_argument, NULL, 'e'},
		{"debug-dir", required_argument, NULL, 'D'},
		{"passes", required_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *dirs[MAX_DEBUG_DIRS + 1] = {0}, *elf = NULL;
	/* The daemon's default address cache, so that bench/symbolize.sh measures it. */
	struct symbolizer_opts so = {.debug_dirs = dirs, .cache_bytes = EMBER_MEMORY_DEFAULT / 8};
	struct target t = {0};
	unsigned long pid = 0, passes = 1;
	struct addr_list list = {0};
	size_t ndirs = 0;
	int c, rc = 1;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			pid = strtoul(optarg, NULL, 10);
			if (!pid || pid > INT_MAX) {
				pr_warn("--pid: invalid value '%s'", optarg);
				return 2;
			}
			break;
		case 'e':
			elf = optarg;
			break;
		case 'D':
			if (ndirs == MAX_DEBUG_DIRS) {
				pr_warn("--debug-dir: at most %d directories", MAX_DEBUG_DIRS);
				return 2;
			}
			dirs[ndirs++] = optarg;
			break;
		case 'n':
			passes = strtoul(optarg, NULL, 10);
			if (passes < 1 || passes > 100) {
				pr_warn("--passes: invalid value '%s' (1..100)", optarg);
				return 2;
			}
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case ':':
			pr_warn("option '%s' needs a value (see symbolize --help)",
				argv[optind - 1]);
			return 2;
		default:
			pr_warn("unknown option '%s' (see symbolize --help)", argv[optind - 1]);
			return 2;
		}
	}
	if (!pid == !elf) {
		pr_warn("symbolize needs exactly one of --pid PID and --elf FILE");
		return 2;
	}
	t.sym = symbolizer__new(&so);
	if (!t.sym) {
		pr_warn("out of memory");
		return 1;
	}
	if (elf) {
		struct stat st;

		if (stat(elf, &st)) {
			pr_warn("cannot open %s: %s", elf, strerror(errno));
			goto out;
		}
		t.elf = symbolizer__get_module(t.sym, elf, NULL, st.st_dev, st.st_ino);
		if (!t.elf) {
			pr_warn("cannot read %s: %s", elf,
				errno == EINVAL ? "not an ELF file" : strerror(errno));
			goto out;
		}
	} else {
		t.procs = proc_table__new(t.sym, "/proc");
		t.proc = t.procs ? proc_table__get(t.procs, (uint32_t)pid) : NULL;
		if (!t.proc) {
			pr_warn("no process with pid %lu", pid);
			goto out;
		}
	}
	rc = read_addresses(argc, argv, &list);
	for (unsigned long pass = 1; pass <= passes; pass++) {
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (size_t i = 0; i < list.n; i++)
			symbolize_one(&t, list.addrs[i], pass == 1);
		fflush(stdout);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (passes > 1)
			fprintf(stderr, "pass %lu: %.6f seconds\n", pass,
				(double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	}
	if (passes > 1) {
		struct symbolizer_stats st;

		symbolizer__stats(t.sym, &st);
		fprintf(stderr, "cache: %lu hits, %lu misses, %lu entries, %zu bytes\n",
			st.cache_hits, st.cache_misses, st.cache_entries, st.cache_bytes);
	}
	fflush(stdout);
out:
	free(list.addrs);
	symbolizer__put_module(t.sym, t.elf);
	proc_table__free(t.procs);
	symbolizer__free(t.sym);
	return rc;
}
