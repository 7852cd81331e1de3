/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * session.c: a session's two directions, and its one teardown.
 *
 *   kit side ──read──> decode ──> up side's output ──> upstream
 *   kit side's output <──────────────────read── up side <── upstream
 *
 *   Both directions run through the same functions, each side with a
 *   pointer to its peer (relay_side_read, relay_side_written,
 *   side_read_end, relay_side_maybe_shut): the kit's FIN becomes our FIN
 *   to the upstream once its output is written, and the other way round.
 *   The session ends when both directions have (relay_session_check_done),
 *   or on an idle timeout, and always through relay_session_close.
 *
 *   What differs between the sides stays here, by name: only the kit's
 *   bytes are decoded into the outputs (the upstream's are parsed for the
 *   debug log only), only a kit side paused for too long fails the
 *   upstream over (upstream.c), and only the kit's events end the streams
 *   and start the upstream's linger.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "log.h"
#include "relay_private.h"

static void
now_tv(struct timeval *tv)
{
	gettimeofday(tv, NULL);
}

static void
session_touch(struct relay_session *s)
{
	s->last_active = relay_mono_ms();
	TAILQ_REMOVE(&s->r->sessions, s, entry);
	TAILQ_INSERT_TAIL(&s->r->sessions, s, entry);
}

static void
session_end_streams(struct relay_session *s)
{
	struct timeval now;

	if (s->stream_ended)
		return;
	s->stream_ended = true;
	now_tv(&now);
	stream_end(&s->from_kit, &now);
	if (s->from_portal != NULL)
		stream_end(s->from_portal, &now);
}

/*
 * Close a side's socket now (relay_io_free does), not on a later loop
 * pass: a burst of evictions in one accept loop would run out of
 * descriptors otherwise.
 */
void
relay_side_close(struct relay_side *sd)
{
	if (sd == &sd->s->up)
		relay_upport_del(sd->s);
	relay_io_free(sd->io);
	sd->io = NULL;
}

/* The one way a session ends. */
void
relay_session_close(struct relay_session *s, const char *why)
{
	struct relay *r = s->r;
	char a[ADDR_STRLEN], b[ADDR_STRLEN];

	session_end_streams(s);
	r->st.frames += s->from_kit.st.frames;
	r->st.readings += s->from_kit.st.readings;
	r->st.texts += s->from_kit.st.texts;
	r->st.rejects += s->from_kit.st.rejects;
	r->st.limited += s->from_kit.st.limited;
	if (s->from_portal != NULL)
		r->st.cloud_frames += s->from_portal->st.frames;
	r->st.bytes_to_cloud += s->kit.bytes;
	r->st.bytes_from_cloud += s->up.bytes;
	if (log_enabled(LOG_LVL_DEBUG))
		log_debug("#%llu %s -> %s: %llu bytes up, %llu down, "
		    "%llu readings: %s", (unsigned long long)s->id,
		    relay_fmt(&s->peer, a),
		    s->target.len ? relay_fmt(&s->target, b) : "local",
		    (unsigned long long)s->kit.bytes,
		    (unsigned long long)s->up.bytes,
		    (unsigned long long)s->from_kit.st.readings, why);

	relay_side_close(&s->kit);
	relay_side_close(&s->up);
	/* The kit has its close: now its readings' outputs (defer.c). */
	relay_defer_release(r, s);
	relay_session_account(s);
	if (s->stall != NULL)
		event_free(s->stall);
	free(s->from_portal);
	if (!s->proven) {
		TAILQ_REMOVE(&s->cl->unproven, s, cl_entry);
		r->nunproven--;
	}
	relay_client_drop(r, s->cl);
	TAILQ_REMOVE(&r->sessions, s, entry);
	r->nsessions--;
	free(s);

	if (r->paused_full && !r->draining &&
	    r->nsessions < r->set.max_connections) {
		r->paused_full = false;
		relay_listeners_enable(r, true);
	}
	if (r->draining && r->nsessions == 0 && r->drained != NULL)
		r->drained(r);
}

/*
 * Both directions over? Kit side: it sent its FIN (or failed) and what we
 * owe it is written. Upstream side: gone, or our FIN sent and its FIN seen
 * (or the kit is gone, so nobody would read the rest).
 */
