/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pvoutput_conf.c: the [pvoutput] section. `systems` is checked here as
 * it is read (each line with its file:line) and parsed once into the
 * section's struct, which the output starts its systems from.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "pvoutput.h"

static int
check_energy(const char *value, char *err, size_t errlen)
{
	static const char *const c[] = { "today", "lifetime", NULL };

	return config_one_of(value, c, err, errlen);
}

/*
 * "INVERTER_SERIAL=SYSTEM_ID" (one inverter) or "SYSTEM_ID:SN1+SN2..."
 * (several inverters summed into one system), space separated: serials
 * at most 16 bytes, at most 8 per system, ids 1..99999999.
 */
static int
check_system_id(const char *w, size_t len, const char *id, size_t idlen,
    char *err, size_t errlen)
{
	char *end;
	long n;

	n = idlen > 0 && id[0] >= '0' && id[0] <= '9' ? strtol(id, &end, 10) :
	    0;
	if (n < 1 || n > 99999999 || end != id + idlen) {
		snprintf(err, errlen, "'%.*s': the system id is not a number "
		    "from 1 to 99999999", (int)len, w);
		return -1;
	}
	return 0;
}

static int
check_systems(const char *value, char *err, size_t errlen)
{
	const char *p = value;

	while (*p) {
		const char *w = p, *eq, *colon;
		size_t len;

		len = strcspn(p, " ");
		p += len;
		while (*p == ' ')
			p++;
		if (len == 0)
			continue;
		eq = memchr(w, '=', len);
		colon = memchr(w, ':', len);
		if (eq && !colon && eq > w && eq - w <= 16) {
			if (check_system_id(w, len, eq + 1,
			    len - (size_t)(eq - w) - 1, err, errlen) != 0)
				return -1;
			continue;
		}
		if (colon && !eq && w[0] >= '0' && w[0] <= '9') {
			const char *m = colon + 1, *end = w + len;
			int nm = 0;

			if (check_system_id(w, len, w, (size_t)(colon - w), err,
			    errlen) != 0)
				return -1;
			for (;;) {
				size_t ml = strcspn(m, "+ ");

				if (m + ml > end)
					ml = (size_t)(end - m);
				if (ml == 0 || ml > 16 || ++nm > 8) {
					snprintf(err, errlen, "'%.*s' is not "
					    "SYSTEM_ID:SERIAL+SERIAL... (at "
					    "most 8 serials of 16 bytes)",
					    (int)len, w);
					return -1;
				}
				m += ml;
				if (m >= end)
					break;
				m++;	/* '+' */
			}
			continue;
		}
		snprintf(err, errlen, "'%.*s' is not INVERTER_SERIAL=SYSTEM_ID "
		    "or SYSTEM_ID:SERIAL+SERIAL", (int)len, w);
		return -1;
	}
	return 0;
}

/*
 * The same inverter in two systems, or a system listed twice: two
 * cursors would deliver into one system and overwrite each other's
 * statuses. Several inverters in one system is the SID:SN1+SN2 form.
 */
static int
systems_duplicate(const char *value, char *err, size_t errlen)
{
	char sn[64][17], sid[32][12];
	int nsn = 0, nsid = 0;
	const char *p = value;

	while (*p) {
		const char *w = p, *eq, *colon, *m, *end;
		size_t len = strcspn(p, " ");

		p += len;
		while (*p == ' ')
			p++;
		if (len == 0)
			continue;
		end = w + len;
		eq = memchr(w, '=', len);
		colon = memchr(w, ':', len);
		if ((eq == NULL) == (colon == NULL))
			continue;	/* reported by check_systems */
		{
			const char *id = eq ? eq + 1 : w;
			size_t il = eq ? (size_t)(end - id) :
			    (size_t)(colon - w);

			for (int i = 0; i < nsid; i++)
				if (strlen(sid[i]) == il &&
				    memcmp(sid[i], id, il) == 0) {
					snprintf(err, errlen, "system %.*s is "
					    "listed twice (to sum several "
					    "inverters into it: %.*s:SN1+SN2)",
					    (int)il, id, (int)il, id);
					return -1;
				}
			if (nsid < 32 && il < sizeof(sid[0]))
				snprintf(sid[nsid++], sizeof(sid[0]), "%.*s",
				    (int)il, id);
		}
		m = eq ? w : colon + 1;
		while (m < end) {
			size_t ml = strcspn(m, eq ? "=" : "+ ");

			if (m + ml > end)
				ml = (size_t)(end - m);
			for (int i = 0; i < nsn; i++)
				if (strlen(sn[i]) == ml &&
				    memcmp(sn[i], m, ml) == 0) {
					snprintf(err, errlen, "inverter %.*s "
					    "is mapped twice (one inverter "
					    "goes to one system)", (int)ml, m);
					return -1;
				}
			if (nsn < 64 && ml < sizeof(sn[0]))
				snprintf(sn[nsn++], sizeof(sn[0]), "%.*s",
				    (int)ml, m);
			if (eq)
				break;
			m += ml + 1;
		}
	}
	return 0;
}

