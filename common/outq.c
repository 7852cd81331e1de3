/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * outq.c: whole lines to a stream, written by a thread of their own (see
 * outq.h).
 *
 *   loop thread                 queue (ring, max bytes)     writer thread
 *   outq_put: fits? copy in --> [ head .. head+len ) ------> write(fd)
 *             else drop, count     the loop fills only the   (blocking;
 *                                  free part, the thread     the only
 *                                  reads only the queued     cancellation
 *                                  part: disjoint            point)
 *
 * The lock covers head, len and the flags, never a write(), so a reader
 * that stops holds up the writer thread alone.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "outq.h"

/* How long the writer gathers lines once woken (see writer_main). */
#define OUTQ_GATHER_MS 25

struct outq {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t work;		/* to the writer: lines, or stop */
	pthread_cond_t drained;		/* to outq_free: written or failed */
	char *buf;
	size_t max, head, len;		/* queued: buf[head ..] wrapping */
	uint64_t dropped;		/* lines, since outq_take_dropped */
	int fd;
	int error;			/* errno of the failed write */
	bool started, stop, waiting, done;
	bool dropping;			/* until the queue is half empty */
	bool orphan;			/* outq_free left: the thread frees */
	bool gathering;			/* woken, waiting for more lines */
	int64_t last_write_ns;		/* CLOCK_MONOTONIC, the writer's */
};

struct outq *
outq_new(int fd, size_t max)
{
	struct outq *q = calloc(1, sizeof(*q));
	pthread_condattr_t ca;

	if (q == NULL || max == 0 || (q->buf = malloc(max)) == NULL) {
		free(q);
		return NULL;
	}
	q->fd = fd;
	q->max = max;
	pthread_mutex_init(&q->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->work, &ca);
	pthread_cond_init(&q->drained, &ca);
	pthread_condattr_destroy(&ca);
	return q;
}

static void
release(struct outq *q)
{
	pthread_cond_destroy(&q->work);
	pthread_cond_destroy(&q->drained);
	pthread_mutex_destroy(&q->mu);
	free(q->buf);
	free(q);
}

/*
 * With the lock held: the next write, whole lines from head (across the
 * ring's end if one straddles it) and at most PIPE_BUF bytes, which a
 * pipe takes whole, so lines stay whole even when another writer shares
 * the pipe (2>&1, our own log). Returns the iovec count.
 */
static int
take(struct outq *q, struct iovec v[2])
{
	const char *a = q->buf + q->head, *nl;
	size_t first = q->max - q->head < q->len ? q->max - q->head : q->len;
	size_t rest = q->len - first, s;

	v[0].iov_base = (void *)(uintptr_t)a;
	if (first > PIPE_BUF) {
		nl = memrchr(a, '\n', PIPE_BUF);
		v[0].iov_len = nl != NULL ? (size_t)(nl - a) + 1 : PIPE_BUF;
		return 1;
	}
	v[0].iov_len = first;
	if (rest == 0 || a[first - 1] == '\n')
		return 1;
	/* The line at the end goes on at the start: both in one write. */
	s = rest < PIPE_BUF - first ? rest : PIPE_BUF - first;
	if ((nl = memrchr(q->buf, '\n', s)) != NULL) {
		v[1].iov_base = q->buf;
		v[1].iov_len = (size_t)(nl - q->buf) + 1;
		return 2;
	}
	/* Longer than PIPE_BUF together (no line is): up to the last
	 * newline before the end, or the end. */
	if ((nl = memrchr(a, '\n', first)) != NULL)
		v[0].iov_len = (size_t)(nl - a) + 1;
	return 1;
}

static int64_t
ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec;
}

