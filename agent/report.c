// SPDX-License-Identifier: Apache-2.0
/*
 * The agent's -v lines and its summary line, rendered from a struct report
 * (see report.h). Words and order are what users and the tests read: a line
 * names each number, and a new counter goes at the end of its line.
 */
#include <inttypes.h>
#include <stdio.h>

#include "lib/log.h"
#include "agent/report.h"

#define MIB 1048576.0

static const char *const metric_names[EMBER_M_NR] = {
	[EMBER_M_SAMPLES] = "samples",
	[EMBER_M_FILTERED] = "filtered",
	[EMBER_M_KSTACK_LOST] = "kernel_stack_map_full",
	[EMBER_M_USTACK_LOST] = "user_stack_map_full",
	[EMBER_M_USTACK_FAULT] = "user_stack_read_failed",
	[EMBER_M_COUNTS_FULL] = "count_map_full",
	[EMBER_M_EVENTS_LOST] = "events_lost",
	[EMBER_M_IDLE] = "idle",
	[EMBER_M_UNWIND_READ_FAULT] = "unwind_read_fault",
	[EMBER_M_UNWIND_DEPTH_CUT] = "unwind_depth_cut",
	[EMBER_M_UNWIND_BAD_CFA] = "unwind_bad_cfa",
	[EMBER_M_UNWIND_UNSUPPORTED] = "unwind_unsupported",
	[EMBER_M_UNWIND_SIGNAL] = "unwind_signal_frame",
	[EMBER_M_UNWIND_FP_END] = "unwind_frame_chain_end",
	[EMBER_M_UNWIND_RBP_LOST] = "unwind_rbp_lost",
	[EMBER_M_UNWIND_ZERO_RA] = "unwind_zero_return_address",
	[EMBER_M_FP_NO_FILE] = "fp_frame_no_file",
	[EMBER_M_FP_NO_EH_FRAME] = "fp_frame_no_eh_frame",
	[EMBER_M_FP_PENDING] = "fp_frame_table_pending",
	[EMBER_M_FP_GAP] = "fp_frame_no_fde",
	[EMBER_M_UNWIND_COMPLETE] = "unwind_complete",
	[EMBER_M_LINKS] = "links",
	[EMBER_M_LINK_READ_FAULT] = "link_read_fault",
	[EMBER_M_LINK_INVALID] = "link_invalid",
	[EMBER_M_LINKS_MERGED] = "links_merged",
	[EMBER_M_PY_SAMPLES] = "python_samples",
	[EMBER_M_PY_FRAMES] = "python_frames",
	[EMBER_M_PY_NO_THREAD] = "python_no_thread_state",
	[EMBER_M_PY_READ_FAULT] = "python_read_fault",
	[EMBER_M_PY_BAD_OBJECT] = "python_bad_object",
	[EMBER_M_PY_DEPTH_CUT] = "python_depth_cut",
	[EMBER_M_PY_UNPLACED] = "python_unplaced",
	[EMBER_M_OFFCPU_SWITCHES] = "offcpu_switches",
	[EMBER_M_OFFCPU_KTHREAD] = "offcpu_kernel_thread",
	[EMBER_M_OFFCPU_UNSAMPLED] = "offcpu_unsampled",
	[EMBER_M_OFFCPU_WAITS_FULL] = "offcpu_no_memory",
	[EMBER_M_OFFCPU_RECORDED] = "offcpu_recorded",
	[EMBER_M_OFFCPU_WAITS] = "offcpu_waits",
	[EMBER_M_OFFCPU_SHORT] = "offcpu_short",
	[EMBER_M_OFFCPU_STACK_LOST] = "offcpu_stack_lost",
	[EMBER_M_OFFCPU_COUNTS_FULL] = "offcpu_counts_full",
	[EMBER_M_OFFCPU_USTACK_FAULT] = "offcpu_user_stack_fault",
	[EMBER_M_OFFCPU_NS] = "offcpu_nanoseconds",
	[EMBER_M_OFFCPU_LOST_NS] = "offcpu_lost_nanoseconds",
	[EMBER_M_OFFCPU_UNDER_WAY] = "offcpu_under_way",
	[EMBER_M_OFFCPU_REUSED] = "offcpu_stacks_reused",
	[EMBER_M_OFFCPU_WAKER_LATE] = "offcpu_waker_late",
	[EMBER_M_OFFCPU_GONE_FULL] = "offcpu_exited_sums_full",
	[EMBER_M_MEM_ALLOCS] = "memory_allocs",
	[EMBER_M_MEM_BYTES] = "memory_alloc_bytes",
	[EMBER_M_MEM_COUNTS_FULL] = "memory_counts_full",
	[EMBER_M_MEM_STACK_LOST] = "memory_stack_lost",
	[EMBER_M_MEM_USTACK_FAULT] = "memory_user_stack_fault",
	[EMBER_M_MEM_NO_STACK] = "memory_live_no_stack",
	[EMBER_M_MEM_LIVE_FULL] = "memory_live_full",
	[EMBER_M_MEM_PROC_FULL] = "memory_live_process_full",
	[EMBER_M_MEM_FREES] = "memory_frees",
	[EMBER_M_MEM_FREE_UNKNOWN] = "memory_free_unknown",
	[EMBER_M_MEM_BOGUS] = "memory_bogus_weight",
	[EMBER_M_REMAP_ASKED] = "remap_asked",
};

