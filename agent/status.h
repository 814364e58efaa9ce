/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The status endpoint: a small HTTP/1.0 server on its own thread answering
 * GET /healthz ("ok", or 503 when sampling has stalled) and GET /metrics
 * (Prometheus text format). The main loop publishes a snapshot of its
 * counters after every drain; the server only ever reads the latest one.
 */
#ifndef EMBER_STATUS_H
#define EMBER_STATUS_H

#include <stddef.h>
#include <stdint.h>

struct status_server;

/*
 * Binds @addr ("HOST:PORT"; HOST a numeric IPv4 or IPv6 address, or
 * "localhost") and starts serving. Returns NULL with errno set; the reason
 * has been logged.
 */
struct status_server *status_server__start(const char *addr);

/* Replaces the metrics text (@text, NUL-terminated, copied) and marks the agent alive now. */
void status_server__publish(struct status_server *s, const char *text);

struct report;
struct strbuf;

/* Renders the /metrics page (Prometheus text format) of @r, appended to @out. */
void status__metrics_text(const struct report *r, struct strbuf *out);

/* Stops the thread and frees. Accepts NULL. */
void status_server__stop(struct status_server *s);

#endif
