/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * probe.c: the two read-only probes of one kit, blocking with a deadline:
 * a poll on TCP 8899 (through the framer and the decoder, as every way in
 * reads the kit's bytes) and a GET of a status page (libcurl, loaded at
 * run time as the HTTP outputs load it).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "curlev.h"
#include "framer.h"
#include "probe.h"

/*
 * Once the kit has begun to answer, this much silence ends the answer
 * (a kit sends it in one burst; not every kit ends with a text frame).
 */
#define POLL_IDLE_MS 1000

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
left_ms(long long deadline)
{
	long long l = deadline - now_ms();

	return l < 0 ? 0 : (int)l;
}

const char *
probe_poll_strstatus(enum probe_poll_status st)
{
	switch (st) {
	case PROBE_POLL_DATA: return "reading";
	case PROBE_POLL_NODATA: return "no inverter data";
	case PROBE_POLL_REFUSED: return "refused";
	case PROBE_POLL_UNREACHABLE: return "unreachable";
	case PROBE_POLL_SILENT: return "no answer";
	case PROBE_POLL_CLOSED: return "closed";
	case PROBE_POLL_BAD: return "not a valid frame";
	}
	return "?";
}

/* 0 connected, -1 with out->status set. */
static int
poll_connect(int fd, struct in_addr addr, uint16_t port, long long deadline,
    struct probe_poll_result *out)
{
	struct sockaddr_in sin;
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	int err = 0, n;
	socklen_t el = sizeof(err);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr = addr;
	sin.sin_port = htons(port);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0)
		return 0;
	if (errno == EINPROGRESS) {
		do
			n = poll(&pfd, 1, left_ms(deadline));
		while (n < 0 && errno == EINTR);
		if (n == 0) {
			out->status = PROBE_POLL_UNREACHABLE;
			snprintf(out->why, sizeof(out->why),
			    "no connection within the timeout");
			return -1;
		}
		if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
		    &el) != 0)
			err = errno;
		if (err == 0)
			return 0;
	} else
		err = errno;
	out->status = err == ECONNREFUSED ? PROBE_POLL_REFUSED :
	    PROBE_POLL_UNREACHABLE;
	snprintf(out->why, sizeof(out->why), "%s", strerror(err));
	return -1;
}

/* One frame of the answer; true when the answer is complete. */
static bool
poll_frame(const struct framer_frame *fr, struct probe_poll_result *out,
    bool *nodata)
{
	struct omnik_msg msg;
	enum omnik_err e;

	out->frames++;
	msg.reason[0] = '\0';
	e = omnik_decode(fr->data, fr->len, &msg);
	if (e != OMNIK_OK) {
		/* Not a reading: only why, never its values. */
		if (out->why[0] == '\0')
			snprintf(out->why, sizeof(out->why), "%s%s%s",
			    omnik_strerror(e),
			    e == OMNIK_ERR_IMPLAUSIBLE ? ": " : "",
			    e == OMNIK_ERR_IMPLAUSIBLE ? msg.reason : "");
		return false;
	}
	if (msg.kind == OMNIK_MSG_DATA) {
		if (out->readings++ == 0) {
			out->reply_sn = msg.kit_sn;
			memcpy(out->inverter_sn, msg.reading.inverter_sn,
			    sizeof(out->inverter_sn));
			out->has_power = omnik_total_power(&msg.reading,
			    &out->power);
		}
		return false;
	}
	if (msg.kind == OMNIK_MSG_TEXT) {
		if (strcmp(msg.text, "NO INVERTER DATA") == 0) {
			*nodata = true;
			return true;
		}
		return strcmp(msg.text, "DATA SEND IS OK") == 0;
	}
	return false;
}

