// SPDX-License-Identifier: Apache-2.0
/*
 * The flame graph writer: from the profile model (the agent's, or one that
 * profile/pprof_read.c built from any tool's pprof: emberprof's, Go's
 * runtime/pprof, perf's via converters) it writes one HTML file that holds
 * the page (profile/flamegraph.html, embedded by the Makefile) and the profile
 * as JSON inside a <script type="application/json"> element. The page does
 * all the drawing; this file only reduces the profile to what it needs.
 *
 * The embedded data is built to stay small and quick to read for 100k
 * distinct stacks:
 *
 *   strings  every name once (functions, files, process and thread names,
 *            trace and span ids, sample types);
 *   frames   [name, file, line, kind] per distinct (name, file, kind): the
 *            page merges a function's locations into one frame as pprof's own
 *            flame graph does. line is the line when all locations agree, else
 *            minus the function's start line ("starts at"), else 0;
 *   nodes    the prefix tree (trie) of all stacks, root first. Stacks share
 *            their callers, so the trie is far smaller than the stacks written
 *            out. Nodes are numbered depth first, so a node's parent is
 *            usually the node just before it: each node is frame * 2 + 1
 *            followed by its distance to its parent (0: a root), or frame * 2
 *            when that distance is 1;
 *   labels   [process, thread, trace_id, span_id] string indices per distinct
 *            label set (0 is the empty string: not known);
 *   samples  node, label set, value... per distinct (stack, label set), the
 *            values divided by their column's greatest common divisor (the
 *            "scale" in types), which turns cpu nanoseconds back into counts.
 *
 * nodes and samples are strings of unsigned integers in a base-32 varint
 * with no separators: a digit from "g".."z", "0".."9", "-", "_" (0..31) is
 * followed by more digits, one from "A".."Z", "a".."f" (0..31) ends the
 * number; least significant digit first. Typical numbers take 1 to 4
 * characters instead of 2 to 8 for JSON's decimals and commas, and the
 * alphabet needs no escaping in JSON or HTML.
 *
 * A differential graph puts both profiles into the same tables; the base's
 * rows go into "base". The page builds one tree holding both values per node.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/array.h"
#include "lib/file.h"
#include "lib/htab.h"
#include "lib/log.h"
#include "profile/flamegraph.h"
#include "profile/profile.h"

/* From build/gen/flamegraph_html.c, generated from profile/flamegraph.html. */
extern const unsigned char flamegraph_html[];
extern const unsigned int flamegraph_html_len;

#define EMBER_FG_MARKER "/*EMBERPROF_DATA*/"
#define EMBER_FG_NONE UINT32_MAX
/* The page's kinds, the order of its legend. */
enum fg_kind { FG_UNKNOWN, FG_KERNEL, FG_NATIVE, FG_INLINE, FG_JIT, FG_PYTHON };

struct u32v {
	uint32_t *v;
	size_t n, cap;
};

struct i64v {
	int64_t *v;
	size_t n, cap;
};

/* One profile's rows: values summed per (node, label set). */
struct fg_slot {
	struct htab *rows;
	struct u32v keys; /* node, label set per row */
	struct i64v vals; /* ntypes per row */
	uint32_t ntypes;
	uint32_t type_name[64], type_unit[64];
	uint32_t dtype;
};

struct fg {
	struct htab *strs;
	const char **str;
	size_t nstr, capstr;

	struct htab *frames;
	struct u32v frame;	/* name, file, kind per frame */
	struct i64v frame_line; /* line, start line per frame; line -1: locations differ */

	struct htab *nodes;
	struct u32v node; /* parent, frame per node */

	struct htab *labelsets;
	struct u32v labels; /* process, thread, trace, span per set */

	struct fg_slot slot[2];
	int nslots;
};

/* One input profile: each location's frames (root first), built once, in fr. */
struct src {
	const struct profile *p;
	uint32_t *loc_off, *loc_cnt; /* by location index */
	struct u32v fr;
};

static int u32_push(struct u32v *a, uint32_t x)
{
	if (EMBER_RESERVE(a->v, a->cap, a->n + 1))
		return -ENOMEM;
	a->v[a->n++] = x;
	return 0;
}

