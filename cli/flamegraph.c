// SPDX-License-Identifier: Apache-2.0
/*
 * emberprof flamegraph and emberprof diff: a pprof file (any tool's) in, a
 * self-contained HTML page out. The files are read here; profile/flamegraph.c
 * builds the page.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/file.h"
#include "lib/log.h"
#include "profile/flamegraph.h"
#include "profile/pprof_read.h"
#include "profile/profile.h"
#include "cli/commands.h"

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash && slash[1] ? slash + 1 : path;
}

static const char *why(int err)
{
	return err == -EINVAL ? "not a pprof profile (gzip'd or not)" : strerror(-err);
}

/*
 * Shared by both subcommands: @nin input files, then -o OUT and --title T.
 * Returns the exit code: 0, 1 for a failure, 2 for a usage error.
 */
static int fg_cmd(int argc, char **argv, int nin, const char *usage)
{
	static const struct option opts[] = {
		{"output", required_argument, NULL, 'o'},
		{"title", required_argument, NULL, 't'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *out = NULL, *title = NULL, *in[2] = {NULL, NULL};
	struct profile *prof[2] = {NULL, NULL};
	char deftitle[512];
	int c, err = 0, rc = 1;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:t:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 't':
			title = optarg;
			break;
		case 'v':
			log_set_level(EMBER_LOG_INFO);
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			pr_warn("%s: bad option %s", argv[0], argv[optind - 1]);
			fputs(usage, stderr);
			return 2;
		}
	}
	if (argc - optind != nin || !out) {
		pr_warn("%s: %s", argv[0],
			!out ? "-o OUT.html is required" : "wrong number of input files");
		fputs(usage, stderr);
		return 2;
	}
	for (int i = 0; i < nin; i++) {
		uint8_t *bytes = NULL;
		size_t len = 0;

		in[i] = argv[optind + i];
		err = file__read_all(in[i], EMBER_PPROF_MAX_FILE, &bytes, &len);
		if (err) {
			pr_warn("%s: cannot read %s: %s", argv[0], in[i], strerror(-err));
			goto out;
		}
		/* The one way in: every input becomes the model, whatever tool wrote it. */
		err = pprof__read(bytes, len, &prof[i]);
		free(bytes);
		if (err) {
			pr_warn("%s: %s: %s", argv[0], in[i], why(err));
			goto out;
		}
	}
	if (!title) {
		if (nin == 1)
			snprintf(deftitle, sizeof(deftitle), "%s", base_name(in[0]));
		else
			snprintf(deftitle, sizeof(deftitle), "%s vs %s", base_name(in[0]),
				 base_name(in[1]));
		title = deftitle;
	}
	if (!strcmp(out, "-") && nin == 1)
		err = flamegraph__fwrite(prof[0], title, stdout);
	else if (!strcmp(out, "-"))
		err = flamegraph__fwrite_diff(prof[0], prof[1], title, stdout);
	else if (nin == 1)
		err = flamegraph__write(prof[0], title, out);
	else
		err = flamegraph__write_diff(prof[0], prof[1], title, out);
	if (!err && !strcmp(out, "-") && fflush(stdout))
		err = -errno;
	if (err) {
		pr_warn("%s: cannot write %s: %s", argv[0], out, strerror(-err));
		goto out;
	}
	pr_info("wrote %s", strcmp(out, "-") ? out : "standard output");
	rc = 0;
out:
	profile__free(prof[0]);
	profile__free(prof[1]);
	return rc;
}

int cmd_flamegraph(int argc, char **argv)
{
	return fg_cmd(argc, argv, 1,
		      "Usage: emberprof flamegraph IN.pb.gz -o OUT.html [--title T]\n"
		      "Write a self-contained HTML flame graph of a pprof profile (any tool's).\n"
		      "  -o, --output FILE  the page to write (opens offline, from file://);\n"
		      "                     - for standard output\n"
		      "  -t, --title T      its title (default: the input's file name)\n"
		      "  -v, --verbose      say what was written\n");
}

int cmd_diff(int argc, char **argv)
{
	return fg_cmd(argc, argv, 2,
		      "Usage: emberprof diff BASE.pb.gz NEW.pb.gz -o OUT.html [--title T]\n"
		      "Write a differential flame graph: frames sized by NEW, red where their\n"
		      "share of samples grew since BASE, blue where it shrank.\n"
		      "  -o, --output FILE  the page to write; - for standard output\n"
		      "  -t, --title T      its title (default: \"BASE vs NEW\")\n"
		      "  -v, --verbose      say what was written\n");
}
