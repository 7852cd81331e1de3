/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_pvoutput.c: the status line PVOutput gets for a reading: local
 * date and time across both DST changes and midnight, energy today or
 * lifetime in Wh, power summed over the phases, optional v5 and v6.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "journal.h"
#include "pvoutput.h"

static const struct pvoutput_fmt today = { false, true, true };

static void
row_at(struct journal_row *row, time_t t)
{
	memset(row, 0, sizeof(*row));
	omnik_reading_clear(&row->r);
	row->when.tv_sec = t;
	row->r.value[OMNIK_ETODAY] = 1234;	/* 12.34 kWh */
	row->r.value[OMNIK_ETOTAL] = 56789;	/* 5678.9 kWh */
	row->r.value[OMNIK_PAC1] = 1500;
	row->r.value[OMNIK_TEMP] = 352;
	row->r.value[OMNIK_VAC1] = 2311;
}

static const char *
status(time_t t, const struct pvoutput_fmt *f)
{
	static char buf[96];
	struct journal_row row;

	row_at(&row, t);
	if (pvoutput_status(&row, f, buf, sizeof(buf)) == 0)
		return "(did not fit)";
	return buf;
}

static time_t
utc(int y, int mo, int d, int h, int mi)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
	    .tm_hour = h, .tm_min = mi };

	return timegm(&tm);
}

static int
amsterdam(void **state)
{
	(void)state;
	setenv("TZ", "Europe/Amsterdam", 1);
	tzset();
	return 0;
}

static void
spring_forward(void **state)
{
	(void)state;
	/* 2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00 UTC. */
	assert_string_equal(status(utc(2026, 3, 29, 0, 55), &today),
	    "20260329,01:55,12340,1500,,,35.2,231.1");
	assert_string_equal(status(utc(2026, 3, 29, 1, 0), &today),
	    "20260329,03:00,12340,1500,,,35.2,231.1");
	assert_string_equal(status(utc(2026, 3, 29, 10, 0), &today),
	    "20260329,12:00,12340,1500,,,35.2,231.1");
}

static void
fall_back(void **state)
{
	(void)state;
	/* 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00 UTC. */
	assert_string_equal(status(utc(2026, 10, 25, 0, 55), &today),
	    "20261025,02:55,12340,1500,,,35.2,231.1");
	assert_string_equal(status(utc(2026, 10, 25, 1, 0), &today),
	    "20261025,02:00,12340,1500,,,35.2,231.1");
	assert_string_equal(status(utc(2026, 10, 25, 12, 0), &today),
	    "20261025,13:00,12340,1500,,,35.2,231.1");
}

static void
local_midnight(void **state)
{
	(void)state;
	/* 22:30 UTC on 30 June is already 1 July in Amsterdam (CEST). */
	assert_string_equal(status(utc(2026, 6, 30, 22, 30), &today),
	    "20260701,00:30,12340,1500,,,35.2,231.1");
}

static void
lifetime_and_options(void **state)
{
	struct pvoutput_fmt life = { true, false, false };
	struct journal_row row;
	char buf[96];

	(void)state;
	assert_string_equal(status(utc(2026, 6, 1, 10, 0), &life),
	    "20260601,12:00,5678900,1500,,,,");
	/* Three phases summed; absent values left empty. */
	row_at(&row, utc(2026, 6, 1, 10, 5));
	row.r.value[OMNIK_PAC2] = 1400;
	row.r.value[OMNIK_PAC3] = 1300;
	row.r.value[OMNIK_TEMP] = OMNIK_ABSENT;
	assert_true(pvoutput_status(&row, &today, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "20260601,12:05,12340,4200,,,,231.1");
	/* Too small a buffer: nothing half-written is used. */
	assert_int_equal(pvoutput_status(&row, &today, buf, 10), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(spring_forward),
		cmocka_unit_test(fall_back),
		cmocka_unit_test(local_midnight),
		cmocka_unit_test(lifetime_and_options),
	};

	return cmocka_run_group_tests(tests, amsterdam, NULL);
}
