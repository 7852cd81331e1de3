/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * http.c: the read-only HTTP server on the program's loop (http.h),
 * libevent's evhttp with its limits set, and two of our own that evhttp
 * 2.1 has no setter for:
 *
 *   - how many clients at once: every connection's bufferevent is made
 *     here (evhttp_set_bevcb); right after the accept, the connection
 *     evhttp built around it gets our close callback, which counts it
 *     out; at the limit the listener pauses;
 *   - how long a client may take: evhttp's timeout restarts with every
 *     byte read, so a client trickling a header a byte at a time would
 *     hold its connection for ever; a deadline per request cuts it
 *     (shutdown: evhttp sees the end and frees it the usual way).
 *
 * Pages are made by the caller's render function at most once a second
 * each and copied to every client that asks meanwhile: a crowd of
 * scrapers costs one journal read a second, not one each.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "dynlib.h"
#include "http.h"

/*
 * evhttp is in libevent_extra, which nothing else needs: it is loaded
 * when [http] is on (http_open), so that a relay without a status page
 * neither maps it nor pays its pages (see output/dynlib.h).
 */
#define EVHTTP_SYMBOLS(X) \
	X(evhttp_new) X(evhttp_free) X(evhttp_set_max_headers_size) \
	X(evhttp_set_max_body_size) X(evhttp_set_timeout) \
	X(evhttp_set_allowed_methods) X(evhttp_set_bevcb) \
	X(evhttp_set_gencb) X(evhttp_bind_socket_with_handle) \
	X(evhttp_bound_socket_get_listener) X(evhttp_add_header) \
	X(evhttp_send_error) X(evhttp_send_reply) \
	X(evhttp_connection_set_closecb) \
	X(evhttp_connection_get_bufferevent) \
	X(evhttp_request_get_output_headers) \
	X(evhttp_request_get_evhttp_uri) X(evhttp_request_get_connection) \
	X(evhttp_request_get_command) X(evhttp_uri_get_path)
static struct evhttp_api { EVHTTP_SYMBOLS(DYNLIB_MEMBER) } evx;
#define EVHTTP_ENTRY(sym) DYNLIB_ENTRY(struct evhttp_api, sym)
static const struct dynlib_sym evhttp_syms[] = { EVHTTP_SYMBOLS(EVHTTP_ENTRY) };
static struct dynlib evhttp_lib = DYNLIB("[http]", OMNIK_LIBEVENT_EXTRA_SONAME,
    OMNIK_LIBEVENT_EXTRA_PACKAGE, evhttp_syms, &evx);
#define evhttp_new evx.evhttp_new
#define evhttp_free evx.evhttp_free
#define evhttp_set_max_headers_size evx.evhttp_set_max_headers_size
#define evhttp_set_max_body_size evx.evhttp_set_max_body_size
#define evhttp_set_timeout evx.evhttp_set_timeout
#define evhttp_set_allowed_methods evx.evhttp_set_allowed_methods
#define evhttp_set_bevcb evx.evhttp_set_bevcb
#define evhttp_set_gencb evx.evhttp_set_gencb
#define evhttp_bind_socket_with_handle evx.evhttp_bind_socket_with_handle
#define evhttp_bound_socket_get_listener evx.evhttp_bound_socket_get_listener
#define evhttp_add_header evx.evhttp_add_header
#define evhttp_send_error evx.evhttp_send_error
#define evhttp_send_reply evx.evhttp_send_reply
#define evhttp_connection_set_closecb evx.evhttp_connection_set_closecb
#define evhttp_connection_get_bufferevent \
	evx.evhttp_connection_get_bufferevent
#define evhttp_request_get_output_headers \
	evx.evhttp_request_get_output_headers
#define evhttp_request_get_evhttp_uri evx.evhttp_request_get_evhttp_uri
#define evhttp_request_get_connection evx.evhttp_request_get_connection
#define evhttp_request_get_command evx.evhttp_request_get_command
#define evhttp_uri_get_path evx.evhttp_uri_get_path

/* Requests are a line and a few headers; nobody sends a body. */
#define HEADERS_MAX 8192
#define BODY_MAX 4096	/* a body is read only to answer 405 */
/*
 * What is read ahead of evhttp: while an answer waits for a client that
 * does not read it, evhttp keeps the socket readable with no callback,
 * and a client pipelining or just sending would grow the input without
 * end; at this much the bufferevent stops reading (the kernel's window
 * closes) until evhttp takes the next request. More than a request's
 * headers, so that evhttp can always tell one too long.
 */
