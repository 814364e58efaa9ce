// SPDX-License-Identifier: Apache-2.0
/*
 * The OTLP/HTTP sender. One thread owns the libcurl handle and takes
 * profiles from the queue oldest first. Each is POSTed as
 * application/x-protobuf (gzip'd when configured) and retried, as the OTLP
 * specification asks, on connection errors and on 429, 502, 503 and 504,
 * with exponential backoff (1 s doubling to 60 s, +-20% jitter) or the
 * server's Retry-After when it gives one. Any other status is final: the
 * profile is dropped and counted. A 200 whose body reports partial success
 * is logged. At stop, the queue is sent until the flush deadline passes
 * (a backoff under way ends early, a server's Retry-After does not);
 * whatever is left then is counted as dropped.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>
#include <zlib.h>

#include "opentelemetry/proto/collector/profiles/v1development/profiles_service.pb-c.h"
#include "lib/gzip.h"
#include "lib/log.h"
#include "lib/strbuf.h"
#include "profile/otlp.h"
#include "agent/otlp_http.h"

#define SIGNAL_PATH "/v1development/profiles"

struct item {
	struct item *next;
	uint8_t *body;
	size_t len;
};

struct otlp_exporter {
	struct otlp_config cfg;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;	  /* a profile was queued, or stop */
	pthread_cond_t stop_cond; /* stop only: wakes a retry backoff */
	struct item *head, *tail;
	size_t queued, queued_bytes;
	int stopping;
	struct timespec deadline; /* set at stop */
	struct otlp_exporter_stats st;
	CURL *curl;
	struct curl_slist *hdrs;
};

/* --- configuration ---------------------------------------------------------- */

static const char *env2(const char *specific, const char *general)
{
	const char *v = getenv(specific);

	if (v && *v)
		return v;
	v = getenv(general);
	return v && *v ? v : NULL;
}

static int valid_url(const char *url, char *err, size_t errlen)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	int ok = 0;

	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) && host[0])
		ok = 1;
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	if (!ok)
		snprintf(err, errlen,
			 "invalid OTLP endpoint '%s' (want http[s]://host[:port][/path])", url);
	return ok ? 0 : -EINVAL;
}

int otlp_config__load(struct otlp_config *c, const char *flag_endpoint, char *err, size_t errlen)
{
	const char *specific = getenv("OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT");
	const char *base = flag_endpoint && *flag_endpoint ? flag_endpoint
							   : getenv("OTEL_EXPORTER_OTLP_ENDPOINT");
	const char *headers, *headers_var, *comp, *timeout, *cert;
	int n;

	memset(c, 0, sizeof(*c));
	c->timeout_ms = 10000;
	c->queue_bytes = 32u << 20;
	c->flush_seconds = 5;
	if (!(flag_endpoint && *flag_endpoint) && specific && *specific) {
		n = snprintf(c->url, sizeof(c->url), "%s", specific);
	} else if (base && *base) {
		size_t len = strlen(base);

		/* Checked as given: "http://" plus the path would parse as a host. */
		if (valid_url(base, err, errlen))
			return -EINVAL;
		while (len && base[len - 1] == '/')
			len--;
		n = snprintf(c->url, sizeof(c->url), "%.*s%s", (int)len, base, SIGNAL_PATH);
	} else {
		return 0;
	}
	if (n < 0 || (size_t)n >= sizeof(c->url)) {
		snprintf(err, errlen, "OTLP endpoint too long");
		return -EINVAL;
	}
	if (valid_url(c->url, err, errlen))
		return -EINVAL;

	headers = env2("OTEL_EXPORTER_OTLP_PROFILES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS");
	headers_var = getenv("OTEL_EXPORTER_OTLP_PROFILES_HEADERS") &&
				      *getenv("OTEL_EXPORTER_OTLP_PROFILES_HEADERS")
			      ? "OTEL_EXPORTER_OTLP_PROFILES_HEADERS"
			      : "OTEL_EXPORTER_OTLP_HEADERS";
	if (headers) {
		struct otlp_attr kv[OTLP_MAX_HEADERS];
		char *storage = malloc(strlen(headers) * 2 + 2);

		n = storage ? otlp_parse_kv_list(headers, kv, OTLP_MAX_HEADERS, storage) : -ENOMEM;
		for (int i = 0; i < n; i++) {
			/* A header name must be a token; a value must not break the line. */
			if (strpbrk(kv[i].key, " :\r\n\t") || strpbrk(kv[i].value, "\r\n")) {
				n = -EINVAL;
				break;
			}
			if (asprintf(&c->headers[c->nheaders], "%s: %s", kv[i].key, kv[i].value) <
			    0) {
				n = -ENOMEM;
				break;
			}
			c->nheaders++;
		}
		free(storage);
		if (n < 0) {
			snprintf(
				err, errlen,
				"malformed %s (want key=value,key2=value2 with URL-encoded values)",
				headers_var);
			otlp_config__free(c);
			return -EINVAL;
		}
	}
	comp = env2("OTEL_EXPORTER_OTLP_PROFILES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION");
	if (comp && strcmp(comp, "gzip") == 0) {
		c->gzip = 1;
	} else if (comp && strcmp(comp, "none") != 0) {
		snprintf(err, errlen,
			 "OTEL_EXPORTER_OTLP_COMPRESSION must be gzip or none, not '%s'", comp);
		otlp_config__free(c);
		return -EINVAL;
	}
	timeout = env2("OTEL_EXPORTER_OTLP_PROFILES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT");
	if (timeout) {
		char *end;
		long v = strtol(timeout, &end, 10);

		if (*end || v <= 0) {
			snprintf(err, errlen,
				 "OTEL_EXPORTER_OTLP_TIMEOUT must be milliseconds > 0");
			otlp_config__free(c);
			return -EINVAL;
		}
		c->timeout_ms = v;
	}
	cert = env2("OTEL_EXPORTER_OTLP_PROFILES_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE");
	if (cert)
		snprintf(c->ca_file, sizeof(c->ca_file), "%s", cert);
	return 1;
}

