/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * CPython frames, read from the interpreter's own memory at each sample.
 *
 * The agent finds CPython in a process (agent/python.c) and puts its layout
 * in py_procs. At a sample of such a process:
 *   1. The sampled thread's PyThreadState is the one whose thread_id is the
 *      thread's pthread_self(), which glibc makes the thread pointer (fsbase
 *      on x86-64). It is found by walking the interpreter's thread list and
 *      kept per tid in py_threads, checked again at every use. The thread
 *      holding the GIL is not the question: each thread has its own frames.
 *   2. Its frame chain is walked, innermost first, one bpf_loop iteration a
 *      frame, into py_state.frames: for each, the code object and the
 *      instruction it is at. Each frame is one read of its first
 *      EMBER_PY_FRAME_READ bytes plus one of its code object's type, which
 *      must be PyCode_Type: a freed or torn frame points anywhere, and the
 *      walk ends there (counted) rather than record it.
 *   3. The native user stack is rewritten into py_state.out: every native
 *      frame in _PyEval_EvalFrameDefault is replaced by the Python frames it
 *      runs, innermost first. One C call of the interpreter runs the frames
 *      from the innermost down to an entry frame: in 3.10 each frame has its
 *      own C call; 3.11 marks the entry frame (is_entry); 3.12 and 3.13 push
 *      a shim frame owned by the C stack (FRAME_OWNED_BY_CSTACK) below it,
 *      which is skipped. C code called from Python thus stays above its
 *      Python caller, and the interpreter's own frames below main stay put.
 *      Python frames that no native frame claims (a native walk that ended
 *      early) go at the root, before any stop marker, and are counted.
 */
#ifndef EMBER_PYTHON_BPF_H
#define EMBER_PYTHON_BPF_H

/* Set by the agent before load: nonzero unless --no-python. */
const volatile __u32 python_frames = 0;

/* Entries in py_procs, kept by the agent; while 0, samples skip the lookup. */
__u32 py_procs_n = 0;

/* key: tgid; value: struct ember_py_proc. Filled by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct ember_py_proc);
} py_procs SEC(".maps");

/*
 * key: tid; value: its PyThreadState's address, checked at each use, or
 * PY_NO_STATE(second) for a thread that had none when last searched.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} py_threads SEC(".maps");

/* Threads of one interpreter searched for the sampled one. */
#define PY_MAX_THREADS 256
#define PY_CODES_SEEN 4 /* a power of two */
#define PY_WINDOW 2048	/* a power of two */
#define PY_MERGE_RUN 8
#define PY_NO_STATE(second) (((second) << 1) | 1)

struct py_state {
	struct ember_py_proc proc;
	__u64 fsbase; /* the sampled thread's thread pointer */
	__u64 tstate; /* found by the thread-list search; 0: none */
	__u64 frame;  /* the walk's next frame; 0: the chain's end */
	/*
	 * Code objects this walk found to be PyCode_Type, so that a function
	 * recurring in the stack (recursion, a callback's two frames a level)
	 * costs no second read of its type. A ring of PY_CODES_SEEN.
	 */
	__u64 seen[PY_CODES_SEEN];
	__u32 nseen, pad0;
	__u32 n;    /* frames in frames[] */
	__u32 stop; /* the metric the walk ended under; 0: it reached the end */
	__u64 frames[EMBER_PY_MAX_FRAMES]; /* EMBER_PY_FRAME words, innermost first */
	__u8 entry[EMBER_PY_MAX_FRAMES];   /* the frame is the last one its C call runs */
	/*
	 * A copy of the user memory [win_base, win_base + win_len) that holds
	 * the frame being read. From 3.11 on frames are pushed on per-thread
	 * stacks of their own, each above the one it was called from, so one
	 * copy of PY_WINDOW bytes below the frame's end serves the next frames
	 * too, and a bpf_probe_read_user, which costs about as much as the rest
	 * of a frame's work, is paid every few frames, not at each one.
	 */
	__u64 win_base, win_len;
	__u8 win[PY_WINDOW];
	/* Rewriting the native stack: the next native frame and Python frame to place. */
	__u32 in, pos;
	__u32 unplaced, pad; /* a Python frame went where no eval frame claimed it */
	struct ember_stack out;
};

