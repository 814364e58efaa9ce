// SPDX-License-Identifier: Apache-2.0
/*
 * The profile model (see aggregate.h). Every table is a growable array plus a
 * hash table from the element's identity to its id:
 *   string    -> its bytes;
 *   function  -> (name, system name, file) string indices;
 *   mapping   -> (file, start, limit, offset);
 *   location  -> (mapping id, address): one address in one mapping always
 *                names the same code, so it is symbolized once per interval;
 *   sample    -> (pid, tid, comm, process, location ids).
 * Keys are built from fixed-width fields, so they hash and compare as bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/array.h"
#include "lib/hex.h"
#include "lib/htab.h"
#include "symbolizer/symbolizer.h"
#include "profile/profile.h"

struct vec {
	void *data;
	size_t n, cap, elem;
};

struct profile {
	uint64_t period, start, duration;
	int64_t total, off_cpu_total;
	int off_cpu; /* the agent's profile has the off_cpu type */
	struct prof_value_type types[PROF_MAX_TYPES];
	size_t ntypes, dflt; /* ntypes 0: the agent's two, from count and period */
	struct vec strings, functions, mappings, locations, samples, processes, links;
	struct htab *string_ids, *function_ids, *mapping_ids, *location_ids, *sample_ids;
	struct htab *process_ids, *link_ids;
};

static void *vec_push(struct vec *v)
{
	if (array__reserve(&v->data, &v->cap, v->n + 1, v->elem))
		return NULL;
	return (char *)v->data + v->elem * v->n++;
}

struct profile *profile__new(uint64_t period_ns, uint64_t start_ns)
{
	struct profile *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->period = period_ns;
	p->start = start_ns;
	p->strings.elem = sizeof(char *);
	p->functions.elem = sizeof(struct prof_function);
	p->mappings.elem = sizeof(struct prof_mapping);
	p->locations.elem = sizeof(struct prof_location);
	p->samples.elem = sizeof(struct prof_sample);
	p->processes.elem = sizeof(struct prof_process);
	p->links.elem = sizeof(struct prof_link);
	p->process_ids = htab__new();
	p->link_ids = htab__new();
	p->string_ids = htab__new();
	p->function_ids = htab__new();
	p->mapping_ids = htab__new();
	p->location_ids = htab__new();
	p->sample_ids = htab__new();
	if (!p->string_ids || !p->function_ids || !p->mapping_ids || !p->location_ids ||
	    !p->sample_ids || !p->process_ids || !p->link_ids || profile__string(p, "") != 0) {
		profile__free(p);
		errno = ENOMEM;
		return NULL;
	}
	return p;
}

void profile__free(struct profile *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->strings.n; i++)
		free(((char **)p->strings.data)[i]);
	for (size_t i = 0; i < p->locations.n; i++)
		free(((struct prof_location *)p->locations.data)[i].lines);
	for (size_t i = 0; i < p->samples.n; i++) {
		free(((struct prof_sample *)p->samples.data)[i].loc_ids);
		free(((struct prof_sample *)p->samples.data)[i].values);
	}
	free(p->strings.data);
	free(p->functions.data);
	free(p->mappings.data);
	free(p->locations.data);
	free(p->samples.data);
	free(p->processes.data);
	free(p->links.data);
	htab__free(p->process_ids);
	htab__free(p->link_ids);
	htab__free(p->string_ids);
	htab__free(p->function_ids);
	htab__free(p->mapping_ids);
	htab__free(p->location_ids);
	htab__free(p->sample_ids);
	free(p);
}

size_t profile__bytes(const struct profile *p)
{
	const struct vec *vecs[] = {&p->strings, &p->functions, &p->mappings, &p->locations,
				    &p->samples, &p->processes, &p->links};
	const struct htab *tabs[] = {p->string_ids,   p->function_ids, p->mapping_ids,
				     p->location_ids, p->sample_ids,   p->process_ids,
				     p->link_ids};
	size_t sum = sizeof(*p);

	for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++)
		sum += vecs[i]->cap * vecs[i]->elem;
	for (size_t i = 0; i < sizeof(tabs) / sizeof(tabs[0]); i++)
		sum += htab__bytes(tabs[i]);
	/* The strings are the string table's keys too: count their own copies once more. */
	for (size_t i = 0; i < p->strings.n; i++)
		sum += strlen(((char **)p->strings.data)[i]) + 1;
	for (size_t i = 0; i < p->locations.n; i++)
		sum += ((struct prof_location *)p->locations.data)[i].nlines *
		       sizeof(struct prof_line);
	for (size_t i = 0; i < p->samples.n; i++)
		sum += ((struct prof_sample *)p->samples.data)[i].nlocs * sizeof(uint64_t);
	return sum;
}

