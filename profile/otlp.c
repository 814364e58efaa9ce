// SPDX-License-Identifier: Apache-2.0
/*
 * The OTLP profiles encoder.
 *
 * The dictionary is built straight from the profile model, whose ids are
 * 1-based and dense: table index N is model id N, and index 0 holds the zero
 * value every OTLP table starts with (the empty string, an empty mapping,
 * location, function and stack, a link of zero bytes, an empty attribute).
 * The string table is the model's, followed by the names this encoder adds
 * (attribute keys, value types). Attributes and stacks are interned here:
 *   - resource: process.pid, process.executable.name/.path, host.name,
 *     service.name and OTEL_RESOURCE_ATTRIBUTES (plain KeyValues);
 *   - mapping: process.executable.build_id.gnu and .htlhash;
 *   - location: profile.frame.type, "kernel", "native", or "cpython" for
 *     frames in the [python] mapping (the OTel profiler's names);
 *   - sample: thread.id and thread.name.
 * Samples of one process share a ResourceProfiles; the model already merged
 * samples with equal stack and labels, so each becomes one OTLP Sample. Its
 * scope holds the CPU profile (samples/count, period cpu/nanoseconds) and,
 * with --off-cpu, a second profile of blocked time (off_cpu/nanoseconds).
 * Any other profile (the memory profile, a file read back) has one profile
 * per sample type there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opentelemetry/proto/collector/profiles/v1development/profiles_service.pb-c.h"
#include "lib/arena.h"
#include "lib/array.h"
#include "lib/hex.h"
#include "lib/htab.h"
#include "profile/otlp.h"
#include "profile/profile.h"

/* The generated names are long; these keep the code readable. */
typedef Opentelemetry__Proto__Collector__Profiles__V1development__ExportProfilesServiceRequest
	Request;
typedef Opentelemetry__Proto__Profiles__V1development__ProfilesDictionary Dictionary;
typedef Opentelemetry__Proto__Profiles__V1development__ResourceProfiles ResourceProfiles;
typedef Opentelemetry__Proto__Profiles__V1development__ScopeProfiles ScopeProfiles;
typedef Opentelemetry__Proto__Profiles__V1development__Profile Profile;
typedef Opentelemetry__Proto__Profiles__V1development__Sample Sample;
typedef Opentelemetry__Proto__Profiles__V1development__Stack Stack;
typedef Opentelemetry__Proto__Profiles__V1development__Location Location;
typedef Opentelemetry__Proto__Profiles__V1development__Line Line;
typedef Opentelemetry__Proto__Profiles__V1development__Mapping Mapping;
typedef Opentelemetry__Proto__Profiles__V1development__Function Function;
typedef Opentelemetry__Proto__Profiles__V1development__Link Link;
typedef Opentelemetry__Proto__Profiles__V1development__ValueType ValueType;
typedef Opentelemetry__Proto__Profiles__V1development__KeyValueAndUnit KeyValueAndUnit;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope Scope;
typedef Opentelemetry__Proto__Resource__V1__Resource Resource;

#define ANY_STRING OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE
#define ANY_INT OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE

struct encoder {
	const struct profile *p;
	struct arena a;
	/* string table: model strings, then extras */
	char **strings;
	size_t nstrings, cap;
	struct htab *string_ids;
	/* attribute table, interned by (key index, kind, value) */
	KeyValueAndUnit **attrs;
	size_t nattrs, attrs_cap;
	struct htab *attr_ids;
	/* stack table, interned by location ids */
	Stack **stacks;
	size_t nstacks, stacks_cap;
	struct htab *stack_ids;
};

static int grow(struct encoder *e, void **arr, size_t *cap, size_t need, size_t elem)
{
	if (array__reserve(arr, cap, need, elem)) {
		e->a.failed = 1;
		return -ENOMEM;
	}
	return 0;
}