/*
 * https only: the API key travels in a header. Plain http is for a
 * stand-in on this machine (tests, a local proxy), never over a network.
 */
static int
check_url(const char *value, char *err, size_t errlen)
{
	static const char *const local[] = { "127.0.0.1", "localhost",
	    "[::1]", NULL };
	const char *h = value + 7;

	if (strncmp(value, "https://", 8) == 0)
		return 0;
	if (strncmp(value, "http://", 7) != 0) {
		snprintf(err, errlen, "'%s' is not an https:// URL", value);
		return -1;
	}
	for (const char *const *l = local; *l; l++) {
		size_t n = strlen(*l);

		if (strncmp(h, *l, n) == 0 && strchr(":/", h[n]) != NULL)
			return 0;
	}
	snprintf(err, errlen, "'%s': plain http would send the API key in "
	    "clear text; use https:// (http:// only to 127.0.0.1 or "
	    "localhost)", value);
	return -1;
}

/* The checked list, into c->sys (after systems_duplicate). */
static int
systems_parse(void *section, char *err, size_t errlen)
{
	struct pvoutput_conf *c = section;
	const char *p = c->systems;

	if (systems_duplicate(c->systems, err, errlen) != 0)
		return -1;
	c->nsystems = 0;
	memset(c->sys, 0, sizeof(c->sys));
	while (*p) {
		struct pvoutput_system *s;
		const char *w, *eq, *colon;
		size_t len;

		while (*p == ' ')
			p++;
		len = strcspn(p, " ");
		if (len == 0)
			break;
		w = p;
		p += len;
		eq = memchr(w, '=', len);
		colon = memchr(w, ':', len);
		if ((eq == NULL) == (colon == NULL))
			continue;	/* refused by check_systems */
		if (c->nsystems == PVOUTPUT_SYSTEMS_MAX) {
			snprintf(err, errlen, "more than %d systems",
			    PVOUTPUT_SYSTEMS_MAX);
			return -1;
		}
		s = &c->sys[c->nsystems++];
		if (eq) {
			snprintf(s->inverter, sizeof(s->inverter), "%.*s",
			    (int)(eq - w), w);
			snprintf(s->sid, sizeof(s->sid), "%.*s",
			    (int)(len - (size_t)(eq - w) - 1), eq + 1);
		} else {
			const char *m = colon + 1, *end = w + len;

			snprintf(s->sid, sizeof(s->sid), "%.*s",
			    (int)(colon - w), w);
			while (m < end && s->nmem < PVOUTPUT_MEMBERS_MAX) {
				size_t ml = strcspn(m, "+ ");

				if (m + ml > end)
					ml = (size_t)(end - m);
				snprintf(s->mem[s->nmem++], sizeof(s->mem[0]),
				    "%.*s", (int)ml, m);
				m += ml + 1;
			}
		}
	}
	return 0;
}

#define K(kind, ...) CONFIG_KEY_##kind(struct pvoutput_conf, __VA_ARGS__)
static const struct config_key keys[] = {
	K(STR, "api_key", api_key, "",
	    "PVOutput API key (sent in a header, never logged); empty: off",
	    .secret = true),
	K(LIST, "systems", systems, "",
	    "INVERTER_SERIAL=SYSTEM_ID pairs, or SYSTEM_ID:SN1+SN2 for "
	    "inverters summed into one system", .check = check_systems,
	    .parse = systems_parse),
	K(STR, "url", url, "https://pvoutput.org",
	    "PVOutput's base URL (https; http only to 127.0.0.1/localhost)",
	    .check = check_url),
	K(STR, "cafile", cafile, "",
	    "CA certificates for an https url (a self-hosted proxy); empty: "
	    "the system's", .check = config_check_file),
	K(BOOL, "donor", donor, "no",
	    "donor account: 100 statuses per request, 90 days of backfill"),
	K(STR, "energy", energy, "today",
	    "v1: today (energy today) or lifetime (total, sent with c1=1)",
	    .check = check_energy),
	K(BOOL, "temperature", temperature, "yes",
	    "send the inverter temperature as v5"),
	K(BOOL, "voltage", voltage, "yes", "send the AC voltage as v6"),
};
#undef K

static int
pvoutput_check(const void *conf, char *err, size_t errlen)
{
	const struct pvoutput_conf *c = conf;

	if (c->api_key[0] != '\0' && c->systems[0] == '\0') {
		snprintf(err, errlen, "[pvoutput] api_key is set but systems "
		    "is empty (INVERTER_SERIAL=SYSTEM_ID)");
		return -1;
	}
	if (c->api_key[0] == '\0' && c->systems[0] != '\0') {
		snprintf(err, errlen, "[pvoutput] systems is set but api_key "
		    "is empty");
		return -1;
	}
	return 0;
}

const struct config_section pvoutput_section =
    CONFIG_SECTION("pvoutput", struct pvoutput_conf, keys,
    .check = pvoutput_check);