static int i64_push(struct i64v *a, int64_t x)
{
	if (EMBER_RESERVE(a->v, a->cap, a->n + 1))
		return -ENOMEM;
	a->v[a->n++] = x;
	return 0;
}

/* --- Interning ---------------------------------------------------------- */

static uint32_t intern_str(struct fg *g, const char *s)
{
	size_t len = strlen(s);
	int added = 0;
	uint64_t *v = htab__get(g->strs, s, len, 1, g->nstr, &added);

	if (!v)
		return EMBER_FG_NONE;
	if (added) {
		if (EMBER_RESERVE(g->str, g->capstr, g->nstr + 1)) {
			htab__del(g->strs, s, len);
			return EMBER_FG_NONE;
		}
		g->str[g->nstr++] = htab__key(g->strs, s, len);
	}
	return (uint32_t)*v;
}

static uint32_t intern_frame(struct fg *g, const char *name, const char *file, int64_t line,
			     int64_t start_line, enum fg_kind kind)
{
	uint32_t key[3] = {intern_str(g, name), intern_str(g, file), kind};
	uint32_t n = g->frame.n / 3;
	int added = 0;
	uint64_t *v;

	if (key[0] == EMBER_FG_NONE || key[1] == EMBER_FG_NONE)
		return EMBER_FG_NONE;
	v = htab__get(g->frames, key, sizeof(key), 1, n, &added);
	if (!v)
		return EMBER_FG_NONE;
	if (added) {
		if (u32_push(&g->frame, key[0]) || u32_push(&g->frame, key[1]) ||
		    u32_push(&g->frame, key[2]) || i64_push(&g->frame_line, line) ||
		    i64_push(&g->frame_line, start_line))
			return EMBER_FG_NONE;
		return n;
	}
	n = (uint32_t)*v;
	if (g->frame_line.v[2 * n] != line)
		g->frame_line.v[2 * n] = -1;
	if (start_line > 0)
		g->frame_line.v[2 * n + 1] = start_line;
	return n;
}

static uint32_t intern_node(struct fg *g, uint32_t parent, uint32_t frame)
{
	uint32_t key[2] = {parent, frame};
	uint32_t n = g->node.n / 2;
	int added = 0;
	uint64_t *v = htab__get(g->nodes, key, sizeof(key), 1, n, &added);

	if (!v)
		return EMBER_FG_NONE;
	if (added && (u32_push(&g->node, parent) || u32_push(&g->node, frame)))
		return EMBER_FG_NONE;
	return (uint32_t)*v;
}

static uint32_t intern_labelset(struct fg *g, const uint32_t key[4])
{
	uint32_t n = g->labels.n / 4;
	int added = 0;
	uint64_t *v = htab__get(g->labelsets, key, 4 * sizeof(*key), 1, n, &added);

	if (!v)
		return EMBER_FG_NONE;
	if (added)
		for (int i = 0; i < 4; i++)
			if (u32_push(&g->labels, key[i]))
				return EMBER_FG_NONE;
	return (uint32_t)*v;
}

static int add_row(struct fg_slot *s, uint32_t node, uint32_t ls, const int64_t *vals)
{
	uint32_t key[2] = {node, ls};
	uint64_t row = s->keys.n / 2, *v;
	int added = 0;

	v = htab__get(s->rows, key, sizeof(key), 1, row, &added);
	if (!v)
		return -ENOMEM;
	if (added) {
		if (u32_push(&s->keys, node) || u32_push(&s->keys, ls))
			return -ENOMEM;
		for (uint32_t i = 0; i < s->ntypes; i++)
			if (i64_push(&s->vals, vals[i]))
				return -ENOMEM;
		return 0;
	}
	row = *v;
	for (uint32_t i = 0; i < s->ntypes; i++)
		s->vals.v[row * s->ntypes + i] += vals[i];
	return 0;
}

/* --- Reading the model ----------------------------------------------------- */

