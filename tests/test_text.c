/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_text.c: the reading's text line, built by hand for speed, is the
 * same text the printf and strftime version made: that version is kept
 * here as the reference, and both format the same readings (random ones,
 * truncated ones) at the same times (runs within one minute, minutes
 * across DST changes, a zone with seconds in its offset, back and forth,
 * zone changes with tzset). And the log line of a reading (log_info_msg)
 * is the bytes log_info("%s: %s") wrote.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"
#include "omnik.h"
#include "text.h"

/* ---- the reference: text_format as it was written with printf ---- */

struct ref_out {
	char *buf;
	size_t n, len;
};

static void __attribute__((format(printf, 2, 3)))
ref_put(struct ref_out *o, const char *fmt, ...)
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

static void
ref_value(struct ref_out *o, const char *label, const struct omnik_reading *r,
    enum omnik_field f)
{
	char v[32];

	if (r->value[f] == OMNIK_ABSENT)
		return;
	omnik_format_value(f, r->value[f], v, sizeof(v));
	ref_put(o, "%s%s %s", label, v, omnik_fields[f].unit);
}

static size_t
ref_format(char *buf, size_t n, const struct omnik_reading *r,
    const struct timeval *when)
{
	struct ref_out o = { buf, n, 0 };
	struct tm tm;
	time_t t = when->tv_sec;
	char ts[32] = "?";
	int64_t pac;

	if (n == 0)
		return 0;
	buf[0] = '\0';
	if (localtime_r(&t, &tm) != NULL)
		strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
	ref_put(&o, "%s %s kit %lu:", ts, r->inverter_sn[0] ? r->inverter_sn :
	    "?", (unsigned long)r->kit_sn);
	if (omnik_total_power(r, &pac))
		ref_put(&o, " %lld W", (long long)pac);
	ref_value(&o, ", today ", r, OMNIK_ETODAY);
	ref_value(&o, ", total ", r, OMNIK_ETOTAL);
	ref_value(&o, ", ", r, OMNIK_TEMP);
	for (int i = 0; i < 3; i++) {
		if (r->value[OMNIK_VPV1 + i] == OMNIK_ABSENT &&
		    r->value[OMNIK_IPV1 + i] == OMNIK_ABSENT)
			continue;
		ref_put(&o, ", PV%d", i + 1);
		ref_value(&o, " ", r, OMNIK_VPV1 + i);
		ref_value(&o, " ", r, OMNIK_IPV1 + i);
	}
	for (int i = 0; i < 3; i++) {
		if (r->value[OMNIK_VAC1 + i] == OMNIK_ABSENT &&
		    r->value[OMNIK_IAC1 + i] == OMNIK_ABSENT)
			continue;
		ref_put(&o, ", AC%d", i + 1);
		ref_value(&o, " ", r, OMNIK_VAC1 + i);
		ref_value(&o, " ", r, OMNIK_IAC1 + i);
		ref_value(&o, " ", r, OMNIK_FAC1 + 2 * i);
		ref_value(&o, " ", r, OMNIK_PAC1 + 2 * i);
	}
	if (r->value[OMNIK_RUNMODE] == 0)
		ref_put(&o, ", offline");
	return o.len;
}

/* ---- readings ---- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Values absent now and then, zero now and then, large, negative. */
static void
random_reading(struct omnik_reading *r)
{
	static const char sn_chars[] = "NLDN0123456789ABCZ-";

	omnik_reading_clear(r);
	for (int f = 0; f < OMNIK_NFIELDS; f++) {
		switch (rnd() % 8) {
		case 0:
			break;	/* absent */
		case 1:
			r->value[f] = 0;
			break;
		case 2:
			/* Far beyond what a frame's 32 bits hold, both signs. */
			r->value[f] = (int64_t)(rnd() >> 20) - ((int64_t)1 << 43);
			break;
		case 3:
			r->value[f] = -(int64_t)(rnd() % 100000);
			break;
		default:
			r->value[f] = (int64_t)(rnd() % 100000);
		}
	}
	if (rnd() % 4 != 0) {
		size_t len = rnd() % (sizeof(r->inverter_sn) - 1);

		for (size_t i = 0; i < len; i++)
			r->inverter_sn[i] = sn_chars[rnd() % (sizeof(sn_chars) - 1)];
		r->inverter_sn[len] = '\0';
	}
	r->kit_sn = (uint32_t)rnd();
}

/* Both versions at time t, every length from none to the whole line. */
static void
check_at(const struct omnik_reading *r, time_t t)
{
	struct timeval when = { .tv_sec = t, .tv_usec = 123456 };
	char want[512], got[512];
	size_t wl, gl;

	wl = ref_format(want, sizeof(want), r, &when);
	gl = text_format(got, sizeof(got), r, &when);
	if (wl != gl || strcmp(want, got) != 0)
		fail_msg("at %lld (TZ %s):\nwant \"%s\"\n got \"%s\"",
		    (long long)t, getenv("TZ"), want, got);
	if (rnd() % 16 == 0) {
		size_t n = (size_t)(rnd() % (wl + 2));

		memset(want, 'x', sizeof(want));
		memset(got, 'x', sizeof(got));
		wl = ref_format(want, n, r, &when);
		gl = text_format(got, n, r, &when);
		assert_int_equal(gl, wl);
		if (n > 0)
			assert_memory_equal(got, want, n);
	}
}

