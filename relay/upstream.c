/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * upstream.c: where a session goes, and its upstream connection.
 *
 *   where to (original / fixed / none) ─> is it this host, not a portal
 *   port, or outside allow_upstream? ─ yes ─> local (or refused)
 *                                     └ no ──> connect (timeout)
 *
 *   An upstream that fails (refused, connect timeout, reset, stalled for
 *   idle_timeout with bytes pending) is dropped with a log line and the
 *   session carries on as a local server: nothing read from the kit is
 *   lost, since it was decoded when read. A fixed upstream given by name
 *   is looked up in a worker thread, never on the loop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "origdst.h"
#include "relay_private.h"
#include "resolve.h"

#define LOOKUP_TIMEOUT_MS 15000
#define LOOKUP_RETRY_MIN 5	/* seconds, doubling */
#define LOOKUP_RETRY_MAX 300

/* ------------------------------------------------------------------ */
/* The fixed upstream's name, looked up in a worker thread */

static void lookup_retry(evutil_socket_t, short, void *);

struct lookup {
	char host[256];
	char addrs[256];
	int err;		/* getaddrinfo's */
};

static void
lookup_work(void *arg)
{
	struct lookup *l = arg;

	l->err = resolve_addresses(l->host, 1, l->addrs, sizeof(l->addrs));
}

static void
lookup_again(struct relay *r)
{
	struct timeval tv;

	r->res_backoff = r->res_backoff == 0 ? LOOKUP_RETRY_MIN :
	    r->res_backoff * 2;
	if (r->res_backoff > LOOKUP_RETRY_MAX)
		r->res_backoff = LOOKUP_RETRY_MAX;
	tv.tv_sec = r->res_backoff;
	tv.tv_usec = 0;
	if (r->res_retry != NULL)
		evtimer_add(r->res_retry, &tv);
}

static void
lookup_done(void *arg, void *job, int err)
{
	struct relay *r = arg;
	struct lookup *l = job;
	char spec[300], msg[256], a[ADDR_STRLEN];
	struct addr got;

	if (err != 0 || l->err != 0) {
		lookup_again(r);
		log_warnx("upstream %s:%s: lookup failed: %s; kits are served "
		    "locally, next try in %d s", r->set.fixed_host,
		    r->set.fixed_port, err != 0 ? "timed out" :
		    gai_strerror(l->err), r->res_backoff);
		free(l);
		return;
	}
	/* Still the name the settings ask for (a reload may change it)? */
	if (r->set.mode == RELAY_UP_FIXED &&
	    strcmp(l->host, r->set.fixed_host) == 0) {
		snprintf(spec, sizeof(spec), strchr(l->addrs, ':') ?
		    "[%s]:%s" : "%s:%s", l->addrs, r->set.fixed_port);
		if (addr_parse(spec, false, &got, 1, msg, sizeof(msg)) == 1) {
			r->set.fixed = got;
			r->res_backoff = 0;
			log_info("upstream %s:%s is %s", r->set.fixed_host,
			    r->set.fixed_port,
			    relay_fmt(&r->set.fixed, a));
		} else
			log_warnx("upstream %s: %s", l->host, msg);
	}
	free(l);
}

/* Look the fixed upstream's name up, unless one is on its way. */
void
relay_lookup_start(struct relay *r)
{
	struct lookup *l;

	if (r->set.mode != RELAY_UP_FIXED ||
	    resolve_is_numeric(r->set.fixed_host))
		return;
	if (r->res == NULL)
		r->res = resolve_new(r->base, lookup_done, r);
	if (r->res_retry == NULL)
		r->res_retry = evtimer_new(r->base, lookup_retry, r);
	if (r->res == NULL || r->res_retry == NULL) {
		log_warnx("upstream %s: out of memory for its lookup",
		    r->set.fixed_host);
		return;
	}
	evtimer_del(r->res_retry);
	if (resolve_pending(r->res))
		return;
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		lookup_again(r);
		return;
	}
	snprintf(l->host, sizeof(l->host), "%s", r->set.fixed_host);
	if (resolve_start(r->res, lookup_work, free, l,
	    LOOKUP_TIMEOUT_MS) != 0) {
		/* EBUSY: a lookup that timed out still runs. */
		free(l);
		lookup_again(r);
	}
}

static void
lookup_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	relay_lookup_start(arg);
}

/* ------------------------------------------------------------------ */
/* The upstream connection */