/* String index of @s, adding it when new. */
static int32_t str(struct encoder *e, const char *s)
{
	size_t len = strlen(s);
	uint64_t *slot;
	int added;

	slot = htab__get(e->string_ids, s, len, 1, e->nstrings, &added);
	if (!slot) {
		e->a.failed = 1;
		return 0;
	}
	if (added) {
		if (grow(e, (void **)&e->strings, &e->cap, e->nstrings + 1, sizeof(char *)))
			return 0;
		e->strings[e->nstrings++] = (char *)htab__key(e->string_ids, s, len);
	}
	return (int32_t)*slot;
}

static int32_t attr(struct encoder *e, const char *key, const char *sval, int64_t ival, int is_int)
{
	struct {
		int32_t key;
		int32_t is_int;
		int64_t v;
	} id = {str(e, key), is_int, is_int ? ival : str(e, sval)};
	KeyValueAndUnit *kv;
	AnyValue *v;
	uint64_t *slot;
	int added;

	slot = htab__get(e->attr_ids, &id, sizeof(id), 1, e->nattrs, &added);
	if (!slot) {
		e->a.failed = 1;
		return 0;
	}
	if (!added)
		return (int32_t)*slot;
	kv = arena_alloc(&e->a, sizeof(*kv));
	v = arena_alloc(&e->a, sizeof(*v));
	if (!kv || !v || grow(e, (void **)&e->attrs, &e->attrs_cap, e->nattrs + 1, sizeof(*kv)))
		return 0;
	opentelemetry__proto__profiles__v1development__key_value_and_unit__init(kv);
	opentelemetry__proto__common__v1__any_value__init(v);
	kv->key_strindex = id.key;
	if (is_int) {
		v->value_case = ANY_INT;
		v->int_value = ival;
	} else {
		v->value_case = ANY_STRING;
		v->string_value = e->strings[id.v];
	}
	kv->value = v;
	e->attrs[e->nattrs++] = kv;
	return (int32_t)*slot;
}

static int32_t stack(struct encoder *e, const uint64_t *locs, uint32_t n)
{
	Stack *st;
	uint64_t *slot;
	int added;

	slot = htab__get(e->stack_ids, locs, n * sizeof(*locs), 1, e->nstacks, &added);
	if (!slot) {
		e->a.failed = 1;
		return 0;
	}
	if (!added)
		return (int32_t)*slot;
	st = arena_alloc(&e->a, sizeof(*st));
	if (!st || grow(e, (void **)&e->stacks, &e->stacks_cap, e->nstacks + 1, sizeof(*st)))
		return 0;
	opentelemetry__proto__profiles__v1development__stack__init(st);
	st->n_location_indices = n;
	st->location_indices = arena_alloc(&e->a, n * sizeof(int32_t));
	for (uint32_t i = 0; st->location_indices && i < n; i++)
		st->location_indices[i] = (int32_t)locs[i]; /* model id = table index */
	e->stacks[e->nstacks++] = st;
	return (int32_t)*slot;
}

static KeyValue *plain_kv(struct encoder *e, const char *key, const char *sval, int64_t ival,
			  int is_int)
{
	KeyValue *kv = arena_alloc(&e->a, sizeof(*kv));
	AnyValue *v = arena_alloc(&e->a, sizeof(*v));

	if (!kv || !v)
		return NULL;
	opentelemetry__proto__common__v1__key_value__init(kv);
	opentelemetry__proto__common__v1__any_value__init(v);
	kv->key = arena_strdup(&e->a, key);
	if (is_int) {
		v->value_case = ANY_INT;
		v->int_value = ival;
	} else {
		v->value_case = ANY_STRING;
		v->string_value = arena_strdup(&e->a, sval ? sval : "");
	}
	kv->value = v;
	return kv;
}

