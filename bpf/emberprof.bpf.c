// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * The sampling side of emberprof. A perf event on every CPU (cycles, or
 * cpu-clock without a PMU) runs on_sample(), which counts the interrupted
 * task's (tgid, tid, comm, user stack, kernel stack) in a hash map. Stacks are
 * stored once each, keyed by a 64-bit hash of their frames, so a hot stack
 * costs one entry however often it is hit. (The kernel's stack-trace map
 * would do the storing for us, but it drops any stack whose bucket is taken,
 * and with a few hundred stacks in thousands of buckets that already loses
 * samples; an ordinary hash map keyed by a full 64-bit hash does not.)
 *
 * The agent drains on a timer. To drain without racing the programs, every
 * map the samples write exists twice and the agent flips `active` between
 * intervals: the programs write one generation while the agent reads and
 * clears the other. A stack id is only meaningful next to the counts of its
 * own generation, which is why the stack maps are doubled as well.
 *
 * The user stack is walked here, with the .eh_frame tables the agent built
 * (see the essay in emberprof.h): one bpf_loop iteration per frame, each a
 * trie lookup for the mapping and a binary search for the row, both skipped
 * when the frame falls where the previous one did (same file, same row).
 * Stack words come from a 1 KiB copy of the stack rather than one
 * bpf_probe_read_user each. Code with no table gets a frame-pointer step
 * instead. With dwarf_unwind off, the kernel's frame-pointer unwinder
 * (bpf_get_stack) does the user stack.
 *
 * Two scheduler tracepoints (tp_btf: this kernel has no kprobes or fentry)
 * tell the agent about exec and exit, and the first sample of each process
 * asks it to read /proc/PID/maps while the process is still alive. With
 * --off-cpu a third, sched_switch, records where threads wait, and with
 * --alloc two USDT programs record where processes allocate.
 *
 * This file holds the programs, the knobs and the filters; each role's maps
 * and helpers have a header of their own: common.bpf.h (generations,
 * metrics, events), stacks.bpf.h (sample keys and stacks), unwind.bpf.h (the
 * DWARF walker), tracectx.bpf.h (trace links), python.bpf.h (CPython
 * frames), offcpu.bpf.h (blocked time) and memory.bpf.h (allocations).
 * emberprof.h is the ABI the agent shares.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/usdt.bpf.h>
#include "bpf/emberprof.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the agent before load. */
const volatile __u32 filter_pids = 0;	/* nonzero: only tgids in pid_filter */
const volatile __u32 dwarf_unwind = 0;	/* nonzero: walk user stacks with the tables */
const volatile __u32 filter_cgroup = 0; /* nonzero: only tasks under cgroup_filter[0] */
const volatile __u32 obi_enabled = 0;	/* nonzero: obi_traces is OBI's pinned map */
/* kernel.perf_event_max_stack: the most frames bpf_get_stack gives. */
const volatile __u32 fp_max_frames = 127;

/* Flipped by the agent between drains: which generation samples go to. */
__u32 active = 0;
/*
 * Entries in tls_offsets, kept by the agent. While it is 0 (no process
 * publishes a thread context, the common case) a sample skips the lookup.
 */
__u32 tls_procs = 0;

/* Sizes below are defaults; the agent sets them with bpf_map__set_max_entries. */

#include "bpf/common.bpf.h"
#include "bpf/stacks.bpf.h"
#include "bpf/unwind.bpf.h"
#include "bpf/tracectx.bpf.h"
#include "bpf/python.bpf.h"

/* index 0: the cgroup (v2 directory fd) whose subtree --cgroup selects. */
struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} cgroup_filter SEC(".maps");

/* key: tgid; value: unused. Filled by the agent when -p is given. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} pid_filter SEC(".maps");

/* The first sample, wait or allocation of @tgid since its exec: the agent reads its mappings. */
static __always_inline void remember_process(__u32 tgid)
{
	__u64 now;

	if (bpf_map_lookup_elem(&known_procs, &tgid))
		return;
	now = bpf_ktime_get_ns();
	bpf_map_update_elem(&known_procs, &tgid, &now, BPF_ANY);
	send_event(EMBER_EV_NEW_PROC, tgid, 0);
}

#include "bpf/offcpu.bpf.h"
#include "bpf/memory.bpf.h"