int64_t profile__string(struct profile *p, const char *s)
{
	size_t len;
	uint64_t *id;
	char **slot;
	int added;

	if (!s)
		s = "";
	len = strlen(s);
	id = htab__get(p->string_ids, s, len, 1, p->strings.n, &added);
	if (!id)
		return -ENOMEM;
	if (!added)
		return (int64_t)*id;
	slot = vec_push(&p->strings);
	if (!slot || !(*slot = strdup(s))) {
		if (slot)
			p->strings.n--;
		htab__del(p->string_ids, s, len);
		return -ENOMEM;
	}
	return (int64_t)*id;
}

/* Interns a value of a fixed-size struct table; returns its 1-based id, 0 on ENOMEM. */
static uint64_t intern(struct htab *ids, struct vec *v, const void *key, size_t klen,
		       const void *elem)
{
	uint64_t *id;
	void *slot;
	int added;

	id = htab__get(ids, key, klen, 1, v->n + 1, &added);
	if (!id)
		return 0;
	if (!added)
		return *id;
	slot = vec_push(v);
	if (!slot) {
		htab__del(ids, key, klen);
		return 0;
	}
	memcpy(slot, elem, v->elem);
	return *id;
}

static uint64_t function_id(struct profile *p, const struct sym_line *l)
{
	struct prof_function fn;
	int64_t name = profile__string(p, l->function);
	int64_t sys = profile__string(p, l->system_name ? l->system_name : l->function);
	int64_t file = profile__string(p, l->file);

	if (name < 0 || sys < 0 || file < 0)
		return 0;
	memset(&fn, 0, sizeof(fn)); /* the whole struct is the key */
	fn.name = (uint32_t)name;
	fn.system_name = (uint32_t)sys;
	fn.filename = (uint32_t)file;
	return intern(p->function_ids, &p->functions, &fn, sizeof(fn), &fn);
}

static uint64_t mapping_id(struct profile *p, const struct prof_frame *f)
{
	struct prof_mapping m = {0};
	int64_t file, build_id, htlhash;

	if (!f->map_file)
		return 0;
	file = profile__string(p, f->map_file);
	build_id = profile__string(p, f->build_id);
	htlhash = profile__string(p, f->htlhash);
	if (file < 0 || build_id < 0 || htlhash < 0)
		return 0;
	m.htlhash = (uint32_t)htlhash;
	m.start = f->map_start;
	m.limit = f->map_limit;
	m.offset = f->map_offset;
	m.filename = (uint32_t)file;
	m.build_id = (uint32_t)build_id;
	m.kernel = f->kernel;
	/* Key: everything but the has_* flags, which are raised below as names arrive. */
	uint64_t id = intern(p->mapping_ids, &p->mappings, &m, sizeof(m), &m);
	if (id && f->sym && f->sym->nlines) {
		struct prof_mapping *pm = &((struct prof_mapping *)p->mappings.data)[id - 1];

		pm->has_functions = 1;
		pm->has_inline_frames |= f->has_dwarf;
		for (unsigned int i = 0; i < f->sym->nlines; i++) {
			pm->has_filenames |= f->sym->lines[i].file && !f->kernel;
			pm->has_line_numbers |= f->sym->lines[i].line > 0;
		}
	}
	return id;
}

uint64_t profile__find_location(struct profile *p, const struct prof_frame *f, int *named)
{
	struct {
		uint64_t mapping_id, address;
	} key;
	uint64_t *id;

	*named = 0;
	key.mapping_id = mapping_id(p, f);
	if (f->map_file && !key.mapping_id)
		return 0;
	key.address = f->address;
	id = htab__get(p->location_ids, &key, sizeof(key), 0, 0, NULL);
	if (!id)
		return 0;
	*named = ((const struct prof_location *)p->locations.data)[*id - 1].nlines > 0;
	return *id;
}

