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

/* The BPF side has the __u32 family from vmlinux.h; userspace from the UAPI header. */
#ifndef __bpf__
#include <linux/types.h>
#endif

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

/*
 * A user stack whose walk stopped before the outermost frame ends in a
 * marker instead of an address: EMBER_STOP_IP(reason), reason being the
 * enum ember_metric the stop was counted under. No user address lies in the
 * top page of the address space, so the marker cannot be mistaken for one,
 * and the agent turns it into a frame "[unwind stopped: REASON]": the
 * truncation shows in the flame graph, not only in a counter.
 */
#define EMBER_STOP_IP_BASE 0xffffffffffffff00ULL
#define EMBER_STOP_IP(reason) (EMBER_STOP_IP_BASE | (__u64)(reason))

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
 * shapes, so each instruction range becomes one 8-byte row, a file virtual
 * address (below 4 GiB) and one packed word of rules:
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
 * The word: bits 0-2 the CFA rule, 3-4 the rbp rule, 5-12 rbp_off / 8 as a
 * signed byte (a PLT row keeps aux there instead: its rbp is unchanged),
 * 13-31 cfa_off (0 .. 2^19 - 1). Compilers save rbp at small multiples of 8
 * below the CFA and no frame is 512 KiB, so every row compilers emit fits;
 * one that does not becomes UNSUPPORTED (rbp UNKNOWN for an odd rbp_off),
 * never a wrong rule. 16-byte rows with the same fields unpacked held half
 * as many rows in the same memory.
 *
 * Tables are built per chunk of a file, not per file. Most of a large
 * library's code is never on a sampled stack (clang's libLLVM has ~950k
 * rows, of which a compile touches a few percent), so a file's executable
 * range is cut into EMBER_CHUNK_BYTES pieces, each with a slot in the chunks
 * array; a slot's rows are built when a walk first lands in it, and evicted,
 * least recently used first, when the rows array is full. Rows of one chunk
 * are sorted by pc and each holds until the next; the first row is at the
 * chunk's start (the rule in force there), and a GAP row ends every FDE not
 * followed directly by another, except alignment padding of under 16 bytes,
 * which no return address or sampled pc falls in. A chunk's rows are
 * contiguous in the global rows array; a process's executable mappings
 * point at their file's slots, with the load bias, through an LPM trie keyed
 * by (tgid, address), so tables are shared by every process mapping a file.
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
	__u32 rule; /* packed as described above: use the accessors below */
};
_Static_assert(sizeof(struct ember_row) == 8, "ember_row layout");

#define EMBER_ROW_CFA_OFF_MAX ((1u << 19) - 1)

static inline __u32 ember_row_cfa_rule(const struct ember_row *r)
{
	return r->rule & 7;
}

static inline __u32 ember_row_rbp_rule(const struct ember_row *r)
{
	return (r->rule >> 3) & 3;
}

static inline __s32 ember_row_rbp_off(const struct ember_row *r)
{
	return (__s32)(__s8)(__u8)(r->rule >> 5) * 8;
}

static inline __u32 ember_row_aux(const struct ember_row *r)
{
	return (r->rule >> 5) & 0xff;
}

static inline __u32 ember_row_cfa_off(const struct ember_row *r)
{
	return r->rule >> 13;
}

/* Bytes of file address space per chunk: 2^16, so a chunk has at most 2^16 rows. */
#define EMBER_CHUNK_SHIFT 16
#define EMBER_CHUNK_BYTES (1u << EMBER_CHUNK_SHIFT)
#define EMBER_ROW_SEARCH_STEPS 17 /* binary search over at most 2^16 + 1 rows */

/*
 * A chunk's slot in the chunks array (BPF_F_MMAPABLE: the agent writes it in
 * place). rows: the first row's index | the row count << 32, one word so a
 * walk never sees a first row of one table with the count of another; 0:
 * not built. used: the agent's epoch (bumped every drain) when a walk last
 * read the chunk, for eviction. requested: set by the first walk to find the
 * chunk unbuilt, which then asks the agent for it; cleared by the agent when
 * it may be asked again.
 */
/* A slot's rows word for a file whose .eh_frame the agent found unusable. */
#define EMBER_CHUNK_NO_TABLE 1ull

