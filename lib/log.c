// SPDX-License-Identifier: Apache-2.0
/*
 * The message sink. Each message is formatted into one buffer and written with
 * a single write so lines from the exporter and sampler threads never
 * interleave mid-line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "lib/log.h"

static enum ember_log_level current_level = EMBER_LOG_WARN;
static int json;

void log_set_json(int on)
{
	json = on;
}

void log_set_level(enum ember_log_level level)
{
	current_level = level;
}

enum ember_log_level log_get_level(void)
{
	return current_level;
}

/* {"time":"...","level":"...","msg":"..."} with the message escaped for JSON. */
static void emit_json(int level, const char *msg)
{
	static const char *const names[] = {"warn", "info", "debug"};
	char out[2300], stamp[40];
	struct timespec ts;
	struct tm tm;
	size_t o;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	o = (size_t)snprintf(out, sizeof(out),
			     "{\"time\":\"%s.%03ldZ\",\"level\":\"%s\",\"msg\":\"", stamp,
			     ts.tv_nsec / 1000000, names[level < 3 ? level : 2]);
	for (const char *p = msg; *p && *p != '\n' && o + 8 < sizeof(out); p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '"' || c == '\\')
			o += (size_t)snprintf(out + o, sizeof(out) - o, "\\%c", c);
		else if (c < 0x20)
			o += (size_t)snprintf(out + o, sizeof(out) - o, "\\u%04x", c);
		else
			out[o++] = (char)c;
	}
	o += (size_t)snprintf(out + o, sizeof(out) - o, "\"}\n");
	if (write(STDERR_FILENO, out, o) < 0)
		return;
}

static void put(const char *s, size_t len)
{
	if (write(STDERR_FILENO, s, len) < 0)
		return; /* nowhere left to report it */
}

static void emit_level(int level, const char *fmt, va_list ap)
{
	char buf[1024], *big = NULL;
	int n = snprintf(buf, sizeof(buf), "emberprof: ");
	int m;
	size_t len;
	va_list again;

	va_copy(again, ap);
	m = vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	/* Long text (libbpf's verifier log is one message) is written whole. */
	if (m >= (int)sizeof(buf) - n && !json && vasprintf(&big, fmt, again) >= 0) {
		put(buf, (size_t)n);
		put(big, strlen(big));
		free(big);
		va_end(again);
		return;
	}
	va_end(again);
	if (m < 0)
		return;
	if (json) {
		emit_json(level, buf + n);
		return;
	}
	len = strnlen(buf, sizeof(buf) - 1);
	if (len == 0 || buf[len - 1] != '\n') {
		if (len >= sizeof(buf) - 1)
			len = sizeof(buf) - 2;
		buf[len++] = '\n';
		buf[len] = '\0';
	}
	if (write(STDERR_FILENO, buf, len) < 0)
		return; /* nowhere left to report it */
}

void ember_log(enum ember_log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > current_level)
		return;
	va_start(ap, fmt);
	emit_level(level, fmt, ap);
	va_end(ap);
}

int log_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	enum ember_log_level mine = level == LIBBPF_WARN ? EMBER_LOG_INFO : EMBER_LOG_DEBUG;

	if (mine > current_level)
		return 0;
	emit_level(mine, fmt, ap);
	return 0;
}