void otlp_config__free(struct otlp_config *c)
{
	for (size_t i = 0; i < c->nheaders; i++)
		free(c->headers[i]);
	c->nheaders = 0;
}

/* --- sending ------------------------------------------------------------------ */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct strbuf *r = arg;
	size_t n = size * nmemb;

	if (r->len + n > (1u << 20))
		return n; /* a response body this large is not read further */
	strbuf__put(r, ptr, n);
	return r->failed ? 0 : n;
}

static void log_partial_success(const struct strbuf *r)
{
	Opentelemetry__Proto__Collector__Profiles__V1development__ExportProfilesServiceResponse
		*resp;

	if (!r->len)
		return;
	resp = opentelemetry__proto__collector__profiles__v1development__export_profiles_service_response__unpack(
		NULL, r->len, (const uint8_t *)r->s);
	if (!resp)
		return;
	if (resp->partial_success &&
	    (resp->partial_success->rejected_profiles || resp->partial_success->error_message[0]))
		pr_warn("collector accepted part of a profile export: %lld rejected: %s",
			(long long)resp->partial_success->rejected_profiles,
			resp->partial_success->error_message);
	opentelemetry__proto__collector__profiles__v1development__export_profiles_service_response__free_unpacked(
		resp, NULL);
}

enum outcome { SENT, RETRY, FINAL };

/* One attempt. Sets *@retry_after (seconds, 0: none given) for RETRY. */
static enum outcome post(struct otlp_exporter *e, const uint8_t *body, size_t len,
			 long *retry_after, int64_t *rejected)
{
	struct strbuf resp = {0};
	struct curl_header *h;
	enum outcome out;
	long status = 0;
	CURLcode rc;

	*retry_after = 0;
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &resp);
	rc = curl_easy_perform(e->curl);
	if (rc != CURLE_OK) {
		pr_info("OTLP export to %s failed: %s", e->cfg.url, curl_easy_strerror(rc));
		strbuf__free(&resp);
		return RETRY;
	}
	curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status < 300) {
		Opentelemetry__Proto__Collector__Profiles__V1development__ExportProfilesServiceResponse
			*r = resp.len
				     ? opentelemetry__proto__collector__profiles__v1development__export_profiles_service_response__unpack(
					       NULL, resp.len, (const uint8_t *)resp.s)
				     : NULL;

		if (r && r->partial_success)
			*rejected += r->partial_success->rejected_profiles;
		if (r)
			opentelemetry__proto__collector__profiles__v1development__export_profiles_service_response__free_unpacked(
				r, NULL);
		log_partial_success(&resp);
		out = SENT;
	} else if (status == 429 || status == 502 || status == 503 || status == 504) {
		if (curl_easy_header(e->curl, "Retry-After", 0, CURLH_HEADER, -1, &h) == CURLHE_OK)
			*retry_after = strtol(h->value, NULL, 10);
		pr_info("OTLP collector answered %ld; will retry", status);
		out = RETRY;
	} else {
		pr_warn("OTLP collector rejected a profile export with HTTP %ld; dropping it",
			status);
		out = FINAL;
	}
	strbuf__free(&resp);
	return out;
}

