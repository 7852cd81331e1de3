/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * relay.c: accept, connect, copy, decode alongside, tear down.
 *
 * A session's life:
 *
 *   accept ─> client allowed? ─> room? ─> own connection looped back?
 *          ─> where to (original / fixed / none) ─> is it this host or
 *             outside allow_upstream? ─ yes ─> local
 *                                      └ no ──> connect (timeout)
 *
 *   Each direction ends on its own: the kit's FIN becomes our FIN to the
 *   upstream once its output is written, and the other way round. The
 *   session ends when both directions have (relay_session_finished), or on
 *   an idle timeout, and always through relay_session_close.
 *
 *   An upstream that fails (refused, connect timeout, reset, stalled for
 *   idle_timeout with bytes pending) is dropped with a log line and the
 *   session carries on as a local server: nothing read from the kit is
 *   lost, since it was decoded when read.
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
#include <event2/bufferevent.h>

#include "log.h"
#include "origdst.h"
#include "relay.h"
#include "resolve.h"
#include "stream.h"

#define EVICT_MIN_IDLE 2	/* seconds idle before a session may be evicted */
#define BACKOFF_SEC 1		/* accept pause after EMFILE/ENFILE */
#define CLIENT_BUCKETS 4096	/* client address hash (a power of two) */
/*
 * Reads smaller than this are copied into the other side's output rather
 * than moved: a chain moved per byte dripped would cost a kilobyte a byte.
 */
#define COALESCE_BELOW 2048
#define SINGLE_READ 4096	/* bytes read per callback: budget overshoot */
#define BUDGET_CUT_MIN 4096	/* an unproven session holding this is cut */
#define LOOKUP_TIMEOUT_MS 15000
#define LOOKUP_RETRY_MIN 5	/* seconds, doubling */
#define LOOKUP_RETRY_MAX 300
/* Per session, for max_connections from memory: ours and the kernel's. */
#define SESSION_COST 8192

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

struct relay_session {
	TAILQ_ENTRY(relay_session) entry;
	TAILQ_ENTRY(relay_session) cl_entry;	/* in cl->unproven */
	struct relay *r;
	struct relay_client *cl;
	uint64_t id;
	struct bufferevent *kit, *up;
	struct event *stall;	/* kit paused too long: upstream too slow */
	enum up_state up_state;
	bool kit_rd_eof;	/* the kit sent FIN, or its side failed */
	bool kit_gone;		/* nothing more can be written to the kit */
	bool kit_wr_shut;
	bool kit_paused;	/* kit reading stopped: upstream output full */
	bool up_rd_eof;
	bool up_wr_shut;
	bool up_paused;		/* upstream reading stopped: kit output full */
	bool stream_ended;
	bool proven;		/* a valid frame came from the kit */
	uint16_t up_lport;	/* our upstream socket's port, network order */
	int64_t started, last_active;	/* monotonic ms */
	size_t buf_up, buf_kit;	/* output bytes counted in the budgets */
	uint64_t bytes_up, bytes_down;
	struct addr peer;
	struct addr target;
	struct stream to_cloud;
	struct stream *from_cloud;	/* only once the upstream speaks */
};

static void session_close(struct relay_session *, const char *);
static void listeners_enable(struct relay *, bool);
static void kit_resume(struct relay_session *);

/* Log the first and then every 1000th of a repeated condition. */
static bool
log_sample(uint64_t count)
{
	return count % 1000 == 1;
}

static const char *
fmt(const struct addr *a, char *buf)
{
	return addr_format((const struct sockaddr *)&a->ss, buf, ADDR_STRLEN);
}

static void
now_tv(struct timeval *tv)
{
	gettimeofday(tv, NULL);
}

/* Every interval is measured here: a wall-clock step must not matter. */
static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
    char *err, size_t errlen)
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
	/* Two descriptors a session, some kept for logs and outputs. */
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 ||
	    rl.rlim_cur == RLIM_INFINITY)
		rl.rlim_cur = 1024;
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