const char *ember_metric_name(enum ember_metric m)
{
	return m < EMBER_M_NR ? metric_names[m] : "unknown";
}

/* The frames a stopped walk ends in: what a user reads at the root of a flame graph. */
static const char *const stop_frames[EMBER_M_NR] = {
	[EMBER_M_UNWIND_READ_FAULT] = "[unwind stopped: stack unreadable]",
	[EMBER_M_UNWIND_DEPTH_CUT] = "[unwind stopped: depth limit]",
	[EMBER_M_UNWIND_BAD_CFA] = "[unwind stopped: bad CFA]",
	[EMBER_M_UNWIND_UNSUPPORTED] = "[unwind stopped: unsupported CFA rule]",
	[EMBER_M_UNWIND_SIGNAL] = "[unwind stopped: signal frame]",
	[EMBER_M_UNWIND_FP_END] = "[unwind stopped: no frame pointer]",
	[EMBER_M_UNWIND_RBP_LOST] = "[unwind stopped: rbp lost]",
	[EMBER_M_UNWIND_ZERO_RA] = "[unwind stopped: zero return address]",
};

const char *ember_stop_frame(uint64_t ip)
{
	uint64_t m = ip - EMBER_STOP_IP_BASE;

	return ip >= EMBER_STOP_IP_BASE && m < EMBER_M_NR && stop_frames[m] ? stop_frames[m]
									    : "[unwind stopped]";
}

uint64_t ember_lost(const uint64_t *m)
{
	return m[EMBER_M_KSTACK_LOST] + m[EMBER_M_USTACK_LOST] + m[EMBER_M_USTACK_FAULT] +
	       m[EMBER_M_COUNTS_FULL];
}

static double hit_rate(const struct symbolizer_stats *st)
{
	unsigned long lookups = st->cache_hits + st->cache_misses;

	return lookups ? 100.0 * st->cache_hits / lookups : 0.0;
}

/* The budget, where the heap goes, and what was freed for it. */
static void log_memory(const struct report *r)
{
	const struct mem_budget_stats *b = &r->budget.st;
	const struct symbolizer_stats *st = &r->sym;
	const struct mem_split *ms = &r->mem;

	pr_info("memory: heap %.1f of %.1f MiB (parsed files %.1f, address cache %.1f, kernel "
		"symbols %.1f, processes %.1f, profile %.1f, OTLP queue %.1f; malloc keeps %.1f "
		"free); "
		"rss %.1f MiB (anonymous %.1f, files %.1f, shared %.1f); open files %d of %d; "
		"modules %lu (%lu idle, %lu with DWARF); evicted %lu idle modules, %lu DWARF "
		"sessions, %lu cache entries; %" PRIu64 " of %" PRIu64
		" checks over the heap target, %" PRIu64 " over the file target; lean lookups %lu",
		b->last.heap_used / MIB, r->budget.heap_target / MIB, ms->files / MIB,
		ms->symbols / MIB, ms->kernel / MIB, ms->processes / MIB, ms->profile / MIB,
		ms->otlp / MIB, b->last.heap_free / MIB, b->last.rss / MIB, b->last.rss_anon / MIB,
		b->last.rss_file / MIB, b->last.rss_shmem / MIB, b->files, r->budget.files_target,
		st->modules_open, st->modules_idle, st->dwarf_open, st->modules_evicted,
		st->dwarf_dropped, st->cache_evicted, b->over_heap, b->checks, b->over_files,
		st->dwarf_skipped);
}

