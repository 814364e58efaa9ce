// SPDX-License-Identifier: Apache-2.0
/*
 * Reading pprof files: gunzip when the gzip magic is there (google/pprof
 * writes gzip'd, some tools do not), protobuf-c's unpack, then the model.
 * The file's ids are mapped to the model's dense ones through hash tables,
 * so a file with ids in any order (or gaps) reads the same.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/array.h"
#include "lib/file.h"
#include "lib/gzip.h"
#include "lib/hex.h"
#include "lib/htab.h"
#include "profile/pprof_read.h"
#include "profile/profile.h"

int pprof__decode(const uint8_t *bytes, size_t len, Perftools__Profiles__Profile **out)
{
	uint8_t *raw = NULL;
	size_t raw_len = len;
	int err = 0;

	*out = NULL;
	if (!bytes || !len)
		return -EINVAL;
	if (gzip__is(bytes, len)) {
		err = gzip__inflate(bytes, len, EMBER_PPROF_MAX_INFLATE, &raw, &raw_len);
		if (err)
			return err;
		bytes = raw;
	}
	*out = perftools__profiles__profile__unpack(NULL, raw_len, bytes);
	if (!*out)
		err = -EINVAL;
	free(raw);
	return err;
}

/* --- Into the model ---------------------------------------------------------------- */

/* Ids to indices: pprof ids are any nonzero numbers, often 1..n but not always. */
struct ids {
	struct htab *h;
};

static int ids_build(struct ids *m, size_t n, uint64_t (*id_of)(const void *, size_t),
		     const void *arr)
{
	m->h = htab__new();
	if (!m->h)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		uint64_t id = id_of(arr, i);

		/* The first of two with one id wins; 0 is "none" in pprof. */
		if (id && !htab__get(m->h, &id, sizeof(id), 1, i + 1, NULL))
			return -ENOMEM;
	}
	return 0;
}

/* The model id (index + 1) of pprof id @id, or 0. */
static uint64_t ids_find(const struct ids *m, uint64_t id)
{
	uint64_t *v = id ? htab__get(m->h, &id, sizeof(id), 0, 0, NULL) : NULL;

	return v ? *v : 0;
}

static uint64_t loc_id(const void *a, size_t i)
{
	return ((Perftools__Profiles__Location *const *)a)[i]->id;
}

static uint64_t fn_id(const void *a, size_t i)
{
	return ((Perftools__Profiles__Function *const *)a)[i]->id;
}

static uint64_t map_id(const void *a, size_t i)
{
	return ((Perftools__Profiles__Mapping *const *)a)[i]->id;
}

static const char *str(const Perftools__Profiles__Profile *p, int64_t i)
{
	return i >= 0 && (size_t)i < p->n_string_table && p->string_table[i] ? p->string_table[i]
									     : "";
}

static int strings_of(struct profile *m, const Perftools__Profiles__Profile *p, int64_t i,
		      uint32_t *out)
{
	int64_t s = profile__string(m, str(p, i));

	if (s < 0)
		return -ENOMEM;
	*out = (uint32_t)s;
	return 0;
}

/*
 * The sample type viewers show first: pprof's default_sample_type when it
 * names one, else the last type, which is what pprof itself picks (CPU
 * profiles list samples/count before cpu/nanoseconds).
 */
static size_t default_type(const Perftools__Profiles__Profile *p, size_t n)
{
	for (size_t i = 0; p->default_sample_type && i < n; i++)
		if (p->sample_type[i] && p->sample_type[i]->type == p->default_sample_type)
			return i;
	return n - 1;
}

static int add_types(struct profile *m, const Perftools__Profiles__Profile *p)
{
	const char *names[PROF_MAX_TYPES], *units[PROF_MAX_TYPES];
	size_t n = p->n_sample_type > PROF_MAX_TYPES ? PROF_MAX_TYPES : p->n_sample_type;

	/* A profile without types still has values: count them as samples. */
	if (!n) {
		names[0] = "samples";
		units[0] = "count";
		return profile__set_sample_types(m, names, units, 1, 0);
	}
	for (size_t i = 0; i < n; i++) {
		const Perftools__Profiles__ValueType *vt = p->sample_type[i];

		names[i] = vt ? str(p, vt->type) : "";
		units[i] = vt ? str(p, vt->unit) : "";
	}
	return profile__set_sample_types(m, names, units, n, default_type(p, n));
}

static int add_mappings(struct profile *m, const Perftools__Profiles__Profile *p)
{
	for (size_t i = 0; i < p->n_mapping; i++) {
		const Perftools__Profiles__Mapping *pm = p->mapping[i];
		struct prof_mapping mm = {
			.start = pm->memory_start,
			.limit = pm->memory_limit,
			.offset = pm->file_offset,
			.has_functions = pm->has_functions,
			.has_filenames = pm->has_filenames,
			.has_line_numbers = pm->has_line_numbers,
			.has_inline_frames = pm->has_inline_frames,
		};

		if (strings_of(m, p, pm->filename, &mm.filename) ||
		    strings_of(m, p, pm->build_id, &mm.build_id) ||
		    strings_of(m, p, 0, &mm.htlhash))
			return -ENOMEM;
		mm.kernel = strncmp(str(p, pm->filename), "[kernel", 7) == 0;
		if (!profile__add_mapping(m, &mm))
			return -ENOMEM;
	}
	return 0;
}

static int add_functions(struct profile *m, const Perftools__Profiles__Profile *p)
{
	for (size_t i = 0; i < p->n_function; i++) {
		const Perftools__Profiles__Function *f = p->function[i];

		if (!profile__add_function(m, str(p, f->name), str(p, f->system_name),
					   str(p, f->filename), f->start_line))
			return -ENOMEM;
	}
	return 0;
}