static void lookup_start(struct relay *);

static void
lookup_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	lookup_start(arg);
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
		r->cseed = (uint32_t)mono_ms() ^ (uint32_t)getpid();
	(void)acl_parse(&r->private_nets, ACL_PRIVATE_NETS, err, sizeof(err));
}

/* ------------------------------------------------------------------ */
/* The fixed upstream's name, looked up in a worker thread */

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
			    fmt(&r->set.fixed, a));
		} else
			log_warnx("upstream %s: %s", l->host, msg);
	}
	free(l);
}

/* Look the fixed upstream's name up, unless one is on its way. */
static void
lookup_start(struct relay *r)
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
		lookup_start(r);
	}
	/* A lower limit takes effect as sessions end; a higher one now. */
	if (r->paused_full && r->nsessions < r->set.max_connections) {
		r->paused_full = false;
		listeners_enable(r, true);
	}
}

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

static void
client_drop(struct relay *r, struct relay_client *c)
{
	if (--c->nconn > 0)
		return;
	LIST_REMOVE(c, hash);
	TAILQ_REMOVE(&r->clients, c, all);
	r->nclients--;
	free(c);
}

/* A valid frame: the session is worth keeping from now on. */
static void
session_prove(struct relay_session *s)
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
static void
session_account(struct relay_session *s)
{
	struct relay *r = s->r;
	size_t up = s->up != NULL ?
	    evbuffer_get_length(bufferevent_get_output(s->up)) : 0;
	size_t kit = s->kit != NULL ?
	    evbuffer_get_length(bufferevent_get_output(s->kit)) : 0;

	r->buffered = r->buffered - s->buf_up - s->buf_kit + up + kit;
	s->cl->buffered = s->cl->buffered - s->buf_up - s->buf_kit + up + kit;
	s->buf_up = up;
	s->buf_kit = kit;
}

static bool
over_budget(const struct relay_session *s)
{
	return s->r->buffered > s->r->set.max_buffer_total ||
	    s->cl->buffered > s->r->set.client_buffer;
}

/* Move n bytes from in to out without a chain per tiny read. */
static void
move_bytes(struct evbuffer *out, struct evbuffer *in, size_t n)
{
	unsigned char *p;

	if (n < COALESCE_BELOW && (p = evbuffer_pullup(in, (ev_ssize_t)n)) !=
	    NULL) {
		if (evbuffer_add(out, p, n) == 0) {
			evbuffer_drain(in, n);
			return;
		}
	}
	evbuffer_add_buffer(out, in);
}

/* ------------------------------------------------------------------ */
/* Session teardown and the end of each direction */

static void
session_touch(struct relay_session *s)
{
	s->last_active = mono_ms();
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
	stream_end(&s->to_cloud, &now);
	if (s->from_cloud != NULL)
		stream_end(s->from_cloud, &now);
}

/*
 * Free a bufferevent and close its socket now: with deferred callbacks
 * libevent may close it only on a later loop pass, and a burst of
 * evictions in one accept loop would then run out of descriptors.
 */
static void
bev_close(struct bufferevent *bev)
{
	evutil_socket_t fd = bufferevent_getfd(bev);

	if (fd >= 0 && bufferevent_setfd(bev, -1) == 0)
		evutil_closesocket(fd);
	bufferevent_free(bev);
}

