/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_invstate.c: the rules across an inverter's readings (invstate.h):
 * the rate limit, E total and H total never going down, E today against
 * the time of day, the time a buffered record gets, distinct times for
 * readings that come together, seeding from a real journal, the bound.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "invstate.h"
#include "journal.h"
#include "omnik.h"

/* 2026-06-01 12:00:00 UTC: the tests run with TZ=UTC. */
#define NOON 1780315200

static void
reading(struct omnik_reading *r, const char *sn, int64_t etotal,
    int64_t etoday)
{
	omnik_reading_clear(r);
	snprintf(r->inverter_sn, sizeof(r->inverter_sn), "%.16s", sn);
	r->phases = 1;
	r->value[OMNIK_ETOTAL] = etotal;
	r->value[OMNIK_ETODAY] = etoday;
	r->value[OMNIK_HTOTAL] = 1000;
}

static enum invstate_verdict
at(const struct omnik_reading *r, time_t t, suseconds_t us,
    struct invstate_result *res)
{
	struct timeval tv = { t, us };

	return invstate_check(r, &tv, res);
}

static int
setup(void **state)
{
	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	invstate_reset();
	return 0;
}

/* A kit's rate passes forever; a flood passes its burst, then a trickle. */
static void
test_rate(void **state)
{
	struct omnik_reading r;
	struct invstate_result res;
	struct invstate_stats st;
	int ok = 0, logs = 0, kept = 0;

	(void)state;
	reading(&r, "NLDN000000000001", 10000, 100);
	for (int i = 0; i < 24 * 12 * 3; i++)	/* three days, 5 minutes */
		assert_int_equal(at(&r, NOON + i * 300, 0, &res), INVSTATE_OK);

	reading(&r, "NLDN000000000002", 10000, 100);
	for (int i = 0; i < 1000; i++) {
		enum invstate_verdict v = at(&r, NOON, i, &res);

		if (v == INVSTATE_OK) {
			ok++;
			continue;
		}
		assert_int_equal(v, INVSTATE_RATE);
		assert_non_null(strstr(res.why, "NLDN000000000002"));
		logs += res.log;
		kept += res.keep;
		if (res.log)
			assert_int_equal(res.excess, 1);
	}
	assert_int_equal(ok, INVSTATE_BURST);
	assert_int_equal(logs, 1);		/* once a minute */
	assert_int_equal(kept, INVSTATE_KEPT_MAX);
	/* Ten seconds later, one more. */
	assert_int_equal(at(&r, NOON + INVSTATE_RATE_S, 0, &res), INVSTATE_OK);
	assert_int_equal(at(&r, NOON + INVSTATE_RATE_S, 1, &res),
	    INVSTATE_RATE);
	/* Another inverter is not held back by this one. */
	reading(&r, "NLDN000000000003", 10000, 100);
	assert_int_equal(at(&r, NOON, 0, &res), INVSTATE_OK);
	invstate_stats(&st);
	assert_int_equal(st.rate_excess, 1000 - INVSTATE_BURST + 1);
	assert_int_equal(st.rate_kept, INVSTATE_KEPT_MAX);
}

static void
test_totals_never_go_down(void **state)
{
	struct omnik_reading r;
	struct invstate_result res;
	const char *sn = "NLDN000000000010";

	(void)state;
	reading(&r, sn, 97025, 155);
	assert_int_equal(at(&r, NOON, 0, &res), INVSTATE_OK);
	r.value[OMNIK_ETOTAL] = 97024;		/* 0.1 kWh: rounding */
	assert_int_equal(at(&r, NOON + 300, 0, &res), INVSTATE_OK);
	r.value[OMNIK_ETOTAL] = 97022;
	assert_int_equal(at(&r, NOON + 600, 0, &res), INVSTATE_IMPLAUSIBLE);
	assert_string_equal(res.why, "ETOTAL 9702.2 kWh below the 9702.4 kWh "
	    "of inverter NLDN000000000010's last reading");
	/* The refused one is not remembered: the next real one passes. */
	r.value[OMNIK_ETOTAL] = 97030;
	assert_int_equal(at(&r, NOON + 900, 0, &res), INVSTATE_OK);
	r.value[OMNIK_HTOTAL] = 999;
	assert_int_equal(at(&r, NOON + 1200, 0, &res), INVSTATE_IMPLAUSIBLE);
	assert_non_null(strstr(res.why, "HTOTAL 999 h below the 1000 h"));
	/* Absent totals are not compared. */
	r.value[OMNIK_HTOTAL] = OMNIK_ABSENT;
	r.value[OMNIK_ETOTAL] = OMNIK_ABSENT;
	assert_int_equal(at(&r, NOON + 1500, 0, &res), INVSTATE_OK);
	/* A reading received before the last (a replayed capture) is not
	 * compared: its totals are older. */
	reading(&r, sn, 50000, 100);
	assert_int_equal(at(&r, NOON - 86400, 0, &res), INVSTATE_OK);
	/* ... and does not move the state back. */
	r.value[OMNIK_ETOTAL] = 97000;
	assert_int_equal(at(&r, NOON + 1800, 0, &res), INVSTATE_IMPLAUSIBLE);
}

