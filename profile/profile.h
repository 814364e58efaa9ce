/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The profile model: one interval's samples in pprof's shape. Strings,
 * functions, mappings and locations are interned, so each is stored once and
 * referred to by id; a sample is a list of location ids (leaf first) plus its
 * labels and count. The writers (pprof, folded, OTLP, the flame graph) read
 * the model through the accessors below and never see how it is built.
 *
 * Two things build one. The agent adds symbolized frames and counts; its
 * samples are worth their count and count x period CPU nanoseconds. The pprof
 * reader (pprof_read.h) builds one from any pprof file: it sets the file's
 * sample types, and each of its samples carries one value per type, its
 * count being the value of the default type.
 *
 * Ids are 1-based and dense (id N is element N-1), as pprof requires non-zero
 * ids; string index 0 is always "".
 */
#ifndef EMBER_PROFILE_H
#define EMBER_PROFILE_H

#include <stddef.h>
#include <stdint.h>

struct sym_result;
struct profile;

struct prof_mapping {
	uint64_t start, limit, offset;
	uint32_t filename, build_id, htlhash; /* string indices */
	int kernel;
	/* pprof's has_* flags: raised as symbolized locations arrive. */
	int has_functions, has_filenames, has_line_numbers, has_inline_frames;
};

struct prof_line {
	uint64_t function_id;
	int64_t line;
};

struct prof_location {
	uint64_t mapping_id; /* 0: address outside any known mapping */
	uint64_t address;
	uint32_t nlines;
	struct prof_line *lines; /* innermost first */
};

struct prof_function {
	uint32_t name, system_name, filename; /* string indices */
	uint32_t pad;
	int64_t start_line; /* 0: unknown */
};

struct prof_sample {
	uint64_t *loc_ids; /* leaf first */
	uint32_t nlocs;
	uint32_t pid, tid;
	uint32_t comm, process; /* string indices */
	uint32_t link;		/* id in the link table; 0: none */
	int64_t count;		/* with sample types set: the default type's value */
	int64_t off_cpu;	/* the agent's profiles: nanoseconds blocked (--off-cpu) */
	int64_t *values;	/* with sample types set: one per type; else NULL */
};

/* A sample type, pprof's ValueType: string indices. */
struct prof_value_type {
	uint32_t type, unit;
};

#define PROF_MAX_TYPES 64

/* A key and a value, for attributes handed to the model. */
struct prof_kv {
	const char *key, *value;
};

#define PROF_MAX_ATTRS 16

struct prof_attr {
	uint32_t key, value; /* string indices */
};

/* A trace link: the span a sample ran in, with its thread-context attributes. */
struct prof_link {
	uint8_t trace_id[16], span_id[8];
	uint32_t trace_hex, span_hex; /* string indices: 32 and 16 lowercase hex digits */
	uint32_t nattrs;
	struct prof_attr attrs[PROF_MAX_ATTRS];
};

/*
 * The mapping file name of interpreted frames (CPython's): the writers give
 * their locations the frame type "cpython" and the flame graph its colour.
 */
#define PROF_PYTHON_MAPPING "[python]"

/* What the caller knows about one frame. */
struct prof_frame {
	uint64_t address;
	/* The mapping: map_file NULL means none is known. */
	const char *map_file;
	const char *build_id; /* may be NULL */
	const char *htlhash;  /* OTel file ID in hex; may be NULL */
	uint64_t map_start, map_limit, map_offset;
	int kernel;
	int jit;		      /* anonymous executable memory */
	int has_dwarf;		      /* the file's DWARF was read: inline frames are expanded */
	const struct sym_result *sym; /* names; nlines 0 when unknown */
};

/*
 * @period_ns: nanoseconds of CPU per sample; @start_ns: wall-clock start.
 * Returns NULL with errno set.
 */
struct profile *profile__new(uint64_t period_ns, uint64_t start_ns);
/* Accepts NULL. */
void profile__free(struct profile *p);

/* Interns @s, returning its string index. Returns -ENOMEM (as a negative int64) on failure. */
int64_t profile__string(struct profile *p, const char *s);

/* Interns a location for @f, with its mapping and functions. Returns its id, or 0 on ENOMEM. */
uint64_t profile__location(struct profile *p, const struct prof_frame *f);

/*
 * The id of the location already interned for @f's mapping and address (f->sym
 * is not read), or 0 if there is none yet. Lets a caller skip symbolizing an
 * address it has seen in this profile. Sets *@named to whether it has names.
 */
uint64_t profile__find_location(struct profile *p, const struct prof_frame *f, int *named);

/*
 * Adds @count samples with stack @loc_ids (leaf first, @n ids) and labels.
 * Samples with equal stack and labels are merged. Returns 0 or -ENOMEM.
 */
int profile__add(struct profile *p, const uint64_t *loc_ids, uint32_t n, uint32_t pid, uint32_t tid,
		 const char *comm, const char *process, uint32_t link, int64_t count);

/*
 * Adds @ns nanoseconds of off-CPU time (a thread blocked with this stack) to
 * the sample with @loc_ids and labels, merged as profile__add merges: a
 * sample can carry both CPU samples and blocked time. The profile must have
 * had profile__enable_off_cpu(). Returns 0, -EINVAL or -ENOMEM.
 */
