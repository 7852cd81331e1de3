/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * poller.h: omnik-poll's kits. Each kit is read every interval, one
 * connection at a time (a kit serves one client at once), on the
 * program's event loop, by one of two methods:
 *
 *   tcp   the 16-byte request to port 8899 (omnik_encode_request); the
 *         answer goes through stream_feed like a pushed one (tcp.c)
 *   http  the kit's status page: /js/status.js, /status.json, then
 *         /status.html with Basic auth; the first that gives a reading is
 *         kept (http.c, proto/status.c), through stream_reading
 *
 * method auto tries tcp first and the status page when tcp gives no
 * reading, and starts with what worked last time. A kit that gives no
 * reading is asleep (at night the kit is off with its inverter): one line
 * when it stops, one when it answers again with the polls missed.
 */
#ifndef POLLER_H
#define POLLER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/time.h>

#include <event2/event.h>

#include "curlev.h"
#include "kitaddr.h"
#include "omnik.h"
#include "outputs.h"
#include "stream.h"

struct curlev;
struct poller;
struct resolve;

enum poll_method { POLL_TCP, POLL_HTTP };

/* How one attempt ended. */
enum poll_result {
	POLL_OK,		/* at least one reading */
	POLL_NO_DATA,		/* it answered, without a reading (night) */
	POLL_FAILED,		/* no answer: refused, timeout, cut off */
};

/* The status pages, in the order auto tries them. */
#define POLL_PAGES 3
/* A status page is a few KiB: past this it is not one. */
#define POLL_BODY_MAX 65536

struct poll_kit {
	struct poller *pl;
	struct kitaddr addr;
	char name[KITADDR_HOST_MAX + 48];	/* "kit N at HOST:PORT" */
	struct event *timer;		/* the next poll */
	bool busy;			/* a poll is running */
	enum poll_method method;	/* the one running, or next */
	bool tried_other;		/* auto: the second method this round */
	enum poll_method worked;	/* auto: what gave the last reading */
	bool has_worked;

	/* tcp */
	int fd;
	struct event *io, *deadline;	/* while an attempt runs */
	struct resolve *dns;		/* a HOST that is a name */
	bool looking;			/* the attempt waits for dns */
	struct stream st;
	bool st_open;
	bool sent;
	uint64_t bytes;
	char why[KITADDR_HOST_MAX + 300];	/* how the attempt failed */
	char why_first[KITADDR_HOST_MAX + 316];	/* auto: the first method's */

	/* http */
	void *easy;			/* CURL * */
	int page;			/* index into the page list */
	int page_worked;		/* -1: none yet */
	int pages_tried;
	int pages_missing;		/* of those, 404 */
	char url[KITADDR_HOST_MAX + 64];
	struct curlev_body body;	/* buf: POLL_BODY_MAX, malloc'd */

	/* asleep or awake */
	bool silent;
	bool ever_answered;
	uint64_t missed;
	struct timeval silent_since;
	uint64_t polls, readings;
	uint64_t bytes_total;		/* every attempt's, for [http] */
};

struct poller {
	struct event_base *base;
	struct outputs *out;
	struct curlev *curl;		/* NULL until the first page */
	int interval, timeout;
	bool auto_method;
	enum poll_method method;	/* when not auto */
	char user[64], password[128];
	struct poll_kit kits[KITADDR_MAX];
	int nkits;
	bool stopping;
};

/* 0, or -1 with err (out of memory, a kit's address). */
int poll_init(struct poller *pl, struct event_base *base,
    struct outputs *out, const struct kitaddr *kits, int nkits, char *err,
    size_t errlen);
/* Poll every kit now and then every interval. */
void poll_start(struct poller *pl);
/* Every kit that is not busy, now (SIGUSR2). */
void poll_now(struct poller *pl);
void poll_log_stats(const struct poller *pl, const char *why);
/* Ends running polls (their readings so far are kept) and frees all. */
void poll_free(struct poller *pl);

/* libcurl and its multi handle on the loop, once: 0, or -1 with err. */
int poll_http_setup(struct poller *pl, char *err, size_t errlen);

/* For tcp.c and http.c: start an attempt; it ends in poll_done. */
void poll_tcp_start(struct poll_kit *k);
void poll_tcp_abort(struct poll_kit *k);
void poll_http_start(struct poll_kit *k);
void poll_http_abort(struct poll_kit *k);
void poll_done(struct poll_kit *k, enum poll_result res);

#endif /* POLLER_H */