static void *
writer_main(void *arg)
{
	struct outq *q = arg;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		struct iovec v[2];
		ssize_t w;
		int n;

		if (q->len == 0 && !q->stop) {
			struct timespec until;

			while (q->len == 0 && !q->stop) {
				q->waiting = true;
				pthread_cond_wait(&q->work, &q->mu);
				q->waiting = false;
			}
			/*
			 * Woken again within OUTQ_GATHER_MS of the last
			 * write (a busy loop): gather what else comes for
			 * that long, so that it wakes us (a futex call each)
			 * at most that often, not once a turn. A line after
			 * a quiet spell goes at once, without the timer's
			 * wake-up. Stop cuts the wait short, and so does a
			 * queue a quarter full: a reader that keeps up never
			 * loses a line to it.
			 */
			clock_gettime(CLOCK_MONOTONIC, &until);
			if (ts_ns(&until) - q->last_write_ns >=
			    OUTQ_GATHER_MS * 1000000LL)
				goto write;
			until.tv_nsec += OUTQ_GATHER_MS * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			q->gathering = true;
			while (!q->stop && q->len < q->max / 4 &&
			    pthread_cond_timedwait(&q->work, &q->mu,
			    &until) != ETIMEDOUT)
				;
			q->gathering = false;
		}
write:
		if (q->len == 0)
			break;		/* stopped, all written */
		n = take(q, v);
		pthread_mutex_unlock(&q->mu);
		for (;;) {
			struct pollfd pfd = { .fd = q->fd, .events = POLLOUT };

			w = writev(q->fd, v, n);
			if (w >= 0 || (errno != EINTR && errno != EAGAIN &&
			    errno != EWOULDBLOCK))
				break;
			/* Made non-blocking by whoever shares it: wait. */
			if (errno != EINTR)
				(void)poll(&pfd, 1, -1);
		}
		pthread_mutex_lock(&q->mu);
		if (w <= 0) {
			q->error = w < 0 ? errno : EIO;
			q->len = 0;
			break;
		}
		q->head = (q->head + (size_t)w) % q->max;
		q->len -= (size_t)w;
		{
			struct timespec now;

			clock_gettime(CLOCK_MONOTONIC, &now);
			q->last_write_ns = ts_ns(&now);
		}
		if (q->len == 0)
			pthread_cond_broadcast(&q->drained);
	}
	q->done = true;
	pthread_cond_broadcast(&q->drained);
	if (q->orphan) {
		/* outq_free gave up on us: the last one out frees. */
		pthread_mutex_unlock(&q->mu);
		release(q);
		return NULL;
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

/* With the lock held. */
static int
start(struct outq *q)
{
	sigset_t all, old;
	int e;

	/* Every signal stays the loop's. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&q->thread, NULL, writer_main, q);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		q->error = e;
		return -1;
	}
	q->started = true;
	return 0;
}

static uint64_t
lines_in(const char *p, size_t n)
{
	uint64_t k = 0;
	const char *e = p + n;

	while (p < e && (p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
		k++;
		p++;
	}
	return k;
}

int
outq_put(struct outq *q, const char *p, size_t n)
{
	size_t at, first;

	if (n == 0)
		return 0;
	pthread_mutex_lock(&q->mu);
	/*
	 * Once full, nothing goes in until the reader has taken half: a
	 * stalled reader costs a run of lines, not every other one.
	 */
	if (q->dropping && q->len <= q->max / 2)
		q->dropping = false;
	if (!q->dropping && n > q->max - q->len)
		q->dropping = true;
	if (q->error != 0 || q->stop || q->dropping ||
	    (!q->started && start(q) != 0)) {
		if (q->error == 0)
			q->dropped += lines_in(p, n);
		pthread_mutex_unlock(&q->mu);
		return -1;
	}
	/* The free part is the loop's: copy outside the lock. */
	at = (q->head + q->len) % q->max;
	pthread_mutex_unlock(&q->mu);
	first = q->max - at < n ? q->max - at : n;
	memcpy(q->buf + at, p, first);
	memcpy(q->buf, p + first, n - first);
	pthread_mutex_lock(&q->mu);
	q->len += n;
	if (q->waiting || (q->gathering && q->len >= q->max / 4))
		pthread_cond_signal(&q->work);
	pthread_mutex_unlock(&q->mu);
	return 0;
}

int
outq_put_sink(struct outq *q, const char *p, size_t n, uint64_t *dropped,
    char *err, size_t errlen)
{
	uint64_t d;
	int e;

	if (outq_put(q, p, n) == 0)
		return *dropped > 0 ? 1 : 0;
	if ((e = outq_error(q)) != 0) {
		snprintf(err, errlen, "standard output: %s", strerror(e));
		return -1;
	}
	d = outq_take_dropped(q);
	*dropped += d;
	snprintf(err, errlen, "standard output: %llu line%s dropped, its "
	    "reader is not keeping up (%llu since it last read)",
	    (unsigned long long)d, d == 1 ? "" : "s",
	    (unsigned long long)*dropped);
	return -1;
}

uint64_t
outq_take_dropped(struct outq *q)
{
	uint64_t d;

	pthread_mutex_lock(&q->mu);
	d = q->dropped;
	q->dropped = 0;
	pthread_mutex_unlock(&q->mu);
	return d;
}

int
outq_error(struct outq *q)
{
	int e;

	pthread_mutex_lock(&q->mu);
	e = q->error;
	pthread_mutex_unlock(&q->mu);
	return e;
}

size_t
outq_pending(struct outq *q)
{
	size_t n;

	pthread_mutex_lock(&q->mu);
	n = q->len;
	pthread_mutex_unlock(&q->mu);
	return n;
}

void
outq_free(struct outq *q, int ms)
{
	struct timespec until;
	bool done;

	if (q == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&q->mu);
	q->stop = true;
	pthread_cond_signal(&q->work);
	while (q->started && !q->done && pthread_cond_timedwait(&q->drained,
	    &q->mu, &until) != ETIMEDOUT)
		;
	done = q->done;
	if (q->started && !done) {
		/*
		 * Blocked in write() on a reader that is not coming back
		 * (the program is ending): the thread is left to it, and
		 * frees q if the write ever returns.
		 */
		q->orphan = true;
		pthread_detach(q->thread);
		pthread_mutex_unlock(&q->mu);
		return;
	}
	pthread_mutex_unlock(&q->mu);
	if (q->started)
		pthread_join(q->thread, NULL);
	release(q);
}