#define INPUT_MAX (HEADERS_MAX + BODY_MAX)
/*
 * Each request rearms a connection's deadline, so a client asking again
 * and again within the timeout would keep one of max_connections for as
 * long as it likes, and the clients queued behind it never get in: after
 * this many timeouts a connection's next answer closes it.
 */
#define CONN_LIFE_TIMEOUTS 6
/*
 * A failed accept (EMFILE, ENFILE: out of descriptors) leaves the
 * connection queued and the listening socket readable: evhttp's
 * listener, with no error callback, tries again at once for ever, the
 * loop spinning. It waits this long instead.
 */
#define ACCEPT_BACKOFF_SEC 1
/* How long a made page is shown before it is made again. */
#define CACHE_US 1000000

struct http_conn {
	struct http *h;
	struct bufferevent *bev;	/* evhttp's, made by on_new_conn */
	struct event *deadline;
	int64_t born_us;		/* monotonic, at the accept */
	LIST_ENTRY(http_conn) link;
};
LIST_HEAD(http_conns, http_conn);

/*
 * A made page, shared by reference with every answer that carries it
 * (evbuffer_add_reference): a client that does not read holds a
 * reference, not a copy, so max_connections slow clients of the biggest
 * page (some 600 kB) cost one page, not one each. Freed with its last
 * reference: the cache's, or the last answer's.
 */
struct http_page_data {
	int refs;
	size_t len;
	char data[];
};

struct http_page_cache {
	struct http_page_data *pg;	/* NULL: never made */
	int64_t made_us;	/* monotonic */
};

struct http {
	struct event_base *base;
	struct evhttp *eh;
	struct evconnlistener *lis;
	struct http_conf conf;
	int (*render)(void *, enum http_page, struct evbuffer *);
	void *arg;
	struct http_conns conns;	/* evhttp tells us their end */
	struct http_conns pending;	/* accepted, not yet attached */
	struct event *attach;
	struct event *backoff;		/* after a failed accept */
	int nconns;			/* both */
	bool paused;			/* full */
	bool backing_off;
	LIST_ENTRY(http) link;		/* servers */
	struct http_page_cache cache[HTTP_NPAGES];
	char url[CONFIG_STR + 16];
};

/*
 * The open servers: a listener's error callback gets evhttp's argument,
 * not ours, and finds its server by the listener.
 */
static LIST_HEAD(http_servers, http) servers = LIST_HEAD_INITIALIZER(servers);

/* ------------------------------------------------------------------ */
/* [http] */

int
http_parse_listen(const char *s, char *addr, size_t addrlen, int *port,
    bool *loopback, char *err, size_t errlen)
{
	const char *colon, *a = s;
	size_t alen;
	struct in6_addr a6;
	struct in_addr a4;
	char *end;
	long p;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			goto bad;
		a = s + 1;
		alen = (size_t)(close - a);
		colon = close + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			goto bad;
		alen = (size_t)(colon - s);
	}
	if (alen == 0 || alen >= addrlen)
		goto bad;
	memcpy(addr, a, alen);
	addr[alen] = '\0';
	p = strtol(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || p < 1 ||
	    p > 65535)
		goto bad;
	*port = (int)p;
	if (inet_pton(AF_INET, addr, &a4) == 1) {
		*loopback = (ntohl(a4.s_addr) >> 24) == 127;
		return 0;
	}
	if (s[0] == '[' && inet_pton(AF_INET6, addr, &a6) == 1) {
		*loopback = IN6_IS_ADDR_LOOPBACK(&a6);
		return 0;
	}
bad:
	snprintf(err, errlen, "'%s' is not ADDRESS:PORT with a numeric "
	    "address (127.0.0.1:8080, [::1]:8080)", s);
	return -1;
}

static int
check_listen(const char *value, char *err, size_t errlen)
{
	char addr[INET6_ADDRSTRLEN + 1];
	bool lo;
	int port;

	if (value[0] == '\0')
		return 0;
	return http_parse_listen(value, addr, sizeof(addr), &port, &lo, err,
	    errlen);
}

