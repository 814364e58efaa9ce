// SPDX-License-Identifier: Apache-2.0
/*
 * The pprof encoder. The model's tables map one to one onto pprof's, so this
 * is a translation into protobuf-c structs that point into the model (nothing
 * is copied but the small per-message arrays), then one pack call.
 *
 * Conventions readers rely on:
 *   - sample types samples/count and cpu/nanoseconds, and off_cpu/nanoseconds
 *     with --off-cpu; period_type cpu/ns; default cpu;
 *   - labels pid and tid are numeric, comm and process are strings;
 *   - kernel frames live in the "[kernel.kallsyms]" mapping and name their
 *     module as the function's file name.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "profile.pb-c.h"
#include "lib/arena.h"
#include "lib/file.h"
#include "lib/gzip.h"
#include "lib/htab.h"
#include "profile/pprof.h"
#include "profile/profile.h"

/* Looks up a string index that the model may not have interned; returns 0 if absent. */
static int64_t find_string(const char *const *strings, size_t n, const char *want)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(strings[i], want) == 0)
			return (int64_t)i;
	return -1;
}

/*
 * pprof takes the first Mapping for the main binary (its "File:" line and
 * default source lookups). Put there the executable of the process with the
 * most samples; ids are unchanged, only the order of the list.
 */
static void main_mapping_first(Perftools__Profiles__Profile *out, const struct prof_sample *samples,
			       size_t nsamples, const struct prof_process *procs, size_t nprocs,
			       const struct prof_mapping *maps, size_t nmaps)
{
	struct htab *totals;
	uint64_t best = 0;
	uint32_t exe = 0;

	if (!out->mapping || nmaps < 2 || !(totals = htab__new()))
		return;
	for (size_t j = 0; j < nsamples; j++) {
		uint64_t *t =
			htab__get(totals, &samples[j].pid, sizeof(samples[j].pid), 1, 0, NULL);

		if (t)
			*t += (uint64_t)samples[j].count;
	}
	for (size_t i = 0; i < nprocs; i++) {
		uint64_t *t = htab__get(totals, &procs[i].pid, sizeof(procs[i].pid), 0, 0, NULL);

		if (t && *t > best && procs[i].exe) {
			best = *t;
			exe = procs[i].exe;
		}
	}
	htab__free(totals);
	for (size_t i = 1; exe && i < nmaps; i++) {
		if (maps[i].filename == exe) {
			Perftools__Profiles__Mapping *m = out->mapping[0];

			out->mapping[0] = out->mapping[i];
			out->mapping[i] = m;
			return;
		}
	}
}

/*
 * The names every profile's string table must hold: its sample and period
 * types, and the label keys. Each gets its string index at encode time.
 */
enum fixed_string {
	S_SAMPLES,
	S_COUNT,
	S_CPU,
	S_NANOSECONDS,
	S_OFF_CPU,
	S_PID,
	S_TID,
	S_COMM,
	S_PROCESS,
	S_TRACE_ID, /* the span the sample ran in, under the keys Pyroscope's span profiles use */
	S_SPAN_ID,
	S_SERVICE,
	S_CONTAINER,
	S_POD,
	S_NR,
};

static const char *const fixed_strings[S_NR] = {
	[S_SAMPLES] = "samples",
	[S_COUNT] = "count",
	[S_CPU] = "cpu",
	[S_NANOSECONDS] = "nanoseconds",
	[S_OFF_CPU] = "off_cpu",
	[S_PID] = "pid",
	[S_TID] = "tid",
	[S_COMM] = "comm",
	[S_PROCESS] = "process",
	[S_TRACE_ID] = "trace_id",
	[S_SPAN_ID] = "span_id",
	[S_SERVICE] = "service.name",
	[S_CONTAINER] = "container.id",
	[S_POD] = "k8s.pod.uid",
};