static void
set_tz(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

static void
check_zone(const char *tz, time_t from, time_t to)
{
	struct omnik_reading r;

	set_tz(tz);
	for (int i = 0; i < 3000; i++) {
		time_t t;

		random_reading(&r);
		switch (i % 4) {
		case 0:		/* anywhere in the range */
			t = from + (time_t)(rnd() % (uint64_t)(to - from));
			break;
		case 1:		/* the next seconds, as a live relay sees them */
		case 2:
			t = from + (time_t)((uint64_t)i * 7 % (uint64_t)(to - from));
			break;
		default:	/* and back */
			t = from + (time_t)((uint64_t)i * 7 % (uint64_t)(to - from)) - 61;
		}
		check_at(&r, t);
	}
}

static void
test_same_text(void **state)
{
	(void)state;
	/* Europe's DST changes of 2026: 29 March 01:00 UTC, 25 October. */
	check_zone("CET-1CEST,M3.5.0,M10.5.0/3", 1774746000 - 3600,
	    1774746000 + 3600);
	check_zone("CET-1CEST,M3.5.0,M10.5.0/3", 1792890000 - 3600,
	    1792890000 + 3600);
	/* An offset with seconds in it: minutes do not start at :00 UTC. */
	check_zone("LMT+0:44:30", 1700000000, 1700000000 + 7200);
	check_zone("IST-5:30", 1700000000, 1700000000 + 7200);
	check_zone("UTC", 0, 4102444800);
	/* Years of more or fewer than four digits go the slow way. */
	check_zone("UTC", -62167219200 - 86400, -62167219200 + 86400);
	check_zone("UTC", 253402300799 - 3600, 253402300799 + 3600);
}

static void
test_zone_change(void **state)
{
	struct omnik_reading r;
	time_t t = 1780000000;

	(void)state;
	random_reading(&r);
	set_tz("UTC");
	check_at(&r, t);
	set_tz("IST-5:30");
	check_at(&r, t + 1);
	set_tz("UTC");
	check_at(&r, t + 2);
}

/* ---- the log line ---- */

static char logpath[] = "/tmp/omniklog-text-XXXXXX";

static void
slurp(const char *path, char *buf, size_t n)
{
	FILE *fp = fopen(path, "r");
	size_t got;

	assert_non_null(fp);
	got = fread(buf, 1, n - 1, fp);
	buf[got] = '\0';
	fclose(fp);
}

/* Everything logged by fn, with stderr a file. */
static void
capture(void (*fn)(const char *), const char *msg, char *out, size_t n)
{
	int fd, saved;

	strcpy(logpath, "/tmp/omniklog-text-XXXXXX");
	fd = mkstemp(logpath);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
	fn(msg);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	slurp(logpath, out, n);
	unlink(logpath);
}

static void
by_printf(const char *msg)
{
	log_info("%s", msg);
}

static void
test_log_msg_same_bytes(void **state)
{
	static char msg[3000], want[4096], got[4096];
	char js[64];

	(void)state;
	snprintf(msg, sizeof(msg), "198.51.100.2:40000: 2026-06-01 12:00:00 "
	    "NLDN012345CS4321 kit 987654321: 2615 W, today 3.2 kWh");
	for (int journal = 0; journal < 2; journal++) {
		if (journal) {
			struct stat st;
			int fd;

			/* $JOURNAL_STREAM naming the file stderr will be. */
			strcpy(logpath, "/tmp/omniklog-text-XXXXXX");
			fd = mkstemp(logpath);
			assert_true(fd >= 0);
			fflush(stderr);
			int saved = dup(STDERR_FILENO);
			dup2(fd, STDERR_FILENO);
			fstat(STDERR_FILENO, &st);
			snprintf(js, sizeof(js), "%llu:%llu",
			    (unsigned long long)st.st_dev,
			    (unsigned long long)st.st_ino);
			setenv("JOURNAL_STREAM", js, 1);
			log_init("omnik-relay", true, 0);
			by_printf(msg);
			log_info_msg(msg);
			fflush(stderr);
			dup2(saved, STDERR_FILENO);
			close(saved);
			close(fd);
			slurp(logpath, got, sizeof(got));
			unlink(logpath);
			unsetenv("JOURNAL_STREAM");
			log_init("omnik-relay", true, 0);
			/* Two lines, the same, with the priority prefix. */
			assert_true(strncmp(got, "<6>", 3) == 0);
			char *nl = strchr(got, '\n');

			assert_non_null(nl);
			assert_int_equal(strncmp(got, nl + 1,
			    (size_t)(nl - got + 1)), 0);
			continue;
		}
		log_init("omnik-relay", true, 0);
		capture(by_printf, msg, want, sizeof(want));
		capture(log_info_msg, msg, got, sizeof(got));
		assert_string_equal(got, want);
		assert_true(strncmp(got, "omnik-relay: 198.51.100.2", 25) == 0);
	}
	/* Longer than a message may be: cut at the same byte. */
	memset(msg, 'a', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	capture(by_printf, msg, want, sizeof(want));
	capture(log_info_msg, msg, got, sizeof(got));
	assert_string_equal(got, want);
	/* At -v 0 and above info is logged; nothing changes that here. */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_text),
		cmocka_unit_test(test_zone_change),
		cmocka_unit_test(test_log_msg_same_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