static void build_dictionary(struct encoder *e, Dictionary *d)
{
	size_t nmaps, nlocs, nfns, nstr;
	const struct prof_mapping *maps = profile__mappings(e->p, &nmaps);
	const struct prof_location *locs = profile__locations(e->p, &nlocs);
	const struct prof_function *fns = profile__functions(e->p, &nfns);
	const char *const *strings = profile__strings(e->p, &nstr);
	int32_t kernel_attr = attr(e, "profile.frame.type", "kernel", 0, 0);
	int32_t native_attr = attr(e, "profile.frame.type", "native", 0, 0);
	int32_t python_attr = attr(e, "profile.frame.type", "cpython", 0, 0);
	Link *zero_link = arena_alloc(&e->a, sizeof(*zero_link));

	d->n_mapping_table = nmaps + 1;
	d->mapping_table = arena_alloc(&e->a, (nmaps + 1) * sizeof(Mapping *));
	for (size_t i = 0; d->mapping_table && i <= nmaps; i++) {
		Mapping *m = arena_alloc(&e->a, sizeof(*m));
		int32_t a[2];
		size_t na = 0;

		if (!m)
			return;
		opentelemetry__proto__profiles__v1development__mapping__init(m);
		d->mapping_table[i] = m;
		if (i == 0)
			continue;
		m->memory_start = maps[i - 1].start;
		m->memory_limit = maps[i - 1].limit;
		m->file_offset = maps[i - 1].offset;
		m->filename_strindex = (int32_t)maps[i - 1].filename;
		if (strings[maps[i - 1].build_id][0])
			a[na++] = attr(e, "process.executable.build_id.gnu",
				       strings[maps[i - 1].build_id], 0, 0);
		if (strings[maps[i - 1].htlhash][0])
			a[na++] = attr(e, "process.executable.build_id.htlhash",
				       strings[maps[i - 1].htlhash], 0, 0);
		m->n_attribute_indices = na;
		m->attribute_indices = arena_alloc(&e->a, na * sizeof(int32_t));
		if (m->attribute_indices)
			memcpy(m->attribute_indices, a, na * sizeof(int32_t));
	}

	d->n_function_table = nfns + 1;
	d->function_table = arena_alloc(&e->a, (nfns + 1) * sizeof(Function *));
	for (size_t i = 0; d->function_table && i <= nfns; i++) {
		Function *f = arena_alloc(&e->a, sizeof(*f));

		if (!f)
			return;
		opentelemetry__proto__profiles__v1development__function__init(f);
		if (i) {
			f->name_strindex = (int32_t)fns[i - 1].name;
			f->system_name_strindex = (int32_t)fns[i - 1].system_name;
			f->filename_strindex = (int32_t)fns[i - 1].filename;
		}
		d->function_table[i] = f;
	}

	d->n_location_table = nlocs + 1;
	d->location_table = arena_alloc(&e->a, (nlocs + 1) * sizeof(Location *));
	for (size_t i = 0; d->location_table && i <= nlocs; i++) {
		Location *l = arena_alloc(&e->a, sizeof(*l));
		const struct prof_location *ml = i ? &locs[i - 1] : NULL;

		if (!l)
			return;
		opentelemetry__proto__profiles__v1development__location__init(l);
		d->location_table[i] = l;
		if (!ml)
			continue;
		l->mapping_index = (int32_t)ml->mapping_id;
		l->address = ml->address;
		l->n_lines = ml->nlines;
		l->lines = arena_alloc(&e->a, ml->nlines * sizeof(Line *));
		for (uint32_t j = 0; l->lines && j < ml->nlines; j++) {
			Line *ln = arena_alloc(&e->a, sizeof(*ln));

			if (!ln)
				return;
			opentelemetry__proto__profiles__v1development__line__init(ln);
			ln->function_index = (int32_t)ml->lines[j].function_id;
			ln->line = ml->lines[j].line;
			l->lines[j] = ln;
		}
		l->n_attribute_indices = 1;
		l->attribute_indices = arena_alloc(&e->a, sizeof(int32_t));
		if (l->attribute_indices) {
			const struct prof_mapping *m =
				ml->mapping_id ? &maps[ml->mapping_id - 1] : NULL;

			l->attribute_indices[0] = native_attr;
			if (m && m->kernel)
				l->attribute_indices[0] = kernel_attr;
			else if (m && strcmp(strings[m->filename], PROF_PYTHON_MAPPING) == 0)
				l->attribute_indices[0] = python_attr;
		}
	}

	/* Entry 0 of the link table: 16 + 8 zero bytes, "no link"; then the model's links. */
	{
		size_t nlinks;
		const struct prof_link *links = profile__links(e->p, &nlinks);

		d->n_link_table = nlinks + 1;
		d->link_table = arena_alloc(&e->a, (nlinks + 1) * sizeof(Link *));
		for (size_t i = 0; d->link_table && i <= nlinks; i++) {
			Link *l = i ? arena_alloc(&e->a, sizeof(*l)) : zero_link;

			if (!l)
				return;
			opentelemetry__proto__profiles__v1development__link__init(l);
			l->trace_id.len = 16;
			l->trace_id.data = arena_alloc(&e->a, 16);
			l->span_id.len = 8;
			l->span_id.data = arena_alloc(&e->a, 8);
			if (!l->trace_id.data || !l->span_id.data)
				return;
			if (i) {
				memcpy(l->trace_id.data, links[i - 1].trace_id, 16);
				memcpy(l->span_id.data, links[i - 1].span_id, 8);
			}
			d->link_table[i] = l;
		}
	}
}

