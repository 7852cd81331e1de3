/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * resolve.c: blocking calls off the event loop (see resolve.h).
 *
 * One call is a struct call shared by two owners, the loop and the
 * thread, each holding a reference; the last one to let go frees it.
 * Who discards the job is settled under the call's lock: the thread, if
 * the loop gave up before work() returned; the loop otherwise.
 */
#include <errno.h>
#include <event2/event.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "resolve.h"

struct call {
	pthread_mutex_t lock;
	int refs;		/* loop + thread */
	bool finished;		/* work() returned */
	bool abandoned;		/* the loop wants no result: thread discards */
	int fd;			/* eventfd, written when finished */
	void (*work)(void *job);
	void (*discard)(void *job);
	void *job;
};

struct resolve {
	struct event_base *base;
	void (*done)(void *arg, void *job, int err);
	void *arg;
	struct call *cur;	/* in flight, or timed out and still running */
	struct event *ev;	/* only while in flight */
};

static void
call_unref(struct call *c)
{
	int left;

	pthread_mutex_lock(&c->lock);
	left = --c->refs;
	pthread_mutex_unlock(&c->lock);
	if (left > 0)
		return;
	close(c->fd);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static void *
call_main(void *arg)
{
	struct call *c = arg;
	uint64_t one = 1;
	bool abandoned;

	c->work(c->job);
	pthread_mutex_lock(&c->lock);
	c->finished = true;
	abandoned = c->abandoned;
	pthread_mutex_unlock(&c->lock);
	if (abandoned)
		c->discard(c->job);
	else if (write(c->fd, &one, sizeof(one)) < 0) {
		/* One write per call cannot fill an eventfd counter. */
	}
	call_unref(c);
	return NULL;
}

/* The loop lets go of the call in flight; the job goes to discard. */
static void
call_abandon(struct resolve *r)
{
	struct call *c = r->cur;
	bool thread_discards;

	if (r->ev) {
		event_free(r->ev);
		r->ev = NULL;
	}
	pthread_mutex_lock(&c->lock);
	thread_discards = !c->finished;
	c->abandoned = true;
	pthread_mutex_unlock(&c->lock);
	if (!thread_discards && c->job) {
		c->discard(c->job);
		c->job = NULL;
	}
}

static bool
call_finished(struct call *c)
{
	bool f;

	pthread_mutex_lock(&c->lock);
	f = c->finished;
	pthread_mutex_unlock(&c->lock);
	return f;
}

static void
on_event(evutil_socket_t fd, short what, void *arg)
{
	struct resolve *r = arg;
	struct call *c = r->cur;
	uint64_t v;
	void *job;

	(void)fd;
	event_free(r->ev);
	r->ev = NULL;
	if ((what & EV_TIMEOUT) && !call_finished(c)) {
		/* The slot stays taken until the thread ends (see .h). */
		call_abandon(r);
		r->done(r->arg, NULL, ETIMEDOUT);
		return;
	}
	if (read(c->fd, &v, sizeof(v)) < 0) {
		/* The count says nothing more than the event did. */
	}
	job = c->job;
	c->job = NULL;
	r->cur = NULL;
	call_unref(c);
	r->done(r->arg, job, 0);	/* last: done may start a new call */
}

struct resolve *
resolve_new(struct event_base *base, void (*done)(void *, void *, int),
    void *arg)
{
	struct resolve *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->base = base;
	r->done = done;
	r->arg = arg;
	return r;
}

void
resolve_free(struct resolve *r)
{
	if (r == NULL)
		return;
	if (r->cur) {
		if (r->ev)
			call_abandon(r);
		call_unref(r->cur);
	}
	free(r);
}

bool
resolve_pending(const struct resolve *r)
{
	return r->ev != NULL;
}

int
resolve_start(struct resolve *r, void (*work)(void *),
    void (*discard)(void *), void *job, int timeout_ms)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t t;
	struct call *c;
	int rc;

	if (r->cur) {
		if (r->ev || !call_finished(r->cur)) {
			errno = EBUSY;
			return -1;
		}
		call_unref(r->cur);	/* a timed-out call, now ended */
		r->cur = NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -1;
	c->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->fd < 0) {
		free(c);
		return -1;
	}
	pthread_mutex_init(&c->lock, NULL);
	c->refs = 2;
	c->work = work;
	c->discard = discard;
	c->job = job;
	r->ev = event_new(r->base, c->fd, EV_READ, on_event, r);
	if (r->ev == NULL || event_add(r->ev, &tv) != 0)
		goto fail;
	/*
	 * Signals stay with the loop's thread (the thread inherits this
	 * mask); the thread is detached: nobody joins it, the call's
	 * references say when its memory can go.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_attr_init(&attr);
	if (rc == 0) {
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		rc = pthread_create(&t, &attr, call_main, c);
		pthread_attr_destroy(&attr);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		errno = rc;
		goto fail;
	}
	r->cur = c;
	return 0;
fail:
	rc = errno;
	if (r->ev) {
		event_free(r->ev);
		r->ev = NULL;
	}
	close(c->fd);
	pthread_mutex_destroy(&c->lock);
	free(c);
	errno = rc;
	return -1;
}

bool
resolve_is_numeric(const char *host)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST };
	struct addrinfo *ai = NULL;

	if (getaddrinfo(host, NULL, &hints, &ai) != 0)
		return false;
	freeaddrinfo(ai);
	return true;
}

/* Is `a` one of the entries of the comma-separated list? */
static bool
list_has(const char *list, const char *a)
{
	size_t alen = strlen(a);

	for (const char *e = list; *e; ) {
		size_t elen = strcspn(e, ",");

		if (elen == alen && memcmp(e, a, alen) == 0)
			return true;
		e += elen;
		if (*e == ',')
			e++;
	}
	return false;
}

int
resolve_addresses(const char *host, int max, char *buf, size_t n)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
	    .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	char a[NI_MAXHOST];
	size_t len = 0;
	int rc, count = 0;

	if (n == 0)
		return EAI_OVERFLOW;
	buf[0] = '\0';
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0)
		return rc;
	for (struct addrinfo *ai = res; ai && count < max; ai = ai->ai_next) {
		size_t alen;

		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, a, sizeof(a),
		    NULL, 0, NI_NUMERICHOST) != 0 || list_has(buf, a))
			continue;	/* /etc/hosts may list one twice */
		alen = strlen(a);
		if (len + (len > 0) + alen + 1 > n)
			break;		/* whole entries only */
		if (len > 0)
			buf[len++] = ',';
		memcpy(buf + len, a, alen + 1);
		len += alen;
		count++;
	}
	freeaddrinfo(res);
	return count > 0 ? 0 : EAI_OVERFLOW;
}