/* One per walking program, as walk_state is. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLOT_NR);
	__type(key, __u32);
	__type(value, struct py_state);
} py_state SEC(".maps");

/*
 * What the bpf_loop bodies work on, on the caller's stack: the verifier
 * follows the pointers spilled there, so a body needs no map lookup of its
 * own at every iteration.
 */
struct py_ctx {
	struct py_state *s;
	struct walk_state *ws;
	__u64 ts; /* the thread-list search's cursor */
};

static __always_inline int py_read(__u64 addr, __u64 *out)
{
	return bpf_probe_read_user(out, sizeof(*out), (void *)addr);
}

/* The word at @off of the window (offsets come from the agent: bounded here). */
static __always_inline __u64 py_win_u64(struct py_state *s, __u64 off)
{
	if (off > PY_WINDOW - 8)
		return 0;
	return *(__u64 *)&s->win[off & (PY_WINDOW - 1)];
}

static __always_inline __u8 py_win_u8(struct py_state *s, __u64 off)
{
	if (off >= PY_WINDOW)
		return 0;
	return s->win[off & (PY_WINDOW - 1)];
}

/*
 * Makes the window hold the EMBER_PY_FRAME_READ bytes at @addr. A window
 * that reaches below the start of the frame stack faults as a whole, so
 * then only the bytes from @addr's page on are copied. 3.10's frames are
 * heap objects, one here and one there: only the frame is copied. Returns
 * the frame's offset in the window, or -1 when it cannot be read.
 */
static __always_inline long py_window(struct py_state *s, __u64 addr)
{
	__u64 end = addr + EMBER_PY_FRAME_READ, base = addr, size;

	if (addr >= s->win_base && addr - s->win_base + EMBER_PY_FRAME_READ <= s->win_len)
		return (long)(addr - s->win_base);
	if (s->proc.minor != 10 && end > PY_WINDOW && end < USER_TOP) {
		base = end - PY_WINDOW;
		if (!bpf_probe_read_user(s->win, PY_WINDOW, (void *)base)) {
			s->win_base = base;
			s->win_len = PY_WINDOW;
			return (long)(addr - base);
		}
		base = addr & ~(__u64)(PAGE_BYTES - 1);
		if (base < end - PY_WINDOW)
			base = end - PY_WINDOW;
	}
	size = end - base;
	s->win_len = 0;
	if (size < EMBER_PY_FRAME_READ || size > PY_WINDOW ||
	    bpf_probe_read_user(s->win, size, (void *)base))
		return -1;
	s->win_base = base;
	s->win_len = size;
	return (long)(addr - base);
}

/*
 * @i masked into a stack's range in the register the access uses: clang
 * drops a plain mask it can prove redundant after a bounds check, and the
 * verifier does not carry the bound over from the copy clang compared.
 */
static __always_inline __u32 stack_index(__u32 i)
{
	asm volatile("%[i] &= %[m]" : [i] "+r"(i) : [m] "i"(EMBER_MAX_STACK - 1));
	return i;
}

/* bpf_loop body: one thread state of the list; stops at the sampled thread's. */
static long py_thread_step(__u32 i, void *ctx)
{
	struct py_ctx *c = ctx;
	struct py_state *s = c->s;
	__u64 id = 0;

	if (!c->ts)
		return 1;
	if (py_read(c->ts + s->proc.tstate_thread_id, &id))
		return 1;
	if (id == s->fsbase) {
		s->tstate = c->ts;
		return 1;
	}
	if (py_read(c->ts + s->proc.tstate_next, &c->ts))
		c->ts = 0;
	return 0;
}

