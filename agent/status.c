// SPDX-License-Identifier: Apache-2.0
/*
 * The status server (see status.h). One connection at a time, each request
 * read with a short timeout and answered in full, then closed: liveness
 * probes and Prometheus scrapes need nothing more, and a stuck client cannot
 * hold the thread for longer than the timeout. The server never touches the
 * agent's state; it serves the last snapshot the main loop published.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/strbuf.h"
#include "agent/report.h"
#include "agent/status.h"

/* Healthy while a drain happened within this many seconds. */
#define STALE_SECONDS 10

struct status_server {
	int fd;
	int stop_pipe[2];
	pthread_t thread;
	pthread_mutex_t lock;
	char *text;
	time_t last_publish;
};

static void reply(int fd, const char *status, const char *type, const char *body)
{
	char head[256];
	size_t blen = strlen(body);
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n",
			 status, type, blen);

	if (write(fd, head, (size_t)n) < 0 || write(fd, body, blen) < 0)
		return; /* the client went away */
}

static void serve(struct status_server *s, int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char req[1024];
	size_t len = 0;

	/* Read the request line (and whatever headers fit) within a second. */
	while (len < sizeof(req) - 1 && poll(&p, 1, 1000) == 1) {
		ssize_t n = read(fd, req + len, sizeof(req) - 1 - len);

		if (n <= 0)
			break;
		len += (size_t)n;
		req[len] = '\0';
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}
	req[len] = '\0';
	if (strncmp(req, "GET /healthz", 12) == 0) {
		int ok;

		pthread_mutex_lock(&s->lock);
		ok = s->last_publish && time(NULL) - s->last_publish <= STALE_SECONDS;
		pthread_mutex_unlock(&s->lock);
		reply(fd, ok ? "200 OK" : "503 Service Unavailable", "text/plain",
		      ok ? "ok\n" : "stalled: no samples drained recently\n");
	} else if (strncmp(req, "GET /metrics", 12) == 0) {
		char *copy;

		pthread_mutex_lock(&s->lock);
		copy = strdup(s->text ? s->text : "");
		pthread_mutex_unlock(&s->lock);
		reply(fd, "200 OK", "text/plain; version=0.0.4", copy ? copy : "");
		free(copy);
	} else if (strncmp(req, "GET ", 4) == 0) {
		reply(fd, "404 Not Found", "text/plain", "try /healthz or /metrics\n");
	} else {
		reply(fd, "400 Bad Request", "text/plain", "bad request\n");
	}
}

static void *run(void *arg)
{
	struct status_server *s = arg;

	for (;;) {
		struct pollfd p[2] = {{.fd = s->fd, .events = POLLIN},
				      {.fd = s->stop_pipe[0], .events = POLLIN}};
		int c;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		c = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		serve(s, c);
		close(c);
	}
	return NULL;
}

struct status_server *status_server__start(const char *addr)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct status_server *s = calloc(1, sizeof(*s));
	char host[256], *colon;
	struct addrinfo *ai = NULL;
	int one = 1, err;

	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	s->fd = -1;
	s->stop_pipe[0] = s->stop_pipe[1] = -1;
	snprintf(host, sizeof(host), "%s", addr);
	colon = strrchr(host, ':');
	if (!colon) {
		err = EINVAL;
		goto fail;
	}
	*colon = '\0';
	/* [::1]:7070 */
	if (host[0] == '[' && colon[-1] == ']') {
		colon[-1] = '\0';
		memmove(host, host + 1, strlen(host));
	}
	err = getaddrinfo(host, colon + 1, &hints, &ai);
	if (err) {
		pr_warn("--status-addr %s: %s", addr, gai_strerror(err));
		err = EINVAL;
		goto fail;
	}
	s->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0 || setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(s->fd, ai->ai_addr, ai->ai_addrlen) || listen(s->fd, 16) ||
	    pipe2(s->stop_pipe, O_CLOEXEC)) {
		err = errno;
		pr_warn("cannot serve status on %s: %s", addr, strerror(err));
		goto fail;
	}
	freeaddrinfo(ai);
	ai = NULL;
	pthread_mutex_init(&s->lock, NULL);
	err = pthread_create(&s->thread, NULL, run, s);
	if (err) {
		pthread_mutex_destroy(&s->lock);
		goto fail;
	}
	return s;
