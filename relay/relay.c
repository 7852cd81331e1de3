/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * relay.c: the relay as a whole: settings, listeners, reloads, draining,
 * statistics. A connection's way in is admit.c, its life session.c, its
 * upstream upstream.c (see relay_private.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "log.h"
#include "relay_private.h"
#include "resolve.h"

#define BACKOFF_SEC 1		/* accept pause after EMFILE/ENFILE */
/* Per session, for max_connections from memory: ours and the kernel's. */
#define SESSION_COST 8192

/* ------------------------------------------------------------------ */
/* Settings */

/* Every "[ADDR:]PORT" of a listen list parses (for -n and reloads). */
static int
relay_check_listen(const char *list, char *err, size_t errlen)
{
	struct addr a[4];
	char spec[CONFIG_STR];
	const char *p = list;
	size_t len;
	int n = 0;

	for (;;) {
		p += strspn(p, " \t,");
		if (*p == '\0')
			break;
		len = strcspn(p, " \t,");
		if (len >= sizeof(spec)) {
			snprintf(err, errlen, "entry too long");
			return -1;
		}
		memcpy(spec, p, len);
		spec[len] = '\0';
		p += len;
		if (addr_parse(spec, true, a, 4, err, errlen) < 0)
			return -1;
		n++;
	}
	if (n == 0) {
		snprintf(err, errlen, "no address to listen on");
		return -1;
	}
	return 0;
}

int
relay_settings_from_config(struct relay_settings *set, const struct config *c,
    int fds_kept, char *err, size_t errlen)
{
	char msg[256];
	struct rlimit rl;
	unsigned per;

	memset(set, 0, sizeof(*set));
	if (strcmp(c->upstream, "original") == 0)
		set->mode = RELAY_UP_ORIGINAL;
	else if (strcmp(c->upstream, "none") == 0)
		set->mode = RELAY_UP_NONE;
	else {
		set->mode = RELAY_UP_FIXED;
		if (addr_split(c->upstream, false, set->fixed_host,
		    sizeof(set->fixed_host), set->fixed_port,
		    sizeof(set->fixed_port), msg, sizeof(msg)) != 0 ||
		    (resolve_is_numeric(set->fixed_host) &&
		    addr_parse(c->upstream, false, &set->fixed, 1, msg,
		    sizeof(msg)) < 0)) {
			snprintf(err, errlen, "upstream: %s (expected "
			    "original, none or HOST:PORT)", msg);
			return -1;
		}
		/* A name is looked up off the loop (relay_apply). */
	}
	if ((set->nports = config_ports(c->portal_ports, set->ports, 16, msg,
	    sizeof(msg))) < 0) {
		snprintf(err, errlen, "portal_ports: %s", msg);
		return -1;
	}
	if (relay_check_listen(c->listen, msg, sizeof(msg)) != 0) {
		snprintf(err, errlen, "listen: %s", msg);
		return -1;
	}
	if (acl_parse(&set->clients, c->allow_clients, msg, sizeof(msg)) != 0) {
		snprintf(err, errlen, "allow_clients: %s", msg);
		return -1;
	}
	if (acl_parse(&set->upstreams, c->allow_upstream, msg,
	    sizeof(msg)) != 0) {
		snprintf(err, errlen, "allow_upstream: %s", msg);
		return -1;
	}
	set->connect_timeout = c->connect_timeout;
	set->idle_timeout = c->idle_timeout;
	set->max_buffer = (size_t)c->max_buffer;
	set->max_buffer_total = (size_t)c->max_buffer_total;
	set->client_connections = c->client_connections;
	set->client_buffer = (size_t)c->client_buffer;
	set->first_frame_grace = c->first_frame_grace;
	set->reading_burst = (unsigned)c->reading_burst;
	set->reading_rate = (unsigned)c->reading_rate;
	set->max_connections = c->max_connections;
	/*
	 * Two descriptors a session; 64 kept for logs and outputs, and
	 * fds_kept for the [http] server's clients.
	 */
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 ||
	    rl.rlim_cur == RLIM_INFINITY)
		rl.rlim_cur = 1024;
	rl.rlim_cur = rl.rlim_cur > (rlim_t)fds_kept ?
	    rl.rlim_cur - (rlim_t)fds_kept : 0;
	/*
	 * More than the descriptors allow would end in EMFILE before the
	 * limit, where nothing is evicted and kits wait: never above it.
	 */
	per = set->mode == RELAY_UP_NONE ? 1 : 2;
	if (rl.rlim_cur > 96 && set->max_connections >
	    (int)((rl.rlim_cur - 64) / per)) {
		set->max_connections_asked = set->max_connections;
		set->max_connections = (int)((rl.rlim_cur - 64) / per);
	}
	if (set->max_connections == 0) {
		long pages = sysconf(_SC_PHYS_PAGES);
		long psize = sysconf(_SC_PAGESIZE);
		long long bymem;

		set->max_connections = rl.rlim_cur > 96 ?
		    (int)((rl.rlim_cur - 64) / 2) : 16;
		/*
		 * And an eighth of the RAM at SESSION_COST a session (the
		 * buffers have max_buffer_total besides): 8192 sessions on a
		 * 512 MiB Raspberry Pi.
		 */
		if (pages > 0 && psize > 0) {
			bymem = (long long)pages * psize / 8 / SESSION_COST;
			if (bymem < 16)
				bymem = 16;
			if (bymem < set->max_connections)
				set->max_connections = (int)bymem;
		}
	}
	return 0;
}

