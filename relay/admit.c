/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * admit.c: who gets a session, and what the sessions may hold.
 *
 *   accept ─> our own connection looped back? ─> client allowed?
 *          ─> room (per client, in all: evict by worth)? ─> a session
 *
 *   Sessions are counted per client address (the kit's side: IPv4 whole,
 *   IPv6 by /64), and so are the bytes their output buffers hold, against
 *   client_buffer, and in all against max_buffer_total.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "origdst.h"
#include "relay_private.h"

#define CLIENT_BUCKETS 4096	/* client address hash (a power of two) */
#define UPPORT_BUCKETS 1024	/* upstream local ports (a power of two) */
#define BUDGET_CUT_MIN 4096	/* an unproven session holding this is cut */

/* ------------------------------------------------------------------ */
/* Client addresses */

/* IPv4 (or IPv4-mapped) whole; IPv6 by its /64, which one host holds. */
static void
client_key(const struct sockaddr *sa, uint8_t key[16])
{
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET) {
		key[10] = key[11] = 0xFF;
		memcpy(key + 12, &((const struct sockaddr_in *)(const void *)
		    sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a =
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

		memcpy(key, a->s6_addr, IN6_IS_ADDR_V4MAPPED(a) ? 16 : 8);
	}
}

static uint32_t
client_hash(const struct relay *r, const uint8_t key[16])
{
	uint32_t h = 2166136261u ^ r->cseed;

	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	return (h ^ (h >> 15)) & (CLIENT_BUCKETS - 1);
}

static struct relay_client *
client_find(struct relay *r, const uint8_t key[16])
{
	struct relay_client *c;

	if (r->chash == NULL)
		return NULL;
	LIST_FOREACH(c, &r->chash[client_hash(r, key)], hash)
		if (memcmp(c->key, key, 16) == 0)
			return c;
	return NULL;
}

static struct relay_client *
client_get(struct relay *r, const uint8_t key[16])
{
	struct relay_client *c = client_find(r, key);

	if (c != NULL)
		return c;
	if (r->chash == NULL &&
	    (r->chash = calloc(CLIENT_BUCKETS, sizeof(*r->chash))) == NULL)
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	memcpy(c->key, key, 16);
	TAILQ_INIT(&c->unproven);
	LIST_INSERT_HEAD(&r->chash[client_hash(r, key)], c, hash);
	TAILQ_INSERT_TAIL(&r->clients, c, all);
	r->nclients++;
	return c;
}

void
relay_client_drop(struct relay *r, struct relay_client *c)
{
	if (--c->nconn > 0)
		return;
	LIST_REMOVE(c, hash);
	TAILQ_REMOVE(&r->clients, c, all);
	r->nclients--;
	free(c);
}

/* A valid frame: the session is worth keeping from now on. */
void
relay_session_prove(struct relay_session *s)
{
	if (s->proven)
		return;
	s->proven = true;
	TAILQ_REMOVE(&s->cl->unproven, s, cl_entry);
	s->r->nunproven--;
}

/*
 * Count what the session's output buffers hold in its client's and the
 * relay's budgets. Called after every change we make and in the written
 * callbacks; between them the count may be high, never low.
 */
void
relay_session_account(struct relay_session *s)
{
	struct relay *r = s->r;
	size_t up = s->up.io != NULL ? relay_io_pending(s->up.io) : 0;
	size_t kit = s->kit.io != NULL ? relay_io_pending(s->kit.io) : 0;

	r->buffered = r->buffered - s->up.buffered - s->kit.buffered + up + kit;
	s->cl->buffered = s->cl->buffered - s->up.buffered - s->kit.buffered +
	    up + kit;
	s->up.buffered = up;
	s->kit.buffered = kit;
}

bool
relay_over_budget(const struct relay_session *s)
{
	return s->r->buffered > s->r->set.max_buffer_total ||
	    s->cl->buffered > s->r->set.client_buffer;
}

/* ------------------------------------------------------------------ */
/* Buffer budgets */

/*
 * Over a buffer budget: a session that never sent a valid frame and holds
 * BUDGET_CUT_MIN is cut (it is worth least and holds most); any other
 * stops reading the side that fills until its output is written.
 */
void
relay_budget_pause(struct relay_side *sd)
{
	struct relay_session *s = sd->s;
	struct relay *r = s->r;
	char a[ADDR_STRLEN];

	if (!s->proven && s->up.buffered + s->kit.buffered >= BUDGET_CUT_MIN) {
		r->st.budget_cuts++;
		if (relay_log_sample(r->st.budget_cuts))
			log_warnx("#%llu %s: buffers over budget (%zu bytes in "
			    "all, %zu for this client): closing a connection "
			    "that sent no valid frame (%llu so far)",
			    (unsigned long long)s->id, relay_fmt(&s->peer, a),
			    r->buffered, s->cl->buffered,
			    (unsigned long long)r->st.budget_cuts);
		relay_session_close(s, "cut: buffer budget");
		return;
	}
	r->st.budget_pauses++;
	relay_side_pause(sd);
}

/* ------------------------------------------------------------------ */
/* Accept */

/*
 * Sessions by the local port of their upstream socket. The kernel hands
 * out ephemeral ports spread over its range, so the low bits hash well;
 * the seed keeps a peer from picking the chain it lands on.
 */
static unsigned
upport_hash(const struct relay *r, uint16_t port)
{
	uint32_t h = ((uint32_t)port ^ r->cseed) * 2654435761u;

	return (h >> 16) & (UPPORT_BUCKETS - 1);
}

/* Index s by s->up_lport (set once its upstream socket has a port). */
void
relay_upport_add(struct relay_session *s)
{
	struct relay *r = s->r;

	if (s->up_indexed)
		return;
	if (r->uphash == NULL &&
	    (r->uphash = calloc(UPPORT_BUCKETS, sizeof(*r->uphash))) == NULL)
		return;	/* then looped connections go unrecognised */
	LIST_INSERT_HEAD(&r->uphash[upport_hash(r, s->up_lport)], s, up_entry);
	s->up_indexed = true;
}

void
relay_upport_del(struct relay_session *s)
{
	if (!s->up_indexed)
		return;
	LIST_REMOVE(s, up_entry);
	s->up_indexed = false;
}

/*
 * Is this connection one of our own upstream connections, redirected back
 * to us? It comes from this host, from the port one of our upstream
 * sockets has, and was going where that session's upstream goes. Only
 * connections from this host are looked at, so kits cost nothing here,
 * and those only cost the sessions whose upstream has the same port.
 */
static bool
session_is_own_upstream(struct relay *r, const struct sockaddr *peer, int fd)
{
	struct relay_session *s;
	struct addr orig;
	bool have_orig = false;
	uint16_t port;

	if (!addr_is_local(peer) || r->uphash == NULL)
		return false;
	port = htons((uint16_t)addr_port(peer));
	LIST_FOREACH(s, &r->uphash[upport_hash(r, port)], up_entry) {
		if (s->up.io == NULL || s->up_lport != port)
			continue;
		if (!have_orig) {
			orig.len = sizeof(orig.ss);
			if (origdst_get(fd, peer->sa_family, &orig.ss,
			    &orig.len) != 0)
				return false;
			have_orig = true;
		}
		if (addr_equal((struct sockaddr *)&orig.ss,
		    (struct sockaddr *)&s->target.ss))
			return true;
	}
	return false;
}

/*
 * The session to close for a newcomer from an address that holds n_new
 * sessions, or NULL. By worth: the sessions that sent no valid frame in
 * first_frame_grace go first (from the address holding the most); then,
 * for fairness, one with no valid frame from an address holding at least
 * two more than the newcomer's; both only for a newcomer whose address
 * holds less than its share; then the one idle longest (2 s at least).
 * Linear in the client addresses, and only when full.
 */
static struct relay_session *
pick_victim(struct relay *r, int n_new, int64_t now)
{
	struct relay_client *c, *stale = NULL, *fat = NULL;
	struct relay_session *s;
	int64_t grace = (int64_t)r->set.first_frame_grace * 1000;

	/*
	 * An address holding its share already takes no unproven session's
	 * place: LAN hosts holding all they can would only churn each other.
	 */
	if (r->nunproven > 0 && (n_new == 0 ||
	    (long long)n_new * r->nclients < r->nsessions)) {
		TAILQ_FOREACH(c, &r->clients, all) {
			if ((s = TAILQ_FIRST(&c->unproven)) == NULL)
				continue;
			if (now - s->started >= grace &&
			    (stale == NULL || c->nconn > stale->nconn))
				stale = c;
			if (fat == NULL || c->nconn > fat->nconn)
				fat = c;
		}
		if (stale != NULL)
			return TAILQ_FIRST(&stale->unproven);
		if (fat != NULL && fat->nconn >= n_new + 2)
			return TAILQ_FIRST(&fat->unproven);
	}
	s = TAILQ_FIRST(&r->sessions);
	if (s != NULL && now - s->last_active >= EVICT_MIN_IDLE * 1000)
		return s;
	return NULL;
}

static void
evict(struct relay *r, struct relay_session *old, const char *why)
{
	r->st.evicted++;
	if (relay_log_sample(r->st.evicted))
		log_warnx("%s: closing the connection worth least (%llu so "
		    "far)", why, (unsigned long long)r->st.evicted);
	relay_session_close(old, "evicted");
}

/*
 * Room for a newcomer from client c? Its own address
 * at client_connections gives up its oldest session with no valid frame
 * (after first_frame_grace); a full relay evicts by worth.
 */
static bool
make_room(struct relay *r, struct relay_client *c, int64_t now)
{
	struct relay_session *old;
	char why[96];

	/* c already counts the newcomer: it holds c->nconn - 1. */
	if (c->nconn - 1 >= r->set.client_connections) {
		old = TAILQ_FIRST(&c->unproven);
		if (old == NULL || now - old->started <
		    (int64_t)r->set.first_frame_grace * 1000)
			return false;
		snprintf(why, sizeof(why), "client_connections (%d) reached",
		    r->set.client_connections);
		evict(r, old, why);
		/* c lives on: the newcomer counts in it. */
	}
	if (r->nsessions < r->set.max_connections)
		return true;
	old = pick_victim(r, c->nconn - 1, now);
	if (old == NULL)
		return false;
	snprintf(why, sizeof(why), "max_connections (%d) reached",
	    r->set.max_connections);
	evict(r, old, why);
	return true;
}

void
relay_accept(struct evconnlistener *lis, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct relay *r = arg;
	struct relay_session *s = NULL;
	struct relay_client *c = NULL;
	const struct acl *clients;
	enum relay_target to;
	uint8_t key[16];
	int64_t now = relay_mono_ms();
	char a[ADDR_STRLEN + 8];

	(void)lis;
	r->st.accepted++;
	/* First: a loop is a loop, whatever allow_clients says. */
	if (session_is_own_upstream(r, sa, fd)) {
		r->st.refused_loop++;
		if (relay_log_sample(r->st.refused_loop))
			log_warnx("refused %s: our own upstream connection "
			    "came back (the OUTPUT redirect rule must exclude "
			    "the relay's user)", addr_format(sa, a, sizeof(a)));
		goto fail;
	}
	clients = acl_empty(&r->set.clients) ? &r->private_nets :
	    &r->set.clients;
	/* By default this host's own addresses are as good as loopback. */
	if (!acl_allows(clients, sa) &&
	    (clients != &r->private_nets || !addr_is_local(sa))) {
		r->st.refused_client++;
		if (relay_log_sample(r->st.refused_client))
			log_warnx("refused %s: not in allow_clients%s (%llu "
			    "refused so far)", addr_format(sa, a, sizeof(a)),
			    clients == &r->private_nets ? " (empty: private "
			    "networks and this host only)" : "",
			    (unsigned long long)r->st.refused_client);
		goto fail;
	}
	client_key(sa, key);
	if ((c = client_get(r, key)) == NULL) {
		log_warnx("out of memory for a client");
		goto fail;
	}
	c->nconn++;	/* the newcomer, from now on */
	if (!make_room(r, c, now)) {
		if (c->nconn - 1 >= r->set.client_connections) {
			r->st.refused_per_client++;
			if (relay_log_sample(r->st.refused_per_client))
				log_warnx("refused %s: client_connections (%d) "
				    "reached for this address, none without a "
				    "valid frame for %d s (%llu refused so far)",
				    addr_format(sa, a, sizeof(a)),
				    r->set.client_connections,
				    r->set.first_frame_grace,
				    (unsigned long long)r->st.refused_per_client);
		} else {
			r->st.refused_full++;
			if (relay_log_sample(r->st.refused_full))
				log_warnx("refused %s: max_connections (%d) "
				    "reached, none to evict (%llu refused so "
				    "far)", addr_format(sa, a, sizeof(a)),
				    r->set.max_connections,
				    (unsigned long long)r->st.refused_full);
		}
		goto fail;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		log_warnx("out of memory for a session");
		goto fail;
	}
	s->r = r;
	s->cl = c;
	s->id = ++r->next_id;
	s->started = s->last_active = now;
	if ((size_t)salen > sizeof(s->peer.ss))
		salen = sizeof(s->peer.ss);
	memcpy(&s->peer.ss, sa, (size_t)salen);
	s->peer.len = (socklen_t)salen;
	stream_init(&s->from_kit, r->out, STREAM_FROM_KIT,
	    addr_format(sa, a, sizeof(a)));
	stream_set_limit(&s->from_kit, r->set.reading_burst,
	    r->set.reading_rate);
	s->from_kit.defer = relay_defer_reading;
	s->from_kit.defer_sync = relay_defer_sync;
	s->from_kit.defer_arg = s;
	s->kit.io = relay_io_new(r->base, fd);
	if (s->kit.io == NULL) {
		log_warnx("out of memory for a session");
		goto fail;
	}
	fd = -1;	/* the connection's I/O owns it */
	c = NULL;	/* and the session its client */
	TAILQ_INSERT_TAIL(&r->sessions, s, entry);
	TAILQ_INSERT_TAIL(&s->cl->unproven, s, cl_entry);
	r->nunproven++;
	r->nsessions++;
	relay_session_start(s);

	to = relay_upstream_target(s, relay_io_fd(s->kit.io));
	if (to == TARGET_REFUSE) {
		relay_session_close(s, "refused: not a portal port");
		return;
	}
	if (to == TARGET_FORWARD)
		relay_upstream_connect(s);
	else
		r->st.served_local++;
	if (r->nsessions >= r->set.max_connections && !r->paused_full &&
	    r->nunproven == 0 &&
	    now - TAILQ_FIRST(&r->sessions)->last_active <
	    EVICT_MIN_IDLE * 1000) {
		/*
		 * Nothing to evict yet, by any rule: let the backlog wait
		 * instead.
		 */
		struct timeval tv = { EVICT_MIN_IDLE, 0 };

		r->paused_full = true;
		relay_listeners_enable(r, false);
		evtimer_add(r->backoff, &tv);
	}
	return;
fail:
	if (s != NULL && s->kit.io == NULL)
		free(s);
	if (c != NULL)
		relay_client_drop(r, c);
	if (fd >= 0)
		evutil_closesocket(fd);
}

