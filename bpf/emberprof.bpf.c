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
 * The user stack is walked by the kernel's frame-pointer unwinder
 * (bpf_get_stack with BPF_F_USER_STACK); record_user_stack() is the one
 * place a different unwinder plugs in.
 *
 * Two scheduler tracepoints (tp_btf: this kernel has no kprobes or fentry)
 * tell the agent about exec and exit, and the first sample of each process
 * asks it to read /proc/PID/maps while the process is still alive.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "emberprof.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the agent before load. */
const volatile __u32 filter_pids = 0; /* nonzero: only tgids in pid_filter */

/* Flipped by the agent between drains: which generation samples go to. */
__u32 active = 0;

/* Sizes below are defaults; the agent sets them with bpf_map__set_max_entries. */

/* key: struct ember_key; value: __u64 sample count. Drained by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct ember_key);
	__type(value, __u64);
} counts0 SEC(".maps"), counts1 SEC(".maps");

/* key: 64-bit hash of the frames; value: struct ember_stack. Cleared by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct ember_stack);
} stacks0 SEC(".maps"), stacks1 SEC(".maps");

/* Per-CPU scratch for building a stack: too large for the 512-byte BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ember_stack);
} scratch SEC(".maps");

/* key: tgid; value: unused. Filled by the agent when -p is given. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} pid_filter SEC(".maps");

/*
 * key: tgid; value: unused. Processes whose mappings the agent has been asked
 * to read. LRU, so forgetting a process only costs a redundant re-read.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, __u8);
} known_procs SEC(".maps");

/* struct ember_event records for the agent's ring-buffer poller. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* index: enum ember_metric; value: per-CPU counter. Summed by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EMBER_M_NR);
	__type(key, __u32);
	__type(value, __u64);
} metrics SEC(".maps");

static __always_inline void count_metric(__u32 m)
{
	__u64 *v = bpf_map_lookup_elem(&metrics, &m);

	if (v)
		*v += 1; /* per-CPU: no other writer */
}

static __always_inline void send_event(__u32 type, __u32 tgid)
{
	struct ember_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);

	if (!ev) {
		count_metric(EMBER_M_EVENTS_LOST);
		return;
	}
	ev->type = type;
	ev->tgid = tgid;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	bpf_ringbuf_submit(ev, 0);
}

/* FNV-1a over whole frames; never 0, which means "no stack". */
static __always_inline __u64 hash_stack(const struct ember_stack *st)
{
	__u64 h = 0xcbf29ce484222325ULL;

	for (__u32 i = 0; i < EMBER_MAX_STACK; i++) {
		if (i >= st->len)
			break;
		h ^= st->ips[i];
		h *= 0x100000001b3ULL;
	}
	return h ? h : 1;
}

/* Stores @st (already filled) in @stacks. Returns its hash, or 0 when the map is full. */
static __always_inline __u64 store_stack(void *stacks, struct ember_stack *st, __u32 lost_metric)
{
	__u64 h = hash_stack(st);
	long err = bpf_map_update_elem(stacks, &h, st, BPF_NOEXIST);

	if (err == 0 || err == -17 /* EEXIST: stored already */)
		return h;
	count_metric(lost_metric);
	return 0;
}

static __always_inline __u64 record_kernel_stack(void *ctx, void *stacks, struct ember_stack *st)
{
	long n = bpf_get_stack(ctx, st->ips, sizeof(st->ips), 0);

	/* Nothing (or an error) for a sample taken in user mode: no kernel part. */
	if (n <= 0)
		return 0;
	st->len = n / sizeof(__u64);
	return store_stack(stacks, st, EMBER_M_KSTACK_LOST);
}

static __always_inline __u64 record_user_stack(void *ctx, void *stacks, struct ember_stack *st,
					       struct task_struct *task)
{
	long n;

	/* Kernel threads have no user half. */
	if (!BPF_CORE_READ(task, mm))
		return 0;
	n = bpf_get_stack(ctx, st->ips, sizeof(st->ips), BPF_F_USER_STACK);
	if (n <= 0) {
		count_metric(EMBER_M_USTACK_FAULT);
		return 0;
	}
	st->len = n / sizeof(__u64);
	return store_stack(stacks, st, EMBER_M_USTACK_LOST);
}

static __always_inline void add_count(void *counts, struct ember_key *key)
{
	__u64 one = 1, *v;

	v = bpf_map_lookup_elem(counts, key);
	if (v) {
		__sync_fetch_and_add(v, 1);
		return;
	}
	if (bpf_map_update_elem(counts, key, &one, BPF_NOEXIST) == 0)
		return;
	/* Another CPU inserted the same key between our lookup and update. */
	v = bpf_map_lookup_elem(counts, key);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		count_metric(EMBER_M_COUNTS_FULL);
}

static __always_inline int sample(struct bpf_perf_event_data *ctx, void *counts, void *stacks)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct ember_key key = {};
	struct ember_stack *st;
	struct task_struct *task;
	__u32 zero = 0;
	__u8 one = 1;

	key.tgid = pid_tgid >> 32;
	key.tid = (__u32)pid_tgid;
	if (key.tid == 0) {
		count_metric(EMBER_M_IDLE);
		return 0;
	}
	if (filter_pids && !bpf_map_lookup_elem(&pid_filter, &key.tgid)) {
		count_metric(EMBER_M_FILTERED);
		return 0;
	}
	count_metric(EMBER_M_SAMPLES);
	st = bpf_map_lookup_elem(&scratch, &zero);
	if (!st)
		return 0; /* cannot happen: a one-entry array always has entry 0 */

	task = (struct task_struct *)bpf_get_current_task();
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	key.kstack = record_kernel_stack(ctx, stacks, st);
	key.ustack = record_user_stack(ctx, stacks, st, task);
	add_count(counts, &key);

	if (!bpf_map_lookup_elem(&known_procs, &key.tgid) && BPF_CORE_READ(task, mm)) {
		bpf_map_update_elem(&known_procs, &key.tgid, &one, BPF_ANY);
		send_event(EMBER_EV_NEW_PROC, key.tgid);
	}
	return 0;
}

SEC("perf_event")
int on_sample(struct bpf_perf_event_data *ctx)
{
	/* Two call sites with constant maps: the verifier must know each helper's map. */
	if (active)
		return sample(ctx, &counts1, &stacks1);
	return sample(ctx, &counts0, &stacks0);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);

	/* The new image's libraries are not mapped yet: re-read at its next sample. */
	bpf_map_delete_elem(&known_procs, &tgid);
	if (filter_pids && !bpf_map_lookup_elem(&pid_filter, &tgid))
		return 0;
	send_event(EMBER_EV_EXEC, tgid);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *p)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);

	if (BPF_CORE_READ(p, pid) != tgid)
		return 0; /* a thread, not the process */
	if (!bpf_map_lookup_elem(&known_procs, &tgid))
		return 0; /* never sampled: nothing to keep */
	bpf_map_delete_elem(&known_procs, &tgid);
	send_event(EMBER_EV_EXIT, tgid);
	return 0;
}
