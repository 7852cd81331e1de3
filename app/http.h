/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * http.h: the programs' read-only HTTP server ([http] listen), on the
 * program's event loop: the status page, /status.json and /metrics
 * (status.h renders them).
 *
 *   http_open(base, conf, page, arg)  bind; NULL and err if it cannot
 *   ... event loop: GET and HEAD answered, anything else 405 ...
 *   http_free(h)                      close the listener and every client
 *
 * What it promises the capture path: a client costs at most its request
 * (8 KiB of headers, no body) and one response; at most max_connections
 * clients are served at once (the listener pauses meanwhile, the kernel
 * queues the rest); a client has `timeout` seconds to send a request and
 * take its answer, whatever it trickles, or it is cut, and a connection
 * kept alive is closed after six timeouts; a page is made at most once a
 * second, however many ask for it.
 */
#ifndef HTTP_H
#define HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct event_base;
struct evbuffer;
struct http;

struct http_conf {
	char listen[CONFIG_STR];	/* "ADDR:PORT", "[ADDR6]:PORT"; "" off */
	bool allow_remote;		/* a listen beyond loopback */
	int max_connections;
	int timeout;			/* seconds per request */
};

extern const struct config_section http_section;
/*
 * The keys together (a listen beyond loopback needs allow_remote): the
 * config file's load runs it; program_configure again after the flags
 * (--http). 0, or -1 with err.
 */
int http_conf_check(const void *conf, char *err, size_t errlen);

/* Parse "ADDR:PORT" / "[ADDR6]:PORT" (numeric); 0, or -1 with err. */
int http_parse_listen(const char *s, char *addr, size_t addrlen, int *port,
    bool *loopback, char *err, size_t errlen);

/* What a path shows. */
enum http_page {
	HTTP_PAGE_STATUS,	/* "/": text/html */
	HTTP_PAGE_JSON,		/* "/status.json" */
	HTTP_PAGE_METRICS,	/* "/metrics" */
	HTTP_NPAGES
};

/* render(arg, page, out) fills out: 0, or -1 (a 500 is sent). */
struct http *http_open(struct event_base *base, const struct http_conf *c,
    int (*render)(void *arg, enum http_page page, struct evbuffer *out),
    void *arg, char *err, size_t errlen);
/* The URL of the status page, for the log and `make run`. */
const char *http_url(const struct http *h);
void http_free(struct http *h);

#endif /* HTTP_H */