int pprof__encode(const struct profile *p, uint8_t **buf, size_t *len)
{
	Perftools__Profiles__Profile out = PERFTOOLS__PROFILES__PROFILE__INIT;
	Perftools__Profiles__ValueType vt[PROF_MAX_TYPES];
	Perftools__Profiles__ValueType period_type = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
	Perftools__Profiles__ValueType *vtp[PROF_MAX_TYPES];
	size_t dflt, ntypes = profile__sample_types(p, &dflt);
	const struct prof_sample *samples;
	const struct prof_location *locs;
	const struct prof_function *fns;
	const struct prof_mapping *maps;
	const char *const *model_strings;
	size_t nstr, nsamples, nlocs, nfns, nmaps, extra = 0;
	struct arena a = {0};
	int64_t idx[S_NR];
	const struct prof_process *procs;
	const struct prof_link *links;
	size_t nprocs, nlinks;
	struct htab *by_pid = htab__new();
	char **strings;
	int err = 0;

	model_strings = profile__strings(p, &nstr);
	samples = profile__samples(p, &nsamples);
	locs = profile__locations(p, &nlocs);
	fns = profile__functions(p, &nfns);
	maps = profile__mappings(p, &nmaps);

	/* The string table: the model's, plus the fixed names it may lack. */
	procs = profile__processes(p, &nprocs);
	links = profile__links(p, &nlinks);
	for (size_t i = 0; by_pid && i < nprocs; i++)
		htab__get(by_pid, &procs[i].pid, sizeof(procs[i].pid), 1, i, NULL);
	strings = arena_alloc(&a, (nstr + S_NR) * sizeof(*strings));
	if (!strings || !by_pid)
		goto nomem;
	memcpy(strings, model_strings, nstr * sizeof(*strings));
	for (int i = 0; i < S_NR; i++) {
		idx[i] = find_string(model_strings, nstr, fixed_strings[i]);
		if (idx[i] < 0) {
			idx[i] = (int64_t)(nstr + extra);
			strings[nstr + extra++] = (char *)fixed_strings[i];
		}
	}
	out.n_string_table = nstr + extra;
	out.string_table = strings;

	/*
	 * The agent's profiles: samples/count and cpu/nanoseconds, the period in
	 * cpu. A profile read from a file keeps its own types (their names are
	 * among the model's strings), the default one standing for the period.
	 */
	for (size_t k = 0; k < ntypes; k++) {
		const char *name, *unit;

		perftools__profiles__value_type__init(&vt[k]);
		vtp[k] = &vt[k];
		profile__sample_type(p, k, &name, &unit);
		vt[k].type = find_string((const char *const *)strings, nstr + extra, name);
		vt[k].unit = find_string((const char *const *)strings, nstr + extra, unit);
		if (vt[k].type < 0 || vt[k].unit < 0)
			goto nomem; /* cannot happen: they are in the table */
	}
	period_type.type = vt[dflt].type;
	period_type.unit = vt[dflt].unit;
	if (dflt != ntypes - 1)
		out.default_sample_type = vt[dflt].type;
	out.n_sample_type = ntypes;
	out.sample_type = vtp;
	out.period_type = &period_type;
	out.period = (int64_t)profile__period(p);
	out.time_nanos = (int64_t)profile__start(p);
	out.duration_nanos = (int64_t)profile__duration(p);

	out.n_mapping = nmaps;
	out.mapping = arena_alloc(&a, nmaps * sizeof(*out.mapping));
	for (size_t i = 0; out.mapping && i < nmaps; i++) {
		Perftools__Profiles__Mapping *m = arena_alloc(&a, sizeof(*m));

		if (!m)
			goto nomem;
		perftools__profiles__mapping__init(m);
		m->id = i + 1;
		m->memory_start = maps[i].start;
		m->memory_limit = maps[i].limit;
		m->file_offset = maps[i].offset;
		m->filename = maps[i].filename;
		m->build_id = maps[i].build_id;
		m->has_functions = maps[i].has_functions;
		m->has_filenames = maps[i].has_filenames;
		m->has_line_numbers = maps[i].has_line_numbers;
		m->has_inline_frames = maps[i].has_inline_frames;
		out.mapping[i] = m;
	}
	main_mapping_first(&out, samples, nsamples, procs, nprocs, maps, nmaps);

	out.n_function = nfns;
	out.function = arena_alloc(&a, nfns * sizeof(*out.function));
	for (size_t i = 0; out.function && i < nfns; i++) {
		Perftools__Profiles__Function *f = arena_alloc(&a, sizeof(*f));

		if (!f)
			goto nomem;
		perftools__profiles__function__init(f);
		f->id = i + 1;
		f->name = fns[i].name;
		f->system_name = fns[i].system_name;
		f->filename = fns[i].filename;
		out.function[i] = f;
	}

	out.n_location = nlocs;
	out.location = arena_alloc(&a, nlocs * sizeof(*out.location));
	for (size_t i = 0; out.location && i < nlocs; i++) {
		Perftools__Profiles__Location *l = arena_alloc(&a, sizeof(*l));

		if (!l)
			goto nomem;
		perftools__profiles__location__init(l);
		l->id = i + 1;
		l->mapping_id = locs[i].mapping_id;
		l->address = locs[i].address;
		l->n_line = locs[i].nlines;
		l->line = arena_alloc(&a, locs[i].nlines * sizeof(*l->line));
		if (!l->line)
			goto nomem;
		for (uint32_t j = 0; j < locs[i].nlines; j++) {
			Perftools__Profiles__Line *ln = arena_alloc(&a, sizeof(*ln));

			if (!ln)
				goto nomem;
			perftools__profiles__line__init(ln);
			ln->function_id = locs[i].lines[j].function_id;
			ln->line = locs[i].lines[j].line;
			l->line[j] = ln;
		}
		out.location[i] = l;
	}

	out.n_sample = nsamples;
	out.sample = arena_alloc(&a, nsamples * sizeof(*out.sample));
	for (size_t i = 0; out.sample && i < nsamples; i++) {
		const struct prof_sample *s = &samples[i];
		Perftools__Profiles__Sample *ps = arena_alloc(&a, sizeof(*ps));
		enum { MAXL = 9 + PROF_MAX_ATTRS };
		Perftools__Profiles__Label *labels = arena_alloc(&a, MAXL * sizeof(*labels));
		Perftools__Profiles__Label **lp = arena_alloc(&a, MAXL * sizeof(*lp));
		int64_t *values = arena_alloc(&a, ntypes * sizeof(*values));
		const struct prof_link *l = s->link ? &links[s->link - 1] : NULL;
		uint64_t *pi = htab__get(by_pid, &s->pid, sizeof(s->pid), 0, 0, NULL);
		size_t nl = 4;

		if (!ps || !labels || !lp || !values)
			goto nomem;
		perftools__profiles__sample__init(ps);
		for (int j = 0; j < MAXL; j++) {
			perftools__profiles__label__init(&labels[j]);
			lp[j] = &labels[j];
		}
		labels[0].key = idx[S_PID];
		labels[0].num = s->pid;
		labels[1].key = idx[S_TID];
		labels[1].num = s->tid;
		labels[2].key = idx[S_COMM];
		labels[2].str = s->comm;
		labels[3].key = idx[S_PROCESS];
		labels[3].str = s->process;
		if (l) {
			labels[nl].key = idx[S_TRACE_ID];
			labels[nl++].str = l->trace_hex;
			labels[nl].key = idx[S_SPAN_ID];
			labels[nl++].str = l->span_hex;
			for (uint32_t j = 0; j < l->nattrs; j++) {
				labels[nl].key = l->attrs[j].key;
				labels[nl++].str = l->attrs[j].value;
			}
		}
		if (pi && procs[*pi].service) {
			labels[nl].key = idx[S_SERVICE];
			labels[nl++].str = procs[*pi].service;
		}
		if (pi && procs[*pi].container_id && model_strings[procs[*pi].container_id][0]) {
			labels[nl].key = idx[S_CONTAINER];
			labels[nl++].str = procs[*pi].container_id;
		}
		if (pi && procs[*pi].pod_uid && model_strings[procs[*pi].pod_uid][0]) {
			labels[nl].key = idx[S_POD];
			labels[nl++].str = procs[*pi].pod_uid;
		}
		for (size_t k = 0; k < ntypes; k++)
			values[k] = profile__value(p, s, k);
		ps->n_location_id = s->nlocs;
		ps->location_id = s->loc_ids;
		ps->n_value = ntypes;
		ps->value = values;
		ps->n_label = nl;
		ps->label = lp;
		out.sample[i] = ps;
	}
	if (a.failed)
		goto nomem;

	*len = perftools__profiles__profile__get_packed_size(&out);
	*buf = malloc(*len ? *len : 1);
	if (!*buf)
		goto nomem;
	perftools__profiles__profile__pack(&out, *buf);
	goto out;
nomem:
	err = -ENOMEM;
out:
	htab__free(by_pid);
	arena_free(&a);
	return err;
}

int pprof__write(const struct profile *p, const char *path)
{
	uint8_t *buf = NULL, *gz = NULL;
	size_t len = 0, gz_len = 0;
	int err;

	err = pprof__encode(p, &buf, &len);
	if (!err)
		err = gzip__compress(buf, len, &gz, &gz_len);
	if (!err)
		err = atomic_file__write(path, 0644, gz, gz_len);
	free(gz);
	free(buf);
	return err;
}
