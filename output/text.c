/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * text.c: "2026-06-01 12:00:00 NLDN012345CS4321 kit 987654321: 2615 W, ..."
 * Absent values are left out rather than printed as numbers.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "outq.h"
#include "text.h"

/*
 * The line is built by hand, not with printf and strftime: the relay
 * logs one per reading, and formatting it was most of its user time.
 * The text is the same byte for byte (tests/test_text.c holds the
 * printf version as its reference).
 */
struct out {
	char *buf;
	size_t n, len;
};

/* Append len bytes, truncating at n - 1 like snprintf would. */
static void
put_mem(struct out *o, const char *s, size_t len)
{
	if (o->len + 1 >= o->n)
		return;
	if (len > o->n - 1 - o->len)
		len = o->n - 1 - o->len;
	memcpy(o->buf + o->len, s, len);
	o->len += len;
	o->buf[o->len] = '\0';
}

static void
put_str(struct out *o, const char *s)
{
	put_mem(o, s, strlen(s));
}

static void
put_u64(struct out *o, uint64_t v)
{
	char d[24];
	size_t i = sizeof(d);

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	put_mem(o, d + i, sizeof(d) - i);
}

static void
put_i64(struct out *o, int64_t v)
{
	if (v < 0) {
		put_mem(o, "-", 1);
		put_u64(o, (uint64_t)(-(v + 1)) + 1);
	} else
		put_u64(o, (uint64_t)v);
}

/* " label value unit" if the value is present. */
static void
put_value(struct out *o, const char *label, const struct omnik_reading *r,
    enum omnik_field f)
{
	char v[32];
	size_t len;

	if (r->value[f] == OMNIK_ABSENT)
		return;
	len = omnik_format_value(f, r->value[f], v, sizeof(v));
	put_str(o, label);
	put_mem(o, v, len);
	put_mem(o, " ", 1);
	put_str(o, omnik_fields[f].unit);
}

static void
two_digits(char *p, int v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
}

/*
 * "YYYY-MM-DD HH:MM:" of tm into p (17 bytes), as strftime's
 * "%Y-%m-%d %H:%M:" would have it; false for a year it would print
 * otherwise than in four digits.
 */
static bool
minute_prefix(const struct tm *tm, char *p)
{
	int y = tm->tm_year + 1900;

	if (y < 1000 || y > 9999 || tm->tm_mon < 0 || tm->tm_mon > 11 ||
	    tm->tm_mday < 1 || tm->tm_mday > 31 || tm->tm_hour < 0 ||
	    tm->tm_hour > 23 || tm->tm_min < 0 || tm->tm_min > 59)
		return false;
	two_digits(p, y / 100);
	two_digits(p + 2, y % 100);
	p[4] = '-';
	two_digits(p + 5, tm->tm_mon + 1);
	p[7] = '-';
	two_digits(p + 8, tm->tm_mday);
	p[10] = ' ';
	two_digits(p + 11, tm->tm_hour);
	p[13] = ':';
	two_digits(p + 14, tm->tm_min);
	p[16] = ':';
	return true;
}

/*
 * The local time of t as "%Y-%m-%d %H:%M:%S" into ts (at least 32
 * bytes). The minute's prefix is kept per thread: within one local
 * minute only the seconds change, so localtime_r runs once a minute. A
 * minute is cached only if its first and last second are in it (no
 * offset change within it, no leap second), else every call asks
 * localtime_r and strftime, as before. A tzset() to another zone changes
 * tzname or timezone, and that drops the cached minute.
 */