/* The one way a session ends. */
static void
session_close(struct relay_session *s, const char *why)
{
	struct relay *r = s->r;
	char a[ADDR_STRLEN], b[ADDR_STRLEN];

	session_end_streams(s);
	r->st.frames += s->to_cloud.st.frames;
	r->st.readings += s->to_cloud.st.readings;
	r->st.texts += s->to_cloud.st.texts;
	r->st.rejects += s->to_cloud.st.rejects;
	r->st.limited += s->to_cloud.st.limited;
	if (s->from_cloud != NULL)
		r->st.cloud_frames += s->from_cloud->st.frames;
	r->st.bytes_to_cloud += s->bytes_up;
	r->st.bytes_from_cloud += s->bytes_down;
	if (log_enabled(LOG_LVL_DEBUG))
		log_debug("#%llu %s -> %s: %llu bytes up, %llu down, "
		    "%llu readings: %s", (unsigned long long)s->id,
		    fmt(&s->peer, a),
		    s->target.len ? fmt(&s->target, b) : "local",
		    (unsigned long long)s->bytes_up,
		    (unsigned long long)s->bytes_down,
		    (unsigned long long)s->to_cloud.st.readings, why);

	if (s->kit != NULL)
		bev_close(s->kit);
	if (s->up != NULL)
		bev_close(s->up);
	s->kit = s->up = NULL;
	session_account(s);
	if (s->stall != NULL)
		event_free(s->stall);
	free(s->from_cloud);
	if (!s->proven) {
		TAILQ_REMOVE(&s->cl->unproven, s, cl_entry);
		r->nunproven--;
	}
	client_drop(r, s->cl);
	TAILQ_REMOVE(&r->sessions, s, entry);
	r->nsessions--;
	free(s);

	if (r->paused_full && !r->draining &&
	    r->nsessions < r->set.max_connections) {
		r->paused_full = false;
		listeners_enable(r, true);
	}
	if (r->draining && r->nsessions == 0 && r->drained != NULL)
		r->drained(r);
}

/*
 * Both directions over? Kit side: it sent its FIN (or failed) and what we
 * owe it is written. Upstream side: gone, or our FIN sent and its FIN seen
 * (or the kit is gone, so nobody would read the rest).
 */
static void
session_check_done(struct relay_session *s)
{
	bool kit_done = s->kit_gone ||
	    (s->kit_rd_eof &&
	     evbuffer_get_length(bufferevent_get_output(s->kit)) == 0);
	bool up_done = s->up_state == UP_LOCAL ||
	    (s->up_wr_shut && (s->up_rd_eof || s->kit_gone));

	if (kit_done && up_done)
		session_close(s, s->up_state == UP_LOCAL ? "served locally" :
		    "both sides closed");
}

static void
shut_write(struct bufferevent *bev)
{
	bufferevent_disable(bev, EV_WRITE);
	(void)shutdown(bufferevent_getfd(bev), SHUT_WR);
}

/* Forward the kit's FIN once its bytes are all written upstream. */
static void
up_maybe_shut(struct relay_session *s)
{
	if (s->up_state != UP_OPEN || s->up_wr_shut || !s->kit_rd_eof ||
	    evbuffer_get_length(bufferevent_get_output(s->up)) > 0)
		return;
	shut_write(s->up);
	s->up_wr_shut = true;
}

/*
 * Forward the upstream's FIN once its bytes are all written to the kit.
 * If the kit has finished too, the session is about to close, and the
 * close sends the FIN: no shutdown call needed.
 */
static void
kit_maybe_shut(struct relay_session *s)
{
	if (s->kit_gone || s->kit_wr_shut || !s->up_rd_eof ||
	    evbuffer_get_length(bufferevent_get_output(s->kit)) > 0)
		return;
	if (s->kit_rd_eof && s->up_wr_shut)
		return;
	shut_write(s->kit);
	s->kit_wr_shut = true;
}

/* Drop the upstream; the session goes on as a local server. */
static void
upstream_fail(struct relay_session *s, const char *why, int err)
{
	struct relay *r = s->r;
	char a[ADDR_STRLEN], b[ADDR_STRLEN];

	r->st.upstream_failed++;
	log_warnx("#%llu %s -> %s: upstream %s%s%s; serving the kit locally",
	    (unsigned long long)s->id, fmt(&s->peer, a), fmt(&s->target, b),
	    why, err ? ": " : "", err ? strerror(err) : "");
	bev_close(s->up);
	s->up = NULL;
	session_account(s);
	s->up_state = UP_LOCAL;
	kit_resume(s);
	/* The kit may still be sending: read it to its end, then close. */
	session_check_done(s);
}