uint64_t profile__location(struct profile *p, const struct prof_frame *f)
{
	struct {
		uint64_t mapping_id, address;
	} key;
	struct prof_location loc = {0};
	uint64_t *id;
	int added;

	key.mapping_id = mapping_id(p, f);
	if (f->map_file && !key.mapping_id)
		return 0;
	key.address = f->address;
	id = htab__get(p->location_ids, &key, sizeof(key), 1, p->locations.n + 1, &added);
	if (!id)
		return 0;
	if (!added)
		return *id;
	loc.mapping_id = key.mapping_id;
	loc.address = f->address;
	if (f->sym && f->sym->nlines) {
		loc.lines = calloc(f->sym->nlines, sizeof(*loc.lines));
		if (!loc.lines)
			goto fail;
		for (unsigned int i = 0; i < f->sym->nlines; i++) {
			loc.lines[i].function_id = function_id(p, &f->sym->lines[i]);
			loc.lines[i].line = f->sym->lines[i].line;
			if (!loc.lines[i].function_id)
				goto fail;
		}
		loc.nlines = f->sym->nlines;
	}
	struct prof_location *slot = vec_push(&p->locations);
	if (!slot)
		goto fail;
	*slot = loc;
	return *id;
fail:
	free(loc.lines);
	htab__del(p->location_ids, &key, sizeof(key));
	return 0;
}

/* Fills a new sample's stack (into its allocated loc_ids) and labels. */
static void set_sample(struct prof_sample *s, const uint64_t *loc_ids, uint32_t n, uint32_t pid,
		       uint32_t tid, uint32_t comm, uint32_t process, uint32_t link)
{
	memcpy(s->loc_ids, loc_ids, n * sizeof(*loc_ids));
	s->nlocs = n;
	s->pid = pid;
	s->tid = tid;
	s->comm = comm;
	s->process = process;
	s->link = link;
}

/* Adds @count samples and @off_cpu blocked nanoseconds under the stack and labels. */
static int add_sample(struct profile *p, const uint64_t *loc_ids, uint32_t n, uint32_t pid,
		      uint32_t tid, const char *comm, const char *process, uint32_t link,
		      int64_t count, int64_t off_cpu)
{
	int64_t comm_idx = profile__string(p, comm), proc_idx = profile__string(p, process);
	size_t klen = 6 * sizeof(uint32_t) + n * sizeof(uint64_t);
	struct prof_sample *s;
	uint32_t *key;
	uint64_t *idx;
	int added;

	if (comm_idx < 0 || proc_idx < 0)
		return -ENOMEM;
	key = malloc(klen);
	if (!key)
		return -ENOMEM;
	key[0] = pid;
	key[1] = tid;
	key[2] = (uint32_t)comm_idx;
	key[3] = (uint32_t)proc_idx;
	key[4] = link;
	key[5] = 0;
	memcpy(key + 6, loc_ids, n * sizeof(uint64_t));
	idx = htab__get(p->sample_ids, key, klen, 1, p->samples.n, &added);
	if (!idx)
		goto nomem;
	if (!added) {
		((struct prof_sample *)p->samples.data)[*idx].count += count;
		((struct prof_sample *)p->samples.data)[*idx].off_cpu += off_cpu;
		goto done;
	}
	s = vec_push(&p->samples);
	if (!s) {
		htab__del(p->sample_ids, key, klen);
		goto nomem;
	}
	memset(s, 0, sizeof(*s));
	s->loc_ids = malloc(n ? n * sizeof(uint64_t) : 1);
	if (!s->loc_ids) {
		p->samples.n--;
		htab__del(p->sample_ids, key, klen);
		goto nomem;
	}
	set_sample(s, loc_ids, n, pid, tid, (uint32_t)comm_idx, (uint32_t)proc_idx, link);
	s->count = count;
	s->off_cpu = off_cpu;
done:
	p->total += count;
	p->off_cpu_total += off_cpu;
	free(key);
	return 0;
nomem:
	free(key);
	return -ENOMEM;
}

int profile__add(struct profile *p, const uint64_t *loc_ids, uint32_t n, uint32_t pid, uint32_t tid,
		 const char *comm, const char *process, uint32_t link, int64_t count)
{
	return add_sample(p, loc_ids, n, pid, tid, comm, process, link, count, 0);
}

int profile__add_off_cpu(struct profile *p, const uint64_t *loc_ids, uint32_t n, uint32_t pid,
			 uint32_t tid, const char *comm, const char *process, uint32_t link,
			 int64_t ns)
{
	if (!p->off_cpu || p->ntypes)
		return -EINVAL;
	return add_sample(p, loc_ids, n, pid, tid, comm, process, link, 0, ns);
}

void profile__enable_off_cpu(struct profile *p)
{
	p->off_cpu = 1;
}

int profile__off_cpu_type(const struct profile *p)
{
	const char *const *str = p->strings.data;

	if (!p->ntypes)
		return p->off_cpu ? 2 : -1;
	for (size_t k = 0; k < p->ntypes; k++)
		if (strcmp(str[p->types[k].type], "off_cpu") == 0)
			return (int)k;
	return -1;
}

