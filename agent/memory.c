// SPDX-License-Identifier: Apache-2.0
/*
 * The memory budget (see memory.h). The heap figure is mallinfo2's: bytes in
 * live allocations, whoever made them (libdw's and libelf's included, which
 * nothing else could count), so the budget holds what the agent really
 * uses, not an estimate. mallinfo2 walks malloc's free lists, which costs
 * about a millisecond here: the budget is checked once a drain, and after
 * each batch it frees.
 */
#include <dirent.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "symbolizer/symbolizer.h"
#include "agent/memory.h"

#if defined(__SANITIZE_ADDRESS__)
/*
 * Under ASan malloc is the sanitizer's: ask it, as mallinfo2 sees nothing.
 * Declared here: gcc ships the runtime but not its header.
 */
size_t __sanitizer_get_current_allocated_bytes(void);

static uint64_t heap_used(void)
{
	return __sanitizer_get_current_allocated_bytes();
}
#else
static uint64_t heap_used(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}
#endif

void mem_usage__read(struct mem_usage *u)
{
	struct mallinfo2 mi = mallinfo2();
	unsigned long long kb;
	char line[256];
	FILE *f;

	memset(u, 0, sizeof(*u));
	u->heap_used = heap_used();
	u->heap_free = mi.fordblks;
	f = fopen("/proc/self/status", "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "VmRSS: %llu kB", &kb) == 1)
			u->rss = kb << 10;
		else if (sscanf(line, "RssAnon: %llu kB", &kb) == 1)
			u->rss_anon = kb << 10;
		else if (sscanf(line, "RssFile: %llu kB", &kb) == 1)
			u->rss_file = kb << 10;
		else if (sscanf(line, "RssShmem: %llu kB", &kb) == 1)
			u->rss_shmem = kb << 10;
	}
	fclose(f);
}

uint64_t mem_rss(void)
{
	unsigned long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (f) {
		if (fscanf(f, "%lu %lu", &pages, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

int mem_open_files(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

/* Lean mode outlasts the last check over the target by this much. */
#define LEAN_HOLD_NS (30 * 1000000000ull)

void mem_budget__init(struct mem_budget *b, uint64_t heap_target, int files_target)
{
	struct rlimit rl;

	memset(b, 0, sizeof(*b));
	b->heap_target = heap_target;
	if (files_target <= 0) {
		files_target = 256;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
		    rl.rlim_cur / 2 < (rlim_t)files_target)
			files_target = (int)(rl.rlim_cur / 2);
	}
	b->files_target = files_target;
}

/* The check, with room left for @want more bytes. */
static unsigned long enforce(struct mem_budget *b, struct symbolizer *sym, uint64_t now_ns,
			     uint64_t want)
{
	struct mem_budget_stats *st = &b->st;
	struct symbolizer_stats ss;
	unsigned long freed = 0, dropped = 0, n;
	uint64_t heap;
	int files;

	st->checks++;
	/* File pages the lookups since the last check touched: not ours to keep. */
	symbolizer__release_pages(sym);
	mem_usage__read(&st->last);
	heap = st->last.heap_used + want;
	files = mem_open_files();
	if (heap > b->heap_target)
		st->over_heap++;
	if (files > b->files_target)
		st->over_files++;
	/*
	 * Each stage frees a batch (a quarter of what it has, at least one)
	 * and measures again; a stage that has nothing left passes to the next.
	 * Open files are freed by evicting modules and closing DWARF sessions,
	 * not by the address cache.
	 */
	for (int stage = 0; stage < 3;) {
		int heap_over = heap > b->heap_target, files_over = files > b->files_target;

		if (!heap_over && !files_over)
			break;
		symbolizer__stats(sym, &ss);
		n = 0;
		if (stage == 0) {
			unsigned long batch = ss.modules_idle / 4 ? ss.modules_idle / 4 : 1;

			while (n < batch && symbolizer__evict_idle(sym))
				n++;
		} else if (stage == 1 && heap_over) {
			n = ss.cache_entries - ss.cache_entries / 2;
			symbolizer__trim_cache(sym, ss.cache_bytes / 2);
		} else if (stage == 2) {
			unsigned long batch = ss.dwarf_open / 4 ? ss.dwarf_open / 4 : 1;

			while (n < batch && symbolizer__drop_dwarf(sym, heap_used))
				n++;
			dropped += n;
		}
		if (!n) {
			stage++;
			continue;
		}
		freed += n;
		heap = heap_used() + want;
		files = mem_open_files();
	}
	/*
	 * Lean mode when files in use had to give up their DWARF (reopening
	 * them at the next lookup would only thrash), or nothing was left.
	 */
	if (dropped || heap > b->heap_target || files > b->files_target)
		b->lean_until = now_ns + LEAN_HOLD_NS;
	symbolizer__set_lean(sym, b->lean_until > now_ns);
	st->lean_checks += b->lean_until > now_ns;
	/* What was freed leaves the process, rather than waiting in malloc's free lists. */
	if (freed)
		malloc_trim(0);
	if (st->last.heap_used > st->heap_peak)
		st->heap_peak = st->last.heap_used;
	/* From here on "last" is what the check left. */
	st->last.heap_used = heap - want;
	if (st->last.rss > st->rss_peak)
		st->rss_peak = st->last.rss;
	st->files = files;
	if (files > st->files_peak)
		st->files_peak = files;
	return freed;
}

unsigned long mem_budget__check(struct mem_budget *b, struct symbolizer *sym, uint64_t now_ns)
{
	return enforce(b, sym, now_ns, 0);
}

unsigned long mem_budget__reserve(struct mem_budget *b, struct symbolizer *sym, uint64_t want,
				  uint64_t now_ns)
{
	return enforce(b, sym, now_ns, want);
}

int mem_budget__make_room(struct mem_budget *b, struct symbolizer *sym, uint64_t want,
			  uint64_t now_ns)
{
	/*
	 * Lean: nothing is freed for a new session, but one whose cost is
	 * known and fits in what the last check left opens (ld.so's ~1 MiB
	 * while libc's ~10 do not fit). Judged on that figure, not measured
	 * again: lean lookups ask for every frame they name.
	 */
	if (b->lean_until > now_ns) {
		if (!want || b->st.last.heap_used + want > b->heap_target)
			return 1;
		b->st.last.heap_used += want;
		return 0;
	}
	enforce(b, sym, now_ns, want);
	return b->lean_until > now_ns;
}
