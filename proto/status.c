/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * status.c: the kit's web status page as a reading (omnik.h,
 * omnik_status_parse). Pure: no I/O, no allocation, any bytes in.
 *
 *   /js/status.js, /status.html:
 *     ... webData="NLDN1020154F2031,V5.07,V4.13,omnik2000tl ,2000,1440,
 *                  429,87556,,1,"; ...
 *     (or myDeviceArray[0]="..."; older kits)
 *      0 serial  1 main fw  2 slave fw  3 model  4 rated W  5 current W
 *      6 E today x100  7 E total x10  8 alarm
 *   /status.json?CMD=inv_query:
 *     {"g_sn":1902944440, ..., "i_sn":"NLBN...", "i_ver_m":"...",
 *      "i_ver_s":"...", "i_modle":"...", "i_pow":"5000", "i_pow_n":290,
 *      "i_eday":"0.41", "i_eall":"143.1", "i_alarm":"F23", ...}
 *     (E today and E total in kWh, as decimals; numbers quoted or not)
 *
 * Every scan is bounded by len; a field longer than its buffer is not a
 * field of a status page, and the page is refused.
 */
#include <stdio.h>
#include <string.h>

#include "omnik.h"

/* The longest field this reads (a firmware string, a serial). */
#define FIELD_MAX 40

struct span {
	const char *p;
	size_t n;
};