SEC("perf_event")
int on_sample(struct bpf_perf_event_data *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), *count;
	struct ember_key key = {};
	struct ember_stack *st, *ust;
	struct walk_state *ws;
	struct ember_link *l;
	struct task_struct *task;
	void *counts, *stacks, *links;
	__u32 slot = SLOT_SAMPLE, gen = active ? 1 : 0;
	int user_mode;

	key.tgid = pid_tgid >> 32;
	key.tid = (__u32)pid_tgid;
	if (key.tid == 0) {
		count_metric(EMBER_M_IDLE);
		return 0;
	}
	if ((filter_pids && !bpf_map_lookup_elem(&pid_filter, &key.tgid)) ||
	    (filter_cgroup && bpf_current_task_under_cgroup(&cgroup_filter, 0) != 1)) {
		count_metric(EMBER_M_FILTERED);
		return 0;
	}
	count_metric(EMBER_M_SAMPLES);
	st = bpf_map_lookup_elem(&scratch, &slot);
	ws = bpf_map_lookup_elem(&walk_state, &slot);
	l = bpf_map_lookup_elem(&link_scratch, &slot);
	counts = bpf_map_lookup_elem(&counts_gen, &gen);
	if (!st || !ws || !l || !counts)
		return 0; /* cannot happen: the arrays are full */

	task = bpf_get_current_task_btf();
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	user_mode = (CTX_REG(ctx, cs) & 3) == 3;
	key.kstack = kernel_stack(ctx, st, user_mode);
	key.ustack = full_user_stack(ctx, ws, slot, task, key.tgid, key.tid, user_mode,
				     EMBER_M_USTACK_FAULT, &ust);
	key.link = read_link(l, task, key.tgid, pid_tgid);

	/*
	 * A key already counted in this generation stored its stacks and link
	 * (in this generation's maps, cleared with it) and saw its process
	 * known: most samples repeat a key and stop here.
	 */
	count = bpf_map_lookup_elem(counts, &key);
	if (count) {
		__sync_fetch_and_add(count, 1);
		return 0;
	}
	stacks = bpf_map_lookup_elem(&stacks_gen, &gen);
	links = bpf_map_lookup_elem(&links_gen, &gen);
	if (!stacks || !links)
		return 0; /* cannot happen: the arrays are full */
	if (key.kstack)
		key.kstack = store_stack(stacks, st, key.kstack, EMBER_M_KSTACK_LOST);
	if (key.ustack)
		key.ustack = store_stack(stacks, ust, key.ustack, EMBER_M_USTACK_LOST);
	if (key.link)
		key.link = store_link(links, l, key.link);
	insert_count(counts, &key);

	if (BPF_CORE_READ(task, mm))
		remember_process(key.tgid);
	return 0;
}

/*
 * Off-CPU time (--off-cpu; bpf/offcpu.bpf.h): the thread coming in ends its
 * wait, the one going out to sleep starts one. Not loaded without the flag.
 * (prev_state is an argument only since 5.18, so the state is read from the
 * task, where it still is at this point.)
 */
SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	/* tp_btf's task pointers are trusted: plain loads, no probe reads, at every switch. */
	offcpu_end(prev, next);
	if (preempt ||
	    !(task_state(prev) & (EMBER_TASK_INTERRUPTIBLE | EMBER_TASK_UNINTERRUPTIBLE)))
		return 0; /* still runnable: not a wait */
	if (prev->pid == 0)
		return 0;
	offcpu_begin(ctx, prev, next);
	return 0;
}

/*
 * Run by the agent at every drain with --off-cpu: adds the waits under way
 * so far, and writes each thread's measured and weighted time.
 */
SEC("iter/task")
int flush_waits(struct bpf_iter__task *ctx)
{
	if (ctx->task)
		offcpu_flush(ctx->meta->seq, ctx->task);
	return 0;
}

/*
 * Memory (--alloc, --inuse; bpf/memory.bpf.h): attached by the agent, per
 * process, to the otel_memory USDT probes in the files it maps. Not loaded
 * without --alloc.
 */
SEC("usdt")
int BPF_USDT(on_alloc, __u64 ptr, __u64 size, __u64 weight)
{
	mem_alloc(ctx, ptr, size, weight);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_free, __u64 ptr)
{
	mem_free(ptr);
	return 0;
}

/*
 * --alloc: a process with memory probes forked. The child's mappings are
 * the parent's, so the agent reads them now and attaches to the child too.
 */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid;

	if (ctgid == ptgid || !bpf_map_lookup_elem(&mem_procs, &ptgid))
		return 0; /* a thread, or a process without probes */
	send_event(EMBER_EV_NEW_PROC, ctgid, 0);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);

	/* The new image's libraries are not mapped yet: re-read at its next sample. */
	bpf_map_delete_elem(&known_procs, &tgid);
	if (filter_pids && !bpf_map_lookup_elem(&pid_filter, &tgid))
		return 0;
	send_event(EMBER_EV_EXEC, tgid, 0);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *p)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);

	offcpu_exit(p);
	if (BPF_CORE_READ(p, pid) != tgid)
		return 0; /* a thread, not the process */
	if (!bpf_map_lookup_elem(&known_procs, &tgid))
		return 0; /* never sampled: nothing to keep */
	bpf_map_delete_elem(&known_procs, &tgid);
	send_event(EMBER_EV_EXIT, tgid, 0);
	return 0;
}