/* What the unwinder built, and how every DWARF walk ended. */
static void log_unwind(const struct report *r)
{
	const struct unwinder_stats *us = &r->unwind;
	const uint64_t *m = r->m;
	char list[512] = "";
	size_t len = 0;
	uint64_t early = 0;

	for (int i = EMBER_M_UNWIND_READ_FAULT; i <= EMBER_M_UNWIND_ZERO_RA; i++)
		early += m[i];
	pr_info("unwind: %zu files, %zu chunks built, %zu/%zu rows (%.1f/%.1f MiB), %zu mappings "
		"in %zu prefixes, %zu files without tables; requests %" PRIu64 ", builds %" PRIu64
		", evictions %" PRIu64 ", rebuilds %" PRIu64 ", no room %" PRIu64 ", files without "
		"slots %" PRIu64 "; built in %.0f ms, longest %.1f ms; %" PRIu64
		" waits for walks (%.0f ms); BPF maps %.1f MiB",
		us->tables, us->chunks_loaded, us->rows_used, us->rows_max,
		us->rows_used * (double)sizeof(struct ember_row) / MIB,
		us->rows_max * (double)sizeof(struct ember_row) / MIB, us->mappings,
		us->trie_entries, us->no_table, us->requests, us->builds, us->evictions,
		us->rebuilds, us->no_room, us->no_slots, us->build_ns / 1e6, us->build_max_ns / 1e6,
		us->waits, us->wait_ns / 1e6, r->map_bytes / MIB);
	pr_info("unwind walks: complete %" PRIu64 ", walks ended early %" PRIu64
		"; walks ended early: read fault %" PRIu64 ", depth %" PRIu64 ", bad CFA %" PRIu64
		", unsupported %" PRIu64 ", signal frame %" PRIu64 ", frame chain %" PRIu64
		", rbp lost %" PRIu64 ", zero return address %" PRIu64,
		m[EMBER_M_UNWIND_COMPLETE], early, m[EMBER_M_UNWIND_READ_FAULT],
		m[EMBER_M_UNWIND_DEPTH_CUT], m[EMBER_M_UNWIND_BAD_CFA],
		m[EMBER_M_UNWIND_UNSUPPORTED], m[EMBER_M_UNWIND_SIGNAL], m[EMBER_M_UNWIND_FP_END],
		m[EMBER_M_UNWIND_RBP_LOST], m[EMBER_M_UNWIND_ZERO_RA]);
	pr_info("unwind stopped frames: %" PRIu64 " samples end in one", r->stopped);
	pr_info("unwind frames stepped by frame pointer (the walk goes on): no file %" PRIu64
		", no .eh_frame %" PRIu64 ", table pending %" PRIu64 ", no FDE %" PRIu64
		"; mappings re-read at a walk's ask %" PRIu64,
		m[EMBER_M_FP_NO_FILE], m[EMBER_M_FP_NO_EH_FRAME], m[EMBER_M_FP_PENDING],
		m[EMBER_M_FP_GAP], m[EMBER_M_REMAP_ASKED]);
	for (size_t i = 0; i < r->nstarved && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len,
					"%s%s (%" PRIu64 " chunk builds, %" PRIu64 " rows)",
					i ? ", " : "", r->starved[i].name, r->starved[i].refused,
					r->starved[i].rows);
	if (r->nstarved)
		pr_info("unwind tables refused for lack of room (raise --unwind-table-mb): %s",
			list);
}

