// SPDX-License-Identifier: Apache-2.0
/*
 * emberprof top. It runs the ordinary agent loop with a one-second interval
 * and no outputs; at the end of each interval the loop hands over that
 * second's profile, which is ranked and drawn. Keys are read then too
 * (non-blocking), so a key takes effect within a second:
 *   q quit   p or space pause   s sort by self or total   b cycle function/process/span
 * On a terminal the view is drawn with ncurses and fits its size; when stdout
 * is not a terminal the same table is printed as text every second.
 */
#include <curses.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "array.h"
#include "aggregate.h"
#include "htab.h"
#include "log.h"
#include "privilege.h"
#include "run.h"
#include "top.h"

enum by { BY_FUNCTION, BY_PROCESS, BY_SPAN };

struct row {
	char name[160];
	int64_t self, total;
};

struct top {
	enum by by;
	int sort_total, paused, tty, quit;
	struct row *rows;
	size_t nrows, cap;
	int64_t samples;
	struct run_status st;
};

static const char *by_name(enum by by)
{
	return by == BY_PROCESS ? "process" : by == BY_SPAN ? "span" : "function";
}

static int cmp_self(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	return (x->self < y->self) - (x->self > y->self);
}

static int cmp_total(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	return (x->total < y->total) - (x->total > y->total);
}

/* Adds @count to the row named @name (self and/or total). */
static void bump(struct htab *idx, struct top *t, const char *name, int64_t self, int64_t total)
{
	uint64_t *slot = htab__get(idx, name, strlen(name), 1, t->nrows, NULL);
	struct row *r;

	if (!slot)
		return;
	if (*slot == t->nrows) {
		if (EMBER_RESERVE(t->rows, t->cap, t->nrows + 1)) {
			htab__del(idx, name, strlen(name));
			return;
		}
		memset(&t->rows[t->nrows], 0, sizeof(*t->rows));
		snprintf(t->rows[t->nrows].name, sizeof(t->rows[t->nrows].name), "%s", name);
		t->nrows++;
	}
	r = &t->rows[*slot];
	r->self += self;
	r->total += total;
}

/* Ranks one second's profile into t->rows. */
static void rank(struct top *t, const struct profile *p)
{
	size_t nsamples, nlocs, nfns, nstr, nmaps;
	const struct prof_sample *samples = profile__samples(p, &nsamples);
	const struct prof_location *locs = profile__locations(p, &nlocs);
	const struct prof_function *fns = profile__functions(p, &nfns);
	const struct prof_mapping *maps = profile__mappings(p, &nmaps);
	const struct prof_link *links = profile__links(p, &(size_t){0});
	const char *const *strings = profile__strings(p, &nstr);
	struct htab *idx = htab__new();
	uint8_t *seen = calloc(nfns + 1, 1);
	uint64_t *touched = calloc(nfns + 1, sizeof(*touched));

	t->nrows = 0;
	t->samples = profile__total(p);
	for (size_t i = 0; idx && seen && touched && i < nsamples; i++) {
		const struct prof_sample *s = &samples[i];
		char name[160];
		size_t ntouched = 0;

		if (t->by == BY_PROCESS) {
			snprintf(name, sizeof(name), "%s [%u]", strings[s->process], s->pid);
			bump(idx, t, name, s->count, s->count);
			continue;
		}
		if (t->by == BY_SPAN) {
			if (s->link)
				snprintf(name, sizeof(name), "span %s  trace %s",
					 strings[links[s->link - 1].span_hex],
					 strings[links[s->link - 1].trace_hex]);
			else
				snprintf(name, sizeof(name), "(no span)");
			bump(idx, t, name, s->count, s->count);
			continue;
		}
		/* Functions: self for the leaf's innermost line, total once per stack. */
		for (uint32_t j = 0; j < s->nlocs; j++) {
			const struct prof_location *l = &locs[s->loc_ids[j] - 1];
			int kernel = l->mapping_id && maps[l->mapping_id - 1].kernel;

			if (!l->nlines && j == 0) {
				snprintf(name, sizeof(name), "0x%" PRIx64, l->address);
				bump(idx, t, name, s->count, s->count);
			}
			for (uint32_t k = 0; k < l->nlines; k++) {
				uint64_t f = l->lines[k].function_id;

				snprintf(name, sizeof(name), "%s%s", strings[fns[f - 1].name],
					 kernel ? " [k]" : "");
				bump(idx, t, name, j == 0 && k == 0 ? s->count : 0,
				     seen[f] ? 0 : s->count);
				if (!seen[f]) {
					seen[f] = 1;
					touched[ntouched++] = f;
				}
			}
		}
		for (size_t k = 0; k < ntouched; k++)
			seen[touched[k]] = 0;
	}
	qsort(t->rows, t->nrows, sizeof(*t->rows), t->sort_total ? cmp_total : cmp_self);
	htab__free(idx);
	free(seen);
	free(touched);
}

static void draw_text(struct top *t)
{
	double secs = t->st.seconds > 0 ? t->st.seconds : 1;

	printf("emberprof top: %.0f samples/s, %" PRIu64 " lost, %zu processes, by %s\n",
	       t->samples / secs, t->st.lost, t->st.processes, by_name(t->by));
	printf("%7s %7s  %s\n", "SELF%", "TOTAL%", by_name(t->by));
	for (size_t i = 0; i < t->nrows && i < 20; i++)
		printf("%6.1f%% %6.1f%%  %s\n",
		       t->samples ? 100.0 * t->rows[i].self / t->samples : 0,
		       t->samples ? 100.0 * t->rows[i].total / t->samples : 0, t->rows[i].name);
	printf("\n");
	fflush(stdout);
}