int64_t profile__off_cpu_total(const struct profile *p)
{
	const struct prof_sample *s = p->samples.data;
	int k = profile__off_cpu_type(p);
	int64_t t = 0;

	if (!p->ntypes)
		return p->off_cpu_total;
	for (size_t i = 0; k >= 0 && i < p->samples.n; i++)
		t += s[i].values[k];
	return t;
}

/* Interns up to PROF_MAX_ATTRS key/value pairs into @out; returns how many, or -ENOMEM. */
static int intern_attrs(struct profile *p, const struct prof_kv *in, size_t n,
			struct prof_attr *out)
{
	size_t k = 0;

	for (size_t i = 0; i < n && k < PROF_MAX_ATTRS; i++) {
		int64_t key = profile__string(p, in[i].key),
			value = profile__string(p, in[i].value);

		if (key < 0 || value < 0)
			return -ENOMEM;
		out[k++] = (struct prof_attr){(uint32_t)key, (uint32_t)value};
	}
	return (int)k;
}

int profile__set_process(struct profile *p, uint32_t pid, const struct prof_process_info *info)
{
	const struct prof_kv *resource = info->resource;
	size_t nresource = info->nresource;
	struct prof_process proc = {.pid = pid};
	int64_t n, e, c, u, q;
	int k = 0;

	if (htab__get(p->process_ids, &pid, sizeof(pid), 0, 0, NULL))
		return 0;
	n = profile__string(p, info->name);
	e = profile__string(p, info->exe);
	c = profile__string(p, info->container_id);
	u = profile__string(p, info->pod_uid);
	q = profile__string(p, info->qos);
	if (n < 0 || e < 0 || c < 0 || u < 0 || q < 0)
		return -ENOMEM;
	proc.name = (uint32_t)n;
	proc.exe = (uint32_t)e;
	proc.container_id = (uint32_t)c;
	proc.pod_uid = (uint32_t)u;
	proc.qos = (uint32_t)q;
	for (size_t i = 0; resource && i < nresource; i++) {
		if (strcmp(resource[i].key, "service.name") == 0) {
			int64_t sv = profile__string(p, resource[i].value);

			if (sv < 0)
				return -ENOMEM;
			proc.service = (uint32_t)sv;
		} else if (k < PROF_MAX_ATTRS) {
			int r = intern_attrs(p, &resource[i], 1, &proc.resource[k]);

			if (r < 0)
				return -ENOMEM;
			k += r;
		}
	}
	proc.nresource = (uint32_t)k;
	return intern(p->process_ids, &p->processes, &pid, sizeof(pid), &proc) ? 0 : -ENOMEM;
}

uint32_t profile__link(struct profile *p, const uint8_t trace_id[16], const uint8_t span_id[8],
		       const struct prof_kv *attrs, size_t nattrs)
{
	struct prof_link l = {0};
	char hex[33];
	int64_t t, sp;
	int k;

	memcpy(l.trace_id, trace_id, 16);
	memcpy(l.span_id, span_id, 8);
	hex_encode(trace_id, 16, hex);
	t = profile__string(p, hex);
	hex_encode(span_id, 8, hex);
	sp = profile__string(p, hex);
	k = intern_attrs(p, attrs, nattrs, l.attrs);
	if (t < 0 || sp < 0 || k < 0)
		return 0;
	l.trace_hex = (uint32_t)t;
	l.span_hex = (uint32_t)sp;
	l.nattrs = (uint32_t)k;
	/* The whole struct is the key: ids, string indices and attributes. */
	return (uint32_t)intern(p->link_ids, &p->links, &l, sizeof(l), &l);
}

const struct prof_link *profile__links(const struct profile *p, size_t *n)
{
	*n = p->links.n;
	return p->links.data;
}

const struct prof_process *profile__processes(const struct profile *p, size_t *n)
{
	*n = p->processes.n;
	return p->processes.data;
}

void profile__set_start(struct profile *p, uint64_t start_ns)
{
	p->start = start_ns;
}

void profile__set_duration(struct profile *p, uint64_t duration_ns)
{
	p->duration = duration_ns;
}

uint64_t profile__period(const struct profile *p)
{
	return p->period;
}

uint64_t profile__start(const struct profile *p)
{
	return p->start;
}

uint64_t profile__duration(const struct profile *p)
{
	return p->duration;
}

int64_t profile__total(const struct profile *p)
{
	return p->total;
}

const char *const *profile__strings(const struct profile *p, size_t *n)
{
	*n = p->strings.n;
	return p->strings.data;
}

const struct prof_mapping *profile__mappings(const struct profile *p, size_t *n)
{
	*n = p->mappings.n;
	return p->mappings.data;
}

