/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_influx.c: the line InfluxDB gets for a reading: tags escaped,
 * every present field a float (no `i` suffix, whatever the value), absent
 * fields and an offline frame's 0 hours left out, the time in seconds;
 * readings that cannot be written faithfully refused with a reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "influx.h"
#include "journal.h"

static void
row_init(struct journal_row *row)
{
	memset(row, 0, sizeof(*row));
	omnik_reading_clear(&row->r);
	row->id = 1;
	row->when.tv_sec = 1780000000;
	row->when.tv_usec = 123456;	/* not in a line of precision=s */
	row->r.kit_sn = 1600000000u;
	snprintf(row->r.inverter_sn, sizeof(row->r.inverter_sn),
	    "NLDN302013000000");
}

static const char *
line(const struct journal_row *row, const char *m)
{
	static char buf[INFLUX_LINE_MAX];
	const char *why;

	if (influx_line(row, m, buf, sizeof(buf), &why) == 0)
		return why ? why : "(did not fit)";
	return buf;
}

static void
full_reading(void **state)
{
	struct journal_row row;

	(void)state;
	row_init(&row);
	row.r.value[OMNIK_TEMP] = 352;
	row.r.value[OMNIK_VPV1] = 3001;
	row.r.value[OMNIK_IPV1] = 20;
	row.r.value[OMNIK_VAC1] = 2311;
	row.r.value[OMNIK_IAC1] = 113;
	row.r.value[OMNIK_FAC1] = 5002;
	row.r.value[OMNIK_PAC1] = 2615;
	row.r.value[OMNIK_ETODAY] = 1234;
	row.r.value[OMNIK_ETOTAL] = 56789;
	row.r.value[OMNIK_HTOTAL] = 4321;
	row.r.value[OMNIK_RUNMODE] = 1;
	assert_string_equal(line(&row, "omnik"),
	    "omnik,inverter_sn=NLDN302013000000,kit_sn=1600000000,"
	    "variant=omnik pac=2615,temp=35.2,vpv1=300.1,ipv1=2.0,"
	    "iac1=11.3,vac1=231.1,fac1=50.02,pac1=2615,etoday=12.34,"
	    "etotal=5678.9,htotal=4321,runmode=1 1780000000\n");
}

/* 0 W and -3.5 °C are values like any other, and stay floats. */
static void
zero_and_negative(void **state)
{
	struct journal_row row;

	(void)state;
	row_init(&row);
	row.r.value[OMNIK_TEMP] = -35;
	row.r.value[OMNIK_PAC1] = 0;
	assert_string_equal(line(&row, "omnik"),
	    "omnik,inverter_sn=NLDN302013000000,kit_sn=1600000000,"
	    "variant=omnik pac=0,temp=-3.5,pac1=0 1780000000\n");
}

/* Three phases: pac is their sum; PAC2/PAC3 their own fields. */
static void
three_phases(void **state)
{
	struct journal_row row;

	(void)state;
	row_init(&row);
	row.r.value[OMNIK_PAC1] = 1000;
	row.r.value[OMNIK_PAC2] = 1100;
	row.r.value[OMNIK_PAC3] = 1200;
	assert_string_equal(line(&row, "omnik"),
	    "omnik,inverter_sn=NLDN302013000000,kit_sn=1600000000,"
	    "variant=omnik pac=3300,pac1=1000,pac2=1100,pac3=1200 "
	    "1780000000\n");
}

/* An offline frame: no temperature, 0 hours (a placeholder). */
static void
offline_frame(void **state)
{
	struct journal_row row;

	(void)state;
	row_init(&row);
	row.r.value[OMNIK_VAC1] = 0;
	row.r.value[OMNIK_PAC1] = 0;
	row.r.value[OMNIK_ETOTAL] = 56789;
	row.r.value[OMNIK_HTOTAL] = 0;
	row.r.value[OMNIK_RUNMODE] = 0;
	assert_string_equal(line(&row, "omnik"),
	    "omnik,inverter_sn=NLDN302013000000,kit_sn=1600000000,"
	    "variant=omnik pac=0,vac1=0.0,pac1=0,etotal=5678.9,runmode=0 "
	    "1780000000\n");
}

static void
escaping(void **state)
{
	struct journal_row row;
	char m[64];

	(void)state;
	assert_int_equal(influx_escape_measurement("toolongname", m, 8), 0);
	assert_int_equal(influx_escape_measurement("pv roof,1", m, sizeof(m)),
	    strlen("pv\\ roof\\,1"));
	assert_string_equal(m, "pv\\ roof\\,1");
	assert_int_equal(influx_escape_measurement("a=b\"c", m, sizeof(m)), 5);
	assert_string_equal(m, "a=b\"c");	/* '=' and '"' are literal */

	row_init(&row);
	snprintf(row.r.inverter_sn, sizeof(row.r.inverter_sn), "AB C,D=E");
	row.r.value[OMNIK_PAC1] = 5;
	assert_string_equal(line(&row, m),
	    "a=b\"c,inverter_sn=AB\\ C\\,D\\=E,kit_sn=1600000000,"
	    "variant=omnik pac=5,pac1=5 1780000000\n");
}

static void
refused(void **state)
{
	struct journal_row row;
	char small[40];
	const char *why;

	(void)state;
	row_init(&row);
	assert_string_equal(line(&row, "omnik"), "it carries no value");
	row.r.value[OMNIK_HTOTAL] = 0;	/* only a placeholder */
	assert_string_equal(line(&row, "omnik"), "it carries no value");

	row.r.value[OMNIK_PAC1] = 5;
	snprintf(row.r.inverter_sn, sizeof(row.r.inverter_sn), "AB\\");
	assert_string_equal(line(&row, "omnik"),
	    "its inverter serial holds a backslash");

	row_init(&row);
	row.r.value[OMNIK_PAC1] = 5;
	assert_int_equal(influx_line(&row, "omnik", small, sizeof(small),
	    &why), 0);
	assert_null(why);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(full_reading),
		cmocka_unit_test(zero_and_negative),
		cmocka_unit_test(three_phases),
		cmocka_unit_test(offline_frame),
		cmocka_unit_test(escaping),
		cmocka_unit_test(refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