static void draw_curses(struct top *t)
{
	double secs = t->st.seconds > 0 ? t->st.seconds : 1;
	int rows = LINES, cols = COLS;

	erase();
	attron(A_BOLD);
	mvprintw(0, 0, "emberprof top  %.0f samples/s  %" PRIu64 " lost  %zu processes  by %s%s",
		 t->samples / secs, t->st.lost, t->st.processes, by_name(t->by),
		 t->paused ? "  [paused]" : "");
	attroff(A_BOLD);
	mvprintw(1, 0, "q quit  p pause  s sort by %s  b by %s", t->sort_total ? "self" : "total",
		 by_name((t->by + 1) % 3));
	attron(A_REVERSE);
	mvprintw(3, 0, "%7s %7s  %-*s", "SELF%", "TOTAL%", cols > 20 ? cols - 17 : 3,
		 by_name(t->by));
	attroff(A_REVERSE);
	for (size_t i = 0; i < t->nrows && (int)i + 4 < rows; i++)
		mvprintw((int)i + 4, 0, "%6.1f%% %6.1f%%  %.*s",
			 t->samples ? 100.0 * t->rows[i].self / t->samples : 0,
			 t->samples ? 100.0 * t->rows[i].total / t->samples : 0,
			 cols > 17 ? cols - 17 : 1, t->rows[i].name);
	refresh();
}

static void keys(struct top *t)
{
	int c;

	while ((c = getch()) != ERR) {
		if (c == 'q' || c == 'Q') {
			t->quit = 1;
			run_request_stop();
		} else if (c == 'p' || c == ' ') {
			t->paused = !t->paused;
		} else if (c == 's') {
			t->sort_total = !t->sort_total;
		} else if (c == 'b') {
			t->by = (t->by + 1) % 3;
		}
	}
}

static void on_profile(const struct profile *p, const struct run_status *st, void *ctx)
{
	struct top *t = ctx;

	if (t->tty)
		keys(t);
	if (t->paused && t->tty) {
		draw_curses(t); /* the header shows [paused]; the table stays */
		return;
	}
	t->st = *st;
	rank(t, p);
	if (t->tty)
		draw_curses(t);
	else
		draw_text(t);
}

static void on_signal(int sig)
{
	(void)sig;
	run_request_stop();
}

int top_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"frequency", required_argument, NULL, 'F'},
		{"pid", required_argument, NULL, 'p'},
		{"duration", required_argument, NULL, 'd'},
		{"by", required_argument, NULL, 'b'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static uint32_t pids[64];
	struct top t = {0};
	struct run_opts o = {
		.frequency = 49,
		.interval = 1,
		.pids = pids,
		.dwarf_unwind = 1,
		.unwind_rows = (24u << 20) / 16,
		.unwind_maps = 1u << 18,
		.on_profile = on_profile,
		.on_profile_ctx = &t,
	};
	struct sigaction sa = {.sa_handler = on_signal};
	char *end;
	int c, rc;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":F:p:d:b:h", opts, NULL)) != -1) {
		switch (c) {
		case 'F':
			o.frequency = (uint32_t)strtoul(optarg, &end, 10);
			if (*end || o.frequency < 1 || o.frequency > 10000) {
				pr_warn("--frequency: invalid value '%s' (1..10000 Hz)", optarg);
				return 2;
			}
			break;
		case 'p':
			for (char *tok = strtok(optarg, ","); tok; tok = strtok(NULL, ",")) {
				unsigned long v = strtoul(tok, &end, 10);

				if (*end || !v || v > INT_MAX || o.npids == 64) {
					pr_warn("--pid: invalid value '%s'", tok);
					return 2;
				}
				pids[o.npids++] = (uint32_t)v;
			}
			break;
		case 'd':
			o.duration = strtod(optarg, &end);
			if (*end || o.duration <= 0) {
				pr_warn("--duration: invalid value '%s' (seconds > 0)", optarg);
				return 2;
			}
			break;
		case 'b':
			if (strcmp(optarg, "function") == 0)
				t.by = BY_FUNCTION;
			else if (strcmp(optarg, "process") == 0)
				t.by = BY_PROCESS;
			else if (strcmp(optarg, "span") == 0)
				t.by = BY_SPAN;
			else {
				pr_warn("--by: invalid value '%s' (function, process or span)",
					optarg);
				return 2;
			}
			break;
		case 'h':
			printf("Usage: emberprof top [-F HZ] [-p PID[,PID..]] [-d SEC] "
			       "[--by function|process|span]\n"
			       "Keys: q quit, p pause, s sort self/total, b "
			       "function/process/span.\n");
			return 0;
		default:
			pr_warn("unknown option '%s' (see top --help)", argv[optind - 1]);
			return 2;
		}
	}
	for (size_t i = 0; i < o.npids; i++) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%u/stat", pids[i]);
		if (access(path, F_OK)) {
			pr_warn("no process with pid %u", pids[i]);
			return 1;
		}
	}
	if (privilege_check())
		return 1;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	t.tty = isatty(STDOUT_FILENO);
	if (t.tty) {
		initscr();
		cbreak();
		noecho();
		nodelay(stdscr, TRUE);
		keypad(stdscr, TRUE);
		curs_set(0);
		mvprintw(0, 0, "emberprof top: starting...");
		refresh();
	}
	rc = run(&o);
	if (t.tty)
		endwin();
	free(t.rows);
	return rc;
}
