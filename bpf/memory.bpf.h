/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * Memory: which stacks allocate, and which allocations are still alive.
 *
 * Hooking every malloc would cost microseconds a call. The processes sample
 * their own allocations instead (see struct ember_mem in emberprof.h), and
 * the agent attaches on_alloc and on_free to their otel_memory USDT probes,
 * process by process: the probes fire for sampled allocations only, about
 * one per 512 KiB allocated. At alloc, the user stack is walked from the
 * probe's registers by the same walker as a CPU sample, Python frames
 * included, and stored in the generation stack maps; the key's objects and
 * bytes go to the memory count maps, drained with the CPU counts.
 *
 * With --inuse each sampled pointer is kept in mem_live until its free.
 * The map is bounded as a whole (max_entries) and per process
 * (mem_proc_max live blocks each, counted in mem_proc_live), so one process
 * that leaks cannot take every other's room. The agent reads it at the end
 * of every interval, and drops the blocks of processes that have exited.
 * A live block's stack outlives its generation: the agent keeps a copy of
 * the stacks live blocks point at (agent/heap.c).
 */
#ifndef EMBER_MEMORY_BPF_H
#define EMBER_MEMORY_BPF_H

/* Set by the agent before load: keep live blocks (--inuse); each process's share of them. */
const volatile __u32 mem_inuse = 0;
const volatile __u32 mem_proc_max = 0;

/* key: struct ember_key; value: struct ember_mem. Drained by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, struct ember_key);
	__type(value, struct ember_mem);
} mem0 SEC(".maps"), mem1 SEC(".maps");
GENERATIONS(mem, struct ember_key, struct ember_mem);

/* key: (tgid, pointer); value: struct ember_live. The sampled blocks not freed yet. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, struct ember_live_key);
	__type(value, struct ember_live);
} mem_live SEC(".maps");

/* key: tgid; value: its blocks in mem_live. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u32);
} mem_proc_live SEC(".maps");

/*
 * key: tgid; value: unused. The processes the agent attached the memory
 * programs to: a child one of them forks maps the same probes, but the
 * programs are attached per process, so the agent must hear of it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} mem_procs SEC(".maps");

/* Keeps @ptr of @tgid live under @lv, within the process's share. */
static __always_inline void mem_keep(__u32 tgid, __u64 ptr, struct ember_live *lv)
{
	struct ember_live_key lk = {.tgid = tgid, .ptr = ptr};
	__u32 zero = 0, *n;

	n = bpf_map_lookup_elem(&mem_proc_live, &tgid);
	if (!n) {
		bpf_map_update_elem(&mem_proc_live, &tgid, &zero, BPF_NOEXIST);
		n = bpf_map_lookup_elem(&mem_proc_live, &tgid);
	}
	if (!n || *n >= mem_proc_max) {
		count_metric(EMBER_M_MEM_PROC_FULL);
		return;
	}
	/*
	 * A pointer kept already was freed while no probe was attached (the
	 * agent started, or the free came first): the new block replaces it.
	 */
	if (bpf_map_lookup_elem(&mem_live, &lk)) {
		bpf_map_update_elem(&mem_live, &lk, lv, BPF_EXIST);
		return;
	}
	if (bpf_map_update_elem(&mem_live, &lk, lv, BPF_NOEXIST)) {
		count_metric(EMBER_M_MEM_LIVE_FULL);
		return;
	}
	__sync_fetch_and_add(n, 1);
}

/* A sampled allocation of @size bytes at @ptr, standing for @weight bytes. */
static __always_inline void mem_alloc(void *ctx, __u64 ptr, __u64 size, __u64 weight)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct ember_key key = {};
	struct ember_mem *v, zero = {};
	struct ember_live lv = {};
	struct ember_stack *ust;
	struct walk_state *ws;
	struct task_struct *task;
	void *counts, *stacks;
	__u32 slot = SLOT_MEM, gen = active ? 1 : 0;

	key.tgid = pid_tgid >> 32;
	key.tid = (__u32)pid_tgid;
	if (weight > EMBER_MEM_MAX_WEIGHT) {
		count_metric(EMBER_M_MEM_BOGUS);
		return;
	}
	count_metric(EMBER_M_MEM_ALLOCS);
	add_metric(EMBER_M_MEM_BYTES, weight);
	ws = bpf_map_lookup_elem(&walk_state, &slot);
	counts = bpf_map_lookup_elem(&mem_gen, &gen);
	stacks = bpf_map_lookup_elem(&stacks_gen, &gen);
	if (!ws || !counts || !stacks)
		return; /* cannot happen: the arrays are full */
	task = bpf_get_current_task_btf();
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	/* The probe fires in user mode: its registers are the user's. */
	key.ustack = full_user_stack(ctx, ws, slot, task, key.tgid, key.tid, 1,
				     EMBER_M_MEM_USTACK_FAULT, &ust);
	if (key.ustack)
		key.ustack = store_stack(stacks, ust, key.ustack, EMBER_M_MEM_STACK_LOST);
	lv.ustack = key.ustack;
	lv.bytes = weight;
	lv.objects = size ? weight * EMBER_MEM_OBJ_SCALE / size : EMBER_MEM_OBJ_SCALE;

	v = bpf_map_lookup_elem(counts, &key);
	if (!v) {
		/* EEXIST (another CPU added the key first) is fine: look it up again. */
		bpf_map_update_elem(counts, &key, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(counts, &key);
	}
	if (v) {
		__sync_fetch_and_add(&v->objects, lv.objects);
		__sync_fetch_and_add(&v->bytes, weight);
	} else {
		count_metric(EMBER_M_MEM_COUNTS_FULL);
	}
	if (mem_inuse) {
		if (key.ustack)
			mem_keep(key.tgid, ptr, &lv);
		else
			count_metric(EMBER_M_MEM_NO_STACK);
	}
	/* A process that allocates but is never on a CPU sample is named too. */
	remember_process(key.tgid);
}

/* The free of a sampled pointer: its live block, if kept, ends. */
static __always_inline void mem_free(__u64 ptr)
{
	struct ember_live_key lk = {.tgid = bpf_get_current_pid_tgid() >> 32, .ptr = ptr};
	__u32 *n;

	if (bpf_map_delete_elem(&mem_live, &lk)) {
		count_metric(EMBER_M_MEM_FREE_UNKNOWN);
		return;
	}
	count_metric(EMBER_M_MEM_FREES);
	n = bpf_map_lookup_elem(&mem_proc_live, &lk.tgid);
	if (n && *n)
		__sync_fetch_and_add(n, -1);
}

#endif /* EMBER_MEMORY_BPF_H */