static int past(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

/*
 * Sleeps @secs unless stop's deadline comes first. Called with the lock held.
 * @stop_cuts: whether stop may also end the wait early (our own backoff);
 * a server's Retry-After is kept to, as far as the deadline allows.
 */
static void wait_locked(struct otlp_exporter *e, double secs, int stop_cuts)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)secs;
	until.tv_nsec += (long)((secs - (double)(time_t)secs) * 1e9);
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	/*
	 * Its own condition variable: a profile queued meanwhile must not cut the
	 * backoff short. Stop does: the flush starts with a fresh attempt (the
	 * collector may be back), and the flush deadline bounds the rest. Not
	 * when the collector named the delay itself: a 503 with Retry-After: 1
	 * that arrives just before stop would otherwise be retried at once.
	 */
	int was_stopping = e->stopping;

	for (;;) {
		struct timespec end = until;

		if (e->stopping &&
		    (end.tv_sec > e->deadline.tv_sec ||
		     (end.tv_sec == e->deadline.tv_sec && end.tv_nsec > e->deadline.tv_nsec)))
			end = e->deadline;
		if (past(&end) ||
		    pthread_cond_timedwait(&e->stop_cond, &e->lock, &end) == ETIMEDOUT)
			return;
		if (stop_cuts && e->stopping && !was_stopping)
			return;
	}
}

static void *run(void *arg)
{
	struct otlp_exporter *e = arg;

	pthread_mutex_lock(&e->lock);
	for (;;) {
		struct item *it;
		double backoff = 1;
		uint8_t *gz = NULL;
		const uint8_t *body;
		size_t len;
		int done = 0;

		while (!e->head && !e->stopping)
			pthread_cond_wait(&e->cond, &e->lock);
		if (!e->head || (e->stopping && past(&e->deadline)))
			break;
		it = e->head; /* stays queued while sending, so stats see it */
		pthread_mutex_unlock(&e->lock);

		body = it->body;
		len = it->len;
		if (e->cfg.gzip && gzip__compress(it->body, it->len, &gz, &len) == 0)
			body = gz;
		else
			len = it->len;
		for (;;) {
			long retry_after;
			int64_t rejected = 0;
			enum outcome o = post(e, body, len, &retry_after, &rejected);
			double wait;

			pthread_mutex_lock(&e->lock);
			e->st.rejected_profiles += (uint64_t)rejected;
			if (o == SENT) {
				e->st.sent++;
				done = 1;
				break;
			}
			if (o == FINAL || (e->stopping && past(&e->deadline))) {
				e->st.failed++;
				done = 1;
				break;
			}
			e->st.retries++;
			/* Exponential backoff with +-20% jitter, or the server's wish. */
			wait = retry_after > 0
				       ? (double)retry_after
				       : backoff * (0.8 + 0.4 * ((double)rand() / RAND_MAX));
			if (backoff < 60)
				backoff *= 2;
			wait_locked(e, wait, retry_after <= 0);
			pthread_mutex_unlock(&e->lock);
		}
		free(gz);
		/* Still locked. The head may have been dropped by a full queue meanwhile. */
		if (done && e->head == it) {
			e->head = it->next;
			if (!e->head)
				e->tail = NULL;
			e->queued--;
			e->queued_bytes -= it->len;
			free(it->body);
			free(it);
		}
	}
	/* Stopped with profiles left: they are lost, and counted. */
	while (e->head) {
		struct item *it = e->head;

		e->head = it->next;
		e->st.dropped_at_stop++;
		free(it->body);
		free(it);
	}
	e->tail = NULL;
	e->queued = e->queued_bytes = 0;
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

struct otlp_exporter *otlp_exporter__new(struct otlp_config *c)
{
	struct otlp_exporter *e = calloc(1, sizeof(*e));
	int err = ENOMEM;

	if (!e)
		goto fail;
	e->cfg = *c;
	c->nheaders = 0; /* taken over */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	e->curl = curl_easy_init();
	if (!e->curl)
		goto fail;
	e->hdrs = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
	if (e->cfg.gzip)
		e->hdrs = curl_slist_append(e->hdrs, "Content-Encoding: gzip");
	for (size_t i = 0; e->hdrs && i < e->cfg.nheaders; i++)
		e->hdrs = curl_slist_append(e->hdrs, e->cfg.headers[i]);
	if (!e->hdrs)
		goto fail;
	curl_easy_setopt(e->curl, CURLOPT_URL, e->cfg.url);
	curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, e->hdrs);
	curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, e->cfg.timeout_ms);
	curl_easy_setopt(e->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e->curl, CURLOPT_USERAGENT, "emberprof");
	if (e->cfg.ca_file[0])
		curl_easy_setopt(e->curl, CURLOPT_CAINFO, e->cfg.ca_file);
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->cond, NULL);
	pthread_cond_init(&e->stop_cond, NULL);
	err = pthread_create(&e->thread, NULL, run, e);
	if (err) {
		pthread_mutex_destroy(&e->lock);
		pthread_cond_destroy(&e->cond);
		pthread_cond_destroy(&e->stop_cond);
		goto fail;
	}
	return e;
