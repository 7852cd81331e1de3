/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * addr.c: socket address helpers.
 *
 * addr_is_local runs on every accepted connection, so the host's interface
 * addresses are cached and read again at most every few seconds: an
 * address added by DHCP is seen a moment later, never missed for long.
 */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addr.h"

#define LOCAL_MAX 64
#define LOCAL_TTL 5	/* seconds */

int
addr_split(const char *spec, bool passive, char *host, size_t hostlen,
    char *port, size_t portlen, char *err, size_t errlen)
{
	const char *colon, *p;
	size_t hl;

	if (spec[0] == '[') {
		p = strchr(spec, ']');
		if (p == NULL || p[1] != ':')
			goto bad;
		hl = (size_t)(p - spec - 1);
		if (hl >= hostlen)
			goto bad;
		memcpy(host, spec + 1, hl);
		host[hl] = '\0';
		p += 2;
	} else if ((colon = strrchr(spec, ':')) != NULL) {
		if (strchr(spec, ':') != colon)	/* bare IPv6: needs [] */
			goto bad;
		hl = (size_t)(colon - spec);
		if (hl >= hostlen)
			goto bad;
		memcpy(host, spec, hl);
		host[hl] = '\0';
		p = colon + 1;
	} else {
		if (!passive)
			goto bad;
		host[0] = '\0';
		p = spec;
	}
	if (strlen(p) == 0 || strlen(p) >= portlen ||
	    strspn(p, "0123456789") != strlen(p) || atoi(p) < 1 ||
	    atoi(p) > 65535)
		goto bad;
	strcpy(port, p);
	return 0;
bad:
	snprintf(err, errlen, "'%s' is not %s", spec,
	    passive ? "[ADDR:]PORT" : "HOST:PORT");
	return -1;
}

int
addr_parse(const char *spec, bool passive, struct addr *out, int max,
    char *err, size_t errlen)
{
	char host[256], port[16];
	struct addrinfo hints, *res, *ai;
	int n = 0, e;

	if (addr_split(spec, passive, host, sizeof(host), port, sizeof(port),
	    err, errlen) != 0)
		return -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	e = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (e != 0) {
		snprintf(err, errlen, "%s: %s", spec, gai_strerror(e));
		return -1;
	}
	for (ai = res; ai != NULL && n < max; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(out[n].ss))
			continue;
		memcpy(&out[n].ss, ai->ai_addr, ai->ai_addrlen);
		out[n].len = ai->ai_addrlen;
		n++;
	}
	freeaddrinfo(res);
	if (n == 0) {
		snprintf(err, errlen, "%s: no address", spec);
		return -1;
	}
	return n;
}

/*
 * "a.b.c.d:port" of 4 address bytes and a port in host order, into buf
 * (22 bytes at most with its NUL): by hand, as every session formats its
 * kit's address, and inet_ntop and snprintf together were a tenth of a
 * session's instructions.
 */
static char *
put_uint(char *p, unsigned v)
{
	char d[10];
	int k = 0;

	do
		d[k++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (k > 0)
		*p++ = d[--k];
	return p;
}

static const char *
format_v4(const uint8_t *a, unsigned port, char *buf, size_t n)
{
	char t[sizeof("255.255.255.255:65535")], *p = t;

	for (int i = 0; i < 4; i++) {
		p = put_uint(p, a[i]);
		*p++ = i < 3 ? '.' : ':';
	}
	p = put_uint(p, port);
	*p = '\0';
	if (n > 0) {
		size_t len = (size_t)(p - t) < n ? (size_t)(p - t) : n - 1;

		memcpy(buf, t, len);
		buf[len] = '\0';
	}
	return buf;
}

const char *
addr_format(const struct sockaddr *sa, char *buf, size_t n)
{
	char a[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;

		return format_v4((const uint8_t *)&s4->sin_addr,
		    ntohs(s4->sin_port), buf, n);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			return format_v4(&s6->sin6_addr.s6_addr[12],
			    ntohs(s6->sin6_port), buf, n);
		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(buf, n, "[%s]:%u", a, ntohs(s6->sin6_port));
	} else
		snprintf(buf, n, "(family %d)", sa->sa_family);
	return buf;
}

/* The 16-byte IPv6 form of an address (IPv4 as mapped) and its port. */
static bool
normal_form(const struct sockaddr *sa, uint8_t out[16], uint16_t *port)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;

		memset(out, 0, 10);
		out[10] = out[11] = 0xFF;
		memcpy(out + 12, &s4->sin_addr, 4);
		*port = s4->sin_port;
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		memcpy(out, s6->sin6_addr.s6_addr, 16);
		*port = s6->sin6_port;
		return true;
	}
	return false;
}

bool
addr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	uint8_t x[16], y[16];
	uint16_t px, py;

	return normal_form(a, x, &px) && normal_form(b, y, &py) &&
	    px == py && memcmp(x, y, 16) == 0;
}

unsigned
addr_port(const struct sockaddr *sa)
{
	uint8_t x[16];
	uint16_t port;

	return normal_form(sa, x, &port) ? ntohs(port) : 0;
}

static struct {
	uint8_t addr[LOCAL_MAX][16];
	int n;
	time_t read_at;	/* monotonic seconds */
	bool valid;
} local;

void
addr_local_flush(void)
{
	local.valid = false;
}

static void
local_refresh(void)
{
	struct ifaddrs *ifa, *i;
	uint16_t port;
	struct timespec ts;
	time_t now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = ts.tv_sec;

	if (local.valid && now - local.read_at < LOCAL_TTL &&
	    now >= local.read_at)
		return;
	local.n = 0;
	local.valid = true;
	local.read_at = now;
	if (getifaddrs(&ifa) != 0)
		return;
	for (i = ifa; i != NULL && local.n < LOCAL_MAX; i = i->ifa_next)
		if (i->ifa_addr != NULL &&
		    normal_form(i->ifa_addr, local.addr[local.n], &port))
			local.n++;
	freeifaddrs(ifa);
}

bool
addr_is_local(const struct sockaddr *sa)
{
	uint8_t x[16];
	uint16_t port;

	if (!normal_form(sa, x, &port))
		return false;
	/* 127/8, ::1, 0.0.0.0 and :: are this host whatever the interfaces. */
	if ((IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)(const void *)x) &&
	    (x[12] == 127 || memcmp(x + 12, "\0\0\0\0", 4) == 0)) ||
	    IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)(const void *)x) ||
	    IN6_IS_ADDR_UNSPECIFIED((const struct in6_addr *)(const void *)x))
		return true;
	local_refresh();
	for (int i = 0; i < local.n; i++)
		if (memcmp(local.addr[i], x, 16) == 0)
			return true;
	return false;
}
