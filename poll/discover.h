/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * discover.h: find the Omnik kits on the LAN and say how each one can be
 * read (omnik-poll --discover).
 *
 *   discover_main(argc, argv)   the whole tool: argv as omnik-poll gets
 *                               it ("--discover [-i IFACE] [--wait S]
 *                               [--config] [-h]"); returns the exit status
 *                               (0 kits found, 1 none or an error, 2 usage)
 *
 * It broadcasts the two known discovery queries to UDP 48899, collects
 * "IP,MAC,SERIAL" replies, then probes each kit read-only (probe.h): one
 * poll on TCP 8899 and a GET of each known status page. It never sends
 * the "+ok" / AT commands that follow a discovery in the module's own
 * tools (they change the kit and show its Wi-Fi key) and never sends or
 * prints a password.
 *
 * The reply parser below is pure code, for the unit tests.
 */
#ifndef DISCOVER_H
#define DISCOVER_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#define DISCOVER_PORT 48899
/* Replies are short: "255.255.255.255,aa:bb:cc:dd:ee:ff,4294967295\r\n". */
#define DISCOVER_REPLY_MAX 64
/* More kits than any home has; past it replies are counted, not kept. */
#define DISCOVER_MAX_KITS 64
/* "aa:bb:cc:dd:ee:ff" and NUL. */
#define DISCOVER_MAC_LEN 18

/* The queries, as the vendor's and the module maker's tools send them. */
extern const char *const discover_queries[2];

struct discover_kit {
	struct in_addr addr;
	uint32_t serial;
	char mac[DISCOVER_MAC_LEN];	/* lower case, colon separated */
};

enum discover_reply {
	DISCOVER_REPLY_OK,
	DISCOVER_REPLY_MALFORMED,	/* not exactly IP,MAC,SERIAL */
	DISCOVER_REPLY_SPOOFED,		/* the IP field is not the sender's */
};

/*
 * One datagram from src. OK fills *out; otherwise *out is unchanged.
 * A trailing CR LF, LF or NUL padding is allowed, nothing else: three
 * fields, a dotted-quad IPv4 address, a MAC (12 hex digits, or six pairs
 * separated by ':' or '-'), a decimal serial 1 .. 4294967295 without
 * sign or leading zero.
 */
enum discover_reply discover_parse_reply(const char *buf, size_t len,
    struct in_addr src, struct discover_kit *out);

int discover_main(int argc, char **argv);

#endif /* DISCOVER_H */