void
relay_init(struct relay *r, struct event_base *base, struct outputs *out)
{
	char err[128];

	memset(r, 0, sizeof(*r));
	r->base = base;
	r->out = out;
	TAILQ_INIT(&r->sessions);
	TAILQ_INIT(&r->clients);
	if (getrandom(&r->cseed, sizeof(r->cseed), GRND_NONBLOCK) !=
	    sizeof(r->cseed))
		r->cseed = (uint32_t)relay_mono_ms() ^ (uint32_t)getpid();
	(void)acl_parse(&r->private_nets, ACL_PRIVATE_NETS, err, sizeof(err));
}

void
relay_apply(struct relay *r, const struct relay_settings *set)
{
	struct addr keep = r->set.fixed;
	bool same_name = r->set.mode == RELAY_UP_FIXED &&
	    set->mode == RELAY_UP_FIXED &&
	    strcmp(r->set.fixed_host, set->fixed_host) == 0 &&
	    strcmp(r->set.fixed_port, set->fixed_port) == 0;

	r->set = *set;
	if (set->max_connections_asked > 0)
		log_warnx("max_connections %d is more than the open-files limit "
		    "allows: %d", set->max_connections_asked,
		    set->max_connections);
	if (set->mode == RELAY_UP_FIXED && !resolve_is_numeric(set->fixed_host)) {
		/* The address found last serves until the new lookup ends. */
		if (same_name)
			r->set.fixed = keep;
		r->res_backoff = 0;
		if (r->res != NULL && resolve_pending(r->res) && !same_name) {
			/* Its answer is for the old name: let it go. */
			resolve_free(r->res);
			r->res = NULL;
		}
		relay_lookup_start(r);
	}
	/* A lower limit takes effect as sessions end; a higher one now. */
	if (r->paused_full && r->nsessions < r->set.max_connections) {
		r->paused_full = false;
		relay_listeners_enable(r, true);
	}
}

void
relay_listeners_enable(struct relay *r, bool on)
{
	for (int i = 0; i < r->nlis; i++) {
		if (on)
			evconnlistener_enable(r->lis[i]);
		else
			evconnlistener_disable(r->lis[i]);
	}
}

/*
 * End of an accept pause: after EMFILE/ENFILE, or while full with no
 * session idle long enough to evict (by now one may be).
 */
