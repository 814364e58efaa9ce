/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * The user-stack unwinder: the .eh_frame rows the agent builds per 64 KiB
 * chunk (the layout is emberprof.h's essay), the (tgid, address) trie of
 * executable mappings, and the walk itself, one bpf_loop iteration per
 * frame, with a frame-pointer step where no table covers the code.
 */
#ifndef EMBER_UNWIND_BPF_H
#define EMBER_UNWIND_BPF_H

/*
 * index: row number; value: struct ember_row. Filled by the agent, one range
 * per chunk, through a short-lived mmap of the pages it writes.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ember_row);
} unwind_rows SEC(".maps");

/*
 * index: chunk slot; value: struct ember_chunk. Written in place by the
 * agent (mmap) and by walks (used, requested).
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ember_chunk);
} unwind_chunks SEC(".maps");

/* Bumped by the agent at every drain: what a walk stamps into a chunk's used. */
__u32 unwind_epoch = 0;

/* key: (tgid, address) prefixes; value: struct ember_exec_map. Filled by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ember_lpm_key);
	__type(value, struct ember_exec_map);
} exec_maps SEC(".maps");

/*
 * Bytes of user stack copied at once. A walk reads two words per frame (the
 * return address, often the saved rbp) at rising addresses, and each
 * bpf_probe_read_user costs about as much as the rest of a frame's work; one
 * copy of the stack above the current frame serves the frames whose slots
 * fall inside it (some 20-40 frames of compiled code), and a slot beyond it
 * copies the next window. A power of two, so that masked offsets stay inside.
 */
#define STACK_WINDOW 1024
#define PAGE_BYTES 4096
#define USER_TOP 0x800000000000ULL /* x86-64: user addresses lie below 2^47 */

/*
 * The walker's registers, its caches and the user stack it builds (by
 * frame pointers too): per CPU, as it is over 3 KiB. Two per CPU, one per
 * program that walks (SLOT_SAMPLE, SLOT_SWITCH), because a perf event's NMI
 * can land in the middle of the switch program's walk on the same CPU.
 */
struct walk_state {
	__u64 ip, sp, bp;
	__u32 tgid;
	__u32 bp_unknown;
	/*
	 * The mappings of the last two frames that changed file (end 0: none).
	 * A stack crosses between the executable and libc and back (main,
	 * __libc_start_main, _start), so two spare most trie lookups.
	 */
	struct ember_exec_map last, prev;
	__u64 win_base, win_len; /* the user stack bytes in win: [win_base, +win_len) */
	/*
	 * The row of the previous frame: a copy, and the file addresses it covers
	 * in chunk slot row_slot (0: none; the agent never hands out slot 0).
	 * Recursion and loops of calls repeat a function frame after frame;
	 * they skip the chunk lookup and the binary search.
	 */
	struct ember_row row;
	__u64 row_start, row_end;
	__u32 row_slot;
	/* A frame-pointer step was taken: later addresses may be any stack word. */
	__u32 guessed;
	__u8 win[STACK_WINDOW];
	struct ember_stack stack;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLOT_NR);
	__type(key, __u32);
	__type(value, struct walk_state);
} walk_state SEC(".maps");

/*
 * The last row of the chunk's @n rows from @first at or below file address
 * @pc; NULL if none. Sets *@next_pc to where that row stops holding: the next
 * row's pc, or 2^32 after the last row.
 */
