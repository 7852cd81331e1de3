/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * io.c: a connection's buffered non-blocking I/O (see io.h).
 *
 *   socket ── one event (EV_READ|EV_WRITE|EV_CLOSED, edge-triggered) ──┐
 *     edge: readable / writable / FIN seen, remembered in flags         │
 *   io_handle: connect done? ─> write the output ─> read (max_read) ────┘
 *   relay_io_queue: output kept ─> event_active: written this turn
 *
 * A read goes into one buffer shared by every connection (the loop runs
 * one callback at a time, and the callback hands on or copies all of
 * it), so a connection costs no input buffer, and an output buffer only
 * once something waits in it: the bytes of a push are sent on straight
 * from the read as a rule.
 *
 * Edge-triggered, so what the flags remember is all that is known: a
 * direction turned off keeps its flag, and turning it on again activates
 * the event rather than waiting for an edge that may not come.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event_struct.h>

#include "io.h"

struct relay_io {
	struct event_base *base;
	int fd;
	/*
	 * The socket's event (added once) and the timers live in the
	 * struct: not three allocations of their own per connection.
	 */
	struct event ev, rd_timer[1], wr_timer[1];
	struct evbuffer *out;	/* made when first needed */
	void (*read_cb)(struct relay_io *, const uint8_t *, size_t, void *);
	void (*written_cb)(struct relay_io *, void *);
	void (*event_cb)(struct relay_io *, short, void *);
	void *arg;
	struct timeval rd_tv, wr_tv;
	size_t max_read;
	int running;		/* callbacks of ours on the stack */
	bool rd_on, wr_on;	/* directions turned on */
	bool rd_to, wr_to;	/* timeouts set */
	bool connecting;
	bool readable;		/* an edge came and reads did not drain it */
	bool rdhup;		/* the peer's FIN is known to be queued */
	bool eof;		/* read to the end, or failed: no more reads */
	bool failed;		/* an error was reported: no more I/O */
	bool freed;		/* relay_io_free ran inside a callback */
	bool watching;		/* ev is set up and added */
};

static void io_handle(evutil_socket_t, short, void *);

static void
io_release(struct relay_io *io)
{
	evtimer_del(io->rd_timer);
	evtimer_del(io->wr_timer);
	if (io->out != NULL)
		evbuffer_free(io->out);
	free(io);
}

/* Start (or restart) the write timeout while there is work for it. */
static void
io_arm_write(struct relay_io *io)
{
	if (io->wr_to && (io->connecting ||
	    (io->wr_on && relay_io_pending(io) > 0)))
		evtimer_add(io->wr_timer, &io->wr_tv);
	else
		evtimer_del(io->wr_timer);
}

static void
io_arm_read(struct relay_io *io)
{
	if (io->rd_to && io->rd_on && !io->eof)
		evtimer_add(io->rd_timer, &io->rd_tv);
	else
		evtimer_del(io->rd_timer);
}

static bool
io_can_write(const struct relay_io *io)
{
	return io->watching && io->wr_on && !io->connecting && !io->failed;
}

size_t
relay_io_pending(const struct relay_io *io)
{
	return io->out != NULL ? evbuffer_get_length(io->out) : 0;
}

/* Output kept: written in this loop turn, from the loop. */
int
relay_io_queue(struct relay_io *io, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if ((io->out == NULL && (io->out = evbuffer_new()) == NULL) ||
	    evbuffer_add(io->out, p, n) != 0) {
		errno = ENOMEM;
		return -1;
	}
	if (io->wr_to && !evtimer_pending(io->wr_timer, NULL))
		io_arm_write(io);
	if (io_can_write(io))
		event_active(&io->ev, EV_WRITE, 1);
	return 0;
}

/* Report an event; false if the callback freed us. */
static bool
io_report(struct relay_io *io, short what, int err)
{
	if (io->event_cb != NULL) {
		errno = err;
		io->event_cb(io, what, io->arg);
	}
	return !io->freed;
}

static bool
io_fail(struct relay_io *io, short what, int err)
{
	io->failed = io->eof = true;
	evtimer_del(io->rd_timer);
	evtimer_del(io->wr_timer);
	return io_report(io, RELAY_IO_ERROR | what, err);
}

/*
 * send(2) and sendmsg(2) rather than writev(2): a socket's own calls skip
 * the file layer's position lock, and MSG_NOSIGNAL makes a reset peer an
 * EPIPE here, never a signal.
 */
ssize_t
relay_io_send(int fd, const struct iovec *iov, int n)
{
	struct msghdr m = { .msg_iov = (struct iovec *)(uintptr_t)iov,
	    .msg_iovlen = (size_t)n };
	ssize_t w;

	do
		w = n == 1 ? send(fd, iov[0].iov_base, iov[0].iov_len,
		    MSG_NOSIGNAL | MSG_DONTWAIT) :
		    sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (w < 0 && errno == EINTR);
	return w;
}

