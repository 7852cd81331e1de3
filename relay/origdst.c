/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * origdst.c: SO_ORIGINAL_DST and IP6T_SO_ORIGINAL_DST.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "origdst.h"

/* linux/netfilter_ipv4.h and linux/netfilter_ipv6/ip6_tables.h: both 80. */
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

int
origdst_get(int fd, int family, union addr_sa *out, socklen_t *len)
{
	memset(out, 0, sizeof(*out));
	switch (family) {
	case AF_INET:
		*len = sizeof(struct sockaddr_in);
		return getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, out, len);
	case AF_INET6:
		*len = sizeof(struct sockaddr_in6);
		return getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, out, len);
	default:
		errno = EAFNOSUPPORT;
		return -1;
	}
}
