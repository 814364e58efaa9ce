/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OTLP profiles encoding: the profile model as one
 * ExportProfilesServiceRequest (opentelemetry-proto v1.10 layout), with one
 * ResourceProfiles per process and one shared ProfilesDictionary. Delivery
 * is otlp_http's job.
 */
#ifndef EMBER_PROFILE_OTLP_H
#define EMBER_PROFILE_OTLP_H

#include <stddef.h>
#include <stdint.h>

struct profile;

struct otlp_attr {
	const char *key, *value;
};

struct otlp_encode_opts {
	const char *host_name;		  /* host.name on every resource */
	const char *node_name;		  /* k8s.node.name on every resource, or NULL */
	const char *service_name;	  /* OTEL_SERVICE_NAME, or NULL */
	const struct otlp_attr *resource; /* OTEL_RESOURCE_ATTRIBUTES, applied to every resource */
	size_t nresource;
	const char *scope_version; /* emberprof's version */
	const uint8_t *profile_id; /* 16 bytes, or NULL for none */
};

/*
 * Encodes @p. On success returns 0 and a malloc'd buffer in *@buf of *@len
 * bytes (the caller frees it); -ENOMEM otherwise.
 */
int otlp__encode(const struct profile *p, const struct otlp_encode_opts *o, uint8_t **buf,
		 size_t *len);

/*
 * Parses "k1=v1,k2=v2" with percent-encoded values (the format of
 * OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS) into @out, at most
 * @max pairs, keys and values decoded into @storage (at least strlen(@text)+1
 * bytes, the caller's). Returns the number of pairs, or -EINVAL for a pair
 * without '=' or with an empty key, or a bad %-escape.
 */
int otlp_parse_kv_list(const char *text, struct otlp_attr *out, size_t max, char *storage);

#endif