/* Drop the upstream; the session goes on as a local server. */
void
relay_upstream_fail(struct relay_session *s, const char *why, int err)
{
	struct relay *r = s->r;
	char a[ADDR_STRLEN], b[ADDR_STRLEN];

	r->st.upstream_failed++;
	log_warnx("#%llu %s -> %s: upstream %s%s%s; serving the kit locally",
	    (unsigned long long)s->id, relay_fmt(&s->peer, a),
	    relay_fmt(&s->target, b), why, err ? ": " : "",
	    err ? strerror(err) : "");
	relay_side_close(&s->up);
	relay_session_account(s);
	s->up_state = UP_LOCAL;
	relay_side_resume(&s->kit);
	/* The kit may still be sending: read it to its end, then close. */
	relay_session_check_done(s);
}

static void
up_event(struct relay_io *io, short what, void *arg)
{
	struct relay_side *sd = arg;
	struct relay_session *s = sd->s;
	struct relay *r = s->r;
	struct timeval idle = { r->set.idle_timeout, 0 };

	if (what & RELAY_IO_CONNECTED) {
		s->up_state = UP_OPEN;
		r->st.forwarded++;
		/*
		 * A silent portal is normal while the kit talks: no read
		 * timeout until the kit has finished; a write that makes no
		 * progress for idle_timeout is a stalled upstream.
		 */
		relay_io_set_timeouts(io, s->kit.rd_eof ? &idle : NULL,
		    &idle);
		/* What the kit sent meanwhile is written when this returns. */
		relay_side_maybe_shut(sd);
		relay_session_check_done(s);
		return;
	}
	if (what & RELAY_IO_TIMEOUT) {
		if (s->up_state == UP_CONNECTING)
			relay_upstream_fail(s, "connect timed out", 0);
		else if (what & RELAY_IO_WRITING)
			relay_upstream_fail(s, "stalled (nothing written for "
			    "idle_timeout)", 0);
		else
			relay_session_close(s, "upstream silent after the kit "
			    "finished");
		return;
	}
	if (what & RELAY_IO_ERROR) {
		int e = errno;

		if (s->up_state == UP_CONNECTING)
			relay_upstream_fail(s, "connect failed", e);
		else if (s->kit.rd_eof && relay_io_pending(io) == 0) {
			/* Everything was delivered; the reset came after. */
			relay_upport_del(s);
			relay_io_free(sd->io);
			sd->io = NULL;
			relay_session_account(s);
			s->up_state = UP_LOCAL;
			relay_session_check_done(s);
		} else
			relay_upstream_fail(s, "failed", e);
		return;
	}
	if (what & RELAY_IO_EOF)
		relay_side_eof(sd);
}

static bool
relay_listens_on(const struct relay *r, unsigned port)
{
	for (int i = 0; i < r->nlis; i++)
		if (r->lport[i] == port)
			return true;
	return false;
}

static bool
portal_port(const struct relay *r, unsigned port)
{
	for (int i = 0; i < r->set.nports; i++)
		if (r->set.ports[i] == port)
			return true;
	return false;
}

/*
 * Where this session should go: forward, serve locally, or refuse (a
 * redirected connection for a port that is not the portal's: the rule is
 * too broad, and whatever it is, it is not a kit). Logs why a redirected
 * connection is not forwarded.
 */
