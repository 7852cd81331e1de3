/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * addr.h: socket addresses as the relay needs them: parse "[ADDR:]PORT"
 * and "HOST:PORT", print "addr:port", compare, and tell whether an address
 * belongs to this host.
 */
#ifndef ADDR_H
#define ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define ADDR_STRLEN 64	/* "[ipv6]:port" */

/*
 * An IPv4 or IPv6 address and port, the only kinds the relay handles:
 * 28 bytes where a sockaddr_storage takes 128, and a session keeps two
 * (with them it stays in the allocator's per-thread cache).
 */
union addr_sa {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

struct addr {
	union addr_sa ss;
	socklen_t len;
};

/*
 * "PORT", "ADDR:PORT", "[V6ADDR]:PORT". With no address and passive set,
 * yields both 0.0.0.0 and :: (up to max results); names are resolved.
 * Returns the number of addresses, or -1 with a message in err.
 */
int addr_parse(const char *spec, bool passive, struct addr *out, int max,
    char *err, size_t errlen);
/*
 * Only the syntax of addr_parse: HOST (no brackets; "" when passive and
 * absent) and PORT, nothing resolved. 0, or -1 with a message in err.
 */
int addr_split(const char *spec, bool passive, char *host, size_t hostlen,
    char *port, size_t portlen, char *err, size_t errlen);
/* "198.51.100.2:40000" or "[2001:db8::1]:10004". */
const char *addr_format(const struct sockaddr *sa, char *buf, size_t n);
/* Same family, address and port (an IPv4-mapped IPv6 equals its IPv4). */
bool addr_equal(const struct sockaddr *a, const struct sockaddr *b);
/* The port, in host order. */
unsigned addr_port(const struct sockaddr *sa);
/* An address of one of this host's interfaces, loopback or unspecified. */
bool addr_is_local(const struct sockaddr *sa);
/* Forget the cached interface addresses (SIGHUP, or they changed). */
void addr_local_flush(void);

#endif /* ADDR_H */