const struct prof_location *profile__locations(const struct profile *p, size_t *n)
{
	*n = p->locations.n;
	return p->locations.data;
}

const struct prof_function *profile__functions(const struct profile *p, size_t *n)
{
	*n = p->functions.n;
	return p->functions.data;
}

const struct prof_sample *profile__samples(const struct profile *p, size_t *n)
{
	*n = p->samples.n;
	return p->samples.data;
}

/* --- Profiles read from pprof files ------------------------------------------- */

int profile__set_sample_types(struct profile *p, const char *const *names, const char *const *units,
			      size_t n, size_t dflt)
{
	if (!n || n > PROF_MAX_TYPES || dflt >= n || p->samples.n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int64_t t = profile__string(p, names[i]), u = profile__string(p, units[i]);

		if (t < 0 || u < 0)
			return -ENOMEM;
		p->types[i] = (struct prof_value_type){(uint32_t)t, (uint32_t)u};
	}
	p->ntypes = n;
	p->dflt = dflt;
	return 0;
}

size_t profile__sample_types(const struct profile *p, size_t *dflt)
{
	*dflt = p->ntypes ? p->dflt : 1;
	return p->ntypes ? p->ntypes : p->off_cpu ? 3 : 2;
}

void profile__sample_type(const struct profile *p, size_t k, const char **name, const char **unit)
{
	const char *const *str = p->strings.data;

	if (p->ntypes) {
		*name = str[p->types[k].type];
		*unit = str[p->types[k].unit];
	} else {
		*name = k == 2 ? "off_cpu" : k ? "cpu" : "samples";
		*unit = k ? "nanoseconds" : "count";
	}
}

int64_t profile__value(const struct profile *p, const struct prof_sample *s, size_t k)
{
	if (s->values)
		return s->values[k];
	if (k == 2)
		return s->off_cpu;
	return k ? s->count * (int64_t)p->period : s->count;
}

uint64_t profile__add_mapping(struct profile *p, const struct prof_mapping *m)
{
	struct prof_mapping *slot = vec_push(&p->mappings);

	if (!slot)
		return 0;
	*slot = *m;
	return p->mappings.n;
}

uint64_t profile__add_function(struct profile *p, const char *name, const char *system_name,
			       const char *filename, int64_t start_line)
{
	struct prof_function *slot;
	int64_t n = profile__string(p, name), s = profile__string(p, system_name),
		f = profile__string(p, filename);

	if (n < 0 || s < 0 || f < 0 || !(slot = vec_push(&p->functions)))
		return 0;
	memset(slot, 0, sizeof(*slot));
	slot->name = (uint32_t)n;
	slot->system_name = (uint32_t)s;
	slot->filename = (uint32_t)f;
	slot->start_line = start_line;
	return p->functions.n;
}

uint64_t profile__add_location(struct profile *p, uint64_t mapping_id, uint64_t address,
			       const struct prof_line *lines, uint32_t nlines)
{
	struct prof_location loc = {.mapping_id = mapping_id, .address = address};
	struct prof_location *slot;

	if (nlines) {
		loc.lines = malloc(nlines * sizeof(*lines));
		if (!loc.lines)
			return 0;
		memcpy(loc.lines, lines, nlines * sizeof(*lines));
		loc.nlines = nlines;
	}
	slot = vec_push(&p->locations);
	if (!slot) {
		free(loc.lines);
		return 0;
	}
	*slot = loc;
	return p->locations.n;
}

int profile__add_values(struct profile *p, const uint64_t *loc_ids, uint32_t n, uint32_t pid,
			uint32_t tid, const char *comm, const char *process, uint32_t link,
			const int64_t *values)
{
	int64_t comm_idx = profile__string(p, comm), proc_idx = profile__string(p, process);
	struct prof_sample *s;

	if (!p->ntypes)
		return -EINVAL;
	if (comm_idx < 0 || proc_idx < 0 || !(s = vec_push(&p->samples)))
		return -ENOMEM;
	memset(s, 0, sizeof(*s));
	s->loc_ids = malloc(n ? n * sizeof(*loc_ids) : 1);
	s->values = malloc(p->ntypes * sizeof(*values));
	if (!s->loc_ids || !s->values) {
		free(s->loc_ids);
		free(s->values);
		p->samples.n--;
		return -ENOMEM;
	}
	memcpy(s->values, values, p->ntypes * sizeof(*values));
	set_sample(s, loc_ids, n, pid, tid, (uint32_t)comm_idx, (uint32_t)proc_idx, link);
	s->count = values[p->dflt];
	p->total += s->count;
	return 0;
}