/*
 * The profile of process @pid's CPU samples (@type < 0), or of its values of
 * sample type @type: each type other than the CPU samples is a profile of
 * its own, with that type (off_cpu/nanoseconds, the OTel eBPF profiler's
 * name for blocked time, or the memory profile's alloc_space/bytes and the
 * rest), so that a backend never adds two kinds up. Samples with no value
 * of the kind are left out of it.
 */
/* A sample's CPU samples (@type < 0), or its value of that type. */
static int64_t value_of(const struct profile *p, const struct prof_sample *s, int type)
{
	return type < 0 ? s->count : profile__value(p, s, (size_t)type);
}

static Profile *build_profile(struct encoder *e, const struct otlp_encode_opts *o, uint32_t pid,
			      int type)
{
	size_t nsamples, n = 0;
	const struct prof_sample *samples = profile__samples(e->p, &nsamples);
	const char *const *strings = profile__strings(e->p, &(size_t){0});
	const struct prof_link *links = profile__links(e->p, &(size_t){0});
	Profile *pr = arena_alloc(&e->a, sizeof(*pr));
	ValueType *st = arena_alloc(&e->a, sizeof(*st)), *pt = arena_alloc(&e->a, sizeof(*pt));
	const char *name = "samples", *unit = "count";

	if (!pr || !st || !pt)
		return NULL;
	opentelemetry__proto__profiles__v1development__profile__init(pr);
	opentelemetry__proto__profiles__v1development__value_type__init(st);
	opentelemetry__proto__profiles__v1development__value_type__init(pt);
	if (type >= 0)
		profile__sample_type(e->p, (size_t)type, &name, &unit);
	st->type_strindex = str(e, name);
	st->unit_strindex = str(e, unit);
	pr->sample_type = st;
	/* Only CPU samples have a period: the other kinds' values are the amounts themselves. */
	if (type < 0) {
		pt->type_strindex = str(e, "cpu");
		pt->unit_strindex = str(e, "nanoseconds");
		pr->period_type = pt;
		pr->period = (int64_t)profile__period(e->p);
	}
	pr->time_unix_nano = profile__start(e->p);
	pr->duration_nano = profile__duration(e->p);
	if (o->profile_id) {
		/* Unique per profile: the export's random id with the pid and the type folded in.
		 */
		uint8_t *id = arena_alloc(&e->a, 16);

		if (!id)
			return NULL;
		memcpy(id, o->profile_id, 16);
		for (int i = 0; i < 4; i++)
			id[12 + i] ^= (uint8_t)(pid >> (8 * i));
		id[11] ^= (uint8_t)(type + 1);
		pr->profile_id.len = 16;
		pr->profile_id.data = id;
	}
	for (size_t i = 0; i < nsamples; i++)
		n += samples[i].pid == pid && value_of(e->p, &samples[i], type) != 0;
	pr->samples = arena_alloc(&e->a, n * sizeof(Sample *));
	for (size_t i = 0; pr->samples && i < nsamples; i++) {
		const struct prof_sample *s = &samples[i];
		Sample *os;

		if (s->pid != pid || value_of(e->p, s, type) == 0)
			continue;
		os = arena_alloc(&e->a, sizeof(*os));
		if (!os)
			return NULL;
		opentelemetry__proto__profiles__v1development__sample__init(os);
		os->stack_index = stack(e, s->loc_ids, s->nlocs);
		os->link_index = (int32_t)s->link; /* model link id = table index */
		os->n_attribute_indices = 2 + (s->link ? links[s->link - 1].nattrs : 0);
		os->attribute_indices =
			arena_alloc(&e->a, os->n_attribute_indices * sizeof(int32_t));
		os->n_values = 1;
		os->values = arena_alloc(&e->a, sizeof(int64_t));
		if (!os->attribute_indices || !os->values)
			return NULL;
		os->attribute_indices[0] = attr(e, "thread.id", NULL, s->tid, 1);
		os->attribute_indices[1] = attr(e, "thread.name", strings[s->comm], 0, 0);
		/* The thread context's attributes, named from the process's key map. */
		for (uint32_t j = 0; s->link && j < links[s->link - 1].nattrs; j++)
			os->attribute_indices[2 + j] =
				attr(e, strings[links[s->link - 1].attrs[j].key],
				     strings[links[s->link - 1].attrs[j].value], 0, 0);
		os->values[0] = value_of(e->p, s, type);
		pr->samples[pr->n_samples++] = os;
	}
	return pr;
}

