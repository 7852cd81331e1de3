/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * text.c: "2026-06-01 12:00:00 NLDN012345CS4321 kit 987654321: 2615 W, ..."
 * Absent values are left out rather than printed as numbers.
 */
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "text.h"

struct out {
	char *buf;
	size_t n, len;
};

static void __attribute__((format(printf, 2, 3)))
put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (o->len >= o->n)
		return;
	va_start(ap, fmt);
	w = vsnprintf(o->buf + o->len, o->n - o->len, fmt, ap);
	va_end(ap);
	if (w > 0)
		o->len += (size_t)w;
	if (o->len >= o->n)
		o->len = o->n - 1;
}

/* " label value unit" if the value is present. */
static void
put_value(struct out *o, const char *label, const struct omnik_reading *r,
    enum omnik_field f)
{
	char v[32];

	if (r->value[f] == OMNIK_ABSENT)
		return;
	omnik_format_value(f, r->value[f], v, sizeof(v));
	put(o, "%s%s %s", label, v, omnik_fields[f].unit);
}

size_t
text_format(char *buf, size_t n, const struct omnik_reading *r,
    const struct timeval *when)
{
	struct out o = { buf, n, 0 };
	struct tm tm;
	time_t t = when->tv_sec;
	char ts[32] = "?";
	int64_t pac;

	if (n == 0)
		return 0;
	buf[0] = '\0';
	if (localtime_r(&t, &tm) != NULL)
		strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
	put(&o, "%s %s kit %lu:", ts, r->inverter_sn[0] ? r->inverter_sn : "?",
	    (unsigned long)r->kit_sn);
	if (omnik_total_power(r, &pac))
		put(&o, " %lld W", (long long)pac);
	put_value(&o, ", today ", r, OMNIK_ETODAY);
	put_value(&o, ", total ", r, OMNIK_ETOTAL);
	put_value(&o, ", ", r, OMNIK_TEMP);
	for (int i = 0; i < 3; i++) {
		if (r->value[OMNIK_VPV1 + i] == OMNIK_ABSENT &&
		    r->value[OMNIK_IPV1 + i] == OMNIK_ABSENT)
			continue;
		put(&o, ", PV%d", i + 1);
		put_value(&o, " ", r, OMNIK_VPV1 + i);
		put_value(&o, " ", r, OMNIK_IPV1 + i);
	}
	for (int i = 0; i < 3; i++) {
		if (r->value[OMNIK_VAC1 + i] == OMNIK_ABSENT &&
		    r->value[OMNIK_IAC1 + i] == OMNIK_ABSENT)
			continue;
		put(&o, ", AC%d", i + 1);
		put_value(&o, " ", r, OMNIK_VAC1 + i);
		put_value(&o, " ", r, OMNIK_IAC1 + i);
		put_value(&o, " ", r, OMNIK_FAC1 + 2 * i);
		put_value(&o, " ", r, OMNIK_PAC1 + 2 * i);
	}
	if (r->value[OMNIK_RUNMODE] == 0)
		put(&o, ", offline");
	return o.len;
}

static int
sink_reading(void *ctx, const struct record *rec, const char **err)
{
	char line[512];
	size_t len = text_format(line, sizeof(line), rec->reading, &rec->when);

	if (fprintf(ctx, "%.*s\n", (int)len, line) < 0 || fflush(ctx) != 0) {
		*err = "cannot write to standard output";
		return -1;
	}
	return 0;
}

void
text_sink(FILE *fp, struct sink *out)
{
	memset(out, 0, sizeof(*out));
	out->name = "text";
	out->ctx = fp;
	out->reading = sink_reading;
}

static int
log_reading(void *ctx, const struct record *rec, const char **err)
{
	char line[512];

	(void)ctx;
	(void)err;
	text_format(line, sizeof(line), rec->reading, &rec->when);
	log_info("%s: %s", rec->source, line);
	return 0;
}

void
text_log_sink(struct sink *out)
{
	memset(out, 0, sizeof(*out));
	out->name = "log";
	out->reading = log_reading;
}
