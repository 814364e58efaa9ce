// SPDX-License-Identifier: Apache-2.0
/*
 * emberprof top. It runs the ordinary agent loop with a one-second interval
 * and no outputs; at the end of each interval the loop hands over that
 * second's profile, which is ranked and drawn. Keys are read then too
 * (non-blocking), so a key takes effect within a second:
 *   q quit   p or space pause   s sort by self or total   b cycle function/process/span
 * With --off-cpu the agent records blocked time too and the table ranks
 * that, in milliseconds of waiting per second, instead of CPU samples.
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

#include "lib/log.h"
#include "profile/profile.h"
#include "profile/rank.h"
#include "agent/privilege.h"
#include "agent/run.h"
#include "agent/sampler.h"
#include "cli/commands.h"
#include "cli/options.h"

struct top {
	enum rank_by by;
	int sort_total, paused, tty, quit;
	int off_cpu; /* rank blocked time, not CPU samples */
	int alloc;   /* rank bytes allocated (the memory profile's alloc_space) */
	struct ranking rank;
	struct run_status st;
};

/* The header's rate: CPU samples/s, or with --off-cpu ms blocked per second. */
static double rate(const struct top *t, const char **unit)
{
	double secs = t->st.seconds > 0 ? t->st.seconds : 1;

	if (t->alloc) {
		*unit = "MiB allocated/s";
		return t->rank.samples / 1048576.0 / secs;
	}
	*unit = t->off_cpu ? "ms off-CPU/s" : "samples/s";
	return t->off_cpu ? t->rank.samples / 1e6 / secs : t->rank.samples / secs;
}

static void draw_text(struct top *t)
{
	const char *unit;
	double r = rate(t, &unit);

	printf("emberprof top: %.0f %s, %" PRIu64 " lost, %zu processes, by %s\n", r, unit,
	       t->st.lost, t->st.processes, rank_by_name(t->by));
	printf("%7s %7s  %s\n", "SELF%", "TOTAL%", rank_by_name(t->by));
	for (size_t i = 0; i < t->rank.n && i < 20; i++)
		printf("%6.1f%% %6.1f%%  %s\n",
		       t->rank.samples ? 100.0 * t->rank.rows[i].self / t->rank.samples : 0,
		       t->rank.samples ? 100.0 * t->rank.rows[i].total / t->rank.samples : 0,
		       t->rank.rows[i].name);
	printf("\n");
	fflush(stdout);
}

static void draw_curses(struct top *t)
{
	int rows = LINES, cols = COLS;
	const char *unit;
	double r = rate(t, &unit);

	erase();
	attron(A_BOLD);
	mvprintw(0, 0, "emberprof top  %.0f %s  %" PRIu64 " lost  %zu processes  by %s%s", r, unit,
		 t->st.lost, t->st.processes, rank_by_name(t->by), t->paused ? "  [paused]" : "");
	attroff(A_BOLD);
	mvprintw(1, 0, "q quit  p pause  s sort by %s  b by %s", t->sort_total ? "self" : "total",
		 rank_by_name((t->by + 1) % 3));
	attron(A_REVERSE);
	mvprintw(3, 0, "%7s %7s  %-*s", "SELF%", "TOTAL%", cols > 20 ? cols - 17 : 3,
		 rank_by_name(t->by));
	attroff(A_REVERSE);
	for (size_t i = 0; i < t->rank.n && (int)i + 4 < rows; i++)
		mvprintw((int)i + 4, 0, "%6.1f%% %6.1f%%  %.*s",
			 t->rank.samples ? 100.0 * t->rank.rows[i].self / t->rank.samples : 0,
			 t->rank.samples ? 100.0 * t->rank.rows[i].total / t->rank.samples : 0,
			 cols > 17 ? cols - 17 : 1, t->rank.rows[i].name);
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
	/* With --alloc @p is the memory profile: its type 1 is alloc_space. */
	if (profile__rank(p, t->by, t->sort_total,
			  t->alloc     ? 1
			  : t->off_cpu ? profile__off_cpu_type(p)
				       : RANK_SAMPLES,
			  &t->rank))
		t->rank.n = 0; /* out of memory: an empty table this second */
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

int cmd_top(int argc, char **argv)
{
	static const struct option opts[] = {
		{"frequency", required_argument, NULL, 'F'},
		{"pid", required_argument, NULL, 'p'},
		{"duration", required_argument, NULL, 'd'},
		{"by", required_argument, NULL, 'b'},
		{"off-cpu", no_argument, NULL, 'o'},
		{"alloc", no_argument, NULL, 'a'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static uint32_t pids[EMBER_MAX_PIDS];
	struct top t = {0};
	struct run_opts o;
	struct sigaction sa = {.sa_handler = on_signal};
	int c, rc, err;

	opt_defaults(&o, EMBER_TOP_HZ, pids);
	o.interval = 1;
	o.on_profile = on_profile;
	o.on_profile_ctx = &t;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":F:p:d:b:h", opts, NULL)) != -1) {
		err = opt_common(c, optarg, &o, pids);
		if (err >= 0) {
			if (err)
				return err;
			continue;
		}
		switch (c) {
		case 'o':
			/* Every wait's leaf is __schedule: what differs is what lies under it. */
			t.off_cpu = 1;
			t.sort_total = 1;
			o.off_cpu = 1;
			break;
		case 'a':
			/* The memory profile, to the table only: no file. */
			t.alloc = 1;
			o.alloc = 1;
			o.on_profile_heap = 1;
			break;
		case 'b':
			if (strcmp(optarg, "function") == 0)
				t.by = RANK_FUNCTION;
			else if (strcmp(optarg, "process") == 0)
				t.by = RANK_PROCESS;
			else if (strcmp(optarg, "span") == 0)
				t.by = RANK_SPAN;
			else {
				return opt_bad_value("--by", optarg, -EINVAL,
						     "function, process or span");
			}
			break;
		case 'h':
			printf("Usage: emberprof top [-F HZ] [-p PID[,PID..]] [-d SEC] "
			       "[--by function|process|span] [--off-cpu | --alloc]\n"
			       "--off-cpu ranks the time threads spend blocked (see record "
			       "--off-cpu);\n"
			       "--alloc ranks the bytes allocated (see record --alloc).\n"
			       "Keys: q quit, p pause, s sort self/total, b "
			       "function/process/span.\n");
			return 0;
		case ':':
			pr_warn("option '%s' needs a value (see top --help)", argv[optind - 1]);
			return 2;
		default:
			pr_warn("unknown option '%s' (see top --help)", argv[optind - 1]);
			return 2;
		}
	}
	if (t.alloc && t.off_cpu) {
		pr_warn("top: --alloc and --off-cpu rank different things; give one");
		return 2;
	}
	if (opt_check_pids(pids, o.npids))
		return 1;
	if (privilege_check())
		return 1;
	if (o.off_cpu && sampler__off_cpu_check(getenv("EMBERPROF_BTF_PATH")))
		return 2;
	o.btf_path = getenv("EMBERPROF_BTF_PATH");
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
	ranking__free(&t.rank);
	return rc;
}