fail:
	if (e) {
		curl_slist_free_all(e->hdrs);
		if (e->curl)
			curl_easy_cleanup(e->curl);
		otlp_config__free(&e->cfg);
		free(e);
	}
	errno = err;
	return NULL;
}

void otlp_exporter__send(struct otlp_exporter *e, uint8_t *body, size_t len)
{
	struct item *it = calloc(1, sizeof(*it));

	if (!it) {
		free(body);
		pthread_mutex_lock(&e->lock);
		e->st.dropped_queue_full++;
		pthread_mutex_unlock(&e->lock);
		return;
	}
	it->body = body;
	it->len = len;
	pthread_mutex_lock(&e->lock);
	/* Make room: drop the oldest, but not the one being sent (the head, if sending). */
	while (e->head && e->queued_bytes + len > e->cfg.queue_bytes) {
		struct item *victim = e->head->next ? e->head->next : NULL;

		if (!victim) {
			/* Only the in-flight one is left; a profile larger than the queue goes
			 * alone. */
			break;
		}
		e->head->next = victim->next;
		if (e->tail == victim)
			e->tail = e->head;
		e->queued--;
		e->queued_bytes -= victim->len;
		e->st.dropped_queue_full++;
		free(victim->body);
		free(victim);
	}
	if (e->tail)
		e->tail->next = it;
	else
		e->head = it;
	e->tail = it;
	e->queued++;
	e->queued_bytes += len;
	pthread_cond_signal(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

void otlp_exporter__stop(struct otlp_exporter *e, struct otlp_exporter_stats *final)
{
	if (!e)
		return;
	pthread_mutex_lock(&e->lock);
	e->stopping = 1;
	clock_gettime(CLOCK_REALTIME, &e->deadline);
	e->deadline.tv_sec += (time_t)e->cfg.flush_seconds;
	pthread_cond_broadcast(&e->cond);
	pthread_cond_broadcast(&e->stop_cond);
	pthread_mutex_unlock(&e->lock);
	/* A request in flight ends by its own timeout at worst. */
	pthread_join(e->thread, NULL);
	if (final) {
		*final = e->st;
		final->queued = e->queued;
		final->queued_bytes = e->queued_bytes;
	}
	pthread_mutex_destroy(&e->lock);
	pthread_cond_destroy(&e->cond);
	pthread_cond_destroy(&e->stop_cond);
	curl_slist_free_all(e->hdrs);
	curl_easy_cleanup(e->curl);
	otlp_config__free(&e->cfg);
	free(e);
}

void otlp_exporter__stats(struct otlp_exporter *e, struct otlp_exporter_stats *st)
{
	pthread_mutex_lock(&e->lock);
	*st = e->st;
	st->queued = e->queued;
	st->queued_bytes = e->queued_bytes;
	pthread_mutex_unlock(&e->lock);
}
