// SPDX-License-Identifier: Apache-2.0
/*
 * Flag parsers and pre-flight checks shared by the commands; see options.h.
 * Everything that can be checked before BPF is loaded is checked here, so a
 * bad path or pid fails in the first second and not after a long run.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "lib/file.h"
#include "lib/log.h"
#include "lib/path.h"
#include "bpf/emberprof.h"
#include "agent/run.h"
#include "cli/options.h"

void opt_defaults(struct run_opts *o, uint32_t frequency, uint32_t *pids)
{
	memset(o, 0, sizeof(*o));
	o->frequency = frequency;
	o->pids = pids;
	o->dwarf_unwind = 1;
	o->python = 1;
	o->off_cpu_min_ns = 1000; /* 1 us, as bcc's offcputime */
	o->unwind_rows = (EMBER_UNWIND_TABLE_MB << 20) / sizeof(struct ember_row);
	o->unwind_maps = EMBER_UNWIND_MAPS;
	o->memory_bytes = EMBER_MEMORY_DEFAULT;
}

int opt_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int opt_seconds(const char *s, double *out)
{
	char *end;
	double v;

	if (!*s)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v))
		return -EINVAL;
	if (v <= 0 || v > 1e7)
		return -ERANGE;
	*out = v;
	return 0;
}

int opt_pids(char *s, uint32_t *pids, size_t *n)
{
	char *save = NULL;

	for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned long v;
		int err = opt_uint(tok, 1, INT_MAX, &v);

		if (err)
			return err;
		if (*n == EMBER_MAX_PIDS)
			return -E2BIG;
		pids[(*n)++] = (uint32_t)v;
	}
	return *n ? 0 : -EINVAL;
}

int opt_bad_value(const char *flag, const char *value, int err, const char *range)
{
	if (err == -ERANGE)
		pr_warn("%s %s is out of range (%s)", flag, value, range);
	else
		pr_warn("%s: invalid value '%s' (%s)", flag, value, range);
	return 2;
}

int opt_common(int c, char *arg, struct run_opts *o, uint32_t *pids)
{
	unsigned long v;
	int err;

	switch (c) {
	case 'F':
		err = opt_uint(arg, 1, 10000, &v);
		if (err)
			return opt_bad_value("--frequency", arg, err, "1..10000 Hz");
		o->frequency = (uint32_t)v;
		return 0;
	case 'p':
		err = opt_pids(arg, pids, &o->npids);
		if (err)
			return opt_bad_value("--pid", arg, err, "PID[,PID..], at most 1024");
		return 0;
	case 'd':
		err = opt_seconds(arg, &o->duration);
		if (err)
			return opt_bad_value("--duration", arg, err, "seconds > 0");
		return 0;
	default:
		return -1;
	}
}

int opt_check_pids(const uint32_t *pids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%u/stat", pids[i]);
		if (access(path, F_OK)) {
			pr_warn("no process with pid %u", pids[i]);
			return -1;
		}
	}
	return 0;
}

int opt_check_btf(const char *path)
{
	struct btf *btf;
	int err;

	if (access(path, R_OK)) {
		pr_warn("no kernel BTF at %s: %s (emberprof needs a kernel built with "
			"CONFIG_DEBUG_INFO_BTF=y)",
			path, strerror(errno));
		return -1;
	}
	btf = btf__parse(path, NULL);
	err = libbpf_get_error(btf);
	if (err) {
		pr_warn("cannot read kernel BTF at %s: %s", path, strerror(-err));
		return -1;
	}
	btf__free(btf);
	return 0;
}

/* Creates and removes a file next to where @tmpl will be written. */
int opt_check_writable(const char *tmpl)
{
	struct atomic_file probe;
	char path[4096];
	struct stat st;
	int err;

	if (path_template_expand(tmpl, (uint64_t)time(NULL), 0, path, sizeof(path))) {
		pr_warn("output path too long: %s", tmpl);
		return -1;
	}
	/* Outputs are renamed into place, which must not replace a directory or device. */
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		pr_warn("cannot write %s: %s", path,
			S_ISDIR(st.st_mode) ? strerror(EISDIR) : "not a regular file");
		return -1;
	}
	err = atomic_file__open(&probe, path, 0644);
	if (err) {
		pr_warn("cannot write %s: %s", path, strerror(-err));
		return -1;
	}
	atomic_file__abort(&probe);
	return 0;
}