/* Whether @p is laid out as the agent's CPU profiles are: samples/count, then cpu/nanoseconds. */
static int agent_cpu_profile(const struct profile *p)
{
	const char *name, *unit;
	size_t dflt;

	if (profile__sample_types(p, &dflt) < 2)
		return 0;
	profile__sample_type(p, 0, &name, &unit);
	if (strcmp(name, "samples") || strcmp(unit, "count"))
		return 0;
	profile__sample_type(p, 1, &name, &unit);
	return !strcmp(name, "cpu") && !strcmp(unit, "nanoseconds");
}

static ResourceProfiles *build_resource(struct encoder *e, const struct otlp_encode_opts *o,
					const struct prof_process *proc)
{
	int off_cpu = profile__off_cpu_type(e->p), cpu;
	size_t dflt, ntypes = profile__sample_types(e->p, &dflt);
	const char *const *strings = profile__strings(e->p, &(size_t){0});
	ResourceProfiles *rp = arena_alloc(&e->a, sizeof(*rp));
	ScopeProfiles *sp = arena_alloc(&e->a, sizeof(*sp));
	Resource *res = arena_alloc(&e->a, sizeof(*res));
	Scope *scope = arena_alloc(&e->a, sizeof(*scope));
	size_t nattrs = 0, max = 9 + o->nresource + proc->nresource;
	const char *service = proc->service ? strings[proc->service] : o->service_name;
	KeyValue **attrs = arena_alloc(&e->a, max * sizeof(KeyValue *));

	if (!rp || !sp || !res || !scope || !attrs)
		return NULL;
	opentelemetry__proto__profiles__v1development__resource_profiles__init(rp);
	opentelemetry__proto__profiles__v1development__scope_profiles__init(sp);
	opentelemetry__proto__resource__v1__resource__init(res);
	opentelemetry__proto__common__v1__instrumentation_scope__init(scope);

	attrs[nattrs++] = plain_kv(e, "process.pid", NULL, proc->pid, 1);
	attrs[nattrs++] = plain_kv(e, "process.executable.name", strings[proc->name], 0, 0);
	if (strings[proc->exe][0])
		attrs[nattrs++] = plain_kv(e, "process.executable.path", strings[proc->exe], 0, 0);
	if (o->host_name)
		attrs[nattrs++] = plain_kv(e, "host.name", o->host_name, 0, 0);
	/* Container and pod identity, for the Collector's k8sattributes to match on. */
	if (strings[proc->container_id][0])
		attrs[nattrs++] = plain_kv(e, "container.id", strings[proc->container_id], 0, 0);
	if (strings[proc->pod_uid][0])
		attrs[nattrs++] = plain_kv(e, "k8s.pod.uid", strings[proc->pod_uid], 0, 0);
	if (strings[proc->qos][0])
		attrs[nattrs++] = plain_kv(e, "k8s.pod.qos_class", strings[proc->qos], 0, 0);
	if (o->node_name)
		attrs[nattrs++] = plain_kv(e, "k8s.node.name", o->node_name, 0, 0);
	/*
	 * service.name: the process's own (from its OTel process context) first,
	 * then OTEL_SERVICE_NAME; the process's other resource attributes win over
	 * OTEL_RESOURCE_ATTRIBUTES with the same key.
	 */
	if (service) {
		attrs[nattrs++] = plain_kv(e, "service.name", service, 0, 0);
	} else {
		/* What OTel SDKs fall back to: unknown_service:<executable name>. */
		char fallback[128];

		snprintf(fallback, sizeof(fallback), "unknown_service:%s", strings[proc->name]);
		attrs[nattrs++] = plain_kv(e, "service.name", fallback, 0, 0);
	}
	for (uint32_t i = 0; i < proc->nresource; i++)
		attrs[nattrs++] = plain_kv(e, strings[proc->resource[i].key],
					   strings[proc->resource[i].value], 0, 0);
	for (size_t i = 0; i < o->nresource; i++) {
		int taken = service && strcmp(o->resource[i].key, "service.name") == 0;

		for (uint32_t j = 0; !taken && j < proc->nresource; j++)
			taken = strcmp(o->resource[i].key, strings[proc->resource[j].key]) == 0;
		if (!taken)
			attrs[nattrs++] =
				plain_kv(e, o->resource[i].key, o->resource[i].value, 0, 0);
	}
	res->n_attributes = nattrs;
	res->attributes = attrs;
	rp->resource = res;
	scope->name = "emberprof";
	scope->version = (char *)(o->scope_version ? o->scope_version : "");
	sp->scope = scope;
	/*
	 * The agent's CPU profile: its CPU samples, and blocked time as a second
	 * profile. Any other (the memory profile, or one read from a file): one
	 * profile per sample type.
	 */
	cpu = agent_cpu_profile(e->p);
	sp->n_profiles = cpu ? 1 + (off_cpu >= 0) : ntypes;
	sp->profiles = arena_alloc(&e->a, sp->n_profiles * sizeof(Profile *));
	for (size_t k = 0; sp->profiles && k < sp->n_profiles; k++)
		sp->profiles[k] = build_profile(e, o, proc->pid, cpu ? (k ? off_cpu : -1) : (int)k);
	rp->n_scope_profiles = 1;
	rp->scope_profiles = arena_alloc(&e->a, sizeof(ScopeProfiles *));
	if (rp->scope_profiles)
		rp->scope_profiles[0] = sp;
	return rp;
}

