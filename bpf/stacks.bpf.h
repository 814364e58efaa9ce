/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * Sample keys and stacks: the count map a sample is added to, and the stack
 * maps its user and kernel stacks are stored in once each, under a 64-bit
 * hash of their frames. Both are doubled into generations (common.bpf.h) so
 * the agent drains one while samples go to the other.
 */
#ifndef EMBER_STACKS_BPF_H
#define EMBER_STACKS_BPF_H

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

/* Per-CPU scratch for the kernel stack (one per walking program): too large for the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLOT_NR);
	__type(key, __u32);
	__type(value, struct ember_stack);
} scratch SEC(".maps");

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

/* Fills @st with the kernel stack. Returns its hash, 0 for none. */
static __always_inline __u64 kernel_stack(void *ctx, struct ember_stack *st, int user_mode)
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

#endif /* EMBER_STACKS_BPF_H */