int
http_conf_check(const void *section, char *err, size_t errlen)
{
	const struct http_conf *c = section;
	char addr[INET6_ADDRSTRLEN + 1], e[160];
	bool lo = false;
	int port;

	if (c == NULL)
		return 0;	/* not registered: no [http] */
	if (c->listen[0] == '\0' || http_parse_listen(c->listen, addr,
	    sizeof(addr), &port, &lo, e, sizeof(e)) != 0)
		return 0;	/* off, or the key's own check said why */
	if (!lo && !c->allow_remote) {
		snprintf(err, errlen, "[http] listen %s is not a loopback "
		    "address: the status page and /metrics would be open to "
		    "other hosts; set allow_remote = yes if that is meant",
		    c->listen);
		return -1;
	}
	return 0;
}

static const struct config_key http_keys[] = {
	CONFIG_KEY_STR(struct http_conf, "listen", listen, "",
	    "ADDRESS:PORT of the status page and /metrics (127.0.0.1:8080); "
	    "empty: off", .check = check_listen),
	CONFIG_KEY_BOOL(struct http_conf, "allow_remote", allow_remote, "no",
	    "let listen be an address other hosts reach (read-only pages)"),
	CONFIG_KEY_INT(struct http_conf, "max_connections", max_connections,
	    1, 1024, "16", "HTTP clients served at once; more wait"),
	CONFIG_KEY_INT(struct http_conf, "timeout", timeout, 1, 300, "10",
	    "seconds a client has to send a request and take its answer"),
};

const struct config_section http_section = CONFIG_SECTION("http",
    struct http_conf, http_keys, .check = http_conf_check);

/* ------------------------------------------------------------------ */
/* Connections */

static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
arm_deadline(struct http_conn *c)
{
	struct timeval tv = { c->h->conf.timeout, 0 };

	evtimer_add(c->deadline, &tv);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;
	evutil_socket_t s = bufferevent_getfd(c->bev);

	(void)fd;
	(void)what;
	/* evhttp reads the end, fails the request and frees it all. */
	if (s >= 0)
		(void)shutdown(s, SHUT_RDWR);
}

static void
set_paused(struct http *h)
{
	bool full = h->nconns >= h->conf.max_connections;

	if (h->lis == NULL)
		return;		/* closing */
	if (full && !h->paused && !h->backing_off)
		evconnlistener_disable(h->lis);
	else if (!full && h->paused && !h->backing_off)
		evconnlistener_enable(h->lis);
	h->paused = full;
}

static void
on_accept_error(struct evconnlistener *lis, void *arg)
{
	struct timeval tv = { ACCEPT_BACKOFF_SEC, 0 };
	struct http *h;

	(void)arg;	/* evhttp's */
	LIST_FOREACH(h, &servers, link)
		if (h->lis == lis)
			break;
	if (h == NULL || h->backing_off)
		return;
	if (!h->paused)
		evconnlistener_disable(lis);
	h->backing_off = true;
	evtimer_add(h->backoff, &tv);
}

static void
on_backoff_end(evutil_socket_t fd, short what, void *arg)
{
	struct http *h = arg;

	(void)fd;
	(void)what;
	h->backing_off = false;
	if (h->lis != NULL && !h->paused)
		evconnlistener_enable(h->lis);
}

static void
conn_free(struct http_conn *c)
{
	struct http *h = c->h;

	LIST_REMOVE(c, link);
	h->nconns--;
	event_free(c->deadline);
	free(c);
	set_paused(h);
}

/* evhttp is done with the connection (any way: end, error, timeout). */
static void
on_conn_close(struct evhttp_connection *ec, void *arg)
{
	/* Said once: evhttp may tell a reset and then the free. */
	evhttp_connection_set_closecb(ec, NULL, NULL);
	conn_free(arg);
}

/*
 * Right after the accept, before the loop polls again (so before any
 * byte of these connections is read): evhttp has made each connection
 * around the bufferevent on_new_conn gave it, and named it as that
 * bufferevent's callback argument. From now on evhttp tells its end.
 */