/* Up to RELAY_IO_IOV of buf's chains, at most max bytes: how many. */
static int
io_peek(struct evbuffer *buf, size_t max, struct iovec *iov)
{
	struct evbuffer_iovec v[RELAY_IO_IOV];
	int nv = evbuffer_peek(buf, (ev_ssize_t)max, NULL, v, RELAY_IO_IOV),
	    k = 0;

	if (nv > RELAY_IO_IOV)
		nv = RELAY_IO_IOV;
	/* The chains peek gives cover at least max: the last is cut. */
	for (size_t left = max; k < nv && left > 0; k++) {
		iov[k].iov_base = v[k].iov_base;
		iov[k].iov_len = v[k].iov_len < left ? v[k].iov_len : left;
		left -= iov[k].iov_len;
	}
	return k;
}

/* Write what is queued; false if a callback freed us. */
static bool
io_write(struct relay_io *io)
{
	struct iovec iov[RELAY_IO_IOV];
	size_t left, all;
	ssize_t n = 0;
	int k;

	/* Chain after chain, until the socket takes less than offered. */
	do {
		left = evbuffer_get_length(io->out);
		if ((k = io_peek(io->out, left, iov)) == 0)
			break;
		all = 0;
		for (int i = 0; i < k; i++)
			all += iov[i].iov_len;
		if ((n = relay_io_send(io->fd, iov, k)) > 0)
			evbuffer_drain(io->out, (size_t)n);
	} while (n == (ssize_t)all && all < left);
	if (k > 0 && n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return true;	/* the next edge says when */
		return io_fail(io, RELAY_IO_WRITING, errno);
	}
	io_arm_write(io);
	if (relay_io_pending(io) == 0 && io->written_cb != NULL) {
		io->written_cb(io, io->arg);
		return !io->freed;
	}
	return true;
}

/*
 * Where every read lands: the callback has it to itself until it returns
 * (one loop, one thread; it never runs inside another of ours).
 */
static uint8_t io_scratch[RELAY_IO_READ_MAX];

/* One read of at most max_read; false if a callback freed us. */
static bool
io_read(struct relay_io *io)
{
	size_t want = io->max_read;
	ssize_t n;

	n = recv(io->fd, io_scratch, want, 0);
	if (n < 0) {
		if (errno == EINTR) {
			event_active(&io->ev, EV_READ, 1);
			return true;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			io->readable = false;
			return true;
		}
		return io_fail(io, RELAY_IO_READING, errno);
	}
	if (n == 0) {
		io->eof = true;
		io->readable = io->rdhup = false;
		evtimer_del(io->rd_timer);
		return io_report(io, RELAY_IO_EOF | RELAY_IO_READING, 0);
	}
	if ((size_t)n < want)
		io->readable = false;	/* drained, up to its FIN if rdhup */
	else
		event_active(&io->ev, EV_READ, 1);	/* more, next turn */
	io_arm_read(io);
	if (io->read_cb != NULL) {
		io->read_cb(io, io_scratch, (size_t)n, io->arg);
		if (io->freed)
			return false;
	}
	/* A short read with the FIN reported: that was the end. */
	if (!io->readable && io->rdhup && io->rd_on && !io->eof) {
		io->eof = true;
		io->rdhup = false;
		evtimer_del(io->rd_timer);
		return io_report(io, RELAY_IO_EOF | RELAY_IO_READING, 0);
	}
	return true;
}

static void
io_handle(evutil_socket_t fd, short what, void *arg)
{
	struct relay_io *io = arg;

	(void)fd;
	io->running++;
	if (what & EV_READ)
		io->readable = true;
	if (what & EV_CLOSED)
		io->rdhup = true;
	if (io->connecting) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (!(what & (EV_WRITE | EV_CLOSED)) && !io->rdhup)
			goto out;
		/*
		 * Writable alone is a connect that worked: the backend turns
		 * an error or hang-up (EPOLLERR, EPOLLHUP) into readable and
		 * writable both, so only then is SO_ERROR worth a system
		 * call (haproxy does without it too).
		 */
		if ((what & (EV_READ | EV_CLOSED)) == 0 && !io->rdhup)
			err = 0;
		else if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err,
		    &len) != 0)
			err = errno;
		if (err == EINPROGRESS)
			goto out;
		io->connecting = false;
		if (err != 0) {
			(void)io_fail(io, RELAY_IO_WRITING, err);
			goto out;
		}
		io_arm_write(io);
		if (!io_report(io, RELAY_IO_CONNECTED, 0))
			goto out;
	}
	if (io_can_write(io) && relay_io_pending(io) > 0 &&
	    !io_write(io))
		goto out;
	if (io->rd_on && !io->eof && !io->failed &&
	    (io->readable || io->rdhup))
		(void)io_read(io);
out:
	if (--io->running == 0 && io->freed)
		io_release(io);
}

static void
io_rd_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct relay_io *io = arg;

	(void)fd;
	(void)what;
	io->running++;
	io->rd_on = false;
	(void)io_report(io, RELAY_IO_TIMEOUT | RELAY_IO_READING, 0);
	if (--io->running == 0 && io->freed)
		io_release(io);
}

static void
io_wr_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct relay_io *io = arg;

	(void)fd;
	(void)what;
	io->running++;
	io->wr_on = false;
	(void)io_report(io, RELAY_IO_TIMEOUT | RELAY_IO_WRITING, 0);
	if (--io->running == 0 && io->freed)
		io_release(io);
}