void
relay_session_check_done(struct relay_session *s)
{
	bool kit_done = s->kit.gone ||
	    (s->kit.rd_eof &&
	     relay_io_pending(s->kit.io) == 0);
	bool up_done = s->up_state == UP_LOCAL ||
	    (s->up.wr_shut && (s->up.rd_eof || s->kit.gone));

	if (kit_done && up_done)
		relay_session_close(s, s->up_state == UP_LOCAL ?
		    "served locally" : "both sides closed");
}

/* Can this side still be written to (and half-closed)? */
static bool
side_open(const struct relay_side *sd)
{
	const struct relay_session *s = sd->s;

	if (sd->io == NULL || sd->gone)
		return false;
	/* A connect under way takes bytes, but no shutdown yet. */
	return sd != &s->up || s->up_state == UP_OPEN;
}

/* Forward the peer's FIN once its bytes are all written to this side. */
void
relay_side_maybe_shut(struct relay_side *sd)
{
	struct relay_session *s = sd->s;

	if (!side_open(sd) || sd->wr_shut || !sd->peer->rd_eof ||
	    relay_io_pending(sd->io) > 0)
		return;
	/*
	 * The kit has finished too and our FIN to the upstream is out: the
	 * session is about to close, and the close sends the kit its FIN.
	 */
	if (sd == &s->kit && sd->rd_eof && sd->peer->wr_shut)
		return;
	relay_io_disable(sd->io, EV_WRITE);
	(void)shutdown(relay_io_fd(sd->io), SHUT_WR);
	sd->wr_shut = true;
}

/* This side's FIN (or failure) came: the peer gets ours once it has all. */
static void
side_read_end(struct relay_side *sd)
{
	sd->rd_eof = true;
	relay_io_disable(sd->io, EV_READ);
	relay_side_maybe_shut(sd->peer);
}

static void
stall_expired(evutil_socket_t fd, short what, void *arg)
{
	struct relay_session *s = arg;

	(void)fd;
	(void)what;
	if (s->up.io != NULL && s->kit.paused)
		relay_upstream_fail(s, "too slow (output full for "
		    "connect_timeout)", 0);
}

/*
 * Backpressure: stop reading a side while its peer's output is full. An
 * upstream that keeps the kit paused for connect_timeout (one reading a
 * byte a second) is given up, so the kit is still read to its end.
 */
void
relay_side_pause(struct relay_side *sd)
{
	struct relay_session *s = sd->s;
	struct timeval tv = { s->r->set.connect_timeout, 0 };

	sd->paused = true;
	relay_io_disable(sd->io, EV_READ);
	if (sd != &s->kit)
		return;
	if (s->stall == NULL)
		s->stall = evtimer_new(s->r->base, stall_expired, s);
	if (s->stall != NULL)
		evtimer_add(s->stall, &tv);
}

void
relay_side_resume(struct relay_side *sd)
{
	struct relay_session *s = sd->s;

	if (!sd->paused || sd->io == NULL)
		return;
	sd->paused = false;
	if (sd == &s->kit && s->stall != NULL)
		evtimer_del(s->stall);
	if (!sd->rd_eof)
		relay_io_enable(sd->io, EV_READ);
}

/*
 * The kit's bytes go to the outputs, and a valid frame proves the
 * session; the upstream's are parsed for the debug log only, in a stream
 * made when it first speaks.
 */
static void
session_decode(struct relay_side *sd, const uint8_t *p, size_t n)
{
	struct relay_session *s = sd->s;
	struct timeval now;

	if (sd == &s->kit) {
		now_tv(&now);
		stream_feed(&s->from_kit, p, n, &now);
		if (!s->proven && s->from_kit.st.valid > 0)
			relay_session_prove(s);
		return;
	}
	if (s->from_portal == NULL) {
		s->from_portal = malloc(sizeof(*s->from_portal));
		/* Named as the kit's: the same peer, formatted once. */
		if (s->from_portal != NULL)
			stream_init(s->from_portal, NULL, STREAM_FROM_PORTAL,
			    s->from_kit.source);
	}
	if (s->from_portal != NULL) {
		now_tv(&now);
		stream_feed(s->from_portal, p, n, &now);
	}
}