enum relay_target
relay_upstream_target(struct relay_session *s, int fd)
{
	struct relay *r = s->r;
	struct sockaddr_storage self;
	socklen_t sl = sizeof(self);
	char a[ADDR_STRLEN], b[ADDR_STRLEN];

	switch (r->set.mode) {
	case RELAY_UP_NONE:
		return TARGET_LOCAL;
	case RELAY_UP_FIXED:
		s->target = r->set.fixed;
		if (s->target.len == 0) {
			r->st.unresolved++;
			if (relay_log_sample(r->st.unresolved))
				log_warnx("#%llu %s: upstream %s:%s not looked "
				    "up yet: served locally (%llu so far)",
				    (unsigned long long)s->id, relay_fmt(&s->peer, a),
				    r->set.fixed_host, r->set.fixed_port,
				    (unsigned long long)r->st.unresolved);
			return TARGET_LOCAL;
		}
		break;
	case RELAY_UP_ORIGINAL:
		s->target.len = sizeof(s->target.ss);
		if (origdst_get(fd, s->peer.ss.sa.sa_family, &s->target.ss,
		    &s->target.len) != 0) {
			s->target.len = 0;
			log_debug("#%llu %s: no original destination: "
			    "served locally", (unsigned long long)s->id,
			    relay_fmt(&s->peer, a));
			return TARGET_LOCAL;
		}
		if (getsockname(fd, (struct sockaddr *)&self, &sl) == 0 &&
		    addr_equal((struct sockaddr *)&self,
		    (struct sockaddr *)&s->target.ss)) {
			log_debug("#%llu %s: direct connection: served "
			    "locally", (unsigned long long)s->id,
			    relay_fmt(&s->peer, a));
			s->target.len = 0;
			return TARGET_LOCAL;
		}
		break;
	}
	/*
	 * An original destination on this host was not redirected from
	 * elsewhere: never forward it. A fixed upstream on this host is the
	 * operator's choice (a local portal), unless it is ourselves.
	 */
	if (addr_is_local((struct sockaddr *)&s->target.ss) &&
	    (r->set.mode == RELAY_UP_ORIGINAL ||
	    relay_listens_on(r, addr_port((struct sockaddr *)&s->target.ss)))) {
		log_info("#%llu %s: destination %s is this host: served "
		    "locally, not forwarded", (unsigned long long)s->id,
		    relay_fmt(&s->peer, a), relay_fmt(&s->target, b));
		s->target.len = 0;
		return TARGET_LOCAL;
	}
	/* Whatever it is, a connection for another port is not a kit's. */
	if (r->set.mode == RELAY_UP_ORIGINAL &&
	    !portal_port(r, addr_port((struct sockaddr *)&s->target.ss))) {
		r->st.refused_port++;
		if (relay_log_sample(r->st.refused_port))
			log_warnx("#%llu %s: destination %s is not a portal port "
			    "(portal_ports): refused, not forwarded; is the "
			    "redirect rule too broad? (%llu so far)",
			    (unsigned long long)s->id, relay_fmt(&s->peer, a),
			    relay_fmt(&s->target, b),
			    (unsigned long long)r->st.refused_port);
		s->target.len = 0;
		return TARGET_REFUSE;
	}
	/* No list: any public address, never the LAN's (an open proxy). */
	if (r->set.mode == RELAY_UP_ORIGINAL && acl_empty(&r->set.upstreams) &&
	    acl_allows(&r->private_nets, (struct sockaddr *)&s->target.ss)) {
		r->st.not_public++;
		if (relay_log_sample(r->st.not_public))
			log_warnx("#%llu %s: destination %s is a private address "
			    "and allow_upstream is empty: served locally, not "
			    "forwarded (%llu so far)", (unsigned long long)s->id,
			    relay_fmt(&s->peer, a), relay_fmt(&s->target, b),
			    (unsigned long long)r->st.not_public);
		s->target.len = 0;
		return TARGET_LOCAL;
	}
	if (!acl_allows(&r->set.upstreams, (struct sockaddr *)&s->target.ss)) {
		log_warnx("#%llu %s: destination %s is not in allow_upstream: "
		    "served locally, not forwarded", (unsigned long long)s->id,
		    relay_fmt(&s->peer, a), relay_fmt(&s->target, b));
		s->target.len = 0;
		return TARGET_LOCAL;
	}
	return TARGET_FORWARD;
}

void
relay_upstream_connect(struct relay_session *s)
{
	struct relay *r = s->r;
	struct timeval ct = { r->set.connect_timeout, 0 };
	struct sockaddr_storage me;
	socklen_t ml = sizeof(me);

	s->up.io = relay_io_new(r->base, -1);
	if (s->up.io == NULL) {
		log_warnx("#%llu: out of memory for the upstream",
		    (unsigned long long)s->id);
		return;
	}
	relay_io_setcb(s->up.io, relay_side_read, relay_side_written,
	    up_event, &s->up);
	relay_io_set_max_read(s->up.io, SINGLE_READ);
	/* While connecting, the write timeout is the connect timeout. */
	relay_io_set_timeouts(s->up.io, NULL, &ct);
	s->up_state = UP_CONNECTING;
	if (relay_io_connect(s->up.io,
	    (struct sockaddr *)&s->target.ss, s->target.len) != 0) {
		/* up_event has not run: fail it here. */
		relay_upstream_fail(s, "connect failed", errno);
		return;
	}
	/*
	 * The local port is bound by connect() itself: note it now, since
	 * our own connection, if a rule loops it back, may be accepted
	 * before we learn that it connected.
	 */
	if (getsockname(relay_io_fd(s->up.io), (struct sockaddr *)&me,
	    &ml) == 0) {
		s->up_lport = htons((uint16_t)addr_port(
		    (struct sockaddr *)&me));
		relay_upport_add(s);
	}
	relay_io_enable(s->up.io, EV_READ);
}

