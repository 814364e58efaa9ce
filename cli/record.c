// SPDX-License-Identifier: Apache-2.0
/*
 * emberprof record, the default command: profile the whole machine (or some
 * processes, a cgroup, a container) and write pprof, folded stacks, a flame
 * graph and OTLP. Everything that can be checked before loading BPF is checked
 * here, in the order a user would fix it (flags, privilege, kernel BTF, output
 * paths, PIDs), and each failure is one line on stderr and a non-zero exit: a
 * profiler that fails after a ten-minute run because its output directory is
 * missing has wasted the ten minutes.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "profile/otlp.h"
#include "bpf/emberprof.h"
#include "agent/otlp_http.h"
#include "agent/privilege.h"
#include "agent/run.h"
#include "agent/sampler.h"
#include "cli/commands.h"
#include "cli/options.h"

#define MAX_DEBUG_DIRS 16

static const char usage_text[] =
	"Usage: emberprof [record] [options]\n"
	"Sample every CPU's stacks with eBPF and write a symbolized profile.\n"
	"\n"
	"  -F, --frequency HZ     samples per second per CPU (default 19; 1..10000)\n"
	"  -d, --duration SEC     stop after SEC seconds; without it, run until SIGINT/SIGTERM\n"
	"  -p, --pid PID[,PID..]  only these processes (default: every process)\n"
	"  -o, --output PATH      gzip'd pprof (default ./emberprof.pb.gz)\n"
	"      --folded PATH      folded stacks (flamegraph.pl, speedscope)\n"
	"      --folded-span      folded stacks: a traced sample's span as a frame\n"
	"      --flamegraph PATH  a self-contained HTML flame graph (opens offline)\n"
	"      --off-cpu          also profile blocked time: where threads sleep, in\n"
	"                         nanoseconds (pprof sample type off_cpu)\n"
	"      --off-cpu-min-us N with --off-cpu: leave out waits under N us (default 1)\n"
	"      --off-cpu-walks N  with --off-cpu: walk the stacks of at most about N\n"
	"                         sleeping switches a second; beyond that, walk one\n"
	"                         in 2^k at random and weight it 2^k (default 250)\n"
	"      --folded-off-cpu PATH  with --off-cpu: folded stacks of blocked time, in us\n"
	"      --alloc            also profile allocations, from processes with otel_memory\n"
	"                         USDT probes (LD_PRELOAD=libotelmem.so): alloc_objects and\n"
	"                         alloc_space, into --heap-output\n"
	"      --inuse            --alloc, plus what is still allocated at each interval's\n"
	"                         end: inuse_objects and inuse_space\n"
	"      --heap-output PATH the memory profile, gzip'd pprof (default\n"
	"                         ./emberprof-heap.pb.gz)\n"
	"  -i, --interval SEC     continuous mode: one profile per interval; PATH may hold\n"
	"                         %t (unix time) / %n (sequence)\n"
	"      --top N            print the N hottest functions at exit\n"
	"      --cgroup PATH      only tasks in this cgroup v2 subtree (e.g. /kubepods.slice)\n"
	"      --container-id ID  only processes of containers whose id starts with ID\n"
	"      --status-addr HOST:PORT  serve /healthz and /metrics (Prometheus) there\n"
	"      --log-format FMT   text (default) or json\n"
	"      --otlp-endpoint URL  send OTLP profiles to URL/v1development/profiles (also\n"
	"                         OTEL_EXPORTER_OTLP_[PROFILES_]ENDPOINT); then -o is optional\n"
	"      --otlp-queue-mb N  bound of the OTLP send queue, within the memory budget\n"
	"                         (default a quarter of it, at most 32; oldest dropped)\n"
	"      --otlp-flush-timeout SEC  time to send what is queued at exit (default 5)\n"
	"      --no-dwarf-unwind  walk user stacks by frame pointers only\n"
	"      --no-python        no Python frames: CPython processes show the interpreter's\n"
	"                         native frames only\n"
	"      --unwind-table-mb N  memory for .eh_frame unwind tables (default 24; built\n"
	"                         for sampled code, least recently walked evicted)\n"
	"      --debug-dir DIR    also look for debug info under DIR (repeatable)\n"
	"      --memory-mb N      target for the agent's heap: parsed files, caches, tables,\n"
	"                         the OTLP queue (default 48; least recently used freed first)\n"
	"      --max-open-files N target for the files held open (default 256, or half\n"
	"                         the open-file limit if lower)\n"
	"      --symbol-cache-mb N  cap of the address-to-name cache, within the memory\n"
	"                         budget (default an eighth of it)\n"
	"      --module-cache N   files kept parsed after their last process exits, within\n"
	"                         the memory budget (default 128)\n"
	"  -v, --verbose          progress and counters on stderr (twice: debug)\n"
	"  -h, --help             this text\n"
	"      --version          print the version\n"
	"\n"
	"\n"
	"       emberprof symbolize (--pid PID | --elf FILE) [ADDR...]\n"
	"                         name addresses; see emberprof symbolize --help\n"
	"       emberprof top [-F HZ] [-p PID] [--by function|process|span] [--off-cpu|--alloc]\n"
	"                         live view of the hottest functions\n"
	"       emberprof flamegraph IN.pb.gz -o OUT.html\n"
	"       emberprof diff BASE.pb.gz NEW.pb.gz -o OUT.html\n"
	"\n"
	"Environment: EMBERPROF_BTF_PATH overrides /sys/kernel/btf/vmlinux. OTLP honours\n"
	"OTEL_EXPORTER_OTLP_{ENDPOINT,HEADERS,COMPRESSION,TIMEOUT,CERTIFICATE} (and their\n"
	"PROFILES_ forms), OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.\n";

enum {
	OPT_FOLDED = 256,
	OPT_VERSION,
	OPT_TOP,
	OPT_DEBUG_DIR,
	OPT_SYM_CACHE,
	OPT_IDLE_MODULES,
	OPT_NO_DWARF,
	OPT_NO_PYTHON,
	OPT_UNWIND_ROWS,
	OPT_OTLP_ENDPOINT,
	OPT_OTLP_QUEUE,
	OPT_OTLP_FLUSH,
	OPT_FOLDED_SPAN,
	OPT_CGROUP,
	OPT_CONTAINER,
	OPT_STATUS,
	OPT_LOG_FORMAT,
	OPT_FLAMEGRAPH,
	OPT_MEMORY,
	OPT_MAX_FILES,
	OPT_OFF_CPU,
	OPT_OFF_CPU_MIN,
	OPT_OFF_CPU_WALKS,
	OPT_FOLDED_OFF_CPU,
	OPT_ALLOC,
	OPT_INUSE,
	OPT_HEAP_OUTPUT,
};

static const struct option long_opts[] = {
	{"frequency", required_argument, NULL, 'F'},
	{"duration", required_argument, NULL, 'd'},
	{"pid", required_argument, NULL, 'p'},
	{"output", required_argument, NULL, 'o'},
	{"folded", required_argument, NULL, OPT_FOLDED},
	{"interval", required_argument, NULL, 'i'},
	{"debug-dir", required_argument, NULL, OPT_DEBUG_DIR},
	{"symbol-cache-mb", required_argument, NULL, OPT_SYM_CACHE},
	{"module-cache", required_argument, NULL, OPT_IDLE_MODULES},
	{"memory-mb", required_argument, NULL, OPT_MEMORY},
	{"max-open-files", required_argument, NULL, OPT_MAX_FILES},
	{"no-dwarf-unwind", no_argument, NULL, OPT_NO_DWARF},
	{"no-python", no_argument, NULL, OPT_NO_PYTHON},
	{"unwind-table-mb", required_argument, NULL, OPT_UNWIND_ROWS},
	{"otlp-endpoint", required_argument, NULL, OPT_OTLP_ENDPOINT},
	{"otlp-queue-mb", required_argument, NULL, OPT_OTLP_QUEUE},
	{"otlp-flush-timeout", required_argument, NULL, OPT_OTLP_FLUSH},
	{"folded-span", no_argument, NULL, OPT_FOLDED_SPAN},
	{"cgroup", required_argument, NULL, OPT_CGROUP},
	{"container-id", required_argument, NULL, OPT_CONTAINER},
	{"status-addr", required_argument, NULL, OPT_STATUS},
	{"log-format", required_argument, NULL, OPT_LOG_FORMAT},
	{"flamegraph", required_argument, NULL, OPT_FLAMEGRAPH},
	{"top", required_argument, NULL, OPT_TOP},
	{"off-cpu", no_argument, NULL, OPT_OFF_CPU},
	{"off-cpu-min-us", required_argument, NULL, OPT_OFF_CPU_MIN},
	{"off-cpu-walks", required_argument, NULL, OPT_OFF_CPU_WALKS},
	{"folded-off-cpu", required_argument, NULL, OPT_FOLDED_OFF_CPU},
	{"alloc", no_argument, NULL, OPT_ALLOC},
	{"inuse", no_argument, NULL, OPT_INUSE},
	{"heap-output", required_argument, NULL, OPT_HEAP_OUTPUT},
	{"verbose", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

/* OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, for every exported resource. */
static int load_resource_env(struct run_opts *o, struct otlp_attr *attrs, size_t max)
{
	const char *svc = getenv("OTEL_SERVICE_NAME"), *res = getenv("OTEL_RESOURCE_ATTRIBUTES");
	static char *storage;
	int n;

	if (svc && *svc)
		o->service_name = svc;
	if (!res || !*res)
		return 0;
	storage = malloc(strlen(res) * 2 + 2);
	n = storage ? otlp_parse_kv_list(res, attrs, max, storage) : -ENOMEM;
	if (n < 0) {
		pr_warn("malformed OTEL_RESOURCE_ATTRIBUTES (want key=value,key2=value2 with "
			"URL-encoded values)");
		return -1;
	}
	o->resource_attrs = attrs;
	o->nresource_attrs = (size_t)n;
	for (int i = 0; i < n && !o->service_name; i++)
		if (strcmp(attrs[i].key, "service.name") == 0)
			o->service_name = attrs[i].value;
	return 0;
}

