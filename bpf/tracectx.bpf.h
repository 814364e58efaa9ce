/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * Trace context: the span a sampled thread runs in, read from the thread's
 * OpenTelemetry context record (the agent finds its TLS offset) or from
 * OBI's pinned map, and stored as a link beside the sample's count.
 */
#ifndef EMBER_TRACECTX_BPF_H
#define EMBER_TRACECTX_BPF_H

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

/* Per-CPU scratch for a link being read, one per walking program. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLOT_NR);
	__type(key, __u32);
	__type(value, struct ember_link);
} link_scratch SEC(".maps");

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

#endif /* EMBER_TRACECTX_BPF_H */