struct ember_chunk {
	__u64 rows;
	__u32 used;
	__u32 requested;
};
_Static_assert(sizeof(struct ember_chunk) == 16, "ember_chunk layout");

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
 * Its file's chunk slots are first_slot .. first_slot + nslots - 1, slot
 * first_slot covering file addresses from chunk0 << EMBER_CHUNK_SHIFT.
 * nslots 0: the file has no usable .eh_frame (frame pointers there). The
 * range lets the walker reuse one lookup for the consecutive frames that lie
 * in the same mapping. flags EMBER_EXEC_NO_FILE: code in no file the agent
 * can read (JIT, anonymous memory, a file it cannot open): frame pointers
 * there too. An address in no entry at all is a mapping the agent has not
 * read yet, and the walk asks it to (EMBER_EV_REMAP).
 */
#define EMBER_EXEC_NO_FILE 1u
struct ember_exec_map {
	__u64 start, end;
	__u64 bias;
	__u32 first_slot;
	__u32 nslots;
	__u32 chunk0;
	__u32 flags;
};
_Static_assert(sizeof(struct ember_exec_map) == 40, "ember_exec_map layout");

/*
 * CPython frames (see bpf/python.bpf.h). For a process running CPython the
 * agent hands over where the interpreter's state lives and the offsets of
 * the fields the walk reads; BPF finds the sampled thread's thread state,
 * walks its frame chain and puts each Python frame into the user stack in
 * place of the native _PyEval_EvalFrameDefault frame that runs it.
 *
 * A Python frame in a user stack is one word: EMBER_PY_TAG in the top
 * nibble, the instruction index (code units, EMBER_PY_LASTI_NONE when
 * unknown or past 0xfffe) in bits 44-59, and the code object's address / 8
 * in bits 0-43. User addresses lie below 2^47 and objects are 8-aligned, so
 * 44 bits hold any code object; the nibble keeps the word clear of code
 * addresses (below 2^47) and of EMBER_STOP_IP markers (nibble 0xf).
 */
#define EMBER_PY_TAG 0xe000000000000000ULL
#define EMBER_PY_LASTI_NONE 0xffffULL
#define EMBER_PY_CODE_MASK ((1ULL << 44) - 1)
#define EMBER_PY_FRAME(code, lasti)                                                                \
	(EMBER_PY_TAG | (((__u64)(lasti)&0xffffULL) << 44) |                                       \
	 (((__u64)(code) >> 3) & EMBER_PY_CODE_MASK))
#define EMBER_PY_IS_FRAME(ip) (((ip) >> 60) == 0xeULL)
#define EMBER_PY_CODE(ip) (((ip)&EMBER_PY_CODE_MASK) << 3)
#define EMBER_PY_LASTI(ip) (((ip) >> 44) & 0xffffULL)

/* Python frames read per sample; deeper stacks keep their innermost 128. */
#define EMBER_PY_MAX_FRAMES 128
/* Bytes of a frame read at once: every field the walk needs lies below this. */
#define EMBER_PY_FRAME_READ 128
/* An offset the layout has no field for. */
#define EMBER_PY_NONE 0xffff
/* _PyInterpreterFrame.owner of the shim frame an entry into the interpreter pushes (3.12+). */
#define EMBER_PY_OWNED_BY_CSTACK 3

/* tgid -> where CPython keeps its state in that process, and its layout. */
struct ember_py_proc {
	__u64 runtime;		    /* address of _PyRuntime */
	__u64 eval_start, eval_end; /* _PyEval_EvalFrameDefault's code */
	__u64 code_type;	    /* address of PyCode_Type: a frame's code must be one */
	__u16 interp_head;	    /* _PyRuntimeState: interpreters.head */
	__u16 threads_head;	    /* PyInterpreterState: threads.head (3.10: tstate_head) */
	__u16 tstate_next;	    /* PyThreadState: next */
	__u16 tstate_thread_id; /* PyThreadState: thread_id, pthread_self() = the thread pointer */
	__u16 tstate_frame;	/* 3.10: frame; 3.11, 3.12: cframe; 3.13: current_frame */
	__u16 cframe_frame;	/* 3.11, 3.12: _PyCFrame.current_frame; else NONE */
	__u16 frame_previous;	/* 3.10: PyFrameObject.f_back; else _PyInterpreterFrame.previous */
	__u16 frame_code;	/* f_code (3.13: f_executable) */
	__u16 frame_instr;   /* 3.10: f_lasti (an int); 3.11, 3.12: prev_instr; 3.13: instr_ptr */
	__u16 frame_entry;   /* 3.11: is_entry; else NONE */
	__u16 frame_owner;   /* 3.12+: owner; else NONE */
	__u16 code_adaptive; /* PyCodeObject: co_code_adaptive (3.11+; 3.10: NONE) */
	__u8 minor;	     /* 10 .. 13 */
	__u8 pad[7];
};
_Static_assert(sizeof(struct ember_py_proc) == 64, "ember_py_proc layout");

