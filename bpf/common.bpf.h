/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * What every part of the BPF side shares: the two-generation map pair, the
 * metrics array and its counter, the event ring buffer to the agent, and
 * the register accessor. Included once, by emberprof.bpf.c.
 */
#ifndef EMBER_COMMON_BPF_H
#define EMBER_COMMON_BPF_H

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

/*
 * Per-CPU scratch (walk state, stacks, links) has one slot per program that
 * walks stacks: a perf event's NMI can interrupt the sched_switch program
 * mid-walk on the same CPU, and must not write over its state.
 */
enum scratch_slot {
	SLOT_SAMPLE = 0, /* on_sample */
	SLOT_SWITCH = 1, /* on_switch */
	SLOT_MEM = 2,	 /* on_alloc */
	SLOT_NR,
};

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

static __always_inline void add_metric(__u32 m, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&metrics, &m);

	if (v)
		*v += n; /* per-CPU: no other writer */
}

static __always_inline void count_metric(__u32 m)
{
	add_metric(m, 1);
}

/* Returns 0, or -1 when the ring buffer is full (counted). */
static __always_inline int send_event(__u32 type, __u32 tgid, __u32 slot)
{
	struct ember_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);

	if (!ev) {
		count_metric(EMBER_M_EVENTS_LOST);
		return -1;
	}
	ev->type = type;
	ev->tgid = tgid;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	ev->slot = slot;
	ev->pad = 0;
	bpf_ringbuf_submit(ev, 0);
	return 0;
}

/*
 * key: tgid; value: when the agent was last asked to read its mappings
 * (bpf_ktime_get_ns). Processes whose mappings the agent has been asked to
 * read. LRU, so forgetting a process only costs a redundant re-read.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, __u64);
} known_procs SEC(".maps");

/* A walk asks for a known process's mappings again at most this often. */
#define EMBER_REMAP_NS (100 * 1000000ull)

/*
 * A walk of @tgid found a return address in no mapping the agent had read:
 * the process read at its first sample, while the dynamic loader was still
 * mapping its libraries (clang++: libLLVM, libclang-cpp), and without this
 * its walks stop there until the next drain's re-read. A process not known
 * yet is left to remember_process(), which asks for the first read.
 */
static __always_inline void ask_remap(__u32 tgid)
{
	__u64 *asked = bpf_map_lookup_elem(&known_procs, &tgid), now, was;

	if (!asked)
		return;
	now = bpf_ktime_get_ns();
	was = *asked;
	if (now - was < EMBER_REMAP_NS)
		return;
	*asked = now;
	if (send_event(EMBER_EV_REMAP, tgid, 0))
		*asked = was; /* not delivered: the next walk asks again */
	else
		count_metric(EMBER_M_REMAP_ASKED);
}

/*
 * A word of the interrupted registers. volatile: the context allows only
 * whole-word loads, and the compiler would otherwise read one byte of cs.
 */
#define CTX_REG(ctx, r) (*(volatile __u64 *)&(ctx)->regs.r)

#endif /* EMBER_COMMON_BPF_H */