/* The first occurrence of needle in [p, p + len), or NULL. */
static const char *
find(const char *p, size_t len, const char *needle)
{
	size_t nl = strlen(needle);

	for (size_t i = 0; nl <= len && i <= len - nl; i++)
		if (p[i] == needle[0] && memcmp(p + i, needle, nl) == 0)
			return p + i;
	return NULL;
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static struct span
trim(struct span s)
{
	while (s.n > 0 && is_blank(s.p[0])) {
		s.p++;
		s.n--;
	}
	while (s.n > 0 && is_blank(s.p[s.n - 1]))
		s.n--;
	return s;
}

/* Printable ASCII into dst (cap bytes with its NUL); false if it is
 * longer or holds anything else. */
static bool
copy_field(char *dst, size_t cap, struct span s)
{
	s = trim(s);
	if (s.n >= cap)
		return false;
	for (size_t i = 0; i < s.n; i++)
		if ((unsigned char)s.p[i] < 0x20 || (unsigned char)s.p[i] >= 0x7f)
			return false;
	memcpy(dst, s.p, s.n);
	dst[s.n] = '\0';
	return true;
}

/*
 * A decimal ("1440", "0.41", "143.1") in fixed point with `decimals`
 * digits after the point; an empty field is absent. More digits after
 * the point than that, unless zeros, a sign, or anything else: false.
 * *no_value: it is 4294967295, the kits' "no value".
 */
static bool
parse_fixed(struct span s, int decimals, int64_t *out, bool *no_value)
{
	int64_t v = 0;
	size_t i = 0;
	int frac = -1;

	s = trim(s);
	*no_value = false;
	if (s.n == 0) {
		*out = OMNIK_ABSENT;
		return true;
	}
	if (s.n > 15)
		return false;
	for (; i < s.n; i++) {
		char c = s.p[i];

		if (c == '.' && frac < 0 && i > 0) {
			frac = 0;
			continue;
		}
		if (c < '0' || c > '9')
			return false;
		if (frac >= 0 && frac >= decimals) {
			if (c != '0')
				return false;
			continue;
		}
		v = v * 10 + (c - '0');
		if (frac >= 0)
			frac++;
	}
	if (frac == 0 && s.p[s.n - 1] == '.')
		return false;
	if (frac < 0 && v == 4294967295)
		*no_value = true;
	for (int k = frac < 0 ? 0 : frac; k < decimals; k++)
		v *= 10;
	*out = v;
	return true;
}

/* webData="..." or myDeviceArray[0]="...": the quoted list. */
static bool
js_list(const char *body, size_t len, struct span *list)
{
	static const char *const names[] = { "webData", "myDeviceArray[0]" };

	for (size_t k = 0; k < 2; k++) {
		const char *p = body, *end = body + len;

		while ((p = find(p, (size_t)(end - p), names[k])) != NULL) {
			const char *q = p + strlen(names[k]), *close;

			while (q < end && is_blank(*q))
				q++;
			if (q < end && *q == '=') {
				q++;
				while (q < end && is_blank(*q))
					q++;
				if (q < end && *q == '"' &&
				    (close = memchr(q + 1, '"',
				    (size_t)(end - q - 1))) != NULL) {
					list->p = q + 1;
					list->n = (size_t)(close - q - 1);
					return true;
				}
			}
			p += strlen(names[k]);
		}
	}
	return false;
}

/* Field i of a comma list; an empty span past its end. */
static struct span
list_field(struct span list, int i)
{
	const char *p = list.p, *end = list.p + list.n;

	for (; i > 0; i--) {
		const char *c = memchr(p, ',', (size_t)(end - p));

		if (c == NULL)
			return (struct span){ end, 0 };
		p = c + 1;
	}
	const char *c = memchr(p, ',', (size_t)(end - p));

	return (struct span){ p, c ? (size_t)(c - p) : (size_t)(end - p) };
}

/*
 * The value of "key" in a flat JSON object: a string (without its
 * quotes; escapes are not expected and refused) or a bare token. False
 * if the key is not there or its value is malformed.
 */
static bool
json_value(const char *body, size_t len, const char *key, struct span *v,
    bool *bad)
{
	char pat[24];
	const char *p = body, *end = body + len;

	snprintf(pat, sizeof(pat), "\"%s\"", key);
	while ((p = find(p, (size_t)(end - p), pat)) != NULL) {
		const char *q = p + strlen(pat);

		p = q;
		while (q < end && is_blank(*q))
			q++;
		if (q >= end || *q != ':')
			continue;
		q++;
		while (q < end && is_blank(*q))
			q++;
		if (q < end && *q == '"') {
			const char *close = memchr(q + 1, '"',
			    (size_t)(end - q - 1));

			if (close == NULL || memchr(q + 1, '\\',
			    (size_t)(close - q - 1)) != NULL) {
				*bad = true;
				return false;
			}
			v->p = q + 1;
			v->n = (size_t)(close - q - 1);
			q = close + 1;
		} else {
			v->p = q;
			while (q < end && *q != ',' && *q != '}' &&
			    !is_blank(*q))
				q++;
			v->n = (size_t)(q - v->p);
		}
		/* The value ends where the member does: "2 90" is not 2. */
		while (q < end && is_blank(*q))
			q++;
		if (q < end && *q != ',' && *q != '}') {
			*bad = true;
			return false;
		}
		return true;
	}
	return false;
}

/* Where the fields of a page are, whatever its kind. */
struct fields {
	struct span raw;	/* the list, or the object */
	struct span sn, fw_main, fw_slave, model, rated, power, eday, etotal,
	    alarm, kit;
	int eday_dec, etotal_dec;	/* decimals as the page writes them */
};

static enum omnik_err
fields_js(const char *body, size_t len, struct fields *f, char *why,
    size_t n)
{
	struct span list;

	if (!js_list(body, len, &list)) {
		snprintf(why, n, "no webData or myDeviceArray[0] on the page");
		return OMNIK_ERR_TYPE;
	}
	f->raw = list;
	f->sn = list_field(list, 0);
	f->fw_main = list_field(list, 1);
	f->fw_slave = list_field(list, 2);
	f->model = list_field(list, 3);
	f->rated = list_field(list, 4);
	f->power = list_field(list, 5);
	f->eday = list_field(list, 6);
	f->etotal = list_field(list, 7);
	f->alarm = list_field(list, 8);
	f->kit = (struct span){ list.p, 0 };
	/* Integers, already in the fields' fixed point (E today in 0.01
	 * kWh, E total in 0.1 kWh). */
	f->eday_dec = 0;
	f->etotal_dec = 0;
	return OMNIK_OK;
}

static enum omnik_err
fields_json(const char *body, size_t len, struct fields *f, char *why,
    size_t n)
{
	static const struct {
		const char *key;
		size_t off;
	} keys[] = {
		{ "i_sn", offsetof(struct fields, sn) },
		{ "i_ver_m", offsetof(struct fields, fw_main) },
		{ "i_ver_s", offsetof(struct fields, fw_slave) },
		{ "i_modle", offsetof(struct fields, model) },
		{ "i_pow", offsetof(struct fields, rated) },
		{ "i_pow_n", offsetof(struct fields, power) },
		{ "i_eday", offsetof(struct fields, eday) },
		{ "i_eall", offsetof(struct fields, etotal) },
		{ "i_alarm", offsetof(struct fields, alarm) },
		{ "g_sn", offsetof(struct fields, kit) },
	};
	struct span all = trim((struct span){ body, len });
	bool bad = false;

	/* A number cut short is another number: only a whole object. */
	if (all.n == 0 || all.p[0] != '{' || all.p[all.n - 1] != '}') {
		snprintf(why, n, "not a whole JSON object");
		return OMNIK_ERR_TYPE;
	}
	f->raw = all;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		struct span *s = (struct span *)(void *)((char *)f +
		    keys[i].off);

		s->p = body;
		s->n = 0;
		if (!json_value(body, len, keys[i].key, s, &bad) && bad) {
			snprintf(why, n, "\"%s\" is not a plain value",
			    keys[i].key);
			return OMNIK_ERR_IMPLAUSIBLE;
		}
	}
	if (f->sn.n == 0 && f->power.n == 0 && f->etotal.n == 0) {
		snprintf(why, n, "no \"i_sn\", \"i_pow_n\" or \"i_eall\" on "
		    "the page");
		return OMNIK_ERR_TYPE;
	}
	/* kWh with decimals: read into the same fixed point. */
	f->eday_dec = 2;
	f->etotal_dec = 1;
	return OMNIK_OK;
}

static bool
all_x(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (*s != 'X' && *s != 'x')
			return false;
	return true;
}

/* A number field, `decimals` digits after the point as the page
 * writes it (0: an integer), into out. */