static int
io_watch(struct relay_io *io)
{
	if (event_assign(&io->ev, io->base, io->fd, EV_READ | EV_WRITE |
	    EV_CLOSED | EV_PERSIST | EV_ET, io_handle, io) != 0 ||
	    event_add(&io->ev, NULL) != 0) {
		errno = ENOMEM;
		return -1;
	}
	io->watching = true;
	return 0;
}

struct relay_io *
relay_io_new(struct event_base *base, int fd)
{
	struct relay_io *io = calloc(1, sizeof(*io));

	if (io == NULL)
		return NULL;
	io->base = base;
	io->fd = -1;
	io->max_read = RELAY_IO_READ_MAX;
	io->wr_on = true;
	evtimer_assign(io->rd_timer, base, io_rd_timeout, io);
	evtimer_assign(io->wr_timer, base, io_wr_timeout, io);
	if (fd >= 0) {
		io->fd = fd;
		if (io_watch(io) != 0) {
			io->fd = -1;	/* the caller keeps it on failure */
			io_release(io);
			return NULL;
		}
	}
	return io;
}

void
relay_io_free(struct relay_io *io)
{
	if (io == NULL)
		return;
	/*
	 * Closed first: the close takes the socket out of epoll's set
	 * itself, and the delete that follows costs only a failed
	 * epoll_ctl (which libevent takes as done) instead of removing it
	 * once more. Nothing else opens a descriptor in between that
	 * this loop could have registered.
	 */
	if (io->fd >= 0)
		close(io->fd);
	io->fd = -1;
	if (io->watching)
		event_del(&io->ev);
	io->watching = false;
	evtimer_del(io->rd_timer);
	evtimer_del(io->wr_timer);
	io->read_cb = NULL;
	io->written_cb = NULL;
	io->event_cb = NULL;
	if (io->running > 0)
		io->freed = true;
	else
		io_release(io);
}

void
relay_io_setcb(struct relay_io *io,
    void (*read_cb)(struct relay_io *, const uint8_t *, size_t, void *),
    void (*written_cb)(struct relay_io *, void *),
    void (*event_cb)(struct relay_io *, short, void *), void *arg)
{
	io->read_cb = read_cb;
	io->written_cb = written_cb;
	io->event_cb = event_cb;
	io->arg = arg;
}

int
relay_io_connect(struct relay_io *io, const struct sockaddr *sa,
    socklen_t len)
{
	int fd, e;

	if (io->fd >= 0) {
		errno = EISCONN;
		return -1;
	}
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0)
		return -1;
	if (connect(fd, sa, len) != 0 && errno != EINPROGRESS) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	/* Done or not, the first edge tells (SO_ERROR): from the loop. */
	io->fd = fd;
	io->connecting = true;
	if (io_watch(io) != 0) {
		e = errno;
		close(fd);
		io->fd = -1;
		io->connecting = false;
		errno = e;
		return -1;
	}
	io_arm_write(io);
	return 0;
}

int
relay_io_fd(const struct relay_io *io)
{
	return io->fd;
}

void
relay_io_enable(struct relay_io *io, short what)
{
	if (what & EV_READ) {
		io->rd_on = true;
		io_arm_read(io);
		if (io->watching && !io->eof && (io->readable || io->rdhup))
			event_active(&io->ev, EV_READ, 1);
	}
	if (what & EV_WRITE) {
		io->wr_on = true;
		io_arm_write(io);
		if (io_can_write(io) && relay_io_pending(io) > 0)
			event_active(&io->ev, EV_WRITE, 1);
	}
}

void
relay_io_disable(struct relay_io *io, short what)
{
	if (what & EV_READ) {
		io->rd_on = false;
		evtimer_del(io->rd_timer);
	}
	if (what & EV_WRITE) {
		io->wr_on = false;
		if (!io->connecting)
			evtimer_del(io->wr_timer);
	}
}

void
relay_io_set_max_read(struct relay_io *io, size_t n)
{
	io->max_read = n == 0 ? 1 : n > RELAY_IO_READ_MAX ? RELAY_IO_READ_MAX : n;
}

/*
 * Every connection has the same few timeouts (idle, connect): as one of
 * libevent's common timeouts, a timer is re-armed or deleted in a queue
 * of its duration, not sifted through a heap of every open connection's
 * timers. A duration that cannot be one (more than libevent's 256) stays
 * as it is.
 */
static const struct timeval *
common_timeout(struct event_base *base, const struct timeval *tv)
{
	const struct timeval *c = event_base_init_common_timeout(base, tv);

	return c != NULL ? c : tv;
}

void
relay_io_set_timeouts(struct relay_io *io, const struct timeval *rd,
    const struct timeval *wr)
{
	io->rd_to = rd != NULL;
	if (rd != NULL)
		io->rd_tv = *common_timeout(io->base, rd);
	io->wr_to = wr != NULL;
	if (wr != NULL)
		io->wr_tv = *common_timeout(io->base, wr);
	io_arm_read(io);
	io_arm_write(io);
}