/* The sampled thread's PyThreadState, or 0 (counted) when it has none. */
static __always_inline __u64 py_thread_state(struct py_ctx *c, __u32 tid)
{
	struct py_state *s = c->s;
	__u64 *cached = bpf_map_lookup_elem(&py_threads, &tid), interp = 0, id = 0, none;

	/*
	 * A thread found to have no state (a native thread of a Python
	 * program) is not searched for again within the same second, which a
	 * value of PY_NO_STATE(second) says: thread states are 8-aligned.
	 */
	none = PY_NO_STATE(bpf_ktime_get_ns() >> 30);
	if (cached && *cached == none) {
		count_metric(EMBER_M_PY_NO_THREAD);
		return 0;
	}
	if (cached && !(*cached & 1) && !py_read(*cached + s->proc.tstate_thread_id, &id) &&
	    id == s->fsbase)
		return *cached;
	s->tstate = 0;
	if (py_read(s->proc.runtime + s->proc.interp_head, &interp)) {
		count_metric(EMBER_M_PY_READ_FAULT);
		return 0;
	}
	/* No interpreter yet (a process still starting): no thread has a state. */
	if (!interp) {
		count_metric(EMBER_M_PY_NO_THREAD);
		return 0;
	}
	if (py_read(interp + s->proc.threads_head, &c->ts)) {
		count_metric(EMBER_M_PY_READ_FAULT);
		return 0;
	}
	bpf_loop(PY_MAX_THREADS, py_thread_step, c, 0);
	if (!s->tstate) {
		bpf_map_update_elem(&py_threads, &tid, &none, BPF_ANY);
		count_metric(EMBER_M_PY_NO_THREAD);
		return 0;
	}
	bpf_map_update_elem(&py_threads, &tid, &s->tstate, BPF_ANY);
	return s->tstate;
}

/* Ends the Python walk under @reason; returns 1 to stop the loop. */
static __always_inline long py_stop(struct py_state *s, __u32 reason)
{
	s->stop = reason;
	return 1;
}

/* bpf_loop body: records the frame at s->frame and moves to the one it was called from. */
static long py_frame_step(__u32 i, void *ctx)
{
	struct py_ctx *c = ctx;
	struct py_state *s = c->s;
	__u64 code, instr, type = 0, lasti = EMBER_PY_LASTI_NONE;
	__u32 n;
	__u8 entry = 0;
	long at;

	if (!s->frame)
		return 1;
	n = s->n;
	if (n >= EMBER_PY_MAX_FRAMES)
		return py_stop(s, EMBER_M_PY_DEPTH_CUT);
	at = py_window(s, s->frame);
	if (at < 0)
		return py_stop(s, EMBER_M_PY_READ_FAULT);
	if (s->proc.frame_owner != EMBER_PY_NONE &&
	    py_win_u8(s, at + s->proc.frame_owner) == EMBER_PY_OWNED_BY_CSTACK) {
		/* The shim below an entry into the interpreter: the frame above ends a C call. */
		if (n > 0)
			s->entry[(n - 1) & (EMBER_PY_MAX_FRAMES - 1)] = 1;
		s->frame = py_win_u64(s, at + s->proc.frame_previous);
		return 0;
	}
	code = py_win_u64(s, at + s->proc.frame_code);
	if (!code || code & 7 || code >= USER_TOP)
		return py_stop(s, EMBER_M_PY_BAD_OBJECT);
	if (code != s->seen[0] && code != s->seen[1] && code != s->seen[2] && code != s->seen[3]) {
		if (py_read(code + 8, &type)) /* ob_type */
			return py_stop(s, EMBER_M_PY_READ_FAULT);
		if (type != s->proc.code_type)
			return py_stop(s, EMBER_M_PY_BAD_OBJECT);
		s->seen[s->nseen & (PY_CODES_SEEN - 1)] = code;
		s->nseen++;
	}
	if (s->proc.minor == 10) {
		/* f_lasti: an index in code units, -1 before the first instruction. */
		__s32 l = (__s32)py_win_u64(s, at + s->proc.frame_instr);

		if (l >= 0 && l < EMBER_PY_LASTI_NONE)
			lasti = l;
		entry = 1; /* every frame has a C call of its own */
	} else {
		/* A pointer into the code's instructions (2-byte code units). */
		__u64 first = code + s->proc.code_adaptive;

		instr = py_win_u64(s, at + s->proc.frame_instr);
		if (instr >= first && (instr - first) / 2 < EMBER_PY_LASTI_NONE)
			lasti = (instr - first) / 2;
		if (s->proc.frame_entry != EMBER_PY_NONE)
			entry = py_win_u8(s, at + s->proc.frame_entry) != 0;
	}
	s->frames[n & (EMBER_PY_MAX_FRAMES - 1)] = EMBER_PY_FRAME(code, lasti);
	s->entry[n & (EMBER_PY_MAX_FRAMES - 1)] = entry;
	s->n = n + 1;
	s->frame = py_win_u64(s, at + s->proc.frame_previous);
	return 0;
}

