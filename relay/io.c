/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * io.c: a connection's buffered non-blocking I/O (see io.h).
 *
 *   socket ── one event (EV_READ|EV_WRITE|EV_CLOSED, edge-triggered) ──┐
 *     edge: readable / writable / FIN seen, remembered in flags         │
 *   io_handle: connect done? ─> write the output ─> read (max_read) ────┘
 *   output queued (evbuffer callback) ─> event_active: written this turn
 *
 * Edge-triggered, so what the flags remember is all that is known: a
 * direction turned off keeps its flag, and turning it on again activates
 * the event rather than waiting for an edge that may not come.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io.h"

struct relay_io {
	struct event_base *base;
	int fd;
	struct event *ev;		/* the socket, added once */
	struct event *rd_timer, *wr_timer;
	struct evbuffer *in, *out;
	void (*read_cb)(struct relay_io *, void *);
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
};

static void io_handle(evutil_socket_t, short, void *);

static void
io_release(struct relay_io *io)
{
	if (io->rd_timer != NULL)
		event_free(io->rd_timer);
	if (io->wr_timer != NULL)
		event_free(io->wr_timer);
	if (io->in != NULL)
		evbuffer_free(io->in);
	if (io->out != NULL)
		evbuffer_free(io->out);
	free(io);
}

/* Start (or restart) the write timeout while there is work for it. */
static void
io_arm_write(struct relay_io *io)
{
	if (io->wr_to && (io->connecting ||
	    (io->wr_on && evbuffer_get_length(io->out) > 0)))
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
	return io->ev != NULL && io->wr_on && !io->connecting && !io->failed;
}

/* Queued output: write it in this loop turn, from the loop. */
static void
io_out_changed(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct relay_io *io = arg;

	(void)buf;
	if (info->n_added == 0)
		return;
	if (io->wr_to && !evtimer_pending(io->wr_timer, NULL))
		io_arm_write(io);
	if (io_can_write(io))
		event_active(io->ev, EV_WRITE, 1);
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

/* Write what is queued; false if a callback freed us. */
static bool
io_write(struct relay_io *io)
{
	int n = evbuffer_write(io->out, io->fd);

	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return true;	/* the next edge says when */
		return io_fail(io, RELAY_IO_WRITING, errno);
	}
	io_arm_write(io);
	if (evbuffer_get_length(io->out) == 0 && io->written_cb != NULL) {
		io->written_cb(io, io->arg);
		return !io->freed;
	}
	return true;
}

/* One read of at most max_read; false if a callback freed us. */
static bool
io_read(struct relay_io *io)
{
	struct evbuffer_iovec v;
	size_t want = io->max_read;
	ssize_t n;

	if (evbuffer_reserve_space(io->in, (ev_ssize_t)want, &v, 1) < 1)
		return io_fail(io, RELAY_IO_READING, ENOMEM);
	if (v.iov_len < want)
		want = v.iov_len;
	n = read(io->fd, v.iov_base, want);
	if (n < 0) {
		if (errno == EINTR) {
			event_active(io->ev, EV_READ, 1);
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
	v.iov_len = (size_t)n;
	evbuffer_commit_space(io->in, &v, 1);
	if ((size_t)n < want)
		io->readable = false;	/* drained, up to its FIN if rdhup */
	else
		event_active(io->ev, EV_READ, 1);	/* more, next turn */
	io_arm_read(io);
	if (io->read_cb != NULL) {
		io->read_cb(io, io->arg);
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
	if (io_can_write(io) && evbuffer_get_length(io->out) > 0 &&
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
	io->ev = event_new(io->base, io->fd, EV_READ | EV_WRITE | EV_CLOSED |
	    EV_PERSIST | EV_ET, io_handle, io);
	if (io->ev == NULL || event_add(io->ev, NULL) != 0) {
		if (io->ev != NULL)
			event_free(io->ev);
		io->ev = NULL;
		errno = ENOMEM;
		return -1;
	}
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
	io->max_read = 4096;
	io->wr_on = true;
	io->in = evbuffer_new();
	io->out = evbuffer_new();
	io->rd_timer = evtimer_new(base, io_rd_timeout, io);
	io->wr_timer = evtimer_new(base, io_wr_timeout, io);
	if (io->in == NULL || io->out == NULL || io->rd_timer == NULL ||
	    io->wr_timer == NULL ||
	    evbuffer_add_cb(io->out, io_out_changed, io) == NULL) {
		io_release(io);
		return NULL;
	}
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
	if (io->ev != NULL)
		event_free(io->ev);
	io->ev = NULL;
	if (io->fd >= 0)
		close(io->fd);
	io->fd = -1;
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
relay_io_setcb(struct relay_io *io, void (*read_cb)(struct relay_io *, void *),
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

struct evbuffer *
relay_io_input(struct relay_io *io)
{
	return io->in;
}

struct evbuffer *
relay_io_output(struct relay_io *io)
{
	return io->out;
}

void
relay_io_enable(struct relay_io *io, short what)
{
	if (what & EV_READ) {
		io->rd_on = true;
		io_arm_read(io);
		if (io->ev != NULL && !io->eof && (io->readable || io->rdhup))
			event_active(io->ev, EV_READ, 1);
	}
	if (what & EV_WRITE) {
		io->wr_on = true;
		io_arm_write(io);
		if (io_can_write(io) && evbuffer_get_length(io->out) > 0)
			event_active(io->ev, EV_WRITE, 1);
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
	io->max_read = n > 0 ? n : 1;
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