/* Where cgroup2 is mounted: /sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid hosts. */
static void cgroup2_root(char *out, size_t size)
{
	char line[4096];
	FILE *f = fopen("/proc/self/mounts", "re");

	snprintf(out, size, "/sys/fs/cgroup");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char dev[256], dir[2048], type[64];

		if (sscanf(line, "%255s %2047s %63s", dev, dir, type) == 3 &&
		    strcmp(type, "cgroup2") == 0) {
			snprintf(out, size, "%s", dir);
			break;
		}
	}
	fclose(f);
}

/*
 * --cgroup PATH: a cgroup v2 directory, absolute (under the cgroup2 mount) or
 * relative to that mount ("/kubepods.slice/..."). Returns its fd.
 */
static int open_cgroup(const char *path)
{
	char root[2048], full[4096];
	int fd;

	cgroup2_root(root, sizeof(root));
	if (strncmp(path, root, strlen(root)) == 0)
		snprintf(full, sizeof(full), "%s", path);
	else
		snprintf(full, sizeof(full), "%s%s%s", root, path[0] == '/' ? "" : "/", path);
	fd = open(full, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		pr_warn("--cgroup: cannot open %s: %s (want a cgroup v2 directory)", full,
			strerror(errno));
	return fd;
}

/* --status-addr HOST:PORT, checked before anything is loaded. */
static int check_status_addr(const char *addr)
{
	const char *colon = strrchr(addr, ':');
	char *end;
	long port = colon ? strtol(colon + 1, &end, 10) : -1;

	if (!colon || colon == addr || *end || port < 1 || port > 65535) {
		pr_warn("--status-addr: invalid value '%s' (want HOST:PORT, e.g. 127.0.0.1:7070)",
			addr);
		return -1;
	}
	return 0;
}

static void on_hup(int sig)
{
	(void)sig;
	run_request_reopen();
}

static void on_signal(int sig)
{
	(void)sig;
	run_request_stop();
}

/* What the flags say beyond struct run_opts, for the set-up after parsing. */
struct record_flags {
	const char *otlp_endpoint; /* --otlp-endpoint */
	size_t otlp_queue;	   /* --otlp-queue-mb, in bytes; 0: a share of the budget */
	double otlp_flush;	   /* --otlp-flush-timeout; 0: the default */
	int output_given;	   /* -o was given */
	const char *cgroup_path;   /* --cgroup */
	const char *btf;	   /* EMBERPROF_BTF_PATH */
};

/* OTLP: configured by flag or environment; bad settings stop here, before any work. */
static int setup_otlp(struct run_opts *o, const struct record_flags *f)
{
	static struct otlp_config otlp;
	static struct otlp_attr resource[64];
	char why[512];
	int on = otlp_config__load(&otlp, f->otlp_endpoint, why, sizeof(why));

	if (on < 0) {
		pr_warn("%s", why);
		return 2;
	}
	if (on) {
		/* The queue is part of the memory budget. */
		size_t share = (size_t)(o->memory_bytes / 4);

		if (f->otlp_queue)
			otlp.queue_bytes = f->otlp_queue;
		else if (otlp.queue_bytes > share)
			otlp.queue_bytes = share > 0 ? share : 1;
		if (f->otlp_flush > 0)
			otlp.flush_seconds = f->otlp_flush;
		o->otlp = &otlp;
		/* Exporting: a pprof file only when asked for. */
		if (!f->output_given)
			o->output = NULL;
	}
	return load_resource_env(o, resource, 64) ? 2 : 0;
}

/*
 * The checks a user would fix in this order: privilege, kernel BTF, output
 * paths, PIDs, the cgroup, the status address. Returns the exit code, or 0.
 */
static int preflight(struct run_opts *o, const struct record_flags *f)
{
	if (privilege_check())
		return 1;
	if (opt_check_btf(f->btf ? f->btf : "/sys/kernel/btf/vmlinux"))
		return 1;
	o->btf_path = f->btf;
	/* A usage error, as a flag this kernel cannot serve is: exit 2. */
	if (o->off_cpu && sampler__off_cpu_check(f->btf))
		return 2;
	if ((o->output && opt_check_writable(o->output)) ||
	    (o->folded && opt_check_writable(o->folded)) ||
	    (o->folded_off_cpu && opt_check_writable(o->folded_off_cpu)) ||
	    (o->heap_output && opt_check_writable(o->heap_output)) ||
	    (o->flamegraph && opt_check_writable(o->flamegraph)))
		return 1;
	if (opt_check_pids(o->pids, o->npids))
		return 1;
	if (f->cgroup_path) {
		o->cgroup_fd = open_cgroup(f->cgroup_path);
		if (o->cgroup_fd < 0)
			return 1;
	}
	if (o->status_addr && check_status_addr(o->status_addr))
		return 2;
	return 0;
}

int cmd_record(int argc, char **argv)
{
	static uint32_t pids[EMBER_MAX_PIDS];
	static const char *debug_dirs[MAX_DEBUG_DIRS + 1];
	struct record_flags f = {.btf = getenv("EMBERPROF_BTF_PATH")};
	size_t ndirs = 0;
	struct run_opts o;
	struct sigaction sa = {.sa_handler = on_signal};
	int verbose = 0, c, err;
	unsigned long v;

	opt_defaults(&o, EMBER_RECORD_HZ, pids);
	o.output = "emberprof.pb.gz";
	o.debug_dirs = debug_dirs;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":F:d:p:o:i:vh", long_opts, NULL)) != -1) {
		err = opt_common(c, optarg, &o, pids);
		if (err >= 0) {
			if (err)
				return err;
			continue;
		}
		switch (c) {
		case 'i':
			err = opt_seconds(optarg, &o.interval);
			if (err)
				return opt_bad_value("--interval", optarg, err, "seconds > 0");
			break;
		case 'o':
			o.output = optarg;
			f.output_given = 1;
			break;
		case OPT_FOLDED:
			o.folded = optarg;
			break;
		case OPT_TOP:
			err = opt_uint(optarg, 1, 1000, &v);
			if (err)
				return opt_bad_value("--top", optarg, err, "1..1000");
			o.top = (unsigned int)v;
			break;
		case OPT_OTLP_ENDPOINT:
			f.otlp_endpoint = optarg;
			break;
		case OPT_OTLP_QUEUE:
			err = opt_uint(optarg, 1, 4096, &v);
			if (err)
				return opt_bad_value("--otlp-queue-mb", optarg, err, "1..4096 MiB");
			f.otlp_queue = (size_t)v << 20;
			break;
		case OPT_OTLP_FLUSH:
			err = opt_seconds(optarg, &f.otlp_flush);
			if (err)
				return opt_bad_value("--otlp-flush-timeout", optarg, err,
						     "seconds > 0");
			break;
		case OPT_CGROUP:
			f.cgroup_path = optarg;
			break;
		case OPT_CONTAINER:
			if (!optarg[0] || strspn(optarg, "0123456789abcdef") != strlen(optarg) ||
			    strlen(optarg) > 64)
				return opt_bad_value(
					"--container-id", optarg, -EINVAL,
					"a container id or a prefix of one, lowercase hex");
			o.container_prefix = optarg;
			break;
		case OPT_STATUS:
			o.status_addr = optarg;
			break;
		case OPT_LOG_FORMAT:
			if (strcmp(optarg, "json") == 0)
				log_set_json(1);
			else if (strcmp(optarg, "text") != 0)
				return opt_bad_value("--log-format", optarg, -EINVAL,
						     "text or json");
			break;
		case OPT_FLAMEGRAPH:
			o.flamegraph = optarg;
			break;
		case OPT_FOLDED_SPAN:
			o.folded_span = 1;
			break;
		case OPT_OFF_CPU:
			o.off_cpu = 1;
			break;
		case OPT_OFF_CPU_MIN:
			err = opt_uint(optarg, 0, 60000000, &v);
			if (err)
				return opt_bad_value("--off-cpu-min-us", optarg, err,
						     "0..60000000 microseconds");
			o.off_cpu_min_ns = (uint64_t)v * 1000;
			break;
		case OPT_OFF_CPU_WALKS:
			err = opt_uint(optarg, 1, 1000000, &v);
			if (err)
				return opt_bad_value("--off-cpu-walks", optarg, err,
						     "1..1000000 walks a second");
			o.off_cpu_walks = (uint32_t)v;
			break;
		case OPT_FOLDED_OFF_CPU:
			o.folded_off_cpu = optarg;
			break;
		case OPT_INUSE:
			o.inuse = 1;
			o.alloc = 1;
			break;
		case OPT_ALLOC:
			o.alloc = 1;
			break;
		case OPT_HEAP_OUTPUT:
			o.heap_output = optarg;
			break;
		case OPT_NO_DWARF:
			o.dwarf_unwind = 0;
			break;
		case OPT_NO_PYTHON:
			o.python = 0;
			break;
		case OPT_UNWIND_ROWS:
			err = opt_uint(optarg, 1, 1024, &v);
			if (err)
				return opt_bad_value("--unwind-table-mb", optarg, err,
						     "1..1024 MiB");
			o.unwind_rows = (uint32_t)((v << 20) / sizeof(struct ember_row));
			break;
		case OPT_SYM_CACHE:
			err = opt_uint(optarg, 1, 65536, &v);
			if (err)
				return opt_bad_value("--symbol-cache-mb", optarg, err,
						     "1..65536 MiB");
			o.symbol_cache_bytes = (size_t)v << 20;
			break;
		case OPT_IDLE_MODULES:
			err = opt_uint(optarg, 1, 100000, &v);
			if (err)
				return opt_bad_value("--module-cache", optarg, err,
						     "1..100000 files");
			o.idle_modules = (unsigned int)v;
			break;
		case OPT_MEMORY:
			err = opt_uint(optarg, 1, 1048576, &v);
			if (err)
				return opt_bad_value("--memory-mb", optarg, err, "1..1048576 MiB");
			o.memory_bytes = (uint64_t)v << 20;
			break;
		case OPT_MAX_FILES:
			err = opt_uint(optarg, 16, 1048576, &v);
			if (err)
				return opt_bad_value("--max-open-files", optarg, err,
						     "16..1048576");
			o.max_files = (int)v;
			break;
		case OPT_DEBUG_DIR:
			if (ndirs == MAX_DEBUG_DIRS) {
				pr_warn("--debug-dir: at most %d directories", MAX_DEBUG_DIRS);
				return 2;
			}
			debug_dirs[ndirs++] = optarg;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case OPT_VERSION:
			return cmd_version(0, NULL);
		case ':':
			pr_warn("option '%s' needs a value (see --help)", argv[optind - 1]);
			return 2;
		default:
			pr_warn("unknown option '%s' (see --help)", argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		pr_warn("unexpected argument '%s' (see --help)", argv[optind]);
		return 2;
	}
	log_set_level(verbose >= 2 ? EMBER_LOG_DEBUG : verbose ? EMBER_LOG_INFO : EMBER_LOG_WARN);
	if (o.folded_off_cpu && !o.off_cpu) {
		pr_warn("--folded-off-cpu needs --off-cpu (blocked time is only recorded with it)");
		return 2;
	}
	if (o.heap_output && !o.alloc) {
		pr_warn("--heap-output needs --alloc or --inuse (allocations are only recorded "
			"with them)");
		return 2;
	}

	err = setup_otlp(&o, &f);
	/* As -o: exporting, the memory profile goes to a file only when asked for. */
	if (o.alloc && !o.heap_output && !o.otlp)
		o.heap_output = "emberprof-heap.pb.gz";
	if (!err)
		err = preflight(&o, &f);
	if (err)
		return err;

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &(struct sigaction){.sa_handler = on_hup}, NULL);
	signal(SIGPIPE, SIG_IGN);
	return run(&o);
}