/*
 * An offline frame (dusk, night) carries E today and E total with every
 * other value 0, H total too (docs/PROTOCOL.md, vector V03): that 0 is
 * the inverter's placeholder, not its hours going back. The frame is a
 * reading; the next day's H total is still held to the last real one.
 */
static void
test_offline_htotal_zero(void **state)
{
	struct omnik_reading r;
	struct invstate_result res;
	const char *sn = "NLDN000000000011";

	(void)state;
	reading(&r, sn, 97025, 155);
	r.value[OMNIK_RUNMODE] = 1;
	r.value[OMNIK_VAC1] = 2300;
	assert_int_equal(at(&r, NOON, 0, &res), INVSTATE_OK);
	r.value[OMNIK_RUNMODE] = 0;
	r.value[OMNIK_VAC1] = 0;
	r.value[OMNIK_HTOTAL] = 0;
	assert_int_equal(at(&r, NOON + 300, 0, &res), INVSTATE_OK);
	/* Generating again, below the last real H total: refused. */
	r.value[OMNIK_RUNMODE] = 1;
	r.value[OMNIK_VAC1] = 2300;
	r.value[OMNIK_HTOTAL] = 999;
	assert_int_equal(at(&r, NOON + 600, 0, &res), INVSTATE_IMPLAUSIBLE);
	assert_non_null(strstr(res.why, "HTOTAL 999 h below the 1000 h"));
	/* A generating frame saying 0 hours is no placeholder. */
	r.value[OMNIK_HTOTAL] = 0;
	assert_int_equal(at(&r, NOON + 900, 0, &res), INVSTATE_IMPLAUSIBLE);
}

static void
test_etoday_time_of_day(void **state)
{
	struct omnik_reading r;
	struct invstate_result res;
	const time_t midnight = NOON - 12 * 3600;

	(void)state;
	/* Yesterday evening: 30 kWh. */
	reading(&r, "NLDN000000000020", 10000, 3000);
	assert_int_equal(at(&r, midnight - 4 * 3600, 0, &res), INVSTATE_OK);
	/* 00:30, not yet reset: carried over, fine. */
	assert_int_equal(at(&r, midnight + 1800, 0, &res), INVSTATE_OK);
	/* Grown to 31 kWh at 00:35: one phase makes 7 kWh in 35 minutes. */
	r.value[OMNIK_ETODAY] = 3100;
	assert_int_equal(at(&r, midnight + 2100, 0, &res),
	    INVSTATE_IMPLAUSIBLE);
	assert_string_equal(res.why, "ETODAY 31.0 kWh at 00:35 local time: "
	    "more than 1 phase(s) can make since midnight");
	/* Morning reset, then growth within what the hours allow. */
	r.value[OMNIK_ETODAY] = 5;
	assert_int_equal(at(&r, midnight + 7 * 3600, 0, &res), INVSTATE_OK);
	r.value[OMNIK_ETODAY] = 8000;	/* 80 kWh by 07:10 (max 86 kWh) */
	assert_int_equal(at(&r, midnight + 7 * 3600 + 600, 0, &res),
	    INVSTATE_OK);
	/* Three phases may make three times as much. */
	reading(&r, "NLDN000000000021", 10000, 0);
	r.phases = 3;
	assert_int_equal(at(&r, midnight + 3600, 0, &res), INVSTATE_OK);
	r.value[OMNIK_ETODAY] = 3000;	/* 30 kWh at 02:00: max 72 */
	assert_int_equal(at(&r, midnight + 7200, 0, &res), INVSTATE_OK);
	r.phases = 1;			/* max 24 */
	r.value[OMNIK_ETODAY] = 3100;
	assert_int_equal(at(&r, midnight + 7300, 0, &res),
	    INVSTATE_IMPLAUSIBLE);
}

/*
 * Issue 10: a push with a buffered record (80 02 01) and the current one
 * (81 02 01) of one inverter, received together: two times, five minutes
 * apart; and two current readings that come together still get two.
 */