static enum omnik_err
number(const char *name, struct span s, int decimals, int64_t *out,
    char *why, size_t n)
{
	bool no_value;

	if (!parse_fixed(s, decimals, out, &no_value)) {
		struct span t = trim(s);
		char shown[FIELD_MAX + 1];
		size_t k;

		/* The reason reaches the log: the page's bytes, printable. */
		for (k = 0; k < t.n && k < FIELD_MAX; k++)
			shown[k] = (unsigned char)t.p[k] < 0x20 ||
			    (unsigned char)t.p[k] >= 0x7f ? '?' : t.p[k];
		shown[k] = '\0';
		snprintf(why, n, "%s '%s' is not a number", name, shown);
		return OMNIK_ERR_IMPLAUSIBLE;
	}
	if (no_value) {
		snprintf(why, n, "%s 4294967295: the kit's \"no value\"", name);
		return OMNIK_ERR_IMPLAUSIBLE;
	}
	return OMNIK_OK;
}

enum omnik_err
omnik_status_parse(enum omnik_page kind, const char *body, size_t len,
    struct omnik_status *out, char *why, size_t n)
{
	struct omnik_reading *r = &out->reading;
	struct fields f;
	enum omnik_err e;
	int64_t kit = OMNIK_ABSENT;

	memset(out, 0, sizeof(*out));
	omnik_reading_clear(r);
	r->variant = OMNIK_VARIANT_HTTP;
	r->phases = 1;
	out->rated_power = OMNIK_ABSENT;
	if (n > 0)
		why[0] = '\0';

	memset(&f, 0, sizeof(f));
	e = kind == OMNIK_PAGE_JSON ? fields_json(body, len, &f, why, n) :
	    fields_js(body, len, &f, why, n);
	if (e != OMNIK_OK)
		return e;
	out->raw_off = (size_t)(f.raw.p - body);
	out->raw_len = f.raw.n;

	if (!copy_field(r->inverter_sn, sizeof(r->inverter_sn), f.sn) ||
	    !copy_field(r->fw_main, sizeof(r->fw_main), f.fw_main) ||
	    !copy_field(r->fw_slave, sizeof(r->fw_slave), f.fw_slave) ||
	    !copy_field(out->model, sizeof(out->model), f.model) ||
	    !copy_field(out->alarm, sizeof(out->alarm), f.alarm)) {
		snprintf(why, n, "a text field is too long or not printable");
		return OMNIK_ERR_IMPLAUSIBLE;
	}
	r->has_fw = r->fw_main[0] != '\0' || r->fw_slave[0] != '\0';
	if (all_x(r->inverter_sn)) {
		snprintf(why, n, "inverter serial '%s': no inverter behind "
		    "the kit", r->inverter_sn);
		return OMNIK_ERR_IMPLAUSIBLE;
	}
	if ((e = number("rated power", f.rated, 0, &out->rated_power, why,
	    n)) != OMNIK_OK ||
	    (e = number("current power", f.power, 0, &r->value[OMNIK_PAC1],
	    why, n)) != OMNIK_OK ||
	    (e = number("E today", f.eday, f.eday_dec,
	    &r->value[OMNIK_ETODAY], why, n)) != OMNIK_OK ||
	    (e = number("E total", f.etotal, f.etotal_dec,
	    &r->value[OMNIK_ETOTAL], why, n)) != OMNIK_OK ||
	    (e = number("kit serial", f.kit, 0, &kit, why, n)) != OMNIK_OK)
		return e;
	/* A serial no kit has would slip past the caller's kit check. */
	if (kit != OMNIK_ABSENT && kit > 0xFFFFFFFF) {
		snprintf(why, n, "kit serial %lld is not a kit's",
		    (long long)kit);
		return OMNIK_ERR_IMPLAUSIBLE;
	}
	if (kit != OMNIK_ABSENT)
		r->kit_sn = (uint32_t)kit;
	if (r->value[OMNIK_PAC1] == OMNIK_ABSENT &&
	    r->value[OMNIK_ETODAY] == OMNIK_ABSENT &&
	    r->value[OMNIK_ETOTAL] == OMNIK_ABSENT) {
		snprintf(why, n, "no value on the page");
		return OMNIK_ERR_IMPLAUSIBLE;
	}
	/*
	 * The same number in both energies is what kits show before they
	 * have read the inverter (compared as the page writes them, in
	 * 0.01 kWh for the JSON page).
	 */
	if (r->value[OMNIK_ETODAY] != OMNIK_ABSENT &&
	    r->value[OMNIK_ETOTAL] != OMNIK_ABSENT) {
		int64_t today = r->value[OMNIK_ETODAY];
		int64_t total = kind == OMNIK_PAGE_JSON ?
		    r->value[OMNIK_ETOTAL] * 10 : r->value[OMNIK_ETOTAL];

		if (today == total) {
			snprintf(why, n, "E today equal to E total (%lld): not "
			    "read from the inverter", (long long)total);
			return OMNIK_ERR_IMPLAUSIBLE;
		}
	}
	return omnik_check(r, why, n);
}
