/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * probe.h: read-only questions to one kit, for discovery. Each one blocks
 * for at most its timeout (a one-shot tool, one kit after the other: a
 * kit serves one client at a time).
 *
 *   probe_poll(addr, port, serial, ms, &r)   one 16-byte poll request on
 *       TCP 8899; the answer runs through the framer and the decoder, and
 *       only a frame that decodes (checksum, limits) gives a reading
 *   probe_http(addr, port, page, ms, &r)     one GET of a status page,
 *       without credentials, no redirects, no proxy, body capped
 *   probe_page_parse(page, body, n, &info)   what such a page shows:
 *       inverter serial, current power, push targets (pure code)
 *
 * Library code: results and a reason in the result, nothing logged.
 */
#ifndef PROBE_H
#define PROBE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "omnik.h"

#define PROBE_POLL_PORT 8899
#define PROBE_HTTP_PORT 80
/* A poll answer is a few hundred bytes; more is not a kit. */
#define PROBE_POLL_MAX 4096
/* The largest status page seen is a few KiB. */
#define PROBE_BODY_MAX 65536

enum probe_poll_status {
	PROBE_POLL_DATA,	/* a reading decoded */
	PROBE_POLL_NODATA,	/* "NO INVERTER DATA": the inverter sleeps */
	PROBE_POLL_REFUSED,	/* no 8899 service */
	PROBE_POLL_UNREACHABLE,	/* no connection within the timeout */
	PROBE_POLL_SILENT,	/* connected, nothing came back */
	PROBE_POLL_CLOSED,	/* closed without a frame */
	PROBE_POLL_BAD,		/* bytes, but no frame that decodes */
};

struct probe_poll_result {
	enum probe_poll_status status;
	unsigned frames;		/* whole frames with a valid checksum */
	unsigned readings;		/* data frames that decoded */
	uint32_t reply_sn;		/* kit serial in the first reading */
	char inverter_sn[OMNIK_SERIAL_LEN + 1];	/* of the first reading */
	bool has_power;
	int64_t power;			/* W, all phases of the first reading */
	char why[128];			/* for BAD / UNREACHABLE: what happened */
};

void probe_poll(struct in_addr addr, uint16_t port, uint32_t serial,
    int timeout_ms, struct probe_poll_result *out);
const char *probe_poll_strstatus(enum probe_poll_status st);

/* The status pages the kits are known to serve, in the order tried. */
enum probe_page {
	PROBE_PAGE_JS,		/* /js/status.js: webData="..." */
	PROBE_PAGE_JSON,	/* /status.json?CMD=inv_query */
	PROBE_PAGE_HTML,	/* /status.html, webData in a script */
	PROBE_NPAGES
};

extern const char *const probe_page_path[PROBE_NPAGES];
/* "status.js", "status.json", "status.html": what a person sees. */
extern const char *const probe_page_name[PROBE_NPAGES];

#define PROBE_HOST_LEN 64

struct probe_push {
	bool shown;
	char host[PROBE_HOST_LEN];	/* address or name, checked characters */
	uint16_t port;
};

struct probe_page_info {
	bool understood;		/* the page has the expected data */
	char inverter_sn[OMNIK_SERIAL_LEN + 1];	/* "" if not shown */
	bool has_power;
	long power;			/* W */
	struct probe_push push[2];	/* server A, server B */
};

enum probe_http_status {
	PROBE_HTTP_OK,		/* 200 and understood */
	PROBE_HTTP_UNKNOWN,	/* 200, not the data expected */
	PROBE_HTTP_AUTH,	/* 401: exists, needs the kit's password */
	PROBE_HTTP_ABSENT,	/* 404 or any other status */
	PROBE_HTTP_NOSERVER,	/* no HTTP server answered */
	PROBE_HTTP_NOCURL,	/* libcurl could not be loaded: r.why */
};

struct probe_http_result {
	enum probe_http_status status;
	long code;			/* HTTP status, 0 if none */
	struct probe_page_info info;
	char why[192];
};

void probe_http(struct in_addr addr, uint16_t port, enum probe_page page,
    int timeout_ms, struct probe_http_result *out);

/* Pure: fills *info (cleared first) from a page body of n bytes. */
void probe_page_parse(enum probe_page page, const char *body, size_t n,
    struct probe_page_info *info);

#endif /* PROBE_H */