void report__final(const struct report *r)
{
	const struct otelctx_stats *cs = &r->ctx;
	const struct symbolizer_stats *st = &r->sym;
	const uint64_t *m = r->m;

	if (log_get_level() < EMBER_LOG_INFO)
		return;
	pr_info("samples %" PRIu64 " (profile %" PRId64 "), lost: kstack %" PRIu64
		" ustack %" PRIu64 " ufault %" PRIu64 " counts %" PRIu64 ", events lost %" PRIu64
		", processes %zu; left out: by --container-id %" PRIu64
		", with neither stack %" PRIu64 "; intervals with a failed write %" PRIu64,
		m[EMBER_M_SAMPLES], r->profile_samples, m[EMBER_M_KSTACK_LOST],
		m[EMBER_M_USTACK_LOST], m[EMBER_M_USTACK_FAULT], m[EMBER_M_COUNTS_FULL],
		m[EMBER_M_EVENTS_LOST], r->processes, r->filtered, r->unattributed,
		r->write_failures);
	pr_info("symbolizer: modules %lu (opened %lu, reused %lu, failed %lu, DWARF sessions "
		"opened %lu); address cache %lu entries, %zu KiB, hit rate %.1f%%; kernel symbols "
		"%lu; frames without a name %" PRIu64 ", lean lookups %lu",
		st->modules_open, st->module_opens, st->module_hits, st->module_failures,
		st->dwarf_files, st->cache_entries, st->cache_bytes / 1024, hit_rate(st),
		st->kernel_symbols, r->frames_unnamed, st->dwarf_skipped);
	pr_info("trace links: links %" PRIu64 ", link read faults %" PRIu64
		", invalid records %" PRIu64 ", links merged %" PRIu64
		"; process contexts %lu (bad headers %lu, bad payloads %lu, unknown schemas %lu, "
		"torn reads %lu); thread contexts %lu (unsupported %lu)",
		m[EMBER_M_LINKS], m[EMBER_M_LINK_READ_FAULT], m[EMBER_M_LINK_INVALID],
		m[EMBER_M_LINKS_MERGED], cs->contexts, cs->bad_headers, cs->bad_payloads,
		cs->unknown_schemas, cs->torn_reads, cs->tls_found, cs->tls_unsupported);
	if (r->has_python)
		pr_info("python: %" PRIu64 " processes (%" PRIu64
			" of a version not read), %" PRIu64 " samples with Python frames, %" PRIu64
			" frames; Python walks stopped early: "
			"read fault %" PRIu64 ", bad object %" PRIu64 ", depth %" PRIu64
			"; threads without a thread state %" PRIu64 ", samples with frames put at "
			"the root %" PRIu64 "; code objects read %" PRIu64 " (%" PRIu64
			" unreadable, %" PRIu64 " changed), cache %.1f KiB (%" PRIu64 " resets)",
			r->python.procs, r->python.unsupported, m[EMBER_M_PY_SAMPLES],
			m[EMBER_M_PY_FRAMES], m[EMBER_M_PY_READ_FAULT], m[EMBER_M_PY_BAD_OBJECT],
			m[EMBER_M_PY_DEPTH_CUT], m[EMBER_M_PY_NO_THREAD], m[EMBER_M_PY_UNPLACED],
			r->python.codes, r->python.code_faults, r->python.reused,
			r->python.cache_bytes / 1024.0, r->python.resets);
	if (r->has_off_cpu)
		pr_info("off-CPU: %" PRIu64 " switches into a sleep: %" PRIu64 " recorded (%" PRIu64
			" with the thread's last stacks reused), %" PRIu64
			" timed but not walked (now 1 in %u walked), %" PRIu64
			" of kernel threads, %" PRIu64
			" dropped for want of memory; waits: %" PRIu64
			" added (%.3f s in all, with %" PRIu64
			" parts of waits under way at a drain, and %" PRIu64
			" whose waker the walk held up), %" PRIu64
			" under --off-cpu-min-us, %" PRIu64
			" lost with their stack evicted, %" PRIu64
			" with the count map full (%.3f s "
			"lost), %" PRIu64 " without a user stack",
			m[EMBER_M_OFFCPU_SWITCHES], m[EMBER_M_OFFCPU_RECORDED],
			m[EMBER_M_OFFCPU_REUSED], m[EMBER_M_OFFCPU_UNSAMPLED],
			1u << r->off_cpu_shift, m[EMBER_M_OFFCPU_KTHREAD],
			m[EMBER_M_OFFCPU_WAITS_FULL], m[EMBER_M_OFFCPU_WAITS],
			m[EMBER_M_OFFCPU_NS] / 1e9, m[EMBER_M_OFFCPU_UNDER_WAY],
			m[EMBER_M_OFFCPU_WAKER_LATE], m[EMBER_M_OFFCPU_SHORT],
			m[EMBER_M_OFFCPU_STACK_LOST], m[EMBER_M_OFFCPU_COUNTS_FULL],
			m[EMBER_M_OFFCPU_LOST_NS] / 1e9, m[EMBER_M_OFFCPU_USTACK_FAULT]);
	if (r->has_off_cpu)
		pr_info("off-CPU time: %.3f s measured, walked or not; threads' intervals "
			"scaled to it %" PRIu64 ", with no walk put under their last walked "
			"stacks %" PRIu64 " (%.3f s), with no stack left to put it under %" PRIu64
			" (%.3f s lost)",
			r->off_cpu.measured_ns / 1e9, r->off_cpu.scaled, r->off_cpu.last_stacks,
			r->off_cpu.last_ns / 1e9, r->off_cpu.lost, r->off_cpu.lost_ns / 1e9);
	if (r->has_heap)
		pr_info("allocations: %" PRIu64 " processes attached now (%" PRIu64
			" attachments, %" PRIu64 " failed; %" PRIu64 " of %" PRIu64
			" files checked have otel_memory probes); %" PRIu64
			" sampled allocations (%.1f MiB), %" PRIu64 " not counted (count map "
			"full), %" PRIu64 " without a user stack, %" PRIu64
			" stacks lost; live: %" PRIu64 " blocks (%" PRIu64
			" not shown yet), %" PRIu64 " frees, %" PRIu64
			" frees of blocks not kept, %" PRIu64
			" allocations of a weight not believed; not kept: %" PRIu64
			" map full, %" PRIu64 " process share full, %" PRIu64 " no stack; %" PRIu64
			" blocks of exited processes dropped, %" PRIu64 " stacks kept (%" PRIu64
			" not, at the cap)",
			r->heap.procs, r->heap.attached, r->heap.attach_fails, r->heap.files_probes,
			r->heap.files, m[EMBER_M_MEM_ALLOCS], m[EMBER_M_MEM_BYTES] / MIB,
			m[EMBER_M_MEM_COUNTS_FULL], m[EMBER_M_MEM_USTACK_FAULT],
			m[EMBER_M_MEM_STACK_LOST], r->heap.live, r->heap.live_pending,
			m[EMBER_M_MEM_FREES], m[EMBER_M_MEM_FREE_UNKNOWN], m[EMBER_M_MEM_BOGUS],
			m[EMBER_M_MEM_LIVE_FULL], m[EMBER_M_MEM_PROC_FULL], m[EMBER_M_MEM_NO_STACK],
			r->heap.live_dropped, r->heap.stacks, r->heap.stacks_full);
	log_memory(r);
	if (r->has_unwinder)
		log_unwind(r);
}