/*
 * Off-CPU time (bpf/offcpu.bpf.h). When a thread leaves the CPU to sleep,
 * its stacks are read while it is still current and kept under its tid with
 * the time and a weight; when it next runs, the time it was away, times
 * the weight, is added to the key's nanoseconds. Only one sleeping switch in
 * 2^offcpu_shift is recorded (the agent sets the shift from the rate of such
 * switches): the weight 2^shift keeps the totals unbiased.
 */
#define EMBER_WAIT_TOP_WORDS 16 /* words of user stack a wait's stacks are reused on */

struct ember_wait {
	struct ember_key key; /* with the stacks' hashes in the off-CPU stack map */
	__u64 began_ns;	      /* bpf_ktime_get_ns() at the switch out */
	__u64 from_ns;	      /* counted up to here (a drain adds what is under way); 0: none */
	__u32 weight;	      /* waits this one stands for; 0: not walked, key is an older wait's */
	__u32 walk_ns;	      /* the time the switch out spent recording it */
	__u32 next_tid;	      /* the thread switched in then, ... */
	__u32 next_switches;  /* ... its context switches so far, ... */
	__u32 cpu;	      /* ... and the CPU */
	__u32 pad;
	/*
	 * What key's stacks were walked from: the user registers saved at
	 * kernel entry (ip, sp, bp, orig_ax: the system call) and the top of
	 * the user stack. A thread that sleeps again with all of them the
	 * same is in the same call from the same callers, and reuses them.
	 */
	__u64 regs[4];
	__u64 top[EMBER_WAIT_TOP_WORDS];
	/*
	 * Per generation: the thread's blocked nanoseconds, every wait's
	 * (measured), and what its walked waits added to the count map
	 * (weighted). The agent scales the second to the first.
	 */
	__u64 measured_ns[2];
	__u64 weighted_ns[2];
};
_Static_assert(sizeof(struct ember_wait) == 280, "ember_wait layout");

/*
 * Off-CPU totals are exact per thread, and only their split across stacks
 * is sampled. Each wait's length is measured, walked or not; a walked wait
 * adds its weighted time under its stacks. At every drain the flush
 * iterator writes one of these per thread that waited in the closed
 * generation, and the agent scales the thread's counts by measured over
 * weighted: each stack keeps its unbiased share, and the shares sum to the
 * time the thread really waited. A thread none of whose waits in the
 * generation was walked has its time put under key, its last walked wait;
 * one never walked keeps its time (in BPF) until its first walk. A thread
 * that exits leaves its sums in offcpu_gone.
 */
struct ember_thread_wait {
	struct ember_key key;
	__u64 measured_ns;
	__u64 weighted_ns;
};
_Static_assert(sizeof(struct ember_thread_wait) == 64, "ember_thread_wait layout");

/*
 * Memory (--alloc, --inuse; bpf/memory.bpf.h). A process that samples its
 * own allocations fires the USDT probes otel_memory:alloc(ptr, size,
 * weight) and otel_memory:free(ptr) (sdk/c/otel_mem.c is one such sampler):
 * weight is the bytes the sampled allocation stands for. At alloc the user
 * stack is walked and the key's objects and bytes added in the generation
 * maps; with --inuse the pointer is also kept, with its stack and weight,
 * until its free. Objects are counted in 1/EMBER_MEM_OBJ_SCALE: a sample
 * of weight w and size n stands for w/n objects.
 */
