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

/* Frames per stack: the kernel's PERF_MAX_STACK_DEPTH default. */
#define EMBER_MAX_STACK 127
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
	char comm[EMBER_COMM_LEN];
};
_Static_assert(sizeof(struct ember_key) == 40, "ember_key layout");

/* One stored stack: @len return addresses, leaf first. */
struct ember_stack {
	__u32 len;
	__u32 pad;
	__u64 ips[EMBER_MAX_STACK];
};
_Static_assert(sizeof(struct ember_stack) == 1024, "ember_stack layout");

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
	EMBER_M_NR,
};

#endif /* EMBERPROF_ABI_H */