void report__interval(const struct report *r)
{
	if (log_get_level() < EMBER_LOG_INFO)
		return;
	pr_info("status: %" PRIu64 " samples (%" PRId64 " in this profile), %" PRIu64
		" lost, %zu processes, %" PRIu64 " with a trace link, symbol cache hit %.0f%%, "
		"rss %.1f MiB",
		r->m[EMBER_M_SAMPLES], r->profile_samples, r->lost, r->processes,
		r->m[EMBER_M_LINKS], hit_rate(&r->sym), r->rss / MIB);
	log_memory(r);
}

void report__summary(const struct report *r, const char *output, const char *folded)
{
	const uint64_t *m = r->m;
	char line[1024];
	int len;

	len = snprintf(line, sizeof(line),
		       "%" PRIu64 " samples on %s, %" PRIu64
		       " lost (stack map full: kernel %" PRIu64 ", user %" PRIu64
		       "; user stack unreadable %" PRIu64 "; count map full %" PRIu64
		       "), %zu processes",
		       m[EMBER_M_SAMPLES], r->event, r->lost, m[EMBER_M_KSTACK_LOST],
		       m[EMBER_M_USTACK_LOST], m[EMBER_M_USTACK_FAULT], m[EMBER_M_COUNTS_FULL],
		       r->processes_seen);
	if (len > 0 && (size_t)len < sizeof(line))
		len += snprintf(line + len, sizeof(line) - len,
				"; peak RSS %.1f MiB (heap %.1f of %.1f MiB budget)",
				r->budget.st.rss_peak / MIB, r->budget.st.heap_peak / MIB,
				r->budget.heap_target / MIB);
	if (output && len > 0 && (size_t)len < sizeof(line))
		len += snprintf(line + len, sizeof(line) - len, "; pprof %s", output);
	if (folded && len > 0 && (size_t)len < sizeof(line))
		snprintf(line + len, sizeof(line) - len, "; folded %s", folded);
	pr_warn("%s", line);
}