static void
on_attach(evutil_socket_t fd, short what, void *arg)
{
	struct http *h = arg;
	struct http_conn *c, *next;

	(void)fd;
	(void)what;
	for (c = LIST_FIRST(&h->pending); c != NULL; c = next) {
		bufferevent_data_cb rd, wr;
		bufferevent_event_cb ev;
		void *ec = NULL;

		next = LIST_NEXT(c, link);
		LIST_REMOVE(c, link);
		LIST_INSERT_HEAD(&h->conns, c, link);
		bufferevent_getcb(c->bev, &rd, &wr, &ev, &ec);
		if (ec == NULL) {
			/* Not taken (evhttp failed and freed it): not counted. */
			conn_free(c);
			continue;
		}
		evhttp_connection_set_closecb(ec, on_conn_close, c);
		arm_deadline(c);
	}
}

static struct bufferevent *
on_new_conn(struct event_base *base, void *arg)
{
	struct http *h = arg;
	struct http_conn *c;

	/* On failure evhttp makes one itself: served, just not counted. */
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	c->deadline = evtimer_new(base, on_deadline, c);
	if (c->bev == NULL || c->deadline == NULL) {
		if (c->bev != NULL)
			bufferevent_free(c->bev);
		if (c->deadline != NULL)
			event_free(c->deadline);
		free(c);
		return NULL;
	}
	bufferevent_setwatermark(c->bev, EV_READ, 0, INPUT_MAX);
	c->h = h;
	c->born_us = mono_us();
	LIST_INSERT_HEAD(&h->pending, c, link);
	h->nconns++;
	set_paused(h);
	event_active(h->attach, EV_TIMEOUT, 0);
	return c->bev;
}

static struct http_conn *
conn_of(struct http *h, struct evhttp_request *req)
{
	struct evhttp_connection *ec = evhttp_request_get_connection(req);
	struct bufferevent *bev;
	struct http_conn *c;

	if (ec == NULL)
		return NULL;
	bev = evhttp_connection_get_bufferevent(ec);
	LIST_FOREACH(c, &h->conns, link)
		if (c->bev == bev)
			return c;
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Requests */

static const char *const content_types[HTTP_NPAGES] = {
	[HTTP_PAGE_STATUS] = "text/html; charset=utf-8",
	[HTTP_PAGE_JSON] = "application/json",
	[HTTP_PAGE_METRICS] = "text/plain; version=0.0.4; charset=utf-8",
};

static int
page_of(const char *path)
{
	if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0)
		return HTTP_PAGE_STATUS;
	if (strcmp(path, "/status.json") == 0)
		return HTTP_PAGE_JSON;
	if (strcmp(path, "/metrics") == 0)
		return HTTP_PAGE_METRICS;
	return -1;
}

static void
page_unref(struct http_page_data *pg)
{
	if (pg != NULL && --pg->refs == 0)
		free(pg);
}

/* An answer's evbuffer is done with its reference. */
static void
on_page_sent(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	page_unref(arg);
}

