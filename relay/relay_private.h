/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * relay_private.h: what the relay's files share, and nothing outside
 * relay/ may use. relay.h is the public face.
 *
 *   relay.c     settings, listeners, reloads, draining, statistics
 *   admit.c     accept: clients allowed, per-client and total limits,
 *               eviction by worth, the buffer budgets
 *   session.c   a session's two directions: read, write, half-close,
 *               backpressure, and its one teardown
 *   upstream.c  where a session goes, the upstream's connect and
 *               failure, the fixed upstream's name lookup
 *
 * A session has one struct relay_side per connection, each pointing at
 * its peer: bytes read on one side go to the peer's output, and one read
 * path and one half-close path serve both. What is not symmetric stays
 * with the session: only the kit's bytes are decoded into the outputs,
 * only the upstream may fail and leave the session serving the kit
 * locally, and only the kit side's buffers make a session worth cutting.
 */
#ifndef RELAY_PRIVATE_H
#define RELAY_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/time.h>
#include <time.h>

#include <event2/buffer.h>

#include "io.h"

#include "relay.h"
#include "stream.h"

#define EVICT_MIN_IDLE 2	/* seconds idle before a session may be evicted */
#define SINGLE_READ 4096	/* bytes read per callback: budget overshoot */

enum up_state {
	UP_LOCAL,	/* none configured, not allowed, or failed */
	UP_CONNECTING,
	UP_OPEN,
};

/* One client address (IPv4, or an IPv6 /64) and its sessions. */
struct relay_client {
	LIST_ENTRY(relay_client) hash;
	TAILQ_ENTRY(relay_client) all;
	uint8_t key[16];
	int nconn;
	size_t buffered;
	struct relay_sessions unproven;	/* no valid frame yet, oldest first */
};

/* One connection of a session: the kit's or the upstream's. */
struct relay_side {
	struct relay_session *s;
	struct relay_side *peer;	/* where what this side reads goes */
	struct relay_io *io;		/* NULL: no such connection (now) */
	bool rd_eof;		/* its FIN came, or it failed */
	bool wr_shut;		/* our FIN is sent */
	bool paused;		/* not read: the peer's output is full */
	bool gone;		/* failed: nothing more can be written to it */
	size_t buffered;	/* its output bytes counted in the budgets */
	uint64_t bytes;		/* read from it */
};

struct relay_session {
	TAILQ_ENTRY(relay_session) entry;
	TAILQ_ENTRY(relay_session) cl_entry;	/* in cl->unproven */
	LIST_ENTRY(relay_session) up_entry;	/* in r->uphash, if up_indexed */
	struct relay *r;
	struct relay_client *cl;
	uint64_t id;
	struct relay_side kit, up;
	struct event *stall;	/* kit paused too long: upstream too slow */
	enum up_state up_state;
	bool stream_ended;
	bool proven;		/* a valid frame came from the kit */
	uint16_t up_lport;	/* our upstream socket's port, network order */
	bool up_indexed;	/* in r->uphash under up_lport */
	int64_t started, last_active;	/* monotonic ms */
	struct addr peer;
	struct addr target;
	struct stream from_kit;
	struct stream *from_portal;	/* only once the upstream speaks */
};

/* Log the first and then every 1000th of a repeated condition. */
static inline bool
relay_log_sample(uint64_t count)
{
	return count % 1000 == 1;
}

static inline const char *
relay_fmt(const struct addr *a, char *buf)
{
	return addr_format((const struct sockaddr *)&a->ss, buf, ADDR_STRLEN);
}

/* Every interval is measured here: a wall-clock step must not matter. */
static inline int64_t
relay_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* relay.c */
void relay_listeners_enable(struct relay *, bool on);

/* admit.c */
void relay_accept(struct evconnlistener *, evutil_socket_t,
    struct sockaddr *, int, void *);
void relay_client_drop(struct relay *, struct relay_client *);
void relay_session_prove(struct relay_session *);
void relay_session_account(struct relay_session *);
bool relay_over_budget(const struct relay_session *);
void relay_upport_add(struct relay_session *);
void relay_upport_del(struct relay_session *);
void relay_budget_pause(struct relay_side *);

/* session.c */
void relay_session_start(struct relay_session *);
void relay_session_close(struct relay_session *, const char *why);
void relay_session_check_done(struct relay_session *);
void relay_side_read(struct relay_io *, const uint8_t *, size_t,
    void *side);
void relay_side_written(struct relay_io *, void *side);
void relay_side_pause(struct relay_side *);
void relay_side_resume(struct relay_side *);
void relay_side_maybe_shut(struct relay_side *);
void relay_side_eof(struct relay_side *);
void relay_side_close(struct relay_side *);

/* upstream.c */
enum relay_target { TARGET_FORWARD, TARGET_LOCAL, TARGET_REFUSE };
enum relay_target relay_upstream_target(struct relay_session *, int fd);
void relay_upstream_connect(struct relay_session *);
void relay_upstream_fail(struct relay_session *, const char *why, int err);
void relay_lookup_start(struct relay *);

/* defer.c: a kit's readings to the outputs once its session is over. */
#define RELAY_DEFER_MAX 16	/* readings held; then the oldest goes */
#define RELAY_DEFER_MS 100	/* the longest one waits */
void relay_defer_reading(void *session, const struct record *rec);
/* Before one of the session's rejects: its readings (and older) out. */
void relay_defer_sync(void *session);
/* Every reading that came up to upto's last one (NULL: all), in order. */
void relay_defer_release(struct relay *, const struct relay_session *upto);
void relay_defer_free(struct relay *);

#endif /* RELAY_PRIVATE_H */
