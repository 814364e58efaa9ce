// SPDX-License-Identifier: Apache-2.0
/*
 * The pprof encoder. The model's tables map one to one onto pprof's, so this
 * is a translation into protobuf-c structs that point into the model (nothing
 * is copied but the small per-message arrays), then one pack call.
 *
 * Conventions readers rely on:
 *   - sample types samples/count and cpu/nanoseconds; period_type cpu/ns;
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
#include "arena.h"
#include "pprof.h"
#include "../aggregate.h"
#include "../htab.h"

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

int pprof__encode(const struct profile *p, uint8_t **buf, size_t *len)
{
	Perftools__Profiles__Profile out = PERFTOOLS__PROFILES__PROFILE__INIT;
	Perftools__Profiles__ValueType vt[2] = {PERFTOOLS__PROFILES__VALUE_TYPE__INIT,
						PERFTOOLS__PROFILES__VALUE_TYPE__INIT};
	Perftools__Profiles__ValueType period_type = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
	Perftools__Profiles__ValueType *vtp[2] = {&vt[0], &vt[1]};
	const struct prof_sample *samples;
	const struct prof_location *locs;
	const struct prof_function *fns;
	const struct prof_mapping *maps;
	const char *const *model_strings;
	size_t nstr, nsamples, nlocs, nfns, nmaps, extra = 0;
	struct arena a = {0};
	const char *fixed[] = {"samples",    "count",	"cpu",		"nanoseconds",
			       "pid",	     "tid",	"comm",		"process",
			       "trace_id",   "span_id", "service.name", "container.id",
			       "k8s.pod.uid"};
	enum { NFIXED = sizeof(fixed) / sizeof(fixed[0]) };
	int64_t idx[NFIXED];
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
	strings = arena_alloc(&a, (nstr + NFIXED) * sizeof(*strings));
	if (!strings || !by_pid)
		goto nomem;
	memcpy(strings, model_strings, nstr * sizeof(*strings));
	for (int i = 0; i < NFIXED; i++) {
		idx[i] = find_string(model_strings, nstr, fixed[i]);
		if (idx[i] < 0) {
			idx[i] = (int64_t)(nstr + extra);
			strings[nstr + extra++] = (char *)fixed[i];
		}
	}
	out.n_string_table = nstr + extra;
	out.string_table = strings;

	vt[0].type = idx[0];
	vt[0].unit = idx[1];
	vt[1].type = idx[2];
	vt[1].unit = idx[3];
	period_type.type = idx[2];
	period_type.unit = idx[3];
	out.n_sample_type = 2;
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
		int64_t *values = arena_alloc(&a, 2 * sizeof(*values));
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
		labels[0].key = idx[4];
		labels[0].num = s->pid;
		labels[1].key = idx[5];
		labels[1].num = s->tid;
		labels[2].key = idx[6];
		labels[2].str = s->comm;
		labels[3].key = idx[7];
		labels[3].str = s->process;
		/* The span the sample ran in, under the keys Pyroscope's span profiles use. */
		if (l) {
			labels[nl].key = idx[8];
			labels[nl++].str = l->trace_hex;
			labels[nl].key = idx[9];
			labels[nl++].str = l->span_hex;
			for (uint32_t j = 0; j < l->nattrs; j++) {
				labels[nl].key = l->attrs[j].key;
				labels[nl++].str = l->attrs[j].value;
			}
		}
		if (pi && procs[*pi].service) {
			labels[nl].key = idx[10];
			labels[nl++].str = procs[*pi].service;
		}
		if (pi && procs[*pi].container_id && model_strings[procs[*pi].container_id][0]) {
			labels[nl].key = idx[11];
			labels[nl++].str = procs[*pi].container_id;
		}
		if (pi && procs[*pi].pod_uid && model_strings[procs[*pi].pod_uid][0]) {
			labels[nl].key = idx[12];
			labels[nl++].str = procs[*pi].pod_uid;
		}
		values[0] = s->count;
		values[1] = s->count * (int64_t)profile__period(p);
		ps->n_location_id = s->nlocs;
		ps->location_id = s->loc_ids;
		ps->n_value = 2;
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
	char tmp[4096];
	uint8_t *buf = NULL;
	size_t len = 0;
	gzFile gz = NULL;
	int fd = -1, err;

	err = pprof__encode(p, &buf, &len);
	if (err)
		return err;
	if (snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", path) >= (int)sizeof(tmp)) {
		err = -ENAMETOOLONG;
		goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	if (fchmod(fd, 0644)) {
		err = -errno;
		goto out;
	}
	gz = gzdopen(fd, "wb");
	if (!gz) {
		err = -ENOMEM;
		goto out;
	}
	fd = -1; /* owned by gz now */
	if (len && gzwrite(gz, buf, (unsigned int)len) != (int)len) {
		err = -EIO;
		goto out;
	}
	err = gzclose(gz) == Z_OK ? 0 : -EIO;
	gz = NULL;
	if (!err && rename(tmp, path))
		err = -errno;
out:
	if (gz)
		gzclose(gz);
	if (fd >= 0)
		close(fd);
	if (err && tmp[0])
		unlink(tmp);
	free(buf);
	return err;
}