/*
 * bpf_loop body: one word of the rewritten stack. Takes the next native
 * frame, or, after an eval frame (which is dropped), the next Python frame
 * until the one that ends its C call. Returns 1 when both are used up.
 */
static long py_merge_step(__u32 i, void *ctx)
{
	struct py_ctx *c = ctx;
	struct walk_state *ws = c->ws;
	struct py_state *s = c->s;
	__u32 o, in, pos;
	__u64 ip, pc;

	o = s->out.len;
	in = s->in;
	pos = s->pos;
	if (o >= EMBER_MAX_STACK) {
		/* Full with more to come: the outermost word becomes a depth cut's marker. */
		if (in < ws->stack.len || pos < s->n) {
			s->out.ips[EMBER_MAX_STACK - 1] = EMBER_STOP_IP(EMBER_M_UNWIND_DEPTH_CUT);
			count_metric(EMBER_M_UNWIND_DEPTH_CUT);
		}
		return 1;
	}
	if (in >= ws->stack.len || in >= EMBER_MAX_STACK) {
		/* What no eval frame claimed goes at the root. */
		if (pos >= s->n || pos >= EMBER_PY_MAX_FRAMES)
			return 1;
		s->unplaced = 1;
		s->out.ips[o & (EMBER_MAX_STACK - 1)] = s->frames[pos & (EMBER_PY_MAX_FRAMES - 1)];
		s->out.len = o + 1;
		s->pos = pos + 1;
		return 0;
	}
	ip = ws->stack.ips[in & (EMBER_MAX_STACK - 1)];
	pc = in ? ip - 1 : ip;
	if (pos < s->n && pos < EMBER_PY_MAX_FRAMES &&
	    (ip >= EMBER_STOP_IP_BASE || (pc >= s->proc.eval_start && pc < s->proc.eval_end))) {
		__u32 p = pos & (EMBER_PY_MAX_FRAMES - 1);

		s->out.ips[o & (EMBER_MAX_STACK - 1)] = s->frames[p];
		s->out.len = o + 1;
		s->pos = pos + 1;
		/*
		 * A stop marker takes every Python frame left before it; an eval
		 * frame those of its C call, and is done when its entry frame is.
		 */
		if (ip < EMBER_STOP_IP_BASE && s->entry[p])
			s->in = in + 1;
		s->unplaced |= ip >= EMBER_STOP_IP_BASE;
		return 0;
	}
	/*
	 * A run of native frames, up to PY_MERGE_RUN of them an iteration:
	 * most words are native, and an iteration costs more than a copy.
	 */
	for (int k = 0; k < PY_MERGE_RUN; k++) {
		if (k) {
			if (in >= ws->stack.len || in >= EMBER_MAX_STACK || o >= EMBER_MAX_STACK)
				break;
			ip = ws->stack.ips[stack_index(in)];
			if (pos < s->n &&
			    (ip >= EMBER_STOP_IP_BASE ||
			     (ip - 1 >= s->proc.eval_start && ip - 1 < s->proc.eval_end)))
				break;
		}
		s->out.ips[stack_index(o)] = ip;
		o++;
		in++;
	}
	s->out.len = o;
	s->in = in;
	return 0;
}

