/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * relay.h: the transparent relay's engine: listeners, sessions, limits.
 *
 *        kit                     relay                        portal
 *   ┌──────────┐  accepted   ┌─────────────┐   connect()    ┌──────────┐
 *   │ 198.51.  │────────────>│ kit io      │   up io        │ original │
 *   │ 100.2    │  (REDIRECT) │   │  read ──┼──> output ────>│ dst or   │
 *   │          │<────────────┼── output <──┼──── read  <────│ HOST:PORT│
 *   └──────────┘             │   │          │     │          └──────────┘
 *                            │ stream_feed  │  stream_feed (debug)
 *                            │ FROM_KIT     │  FROM_PORTAL
 *                            └─────────────┘
 *
 * Promises:
 * - Bytes go both ways unchanged and in order. Reading one side stops while
 *   the other side's output holds max_buffer bytes (backpressure); an end
 *   of stream on one side becomes a half-close (shutdown SHUT_WR) of the
 *   other once everything before it is written.
 * - Every byte the kit sends is decoded as it is read, before it is
 *   forwarded: nothing the upstream does (refuse, stay silent, reset, read
 *   slowly) can lose a reading. When the upstream fails the session goes on
 *   as a local server: the kit is read to its end, then closed.
 * - Never an open proxy: clients outside allow_clients (by default the
 *   private, loopback, link-local and ULA networks) are refused; so is an
 *   original destination port outside portal_ports. A destination outside
 *   allow_upstream (by default: any public address), a connection with no
 *   original destination, or one whose original destination is this host,
 *   is served locally and never forwarded. A connection that is our own
 *   upstream connection redirected back (a missing OUTPUT exclusion) is
 *   refused as such, whatever allow_clients says.
 * - Bounded: max_connections sessions, client_connections of them per
 *   client address (IPv6: per /64); max_buffer bytes per direction,
 *   client_buffer per client address and max_buffer_total in all (past
 *   them reading pauses, and a session that never sent a valid frame is
 *   cut); idle and connect timeouts; accept paused for a second on
 *   EMFILE/ENFILE. Every interval is measured on the monotonic clock.
 * - A full relay makes room by what a session is worth: first a session
 *   with no valid frame after first_frame_grace, from the address holding
 *   the most; then one from an address holding more than the newcomer's
 *   (a fair share: one LAN host cannot lock kits out), both only for a
 *   newcomer whose address holds less than its share; then the one idle
 *   longest, if idle 2 s.
 * - A host-name upstream is looked up in a worker thread (output/resolve.c)
 *   at start, on SIGHUP and, while it fails, again with back-off; until it
 *   resolves, kits are served locally.
 * - One teardown function per session (relay_session_close).
 */
#ifndef RELAY_H
#define RELAY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "acl.h"
#include "addr.h"
#include "config.h"
#include "outputs.h"

#define RELAY_LISTEN_MAX 8

enum relay_upstream_mode {
	RELAY_UP_ORIGINAL,	/* SO_ORIGINAL_DST */
	RELAY_UP_FIXED,		/* HOST:PORT */
	RELAY_UP_NONE,		/* local server only */
};

/* What a reload may change, taken from struct config. */
struct relay_settings {
	enum relay_upstream_mode mode;
	struct addr fixed;	/* len 0: a name, not looked up yet */
	char fixed_host[256];	/* HOST of HOST:PORT */
	char fixed_port[8];
	uint16_t ports[16];	/* portal_ports */
	int nports;
	struct acl clients;
	struct acl upstreams;
	int connect_timeout;	/* seconds */
	int idle_timeout;	/* seconds */
	int max_connections;
	int max_connections_asked;	/* if clamped to the open-files limit */
	size_t max_buffer;
	size_t max_buffer_total;
	int client_connections;
	size_t client_buffer;
	int first_frame_grace;	/* seconds */
	unsigned reading_burst, reading_rate;	/* per connection */
};