int otlp__encode(const struct profile *p, const struct otlp_encode_opts *o, uint8_t **buf,
		 size_t *len)
{
	Request req =
		OPENTELEMETRY__PROTO__COLLECTOR__PROFILES__V1DEVELOPMENT__EXPORT_PROFILES_SERVICE_REQUEST__INIT;
	Dictionary dict = OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__PROFILES_DICTIONARY__INIT;
	struct encoder e = {.p = p};
	size_t nstr, nprocs;
	const char *const *strings = profile__strings(p, &nstr);
	const struct prof_process *procs = profile__processes(p, &nprocs);
	int err = 0;

	e.string_ids = htab__new();
	e.attr_ids = htab__new();
	e.stack_ids = htab__new();
	if (!e.string_ids || !e.attr_ids || !e.stack_ids)
		goto nomem;
	/* The model's strings keep their indices: they are the first entries. */
	for (size_t i = 0; i < nstr; i++)
		if (str(&e, strings[i]) != (int32_t)i)
			goto nomem;
	/* Entry 0 of the attribute and stack tables: the zero values. */
	attr(&e, "", "", 0, 0);
	stack(&e, NULL, 0);
	if (e.nattrs != 1 || e.nstacks != 1)
		goto nomem;
	e.attrs[0]->key_strindex = 0;
	e.attrs[0]->value = NULL;

	build_dictionary(&e, &dict);
	req.n_resource_profiles = nprocs;
	req.resource_profiles = arena_alloc(&e.a, nprocs * sizeof(ResourceProfiles *));
	for (size_t i = 0; req.resource_profiles && i < nprocs; i++)
		req.resource_profiles[i] = build_resource(&e, o, &procs[i]);
	if (e.a.failed)
		goto nomem;
	dict.n_string_table = e.nstrings;
	dict.string_table = e.strings;
	dict.n_attribute_table = e.nattrs;
	dict.attribute_table = e.attrs;
	dict.n_stack_table = e.nstacks;
	dict.stack_table = e.stacks;
	req.dictionary = &dict;

	*len = opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__get_packed_size(
		&req);
	*buf = malloc(*len ? *len : 1);
	if (!*buf)
		goto nomem;
	opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__pack(
		&req, *buf);
	goto out;
nomem:
	err = -ENOMEM;
out:
	free(e.strings);
	free(e.attrs);
	free(e.stacks);
	htab__free(e.string_ids);
	htab__free(e.attr_ids);
	htab__free(e.stack_ids);
	arena_free(&e.a);
	return err;
}

