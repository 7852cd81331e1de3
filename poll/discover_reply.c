/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * discover_reply.c: what a kit answers to a discovery query, checked field
 * by field. Anyone on the LAN can answer, so a reply is believed only if
 * it is exactly the known shape and names its own sender.
 *
 *   "192.0.2.50,ACCF23A1B2C3,602302630"   (CR LF or NULs may follow)
 *    IPv4       MAC           kit serial
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "discover.h"

const char *const discover_queries[2] = {
	"WIFIKIT-214028-READ",	/* the vendor's setup tool */
	"HF-A11ASSISTHREAD",	/* the Wi-Fi module maker's tool */
};

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* 12 hex digits, or six pairs with one separator (':' or '-') between. */
static bool
mac_parse(const char *s, size_t n, char out[DISCOVER_MAC_LEN])
{
	uint8_t b[6];
	size_t i, step;
	char sep = 0;

	if (n == 12)
		step = 2;
	else if (n == 17)
		step = 3;
	else
		return false;
	for (i = 0; i < 6; i++) {
		const char *p = s + i * step;
		int hi = hexval(p[0]), lo = hexval(p[1]);

		if (hi < 0 || lo < 0)
			return false;
		b[i] = (uint8_t)(hi << 4 | lo);
		if (step == 3 && i < 5) {
			if (p[2] != ':' && p[2] != '-')
				return false;
			if (sep != 0 && p[2] != sep)
				return false;
			sep = p[2];
		}
	}
	snprintf(out, DISCOVER_MAC_LEN, "%02x:%02x:%02x:%02x:%02x:%02x",
	    b[0], b[1], b[2], b[3], b[4], b[5]);
	return true;
}

/* Decimal, 1 .. 4294967295, no sign, no leading zero, digits only. */
static bool
serial_parse(const char *s, size_t n, uint32_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 10 || s[0] == '0')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

static bool
ipv4_parse(const char *s, size_t n, struct in_addr *out)
{
	char tmp[INET_ADDRSTRLEN];

	if (n == 0 || n >= sizeof(tmp))
		return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	/* inet_pton takes only the dotted quad (no "1.2.3", no hex). */
	return inet_pton(AF_INET, tmp, out) == 1;
}

enum discover_reply
discover_parse_reply(const char *buf, size_t len, struct in_addr src,
    struct discover_kit *out)
{
	const char *f[3];
	size_t fl[3], i, nf = 0, start = 0;
	struct discover_kit k;

	if (len > DISCOVER_REPLY_MAX)
		return DISCOVER_REPLY_MALFORMED;
	while (len > 0 && buf[len - 1] == '\0')
		len--;
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	for (i = 0; i <= len; i++) {
		if (i < len && buf[i] != ',') {
			/* Printable, no blanks: a field is one token. */
			if (buf[i] <= ' ' || buf[i] > '~')
				return DISCOVER_REPLY_MALFORMED;
			continue;
		}
		if (nf == 3)
			return DISCOVER_REPLY_MALFORMED;
		f[nf] = buf + start;
		fl[nf] = i - start;
		nf++;
		start = i + 1;
	}
	if (nf != 3)
		return DISCOVER_REPLY_MALFORMED;
	memset(&k, 0, sizeof(k));
	if (!ipv4_parse(f[0], fl[0], &k.addr) ||
	    !mac_parse(f[1], fl[1], k.mac) ||
	    !serial_parse(f[2], fl[2], &k.serial))
		return DISCOVER_REPLY_MALFORMED;
	if (k.addr.s_addr != src.s_addr)
		return DISCOVER_REPLY_SPOOFED;
	*out = k;
	return DISCOVER_REPLY_OK;
}
