// SPDX-License-Identifier: Apache-2.0
/*
 * The folded-stacks writer. Samples of one stack differ in thread labels, which
 * folded output does not carry, so lines are built as strings, sorted, and
 * equal neighbours summed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/file.h"
#include "lib/strbuf.h"
#include "profile/folded.h"
#include "profile/profile.h"

struct line {
	char *text;
	int64_t count;
};

/* Frame names must not contain the separators of the format. */
static void put_name(struct strbuf *b, const char *s)
{
	for (; *s; s++) {
		char c = (*s == ';' || *s == '\n') ? ':' : *s == ' ' ? '_' : *s;

		strbuf__put(b, &c, 1);
	}
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

static void put_location(struct strbuf *b, const struct profile *p, const struct prof_location *loc)
{
	size_t nstr, nmaps, nfns;
	const char *const *strings = profile__strings(p, &nstr);
	const struct prof_mapping *maps = profile__mappings(p, &nmaps);
	const struct prof_function *fns = profile__functions(p, &nfns);
	const struct prof_mapping *m = loc->mapping_id ? &maps[loc->mapping_id - 1] : NULL;
	char tmp[64];

	if (!loc->nlines) {
		strbuf__put(b, ";", 1);
		if (m) {
			put_name(b, base_name(strings[m->filename]));
			snprintf(tmp, sizeof(tmp), "+0x%" PRIx64,
				 loc->address - m->start + m->offset);
		} else {
			snprintf(tmp, sizeof(tmp), "0x%" PRIx64, loc->address);
		}
		strbuf__put(b, tmp, strlen(tmp));
		return;
	}
	/* Outermost (caller) first: the model stores the innermost first. */
	for (uint32_t i = loc->nlines; i-- > 0;) {
		strbuf__put(b, ";", 1);
		put_name(b, strings[fns[loc->lines[i].function_id - 1].name]);
		if (m && m->kernel)
			strbuf__put(b, "_[k]", 4);
	}
}

static int line_cmp(const void *a, const void *b)
{
	return strcmp(((const struct line *)a)->text, ((const struct line *)b)->text);
}

int folded__fprint(const struct profile *p, FILE *out, int span_frames, enum folded_value value)
{
	int k = value == FOLDED_OFF_CPU_US ? profile__off_cpu_type(p) : -1;
	size_t nsamples, nlocs, nstr, n = 0;
	const struct prof_sample *samples = profile__samples(p, &nsamples);
	const struct prof_location *locs = profile__locations(p, &nlocs);
	const char *const *strings = profile__strings(p, &nstr);
	const struct prof_link *links = profile__links(p, &(size_t){0});
	struct line *lines = calloc(nsamples ? nsamples : 1, sizeof(*lines));
	int err = 0;

	if (!lines)
		return -ENOMEM;
	for (size_t i = 0; i < nsamples; i++) {
		const struct prof_sample *s = &samples[i];
		int64_t v = value == FOLDED_SAMPLES ? s->count
			    : k >= 0		    ? profile__value(p, s, k)
						    : 0;
		struct strbuf b = {0};

		if (v <= 0)
			continue;
		put_name(&b, strings[s->process]);
		if (span_frames && s->link) {
			strbuf__put(&b, ";[span ", 7);
			put_name(&b, strings[links[s->link - 1].span_hex]);
			strbuf__put(&b, "]", 1);
		}
		for (uint32_t j = s->nlocs; j-- > 0;)
			put_location(&b, p, &locs[s->loc_ids[j] - 1]);
		if (b.failed || !b.s) {
			free(b.s);
			err = -ENOMEM;
			goto out;
		}
		lines[n++] = (struct line){b.s, v};
	}
	qsort(lines, n, sizeof(*lines), line_cmp);
	for (size_t i = 0; i < n; i++) {
		int64_t count = lines[i].count;

		while (i + 1 < n && strcmp(lines[i].text, lines[i + 1].text) == 0)
			count += lines[++i].count;
		/* Nanoseconds are summed first, so merged waits round once. */
		if (value == FOLDED_OFF_CPU_US && (count /= 1000) == 0)
			continue;
		if (fprintf(out, "%s %" PRId64 "\n", lines[i].text, count) < 0) {
			err = -EIO;
			goto out;
		}
	}
out:
	for (size_t i = 0; i < n; i++)
		free(lines[i].text);
	free(lines);
	return err;
}

int folded__write(const struct profile *p, const char *path, int span_frames,
		  enum folded_value value)
{
	struct atomic_file af;
	int err = atomic_file__open(&af, path, 0644);

	if (err)
		return err;
	err = folded__fprint(p, af.f, span_frames, value);
	if (err) {
		atomic_file__abort(&af);
		return err;
	}
	return atomic_file__commit(&af);
}
