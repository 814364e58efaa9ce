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
 * asks it to read /proc/PID/maps while the process is still alive.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "emberprof.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the agent before load. */
const volatile __u32 filter_pids = 0;	/* nonzero: only tgids in pid_filter */
const volatile __u32 dwarf_unwind = 0;	/* nonzero: walk user stacks with the tables */
const volatile __u32 filter_cgroup = 0; /* nonzero: only tasks under cgroup_filter[0] */
const volatile __u32 obi_enabled = 0;	/* nonzero: obi_traces is OBI's pinned map */

/* Flipped by the agent between drains: which generation samples go to. */
__u32 active = 0;
/*
 * Entries in tls_offsets, kept by the agent. While it is 0 (no process
 * publishes a thread context, the common case) a sample skips the lookup.
 */
__u32 tls_procs = 0;

/* Sizes below are defaults; the agent sets them with bpf_map__set_max_entries. */

/*
 * Samples go to one of two generations of maps (counts, stacks, links),
 * the one `active` names, while the agent drains and clears the other. Each
 * pair sits in a two-slot array of maps, so one copy of the sample code
 * serves both: with the maps as constants it would be verified twice.
 * (The template inside __array has one entry: hash maps of one shape fit
 * whatever their size, and libbpf creates the template only to check it.)
 */
#define GENERATIONS(name, key_t, value_t)                                                          \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);                                          \
		__uint(max_entries, 2);                                                            \
		__type(key, __u32);                                                                \
		__array(                                                                           \
			values, struct {                                                           \
				__uint(type, BPF_MAP_TYPE_HASH);                                   \
				__uint(max_entries, 1);                                            \
				__type(key, key_t);                                                \
				__type(value, value_t);                                            \
			});                                                                        \
	} name##_gen SEC(".maps") = {                                                              \
		.values = {(void *)&name##0, (void *)&name##1},                                    \
	}

/* key: struct ember_key; value: __u64 sample count. Drained by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct ember_key);
	__type(value, __u64);
} counts0 SEC(".maps"), counts1 SEC(".maps");
GENERATIONS(counts, struct ember_key, __u64);

/* key: 64-bit hash of the frames; value: struct ember_stack. Cleared by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct ember_stack);
} stacks0 SEC(".maps"), stacks1 SEC(".maps");
GENERATIONS(stacks, __u64, struct ember_stack);

/* Per-CPU scratch for the kernel stack: too large for the 512-byte BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ember_stack);
} scratch SEC(".maps");

/*
 * index: row number; value: struct ember_row. Filled by the agent, one range
 * per file, through a short-lived mmap of the pages it writes.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ember_row);
} unwind_rows SEC(".maps");

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

/*
 * The walker's registers, its caches and the user stack it builds (by
 * frame pointers too): per CPU, as it is over 3 KiB.
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
	 * in table first_row. Recursion and loops of calls repeat a function
	 * frame after frame; they skip the binary search.
	 */
	struct ember_row row;
	__u64 row_start, row_end;
	__u32 row_table, pad;
	__u8 win[STACK_WINDOW];
	struct ember_stack stack;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct walk_state);
} walk_state SEC(".maps");

/* key: link hash; value: struct ember_link. Cleared by the agent with its generation. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct ember_link);
} links0 SEC(".maps"), links1 SEC(".maps");
GENERATIONS(links, __u64, struct ember_link);

/* key: tgid; value: struct ember_tls. Filled by the agent for processes publishing context. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct ember_tls);
} tls_offsets SEC(".maps");

/*
 * key: pid_tgid; value: struct ember_obi_ctx. The OBI trace-context map,
 * /sys/fs/bpf/otel/traces_ctx_v1, when the agent finds it pinned (it then
 * reuses that map's fd); otherwise this small empty map of our own.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1);
	__type(key, __u64);
	__type(value, struct ember_obi_ctx);
} obi_traces SEC(".maps");

/* Per-CPU scratch for a link being read. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ember_link);
} link_scratch SEC(".maps");

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

/* Stores @st under its hash @h in @stacks. Returns @h, or 0 when the map is full. */
static __always_inline __u64 store_stack(void *stacks, struct ember_stack *st, __u64 h,
					 __u32 lost_metric)
{
	long err;

	/* Other keys share stacks: a lookup spares copying the 2 KiB value again. */
	if (bpf_map_lookup_elem(stacks, &h))
		return h;
	err = bpf_map_update_elem(stacks, &h, st, BPF_NOEXIST);

	if (err == 0 || err == -17 /* EEXIST: stored already */)
		return h;
	count_metric(lost_metric);
	return 0;
}