int profile__add_off_cpu(struct profile *p, const uint64_t *loc_ids, uint32_t n, uint32_t pid,
			 uint32_t tid, const char *comm, const char *process, uint32_t link,
			 int64_t ns);

/*
 * Gives the agent's profile a third sample type, off_cpu/nanoseconds, after
 * samples/count and cpu/nanoseconds (still the default).
 */
void profile__enable_off_cpu(struct profile *p);
/* The index of the off_cpu sample type, or -1 when @p has none (by name for read profiles). */
int profile__off_cpu_type(const struct profile *p);
/* Nanoseconds of off-CPU time in @p. */
int64_t profile__off_cpu_total(const struct profile *p);

/*
 * Interns a link: @trace_id/@span_id and up to PROF_MAX_ATTRS attributes.
 * Returns its id (1-based), or 0 on ENOMEM.
 */
uint32_t profile__link(struct profile *p, const uint8_t trace_id[16], const uint8_t span_id[8],
		       const struct prof_kv *attrs, size_t nattrs);
const struct prof_link *profile__links(const struct profile *p, size_t *n);

/* A process of the profile: its pid and its executable's name and path. */
struct prof_process {
	uint32_t pid;
	uint32_t name, exe;		     /* string indices */
	uint32_t container_id, pod_uid, qos; /* string indices; 0: none */
	uint32_t service;   /* service.name from the process's own context; 0: unknown */
	uint32_t nresource; /* further resource attributes it published */
	struct prof_attr resource[PROF_MAX_ATTRS];
};

/* What the agent knows of a process, for profile__set_process. Strings may be NULL. */
struct prof_process_info {
	const char *name, *exe;
	const char *container_id, *pod_uid, *qos; /* from its cgroup */
	const struct prof_kv *resource;		  /* what it published itself */
	size_t nresource;
};

/* Records @pid's identity; the first record of a pid wins. Returns 0 or -ENOMEM. */
int profile__set_process(struct profile *p, uint32_t pid, const struct prof_process_info *info);
/* The processes recorded, in the order they were added. */
const struct prof_process *profile__processes(const struct profile *p, size_t *n);

/* Sets the wall-clock start and the duration; the exporters write them. */
void profile__set_start(struct profile *p, uint64_t start_ns);
void profile__set_duration(struct profile *p, uint64_t duration_ns);

/*
 * Gives the profile @n explicit sample types (@names[i] in @units[i]; at most
 * PROF_MAX_TYPES), @dflt the one viewers show first. Samples are then added
 * with profile__add_values(). Returns 0, -EINVAL or -ENOMEM.
 */
int profile__set_sample_types(struct profile *p, const char *const *names, const char *const *units,
			      size_t n, size_t dflt);

/*
 * How many sample types @p has, and in *@dflt the default's index: the
 * explicit ones, or for the agent's profiles the two it writes
 * (samples/count, then cpu/nanoseconds, the default), and off_cpu/nanoseconds
 * third with profile__enable_off_cpu().
 */
size_t profile__sample_types(const struct profile *p, size_t *dflt);
/* The name and unit of sample type @k; the profile's strings, valid until it is freed. */
void profile__sample_type(const struct profile *p, size_t k, const char **name, const char **unit);
/* Sample @s's value of type @k (k < profile__sample_types()). */
int64_t profile__value(const struct profile *p, const struct prof_sample *s, size_t k);

/*
 * For the pprof reader, which must keep a file's tables as they are: adds a
 * mapping (strings by index, as profile__string() returns them), a function,
 * or a location with its lines (innermost first), each appended with the
 * next id and not interned: two locations at one address stay two. Return
 * the id, or 0 on ENOMEM.
 */
uint64_t profile__add_mapping(struct profile *p, const struct prof_mapping *m);
uint64_t profile__add_function(struct profile *p, const char *name, const char *system_name,
			       const char *filename, int64_t start_line);
uint64_t profile__add_location(struct profile *p, uint64_t mapping_id, uint64_t address,
			       const struct prof_line *lines, uint32_t nlines);

/*
 * Appends a sample with one value per sample type (@values, copied), not
 * merged with others. Returns 0, -EINVAL without sample types, or -ENOMEM.
 */
int profile__add_values(struct profile *p, const uint64_t *loc_ids, uint32_t n, uint32_t pid,
			uint32_t tid, const char *comm, const char *process, uint32_t link,
			const int64_t *values);

uint64_t profile__period(const struct profile *p);
uint64_t profile__start(const struct profile *p);
uint64_t profile__duration(const struct profile *p);
int64_t profile__total(const struct profile *p);
/* Bytes the profile allocated (its tables, strings and arrays), counted, not measured. */
size_t profile__bytes(const struct profile *p);

const char *const *profile__strings(const struct profile *p, size_t *n);
const struct prof_mapping *profile__mappings(const struct profile *p, size_t *n);
const struct prof_location *profile__locations(const struct profile *p, size_t *n);
const struct prof_function *profile__functions(const struct profile *p, size_t *n);
const struct prof_sample *profile__samples(const struct profile *p, size_t *n);

#endif