static void
test_times(void **state)
{
	struct omnik_reading r;
	struct invstate_result a, b, c;

	(void)state;
	reading(&r, "NLDN000000000030", 10000, 100);
	r.historical = true;
	assert_int_equal(at(&r, NOON, 250000, &a), INVSTATE_OK);
	r.historical = false;
	r.value[OMNIK_ETOTAL] = 10001;
	assert_int_equal(at(&r, NOON, 250000, &b), INVSTATE_OK);
	assert_int_equal(a.when.tv_sec, NOON - INVSTATE_HISTORICAL_S);
	assert_int_equal(a.when.tv_usec, 250000);
	assert_int_equal(b.when.tv_sec, NOON);
	assert_int_equal(b.when.tv_usec, 250000);
	assert_int_equal(at(&r, NOON, 250000, &c), INVSTATE_OK);
	assert_int_equal(c.when.tv_sec, NOON);
	assert_int_equal(c.when.tv_usec, 250001);
	/* A buffered record five minutes after a current one: not the
	 * current one's time. */
	r.historical = true;
	assert_int_equal(at(&r, NOON + 300, 250000, &c), INVSTATE_OK);
	assert_int_equal(c.when.tv_sec, NOON);
	assert_int_equal(c.when.tv_usec, 250002);
}

/* After a restart the table is seeded from the journal's last readings. */
static void
test_seed_from_journal(void **state)
{
	char dir[] = "/tmp/omk-invstate-XXXXXX", path[128], err[256];
	struct journal_opts o = { 0 };
	struct journal *j;
	struct omnik_reading r;
	struct invstate_result res;
	const char *e = NULL;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/j.db", dir);
	j = journal_open(path, &o, err, sizeof(err));
	assert_non_null(j);
	for (int i = 0; i < 4; i++) {
		struct record rec = { .reading = &r,
		    .when = { NOON + i * 300, 0 }, .frame = (const uint8_t *)"",
		    .frame_len = 0 };

		reading(&r, i == 2 ? "NLDN000000000041" : "NLDN000000000040",
		    20000 + i, 100);
		if (i == 3) {	/* offline: H total 0, the placeholder */
			r.value[OMNIK_RUNMODE] = 0;
			r.value[OMNIK_HTOTAL] = 0;
		}
		assert_int_equal(journal_add(j, &rec, &e), 0);
	}
	/* On the journal's own connection as on one of its own. */
	invstate_reset();
	assert_int_equal(invstate_seed_db(journal_db(j), err, sizeof(err)), 2);
	journal_close(j);

	invstate_reset();
	assert_int_equal(invstate_seed(path, err, sizeof(err)), 2);
	reading(&r, "NLDN000000000040", 19990, 100);	/* below 2000.3 */
	assert_int_equal(at(&r, NOON + 1200, 0, &res), INVSTATE_IMPLAUSIBLE);
	r.value[OMNIK_ETOTAL] = 20003;
	/* H total seeded from the last real one, not the offline 0. */
	r.value[OMNIK_HTOTAL] = 999;
	assert_int_equal(at(&r, NOON + 1200, 0, &res), INVSTATE_IMPLAUSIBLE);
	r.value[OMNIK_HTOTAL] = 1000;
	assert_int_equal(at(&r, NOON + 1200, 0, &res), INVSTATE_OK);
	/* The seeded time is taken: a reading at it moves on. */
	reading(&r, "NLDN000000000041", 20002, 100);
	assert_int_equal(at(&r, NOON + 600, 0, &res), INVSTATE_OK);
	assert_int_equal(res.when.tv_usec, 1);

	assert_int_equal(invstate_seed("/nonexistent/j.db", err,
	    sizeof(err)), -1);
	snprintf(err, sizeof(err), "rm -rf '%s'", dir);
	assert_int_equal(system(err), 0);
}

/* Memory is bounded whatever serials arrive. */
static void
test_bounded(void **state)
{
	struct omnik_reading r;
	struct invstate_result res;
	struct invstate_stats st;
	char sn[32];

	(void)state;
	invstate_reset();
	for (int i = 0; i < 20000; i++) {
		snprintf(sn, sizeof(sn), "X%015d", i);
		reading(&r, sn, 10000, 100);
		assert_int_equal(at(&r, NOON, 0, &res), INVSTATE_OK);
	}
	invstate_stats(&st);
	assert_true(st.inverters <= INVSTATE_SLOTS);
	assert_true(st.forgotten >= 20000 - INVSTATE_SLOTS);
	/* The last ones are still known. */
	reading(&r, sn, 9990, 100);
	assert_int_equal(at(&r, NOON + 300, 0, &res), INVSTATE_IMPLAUSIBLE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_rate, setup),
		cmocka_unit_test_setup(test_totals_never_go_down, setup),
		cmocka_unit_test_setup(test_offline_htotal_zero, setup),
		cmocka_unit_test_setup(test_etoday_time_of_day, setup),
		cmocka_unit_test_setup(test_times, setup),
		cmocka_unit_test_setup(test_seed_from_journal, setup),
		cmocka_unit_test_setup(test_bounded, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
