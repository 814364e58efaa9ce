/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OTLP/HTTP delivery of encoded profiles, on a thread of its own so a slow or
 * absent collector never holds up sampling. Profiles wait in a queue bounded
 * in bytes; when it is full the oldest is dropped and counted.
 */
#ifndef EMBER_OTLP_HTTP_H
#define EMBER_OTLP_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define OTLP_MAX_HEADERS 32

struct otlp_config {
	char url[2048];			 /* full URL, path included */
	char *headers[OTLP_MAX_HEADERS]; /* "Key: value", malloc'd */
	size_t nheaders;
	int gzip;
	long timeout_ms;      /* per request */
	char ca_file[1024];   /* "" for the system's CA store */
	size_t queue_bytes;   /* bound of the send queue */
	double flush_seconds; /* deadline for sending what is queued at stop */
};

/*
 * Fills @c from the flag (@flag_endpoint, may be NULL) and the OTEL_*
 * environment: OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT (used as is),
 * OTEL_EXPORTER_OTLP_ENDPOINT (a base; /v1development/profiles is appended),
 * ..._HEADERS, ..._COMPRESSION, ..._TIMEOUT, ..._CERTIFICATE, each with its
 * _PROFILES_ variant taking precedence. The flag is a base URL like
 * OTEL_EXPORTER_OTLP_ENDPOINT. Returns 1 when an endpoint is configured, 0
 * when none is (export off), or -EINVAL with a one-line reason in @err.
 */
int otlp_config__load(struct otlp_config *c, const char *flag_endpoint, char *err, size_t errlen);
void otlp_config__free(struct otlp_config *c);

struct otlp_exporter;

struct otlp_exporter_stats {
	uint64_t sent, failed, retries, dropped_queue_full, dropped_at_stop, rejected_profiles;
	size_t queued, queued_bytes;
};

/* Starts the sending thread. Takes over @c's headers. Returns NULL with errno set. */
struct otlp_exporter *otlp_exporter__new(struct otlp_config *c);

/* Queues @len bytes at @body (taken over). Never blocks on the network. */
void otlp_exporter__send(struct otlp_exporter *e, uint8_t *body, size_t len);

/*
 * Sends what is queued within the configured flush deadline, then stops the
 * thread, fills @final (may be NULL) with the last counters, and frees
 * everything. Accepts NULL.
 */
void otlp_exporter__stop(struct otlp_exporter *e, struct otlp_exporter_stats *final);

void otlp_exporter__stats(struct otlp_exporter *e, struct otlp_exporter_stats *st);

#endif
