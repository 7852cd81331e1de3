/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * influx_line.c: a reading as one line of InfluxDB's line protocol.
 *
 *   omnik,inverter_sn=NLDN..,kit_sn=1600000000,variant=omnik pac=2615,
 *       temp=35.2,vpv1=300.1,...,etotal=10000.5 1780000000
 *
 * Numbers without an `i` suffix are floats to InfluxDB, so "2615" is the
 * float 2615: each field keeps one type whatever its value, as InfluxDB
 * refuses a field that changes type within a shard. The field names are
 * the journal's columns in lower case, as the MQTT state message has
 * them, and `pac` is the power of all phases.
 */
#include <stdio.h>
#include <string.h>

#include "influx.h"
#include "journal.h"
#include "omnik.h"

struct lp {
	char *buf;
	size_t n, len;
	bool full;
};

static void
put(struct lp *o, const char *s, size_t len)
{
	if (o->full || len >= o->n - o->len) {
		o->full = true;
		return;
	}
	memcpy(o->buf + o->len, s, len);
	o->len += len;
	o->buf[o->len] = '\0';
}

static void
put_str(struct lp *o, const char *s)
{
	put(o, s, strlen(s));
}

/* A tag value: ',', '=' and ' ' escaped (a backslash is refused before). */
static void
put_tag(struct lp *o, const char *s)
{
	for (; *s; s++) {
		if (*s == ',' || *s == '=' || *s == ' ')
			put(o, "\\", 1);
		put(o, s, 1);
	}
}

size_t
influx_escape_measurement(const char *name, char *buf, size_t n)
{
	struct lp o = { buf, n, 0, false };

	if (n == 0)
		return 0;
	buf[0] = '\0';
	for (; *name; name++) {
		if (*name == ',' || *name == ' ')
			put(&o, "\\", 1);
		put(&o, name, 1);
	}
	return o.full ? 0 : o.len;
}

static void
put_field(struct lp *o, int *nf, const char *name, enum omnik_field f,
    int64_t v)
{
	char num[32];

	if (omnik_format_value(f, v, num, sizeof(num)) == 0)
		return;
	put_str(o, *nf > 0 ? "," : " ");
	put_str(o, name);
	put(o, "=", 1);
	put_str(o, num);
	(*nf)++;
}

size_t
influx_line(const struct journal_row *row, const char *measurement,
    char *buf, size_t n, const char **why)
{
	const struct omnik_reading *r = &row->r;
	struct lp o = { buf, n, 0, false };
	char label[OMNIK_VARIANT_LABEL], num[32];
	int nf = 0;
	int64_t pac;

	*why = NULL;
	if (n == 0)
		return 0;
	buf[0] = '\0';
	/*
	 * InfluxDB 1.x keeps "\\" in a tag value as two backslashes, 2.x
	 * reads one: a serial with a backslash would be stored as a
	 * different inverter by one of them, and a wrong serial is worse
	 * than a reading left out.
	 */
	if (strchr(r->inverter_sn, '\\') != NULL) {
		*why = "its inverter serial holds a backslash";
		return 0;
	}
	put_str(&o, measurement);
	put_str(&o, ",inverter_sn=");
	put_tag(&o, r->inverter_sn);
	snprintf(num, sizeof(num), ",kit_sn=%lu", (unsigned long)r->kit_sn);
	put_str(&o, num);
	put_str(&o, ",variant=");
	put_tag(&o, omnik_variant_label(r, label));
	if (omnik_total_power(r, &pac))
		put_field(&o, &nf, "pac", OMNIK_PAC1, pac);
	for (int i = 0; i < OMNIK_NFIELDS; i++) {
		const char *fname = omnik_fields[i].name;
		char lower[16];
		size_t k;

		if (r->value[i] == OMNIK_ABSENT)
			continue;
		/* An offline frame's 0 hours is a placeholder, no meter
		 * reading: InfluxDB would draw the counter falling to 0. */
		if (i == OMNIK_HTOTAL && r->value[i] == 0)
			continue;
		for (k = 0; fname[k] && k < sizeof(lower) - 1; k++)
			lower[k] = (char)(fname[k] >= 'A' && fname[k] <= 'Z' ?
			    fname[k] - 'A' + 'a' : fname[k]);
		lower[k] = '\0';
		put_field(&o, &nf, lower, (enum omnik_field)i, r->value[i]);
	}
	if (nf == 0) {
		*why = "it carries no value";
		return 0;
	}
	snprintf(num, sizeof(num), " %lld\n", (long long)row->when.tv_sec);
	put_str(&o, num);
	return o.full ? 0 : o.len;
}