/*
 * For a sample of a CPython process: walks the thread's Python frames and
 * merges them into the native stack @ws->stack. Returns the merged stack
 * (py_state.out), or @ws's own stack when there is nothing to merge.
 */
static __always_inline struct ember_stack *
python_stack(struct walk_state *ws, __u32 slot, struct task_struct *task, __u32 tgid, __u32 tid)
{
	struct ember_py_proc *proc;
	struct py_state *s;
	struct py_ctx c;
	__u64 ts, frame = 0;

	if (!python_frames || !py_procs_n)
		return &ws->stack;
	proc = bpf_map_lookup_elem(&py_procs, &tgid);
	s = bpf_map_lookup_elem(&py_state, &slot);
	if (!proc || !s)
		return &ws->stack;
	s->proc = *proc;
	s->fsbase = BPF_CORE_READ(task, thread.fsbase);
	c.s = s;
	c.ws = ws;
	c.ts = 0;
	ts = py_thread_state(&c, tid);
	if (!ts)
		return &ws->stack;
	if (py_read(ts + s->proc.tstate_frame, &frame) ||
	    (s->proc.cframe_frame != EMBER_PY_NONE && frame &&
	     py_read(frame + s->proc.cframe_frame, &frame))) {
		count_metric(EMBER_M_PY_READ_FAULT);
		return &ws->stack;
	}
	s->frame = frame;
	s->win_base = s->win_len = 0; /* a sample's memory is read afresh */
	s->seen[0] = s->seen[1] = s->seen[2] = s->seen[3] = 0;
	s->nseen = 0;
	s->n = 0;
	s->stop = 0;
	bpf_loop(EMBER_PY_MAX_FRAMES + 1, py_frame_step, &c, 0);
	/* Out of iterations with frames still to go (C-stack shims take some): a depth cut. */
	if (!s->stop && s->frame)
		s->stop = EMBER_M_PY_DEPTH_CUT;
	if (s->stop)
		count_metric(s->stop);
	if (!s->n)
		return &ws->stack;
	count_metric(EMBER_M_PY_SAMPLES);
	add_metric(EMBER_M_PY_FRAMES, s->n);
	s->in = s->pos = s->unplaced = 0;
	s->out.len = 0;
	/* One iteration more than words kept, so a stack still going is marked as cut. */
	bpf_loop(EMBER_MAX_STACK + 1, py_merge_step, &c, 0);
	if (s->unplaced)
		count_metric(EMBER_M_PY_UNPLACED);
	return &s->out;
}

/*
 * The current thread's whole user stack, as every walking program takes it:
 * the native walk into walk_state[@slot] (user_stack()), then its Python
 * frames merged in. Sets *@out to the stack and returns its hash (0: none).
 */
static __always_inline __u64 full_user_stack(void *ctx, struct walk_state *ws, __u32 slot,
					     struct task_struct *task, __u32 tgid, __u32 tid,
					     int user_mode, __u32 fault_metric,
					     struct ember_stack **out)
{
	__u64 h = user_stack(ctx, ws, slot, task, tgid, user_mode, fault_metric);

	*out = &ws->stack;
	if (h) {
		*out = python_stack(ws, slot, task, tgid, tid);
		if (*out != &ws->stack)
			h = hash_stack(*out);
	}
	return h;
}

#endif /* EMBER_PYTHON_BPF_H */
