/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * Off-CPU time: where threads wait, weighted by how long they wait.
 *
 * The scheduler's sched_switch tracepoint runs on_switch() in the context of
 * the thread leaving the CPU (prev is current), so its stacks are read here
 * exactly as a CPU sample reads them: the DWARF walk of the user stack from
 * the registers saved at kernel entry, and the kernel stack down to
 * __schedule, which names the wait (futex_wait, do_nanosleep, pipe_read).
 * The walk's result and the time are kept under the thread's id; when the
 * same tracepoint later switches that thread back in (next), the time it
 * was away is added to its key's nanoseconds in the off-CPU count map.
 * (tp_btf, not kprobes or fentry on finish_task_switch: the machines this
 * runs on may have neither.)
 *
 * A thread preempted while still runnable is not waiting, and is left
 * alone, as is a kernel thread (its waits are idle loops, not an
 * application's). The time between a wake-up and running again, on the run
 * queue, is part of the wait, as in bcc's offcputime.
 *
 * A wait usually spans drains, so its stacks cannot go into the generation
 * maps the agent clears every second: they go into one LRU map of their
 * own, looked up (and so kept fresh) again when the wait ends. A stack
 * evicted meanwhile loses that wait, counted with its nanoseconds. Trace
 * links are kept the same way.
 *
 * A wait under way at a drain is added up to then (flush_waits), so each
 * interval holds the blocked time inside it.
 *
 * Cost. A busy node switches 100k times a second, and a walk costs
 * microseconds, so only one sleeping switch in 2^offcpu_shift is walked,
 * chosen at random, and the wait it records counts 2^shift times: an
 * unbiased estimate of each stack's time. The agent sets the shift every
 * drain from the rate of sleeping switches (see agent/sampler.c); at the
 * rates of ordinary programs it is 0 and every wait is exact. Every wait,
 * walked or not, is also timed (a clock read and a store): the thread's
 * measured time, against which the agent scales the walked waits' estimate
 * (struct ember_thread_wait), so a thread's total is exact even when its
 * time sits in a few long waits among many short ones.
 */
#ifndef EMBER_OFFCPU_BPF_H
#define EMBER_OFFCPU_BPF_H

/* Set by the agent before load: waits shorter than this are not added. */
const volatile __u64 offcpu_min_ns = 1000;
/* Set by the agent every drain: walk one sleeping switch in 2^offcpu_shift. */
__u32 offcpu_shift = 0;

/* key: struct ember_key; value: __u64 weighted nanoseconds. Drained by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, struct ember_key);
	__type(value, __u64);
} offcpu0 SEC(".maps"), offcpu1 SEC(".maps");
GENERATIONS(offcpu, struct ember_key, __u64);

/* key: stack hash; value: struct ember_stack. Off-CPU stacks, kept across drains. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1);
	__type(key, __u64);
	__type(value, struct ember_stack);
} offcpu_stacks SEC(".maps");

/* key: link hash; value: struct ember_link. The off-CPU waits' trace links. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1);
	__type(key, __u64);
	__type(value, struct ember_link);
} offcpu_links SEC(".maps");

/*
 * A thread's recorded wait (from_ns 0: none), in the thread's own task
 * storage: every switch looks up the thread coming in, and task storage
 * answers from a pointer in the task rather than a hash of its tid; it is
 * freed with the task, and has no capacity to fill.
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ember_wait);
} offcpu_waits SEC(".maps");

/*
 * key: (generation << 32) | tid; value: struct ember_thread_wait. The sums
 * of threads that exited, which the flush can no longer find in their task
 * storage; the agent reads and deletes the closed generation's.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct ember_thread_wait);
} offcpu_gone SEC(".maps");

/* include/linux/sched.h: the sleeping states and the kernel-thread flag. */
#define EMBER_TASK_INTERRUPTIBLE 0x1
#define EMBER_TASK_UNINTERRUPTIBLE 0x2
#define EMBER_PF_KTHREAD 0x00200000

/* Kernels before 5.14 call the state field "state". */
struct task_struct___pre514 {
	long state;
} __attribute__((preserve_access_index));

static __always_inline __u32 task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return t->__state;
	return (__u32)((struct task_struct___pre514 *)t)->state;
}

/* Stores @st under @h in the off-CPU stack map. Returns @h, or 0 if it cannot be stored. */
static __always_inline __u64 offcpu_store_stack(struct ember_stack *st, __u64 h)
{
	if (bpf_map_lookup_elem(&offcpu_stacks, &h))
		return h;
	return bpf_map_update_elem(&offcpu_stacks, &h, st, BPF_ANY) == 0 ? h : 0;
}

/*
 * Adds @ns (weighted) nanoseconds under @key to generation @gen's off-CPU
 * counts. Returns 0, or -1 when they were lost (counted).
 */