#define EMBER_MEM_OBJ_SCALE 1024
/* A weight no real allocation has (1 TiB): a process reporting one is broken or hostile. */
#define EMBER_MEM_MAX_WEIGHT (1ull << 40)

struct ember_mem {
	__u64 objects; /* in 1/EMBER_MEM_OBJ_SCALE objects */
	__u64 bytes;
};

struct ember_live_key {
	__u32 tgid;
	__u32 pad;
	__u64 ptr;
};

struct ember_live {
	__u64 ustack; /* hash of the user stack at alloc */
	__u64 bytes;  /* the sample's weight */
	__u64 objects;
};
_Static_assert(sizeof(struct ember_live) == 24, "ember_live layout");

/* Events from BPF to the agent over the ring buffer. */
enum ember_event_type {
	EMBER_EV_NEW_PROC = 1, /* first sample of a tgid since its exec: read its mappings now */
	EMBER_EV_EXEC = 2,
	EMBER_EV_EXIT = 3,
	EMBER_EV_NEED_CHUNK = 4, /* a walk found chunk slot @slot unbuilt: build it */
	EMBER_EV_REMAP = 5,	 /* a walk found code of a known tgid in no mapping: re-read them */
};

struct ember_event {
	__u32 type;
	__u32 tgid;
	char comm[EMBER_COMM_LEN];
	__u32 slot; /* EMBER_EV_NEED_CHUNK */
	__u32 pad;
};
_Static_assert(sizeof(struct ember_event) == 32, "ember_event layout");

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
	/*
	 * How DWARF user-stack walks ended early (the stack up to there is
	 * kept). Every walk that stops before the outermost frame counts under
	 * exactly one of these.
	 */
	EMBER_M_UNWIND_READ_FAULT,  /* reading a saved register faulted */
	EMBER_M_UNWIND_DEPTH_CUT,   /* EMBER_MAX_STACK frames and still going */
	EMBER_M_UNWIND_BAD_CFA,	    /* the CFA did not move up the stack */
	EMBER_M_UNWIND_UNSUPPORTED, /* a rule the tables cannot express */
	EMBER_M_UNWIND_SIGNAL,	    /* stopped at a signal frame */
	EMBER_M_UNWIND_FP_END,	    /* a frame-pointer step found no frame chain (rbp below rsp) */
	EMBER_M_UNWIND_RBP_LOST,    /* a rule needed rbp, which an earlier rule left unknown */
	EMBER_M_UNWIND_ZERO_RA,	    /* a return address of 0 below a frame not marked outermost */
	/* Frames stepped by frame pointer instead of a table (the walk goes on). */
	EMBER_M_FP_NO_FILE, /* code in no file (JIT, anonymous) or a file the agent could not read
			     */
	EMBER_M_FP_NO_EH_FRAME, /* a file with no usable .eh_frame */
	EMBER_M_FP_PENDING,	/* the chunk's table is not built yet (asked for) */
	EMBER_M_FP_GAP,		/* an address no FDE covers */
	/* Walks that reached the outermost frame (by its rule, or rbp 0 at a frame-pointer step).
	 */
	EMBER_M_UNWIND_COMPLETE,
	/* Trace links. */
	EMBER_M_LINKS,		 /* samples that carried a link */
	EMBER_M_LINK_READ_FAULT, /* the thread-context pointer or record was unreadable */
	EMBER_M_LINK_INVALID,	 /* a record with valid != 1 or a zero trace id */
	EMBER_M_LINKS_MERGED,	 /* link map full: the sample kept no link */
	/*
	 * CPython frames. A Python walk that ends early keeps the frames read
	 * so far and counts under exactly one of the _PY_ reasons after
	 * PY_NO_THREAD; the native stack is kept whole either way.
	 */
	EMBER_M_PY_SAMPLES,    /* samples of a Python thread that carried Python frames */
	EMBER_M_PY_FRAMES,     /* Python frames read */
	EMBER_M_PY_NO_THREAD,  /* a Python process's thread with no thread state (not in Python) */
	EMBER_M_PY_READ_FAULT, /* Python walk ended: a thread state or frame was unreadable */
	EMBER_M_PY_BAD_OBJECT, /* Python walk ended: a frame's code was no code object */
	EMBER_M_PY_DEPTH_CUT,  /* Python walk ended: EMBER_PY_MAX_FRAMES frames and still going */
	EMBER_M_PY_UNPLACED,   /* Python frames no native eval frame claimed: put at the root */
	/*
	 * Off-CPU (--off-cpu). Every switch out into a sleep of a thread the
	 * filters keep is counted once in OFFCPU_SWITCHES and then once more
	 * under exactly one of the reasons up to OFFCPU_RECORDED; a recorded
	 * wait ends under exactly one of OFFCPU_WAITS, _SHORT or _STACK_LOST.
	 */
	EMBER_M_OFFCPU_SWITCHES,     /* switches out into a sleep (interruptible or not) */
	EMBER_M_OFFCPU_KTHREAD,	     /* ... of a kernel thread: not profiled */
	EMBER_M_OFFCPU_UNSAMPLED,    /* ... not walked: timed only */
	EMBER_M_OFFCPU_WAITS_FULL,   /* ... dropped: no memory for the thread's wait */
	EMBER_M_OFFCPU_RECORDED,     /* ... recorded, stacks and all */
	EMBER_M_OFFCPU_WAITS,	     /* recorded waits that ended and were added */
	EMBER_M_OFFCPU_SHORT,	     /* recorded waits under --off-cpu-min-us: not added */
	EMBER_M_OFFCPU_STACK_LOST,   /* recorded waits whose stack was evicted: not added */
	EMBER_M_OFFCPU_COUNTS_FULL,  /* ended waits dropped: the off-CPU count map was full */
	EMBER_M_OFFCPU_USTACK_FAULT, /* recorded waits with no user stack (read fault) */
	EMBER_M_OFFCPU_NS,	     /* weighted nanoseconds added */
	EMBER_M_OFFCPU_LOST_NS,	     /* weighted nanoseconds of waits dropped (STACK_LOST, FULL) */
	EMBER_M_OFFCPU_UNDER_WAY,    /* waits still under way at a drain: added up to it */
	EMBER_M_OFFCPU_REUSED,	     /* recorded waits that reused the thread's last stacks */
	EMBER_M_OFFCPU_WAKER_LATE,   /* ended waits whose waker the recording held up */
	EMBER_M_OFFCPU_GONE_FULL,    /* exited threads' sums with no room: their counts unscaled */
	/*
	 * Memory (--alloc). Every alloc probe hit is counted in MEM_ALLOCS and
	 * its weight in MEM_BYTES, or else in MEM_BOGUS; MEM_COUNTS_FULL of
	 * those were not added.
	 * With --inuse each is kept as live, or counted under one of
	 * MEM_NO_STACK, MEM_LIVE_FULL and MEM_PROC_FULL; each free probe hit
	 * ends one live block (MEM_FREES) or finds none (MEM_FREE_UNKNOWN).
	 */
	EMBER_M_MEM_ALLOCS,	  /* sampled allocations seen */
	EMBER_M_MEM_BYTES,	  /* their weights, in bytes */
	EMBER_M_MEM_COUNTS_FULL,  /* ... not added: the memory count map was full */
	EMBER_M_MEM_STACK_LOST,	  /* ... whose user stack was not stored: stack map full */
	EMBER_M_MEM_USTACK_FAULT, /* ... with no user stack (read fault) */
	EMBER_M_MEM_NO_STACK,	  /* ... not kept as live: no stack to show them under */
	EMBER_M_MEM_LIVE_FULL,	  /* ... not kept as live: the live map was full */
	EMBER_M_MEM_PROC_FULL,	  /* ... not kept as live: the process holds its share */
	EMBER_M_MEM_FREES,	  /* frees of a block kept as live */
	EMBER_M_MEM_FREE_UNKNOWN, /* frees of a pointer not kept (sampled before attach, or bogus)
				   */
	EMBER_M_MEM_BOGUS, /* sampled allocations of a weight over EMBER_MEM_MAX_WEIGHT: dropped */
	/*
	 * Walks that found a return address of a known process in none of the
	 * mappings the agent had read (its libraries mapped after that read),
	 * and asked for them to be read again (EMBER_EV_REMAP).
	 */
	EMBER_M_REMAP_ASKED,
	EMBER_M_NR,
};

#endif /* EMBERPROF_ABI_H */
