/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kitaddr.c: "HOST[:PORT]/SERIAL" lists (kitaddr.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kitaddr.h"

/* Digits only, as a number within [1, max]: strtoul alone would take a
 * sign, blanks and, on 64-bit, values past 32 bits. */
static bool
parse_number(const char *s, size_t len, unsigned long max,
    unsigned long *out)
{
	char buf[24];
	char *end;
	unsigned long long v;

	if (len == 0 || len >= sizeof(buf))
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > max)
		return false;
	*out = (unsigned long)v;
	return true;
}

static bool
host_ok(const char *h, size_t len, bool v6)
{
	if (len == 0 || len > KITADDR_HOST_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = h[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		    c == '_' || (v6 && (c == ':' || c == '%')))
			continue;
		return false;
	}
	return true;
}

static int
parse_word(const char *w, size_t len, struct kitaddr *k, char *err,
    size_t errlen)
{
	const char *slash = NULL, *hp = w, *port = NULL;
	size_t hl;
	unsigned long v;
	bool v6 = false;

	for (size_t i = len; i > 0; i--)
		if (w[i - 1] == '/') {
			slash = w + i - 1;
			break;
		}
	if (slash == NULL) {
		snprintf(err, errlen, "'%.*s' has no /SERIAL (HOST[:PORT]/"
		    "SERIAL; the serial is on the kit's label)", (int)len, w);
		return -1;
	}
	if (!parse_number(slash + 1, (size_t)(w + len - slash - 1),
	    0xFFFFFFFFul, &v)) {
		snprintf(err, errlen, "'%.*s': the serial is not a number from "
		    "1 to 4294967295", (int)len, w);
		return -1;
	}
	k->serial = (uint32_t)v;
	hl = (size_t)(slash - w);
	if (hl > 0 && w[0] == '[') {
		const char *close = memchr(w, ']', hl);

		if (close == NULL)
			goto bad_host;
		hp = w + 1;
		v6 = true;
		if (close + 1 < slash) {
			if (close[1] != ':')
				goto bad_host;
			port = close + 2;
		}
		hl = (size_t)(close - hp);
	} else {
		const char *colon = memchr(w, ':', hl);

		if (colon) {
			port = colon + 1;
			hl = (size_t)(colon - w);
		}
	}
	if (!host_ok(hp, hl, v6))
		goto bad_host;
	memcpy(k->host, hp, hl);
	k->host[hl] = '\0';
	k->port = KITADDR_PORT;
	if (port) {
		if (!parse_number(port, (size_t)(slash - port), 65535, &v)) {
			snprintf(err, errlen, "'%.*s': the port is not a number "
			    "from 1 to 65535", (int)len, w);
			return -1;
		}
		k->port = (uint16_t)v;
	}
	return 0;

bad_host:
	snprintf(err, errlen, "'%.*s' is not HOST[:PORT]/SERIAL (an IPv6 "
	    "address goes in brackets)", (int)len, w);
	return -1;
}

int
kitaddr_parse(const char *list, struct kitaddr *out, int max, char *err,
    size_t errlen)
{
	const char *p = list;
	int n = 0;

	for (;;) {
		struct kitaddr k;
		size_t len;

		p += strspn(p, " \t,");
		if (*p == '\0')
			return n;
		len = strcspn(p, " \t,");
		if (parse_word(p, len, &k, err, errlen) != 0)
			return -1;
		for (int i = 0; i < n; i++)
			if (out[i].serial == k.serial ||
			    (out[i].port == k.port &&
			    strcmp(out[i].host, k.host) == 0)) {
				snprintf(err, errlen, "'%.*s': kit listed twice",
				    (int)len, p);
				return -1;
			}
		if (n >= max) {
			snprintf(err, errlen, "more than %d kits", max);
			return -1;
		}
		out[n++] = k;
		p += len;
	}
}