/* ------------------------------------------------------------------ */
/* Kit side */

static void
stall_expired(evutil_socket_t fd, short what, void *arg)
{
	struct relay_session *s = arg;

	(void)fd;
	(void)what;
	if (s->up != NULL && s->kit_paused)
		upstream_fail(s, "too slow (output full for connect_timeout)",
		    0);
}

/*
 * Backpressure: stop reading the kit while the upstream's output is full.
 * An upstream that keeps it full for connect_timeout (one reading a byte
 * a second) is given up, so the kit is still read to its end.
 */
static void
kit_pause(struct relay_session *s)
{
	struct timeval tv = { s->r->set.connect_timeout, 0 };

	s->kit_paused = true;
	bufferevent_disable(s->kit, EV_READ);
	if (s->stall == NULL)
		s->stall = evtimer_new(s->r->base, stall_expired, s);
	if (s->stall != NULL)
		evtimer_add(s->stall, &tv);
}

static void
kit_resume(struct relay_session *s)
{
	if (!s->kit_paused)
		return;
	s->kit_paused = false;
	if (s->stall != NULL)
		evtimer_del(s->stall);
	if (!s->kit_rd_eof)
		bufferevent_enable(s->kit, EV_READ);
}

static void
feed_stream(struct stream *st, struct evbuffer *in, size_t n)
{
	struct evbuffer_iovec v[8];
	struct evbuffer_ptr pos;
	struct timeval now;
	int nv;

	now_tv(&now);
	evbuffer_ptr_set(in, &pos, 0, EVBUFFER_PTR_SET);
	while (n > 0) {
		nv = evbuffer_peek(in, (ev_ssize_t)n, &pos, v, 8);
		if (nv <= 0)
			break;
		if (nv > 8)
			nv = 8;
		for (int i = 0; i < nv && n > 0; i++) {
			size_t len = v[i].iov_len < n ? v[i].iov_len : n;

			stream_feed(st, v[i].iov_base, len, &now);
			n -= len;
			if (evbuffer_ptr_set(in, &pos, len,
			    EVBUFFER_PTR_ADD) != 0)
				n = 0;
		}
	}
}

/*
 * Over a buffer budget: a session that never sent a valid frame and holds
 * BUDGET_CUT_MIN is cut (it is worth least and holds most); any other
 * stops reading the side that fills until its output is written.
 */
static void
budget_pause(struct relay_session *s, bool kit_side)
{
	struct relay *r = s->r;
	char a[ADDR_STRLEN];

	if (!s->proven && s->buf_up + s->buf_kit >= BUDGET_CUT_MIN) {
		r->st.budget_cuts++;
		if (log_sample(r->st.budget_cuts))
			log_warnx("#%llu %s: buffers over budget (%zu bytes in "
			    "all, %zu for this client): closing a connection "
			    "that sent no valid frame (%llu so far)",
			    (unsigned long long)s->id, fmt(&s->peer, a),
			    r->buffered, s->cl->buffered,
			    (unsigned long long)r->st.budget_cuts);
		session_close(s, "cut: buffer budget");
		return;
	}
	r->st.budget_pauses++;
	if (kit_side)
		kit_pause(s);
	else {
		s->up_paused = true;
		bufferevent_disable(s->up, EV_READ);
	}
}

static void
kit_read(struct bufferevent *bev, void *arg)
{
	struct relay_session *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n = evbuffer_get_length(in);
	struct evbuffer *out;

	if (n == 0)
		return;
	s->bytes_up += n;
	session_touch(s);
	/* Decode first: whatever happens to the upstream, the reading is in. */
	feed_stream(&s->to_cloud, in, n);
	if (!s->proven && s->to_cloud.st.valid > 0)
		session_prove(s);
	if (s->up_state == UP_LOCAL || s->up_wr_shut) {
		evbuffer_drain(in, n);
		return;
	}
	out = bufferevent_get_output(s->up);
	move_bytes(out, in, n);
	session_account(s);
	if (evbuffer_get_length(out) >= s->r->set.max_buffer)
		kit_pause(s);
	else if (over_budget(s))
		budget_pause(s, true);
}

