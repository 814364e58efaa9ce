// SPDX-License-Identifier: Apache-2.0
/*
 * The message sink. Each message is formatted into one buffer and written with
 * a single write so lines from the exporter and sampler threads never
 * interleave mid-line.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "log.h"

static enum ember_log_level current_level = EMBER_LOG_WARN;

void log_set_level(enum ember_log_level level)
{
	current_level = level;
}

enum ember_log_level log_get_level(void)
{
	return current_level;
}

static void emit(const char *fmt, va_list ap)
{
	char buf[1024];
	int n = snprintf(buf, sizeof(buf), "emberprof: ");
	int m = vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	size_t len;

	if (m < 0)
		return;
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
	emit(fmt, ap);
	va_end(ap);
}

int log_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	enum ember_log_level mine = level == LIBBPF_WARN ? EMBER_LOG_INFO : EMBER_LOG_DEBUG;

	if (mine > current_level)
		return 0;
	emit(fmt, ap);
	return 0;
}