/* The page as made within the last second, or made now. */
static struct http_page_data *
page_get(struct http *h, enum http_page page)
{
	struct http_page_cache *pc = &h->cache[page];
	int64_t now = mono_us();
	struct http_page_data *pg;
	struct evbuffer *b;
	size_t len;

	if (pc->pg != NULL && now - pc->made_us < CACHE_US)
		return pc->pg;
	if ((b = evbuffer_new()) == NULL)
		return NULL;
	if (h->render(h->arg, page, b) != 0) {
		evbuffer_free(b);
		return NULL;
	}
	len = evbuffer_get_length(b);
	if ((pg = malloc(sizeof(*pg) + len + 1)) == NULL) {
		evbuffer_free(b);
		return NULL;
	}
	evbuffer_remove(b, pg->data, len);
	evbuffer_free(b);
	pg->refs = 1;
	pg->len = len;
	page_unref(pc->pg);
	pc->pg = pg;
	pc->made_us = now;
	return pg;
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct http *h = arg;
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct http_conn *c = conn_of(h, req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	struct http_page_data *pg;
	struct evbuffer *b;
	int page;

	/* The next request on this connection gets its own time. */
	if (c != NULL)
		arm_deadline(c);
	if (c != NULL && mono_us() - c->born_us >=
	    (int64_t)h->conf.timeout * CONN_LIFE_TIMEOUTS * 1000000)
		evhttp_add_header(oh, "Connection", "close");
	evhttp_add_header(oh, "Cache-Control", "no-store");
	evhttp_add_header(oh, "X-Content-Type-Options", "nosniff");
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(oh, "Allow", "GET, HEAD");
		evhttp_send_error(req, 405, "Method Not Allowed");
		return;
	}
	if (path == NULL || (page = page_of(path)) < 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, NULL);
		return;
	}
	if ((pg = page_get(h, (enum http_page)page)) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evhttp_add_header(oh, "Content-Type", content_types[page]);
	if (page == HTTP_PAGE_STATUS)
		/* Nothing to fetch, nothing to run: only its own style. */
		evhttp_add_header(oh, "Content-Security-Policy", "default-src "
		    "'none'; style-src 'unsafe-inline'; frame-ancestors "
		    "'none'");
	if (cmd == EVHTTP_REQ_HEAD) {
		char len[24];

		/*
		 * evhttp 2.1 would send a HEAD the body it is given, which a
		 * client on a kept-alive connection takes for the next answer;
		 * it gets the length alone.
		 */
		snprintf(len, sizeof(len), "%zu", pg->len);
		evhttp_add_header(oh, "Content-Length", len);
		evhttp_send_reply(req, HTTP_OK, "OK", NULL);
		return;
	}
	if ((b = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	pg->refs++;
	if (evbuffer_add_reference(b, pg->data, pg->len, on_page_sent,
	    pg) != 0) {
		pg->refs--;
		evbuffer_free(b);
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
}

/* ------------------------------------------------------------------ */

struct http *
http_open(struct event_base *base, const struct http_conf *conf,
    int (*render)(void *arg, enum http_page page, struct evbuffer *out),
    void *arg, char *err, size_t errlen)
{
	char addr[INET6_ADDRSTRLEN + 1];
	struct evhttp_bound_socket *bound;
	struct http *h;
	bool lo;
	int port;

	if (http_parse_listen(conf->listen, addr, sizeof(addr), &port, &lo,
	    err, errlen) != 0 || dynlib_load(&evhttp_lib, err, errlen) != 0)
		return NULL;
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->eh = evhttp_new(base)) == NULL) {
		snprintf(err, errlen, "http: out of memory");
		free(h);
		return NULL;
	}
	h->base = base;
	h->conf = *conf;
	h->render = render;
	h->arg = arg;
	LIST_INIT(&h->conns);
	LIST_INIT(&h->pending);
	if ((h->attach = event_new(base, -1, 0, on_attach, h)) == NULL ||
	    (h->backoff = evtimer_new(base, on_backoff_end, h)) == NULL) {
		snprintf(err, errlen, "http: out of memory");
		if (h->attach != NULL)
			event_free(h->attach);
		evhttp_free(h->eh);
		free(h);
		return NULL;
	}
	evhttp_set_max_headers_size(h->eh, HEADERS_MAX);
	evhttp_set_max_body_size(h->eh, BODY_MAX);
	evhttp_set_timeout(h->eh, conf->timeout);
	/* Every method reaches on_request, which answers 405 itself. */
	evhttp_set_allowed_methods(h->eh, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
	    EVHTTP_REQ_PATCH);
	evhttp_set_bevcb(h->eh, on_new_conn, h);
	evhttp_set_gencb(h->eh, on_request, h);
	if ((bound = evhttp_bind_socket_with_handle(h->eh, addr,
	    (ev_uint16_t)port)) == NULL) {
		snprintf(err, errlen, "[http] listen %s: %s", conf->listen,
		    strerror(errno));
		http_free(h);
		return NULL;
	}
	h->lis = evhttp_bound_socket_get_listener(bound);
	LIST_INSERT_HEAD(&servers, h, link);
	evconnlistener_set_error_cb(h->lis, on_accept_error);
	snprintf(h->url, sizeof(h->url), "http://%s/", conf->listen);
	return h;
}

const char *
http_url(const struct http *h)
{
	return h->url;
}

void
http_free(struct http *h)
{
	struct http_conn *c;

	if (h == NULL)
		return;
	/* Its connections end here, each through on_conn_close. */
	if (h->lis != NULL)
		LIST_REMOVE(h, link);
	h->lis = NULL;
	evhttp_free(h->eh);
	while ((c = LIST_FIRST(&h->conns)) != NULL)
		conn_free(c);
	while ((c = LIST_FIRST(&h->pending)) != NULL)
		conn_free(c);
	event_free(h->attach);
	event_free(h->backoff);
	for (int i = 0; i < HTTP_NPAGES; i++)
		page_unref(h->cache[i].pg);
	free(h);
}
