/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * probe_page.c: what a kit's status page shows, for discovery's table.
 * Only a few values are taken, each checked for its characters and size;
 * nothing of the page is ever printed as it came (a page may carry the
 * kit's settings).
 *
 *   /js/status.js, /status.html:
 *     webData="SERIAL,FW_MAIN,FW_SLAVE,MODEL,RATED_W,NOW_W,ETODAY*100,
 *              ETOTAL*10,ALARM,..."
 *     or myDeviceArray[0]="..." (the same fields) on other firmware
 *   /status.json?CMD=inv_query (Ethernet kits, flat JSON):
 *     "i_sn":"...", "i_pow_n":NOW_W, "l_a_ip":"...", "l_a_port":N
 *
 * The JSON page is the one known to show where the kit pushes to
 * (l_a_ip / l_a_port: its server A). A server B is read from l_b_ip /
 * l_b_port by analogy; no page showing one has been seen.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"

const char *const probe_page_path[PROBE_NPAGES] = {
	"/js/status.js", "/status.json?CMD=inv_query", "/status.html",
};
const char *const probe_page_name[PROBE_NPAGES] = {
	"status.js", "status.json", "status.html",
};

/* A webData value is about 80 characters; far more is not one. */
#define WEBDATA_MAX 512

static bool
is_alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
	    (c >= 'a' && c <= 'z');
}

/* 1..16 letters and digits, not the "XXXXXXXX" of an unset serial. */
static bool
serial_take(const char *s, size_t n, char out[OMNIK_SERIAL_LEN + 1])
{
	bool all_x = true;

	if (n == 0 || n > OMNIK_SERIAL_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!is_alnum(s[i]))
			return false;
		if (s[i] != 'X' && s[i] != 'x')
			all_x = false;
	}
	if (all_x)
		return false;
	memcpy(out, s, n);
	out[n] = '\0';
	return true;
}

/* Decimal digits only, at most 7 (no inverter makes 10 MW). */
static bool
number_take(const char *s, size_t n, long *out)
{
	long v = 0;

	if (n == 0 || n > 7)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/* A host as a kit stores it: letters, digits, '.', '-', ':'. */
static bool
host_take(const char *s, size_t n, char out[PROBE_HOST_LEN])
{
	if (n == 0 || n >= PROBE_HOST_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '.' && s[i] != '-' &&
		    s[i] != ':')
			return false;
	if (n == 7 && memcmp(s, "0.0.0.0", 7) == 0)
		return false;
	memcpy(out, s, n);
	out[n] = '\0';
	return true;
}

static const char *
skip_blanks(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

/* The quoted value after NAME =, or false. */
static bool
js_value(const char *body, size_t n, const char *name, const char **v,
    size_t *vl)
{
	const char *end = body + n, *p = body;
	size_t nl = strlen(name);

	while ((p = memmem(p, (size_t)(end - p), name, nl)) != NULL) {
		const char *q = skip_blanks(p + nl, end), *close;

		p += nl;
		if (q >= end || *q != '=')
			continue;
		q = skip_blanks(q + 1, end);
		if (q >= end || *q != '"')
			continue;
		q++;
		close = memchr(q, '"', (size_t)(end - q));
		if (close == NULL || close - q > WEBDATA_MAX)
			return false;
		*v = q;
		*vl = (size_t)(close - q);
		return true;
	}
	return false;
}

static void
parse_webdata(const char *body, size_t n, struct probe_page_info *info)
{
	const char *v, *f[6];
	size_t vl, fl[6], nf = 0, start = 0;

	if (!js_value(body, n, "webData", &v, &vl) &&
	    !js_value(body, n, "myDeviceArray[0]", &v, &vl))
		return;
	for (size_t i = 0; i <= vl && nf < 6; i++) {
		if (i < vl && v[i] != ',')
			continue;
		f[nf] = v + start;
		fl[nf] = i - start;
		nf++;
		start = i + 1;
	}
	if (nf < 6)
		return;
	info->understood = true;
	if (!serial_take(f[0], fl[0], info->inverter_sn))
		info->inverter_sn[0] = '\0';
	info->has_power = number_take(f[5], fl[5], &info->power);
}

/*
 * A flat JSON object's member, found by its quoted key followed by ':'.
 * Strings with escapes are not taken: no known kit writes one.
 */
static bool
json_value(const char *body, size_t n, const char *key, bool *is_string,
    const char **v, size_t *vl)
{
	const char *end = body + n, *p = body;
	size_t kl = strlen(key);

	while (p < end && (p = memchr(p, '"', (size_t)(end - p))) != NULL) {
		const char *q;

		p++;
		if ((size_t)(end - p) < kl + 1 || memcmp(p, key, kl) != 0 ||
		    p[kl] != '"')
			continue;
		q = p + kl + 1;
		while (q < end && (*q == ' ' || *q == '\t' || *q == '\r' ||
		    *q == '\n'))
			q++;
		if (q >= end || *q != ':')
			continue;
		q++;
		while (q < end && (*q == ' ' || *q == '\t' || *q == '\r' ||
		    *q == '\n'))
			q++;
		if (q < end && *q == '"') {
			const char *close = memchr(q + 1, '"',
			    (size_t)(end - q - 1));

			if (close == NULL || memchr(q + 1, '\\',
			    (size_t)(close - q - 1)) != NULL)
				return false;
			*is_string = true;
			*v = q + 1;
			*vl = (size_t)(close - q - 1);
			return true;
		}
		*is_string = false;
		*v = q;
		while (q < end && *q >= '0' && *q <= '9')
			q++;
		/*
		 * Only a whole number: the digits of 1e9, 12.5 or 290abc are
		 * another number, and so are those the page's end cut.
		 */
		if (q >= end || (*q != ',' && *q != '}' && *q != ']' &&
		    *q != ' ' && *q != '\t' && *q != '\r' && *q != '\n'))
			q = *v;
		*vl = (size_t)(q - *v);
		return true;
	}
	return false;
}

static void
parse_push(const char *body, size_t n, const char *ipkey,
    const char *portkey, struct probe_push *out)
{
	const char *v;
	size_t vl;
	bool str;
	long port;

	if (!json_value(body, n, ipkey, &str, &v, &vl) || !str ||
	    !host_take(v, vl, out->host))
		return;
	if (!json_value(body, n, portkey, &str, &v, &vl) ||
	    !number_take(v, vl, &port) || port < 1 || port > 65535)
		return;
	out->port = (uint16_t)port;
	out->shown = true;
}

static void
parse_json(const char *body, size_t n, struct probe_page_info *info)
{
	const char *v;
	size_t vl;
	bool str;

	if (json_value(body, n, "i_sn", &str, &v, &vl) && str) {
		info->understood = true;
		if (!serial_take(v, vl, info->inverter_sn))
			info->inverter_sn[0] = '\0';
	}
	if (json_value(body, n, "i_pow_n", &str, &v, &vl)) {
		info->understood = true;
		info->has_power = number_take(v, vl, &info->power);
	}
	parse_push(body, n, "l_a_ip", "l_a_port", &info->push[0]);
	parse_push(body, n, "l_b_ip", "l_b_port", &info->push[1]);
	if (info->push[0].shown || info->push[1].shown)
		info->understood = true;
}

void
probe_page_parse(enum probe_page page, const char *body, size_t n,
    struct probe_page_info *info)
{
	memset(info, 0, sizeof(*info));
	if (body == NULL)
		return;
	if (page == PROBE_PAGE_JSON)
		parse_json(body, n, info);
	else
		parse_webdata(body, n, info);
}