static __always_inline struct ember_row *find_row(__u32 first, __u32 n, __u64 pc, __u64 *next_pc)
{
	__u32 lo = first, hi = first + n, idx;
	struct ember_row *r;

	if (pc > 0xffffffffULL)
		return NULL;
	for (int i = 0; i < EMBER_ROW_SEARCH_STEPS; i++) {
		__u32 mid;

		if (lo >= hi)
			break;
		mid = lo + (hi - lo) / 2;
		r = bpf_map_lookup_elem(&unwind_rows, &mid);
		if (!r)
			return NULL;
		if (r->pc <= (__u32)pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == first)
		return NULL;
	*next_pc = 1ULL << 32;
	if (lo < first + n) {
		r = bpf_map_lookup_elem(&unwind_rows, &lo);
		if (r)
			*next_pc = r->pc;
	}
	idx = lo - 1;
	return bpf_map_lookup_elem(&unwind_rows, &idx);
}

/*
 * The row for file address @fpc of mapping @m into @s->row, through its
 * chunk: the chunk is stamped as used, and one found unbuilt is asked for
 * (once: the first walk to find it sets requested). Returns 0, or the
 * metric of the frame-pointer fallback to take instead.
 */
static __always_inline __u32 chunk_row(struct walk_state *s, const struct ember_exec_map *m,
				       __u64 fpc)
{
	struct ember_chunk *c;
	struct ember_row *row;
	__u64 rows, next_pc = 0;
	__u32 slot, idx, first, n;

	if (!m->nslots)
		return EMBER_M_FP_NO_EH_FRAME;
	idx = (__u32)(fpc >> EMBER_CHUNK_SHIFT) - m->chunk0;
	if ((fpc >> EMBER_CHUNK_SHIFT) > 0xffffffffULL || idx >= m->nslots)
		return EMBER_M_FP_GAP;
	slot = m->first_slot + idx;
	if (slot == s->row_slot && fpc >= s->row_start && fpc < s->row_end)
		return 0;
	c = bpf_map_lookup_elem(&unwind_chunks, &slot);
	if (!c)
		return EMBER_M_FP_GAP;
	rows = *(volatile __u64 *)&c->rows;
	if (!rows) {
		/*
		 * Not atomic (32-bit atomics need a newer BPF ISA than clang 14
		 * emits by default): two CPUs may both ask, and the agent ignores
		 * the second request.
		 */
		if (!c->requested) {
			c->requested = 1;
			if (send_event(EMBER_EV_NEED_CHUNK, s->tgid, slot))
				c->requested = 0; /* not delivered: the next walk asks again */
		}
		return EMBER_M_FP_PENDING;
	}
	/* Written only when it changes: a cache line every CPU reads stays shared. */
	if (rows == EMBER_CHUNK_NO_TABLE)
		return EMBER_M_FP_NO_EH_FRAME; /* found out at its first build */
	if (c->used != unwind_epoch)
		c->used = unwind_epoch;
	first = (__u32)rows;
	n = (__u32)(rows >> 32);
	row = find_row(first, n, fpc, &next_pc);
	if (!row)
		return EMBER_M_FP_GAP;
	s->row = *row;
	s->row_slot = slot;
	s->row_start = row->pc;
	s->row_end = next_pc;
	return 0;
}

/*
 * The user word at @addr, through the stack window: from the copy when it
 * holds @addr, else after copying STACK_WINDOW bytes from @addr. A window that
 * would run past the top of the stack faults as a whole, so then only the
 * rest of @addr's page is copied (mapped whenever @addr is). Returns 0, or
 * -1 when @addr cannot be read.
 */
static __always_inline int read_stack(struct walk_state *s, __u64 addr, __u64 *out)
{
	__u64 off = addr - s->win_base, size = STACK_WINDOW;

	if (addr >= s->win_base && off + 8 <= s->win_len && !(off & 7)) {
		if (off > STACK_WINDOW - 8)
			return -1; /* cannot happen (win_len <= STACK_WINDOW); for the verifier */
		*out = *(__u64 *)&s->win[off];
		return 0;
	}
	if (bpf_probe_read_user(s->win, STACK_WINDOW, (void *)addr)) {
		size = PAGE_BYTES - (addr & (PAGE_BYTES - 1));
		/* A window inside one page fails only when @addr itself is unmapped. */
		if (size < 8 || size >= STACK_WINDOW ||
		    bpf_probe_read_user(s->win, size & (STACK_WINDOW - 1), (void *)addr)) {
			s->win_len = 0;
			return bpf_probe_read_user(out, sizeof(*out), (void *)addr) ? -1 : 0;
		}
	}
	s->win_base = addr;
	s->win_len = size;
	*out = *(__u64 *)&s->win[0];
	return 0;
}

/*
 * Ends a walk before the outermost frame: counts @reason and records it as
 * the stack's outermost entry, EMBER_STOP_IP(@reason) (see emberprof.h). A
 * full stack gives up its outermost frame for the marker. Returns 1, what a
 * step returns to stop the loop.
 */
static __always_inline long stop_walk(struct walk_state *s, __u32 reason)
{
	__u32 n = s->stack.len;

	count_metric(reason);
	if (n >= EMBER_MAX_STACK)
		n = EMBER_MAX_STACK - 1;
	s->stack.ips[n & (EMBER_MAX_STACK - 1)] = EMBER_STOP_IP(reason);
	s->stack.len = n + 1;
	return 1;
}

/*
 * One frame-pointer step, for code with no table. Returns 0 to go on, 1 to
 * stop. rbp 0, or a return address of 0, is where a frame chain ends (_start
 * and clone3 clear rbp): a complete walk; any other rbp that cannot be a
 * frame is an early stop.
 */
static __always_inline long fp_step(struct walk_state *s)
{
	__u64 bp, ip; /* saved rbp, return address */

	if (s->bp_unknown) {
		return stop_walk(s, EMBER_M_UNWIND_RBP_LOST);
	}
	if (!s->bp) {
		count_metric(EMBER_M_UNWIND_COMPLETE);
		return 1;
	}
	/*
	 * rbp equal to rsp is a frame: a function with no locals pushes rbp and
	 * copies rsp into it. The next sp is above both, so the walk moves on.
	 */
	if (s->bp < s->sp || s->bp & 7) {
		return stop_walk(s, EMBER_M_UNWIND_FP_END);
	}
	if (read_stack(s, s->bp, &bp) || read_stack(s, s->bp + 8, &ip)) {
		return stop_walk(s, EMBER_M_UNWIND_READ_FAULT);
	}
	if (!ip) {
		count_metric(EMBER_M_UNWIND_COMPLETE);
		return 1;
	}
	/*
	 * In code built without frame pointers rbp is any value: a step through
	 * it reads stack words that are not a frame. A return address below the
	 * first page or above the user half (0x1212121212121211, 0x7) is such a
	 * word; the walk stops there rather than record it.
	 */
	if (ip < PAGE_BYTES || ip >= USER_TOP) {
		return stop_walk(s, EMBER_M_UNWIND_FP_END);
	}
	s->sp = s->bp + 16;
	s->bp = bp;
	s->ip = ip;
	s->guessed = 1;
	return 0;
}

/* bpf_loop body: record the current frame, then step to its caller. @slot: whose walk_state. */
static long unwind_step(__u32 i, void *slot)
{
	struct ember_lpm_key key = {.prefixlen = 96};
	struct ember_exec_map *m;
	struct walk_state *s;
	__u64 pc, cfa, ra;
	__u32 n, fallback;
	__s32 rbp_off;

	s = bpf_map_lookup_elem(&walk_state, slot);
	if (!s)
		return 1;
	n = s->stack.len;
	if (n >= EMBER_MAX_STACK) {
		return stop_walk(s, EMBER_M_UNWIND_DEPTH_CUT);
	}
	s->stack.ips[n & (EMBER_MAX_STACK - 1)] = s->ip;
	s->stack.len = n + 1;

	/* A caller's ip is a return address: the call is the byte before it. */
	pc = n ? s->ip - 1 : s->ip;
	/* Callers often sit in the same file as their callee: skip the trie then. */
	if (pc >= s->last.start && pc < s->last.end) {
		m = &s->last;
	} else if (pc >= s->prev.start && pc < s->prev.end) {
		struct ember_exec_map t = s->last;

		s->last = s->prev;
		s->prev = t;
		m = &s->last;
	} else {
		key.tgid_be = bpf_htonl(s->tgid);
		key.addr_be = bpf_cpu_to_be64(pc);
		m = bpf_map_lookup_elem(&exec_maps, &key);
		s->prev = s->last;
		if (m)
			s->last = *m;
		else
			s->last.end = 0;
	}
	if (!m) {
		fallback = EMBER_M_FP_NO_FILE;
		/* Not a stack word a frame-pointer step read: a mapping not read yet. */
		if (!s->guessed)
			ask_remap(s->tgid);
	} else if (m->flags & EMBER_EXEC_NO_FILE) {
		fallback = EMBER_M_FP_NO_FILE;
	} else {
		fallback = chunk_row(s, m, pc - m->bias);
	}
	if (!fallback && ember_row_cfa_rule(&s->row) == EMBER_CFA_GAP)
		fallback = EMBER_M_FP_GAP;
	if (fallback) {
		count_metric(fallback);
		return fp_step(s);
	}
	switch (ember_row_cfa_rule(&s->row)) {
	case EMBER_CFA_RSP:
		cfa = s->sp + ember_row_cfa_off(&s->row);
		break;
	case EMBER_CFA_RBP:
		if (s->bp_unknown) {
			return stop_walk(s, EMBER_M_UNWIND_RBP_LOST);
		}
		cfa = s->bp + ember_row_cfa_off(&s->row);
		break;
	case EMBER_CFA_PLT:
		cfa = s->sp + ember_row_cfa_off(&s->row) +
		      ((s->ip & 15) >= ember_row_aux(&s->row) ? 8 : 0);
		break;
	case EMBER_CFA_END:
		count_metric(EMBER_M_UNWIND_COMPLETE);
		return 1; /* the outermost frame: a complete stack */
	case EMBER_CFA_SIGNAL:
		return stop_walk(s, EMBER_M_UNWIND_SIGNAL);
	default:
		return stop_walk(s, EMBER_M_UNWIND_UNSUPPORTED);
	}
	/* The stack grows down: a caller's frame is always above its callee's. */
	if (cfa <= s->sp) {
		return stop_walk(s, EMBER_M_UNWIND_BAD_CFA);
	}
	/* The saved rbp lies below the return address: read it first, so one window serves both. */
	if (ember_row_rbp_rule(&s->row) == EMBER_RBP_AT_CFA) {
		rbp_off = ember_row_rbp_off(&s->row);
		if (read_stack(s, cfa + rbp_off, &s->bp)) {
			return stop_walk(s, EMBER_M_UNWIND_READ_FAULT);
		}
		s->bp_unknown = 0;
	} else if (ember_row_rbp_rule(&s->row) == EMBER_RBP_UNKNOWN) {
		s->bp_unknown = 1;
	}
	if (read_stack(s, cfa - 8, &ra)) {
		return stop_walk(s, EMBER_M_UNWIND_READ_FAULT);
	}
	s->sp = cfa;
	s->ip = ra;
	if (ra)
		return 0;
	return stop_walk(s, EMBER_M_UNWIND_ZERO_RA);
}

/*
 * Walks the user stack into @s (walk_state[@slot]). Returns its hash, 0 for
 * none (counted under @fault_metric).
 */
static __always_inline __u64 dwarf_user_stack(struct bpf_perf_event_data *ctx, struct walk_state *s,
					      __u32 slot, struct task_struct *task, __u32 tgid,
					      int user_mode, __u32 fault_metric)
{
	if (user_mode) {
		/* Interrupted in user mode: the sample's registers are the user's. */
		s->ip = CTX_REG(ctx, ip);
		s->sp = CTX_REG(ctx, sp);
		s->bp = CTX_REG(ctx, bp);
	} else {
		/* In the kernel: the user registers were saved at kernel entry. */
		struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);

		if (!regs) {
			count_metric(fault_metric);
			return 0;
		}
		s->ip = BPF_CORE_READ(regs, ip);
		s->sp = BPF_CORE_READ(regs, sp);
		s->bp = BPF_CORE_READ(regs, bp);
	}
	s->bp_unknown = 0;
	s->tgid = tgid;
	s->last.start = s->last.end = 0;
	s->prev.start = s->prev.end = 0;
	s->win_base = s->win_len = 0;
	s->row_start = s->row_end = 0;
	s->row_slot = 0;
	s->guessed = 0;
	s->stack.len = 0;
	if (!s->ip) {
		count_metric(fault_metric);
		return 0;
	}
	/* One iteration more than frames kept: a walk still going then is cut, and counted. */
	bpf_loop(EMBER_MAX_STACK + 1, unwind_step, &slot, 0);
	return s->stack.len ? hash_stack(&s->stack) : 0;
}

