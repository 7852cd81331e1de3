/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tcp.c: one poll of a kit on TCP 8899, non-blocking on the loop.
 *
 *   [lookup, if HOST is a name] -> connect -> the 16-byte request ->
 *   read until "DATA SEND IS OK" / "NO INVERTER DATA", the 0xFF filler
 *   after the data, the kit's close, or the timeout
 *
 * Every byte read goes through stream_feed, as a pushed connection's
 * would: the framer, the decoder, the limits and the outputs are the
 * relay's. The timeout covers the whole attempt.
 */
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "poller.h"
#include "resolve.h"

/* A poll answer is one or two frames and 68 bytes of filler. */
#define TCP_READ_MAX 65536
#define TCP_READINGS_MAX 16

struct lookup {
	char host[KITADDR_HOST_MAX + 1];
	char addrs[128];
	int rc;
};

static void tcp_end(struct poll_kit *k, enum poll_result res);

static void fail(struct poll_kit *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
fail(struct poll_kit *k, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(k->why, sizeof(k->why), fmt, ap);
	va_end(ap);
	tcp_end(k, POLL_FAILED);
}

/* What the answer so far amounts to, or -1 while it may go on. */
static int
answer_complete(const struct poll_kit *k)
{
	/* A text frame ends every answer of a kit. */
	if (k->st.st.texts > 0)
		return k->st.st.readings > 0 ? POLL_OK : POLL_NO_DATA;
	/* Some kits send no text: their filler follows the data. */
	if (k->st.st.readings > 0 && k->st.fr.st.filler > 0)
		return POLL_OK;
	return -1;
}

static void
tcp_end(struct poll_kit *k, enum poll_result res)
{
	struct timeval now;

	gettimeofday(&now, NULL);
	if (k->st_open) {
		stream_end(&k->st, &now);
		k->readings += k->st.st.readings;
		/* Bytes that did not end in a reading still count as none. */
		if (res == POLL_FAILED && k->st.st.readings > 0)
			res = POLL_OK;
		k->st_open = false;
	}
	/* A text without a reading: the kit's "no data", or a data frame
	 * that was refused (logged with its reason as it came). */
	if (res == POLL_NO_DATA && k->st.st.frames > k->st.st.texts)
		snprintf(k->why, sizeof(k->why), "answered, but no reading was "
		    "accepted (%llu frames refused)",
		    (unsigned long long)k->st.st.rejects);
	else if (res == POLL_NO_DATA)
		snprintf(k->why, sizeof(k->why), "\"NO INVERTER DATA\" on "
		    "port %u (the inverter is off)", (unsigned)k->addr.port);
	poll_tcp_abort(k);
	poll_done(k, res);
}

static void
on_read(struct poll_kit *k)
{
	uint8_t buf[4096];
	struct timeval now;
	ssize_t n;
	int done;

	for (;;) {
		n = read(k->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		break;
	}
	if (n < 0) {
		fail(k, "read: %s", strerror(errno));
		return;
	}
	if (n == 0) {
		/* The kit closed: whatever it sent is all there is. */
		done = answer_complete(k);
		if (done < 0 && k->st.st.readings == 0) {
			snprintf(k->why, sizeof(k->why), "closed after %llu "
			    "bytes without a reading",
			    (unsigned long long)k->bytes);
			tcp_end(k, POLL_FAILED);
			return;
		}
		tcp_end(k, done < 0 ? POLL_OK : (enum poll_result)done);
		return;
	}
	gettimeofday(&now, NULL);
	k->bytes += (uint64_t)n;
	k->bytes_total += (uint64_t)n;
	stream_feed(&k->st, buf, (size_t)n, &now);
	if ((done = answer_complete(k)) >= 0) {
		tcp_end(k, (enum poll_result)done);
		return;
	}
	if (k->bytes > TCP_READ_MAX) {
		snprintf(k->why, sizeof(k->why), "more than %d bytes without "
		    "an end: not a kit's answer", TCP_READ_MAX);
		tcp_end(k, POLL_FAILED);
	}
}

static void
on_io(evutil_socket_t fd, short what, void *arg)
{
	struct poll_kit *k = arg;
	uint8_t req[16];
	size_t len;
	int soerr = 0;
	socklen_t sl = sizeof(soerr);

	(void)fd;
	(void)what;
	if (k->sent) {
		on_read(k);
		return;
	}
	/* Connected, or not. */
	if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
		soerr = errno;
	if (soerr != 0) {
		fail(k, "connect: %s", strerror(soerr));
		return;
	}
	if (omnik_encode_request(k->addr.serial, req, sizeof(req), &len) !=
	    OMNIK_OK || write(k->fd, req, len) != (ssize_t)len) {
		fail(k, "sending the request: %s", strerror(errno));
		return;
	}
	k->sent = true;
	event_del(k->io);
	event_assign(k->io, k->pl->base, k->fd, EV_READ | EV_PERSIST, on_io,
	    k);
	event_add(k->io, NULL);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct poll_kit *k = arg;

	(void)fd;
	(void)what;
	if (k->sent)
		fail(k, "no answer within %d s", k->pl->timeout);
	else
		fail(k, "no connection within %d s", k->pl->timeout);
}

static void
connect_to(struct poll_kit *k, const char *addr)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST |
	    AI_NUMERICSERV, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai = NULL;
	char port[8];
	int rc;

	snprintf(port, sizeof(port), "%u", (unsigned)k->addr.port);
	if ((rc = getaddrinfo(addr, port, &hints, &ai)) != 0) {
		fail(k, "address: %s", gai_strerror(rc));
		return;
	}
	k->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (k->fd < 0) {
		freeaddrinfo(ai);
		fail(k, "socket: %s", strerror(errno));
		return;
	}
	rc = connect(k->fd, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (rc != 0 && errno != EINPROGRESS) {
		fail(k, "connect: %s", strerror(errno));
		return;
	}
	if ((k->io = event_new(k->pl->base, k->fd, EV_WRITE, on_io, k)) ==
	    NULL) {
		fail(k, "%s", "out of memory");
		return;
	}
	event_add(k->io, NULL);
}

static void
lookup_work(void *job)
{
	struct lookup *l = job;

	l->rc = resolve_addresses(l->host, 1, l->addrs, sizeof(l->addrs));
}

static void
lookup_discard(void *job)
{
	free(job);
}

static void
lookup_done(void *arg, void *job, int err)
{
	struct poll_kit *k = arg;
	struct lookup *l = job;

	/* The attempt ended first (its timeout): nothing waits for this. */
	if (!k->looking) {
		free(l);
		return;
	}
	k->looking = false;
	if (err != 0) {
		fail(k, "looking up %s: timed out", k->addr.host);
		return;
	}
	if (l->rc != 0) {
		snprintf(k->why, sizeof(k->why), "looking up %s: %s",
		    k->addr.host, gai_strerror(l->rc));
		free(l);
		tcp_end(k, POLL_FAILED);
		return;
	}
	connect_to(k, l->addrs);
	free(l);
}

void
poll_tcp_start(struct poll_kit *k)
{
	struct timeval tv = { k->pl->timeout, 0 };
	char src[sizeof(k->name) + 8];
	const char *h = k->addr.host;

	k->sent = false;
	k->bytes = 0;
	k->why[0] = '\0';
	/* The journal's source: the method and where the bytes came from. */
	snprintf(src, sizeof(src), strchr(h, ':') ? "tcp [%s]:%u" :
	    "tcp %s:%u", h, (unsigned)k->addr.port);
	stream_init(&k->st, k->pl->out, STREAM_FROM_KIT, src);
	/* A kit answers one frame per inverter: more is not a kit's. */
	stream_set_limit(&k->st, TCP_READINGS_MAX, TCP_READINGS_MAX);
	/* An answer for another kit is not this kit's (as a page's is not). */
	stream_expect_kit(&k->st, k->addr.serial);
	k->st_open = true;
	if ((k->deadline = evtimer_new(k->pl->base, on_deadline, k)) ==
	    NULL) {
		fail(k, "%s", "out of memory");
		return;
	}
	evtimer_add(k->deadline, &tv);
	if (resolve_is_numeric(k->addr.host)) {
		connect_to(k, k->addr.host);
		return;
	}
	/* A name: looked up off the loop, like the outputs' hosts. */
	struct lookup *l = calloc(1, sizeof(*l));

	if (l == NULL || (k->dns == NULL && (k->dns = resolve_new(k->pl->base,
	    lookup_done, k)) == NULL)) {
		free(l);
		fail(k, "%s", "out of memory");
		return;
	}
	snprintf(l->host, sizeof(l->host), "%s", k->addr.host);
	k->looking = true;
	if (resolve_start(k->dns, lookup_work, lookup_discard, l,
	    k->pl->timeout * 1000) != 0) {
		free(l);
		k->looking = false;
		fail(k, "looking up %s: a lookup is still running",
		    k->addr.host);
	}
}

void
poll_tcp_abort(struct poll_kit *k)
{
	k->looking = false;
	if (k->io) {
		event_free(k->io);
		k->io = NULL;
	}
	if (k->deadline) {
		event_free(k->deadline);
		k->deadline = NULL;
	}
	if (k->fd >= 0) {
		close(k->fd);
		k->fd = -1;
	}
	if (k->pl->stopping && k->dns) {
		resolve_free(k->dns);
		k->dns = NULL;
	}
	if (k->pl->stopping && k->st_open) {
		struct timeval now;

		gettimeofday(&now, NULL);
		stream_end(&k->st, &now);
		k->st_open = false;
	}
}
