/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * poll.c: the kits' schedule, the choice of method, and what a kit that
 * stops answering is told apart from (poller.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "curlev.h"
#include "log.h"
#include "poller.h"

static const char *
method_name(enum poll_method m)
{
	return m == POLL_TCP ? "tcp" : "http";
}

static void
attempt(struct poll_kit *k)
{
	if (k->method == POLL_TCP)
		poll_tcp_start(k);
	else
		poll_http_start(k);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct poll_kit *k = arg;
	struct timeval tv = { k->pl->interval, 0 };

	(void)fd;
	(void)what;
	evtimer_add(k->timer, &tv);
	if (k->busy) {
		/* One connection at a time: a kit cannot serve two. */
		log_debug("%s: the last poll is still running: skipped",
		    k->name);
		return;
	}
	k->busy = true;
	k->polls++;
	k->tried_other = false;
	if (k->pl->auto_method)
		k->method = k->has_worked ? k->worked : POLL_TCP;
	else
		k->method = k->pl->method;
	attempt(k);
}

/* "1 h 20 min", "45 s": how long a kit was silent. */
static void
span_text(const struct timeval *since, char *buf, size_t n)
{
	struct timeval now;
	long s;

	gettimeofday(&now, NULL);
	s = (long)(now.tv_sec - since->tv_sec);
	if (s < 0)
		s = 0;
	if (s >= 3600)
		snprintf(buf, n, "%ld h %ld min", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(buf, n, "%ld min", s / 60);
	else
		snprintf(buf, n, "%ld s", s);
}

void
poll_done(struct poll_kit *k, enum poll_result res)
{
	char span[32];

	if (k->pl->stopping) {
		k->busy = false;
		return;
	}
	/* auto: the other method, once a round, when this one gave none. */
	if (res != POLL_OK && k->pl->auto_method && !k->tried_other) {
		log_debug("%s: %s: %s; trying %s", k->name,
		    method_name(k->method), k->why,
		    method_name(k->method == POLL_TCP ? POLL_HTTP : POLL_TCP));
		k->tried_other = true;
		snprintf(k->why_first, sizeof(k->why_first), "%s: %s",
		    method_name(k->method), k->why);
		k->method = k->method == POLL_TCP ? POLL_HTTP : POLL_TCP;
		attempt(k);
		return;
	}
	k->busy = false;
	if (res == POLL_OK) {
		if (k->pl->auto_method && (!k->has_worked ||
		    k->worked != k->method))
			log_info("%s: read by %s%s", k->name,
			    method_name(k->method), k->method == POLL_HTTP ?
			    " (the status page)" : " (port 8899)");
		k->worked = k->method;
		k->has_worked = true;
		if (k->silent) {
			span_text(&k->silent_since, span, sizeof(span));
			log_info("%s answers again after %llu missed poll%s "
			    "(%s)", k->name, (unsigned long long)k->missed,
			    k->missed == 1 ? "" : "s", span);
		}
		k->silent = false;
		k->missed = 0;
		k->ever_answered = true;
		return;
	}
	/*
	 * At night the kit is off with its inverter (or on, with nothing
	 * to say): not an error, and not a line every interval.
	 */
	/* auto: what both methods said. */
	if (k->tried_other) {
		char both[2 * sizeof(k->why) + 16];
		size_t n;

		n = (size_t)snprintf(both, sizeof(both), "%s; %s: %s",
		    k->why_first, method_name(k->method), k->why);
		if (n >= sizeof(k->why))
			n = sizeof(k->why) - 1;
		memcpy(k->why, both, n);
		k->why[n] = '\0';
	}
	if (!k->silent) {
		k->silent = true;
		gettimeofday(&k->silent_since, NULL);
		log_info("%s: %s: %s; asleep, or off (polled on, one line "
		    "when it answers again)", k->name,
		    res == POLL_NO_DATA ? "no reading" : "no answer", k->why);
	} else {
		log_debug("%s: still no reading: %s", k->name, k->why);
	}
	k->missed++;
}

int
poll_init(struct poller *pl, struct event_base *base, struct outputs *out,
    const struct kitaddr *kits, int nkits, char *err, size_t errlen)
{
	pl->base = base;
	pl->out = out;
	pl->nkits = 0;
	for (int i = 0; i < nkits && i < KITADDR_MAX; i++) {
		struct poll_kit *k = &pl->kits[i];

		memset(k, 0, sizeof(*k));
		k->pl = pl;
		k->addr = kits[i];
		k->fd = -1;
		k->page_worked = -1;
		snprintf(k->name, sizeof(k->name), strchr(k->addr.host, ':') ?
		    "kit %lu at [%s]:%u" : "kit %lu at %s:%u",
		    (unsigned long)k->addr.serial, k->addr.host,
		    (unsigned)k->addr.port);
		k->timer = evtimer_new(base, on_timer, k);
		if (k->timer == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		pl->nkits++;
	}
	return 0;
}

void
poll_start(struct poller *pl)
{
	for (int i = 0; i < pl->nkits; i++) {
		/* Spread the kits over the first seconds, not all at once. */
		struct timeval tv = { i, 0 };

		evtimer_add(pl->kits[i].timer, &tv);
	}
}

void
poll_now(struct poller *pl)
{
	for (int i = 0; i < pl->nkits; i++)
		if (!pl->kits[i].busy)
			event_active(pl->kits[i].timer, EV_TIMEOUT, 0);
}

void
poll_log_stats(const struct poller *pl, const char *why)
{
	for (int i = 0; i < pl->nkits; i++) {
		const struct poll_kit *k = &pl->kits[i];

		log_info("stats (%s): %s: %llu polls, %llu readings, %s%s%s",
		    why, k->name, (unsigned long long)k->polls,
		    (unsigned long long)k->readings,
		    k->silent ? "asleep" : k->ever_answered ? "answering" :
		    "not read yet", k->has_worked ? ", by " : "",
		    k->has_worked ? method_name(k->worked) : "");
	}
}

void
poll_free(struct poller *pl)
{
	pl->stopping = true;
	for (int i = 0; i < pl->nkits; i++) {
		struct poll_kit *k = &pl->kits[i];

		poll_tcp_abort(k);
		poll_http_abort(k);
		if (k->timer)
			event_free(k->timer);
		k->timer = NULL;
	}
	if (pl->curl)
		curlev_free(pl->curl);
	pl->curl = NULL;
}