static int add_locations(struct profile *m, const Perftools__Profiles__Profile *p,
			 const struct ids *maps, const struct ids *fns)
{
	struct prof_line *lines = NULL;
	size_t cap = 0;
	int err = 0;

	for (size_t i = 0; !err && i < p->n_location; i++) {
		const Perftools__Profiles__Location *l = p->location[i];
		uint32_t n = 0;

		if (EMBER_RESERVE(lines, cap, l->n_line + 1)) {
			err = -ENOMEM;
			break;
		}
		/* A line whose function is not in the file names nothing: left out. */
		for (size_t j = 0; j < l->n_line; j++) {
			uint64_t f = ids_find(fns, l->line[j]->function_id);

			if (f)
				lines[n++] = (struct prof_line){f, l->line[j]->line};
		}
		if (!profile__add_location(m, ids_find(maps, l->mapping_id), l->address, lines, n))
			err = -ENOMEM;
	}
	free(lines);
	return err;
}

/* The labels the writers know; the rest stay in the file. */
struct labels {
	int64_t pid, tid;
	const char *comm, *process, *trace, *span;
};

static void read_labels(const Perftools__Profiles__Profile *p, const Perftools__Profiles__Sample *s,
			struct labels *lb)
{
	memset(lb, 0, sizeof(*lb));
	lb->comm = lb->process = lb->trace = lb->span = "";
	for (size_t i = 0; i < s->n_label; i++) {
		const Perftools__Profiles__Label *l = s->label[i];
		const char *k = str(p, l->key), *v = str(p, l->str);

		if (strcmp(k, "pid") == 0)
			lb->pid = l->num ? l->num : strtoll(v, NULL, 10);
		else if (strcmp(k, "tid") == 0)
			lb->tid = l->num ? l->num : strtoll(v, NULL, 10);
		else if (strcmp(k, "process") == 0)
			lb->process = v;
		else if (strcmp(k, "comm") == 0 || strcmp(k, "thread") == 0)
			lb->comm = v;
		else if (strcmp(k, "trace_id") == 0)
			lb->trace = v;
		else if (strcmp(k, "span_id") == 0)
			lb->span = v;
	}
}

static int add_samples(struct profile *m, const Perftools__Profiles__Profile *p,
		       const struct ids *locs)
{
	size_t dflt, ntypes = profile__sample_types(m, &dflt);
	uint64_t *ids = NULL;
	int64_t values[PROF_MAX_TYPES];
	size_t cap = 0;
	int err = 0;

	for (size_t i = 0; !err && i < p->n_sample; i++) {
		const Perftools__Profiles__Sample *s = p->sample[i];
		uint8_t trace[16], span[8];
		struct labels lb;
		uint32_t n = 0, link = 0;

		if (EMBER_RESERVE(ids, cap, s->n_location_id + 1)) {
			err = -ENOMEM;
			break;
		}
		for (size_t j = 0; j < s->n_location_id; j++) {
			uint64_t id = ids_find(locs, s->location_id[j]);

			if (id)
				ids[n++] = id;
		}
		for (size_t k = 0; k < ntypes; k++)
			values[k] = k < s->n_value ? s->value[k] : 0;
		read_labels(p, s, &lb);
		if (!hex_decode(lb.trace, trace, 16) && !hex_decode(lb.span, span, 8)) {
			link = profile__link(m, trace, span, NULL, 0);
			if (!link) {
				err = -ENOMEM;
				break;
			}
		}
		err = profile__add_values(m, ids, n, (uint32_t)lb.pid, (uint32_t)lb.tid, lb.comm,
					  lb.process, link, values);
	}
	free(ids);
	return err;
}

int pprof__read(const uint8_t *bytes, size_t len, struct profile **out)
{
	Perftools__Profiles__Profile *p = NULL;
	struct ids locs = {0}, fns = {0}, maps = {0};
	struct profile *m = NULL;
	int err;

	*out = NULL;
	err = pprof__decode(bytes, len, &p);
	if (err)
		return err;
	m = profile__new(p->period > 0 ? (uint64_t)p->period : 1,
			 p->time_nanos > 0 ? (uint64_t)p->time_nanos : 0);
	err = m ? 0 : -ENOMEM;
	if (!err)
		err = ids_build(&locs, p->n_location, loc_id, p->location);
	if (!err)
		err = ids_build(&fns, p->n_function, fn_id, p->function);
	if (!err)
		err = ids_build(&maps, p->n_mapping, map_id, p->mapping);
	if (!err)
		err = add_types(m, p);
	if (!err)
		err = add_mappings(m, p);
	if (!err)
		err = add_functions(m, p);
	if (!err)
		err = add_locations(m, p, &maps, &fns);
	if (!err)
		err = add_samples(m, p, &locs);
	if (!err) {
		profile__set_duration(m, p->duration_nanos > 0 ? (uint64_t)p->duration_nanos : 0);
		*out = m;
		m = NULL;
	}
	htab__free(locs.h);
	htab__free(fns.h);
	htab__free(maps.h);
	profile__free(m);
	perftools__profiles__profile__free_unpacked(p, NULL);
	return err;
}

int pprof__read_file(const char *path, struct profile **out)
{
	uint8_t *bytes = NULL;
	size_t len = 0;
	int err;

	*out = NULL;
	err = file__read_all(path, EMBER_PPROF_MAX_FILE, &bytes, &len);
	if (!err)
		err = pprof__read(bytes, len, out);
	free(bytes);
	return err;
}