struct relay_stats {
	uint64_t accepted;
	uint64_t refused_client;	/* outside allow_clients */
	uint64_t refused_full;		/* max_connections, nothing to evict */
	uint64_t refused_loop;		/* our own upstream connection */
	uint64_t refused_port;		/* original port not a portal port */
	uint64_t refused_per_client;	/* client_connections reached */
	uint64_t not_public;		/* private destination: served locally */
	uint64_t unresolved;		/* upstream name not resolved: local */
	uint64_t evicted;
	uint64_t budget_pauses;		/* reading paused: buffer budget */
	uint64_t budget_cuts;		/* unproven sessions cut for it */
	uint64_t served_local;		/* never forwarded */
	uint64_t forwarded;		/* upstream connected */
	uint64_t upstream_failed;	/* refused, timed out, reset, stalled */
	uint64_t idle_timeouts;
	uint64_t accept_errors;
	uint64_t bytes_to_cloud;	/* read from kits */
	uint64_t bytes_from_cloud;	/* read from upstreams */
	uint64_t frames, readings, texts, rejects;	/* kit -> cloud */
	uint64_t limited;		/* readings over the reading rate */
	uint64_t cloud_frames;		/* cloud -> kit */
};

struct relay_session;
struct relay_deferred;
TAILQ_HEAD(relay_sessions, relay_session);
struct relay_client;
TAILQ_HEAD(relay_clients, relay_client);
LIST_HEAD(relay_client_bucket, relay_client);
LIST_HEAD(relay_upport_bucket, relay_session);
struct resolve;

struct relay {
	struct event_base *base;
	struct outputs *out;
	struct relay_settings set;
	struct evconnlistener *lis[RELAY_LISTEN_MAX];
	unsigned lport[RELAY_LISTEN_MAX];	/* their ports, host order */
	int nlis;
	/* Least recently active first: the head is evicted when full. */
	struct relay_sessions sessions;
	int nsessions;
	/* Client addresses with sessions, hashed with a random seed. */
	struct relay_clients clients;
	int nclients;
	struct relay_client_bucket *chash;
	uint32_t cseed;
	/* Sessions by their upstream socket's local port (loop detection). */
	struct relay_upport_bucket *uphash;
	int nunproven;		/* sessions with no valid frame yet */
	size_t buffered;	/* output buffers of every session */
	struct acl private_nets;
	/* The fixed upstream's name lookup. */
	struct resolve *res;
	struct event *res_retry;
	int res_backoff;	/* seconds */
	uint64_t next_id;
	struct event *backoff;	/* accept paused after EMFILE/ENFILE */
	bool paused_full;	/* listeners off: at max_connections */
	bool draining;
	void (*drained)(struct relay *);	/* last session gone */
	/* Readings waiting for their session's end (defer.c), a ring. */
	struct relay_deferred *dq;
	unsigned dq_head, dq_len;
	struct event *dq_timer;
	struct relay_stats st;
};

void relay_init(struct relay *r, struct event_base *base,
    struct outputs *out);
/*
 * From a config (first time and on reload); fds_kept descriptors are
 * another part's (the [http] server's connections), beyond the 64 kept
 * for logs and outputs. 0, or -1 with err.
 */
int relay_settings_from_config(struct relay_settings *set,
    const struct config *c, int fds_kept, char *err, size_t errlen);
void relay_apply(struct relay *r, const struct relay_settings *set);
/* Bind every "[ADDR:]PORT" of the list. 0, or -1 with err. */
int relay_listen(struct relay *r, const char *list, char *err,
    size_t errlen);
/*
 * Stop accepting; when the last session has ended call drained (at once
 * if there is none).
 */
void relay_drain(struct relay *r, void (*drained)(struct relay *));
/* End every session now (their streams are ended: nothing is lost). */
void relay_close_all(struct relay *r, const char *why);
/* Totals so far, open sessions included. */
void relay_stats(const struct relay *r, struct relay_stats *out);
void relay_log_stats(const struct relay *r, const char *when);
/* Close listeners and sessions, free what relay_init and listen made. */
/* The readings held for open sessions (defer.c) to the outputs, now. */
void relay_flush(struct relay *r);
void relay_free(struct relay *r);

#endif /* RELAY_H */
