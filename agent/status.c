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

#include "log.h"
#include "status.h"

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