static void
backoff_done(evutil_socket_t fd, short what, void *arg)
{
	struct relay *r = arg;

	(void)fd;
	(void)what;
	r->paused_full = false;
	if (!r->draining)
		relay_listeners_enable(r, true);
}

static void
accept_error(struct evconnlistener *lis, void *arg)
{
	struct relay *r = arg;
	int e = EVUTIL_SOCKET_ERROR();
	struct timeval tv = { BACKOFF_SEC, 0 };

	(void)lis;
	r->st.accept_errors++;
	if (relay_log_sample(r->st.accept_errors))
		log_warnx("accept: %s: pausing for %d s (%llu errors so far)",
		    strerror(e), BACKOFF_SEC,
		    (unsigned long long)r->st.accept_errors);
	/* Out of descriptors or memory: retrying at once would spin. */
	relay_listeners_enable(r, false);
	evtimer_add(r->backoff, &tv);
}

int
relay_listen(struct relay *r, const char *list, char *err, size_t errlen)
{
	struct addr addrs[4];
	char spec[CONFIG_STR], msg[256], a[ADDR_STRLEN];
	const char *p = list;
	size_t len;
	int n, one = 1;

	if (r->backoff == NULL &&
	    (r->backoff = evtimer_new(r->base, backoff_done, r)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (;;) {
		p += strspn(p, " \t,");
		if (*p == '\0')
			break;
		len = strcspn(p, " \t,");
		if (len >= sizeof(spec)) {
			snprintf(err, errlen, "listen: entry too long");
			return -1;
		}
		memcpy(spec, p, len);
		spec[len] = '\0';
		p += len;
		n = addr_parse(spec, true, addrs, 4, msg, sizeof(msg));
		if (n < 0) {
			snprintf(err, errlen, "listen: %s", msg);
			return -1;
		}
		for (int i = 0; i < n; i++) {
			struct sockaddr *sa = (struct sockaddr *)&addrs[i].ss;
			evutil_socket_t fd;

			if (r->nlis >= RELAY_LISTEN_MAX) {
				snprintf(err, errlen, "listen: more than %d "
				    "addresses", RELAY_LISTEN_MAX);
				return -1;
			}
			fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK |
			    SOCK_CLOEXEC, 0);
			if (fd < 0 && sa->sa_family == AF_INET6 && n > 1) {
				log_warn("IPv6 unavailable, not listening on %s",
				    addr_format(sa, a, sizeof(a)));
				continue;
			}
			if (fd < 0) {
				snprintf(err, errlen, "socket: %s",
				    strerror(errno));
				return -1;
			}
			(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
			    sizeof(one));
			/* One socket per family: :: must not take 0.0.0.0. */
			if (sa->sa_family == AF_INET6)
				(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY,
				    &one, sizeof(one));
			if (bind(fd, sa, addrs[i].len) != 0) {
				snprintf(err, errlen, "bind %s: %s",
				    addr_format(sa, a, sizeof(a)),
				    strerror(errno));
				close(fd);
				return -1;
			}
			r->lis[r->nlis] = evconnlistener_new(r->base,
			    relay_accept, r, LEV_OPT_CLOSE_ON_FREE, 1024, fd);
			if (r->lis[r->nlis] == NULL) {
				snprintf(err, errlen, "listen %s: %s",
				    addr_format(sa, a, sizeof(a)),
				    strerror(errno));
				close(fd);
				return -1;
			}
			evconnlistener_set_error_cb(r->lis[r->nlis],
			    accept_error);
			r->lport[r->nlis] = addr_port(sa);
			log_info("listening on %s",
			    addr_format(sa, a, sizeof(a)));
			r->nlis++;
		}
	}
	if (r->nlis == 0) {
		snprintf(err, errlen, "listen: no address to listen on");
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Draining, statistics, freeing */

void
relay_drain(struct relay *r, void (*drained)(struct relay *))
{
	r->draining = true;
	r->drained = drained;
	for (int i = 0; i < r->nlis; i++)
		evconnlistener_free(r->lis[i]);
	r->nlis = 0;
	if (r->nsessions == 0 && drained != NULL)
		drained(r);
}

void
relay_close_all(struct relay *r, const char *why)
{
	void (*drained)(struct relay *) = r->drained;

	/* Closing the last one must not call back into the caller. */
	r->drained = NULL;
	while (!TAILQ_EMPTY(&r->sessions))
		relay_session_close(TAILQ_FIRST(&r->sessions), why);
	r->drained = drained;
}

void
relay_stats(const struct relay *r, struct relay_stats *out)
{
	const struct relay_session *s;

	*out = r->st;
	TAILQ_FOREACH(s, &r->sessions, entry) {
		out->bytes_to_cloud += s->kit.bytes;
		out->bytes_from_cloud += s->up.bytes;
		out->frames += s->from_kit.st.frames;
		out->readings += s->from_kit.st.readings;
		out->texts += s->from_kit.st.texts;
		out->rejects += s->from_kit.st.rejects;
		out->limited += s->from_kit.st.limited;
		if (s->from_portal != NULL)
			out->cloud_frames += s->from_portal->st.frames;
	}
}

void
relay_log_stats(const struct relay *r, const char *when)
{
	struct relay_stats st;

	relay_stats(r, &st);
	log_info("stats (%s): %d open, %llu accepted, %llu forwarded, "
	    "%llu served locally, %llu upstream failures, refused: %llu "
	    "client, %llu full, %llu loop, %llu per client, %llu port; "
	    "%llu evicted, %llu idle timeouts, %llu accept errors", when,
	    r->nsessions,
	    (unsigned long long)st.accepted, (unsigned long long)st.forwarded,
	    (unsigned long long)st.served_local,
	    (unsigned long long)st.upstream_failed,
	    (unsigned long long)st.refused_client,
	    (unsigned long long)st.refused_full,
	    (unsigned long long)st.refused_loop,
	    (unsigned long long)st.refused_per_client,
	    (unsigned long long)st.refused_port,
	    (unsigned long long)st.evicted,
	    (unsigned long long)st.idle_timeouts,
	    (unsigned long long)st.accept_errors);
	log_info("stats (%s): %zu bytes buffered, %llu budget pauses, %llu "
	    "budget cuts; %llu private destinations, %llu upstream not "
	    "looked up; %llu readings over the rate", when, r->buffered,
	    (unsigned long long)st.budget_pauses,
	    (unsigned long long)st.budget_cuts,
	    (unsigned long long)st.not_public,
	    (unsigned long long)st.unresolved,
	    (unsigned long long)st.limited);
	log_info("stats (%s): %llu bytes from kits, %llu bytes from "
	    "upstreams; %llu frames, %llu readings, %llu texts, %llu rejected; "
	    "%llu frames from upstreams", when,
	    (unsigned long long)st.bytes_to_cloud,
	    (unsigned long long)st.bytes_from_cloud,
	    (unsigned long long)st.frames, (unsigned long long)st.readings,
	    (unsigned long long)st.texts, (unsigned long long)st.rejects,
	    (unsigned long long)st.cloud_frames);
}

void
relay_free(struct relay *r)
{
	relay_close_all(r, "shutting down");
	relay_defer_free(r);
	for (int i = 0; i < r->nlis; i++)
		evconnlistener_free(r->lis[i]);
	r->nlis = 0;
	if (r->backoff != NULL)
		event_free(r->backoff);
	r->backoff = NULL;
	/* A lookup still running is its thread's to end. */
	if (r->res != NULL)
		resolve_free(r->res);
	r->res = NULL;
	if (r->res_retry != NULL)
		event_free(r->res_retry);
	r->res_retry = NULL;
	free(r->chash);
	r->chash = NULL;
	free(r->uphash);
	r->uphash = NULL;
}