/* The kit's output is written out. */
static void
kit_written(struct bufferevent *bev, void *arg)
{
	struct relay_session *s = arg;

	(void)bev;
	session_account(s);
	if (s->up_paused && s->up != NULL) {
		s->up_paused = false;
		bufferevent_enable(s->up, EV_READ);
	}
	kit_maybe_shut(s);
	session_check_done(s);
}

static void
kit_event(struct bufferevent *bev, short what, void *arg)
{
	struct relay_session *s = arg;
	struct timeval linger;

	if (what & BEV_EVENT_TIMEOUT) {
		if (what & BEV_EVENT_READING) {
			s->r->st.idle_timeouts++;
			session_close(s, "idle timeout");
			return;
		}
		/* The kit does not read what the portal sent it. */
		session_close(s, "kit stopped reading");
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		s->kit_gone = true;
		s->kit_rd_eof = true;
		bufferevent_disable(bev, EV_READ | EV_WRITE);
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		s->kit_rd_eof = true;
		session_end_streams(s);
		/* From now on the upstream has idle_timeout to finish. */
		if (s->up_state == UP_OPEN) {
			/* (While connecting, the connect timeout stays.) */
			linger.tv_sec = s->r->set.idle_timeout;
			linger.tv_usec = 0;
			bufferevent_set_timeouts(s->up, &linger, &linger);
			bufferevent_enable(s->up, EV_READ);
		}
		up_maybe_shut(s);
	}
	if (s->kit_gone && s->up_paused && s->up != NULL) {
		s->up_paused = false;
		bufferevent_enable(s->up, EV_READ);
	}
	session_check_done(s);
}

/* ------------------------------------------------------------------ */
/* Upstream side */

static void
up_read(struct bufferevent *bev, void *arg)
{
	struct relay_session *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n = evbuffer_get_length(in);
	struct evbuffer *out;
	char a[ADDR_STRLEN + 8];

	if (n == 0)
		return;
	s->bytes_down += n;
	session_touch(s);
	if (s->from_cloud == NULL) {
		s->from_cloud = malloc(sizeof(*s->from_cloud));
		if (s->from_cloud != NULL)
			stream_init(s->from_cloud, NULL, STREAM_FROM_CLOUD,
			    fmt(&s->peer, a));
	}
	if (s->from_cloud != NULL)
		feed_stream(s->from_cloud, in, n);
	if (s->kit_gone || s->kit_wr_shut) {
		evbuffer_drain(in, n);
		return;
	}
	out = bufferevent_get_output(s->kit);
	move_bytes(out, in, n);
	session_account(s);
	if (evbuffer_get_length(out) >= s->r->set.max_buffer) {
		s->up_paused = true;
		bufferevent_disable(bev, EV_READ);
	} else if (over_budget(s))
		budget_pause(s, false);
}

static void
up_written(struct bufferevent *bev, void *arg)
{
	struct relay_session *s = arg;

	(void)bev;
	session_account(s);
	kit_resume(s);
	up_maybe_shut(s);
	session_check_done(s);
}

