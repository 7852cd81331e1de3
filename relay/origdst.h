/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * origdst.h: where a redirected connection was going before the
 * iptables/nftables REDIRECT or DNAT rule rewrote it (SO_ORIGINAL_DST for
 * IPv4, IP6T_SO_ORIGINAL_DST for IPv6, both answered by conntrack).
 */
#ifndef ORIGDST_H
#define ORIGDST_H

#include <sys/socket.h>

#include "addr.h"

/*
 * Fill out with the original destination of the accepted socket fd, of
 * family (its own: the peer's address family, as accept(2) gave it).
 * Returns 0, or -1 (errno set) when the kernel knows none: no conntrack
 * entry, a socket family without NAT, conntrack not loaded.
 *
 * A connection that was not redirected at all still has a conntrack entry
 * when conntrack is loaded: its "original destination" is then our own
 * address, which the caller must recognise (addr_is_local) and never
 * forward to.
 */
int origdst_get(int fd, int family, union addr_sa *out, socklen_t *len);

#endif /* ORIGDST_H */
