/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * curlev.c: curl multi on libevent. curl tells us which sockets to watch
 * (CURLMOPT_SOCKETFUNCTION) and when to call it back
 * (CURLMOPT_TIMERFUNCTION); each finished transfer goes to the owner's
 * done callback.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CURLEV_NO_NAMES
#include "curlev.h"

struct curlev_api curlev_curl;
#define CURL_ENTRY(sym) DYNLIB_ENTRY(struct curlev_api, sym)
static const struct dynlib_sym curl_syms[] = { CURLEV_SYMBOLS(CURL_ENTRY) };
#undef CURLEV_NO_NAMES
#include "curlev.h"	/* now the names */
static struct dynlib curl_lib = DYNLIB("HTTP output",
    OMNIK_LIBCURL_SONAME, OMNIK_LIBCURL_PACKAGE, curl_syms, &curlev_curl);
static bool curl_ready;

struct curlev {
	CURLM *multi;
	struct event_base *base;
	struct event *timer;
	void (*done)(void *arg, CURL *easy, CURLcode result);
	void *arg;
};

struct sockinfo {
	struct event *ev;
};

int
curlev_load(const char *who, char *err, size_t errlen)
{
	if (curl_ready)
		return 0;
	curl_lib.what = who;
	if (dynlib_load(&curl_lib, err, errlen) != 0)
		return -1;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "%s: cannot initialise libcurl", who);
		return -1;
	}
	curl_ready = true;
	return 0;
}

/* Every transfer that ended, to its owner. */
static void
check_done(struct curlev *m)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		m->done(m->arg, msg->easy_handle, msg->data.result);
	}
}

static void
on_sock_event(evutil_socket_t fd, short what, void *arg)
{
	struct curlev *m = arg;
	int running, action = 0;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(m->multi, fd, action, &running);
	check_done(m);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct curlev *m = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(m);
}

static int
sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *sockp)
{
	struct curlev *m = userp;
	struct sockinfo *si = sockp;
	short kind = EV_PERSIST;

	(void)e;
	if (what == CURL_POLL_REMOVE) {
		if (si) {
			event_free(si->ev);
			free(si);
			curl_multi_assign(m->multi, s, NULL);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (si == NULL) {
		si = calloc(1, sizeof(*si));
		if (si == NULL)
			return -1;
		curl_multi_assign(m->multi, s, si);
	} else {
		event_free(si->ev);
	}
	si->ev = event_new(m->base, s, kind, on_sock_event, m);
	if (si->ev == NULL)
		return -1;
	event_add(si->ev, NULL);
	return 0;
}

static int
timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct curlev *m = userp;
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };

	(void)multi;
	if (timeout_ms < 0)
		evtimer_del(m->timer);
	else
		evtimer_add(m->timer, &tv);
	return 0;
}

struct curlev *
curlev_new(struct event_base *base,
    void (*done)(void *arg, CURL *easy, CURLcode result), void *arg)
{
	struct curlev *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->base = base;
	m->done = done;
	m->arg = arg;
	m->multi = curl_multi_init();
	m->timer = evtimer_new(base, on_timer, m);
	if (m->multi == NULL || m->timer == NULL) {
		curlev_free(m);
		return NULL;
	}
	curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
	curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
	return m;
}

int
curlev_add(struct curlev *m, CURL *easy)
{
	return curl_multi_add_handle(m->multi, easy) == CURLM_OK ? 0 : -1;
}

void
curlev_remove(struct curlev *m, CURL *easy)
{
	curl_multi_remove_handle(m->multi, easy);
}

void
curlev_free(struct curlev *m)
{
	if (m == NULL)
		return;
	if (m->multi)
		curl_multi_cleanup(m->multi);
	if (m->timer)
		event_free(m->timer);
	free(m);
}

size_t
curlev_body_write(char *data, size_t size, size_t nmemb, void *body)
{
	struct curlev_body *b = body;
	size_t n = size * nmemb, room = b->size - b->len;

	if (b->keep_prefix)
		room = room > 0 ? room - 1 : 0;	/* the NUL */
	if (n > room) {
		b->cut = true;
		if (!b->keep_prefix)
			return 0;	/* ends the transfer */
	}
	memcpy(b->buf + b->len, data, n < room ? n : room);
	b->len += n < room ? n : room;
	if (b->keep_prefix)
		b->buf[b->len] = '\0';
	return n;
}

void
curlev_body_reset(struct curlev_body *b)
{
	b->len = 0;
	b->cut = false;
	if (b->keep_prefix && b->size > 0)
		b->buf[0] = '\0';
}
