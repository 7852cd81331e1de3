/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * acl.h: allow-lists of networks (CIDR), for the clients a relay accepts
 * and the upstreams it may forward to. What keeps the relay from ever being
 * an open proxy, together with the "original destination is this host"
 * check in origdst.h.
 *
 * An empty list allows everything; a list is "ADDR[/BITS] ..." separated
 * by spaces or commas, IPv4 and IPv6 mixed. An IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d) matches the IPv4 networks.
 */
#ifndef ACL_H
#define ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ACL_MAX 64

/*
 * The networks of a LAN and of this host: RFC 1918, loopback, link-local,
 * ULA. Kits are accepted from them by default (allow_clients empty), and
 * upstream = original never forwards to them unless allow_upstream says.
 */
#define ACL_PRIVATE_NETS "10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 " \
	"127.0.0.0/8 169.254.0.0/16 ::1/128 fe80::/10 fc00::/7"

struct acl_net {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned bits;
};

struct acl {
	struct acl_net net[ACL_MAX];
	int n;
};

/* Parse a list. Returns 0, or -1 with the offending entry in err. */
int acl_parse(struct acl *a, const char *list, char *err, size_t errlen);
bool acl_empty(const struct acl *a);
/* Does the address fall in one of the networks (or is the list empty)? */
bool acl_allows(const struct acl *a, const struct sockaddr *sa);

#endif /* ACL_H */
