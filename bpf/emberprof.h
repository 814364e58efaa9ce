/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ABI shared by the BPF programs and the agent. Both sides include this
 * file, so it uses only fixed-width types and fixed-size arrays; every struct
 * has explicit padding and a size pinned by a static assertion, because a
 * silent layout difference between clang -target bpf and gcc would corrupt
 * every sample.
 */
#ifndef EMBERPROF_ABI_H
#define EMBERPROF_ABI_H

/*
 * Frames per stack. Kernel stacks stop at the kernel's perf_event_max_stack
 * (127 by default); user stacks walked by emberprof's own unwinder go to 256,
 * deeper than deep recursion usually gets. A power of two, so BPF can mask an
 * index into range.
 */
#define EMBER_MAX_STACK 256
#define EMBER_COMM_LEN 16

/*
 * The aggregation key. One count per (process, thread, thread name, user
 * stack, kernel stack). Stacks are stored once each in a hash map keyed by a
 * 64-bit hash of their frames, so the key carries only the hashes; 0 means
 * "no stack of that kind" (a user-mode sample has no kernel part, a kernel
 * thread no user part) or a stack that could not be stored (counted).
 */
struct ember_key {
	__u32 tgid;
	__u32 tid;
	__u64 ustack;
	__u64 kstack;
	__u64 link; /* hash of the trace link (struct ember_link); 0: none */
	char comm[EMBER_COMM_LEN];
};
_Static_assert(sizeof(struct ember_key) == 48, "ember_key layout");

/*
 * Trace correlation. An application that publishes its current span per the
 * OpenTelemetry thread-context specification (OTEP 4947) keeps, in an
 * exported TLS variable, a pointer to a record {trace_id[16], span_id[8],
 * valid, trace_flags, attrs_size, attrs[]}; the agent finds the variable's
 * offset from the thread pointer and hands it over per process (ember_tls).
 * At a sample, BPF reads the record and stores it as a link, keyed like the
 * stacks by a hash of its bytes, so samples of different spans stay apart.
 * A second source is the OBI map (pid_tgid -> trace_id, span_id).
 */
#define EMBER_LINK_ATTRS 64 /* attribute bytes kept per link */

struct ember_link {
	__u8 trace_id[16];
	__u8 span_id[8];
	__u8 trace_flags;
	__u8 source; /* enum ember_link_source */
	__u16 attrs_size;
	__u8 attrs[EMBER_LINK_ATTRS]; /* {u8 key_index; u8 len; u8 val[len]}... */
	__u32 pad;
};
_Static_assert(sizeof(struct ember_link) == 96, "ember_link layout");

enum ember_link_source {
	EMBER_LINK_THREAD_CTX = 1,
	EMBER_LINK_OBI = 2,
};

/* Where a process keeps its thread-context pointer: thread pointer + offset. */
struct ember_tls {
	__s64 offset;
};
_Static_assert(sizeof(struct ember_tls) == 8, "ember_tls layout");

/* The OBI trace-context map's value. */
struct ember_obi_ctx {
	__u8 trace_id[16];
	__u8 span_id[8];
};
_Static_assert(sizeof(struct ember_obi_ctx) == 24, "ember_obi_ctx layout");

/* One stored stack: @len return addresses, leaf first. */
struct ember_stack {
	__u32 len;
	__u32 pad;
	__u64 ips[EMBER_MAX_STACK];
};
_Static_assert(sizeof(struct ember_stack) == 8 + 8 * EMBER_MAX_STACK, "ember_stack layout");

/*
 * DWARF unwinding tables: the essay.
 *
 * The BPF walker recovers a caller's registers from the callee's with the
 * rules .eh_frame gives for each instruction: where the canonical frame
 * address (CFA) is, where the return address and the caller's rbp were
 * saved. On x86-64 nearly every rule compiled code uses has one of a few
 * shapes, so each instruction range becomes one 16-byte row:
 *   - cfa: CFA = rsp + cfa_off, or rbp + cfa_off, or the PLT expression
 *     rsp + cfa_off + ((rip & 15) >= aux ? 8 : 0) that lazy-binding stubs
 *     use; END where the return address is undefined (the outermost frame:
 *     _start, clone3, start_thread); SIGNAL for a signal trampoline
 *     (__restore_rt), where the walk stops; UNSUPPORTED for any rule of
 *     another shape, where the walk stops rather than guess; GAP where no
 *     FDE covers the address (the walker then tries frame pointers).
 *   - the return address is always at CFA - 8 (rows where it is not are
 *     UNSUPPORTED).
 *   - rbp: unchanged, saved at CFA + rbp_off, or UNKNOWN after a rule we
 *     cannot follow (a later frame-pointer step would then be wrong, so the
 *     walker stops if it needs rbp).
 * Rows of one file are sorted by pc (a file virtual address below 4 GiB) and
 * each row holds until the next; a GAP row ends every FDE not followed
 * directly by another. One file's rows are contiguous in the global rows
 * array; a process's executable mappings point at them, with the load bias,
 * through an LPM trie keyed by (tgid, address), so tables are shared by every
 * process mapping the file. A lookup binary-searches at most 2^21 rows.
 */