static void
up_event(struct bufferevent *bev, short what, void *arg)
{
	struct relay_session *s = arg;
	struct relay *r = s->r;
	struct timeval idle = { r->set.idle_timeout, 0 };

	if (what & BEV_EVENT_CONNECTED) {
		s->up_state = UP_OPEN;
		r->st.forwarded++;
		/*
		 * A silent portal is normal while the kit talks: no read
		 * timeout until the kit has finished; a write that makes no
		 * progress for idle_timeout is a stalled upstream.
		 */
		bufferevent_set_timeouts(bev, s->kit_rd_eof ? &idle : NULL,
		    &idle);
		up_maybe_shut(s);
		session_check_done(s);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (s->up_state == UP_CONNECTING)
			upstream_fail(s, "connect timed out", 0);
		else if (what & BEV_EVENT_WRITING)
			upstream_fail(s, "stalled (nothing written for "
			    "idle_timeout)", 0);
		else
			session_close(s, "upstream silent after the kit "
			    "finished");
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		int e = EVUTIL_SOCKET_ERROR();

		if (s->up_state == UP_CONNECTING)
			upstream_fail(s, "connect failed", e);
		else if (s->kit_rd_eof && evbuffer_get_length(
		    bufferevent_get_output(bev)) == 0) {
			/* Everything was delivered; the reset came after. */
			bufferevent_free(s->up);
			s->up = NULL;
			session_account(s);
			s->up_state = UP_LOCAL;
			session_check_done(s);
		} else
			upstream_fail(s, "failed", e);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		s->up_rd_eof = true;
		bufferevent_disable(bev, EV_READ);
		kit_maybe_shut(s);
		session_check_done(s);
	}
}

/* ------------------------------------------------------------------ */
/* Accept */

/*
 * Is this connection one of our own upstream connections, redirected back
 * to us? It comes from this host, from the port one of our upstream
 * sockets has, and was going where that session's upstream goes. Only
 * connections from this host are looked at, so kits cost nothing here.
 */
static bool
session_is_own_upstream(struct relay *r, const struct sockaddr *peer, int fd)
{
	struct relay_session *s;
	struct addr orig;
	bool have_orig = false;
	uint16_t port;

	if (!addr_is_local(peer))
		return false;
	port = htons((uint16_t)addr_port(peer));
	TAILQ_FOREACH(s, &r->sessions, entry) {
		if (s->up == NULL || s->up_lport != port)
			continue;
		if (!have_orig) {
			orig.len = sizeof(orig.ss);
			if (origdst_get(fd, &orig.ss, &orig.len) != 0)
				return false;
			have_orig = true;
		}
		if (addr_equal((struct sockaddr *)&orig.ss,
		    (struct sockaddr *)&s->target.ss))
			return true;
	}
	return false;
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

enum target { TARGET_FORWARD, TARGET_LOCAL, TARGET_REFUSE };

/*
 * Where this session should go: forward, serve locally, or refuse (a
 * redirected connection for a port that is not the portal's: the rule is
 * too broad, and whatever it is, it is not a kit). Logs why a redirected
 * connection is not forwarded.
 */
static enum target
session_target(struct relay_session *s, int fd)
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
			if (log_sample(r->st.unresolved))
				log_warnx("#%llu %s: upstream %s:%s not looked "
				    "up yet: served locally (%llu so far)",
				    (unsigned long long)s->id, fmt(&s->peer, a),
				    r->set.fixed_host, r->set.fixed_port,
				    (unsigned long long)r->st.unresolved);
			return TARGET_LOCAL;
		}
		break;
	case RELAY_UP_ORIGINAL:
		s->target.len = sizeof(s->target.ss);
		if (origdst_get(fd, &s->target.ss, &s->target.len) != 0) {
			s->target.len = 0;
			log_debug("#%llu %s: no original destination: "
			    "served locally", (unsigned long long)s->id,
			    fmt(&s->peer, a));
			return TARGET_LOCAL;
		}
		if (getsockname(fd, (struct sockaddr *)&self, &sl) == 0 &&
		    addr_equal((struct sockaddr *)&self,
		    (struct sockaddr *)&s->target.ss)) {
			log_debug("#%llu %s: direct connection: served "
			    "locally", (unsigned long long)s->id,
			    fmt(&s->peer, a));
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
		    fmt(&s->peer, a), fmt(&s->target, b));
		s->target.len = 0;
		return TARGET_LOCAL;
	}
	/* Whatever it is, a connection for another port is not a kit's. */
	if (r->set.mode == RELAY_UP_ORIGINAL &&
	    !portal_port(r, addr_port((struct sockaddr *)&s->target.ss))) {
		r->st.refused_port++;
		if (log_sample(r->st.refused_port))
			log_warnx("#%llu %s: destination %s is not a portal port "
			    "(portal_ports): refused, not forwarded; is the "
			    "redirect rule too broad? (%llu so far)",
			    (unsigned long long)s->id, fmt(&s->peer, a),
			    fmt(&s->target, b),
			    (unsigned long long)r->st.refused_port);
		s->target.len = 0;
		return TARGET_REFUSE;
	}
	/* No list: any public address, never the LAN's (an open proxy). */
	if (r->set.mode == RELAY_UP_ORIGINAL && acl_empty(&r->set.upstreams) &&
	    acl_allows(&r->private_nets, (struct sockaddr *)&s->target.ss)) {
		r->st.not_public++;
		if (log_sample(r->st.not_public))
			log_warnx("#%llu %s: destination %s is a private address "
			    "and allow_upstream is empty: served locally, not "
			    "forwarded (%llu so far)", (unsigned long long)s->id,
			    fmt(&s->peer, a), fmt(&s->target, b),
			    (unsigned long long)r->st.not_public);
		s->target.len = 0;
		return TARGET_LOCAL;
	}
	if (!acl_allows(&r->set.upstreams, (struct sockaddr *)&s->target.ss)) {
		log_warnx("#%llu %s: destination %s is not in allow_upstream: "
		    "served locally, not forwarded", (unsigned long long)s->id,
		    fmt(&s->peer, a), fmt(&s->target, b));
		s->target.len = 0;
		return TARGET_LOCAL;
	}
	return TARGET_FORWARD;
}