fail:
	if (ai)
		freeaddrinfo(ai);
	if (s->fd >= 0)
		close(s->fd);
	if (s->stop_pipe[0] >= 0) {
		close(s->stop_pipe[0]);
		close(s->stop_pipe[1]);
	}
	free(s);
	errno = err;
	return NULL;
}

void status_server__publish(struct status_server *s, const char *text)
{
	char *copy = strdup(text);

	pthread_mutex_lock(&s->lock);
	if (copy) {
		free(s->text);
		s->text = copy;
	}
	s->last_publish = time(NULL);
	pthread_mutex_unlock(&s->lock);
}

void status_server__stop(struct status_server *s)
{
	if (!s)
		return;
	if (write(s->stop_pipe[1], "x", 1) < 0)
		pr_debug("cannot wake the status thread: %s", strerror(errno));
	pthread_join(s->thread, NULL);
	close(s->fd);
	close(s->stop_pipe[0]);
	close(s->stop_pipe[1]);
	pthread_mutex_destroy(&s->lock);
	free(s->text);
	free(s);
}
void status__metrics_text(const struct report *r, struct strbuf *t)
{
	static const enum ember_metric lost[] = {EMBER_M_KSTACK_LOST, EMBER_M_USTACK_LOST,
						 EMBER_M_USTACK_FAULT, EMBER_M_COUNTS_FULL};
	const struct symbolizer_stats *st = &r->sym;
	const uint64_t *m = r->m;

	strbuf__printf(t,
		       "# HELP emberprof_samples_total Samples taken on CPU.\n"
		       "# TYPE emberprof_samples_total counter\nemberprof_samples_total %" PRIu64
		       "\n",
		       m[EMBER_M_SAMPLES]);
	strbuf__printf(t,
		       "# HELP emberprof_samples_lost_total Samples lost or degraded, by reason.\n"
		       "# TYPE emberprof_samples_lost_total counter\n");
	for (size_t i = 0; i < sizeof(lost) / sizeof(lost[0]); i++)
		strbuf__printf(t, "emberprof_samples_lost_total{reason=\"%s\"} %" PRIu64 "\n",
			       ember_metric_name(lost[i]), m[lost[i]]);
	strbuf__printf(t, "# TYPE emberprof_bpf_events_total counter\n");
	for (int i = 0; i < EMBER_M_NR; i++)
		strbuf__printf(t, "emberprof_bpf_events_total{event=\"%s\"} %" PRIu64 "\n",
			       ember_metric_name((enum ember_metric)i), m[i]);
	strbuf__printf(t, "# TYPE emberprof_processes gauge\nemberprof_processes %zu\n",
		       r->processes);
	strbuf__printf(
		t,
		"# TYPE emberprof_symbolizer_cache_hits_total counter\n"
		"emberprof_symbolizer_cache_hits_total %lu\n"
		"# TYPE emberprof_symbolizer_cache_misses_total counter\n"
		"emberprof_symbolizer_cache_misses_total %lu\n"
		"# TYPE emberprof_symbolizer_cache_bytes gauge\n"
		"emberprof_symbolizer_cache_bytes %zu\n"
		"# TYPE emberprof_symbolizer_modules gauge\nemberprof_symbolizer_modules %lu\n",
		st->cache_hits, st->cache_misses, st->cache_bytes, st->modules_open);
	if (r->has_otlp) {
		const struct otlp_exporter_stats *es = &r->otlp;

		strbuf__printf(
			t,
			"# TYPE emberprof_export_sent_total counter\nemberprof_export_sent_total "
			"%" PRIu64 "\n# TYPE emberprof_export_failures_total counter\n"
			"emberprof_export_failures_total %" PRIu64
			"\n# TYPE emberprof_export_retries_total counter\n"
			"emberprof_export_retries_total %" PRIu64
			"\n# TYPE emberprof_export_dropped_total counter\n"
			"emberprof_export_dropped_total %" PRIu64
			"\n# TYPE emberprof_export_queue_bytes gauge\nemberprof_export_queue_bytes "
			"%zu\n"
			"# TYPE emberprof_export_queue_profiles gauge\n"
			"emberprof_export_queue_profiles %zu\n",
			es->sent, es->failed, es->retries,
			es->dropped_queue_full + es->dropped_at_stop, es->queued_bytes, es->queued);
	}
	strbuf__printf(
		t, "# TYPE emberprof_bpf_map_bytes gauge\nemberprof_bpf_map_bytes %" PRIu64 "\n",
		r->map_bytes);
	if (r->has_off_cpu)
		strbuf__printf(t,
			       "# TYPE emberprof_offcpu_measured_nanoseconds_total counter\n"
			       "emberprof_offcpu_measured_nanoseconds_total %" PRIu64 "\n"
			       "# TYPE emberprof_offcpu_threads_scaled_total counter\n"
			       "emberprof_offcpu_threads_scaled_total %" PRIu64 "\n"
			       "# TYPE emberprof_offcpu_threads_unwalked_total counter\n"
			       "emberprof_offcpu_threads_unwalked_total %" PRIu64 "\n"
			       "# TYPE emberprof_offcpu_unwalked_nanoseconds_total counter\n"
			       "emberprof_offcpu_unwalked_nanoseconds_total %" PRIu64 "\n"
			       "# TYPE emberprof_offcpu_unplaced_nanoseconds_total counter\n"
			       "emberprof_offcpu_unplaced_nanoseconds_total %" PRIu64 "\n",
			       r->off_cpu.measured_ns, r->off_cpu.scaled, r->off_cpu.last_stacks,
			       r->off_cpu.last_ns, r->off_cpu.lost_ns);
	if (r->has_python)
		strbuf__printf(t,
			       "# TYPE emberprof_python_processes_total counter\n"
			       "emberprof_python_processes_total %" PRIu64 "\n"
			       "# TYPE emberprof_python_unsupported_total counter\n"
			       "emberprof_python_unsupported_total %" PRIu64 "\n"
			       "# TYPE emberprof_python_code_objects_total counter\n"
			       "emberprof_python_code_objects_total %" PRIu64 "\n"
			       "# TYPE emberprof_python_cache_bytes gauge\n"
			       "emberprof_python_cache_bytes %" PRIu64 "\n",
			       r->python.procs, r->python.unsupported, r->python.codes,
			       r->python.cache_bytes);
	if (r->has_unwinder) {
		const struct unwinder_stats *us = &r->unwind;

		strbuf__printf(
			t,
			"# TYPE emberprof_unwind_rows_used gauge\nemberprof_unwind_rows_used %zu\n"
			"# TYPE emberprof_unwind_rows_capacity gauge\n"
			"emberprof_unwind_rows_capacity %zu\n"
			"# TYPE emberprof_unwind_chunks_loaded gauge\n"
			"emberprof_unwind_chunks_loaded %zu\n"
			"# TYPE emberprof_unwind_files_without_table gauge\n"
			"emberprof_unwind_files_without_table %zu\n"
			"# TYPE emberprof_unwind_chunk_builds_total counter\n"
			"emberprof_unwind_chunk_builds_total %" PRIu64 "\n"
			"# TYPE emberprof_unwind_chunk_evictions_total counter\n"
			"emberprof_unwind_chunk_evictions_total %" PRIu64 "\n"
			"# TYPE emberprof_unwind_chunk_rebuilds_total counter\n"
			"emberprof_unwind_chunk_rebuilds_total %" PRIu64 "\n"
			"# TYPE emberprof_unwind_chunk_no_room_total counter\n"
			"emberprof_unwind_chunk_no_room_total %" PRIu64 "\n"
			"# TYPE emberprof_unwind_build_max_seconds gauge\n"
			"emberprof_unwind_build_max_seconds %.6f\n",
			us->rows_used, us->rows_max, us->chunks_loaded, us->no_table, us->builds,
			us->evictions, us->rebuilds, us->no_room, us->build_max_ns / 1e9);
		if (r->nstarved)
			strbuf__printf(t, "# TYPE emberprof_unwind_refused_rows gauge\n");
		for (size_t i = 0; i < r->nstarved; i++)
			strbuf__printf(t,
				       "emberprof_unwind_refused_rows{file=\"%s\"} %" PRIu64 "\n",
				       r->starved[i].name, r->starved[i].rows);
	}
	strbuf__printf(
		t,
		"# TYPE emberprof_resident_memory_bytes gauge\nemberprof_resident_memory_bytes "
		"%" PRIu64 "\n",
		r->rss);
	{
		const struct mem_budget_stats *b = &r->budget.st;
		const struct mem_split *ms = &r->mem;

		strbuf__printf(
			t,
			"# HELP emberprof_resident_memory_kind_bytes Resident memory by kind.\n"
			"# TYPE emberprof_resident_memory_kind_bytes gauge\n"
			"emberprof_resident_memory_kind_bytes{kind=\"anonymous\"} %" PRIu64 "\n"
			"emberprof_resident_memory_kind_bytes{kind=\"file\"} %" PRIu64 "\n"
			"emberprof_resident_memory_kind_bytes{kind=\"shared\"} %" PRIu64 "\n"
			"# TYPE emberprof_resident_memory_peak_bytes gauge\n"
			"emberprof_resident_memory_peak_bytes %" PRIu64 "\n"
			"# HELP emberprof_heap_bytes Heap in live allocations (mallinfo2).\n"
			"# TYPE emberprof_heap_bytes gauge\nemberprof_heap_bytes %" PRIu64 "\n"
			"# TYPE emberprof_heap_free_bytes gauge\nemberprof_heap_free_bytes %" PRIu64
			"\n# TYPE emberprof_memory_budget_bytes gauge\n"
			"emberprof_memory_budget_bytes %" PRIu64 "\n"
			"# HELP emberprof_memory_bytes Heap bytes by holder; files is the rest.\n"
			"# TYPE emberprof_memory_bytes gauge\n"
			"emberprof_memory_bytes{cache=\"files\"} %" PRIu64 "\n"
			"emberprof_memory_bytes{cache=\"symbols\"} %" PRIu64 "\n"
			"emberprof_memory_bytes{cache=\"kernel_symbols\"} %" PRIu64 "\n"
			"emberprof_memory_bytes{cache=\"processes\"} %" PRIu64 "\n"
			"emberprof_memory_bytes{cache=\"profile\"} %" PRIu64 "\n"
			"emberprof_memory_bytes{cache=\"otlp_queue\"} %" PRIu64 "\n"
			"# TYPE emberprof_memory_evictions_total counter\n"
			"emberprof_memory_evictions_total{cache=\"files\"} %lu\n"
			"emberprof_memory_evictions_total{cache=\"dwarf\"} %lu\n"
			"emberprof_memory_evictions_total{cache=\"symbols\"} %lu\n"
			"# HELP emberprof_memory_lean_lookups_total Lookups named by ELF symbols "
			"only, for the budget.\n"
			"# TYPE emberprof_memory_lean_lookups_total counter\n"
			"emberprof_memory_lean_lookups_total %lu\n"
			"# HELP emberprof_samples_left_out_total Samples not in the profile, by "
			"reason.\n"
			"# TYPE emberprof_samples_left_out_total counter\n"
			"emberprof_samples_left_out_total{reason=\"container_filter\"} %" PRIu64
			"\n"
			"emberprof_samples_left_out_total{reason=\"no_stack\"} %" PRIu64 "\n"
			"# TYPE emberprof_write_failures_total counter\n"
			"emberprof_write_failures_total %" PRIu64 "\n"
			"# TYPE emberprof_frames_unnamed_total counter\n"
			"emberprof_frames_unnamed_total %" PRIu64 "\n"
			"# HELP emberprof_unwind_stopped_samples_total Samples whose user stack "
			"ends in an [unwind stopped] frame.\n"
			"# TYPE emberprof_unwind_stopped_samples_total counter\n"
			"emberprof_unwind_stopped_samples_total %" PRIu64 "\n"
			"# TYPE emberprof_open_files gauge\nemberprof_open_files %d\n"
			"# TYPE emberprof_open_files_target gauge\nemberprof_open_files_target "
			"%d\n",
			b->last.rss_anon, b->last.rss_file, b->last.rss_shmem, b->rss_peak,
			b->last.heap_used, b->last.heap_free, r->budget.heap_target, ms->files,
			ms->symbols, ms->kernel, ms->processes, ms->profile, ms->otlp,
			st->modules_evicted, st->dwarf_dropped, st->cache_evicted,
			st->dwarf_skipped, r->filtered, r->unattributed, r->write_failures,
			r->frames_unnamed, r->stopped, b->files, r->budget.files_target);
	}
}