/* Bytes from either side: into the peer (or its output), decoded. */
void
relay_side_read(struct relay_io *io, const uint8_t *p, size_t n, void *arg)
{
	struct relay_side *sd = arg, *peer = sd->peer;
	struct relay_session *s = sd->s;
	struct iovec v = { .iov_base = (void *)(uintptr_t)p, .iov_len = n };
	ssize_t w;
	size_t sent = 0;

	(void)io;
	if (n == 0)
		return;
	sd->bytes += n;
	session_touch(s);
	/*
	 * Nothing queued for a connected peer: send to it now, straight
	 * from the read. Then decode the same bytes: the peer does not wait
	 * for the decoder and the outputs, and whatever the send did, the
	 * reading is in. Whatever was not sent (a full socket buffer, an
	 * error) is queued, and the peer's I/O writes it or reports the
	 * error.
	 */
	if (!peer->gone && !peer->wr_shut && side_open(peer) &&
	    relay_io_pending(peer->io) == 0 &&
	    (w = relay_io_send(relay_io_fd(peer->io), &v, 1)) > 0)
		sent = (size_t)w;
	session_decode(sd, p, n);
	if (peer->io == NULL || peer->gone || peer->wr_shut || sent == n)
		return;
	if (relay_io_queue(peer->io, p + sent, n - sent) != 0) {
		/* Nowhere to keep them: this peer cannot have them whole. */
		if (peer == &s->up)
			relay_upstream_fail(s, "out of memory for its output",
			    ENOMEM);
		else
			relay_session_close(s, "out of memory for the kit's "
			    "output");
		return;
	}
	relay_session_account(s);
	if (relay_io_pending(peer->io) >= s->r->set.max_buffer)
		relay_side_pause(sd);
	else if (relay_over_budget(s))
		relay_budget_pause(sd);
}

/* A side's output is written out: its peer may read again. */
void
relay_side_written(struct relay_io *io, void *arg)
{
	struct relay_side *sd = arg;
	struct relay_session *s = sd->s;

	(void)io;
	relay_session_account(s);
	relay_side_resume(sd->peer);
	relay_side_maybe_shut(sd);
	relay_session_check_done(s);
}

static void
kit_event(struct relay_io *io, short what, void *arg)
{
	struct relay_side *sd = arg;
	struct relay_session *s = sd->s;
	struct timeval linger;

	if (what & RELAY_IO_TIMEOUT) {
		if (what & RELAY_IO_READING) {
			s->r->st.idle_timeouts++;
			relay_session_close(s, "idle timeout");
			return;
		}
		/* The kit does not read what the portal sent it. */
		relay_session_close(s, "kit stopped reading");
		return;
	}
	if (what & RELAY_IO_ERROR) {
		sd->gone = true;
		relay_io_disable(io, EV_READ | EV_WRITE);
	}
	if (what & (RELAY_IO_EOF | RELAY_IO_ERROR)) {
		session_end_streams(s);
		/* From now on the upstream has idle_timeout to finish. */
		if (s->up_state == UP_OPEN) {
			/* (While connecting, the connect timeout stays.) */
			linger.tv_sec = s->r->set.idle_timeout;
			linger.tv_usec = 0;
			relay_io_set_timeouts(s->up.io, &linger, &linger);
			relay_io_enable(s->up.io, EV_READ);
		}
		side_read_end(sd);
	}
	/* Nobody will read what the upstream still sends: let it come. */
	if (sd->gone)
		relay_side_resume(&s->up);
	relay_session_check_done(s);
}

/* The upstream's events other than connect and failure (upstream.c). */
void
relay_side_eof(struct relay_side *sd)
{
	side_read_end(sd);
	relay_session_check_done(sd->s);
}

/* The kit's connection is accepted and s->kit.io made: start reading. */
void
relay_session_start(struct relay_session *s)
{
	struct relay *r = s->r;
	struct timeval idle = { r->set.idle_timeout, 0 };

	s->kit.s = s->up.s = s;
	s->kit.peer = &s->up;
	s->up.peer = &s->kit;
	relay_io_setcb(s->kit.io, relay_side_read, relay_side_written,
	    kit_event, &s->kit);
	relay_io_set_max_read(s->kit.io, SINGLE_READ);
	relay_io_set_timeouts(s->kit.io, &idle, &idle);
	relay_io_enable(s->kit.io, EV_READ);
}