/*
 * A word of the interrupted registers. volatile: the context allows only
 * whole-word loads, and the compiler would otherwise read one byte of cs.
 */
#define CTX_REG(ctx, r) (*(volatile __u64 *)&(ctx)->regs.r)

/* Fills @st with the kernel stack. Returns its hash, 0 for none. */
static __always_inline __u64 kernel_stack(struct bpf_perf_event_data *ctx, struct ember_stack *st,
					  int user_mode)
{
	long n;

	/*
	 * A sample taken in user mode has no kernel part; asking anyway costs a
	 * callchain setup and the zeroing of the 2 KiB buffer (~0.2 us).
	 */
	if (user_mode)
		return 0;
	n = bpf_get_stack(ctx, st->ips, sizeof(st->ips), 0);
	if (n <= 0)
		return 0;
	st->len = n / sizeof(__u64);
	return hash_stack(st);
}

/*
 * The last row of @m's table at or below file address @pc; NULL if none.
 * Sets *@next_pc to where that row stops holding: the next row's pc, or
 * 2^32 after the last row.
 */
static __always_inline struct ember_row *find_row(const struct ember_exec_map *m, __u64 pc,
						  __u64 *next_pc)
{
	__u32 lo = m->first_row, hi = m->first_row + m->nrows, idx;
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
	if (lo == m->first_row)
		return NULL;
	*next_pc = 1ULL << 32;
	if (lo < m->first_row + m->nrows) {
		r = bpf_map_lookup_elem(&unwind_rows, &lo);
		if (r)
			*next_pc = r->pc;
	}
	idx = lo - 1;
	return bpf_map_lookup_elem(&unwind_rows, &idx);
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

/* One frame-pointer step, for code with no table. Returns 0 to go on, 1 to stop. */
static __always_inline long fp_step(struct walk_state *s)
{
	__u64 bp, ip; /* saved rbp, return address */

	if (s->bp_unknown || s->bp <= s->sp || s->bp & 7)
		return 1; /* no frame chain to follow: the end of the stack, or garbage */
	if (read_stack(s, s->bp, &bp) || read_stack(s, s->bp + 8, &ip)) {
		count_metric(EMBER_M_UNWIND_READ_FAULT);
		return 1;
	}
	s->sp = s->bp + 16;
	s->bp = bp;
	s->ip = ip;
	return s->ip ? 0 : 1;
}

/* bpf_loop body: record the current frame, then step to its caller. */
static long unwind_step(__u32 i, void *unused)
{
	struct ember_lpm_key key = {.prefixlen = 96};
	struct ember_exec_map *m;
	struct ember_row *row = NULL;
	struct walk_state *s;
	__u64 pc, cfa, ra;
	__u32 zero = 0, n;

	s = bpf_map_lookup_elem(&walk_state, &zero);
	if (!s)
		return 1;
	n = s->stack.len;
	if (n >= EMBER_MAX_STACK) {
		count_metric(EMBER_M_UNWIND_DEPTH_CUT);
		return 1;
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
	if (m && m->nrows) {
		__u64 fpc = pc - m->bias, next_pc = 0;

		if (m->first_row == s->row_table && fpc >= s->row_start && fpc < s->row_end) {
			row = &s->row;
		} else {
			row = find_row(m, fpc, &next_pc);
			if (row) {
				s->row = *row;
				s->row_table = m->first_row;
				s->row_start = row->pc;
				s->row_end = next_pc;
			}
		}
	}
	if (!row || row->cfa_rule == EMBER_CFA_GAP) {
		count_metric(EMBER_M_UNWIND_NO_TABLE);
		return fp_step(s);
	}
	switch (row->cfa_rule) {
	case EMBER_CFA_RSP:
		cfa = s->sp + row->cfa_off;
		break;
	case EMBER_CFA_RBP:
		if (s->bp_unknown) {
			count_metric(EMBER_M_UNWIND_UNSUPPORTED);
			return 1;
		}
		cfa = s->bp + row->cfa_off;
		break;
	case EMBER_CFA_PLT:
		cfa = s->sp + row->cfa_off + ((s->ip & 15) >= row->aux ? 8 : 0);
		break;
	case EMBER_CFA_END:
		return 1; /* the outermost frame: a complete stack */
	case EMBER_CFA_SIGNAL:
		count_metric(EMBER_M_UNWIND_SIGNAL);
		return 1;
	default:
		count_metric(EMBER_M_UNWIND_UNSUPPORTED);
		return 1;
	}
	/* The stack grows down: a caller's frame is always above its callee's. */
	if (cfa <= s->sp) {
		count_metric(EMBER_M_UNWIND_BAD_CFA);
		return 1;
	}
	/* The saved rbp lies below the return address: read it first, so one window serves both. */
	if (row->rbp_rule == EMBER_RBP_AT_CFA) {
		if (read_stack(s, cfa + row->rbp_off, &s->bp)) {
			count_metric(EMBER_M_UNWIND_READ_FAULT);
			return 1;
		}
		s->bp_unknown = 0;
	} else if (row->rbp_rule == EMBER_RBP_UNKNOWN) {
		s->bp_unknown = 1;
	}
	if (read_stack(s, cfa - 8, &ra)) {
		count_metric(EMBER_M_UNWIND_READ_FAULT);
		return 1;
	}
	s->sp = cfa;
	s->ip = ra;
	return ra ? 0 : 1;
}

/* Walks the user stack into @s->stack. Returns its hash, 0 for none. */
static __always_inline __u64 dwarf_user_stack(struct bpf_perf_event_data *ctx, struct walk_state *s,
					      struct task_struct *task, __u32 tgid, int user_mode)
{
	if (user_mode) {
		/* Interrupted in user mode: the sample's registers are the user's. */
		s->ip = CTX_REG(ctx, ip);
		s->sp = CTX_REG(ctx, sp);
		s->bp = CTX_REG(ctx, bp);
	} else {
		/* In the kernel: the user registers were saved at kernel entry. */
		struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);

		if (!regs)
			return 0;
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
	s->stack.len = 0;
	if (!s->ip) {
		count_metric(EMBER_M_USTACK_FAULT);
		return 0;
	}
	/* One iteration more than frames kept: a walk still going then is cut, and counted. */
	bpf_loop(EMBER_MAX_STACK + 1, unwind_step, NULL, 0);
	return s->stack.len ? hash_stack(&s->stack) : 0;
}

/* Fills @s->stack with the user stack. Returns its hash, 0 for none. */
static __always_inline __u64 user_stack(struct bpf_perf_event_data *ctx, struct walk_state *s,
					struct task_struct *task, __u32 tgid, int user_mode)
{
	long n;

	/* Kernel threads have no user half (a sample in user mode has one). */
	if (!user_mode && !BPF_CORE_READ(task, mm))
		return 0;
	if (dwarf_unwind)
		return dwarf_user_stack(ctx, s, task, tgid, user_mode);
	n = bpf_get_stack(ctx, s->stack.ips, sizeof(s->stack.ips), BPF_F_USER_STACK);
	if (n <= 0) {
		count_metric(EMBER_M_USTACK_FAULT);
		return 0;
	}
	s->stack.len = n / sizeof(__u64);
	return hash_stack(&s->stack);
}

/* Whether the 16 bytes are all zero. */
static __always_inline int zero_id(const __u8 *id)
{
	__u64 a, b;

	__builtin_memcpy(&a, id, 8);
	__builtin_memcpy(&b, id + 8, 8);
	return !a && !b;
}

/* FNV-1a over the link's 96 bytes, a word at a time; never 0. */
static __always_inline __u64 hash_link(const struct ember_link *l)
{
	__u64 h = 0xcbf29ce484222325ULL, w;

	for (int i = 0; i < (int)(sizeof(*l) / 8); i++) {
		__builtin_memcpy(&w, (const __u8 *)l + 8 * i, 8);
		h ^= w;
		h *= 0x100000001b3ULL;
	}
	return h ? h : 1;
}

/* Stores @l under its hash @h in @links. Returns @h, or 0 when the map is full. */
static __always_inline __u64 store_link(void *links, struct ember_link *l, __u64 h)
{
	if (bpf_map_lookup_elem(links, &h))
		return h;
	long err = bpf_map_update_elem(links, &h, l, BPF_NOEXIST);
	if (err == 0 || err == -17 /* EEXIST */)
		return h;
	count_metric(EMBER_M_LINKS_MERGED);
	return 0;
}

/*
 * The span the interrupted thread runs, from its OTEP 4947 thread context or
 * from the OBI map, into @l. Returns the link's hash, 0 for none.
 */
static __always_inline __u64 read_link(struct ember_link *l, struct task_struct *task, __u32 tgid,
				       __u64 pid_tgid)
{
	struct ember_tls *tls = tls_procs ? bpf_map_lookup_elem(&tls_offsets, &tgid) : NULL;
	struct ember_obi_ctx *obi;
	__u64 rec;

	if (tls) {
		/* x86-64: the thread pointer is fsbase (arm64 would read thread.uw.tp_value). */
		__u64 tp = BPF_CORE_READ(task, thread.fsbase);

		if (bpf_probe_read_user(&rec, sizeof(rec), (void *)(tp + tls->offset))) {
			count_metric(EMBER_M_LINK_READ_FAULT);
			return 0;
		}
		if (!rec)
			goto obi; /* no span on this thread */
		/*
		 * The record's 28-byte header lands on the link's first 28 bytes:
		 * ids in place, then valid (24), trace_flags (25), attrs_size (26).
		 */
		if (bpf_probe_read_user(l, 28, (void *)rec)) {
			count_metric(EMBER_M_LINK_READ_FAULT);
			return 0;
		}
		{
			__u8 *raw = (__u8 *)l;
			__u8 valid = raw[24], flags = raw[25];
			__u32 n = raw[26] | (__u32)raw[27] << 8;

			if (valid != 1 || zero_id(l->trace_id)) {
				count_metric(EMBER_M_LINK_INVALID);
				return 0;
			}
			__builtin_memset(l->attrs, 0, sizeof(l->attrs));
			if (n > EMBER_LINK_ATTRS)
				n = EMBER_LINK_ATTRS;
			if (n && bpf_probe_read_user(l->attrs, n & (2 * EMBER_LINK_ATTRS - 1),
						     (void *)(rec + 28)))
				n = 0;
			l->trace_flags = flags;
			l->source = EMBER_LINK_THREAD_CTX;
			l->attrs_size = (__u16)n;
			l->pad = 0;
		}
		count_metric(EMBER_M_LINKS);
		return hash_link(l);
	}
obi:
	if (!obi_enabled)
		return 0; /* our own stand-in map stays empty */
	obi = bpf_map_lookup_elem(&obi_traces, &pid_tgid);
	if (!obi || zero_id(obi->trace_id))
		return 0;
	__builtin_memset(l, 0, sizeof(*l));
	__builtin_memcpy(l->trace_id, obi->trace_id, 16);
	__builtin_memcpy(l->span_id, obi->span_id, 8);
	l->source = EMBER_LINK_OBI;
	count_metric(EMBER_M_LINKS);
	return hash_link(l);
}

/* Adds a first sample under @key (just looked up and not found). */
static __always_inline void insert_count(void *counts, struct ember_key *key)
{
	__u64 one = 1, *v;

	if (bpf_map_update_elem(counts, key, &one, BPF_NOEXIST) == 0)
		return;
	/* Another CPU inserted the same key between our lookup and update. */
	v = bpf_map_lookup_elem(counts, key);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		count_metric(EMBER_M_COUNTS_FULL);
}

SEC("perf_event")
int on_sample(struct bpf_perf_event_data *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), *count;
	struct ember_key key = {};
	struct ember_stack *st;
	struct walk_state *ws;
	struct ember_link *l;
	struct task_struct *task;
	void *counts, *stacks, *links;
	__u32 zero = 0, gen = active ? 1 : 0;
	int user_mode;
	__u8 one = 1;

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
	st = bpf_map_lookup_elem(&scratch, &zero);
	ws = bpf_map_lookup_elem(&walk_state, &zero);
	l = bpf_map_lookup_elem(&link_scratch, &zero);
	counts = bpf_map_lookup_elem(&counts_gen, &gen);
	if (!st || !ws || !l || !counts)
		return 0; /* cannot happen: the arrays are full */

	task = bpf_get_current_task_btf();
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	user_mode = (CTX_REG(ctx, cs) & 3) == 3;
	key.kstack = kernel_stack(ctx, st, user_mode);
	key.ustack = user_stack(ctx, ws, task, key.tgid, user_mode);
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
		key.ustack = store_stack(stacks, &ws->stack, key.ustack, EMBER_M_USTACK_LOST);
	if (key.link)
		key.link = store_link(links, l, key.link);
	insert_count(counts, &key);

	if (!bpf_map_lookup_elem(&known_procs, &key.tgid) && BPF_CORE_READ(task, mm)) {
		bpf_map_update_elem(&known_procs, &key.tgid, &one, BPF_ANY);
		send_event(EMBER_EV_NEW_PROC, key.tgid);
	}
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