static void
format_time(time_t t, char *ts, size_t n)
{
	static _Thread_local time_t base;
	static _Thread_local bool valid;
	static _Thread_local char prefix[17];
	static _Thread_local const char *zone[2];
	static _Thread_local long zone_off;
	struct tm tm, end;
	time_t b;

	if (valid && t >= base && t - base < 60 && zone[0] == tzname[0] &&
	    zone[1] == tzname[1] && zone_off == timezone) {
		memcpy(ts, prefix, sizeof(prefix));
		two_digits(ts + 17, (int)(t - base));
		ts[19] = '\0';
		return;
	}
	if (localtime_r(&t, &tm) == NULL) {
		snprintf(ts, n, "?");
		return;
	}
	b = t - tm.tm_sec;
	valid = false;
	if (tm.tm_sec >= 0 && tm.tm_sec <= 59 && b <= t &&
	    minute_prefix(&tm, prefix)) {
		time_t last = b + 59;
		struct tm first;

		zone[0] = tzname[0];
		zone[1] = tzname[1];
		zone_off = timezone;
		if (localtime_r(&b, &first) != NULL && first.tm_sec == 0 &&
		    first.tm_min == tm.tm_min && first.tm_hour == tm.tm_hour &&
		    first.tm_mday == tm.tm_mday &&
		    localtime_r(&last, &end) != NULL && end.tm_sec == 59 &&
		    end.tm_min == tm.tm_min && end.tm_hour == tm.tm_hour &&
		    end.tm_mday == tm.tm_mday) {
			base = b;
			valid = true;
			memcpy(ts, prefix, sizeof(prefix));
			two_digits(ts + 17, tm.tm_sec);
			ts[19] = '\0';
			return;
		}
	}
	if (strftime(ts, n, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		ts[0] = '\0';
}

size_t
text_format(char *buf, size_t n, const struct omnik_reading *r,
    const struct timeval *when)
{
	static const char pv[3][6] = { ", PV1", ", PV2", ", PV3" };
	static const char ac[3][6] = { ", AC1", ", AC2", ", AC3" };
	struct out o = { buf, n, 0 };
	char ts[32];
	int64_t pac;

	if (n == 0)
		return 0;
	buf[0] = '\0';
	format_time(when->tv_sec, ts, sizeof(ts));
	put_str(&o, ts);
	put_mem(&o, " ", 1);
	put_str(&o, r->inverter_sn[0] ? r->inverter_sn : "?");
	put_mem(&o, " kit ", 5);
	put_u64(&o, (unsigned long)r->kit_sn);
	put_mem(&o, ":", 1);
	if (omnik_total_power(r, &pac)) {
		put_mem(&o, " ", 1);
		put_i64(&o, pac);
		put_mem(&o, " W", 2);
	}
	put_value(&o, ", today ", r, OMNIK_ETODAY);
	put_value(&o, ", total ", r, OMNIK_ETOTAL);
	put_value(&o, ", ", r, OMNIK_TEMP);
	for (int i = 0; i < 3; i++) {
		if (r->value[OMNIK_VPV1 + i] == OMNIK_ABSENT &&
		    r->value[OMNIK_IPV1 + i] == OMNIK_ABSENT)
			continue;
		put_mem(&o, pv[i], 5);
		put_value(&o, " ", r, OMNIK_VPV1 + i);
		put_value(&o, " ", r, OMNIK_IPV1 + i);
	}
	for (int i = 0; i < 3; i++) {
		if (r->value[OMNIK_VAC1 + i] == OMNIK_ABSENT &&
		    r->value[OMNIK_IAC1 + i] == OMNIK_ABSENT)
			continue;
		put_mem(&o, ac[i], 5);
		put_value(&o, " ", r, OMNIK_VAC1 + i);
		put_value(&o, " ", r, OMNIK_IAC1 + i);
		put_value(&o, " ", r, OMNIK_FAC1 + 2 * i);
		put_value(&o, " ", r, OMNIK_PAC1 + 2 * i);
	}
	if (r->value[OMNIK_RUNMODE] == 0)
		put_mem(&o, ", offline", 9);
	return o.len;
}

/*
 * Standard output: a line and an fflush per reading, as a pipe reader
 * expects; while held (outputs_hold: a replay's batch of packets) the
 * lines stay in stdio's buffer and go out together when it ends.
 */
struct text_out {
	FILE *fp;
	bool holding;
	struct outq *q;		/* live: written off the loop */
	uint64_t dropped;	/* lines, since the reader last took one */
	char err[128];
};

/* Without the memory for one: never held, as before. */
static struct text_out text_unheld;

/* A daemon's line: queued, or dropped and counted (see csv.c). */
static int
queue_line(struct text_out *t, const char *line, size_t len,
    const char **err)
{
	switch (outq_put_sink(t->q, line, len, &t->dropped, t->err,
	    sizeof(t->err))) {
	case 1:
		log_warnx("standard output: read again; %llu line%s dropped "
		    "while it was not", (unsigned long long)t->dropped,
		    t->dropped == 1 ? " was" : "s were");
		t->dropped = 0;
		/* FALLTHROUGH */
	case 0:
		return 0;
	default:
		*err = t->err;
		return -1;
	}
}

static int
sink_reading(void *ctx, const struct record *rec, const char **err)
{
	struct text_out *t = ctx;
	char line[512 + 1];	/* the 512 of text_format and the newline */
	size_t len = text_format(line, sizeof(line) - 1, rec->reading,
	    &rec->when);

	line[len++] = '\n';
	if (t->q != NULL)
		return queue_line(t, line, len, err);
	if (fwrite(line, 1, len, t->fp) != len ||
	    (!t->holding && fflush(t->fp) != 0)) {
		*err = "cannot write to standard output";
		return -1;
	}
	return 0;
}

static int
sink_hold(void *ctx, bool on, const char **err)
{
	struct text_out *t = ctx;

	t->holding = on;
	if (t->q == NULL && !on && fflush(t->fp) != 0) {
		*err = "cannot write to standard output";
		return -1;
	}
	return 0;
}

static void
sink_close(void *ctx)
{
	struct text_out *t = ctx;

	fflush(t->fp);
	outq_free(t->q, 2000);
	free(t);
}

void
text_sink(FILE *fp, bool live, struct sink *out)
{
	struct text_out *t = calloc(1, sizeof(*t));

	memset(out, 0, sizeof(*out));
	out->name = "text";
	out->reading = sink_reading;
	if (t == NULL) {
		text_unheld.fp = fp;
		out->ctx = &text_unheld;
		return;
	}
	t->fp = fp;
	/* Without the memory for the queue: written directly, as before. */
	if (live) {
		fflush(fp);
		t->q = outq_new(fileno(fp), TEXT_QUEUE_MAX);
	}
	out->ctx = t;
	out->hold = sink_hold;
	out->close = sink_close;
}

/* "SOURCE: LINE", handed to the log as it is (no printf per reading). */
static int
log_reading(void *ctx, const struct record *rec, const char **err)
{
	char line[LOG_MSG_MAX + 2 + 512];
	size_t len;

	(void)ctx;
	(void)err;
	if (!log_enabled(LOG_LVL_INFO))
		return 0;
	/* The log keeps LOG_MSG_MAX - 1 bytes of it, as it always did. */
	len = strnlen(rec->source, LOG_MSG_MAX);
	memcpy(line, rec->source, len);
	line[len++] = ':';
	line[len++] = ' ';
	text_format(line + len, 512, rec->reading, &rec->when);
	log_info_msg(line);
	return 0;
}

void
text_log_sink(struct sink *out)
{
	memset(out, 0, sizeof(*out));
	out->name = "log";
	out->reading = log_reading;
}