static __always_inline int offcpu_add(struct ember_key *key, __u64 ns, __u32 gen)
{
	__u64 *v, zero = 0;
	void *counts;

	/* The lookups keep the stacks fresh in the LRU until the agent reads them. */
	if ((key->ustack && !bpf_map_lookup_elem(&offcpu_stacks, &key->ustack)) ||
	    (key->kstack && !bpf_map_lookup_elem(&offcpu_stacks, &key->kstack))) {
		add_metric(EMBER_M_OFFCPU_LOST_NS, ns);
		return -1;
	}
	if (key->link && !bpf_map_lookup_elem(&offcpu_links, &key->link))
		key->link = 0; /* the time stays; only the span is gone */
	counts = bpf_map_lookup_elem(&offcpu_gen, &gen);
	if (!counts)
		return -1; /* cannot happen: the array is full */
	v = bpf_map_lookup_elem(counts, key);
	if (!v) {
		/* EEXIST (another CPU added the key first) is fine: look it up again. */
		bpf_map_update_elem(counts, key, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(counts, key);
	}
	if (!v) {
		count_metric(EMBER_M_OFFCPU_COUNTS_FULL);
		add_metric(EMBER_M_OFFCPU_LOST_NS, ns);
		return -1;
	}
	__sync_fetch_and_add(v, ns);
	add_metric(EMBER_M_OFFCPU_NS, ns);
	return 0;
}

/* @t's context switches so far (the scheduler counts the current one before the tracepoint). */
static __always_inline __u32 task_switches(const struct task_struct *t)
{
	return (__u32)(t->nvcsw + t->nivcsw);
}

/*
 * Whether @next's waker ran late by the time @w's recording took: @prev,
 * switching out for @next on this CPU, came in when @w was recorded here,
 * has run since without a switch, and the last thread it woke is @next.
 */
static __always_inline int offcpu_waker_late(const struct ember_wait *w, struct task_struct *prev,
					     struct task_struct *next)
{
	if (w->next_tid != prev->pid || w->cpu != bpf_get_smp_processor_id() ||
	    task_switches(prev) != w->next_switches + 1)
		return 0;
	if (!bpf_core_field_exists(prev->last_wakee))
		return 0; /* a kernel without CONFIG_SMP: cannot tell */
	return (unsigned long)prev->last_wakee == (unsigned long)next;
}

/* @next runs again (after @prev): adds its wait, if one was recorded. */
static __always_inline void offcpu_end(struct task_struct *prev, struct task_struct *next)
{
	struct ember_wait *w = bpf_task_storage_get(&offcpu_waits, next, 0, 0);
	struct ember_key key;
	__u64 now, from, ns;
	__u32 gen;

	if (!w || !w->from_ns)
		return;
	now = bpf_ktime_get_ns();
	/* Taken with an exchange: a drain's flush_waits() may be moving it. */
	from = __sync_lock_test_and_set(&w->from_ns, 0);
	if (!from)
		return;
	if (now - w->began_ns < offcpu_min_ns) {
		if (w->weight)
			count_metric(EMBER_M_OFFCPU_SHORT);
		return;
	}
	gen = active ? 1 : 0;
	/* The agent sums the threads' measured time from the flush: no metric to add here. */
	__sync_fetch_and_add(&w->measured_ns[gen], now - from);
	if (!w->weight)
		return; /* not walked: the thread's walked waits carry its time */
	/*
	 * The wait began before the recording (see offcpu_begin()). When the
	 * recording held up the waker, this wait is longer than the unrecorded
	 * ones it stands for by the recording's time; taking all but one
	 * weight's share of that off keeps the weighted total what it would
	 * have been (at weight 1 nothing changes: this wait is the truth).
	 */
	if (w->weight > 1 && offcpu_waker_late(w, prev, next)) {
		from += (__u64)w->walk_ns * (w->weight - 1) / w->weight;
		count_metric(EMBER_M_OFFCPU_WAKER_LATE);
	}
	key = w->key;
	ns = now > from ? (now - from) * w->weight : 0;
	if (offcpu_add(&key, ns, gen) == 0) {
		__sync_fetch_and_add(&w->weighted_ns[gen], ns);
		count_metric(EMBER_M_OFFCPU_WAITS);
	} else if (key.ustack || key.kstack) {
		count_metric(EMBER_M_OFFCPU_STACK_LOST);
	}
}

/* Takes @w's two sums for generation @gen into @tw, leaving them zero. Returns the measured. */
static __always_inline __u64 offcpu_take_sums(struct ember_wait *w, __u32 gen,
					      struct ember_thread_wait *tw)
{
	tw->measured_ns = __sync_lock_test_and_set(&w->measured_ns[gen & 1], 0);
	tw->weighted_ns = __sync_lock_test_and_set(&w->weighted_ns[gen & 1], 0);
	return tw->measured_ns;
}

/*
 * Set by the agent before it runs flush_waits(): the generation it closed,
 * which it reads next.
 */
__u32 flush_gen = 0;

/*
 * For the agent's drain (flush_waits, a task iterator, calls it per task): a
 * thread still waiting has the time so far added to the generation being
 * closed, and counts on from now. A thread blocked for an hour then shows
 * in each interval with that interval's share, not all at once when it
 * wakes, and the last profile of a run holds the waits still under way.
 * The compare-and-swap loses to a wake-up on another CPU in between, which
 * then adds the whole time itself.
 */
static __always_inline void offcpu_flush(struct seq_file *seq, struct task_struct *task)
{
	struct ember_wait *w = bpf_task_storage_get(&offcpu_waits, task, 0, 0);
	struct ember_thread_wait tw;
	__u32 gen = flush_gen & 1;
	__u64 from, now, ns;

	if (!w)
		return;
	from = w->from_ns;
	now = bpf_ktime_get_ns();
	if (from && now > from && now - w->began_ns >= offcpu_min_ns &&
	    __sync_val_compare_and_swap(&w->from_ns, from, now) == from) {
		__sync_fetch_and_add(&w->measured_ns[gen], now - from);
		tw.key = w->key;
		ns = (now - from) * w->weight;
		if (w->weight && offcpu_add(&tw.key, ns, gen) == 0) {
			__sync_fetch_and_add(&w->weighted_ns[gen], ns);
			count_metric(EMBER_M_OFFCPU_UNDER_WAY);
		}
	}
	/* The generation's two sums for the thread, to the agent, and zero for the next use. */
	if (!offcpu_take_sums(w, gen, &tw))
		return;
	/*
	 * A thread never walked has no stack to show its time under: it waits
	 * in the open generation for the thread's first walk (or is lost
	 * with the thread, if that never comes).
	 */
	if (!w->key.ustack && !w->key.kstack) {
		__sync_fetch_and_add(&w->measured_ns[gen ^ 1], tw.measured_ns);
		return;
	}
	tw.key = w->key;
	bpf_seq_write(seq, &tw, sizeof(tw));
}

/* Thread @p exits: its sums per generation go where the agent's drain finds them. */
static __always_inline void offcpu_exit(struct task_struct *p)
{
	struct ember_wait *w = bpf_task_storage_get(&offcpu_waits, p, 0, 0);
	struct ember_thread_wait tw;

	if (!w)
		return;
	for (__u32 gen = 0; gen < 2; gen++) {
		__u64 k = ((__u64)gen << 32) | (__u32)p->pid;

		if (!offcpu_take_sums(w, gen, &tw))
			continue;
		tw.key = w->key;
		tw.key.tid = (__u32)p->pid; /* a thread never walked has no key yet */
		tw.key.tgid = (__u32)p->tgid;
		if (bpf_map_update_elem(&offcpu_gone, &k, &tw, BPF_ANY))
			count_metric(EMBER_M_OFFCPU_GONE_FULL);
	}
}

/*
 * Whether @w's stacks, from the thread's last recorded wait, hold for this
 * one: the same user registers and top of stack (read into @top), both
 * stacks still stored, and no Python frames (the interpreter's native
 * stack is the same under different Python functions).
 */
static __always_inline int offcpu_same_stacks(struct ember_wait *w, const __u64 *regs,
					      const __u64 *top, __u32 tgid)
{
	if (!w->key.ustack || !w->key.kstack || w->key.tgid != tgid)
		return 0;
	for (int i = 0; i < 4; i++)
		if (w->regs[i] != regs[i])
			return 0;
	for (int i = 0; i < EMBER_WAIT_TOP_WORDS; i++)
		if (w->top[i] != top[i])
			return 0;
	if (python_frames && py_procs_n && bpf_map_lookup_elem(&py_procs, &tgid))
		return 0;
	return bpf_map_lookup_elem(&offcpu_stacks, &w->key.ustack) &&
	       bpf_map_lookup_elem(&offcpu_stacks, &w->key.kstack);
}

/* The current thread (@prev) leaves the CPU to sleep, for @next: records its stacks. */
static __always_inline void offcpu_begin(void *ctx, struct task_struct *prev,
					 struct task_struct *next)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), now, regs[4] = {}, *top;
	struct ember_stack *st, *ust;
	struct ember_key key = {};
	struct walk_state *ws;
	struct ember_wait *w;
	struct ember_link *l;
	struct pt_regs *ur;
	__u32 slot = SLOT_SWITCH, shift = offcpu_shift & 15;

	key.tgid = pid_tgid >> 32;
	key.tid = (__u32)pid_tgid;
	if ((filter_pids && !bpf_map_lookup_elem(&pid_filter, &key.tgid)) ||
	    (filter_cgroup && bpf_current_task_under_cgroup(&cgroup_filter, 0) != 1))
		return;
	count_metric(EMBER_M_OFFCPU_SWITCHES);
	if (prev->flags & EMBER_PF_KTHREAD) {
		count_metric(EMBER_M_OFFCPU_KTHREAD);
		return;
	}
	if (shift && (bpf_get_prandom_u32() & ((1u << shift) - 1))) {
		w = bpf_task_storage_get(&offcpu_waits, prev, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (!w) {
			count_metric(EMBER_M_OFFCPU_WAITS_FULL);
			return;
		}
		/*
		 * Timed only. (Walking a thread's first wait regardless would
		 * walk, and have the agent read, every short-lived process
		 * that ever sleeps: a shell loop's worth a second.)
		 */
		now = bpf_ktime_get_ns();
		w->began_ns = now;
		w->weight = 0;
		__sync_lock_test_and_set(&w->from_ns, now);
		count_metric(EMBER_M_OFFCPU_UNSAMPLED);
		return;
	}
	/*
	 * The wait starts before the walk: the scheduler stopped counting the
	 * thread's CPU time when it chose the next thread, before this
	 * tracepoint ran, so the walk is already time away from the CPU. An
	 * unwalked wait is as long, except where the walk held up the waker:
	 * the thread that comes in next on this CPU and then wakes this one
	 * (a pipe's sync wake-up). offcpu_end() tells that case by the waker,
	 * and weighs this wait's walk time as one wait's, not as the weight's.
	 */
	now = bpf_ktime_get_ns();
	st = bpf_map_lookup_elem(&scratch, &slot);
	ws = bpf_map_lookup_elem(&walk_state, &slot);
	l = bpf_map_lookup_elem(&link_scratch, &slot);
	if (!st || !ws || !l)
		return; /* cannot happen: the arrays are full */
	w = bpf_task_storage_get(&offcpu_waits, prev, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!w) {
		count_metric(EMBER_M_OFFCPU_WAITS_FULL); /* no memory for the storage */
		return;
	}
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	/* The top of the user stack, into the walk's window (the walk reads it afresh). */
	top = (__u64 *)ws->win;
	ur = (struct pt_regs *)bpf_task_pt_regs(prev);
	if (ur) {
		regs[0] = BPF_CORE_READ(ur, ip);
		regs[1] = BPF_CORE_READ(ur, sp);
		regs[2] = BPF_CORE_READ(ur, bp);
		regs[3] = BPF_CORE_READ(ur, orig_ax);
	}
	if (!regs[1] || bpf_probe_read_user(top, EMBER_WAIT_TOP_WORDS * 8, (void *)regs[1]))
		regs[1] = 0; /* no top to compare: walk, and cache nothing */
	if (regs[1] && offcpu_same_stacks(w, regs, top, key.tgid)) {
		key.ustack = w->key.ustack;
		key.kstack = w->key.kstack;
		count_metric(EMBER_M_OFFCPU_REUSED);
	} else {
		w->regs[1] = 0; /* the cache is being replaced */
		for (int i = 0; i < EMBER_WAIT_TOP_WORDS; i++)
			w->top[i] = regs[1] ? top[i] : 0;
		key.kstack = kernel_stack(ctx, st, 0);
		key.ustack = full_user_stack(ctx, ws, slot, prev, key.tgid, key.tid, 0,
					     EMBER_M_OFFCPU_USTACK_FAULT, &ust);
		if (key.kstack)
			key.kstack = offcpu_store_stack(st, key.kstack);
		if (key.ustack)
			key.ustack = offcpu_store_stack(ust, key.ustack);
		w->regs[0] = regs[0];
		w->regs[2] = regs[2];
		w->regs[3] = regs[3];
		w->regs[1] = regs[1];
	}
	key.link = read_link(l, prev, key.tgid, pid_tgid);
	if (key.link && !bpf_map_lookup_elem(&offcpu_links, &key.link) &&
	    bpf_map_update_elem(&offcpu_links, &key.link, l, BPF_ANY))
		key.link = 0;
	/*
	 * The thread is running, so no wait of its own is under way (from_ns
	 * 0) and flush_waits() skips it; from_ns goes last, by an exchange
	 * (a full barrier), so a flush that sees it sees the rest.
	 */
	w->key = key;
	w->began_ns = now;
	w->walk_ns = bpf_ktime_get_ns() - now;
	w->next_tid = next->pid;
	w->next_switches = task_switches(next);
	w->cpu = bpf_get_smp_processor_id();
	w->weight = 1u << shift;
	__sync_lock_test_and_set(&w->from_ns, now);
	count_metric(EMBER_M_OFFCPU_RECORDED);
	/* A process that only ever sleeps is named too: read its mappings. */
	remember_process(key.tgid);
}

#endif /* EMBER_OFFCPU_BPF_H */
