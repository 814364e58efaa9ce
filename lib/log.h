/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One sink for every message emberprof prints. Library code never calls
 * printf; it calls pr_warn/pr_info/pr_debug, and libbpf's own messages are fed
 * here too (log_libbpf_print), so -v and JSON-vs-text decisions live in one
 * place. Messages go to stderr prefixed with "emberprof: ".
 */
#ifndef EMBER_LOG_H
#define EMBER_LOG_H

#include <stdarg.h>
#include <bpf/libbpf.h>

enum ember_log_level {
	EMBER_LOG_WARN = 0,
	EMBER_LOG_INFO = 1,
	EMBER_LOG_DEBUG = 2,
};

/* One JSON object per line ({"time","level","msg"}) instead of plain text. */
void log_set_json(int on);

/* Messages above @level are discarded. Default: EMBER_LOG_WARN. */
void log_set_level(enum ember_log_level level);
enum ember_log_level log_get_level(void);

/* Print one message; a trailing newline is added when missing. */
void ember_log(enum ember_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A libbpf_print_fn_t: libbpf warnings show with -v, its debug output with -vv. */
int log_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap);

#define pr_warn(...) ember_log(EMBER_LOG_WARN, __VA_ARGS__)
#define pr_info(...) ember_log(EMBER_LOG_INFO, __VA_ARGS__)
#define pr_debug(...) ember_log(EMBER_LOG_DEBUG, __VA_ARGS__)

#endif