enum ember_cfa_rule {
	EMBER_CFA_GAP = 0,
	EMBER_CFA_RSP = 1,
	EMBER_CFA_RBP = 2,
	EMBER_CFA_PLT = 3,
	EMBER_CFA_END = 4,
	EMBER_CFA_SIGNAL = 5,
	EMBER_CFA_UNSUPPORTED = 6,
};

enum ember_rbp_rule {
	EMBER_RBP_SAME = 0,
	EMBER_RBP_AT_CFA = 1,
	EMBER_RBP_UNKNOWN = 2,
};

struct ember_row {
	__u32 pc;
	__u8 cfa_rule; /* enum ember_cfa_rule */
	__u8 rbp_rule; /* enum ember_rbp_rule */
	__s16 rbp_off;
	__s32 cfa_off;
	__u8 aux; /* PLT: the (rip & 15) threshold */
	__u8 pad[3];
};
_Static_assert(sizeof(struct ember_row) == 16, "ember_row layout");

#define EMBER_ROW_SEARCH_STEPS 21 /* binary search over at most 2^21 rows per file */

/*
 * LPM trie key: 32 bits of tgid then 64 bits of address, both big-endian so
 * the trie's bit order is numeric order. prefixlen counts from the tgid's
 * first bit: 32 + the number of fixed address bits.
 */
struct ember_lpm_key {
	__u32 prefixlen;
	__u32 tgid_be;
	__u64 addr_be;
};
_Static_assert(sizeof(struct ember_lpm_key) == 16, "ember_lpm_key layout");

/*
 * An executable mapping [start, end): file address = runtime address - bias.
 * nrows 0: no table. The range lets the walker reuse one lookup for the
 * consecutive frames that lie in the same mapping.
 */
struct ember_exec_map {
	__u64 start, end;
	__u64 bias;
	__u32 first_row;
	__u32 nrows;
};
_Static_assert(sizeof(struct ember_exec_map) == 32, "ember_exec_map layout");

/* Events from BPF to the agent over the ring buffer. */
enum ember_event_type {
	EMBER_EV_NEW_PROC = 1, /* first sample of a tgid since its exec: read its mappings now */
	EMBER_EV_EXEC = 2,
	EMBER_EV_EXIT = 3,
};

struct ember_event {
	__u32 type;
	__u32 tgid;
	char comm[EMBER_COMM_LEN];
};
_Static_assert(sizeof(struct ember_event) == 24, "ember_event layout");

/*
 * Counters in the per-CPU metrics array. Every way a sample can be lost or
 * degraded has one; the agent sums them over CPUs and reports them.
 */
enum ember_metric {
	EMBER_M_SAMPLES = 0,  /* samples seen by the program (after the pid filter) */
	EMBER_M_FILTERED,     /* samples dropped by the pid filter (not a loss) */
	EMBER_M_KSTACK_LOST,  /* kernel stack not stored: stack map full */
	EMBER_M_USTACK_LOST,  /* user stack not stored: stack map full */
	EMBER_M_USTACK_FAULT, /* user stack walk returned nothing (read fault) */
	EMBER_M_COUNTS_FULL,  /* sample dropped: count map full */
	EMBER_M_EVENTS_LOST,  /* ring buffer full: a process event was not delivered */
	EMBER_M_IDLE,	      /* sample of the idle task: not CPU use, not recorded */
	/* How DWARF user-stack walks ended early (the stack up to there is kept). */
	EMBER_M_UNWIND_NO_TABLE,    /* a frame had no table: frame-pointer step instead */
	EMBER_M_UNWIND_READ_FAULT,  /* reading a saved register faulted */
	EMBER_M_UNWIND_DEPTH_CUT,   /* EMBER_MAX_STACK frames and still going */
	EMBER_M_UNWIND_BAD_CFA,	    /* the CFA did not move up the stack */
	EMBER_M_UNWIND_UNSUPPORTED, /* a rule the tables cannot express */
	EMBER_M_UNWIND_SIGNAL,	    /* stopped at a signal frame */
	/* Trace links. */
	EMBER_M_LINKS,		 /* samples that carried a link */
	EMBER_M_LINK_READ_FAULT, /* the thread-context pointer or record was unreadable */
	EMBER_M_LINK_INVALID,	 /* a record with valid != 1 or a zero trace id */
	EMBER_M_LINKS_MERGED,	 /* link map full: the sample kept no link */
	EMBER_M_NR,
};

#endif /* EMBERPROF_ABI_H */