/* Percent-decodes [s, s+len) into @out, trimming spaces; returns the end of @out or NULL. */
static char *decode(const char *s, size_t len, char *out)
{
	while (len && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	for (size_t i = 0; i < len; i++) {
		int hi, lo;

		if (s[i] != '%') {
			*out++ = s[i];
			continue;
		}
		if (i + 2 >= len)
			return NULL; /* "%" or "%4" at the end */
		hi = hex_digit(s[i + 1]);
		lo = hex_digit(s[i + 2]);
		if (hi < 0 || lo < 0)
			return NULL;
		*out++ = (char)(hi * 16 + lo);
		i += 2;
	}
	*out++ = '\0';
	return out;
}

int otlp_parse_kv_list(const char *text, struct otlp_attr *out, size_t max, char *storage)
{
	const char *p = text;
	int n = 0;

	while (*p) {
		const char *end = strchr(p, ','), *eq;
		size_t len;
		char *k, *v;

		if (!end)
			end = p + strlen(p);
		len = (size_t)(end - p);
		eq = memchr(p, '=', len);
		if (len == 0 || strspn(p, " \t") == len) {
			/* an empty element ("a=b,,c=d" or a trailing comma) is skipped */
		} else if (!eq) {
			return -EINVAL;
		} else {
			k = storage;
			storage = decode(p, (size_t)(eq - p), storage);
			if (!storage || !k[0])
				return -EINVAL;
			v = storage;
			storage = decode(eq + 1, (size_t)(end - eq - 1), storage);
			if (!storage)
				return -EINVAL;
			if ((size_t)n == max)
				return -E2BIG;
			out[n].key = k;
			out[n].value = v;
			n++;
		}
		p = *end ? end + 1 : end;
	}
	return n;
}