/*
 * Fills @s->stack (@s is walk_state[@slot]) with the user stack. Returns its
 * hash, 0 for none. @ctx is the program's own: bpf_get_stack takes any.
 */
static __always_inline __u64 user_stack(void *ctx, struct walk_state *s, __u32 slot,
					struct task_struct *task, __u32 tgid, int user_mode,
					__u32 fault_metric)
{
	long n;

	/* Kernel threads have no user half (a sample in user mode has one). */
	if (!user_mode && !BPF_CORE_READ(task, mm))
		return 0;
	if (dwarf_unwind)
		return dwarf_user_stack(ctx, s, slot, task, tgid, user_mode, fault_metric);
	n = bpf_get_stack(ctx, s->stack.ips, sizeof(s->stack.ips), BPF_F_USER_STACK);
	if (n <= 0) {
		count_metric(fault_metric);
		return 0;
	}
	s->stack.len = n / sizeof(__u64);
	/*
	 * The kernel stops at perf_event_max_stack frames without saying so: a
	 * stack that long was most likely cut, and is marked and counted as
	 * cut rather than passed off as whole.
	 */
	if (s->stack.len >= fp_max_frames) {
		__u32 i = s->stack.len < EMBER_MAX_STACK ? s->stack.len : EMBER_MAX_STACK - 1;

		/*
		 * Masked in the register the store uses: clang drops a plain
		 * mask it can prove redundant, and the verifier does not carry
		 * the bound over from the copy clang compared.
		 */
		asm volatile("%[i] &= %[m]" : [i] "+r"(i) : [m] "i"(EMBER_MAX_STACK - 1));
		s->stack.ips[i] = EMBER_STOP_IP(EMBER_M_UNWIND_DEPTH_CUT);
		s->stack.len = i + 1;
		count_metric(EMBER_M_UNWIND_DEPTH_CUT);
	}
	return hash_stack(&s->stack);
}

#endif /* EMBER_UNWIND_BPF_H */
