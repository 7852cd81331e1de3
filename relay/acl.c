/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * acl.c: CIDR allow-lists.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"

static int
parse_one(struct acl_net *n, const char *tok, char *err, size_t errlen)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	unsigned max;
	long bits;

	if (strlen(tok) >= sizeof(buf))
		goto bad;
	strcpy(buf, tok);
	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash++ = '\0';
	memset(n, 0, sizeof(*n));
	if (inet_pton(AF_INET, buf, n->addr) == 1) {
		n->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, n->addr) == 1) {
		n->family = AF_INET6;
		max = 128;
	} else
		goto bad;
	n->bits = max;
	if (slash != NULL) {
		bits = strtol(slash, &end, 10);
		if (*slash == '\0' || *end != '\0' || bits < 0 ||
		    bits > (long)max)
			goto bad;
		n->bits = (unsigned)bits;
	}
	return 0;
bad:
	snprintf(err, errlen, "'%s' is not a network (ADDR or ADDR/BITS)", tok);
	return -1;
}

int
acl_parse(struct acl *a, const char *list, char *err, size_t errlen)
{
	char tok[128];
	const char *p = list;
	size_t len;

	a->n = 0;
	for (;;) {
		p += strspn(p, " \t,");
		if (*p == '\0')
			return 0;
		len = strcspn(p, " \t,");
		if (len >= sizeof(tok)) {
			snprintf(err, errlen, "'%.*s' is not a network",
			    (int)len, p);
			return -1;
		}
		if (a->n >= ACL_MAX) {
			snprintf(err, errlen, "more than %d networks", ACL_MAX);
			return -1;
		}
		memcpy(tok, p, len);
		tok[len] = '\0';
		if (parse_one(&a->net[a->n], tok, err, errlen) != 0)
			return -1;
		a->n++;
		p += len;
	}
}

bool
acl_empty(const struct acl *a)
{
	return a->n == 0;
}

static bool
prefix_match(const uint8_t *x, const uint8_t *net, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;
	uint8_t mask;

	if (memcmp(x, net, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (uint8_t)(0xFF << (8 - rest));
	return (x[whole] & mask) == (net[whole] & mask);
}

bool
acl_allows(const struct acl *a, const struct sockaddr *sa)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xFF, 0xFF };
	const uint8_t *v4 = NULL, *v6 = NULL;

	if (a->n == 0)
		return true;
	if (sa->sa_family == AF_INET) {
		v4 = (const uint8_t *)
		    &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		v6 = ((const struct sockaddr_in6 *)(const void *)sa)
		    ->sin6_addr.s6_addr;
		if (memcmp(v6, mapped, sizeof(mapped)) == 0)
			v4 = v6 + 12;
	} else
		return false;
	for (int i = 0; i < a->n; i++) {
		const struct acl_net *n = &a->net[i];

		if (n->family == AF_INET && v4 != NULL &&
		    prefix_match(v4, n->addr, n->bits))
			return true;
		if (n->family == AF_INET6 && v6 != NULL &&
		    prefix_match(v6, n->addr, n->bits))
			return true;
	}
	return false;
}