void
probe_poll(struct in_addr addr, uint16_t port, uint32_t serial,
    int timeout_ms, struct probe_poll_result *out)
{
	long long deadline = now_ms() + timeout_ms;
	uint8_t req[16], buf[512];
	size_t reqlen, total = 0;
	struct framer fr;
	struct framer_frame f;
	enum framer_status st;
	bool done = false, eof = false, nodata = false;
	int fd;

	memset(out, 0, sizeof(*out));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		out->status = PROBE_POLL_UNREACHABLE;
		snprintf(out->why, sizeof(out->why), "socket: %s",
		    strerror(errno));
		return;
	}
	if (poll_connect(fd, addr, port, deadline, out) != 0)
		goto out;
	(void)omnik_encode_request(serial, req, sizeof(req), &reqlen);
	if (send(fd, req, reqlen, MSG_NOSIGNAL) != (ssize_t)reqlen) {
		out->status = PROBE_POLL_CLOSED;
		snprintf(out->why, sizeof(out->why), "send: %s",
		    strerror(errno));
		goto out;
	}
	framer_init(&fr);
	while (!done && !eof && total < PROBE_POLL_MAX) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int wait = left_ms(deadline), n;
		ssize_t got;

		if (total > 0 && wait > POLL_IDLE_MS)
			wait = POLL_IDLE_MS;
		n = poll(&pfd, 1, wait);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got = recv(fd, buf, sizeof(buf), 0);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0) {
			eof = true;
			framer_finish(&fr);
		} else {
			if ((size_t)got > PROBE_POLL_MAX - total)
				got = (ssize_t)(PROBE_POLL_MAX - total);
			total += (size_t)got;
			framer_input(&fr, buf, (size_t)got);
		}
		while ((st = framer_next(&fr, &f)) != FRAMER_NEED_MORE)
			if (st == FRAMER_FRAME && poll_frame(&f, out, &nodata))
				done = true;
		/* The filler after an answer: nothing more will come. */
		if (out->readings > 0 && fr.st.filler > 0)
			done = true;
	}
	if (out->readings > 0)
		out->status = PROBE_POLL_DATA;
	else if (nodata)
		out->status = PROBE_POLL_NODATA;
	else if (total > 0) {
		out->status = PROBE_POLL_BAD;
		if (out->why[0] == '\0')
			snprintf(out->why, sizeof(out->why),
			    "%zu bytes, no valid frame", total);
	} else
		out->status = eof ? PROBE_POLL_CLOSED : PROBE_POLL_SILENT;
out:
	close(fd);
}

void
probe_http(struct in_addr addr, uint16_t port, enum probe_page page,
    int timeout_ms, struct probe_http_result *out)
{
	char url[128], ip[INET_ADDRSTRLEN];
	struct curlev_body b = { .size = PROBE_BODY_MAX };
	char why[160];
	CURL *e;
	CURLcode rc;

	memset(out, 0, sizeof(*out));
	/* libcurl, loaded (once) the first time a page is probed. */
	if (curlev_load("omnik-poll --discover", why, sizeof(why)) != 0) {
		out->status = PROBE_HTTP_NOCURL;
		snprintf(out->why, sizeof(out->why), "%s", why);
		return;
	}
	inet_ntop(AF_INET, &addr, ip, sizeof(ip));
	snprintf(url, sizeof(url), "http://%s:%u%s", ip, (unsigned)port,
	    probe_page_path[page]);
	b.buf = malloc(PROBE_BODY_MAX);
	e = curl_easy_init();
	if (b.buf == NULL || e == NULL) {
		out->status = PROBE_HTTP_NOSERVER;
		snprintf(out->why, sizeof(out->why), "out of memory");
		goto out;
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	/* Straight to the kit: never through a proxy from the environment. */
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "omnik-poll-discover");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, curlev_body_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	rc = curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &out->code);
	if (out->code == 0) {
		out->status = PROBE_HTTP_NOSERVER;
		snprintf(out->why, sizeof(out->why), "%s",
		    curl_easy_strerror(rc));
	} else if (out->code == 401)
		out->status = PROBE_HTTP_AUTH;
	else if (out->code != 200)
		out->status = PROBE_HTTP_ABSENT;
	else if (rc != CURLE_OK || b.cut) {
		out->status = PROBE_HTTP_UNKNOWN;
		snprintf(out->why, sizeof(out->why), "%s", b.cut ?
		    "page larger than 64 KiB" : curl_easy_strerror(rc));
	} else {
		probe_page_parse(page, b.buf, b.len, &out->info);
		out->status = out->info.understood ? PROBE_HTTP_OK :
		    PROBE_HTTP_UNKNOWN;
	}
out:
	if (e != NULL)
		curl_easy_cleanup(e);
	free(b.buf);
}