static int starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int ends(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/*
 * The kind of a location's outermost frame. emberprof puts kernel frames in a
 * "[kernel.kallsyms]" mapping and JIT code in "[anon]" ones; perf's
 * converters do the same, and folded-stack converters mark kernel functions
 * with a "_[k]" suffix. Without a mapping, kernel addresses still give
 * themselves away by their upper half; the unwinder's "[unwind stopped: ...]"
 * markers, also without one, are of no kind. CPython's frames are in the
 * "[python]" mapping.
 */
static enum fg_kind location_kind(const char *mfile, const char *ffile, const char *name,
				  uint64_t addr)
{
	/* A stopped walk's marker sits at a kernel-looking address but is no code. */
	if (starts(name, "[unwind stopped"))
		return FG_UNKNOWN;
	if (mfile && (starts(mfile, "[kernel") || starts(mfile, "[vmlinux")))
		return FG_KERNEL;
	if ((!mfile || !*mfile) &&
	    (strcmp(ffile, "[kernel.kallsyms]") == 0 || (!mfile && addr >= 0xffff800000000000ull)))
		return FG_KERNEL;
	if (ends(name, "_[k]"))
		return FG_KERNEL;
	/* Interpreted frames: emberprof's CPython frames, in their own mapping. */
	if (mfile && strcmp(mfile, PROF_PYTHON_MAPPING) == 0)
		return *name ? FG_PYTHON : FG_UNKNOWN;
	if (!*name)
		return FG_UNKNOWN;
	if (mfile && (!*mfile || starts(mfile, "[anon") || starts(mfile, "//anon") ||
		      starts(mfile, "[jit") || starts(mfile, "memfd:") ||
		      starts(mfile, "/memfd:") || starts(mfile, "/tmp/perf-")))
		return FG_JIT;
	if (ends(name, "_[j]"))
		return FG_JIT;
	return FG_NATIVE;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash && slash[1] ? slash + 1 : path;
}

/* The mapping of @loc, or NULL. */
static const struct prof_mapping *mapping_of(const struct profile *p,
					     const struct prof_location *loc)
{
	size_t n;
	const struct prof_mapping *maps = profile__mappings(p, &n);

	return loc->mapping_id && loc->mapping_id <= n ? &maps[loc->mapping_id - 1] : NULL;
}

/* A location's frames, root (outermost inline caller) first, into s->fr. */
static int location_frames(struct fg *g, struct src *s, const struct prof_location *loc)
{
	size_t nstr, nfns;
	const char *const *str = profile__strings(s->p, &nstr);
	const struct prof_function *fns = profile__functions(s->p, &nfns);
	const struct prof_mapping *m = mapping_of(s->p, loc);
	const char *mfile = m ? str[m->filename] : NULL;
	uint32_t f;

	for (size_t j = loc->nlines; j-- > 0;) {
		const struct prof_line *l = &loc->lines[j];
		const struct prof_function *fn =
			l->function_id && l->function_id <= nfns ? &fns[l->function_id - 1] : NULL;
		const char *name = fn ? str[fn->name] : "";
		const char *file = fn ? str[fn->filename] : "";
		enum fg_kind kind;

		if (!*name && fn)
			name = str[fn->system_name];
		if (!*name)
			continue;
		kind = location_kind(mfile, file, name, loc->address);
		/* Every line but the last was inlined into the one after it. */
		if (j + 1 < loc->nlines && kind != FG_KERNEL)
			kind = FG_INLINE;
		f = intern_frame(g, name, file, l->line, fn ? fn->start_line : 0, kind);
		if (f == EMBER_FG_NONE || u32_push(&s->fr, f))
			return -ENOMEM;
	}
	return 0;
}

/* An unnamed location keeps its address, relative to its file when known. */
static int unnamed_frame(struct fg *g, struct src *s, const struct prof_location *loc)
{
	size_t nstr;
	const char *const *str = profile__strings(s->p, &nstr);
	const struct prof_mapping *m = mapping_of(s->p, loc);
	const char *mfile = m ? str[m->filename] : NULL;
	enum fg_kind kind = location_kind(mfile, "", "", loc->address);
	char name[512];
	uint32_t f;

	if (m && *mfile)
		snprintf(name, sizeof(name), "%s+0x%" PRIx64, base_name(mfile),
			 loc->address - m->start + m->offset);
	else
		snprintf(name, sizeof(name), "0x%" PRIx64, loc->address);
	f = intern_frame(g, name, m ? mfile : "", 0, 0, kind);
	if (f == EMBER_FG_NONE || u32_push(&s->fr, f))
		return -ENOMEM;
	return 0;
}

static int src_open(struct fg *g, struct src *s, const struct profile *p)
{
	size_t nlocs;
	const struct prof_location *locs = profile__locations(p, &nlocs);
	int err;

	s->p = p;
	s->loc_off = calloc(nlocs + 1, sizeof(*s->loc_off));
	s->loc_cnt = calloc(nlocs + 1, sizeof(*s->loc_cnt));
	if (!s->loc_off || !s->loc_cnt)
		return -ENOMEM;
	for (size_t i = 0; i < nlocs; i++) {
		s->loc_off[i] = s->fr.n;
		err = location_frames(g, s, &locs[i]);
		if (!err && s->fr.n == s->loc_off[i])
			err = unnamed_frame(g, s, &locs[i]);
		if (err)
			return err;
		s->loc_cnt[i] = s->fr.n - s->loc_off[i];
	}
	return 0;
}

static void src_close(struct src *s)
{
	free(s->loc_off);
	free(s->loc_cnt);
	free(s->fr.v);
}

/* "name (id)", "name", "label id" or "" for what a sample says about itself. */
static uint32_t who(struct fg *g, const char *name, int64_t id, const char *what)
{
	char buf[512];

	if (*name && id)
		snprintf(buf, sizeof(buf), "%s (%" PRId64 ")", name, id);
	else if (*name)
		snprintf(buf, sizeof(buf), "%s", name);
	else if (id)
		snprintf(buf, sizeof(buf), "%s %" PRId64, what, id);
	else
		buf[0] = '\0';
	return intern_str(g, buf);
}

static uint32_t sample_labelset(struct fg *g, const struct profile *p,
				const struct prof_sample *smp)
{
	size_t nstr, nlinks;
	const char *const *str = profile__strings(p, &nstr);
	const struct prof_link *links = profile__links(p, &nlinks);
	const struct prof_link *l = smp->link && smp->link <= nlinks ? &links[smp->link - 1] : NULL;
	const char *process = str[smp->process], *comm = str[smp->comm];
	uint32_t key[4];

	if (!*process && !smp->pid && *comm)
		process = comm;
	key[0] = who(g, process, smp->pid, "pid");
	key[1] = who(g, comm, smp->tid, "tid");
	key[2] = intern_str(g, l ? str[l->trace_hex] : "");
	key[3] = intern_str(g, l ? str[l->span_hex] : "");
	for (int i = 0; i < 4; i++)
		if (key[i] == EMBER_FG_NONE)
			return EMBER_FG_NONE;
	return intern_labelset(g, key);
}

/*
 * Adds @s's samples to @slot. @only: keep just the default sample type (a
 * diff compares one value per profile).
 */
static int add_samples(struct fg *g, struct fg_slot *slot, struct src *s, int only)
{
	const struct profile *p = s->p;
	size_t nsamples, nlocs, dt, ntypes = profile__sample_types(p, &dt);
	const struct prof_sample *samples = profile__samples(p, &nsamples);
	uint32_t first, empty = EMBER_FG_NONE;
	int64_t vals[64];

	profile__locations(p, &nlocs);
	slot->rows = htab__new();
	if (!slot->rows)
		return -ENOMEM;
	slot->ntypes = only ? 1 : (uint32_t)ntypes;
	if (slot->ntypes > 64)
		slot->ntypes = 64;
	if (dt >= slot->ntypes && !only)
		dt = slot->ntypes - 1;
	first = only ? (uint32_t)dt : 0;
	slot->dtype = only ? 0 : (uint32_t)dt;
	for (uint32_t i = 0; i < slot->ntypes; i++) {
		const char *name, *unit;

		profile__sample_type(p, first + i, &name, &unit);
		slot->type_name[i] = intern_str(g, name);
		slot->type_unit[i] = intern_str(g, unit);
		if (slot->type_name[i] == EMBER_FG_NONE || slot->type_unit[i] == EMBER_FG_NONE)
			return -ENOMEM;
	}
	for (size_t i = 0; i < nsamples; i++) {
		const struct prof_sample *smp = &samples[i];
		uint32_t node = EMBER_FG_NONE, ls;
		int any = 0;

		for (uint32_t k = 0; k < slot->ntypes; k++) {
			int64_t v = profile__value(p, smp, first + k);

			/* Negative values (pprof -diff_base output) are not drawable. */
			vals[k] = v > 0 ? v : 0;
			any |= vals[k] != 0;
		}
		if (!any)
			continue;
		for (size_t j = smp->nlocs; j-- > 0;) {
			uint64_t id = smp->loc_ids[j];

			if (!id || id > nlocs)
				continue;
			for (uint32_t k = 0; k < s->loc_cnt[id - 1]; k++) {
				node = intern_node(g, node, s->fr.v[s->loc_off[id - 1] + k]);
				if (node == EMBER_FG_NONE)
					return -ENOMEM;
			}
		}
		if (node == EMBER_FG_NONE) {
			if (empty == EMBER_FG_NONE) {
				uint32_t f = intern_frame(g, "[no stack]", "", 0, 0, FG_UNKNOWN);

				empty = f == EMBER_FG_NONE ? f : intern_node(g, EMBER_FG_NONE, f);
				if (empty == EMBER_FG_NONE)
					return -ENOMEM;
			}
			node = empty;
		}
		ls = sample_labelset(g, p, smp);
		if (ls == EMBER_FG_NONE || add_row(slot, node, ls, vals))
			return -ENOMEM;
	}
	return 0;
}

/* --- Writing ----------------------------------------------------------------- */

struct out {
	FILE *f;
	int err;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (!o->err && n && fwrite(s, 1, n, o->f) != n)
		o->err = -EIO;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void put_i64(struct out *o, int64_t v)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%" PRId64, v);

	put(o, buf, n);
}

/*
 * A JSON string that is also safe inside the page's <script> element: '<'
 * and every '/' are escaped, so neither "</script" nor a URL scheme such as
 * "http://" can appear in the file, whatever a function or file is named.
 */
static void put_json_str(struct out *o, const char *s)
{
	const char *run = s;

	put(o, "\"", 1);
	for (; *s; s++) {
		unsigned char c = *s;
		char esc[8];

		if (c >= 0x20 && c != '"' && c != '\\' && c != '/' && c != '<' && c != 0x7f)
			continue;
		put(o, run, s - run);
		if (c == '"' || c == '\\' || c == '/')
			snprintf(esc, sizeof(esc), "\\%c", c);
		else
			snprintf(esc, sizeof(esc), "\\u%04x", c);
		puts_(o, esc);
		run = s + 1;
	}
	put(o, run, s - run);
	put(o, "\"", 1);
}

static void put_b32(struct out *o, uint64_t v)
{
	static const char end[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef";
	static const char more[] = "ghijklmnopqrstuvwxyz0123456789-_";
	char buf[16];
	int n = 0;

	while (v >= 32) {
		buf[n++] = more[v & 31];
		v >>= 5;
	}
	buf[n++] = end[v];
	put(o, buf, n);
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

static void put_slot(struct out *o, const struct fg_slot *s, const uint32_t *renum)
{
	size_t nrows = s->keys.n / 2;
	uint64_t scale[64];

	for (uint32_t t = 0; t < s->ntypes; t++) {
		scale[t] = 0;
		for (size_t r = 0; r < nrows; r++)
			scale[t] = gcd(scale[t], (uint64_t)s->vals.v[r * s->ntypes + t]);
		if (!scale[t])
			scale[t] = 1;
	}
	puts_(o, "\"types\":[");
	for (uint32_t t = 0; t < s->ntypes; t++) {
		puts_(o, t ? ",[" : "[");
		put_i64(o, s->type_name[t]);
		put(o, ",", 1);
		put_i64(o, s->type_unit[t]);
		put(o, ",", 1);
		put_i64(o, (int64_t)scale[t]);
		put(o, "]", 1);
	}
	puts_(o, "],\"dtype\":");
	put_i64(o, s->dtype);
	puts_(o, ",\"samples\":\"");
	for (size_t r = 0; r < nrows; r++) {
		put_b32(o, renum[s->keys.v[2 * r]]);
		put_b32(o, s->keys.v[2 * r + 1]);
		for (uint32_t t = 0; t < s->ntypes; t++)
			put_b32(o, (uint64_t)s->vals.v[r * s->ntypes + t] / scale[t]);
	}
	put(o, "\"", 1);
}

/*
 * Numbers the trie's nodes depth first (parents before children, siblings
 * together), so that the page can sum values in one backward pass and most
 * parent deltas are small. Returns old -> new ids, or NULL.
 */
static uint32_t *dfs_order(const struct fg *g, uint32_t **order_out)
{
	size_t n = g->node.n / 2;
	uint32_t *first = malloc((n + 1) * sizeof(*first));
	uint32_t *next = malloc((n + 1) * sizeof(*next));
	uint32_t *stack = malloc((n + 1) * sizeof(*stack));
	uint32_t *renum = malloc((n + 1) * sizeof(*renum));
	uint32_t *order = malloc((n + 1) * sizeof(*order));
	uint32_t roots = EMBER_FG_NONE, k = 0;
	size_t sp = 0;

	if (!first || !next || !stack || !renum || !order) {
		free(renum);
		free(order);
		renum = NULL;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		first[i] = EMBER_FG_NONE;
	/* Backwards, so that pushing to the front keeps insertion order. */
	for (size_t i = n; i-- > 0;) {
		uint32_t parent = g->node.v[2 * i];
		uint32_t *head = parent == EMBER_FG_NONE ? &roots : &first[parent];

		next[i] = *head;
		*head = i;
	}
	/* Push siblings in reverse so the first is visited first. */
	for (uint32_t c = roots; c != EMBER_FG_NONE; c = next[c])
		stack[sp++] = c;
	for (size_t a = 0, b = sp; a + 1 < b; a++, b--) {
		uint32_t t = stack[a];

		stack[a] = stack[b - 1];
		stack[b - 1] = t;
	}
	while (sp) {
		uint32_t v = stack[--sp];
		size_t base = sp;

		renum[v] = k;
		order[k++] = v;
		for (uint32_t c = first[v]; c != EMBER_FG_NONE; c = next[c])
			stack[sp++] = c;
		for (size_t a = base, b = sp; a + 1 < b; a++, b--) {
			uint32_t t = stack[a];

			stack[a] = stack[b - 1];
			stack[b - 1] = t;
		}
	}
	*order_out = order;
out:
	free(first);
	free(next);
	free(stack);
	return renum;
}

static int write_json(struct out *o, const struct fg *g, const char *title)
{
	uint32_t *order = NULL, *renum = dfs_order(g, &order);
	size_t nnodes = g->node.n / 2, nframes = g->frame.n / 3;

	if (!renum)
		return -ENOMEM;
	puts_(o, "{\"v\":1,\"title\":");
	put_json_str(o, title ? title : "");
	puts_(o, ",\"diff\":");
	puts_(o, g->nslots > 1 ? "true" : "false");
	puts_(o, ",\n\"strings\":[");
	for (size_t i = 0; i < g->nstr; i++) {
		if (i)
			put(o, ",\n", 2);
		put_json_str(o, g->str[i]);
	}
	puts_(o, "],\n\"frames\":[");
	for (size_t i = 0; i < nframes; i++) {
		int64_t line = g->frame_line.v[2 * i], start = g->frame_line.v[2 * i + 1];

		if (line < 0)
			line = start > 0 ? -start : 0;
		if (i)
			put(o, ",\n", 2);
		put_i64(o, g->frame.v[3 * i]);
		put(o, ",", 1);
		put_i64(o, g->frame.v[3 * i + 1]);
		put(o, ",", 1);
		put_i64(o, line);
		put(o, ",", 1);
		put_i64(o, g->frame.v[3 * i + 2]);
	}
	puts_(o, "],\n\"nodes\":\"");
	for (size_t k = 0; k < nnodes; k++) {
		uint32_t v = order[k], parent = g->node.v[2 * v];
		uint64_t delta = parent == EMBER_FG_NONE ? 0 : k - renum[parent];

		put_b32(o, 2 * (uint64_t)g->node.v[2 * v + 1] + (delta != 1));
		if (delta != 1)
			put_b32(o, delta);
	}
	puts_(o, "\",\n\"labels\":[");
	for (size_t i = 0; i < g->labels.n; i++) {
		if (i)
			put(o, i % 64 ? "," : ",\n", i % 64 ? 1 : 2);
		put_i64(o, g->labels.v[i]);
	}
	puts_(o, "],\n");
	put_slot(o, &g->slot[0], renum);
	if (g->nslots > 1) {
		puts_(o, ",\n\"base\":{");
		put_slot(o, &g->slot[1], renum);
		put(o, "}", 1);
	}
	puts_(o, "}");
	free(renum);
	free(order);
	return o->err;
}

static void fg_free(struct fg *g)
{
	htab__free(g->strs);
	free(g->str);
	htab__free(g->frames);
	free(g->frame.v);
	free(g->frame_line.v);
	htab__free(g->nodes);
	free(g->node.v);
	htab__free(g->labelsets);
	free(g->labels.v);
	for (int i = 0; i < 2; i++) {
		htab__free(g->slot[i].rows);
		free(g->slot[i].keys.v);
		free(g->slot[i].vals.v);
	}
}

static int fg_init(struct fg *g)
{
	g->strs = htab__new();
	g->frames = htab__new();
	g->nodes = htab__new();
	g->labelsets = htab__new();
	if (!g->strs || !g->frames || !g->nodes || !g->labelsets)
		return -ENOMEM;
	/* String 0 is "", as in pprof: label indices use it for "not known". */
	return intern_str(g, "") == 0 ? 0 : -ENOMEM;
}

/* Writes the page with @g's data to @f. */
static int put_page(FILE *f, const struct fg *g, const char *title)
{
	const char *page = (const char *)flamegraph_html;
	const char *mark =
		memmem(page, flamegraph_html_len, EMBER_FG_MARKER, strlen(EMBER_FG_MARKER));
	struct out o = {.f = f};
	int err;

	if (!mark)
		return -ENOEXEC;
	put(&o, page, mark - page);
	err = write_json(&o, g, title);
	if (err)
		return err;
	mark += strlen(EMBER_FG_MARKER);
	put(&o, mark, page + flamegraph_html_len - mark);
	return o.err;
}

/*
 * Builds the graph of @in's @nslots profiles and writes it to @f or, with no
 * @f, to @path via a temporary file and rename.
 */
static int build(const struct profile *const in[2], int nslots, const char *title, const char *path,
		 FILE *f)
{
	struct atomic_file af;
	struct fg g = {0};
	struct src s[2] = {{0}};
	int err;

	err = fg_init(&g);
	g.nslots = nslots;
	for (int i = 0; !err && i < nslots; i++) {
		err = src_open(&g, &s[i], in[i]);
		if (!err)
			err = add_samples(&g, &g.slot[i], &s[i], nslots > 1);
	}
	if (!err && f) {
		err = put_page(f, &g, title);
	} else if (!err) {
		err = atomic_file__open(&af, path, 0644);
		if (!err) {
			err = put_page(af.f, &g, title);
			if (err)
				atomic_file__abort(&af);
			else
				err = atomic_file__commit(&af);
		}
	}
	for (int i = 0; i < 2; i++)
		src_close(&s[i]);
	fg_free(&g);
	return err;
}

int flamegraph__write(const struct profile *p, const char *title, const char *path)
{
	const struct profile *in[2] = {p, NULL};

	return build(in, 1, title, path, NULL);
}

int flamegraph__write_diff(const struct profile *base, const struct profile *next,
			   const char *title, const char *path)
{
	/* Slot 0 sizes the frames, so the new profile goes first. */
	const struct profile *in[2] = {next, base};

	return build(in, 2, title, path, NULL);
}

int flamegraph__fwrite(const struct profile *p, const char *title, FILE *f)
{
	const struct profile *in[2] = {p, NULL};

	return build(in, 1, title, NULL, f);
}

int flamegraph__fwrite_diff(const struct profile *base, const struct profile *next,
			    const char *title, FILE *f)
{
	const struct profile *in[2] = {next, base};

	return build(in, 2, title, NULL, f);
}