static void
session_connect(struct relay_session *s)
{
	struct relay *r = s->r;
	struct timeval ct = { r->set.connect_timeout, 0 };
	struct sockaddr_storage me;
	socklen_t ml = sizeof(me);

	s->up = bufferevent_socket_new(r->base, -1,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (s->up == NULL) {
		log_warnx("#%llu: out of memory for the upstream",
		    (unsigned long long)s->id);
		return;
	}
	bufferevent_setcb(s->up, up_read, up_written, up_event, s);
	(void)bufferevent_set_max_single_read(s->up, SINGLE_READ);
	/* While connecting, the write timeout is the connect timeout. */
	bufferevent_set_timeouts(s->up, NULL, &ct);
	bufferevent_setwatermark(s->up, EV_READ, 0, r->set.max_buffer);
	s->up_state = UP_CONNECTING;
	if (bufferevent_socket_connect(s->up,
	    (struct sockaddr *)&s->target.ss, (int)s->target.len) != 0) {
		/* up_event has not run: fail it here. */
		upstream_fail(s, "connect failed", errno);
		return;
	}
	/*
	 * The local port is bound by connect() itself: note it now, since
	 * our own connection, if a rule loops it back, may be accepted
	 * before we learn that it connected.
	 */
	if (getsockname(bufferevent_getfd(s->up), (struct sockaddr *)&me,
	    &ml) == 0)
		s->up_lport = htons((uint16_t)addr_port((struct sockaddr *)&me));
	bufferevent_enable(s->up, EV_READ);
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
	if (log_sample(r->st.evicted))
		log_warnx("%s: closing the connection worth least (%llu so "
		    "far)", why, (unsigned long long)r->st.evicted);
	session_close(old, "evicted");
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

static void
accept_cb(struct evconnlistener *lis, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct relay *r = arg;
	struct relay_session *s = NULL;
	struct relay_client *c = NULL;
	const struct acl *clients;
	struct timeval idle;
	enum target to;
	uint8_t key[16];
	int64_t now = mono_ms();
	char a[ADDR_STRLEN + 8];

	(void)lis;
	r->st.accepted++;
	/* First: a loop is a loop, whatever allow_clients says. */
	if (session_is_own_upstream(r, sa, fd)) {
		r->st.refused_loop++;
		if (log_sample(r->st.refused_loop))
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
		if (log_sample(r->st.refused_client))
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
			if (log_sample(r->st.refused_per_client))
				log_warnx("refused %s: client_connections (%d) "
				    "reached for this address, none without a "
				    "valid frame for %d s (%llu refused so far)",
				    addr_format(sa, a, sizeof(a)),
				    r->set.client_connections,
				    r->set.first_frame_grace,
				    (unsigned long long)r->st.refused_per_client);
		} else {
			r->st.refused_full++;
			if (log_sample(r->st.refused_full))
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
	stream_init(&s->to_cloud, r->out, STREAM_TO_CLOUD,
	    addr_format(sa, a, sizeof(a)));
	stream_set_limit(&s->to_cloud, r->set.reading_burst,
	    r->set.reading_rate);
	s->kit = bufferevent_socket_new(r->base, fd,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (s->kit == NULL) {
		log_warnx("out of memory for a session");
		goto fail;
	}
	fd = -1;	/* the bufferevent owns it */
	c = NULL;	/* and the session its client */
	TAILQ_INSERT_TAIL(&r->sessions, s, entry);
	TAILQ_INSERT_TAIL(&s->cl->unproven, s, cl_entry);
	r->nunproven++;
	r->nsessions++;
	bufferevent_setcb(s->kit, kit_read, kit_written, kit_event, s);
	(void)bufferevent_set_max_single_read(s->kit, SINGLE_READ);
	idle.tv_sec = r->set.idle_timeout;
	idle.tv_usec = 0;
	bufferevent_set_timeouts(s->kit, &idle, &idle);
	bufferevent_setwatermark(s->kit, EV_READ, 0, r->set.max_buffer);
	bufferevent_enable(s->kit, EV_READ);

	to = session_target(s, bufferevent_getfd(s->kit));
	if (to == TARGET_REFUSE) {
		session_close(s, "refused: not a portal port");
		return;
	}
	if (to == TARGET_FORWARD)
		session_connect(s);
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
		listeners_enable(r, false);
		evtimer_add(r->backoff, &tv);
	}
	return;
fail:
	if (s != NULL && s->kit == NULL)
		free(s);
	if (c != NULL)
		client_drop(r, c);
	if (fd >= 0)
		evutil_closesocket(fd);
}

static void
listeners_enable(struct relay *r, bool on)
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
		listeners_enable(r, true);
}

static void
accept_error(struct evconnlistener *lis, void *arg)
{
	struct relay *r = arg;
	int e = EVUTIL_SOCKET_ERROR();
	struct timeval tv = { BACKOFF_SEC, 0 };

	(void)lis;
	r->st.accept_errors++;
	if (log_sample(r->st.accept_errors))
		log_warnx("accept: %s: pausing for %d s (%llu errors so far)",
		    strerror(e), BACKOFF_SEC,
		    (unsigned long long)r->st.accept_errors);
	/* Out of descriptors or memory: retrying at once would spin. */
	listeners_enable(r, false);
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
			    accept_cb, r, LEV_OPT_CLOSE_ON_FREE, 1024, fd);
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
		session_close(TAILQ_FIRST(&r->sessions), why);
	r->drained = drained;
}

void
relay_stats(const struct relay *r, struct relay_stats *out)
{
	const struct relay_session *s;

	*out = r->st;
	TAILQ_FOREACH(s, &r->sessions, entry) {
		out->bytes_to_cloud += s->bytes_up;
		out->bytes_from_cloud += s->bytes_down;
		out->frames += s->to_cloud.st.frames;
		out->readings += s->to_cloud.st.readings;
		out->texts += s->to_cloud.st.texts;
		out->rejects += s->to_cloud.st.rejects;
		out->limited += s->to_cloud.st.limited;
		if (s->from_cloud != NULL)
			out->cloud_frames += s->from_cloud->st.frames;
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
}
