/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_twoprog.c: two programs on one journal. The same sample stored by
 * two of them is one row (the copy counted on it), with the writer
 * thread too and from two processes writing at once; readings that only
 * look alike (one value apart, further apart in time than the window,
 * another inverter, the same program twice, no energy values) are two;
 * a journal of schema 4 made by the previous omniklog keeps every row,
 * and its rows are never taken for copies. And the deliveries' lock:
 * one holder; the next takes it when the first closes it or is killed
 * (kill -9); a lock file replaced under the path passes to the new file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "journal.h"
#include "journal_int.h"
#include "lease.h"
#include "omnik.h"

static char dir[64];
static char path[256];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/omk-test-twoprog-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/j.db", dir);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct journal *
open_as(const char *origin, int window)
{
	struct journal_opts o = { .origin = origin, .dup_window = window };
	char err[512];
	struct journal *j = journal_open(path, &o, err, sizeof(err));

	if (j == NULL)
		fail_msg("journal_open: %s", err);
	return j;
}

/* A sample as a push (and a poll of the same kit) carries it. */
static void
sample(struct omnik_reading *r, int k)
{
	omnik_reading_clear(r);
	r->kit_sn = 602302630u;
	r->ctrl1 = 0x41;
	snprintf(r->inverter_sn, sizeof(r->inverter_sn), "NLDN302013%06d", 1);
	r->value[OMNIK_TEMP] = 312 + k;
	r->value[OMNIK_VPV1] = 2451 + k;
	r->value[OMNIK_IPV1] = 37;
	r->value[OMNIK_IAC1] = 52;
	r->value[OMNIK_VAC1] = 2311;
	r->value[OMNIK_FAC1] = 4998;
	r->value[OMNIK_PAC1] = 1180 + k;
	r->value[OMNIK_ETODAY] = 512 + k;
	r->value[OMNIK_ETOTAL] = 104321;
	r->value[OMNIK_HTOTAL] = 9876;
	r->value[OMNIK_RUNMODE] = 1;
}

static void
add_at(struct journal *j, const struct omnik_reading *r, time_t t)
{
	struct record rec = { .reading = r, .when = { t, 250000 },
	    .source = "test" };
	const char *e = NULL;

	if (journal_add(j, &rec, &e) != 0)
		fail_msg("journal_add: %s", e);
}

static int64_t
sql_int(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* The relay stores it; the sniffer's copy a second later is counted. */
static void
same_sample_twice_is_one(void **state)
{
	struct journal *relay = open_as("omnik-relay", 300);
	struct journal *sniff = open_as("omnik-sniff", 300);
	struct journal *poll = open_as("omnik-poll", 300);
	struct omnik_reading r;

	(void)state;
	sample(&r, 0);
	add_at(relay, &r, 1764590000);
	add_at(sniff, &r, 1764590001);
	/* And a poll of the kit's cached sample four minutes later. */
	add_at(poll, &r, 1764590240);
	assert_int_equal(sql_int("SELECT count(*) FROM readings"), 1);
	assert_int_equal(sql_int("SELECT duplicates FROM readings"), 2);
	assert_int_equal(sql_int("SELECT count(*) FROM readings WHERE "
	    "origin = 'omnik-relay'"), 1);
	assert_int_equal(journal_duplicates(sniff), 1);
	assert_int_equal(journal_duplicates(poll), 1);
	assert_int_equal(journal_duplicates(relay), 0);
	journal_close(poll);
	/* Not delivered again: no row past the one there is. */
	assert_int_equal(journal_last_id(sniff, NULL), 1);
	journal_close(relay);
	journal_close(sniff);
}

/*
 * The status page's reading carries fewer fields (power, E-today,
 * E-total): the same sample still, compared on what both carry.
 */
static void
fewer_fields_same_sample(void **state)
{
	struct journal *relay = open_as("omnik-relay", 300);
	struct journal *poll = open_as("omnik-poll", 300);
	struct omnik_reading r, page;

	(void)state;
	sample(&r, 3);
	omnik_reading_clear(&page);
	snprintf(page.inverter_sn, sizeof(page.inverter_sn), "%s",
	    r.inverter_sn);
	page.value[OMNIK_PAC1] = r.value[OMNIK_PAC1];
	page.value[OMNIK_ETODAY] = r.value[OMNIK_ETODAY];
	page.value[OMNIK_ETOTAL] = r.value[OMNIK_ETOTAL];
	add_at(relay, &r, 1764590000);
	add_at(poll, &page, 1764590240);
	assert_int_equal(sql_int("SELECT count(*) FROM readings"), 1);
	/* The other way round: the page first, then the push. */
	page.value[OMNIK_ETODAY]++;
	r.value[OMNIK_ETODAY]++;
	add_at(poll, &page, 1764590600);
	add_at(relay, &r, 1764590610);
	assert_int_equal(sql_int("SELECT count(*) FROM readings"), 2);
	assert_int_equal(sql_int("SELECT total(duplicates) FROM readings"), 2);
	journal_close(relay);
	journal_close(poll);
}

/* Two real readings are never one. */
static void
alike_but_different_are_two(void **state)
{
	struct journal *relay = open_as("omnik-relay", 300);
	struct journal *sniff = open_as("omnik-sniff", 300);
	struct journal *off = open_as("omnik-poll", 0);
	struct omnik_reading r, x;
	int64_t n = 1;

	(void)state;
	sample(&r, 7);
	add_at(relay, &r, 1764590000);
	/* One watt apart. */
	x = r;
	x.value[OMNIK_PAC1]++;
	add_at(sniff, &x, 1764590001);
	assert_int_equal(sql_int("SELECT count(*) FROM readings"), ++n);
	/* A tenth of a volt apart, in a field the push alone has. */
	x = r;
	x.value[OMNIK_VAC1]++;
	add_at(sniff, &x, 1764590001);
	assert_int_equal(sql_int("SELECT count(*) FROM readings"), ++n);
	/* Equal, but further apart than the window (both ways). */
	add_at(sniff, &r, 1764590000 + 301);
	assert_int_equal(sql_int("SELECT count(*) FROM readings"), ++n);
	add_at(sniff, &r, 1764590000 - 301);
	assert_int_equal(sql_int("SELECT count(*) FROM readings"), ++n);
	/* Equal, another inverter. */
	x = r;
	x.inverter_sn[15] = '2';
	add_at(sniff, &x, 1764590000);
	assert_int_equal(sql_int("SELECT count(*) FROM readings"), ++n);
	/* The same program twice: two offline frames alike, 5 min apart. */
	omnik_reading_clear(&x);
	snprintf(x.inverter_sn, sizeof(x.inverter_sn), "%s", r.inverter_sn);
	x.value[OMNIK_ETODAY] = 1800;
	x.value[OMNIK_ETOTAL] = 104339;
	x.value[OMNIK_PAC1] = 0;
	add_at(relay, &x, 1764600000);
	add_at(relay, &x, 1764600299);
	assert_int_equal(sql_int("SELECT count(*) FROM readings"), n += 2);
	/* Without E-today and E-total nothing says it is the same sample. */
	x.value[OMNIK_ETODAY] = OMNIK_ABSENT;
	x.value[OMNIK_ETOTAL] = OMNIK_ABSENT;
	add_at(relay, &x, 1764610000);
	add_at(sniff, &x, 1764610000);
	assert_int_equal(sql_int("SELECT count(*) FROM readings"), n += 2);
	/* duplicate_window = 0: every reading is stored. */
	add_at(off, &r, 1764590000);
	assert_int_equal(sql_int("SELECT count(*) FROM readings"), ++n);
	assert_int_equal(sql_int("SELECT total(duplicates) FROM readings"), 0);
	assert_int_equal(journal_duplicates(sniff), 0);
	journal_close(relay);
	journal_close(sniff);
	journal_close(off);
}

/*
 * The search for a copy is skipped when no other program's row can be
 * near in time: what each connection learnt of the rows before its first
 * reading (per inverter), of the rows others stored since (between its
 * transactions, in batches too), must find every copy all the same.
 */
static void
copies_found_whatever_was_known(void **state)
{
	struct journal *relay = open_as("omnik-relay", 300);
	struct journal *sniff = open_as("omnik-sniff", 300);
	struct journal *poll;
	struct omnik_reading r1, r2, r3, x;
	const time_t t = 1764590000;
	const char *e = NULL;

	(void)state;
	sample(&r1, 1);
	sample(&r2, 2);
	sample(&r3, 3);
	add_at(sniff, &r1, t);		/* sniff knows an empty journal */
	add_at(relay, &r2, t + 1000);	/* not near r1: no search */
	assert_int_equal(relay->c.dup.searches, 0);
	/* Stored by another since sniff's last transaction. */
	add_at(sniff, &r2, t + 1001);
	assert_int_equal(sql_int("SELECT count(*) FROM readings"), 2);
	/* Before relay's first reading, near its time. */
	add_at(relay, &r1, t + 5);
	assert_int_equal(sql_int("SELECT count(*) FROM readings"), 2);
	/* A program started after both. */
	poll = open_as("omnik-poll", 300);
	add_at(poll, &r2, t + 1100);
	assert_int_equal(sql_int("SELECT count(*) FROM readings"), 2);
	assert_int_equal(sql_int("SELECT total(duplicates) FROM readings"), 3);
	/* In a batch: the other's row came between two of relay's. */
	assert_int_equal(journal_begin(relay, &e), 0);
	x = r3;
	x.value[OMNIK_ETODAY] += 100;
	add_at(relay, &x, t + 9000);
	assert_int_equal(journal_commit(relay, &e), 0);
	add_at(sniff, &r3, t + 9100);
	assert_int_equal(journal_begin(relay, &e), 0);
	add_at(relay, &x, t + 9200);	/* relay's own: not a copy */
	add_at(relay, &r3, t + 9101);
	assert_int_equal(journal_commit(relay, &e), 0);
	assert_int_equal(sql_int("SELECT count(*) FROM readings"), 5);
	assert_int_equal(sql_int("SELECT duplicates FROM readings WHERE "
	    "usec = 1764599100250000"), 1);
	/* A batch rolled back: what it saw is not taken as known. */
	assert_int_equal(journal_begin(sniff, &e), 0);
	x.value[OMNIK_ETODAY] += 100;
	add_at(sniff, &x, t + 20000);
	assert_int_equal(sqlite3_exec(sniff->c.db, "ROLLBACK", NULL, NULL,
	    NULL), SQLITE_OK);
	sniff->tx = 0;
	add_at(relay, &x, t + 20001);	/* may take the rolled-back id */
	add_at(sniff, &x, t + 20002);
	assert_int_equal(sql_int("SELECT count(*) FROM readings"), 6);
	assert_int_equal(sql_int("SELECT duplicates FROM readings ORDER BY id "
	    "DESC LIMIT 1"), 1);
	journal_close(poll);
	journal_close(relay);
	journal_close(sniff);
}

/*
 * More inverters than a connection keeps in mind: what it forgot it asks
 * again, and a copy of a row from before its first reading is found.
 */
static void
many_inverters_still_found(void **state)
{
	struct journal *relay = open_as("omnik-relay", 300);
	struct journal *sniff = open_as("omnik-sniff", 300);
	struct omnik_reading r, x, y;
	const time_t t = 1764590000;

	(void)state;
	sample(&r, 1);
	y = r;
	y.inverter_sn[1] = 'Y';
	add_at(relay, &r, t);			/* both before sniff's first */
	add_at(relay, &y, t);
	x = r;
	x.value[OMNIK_ETODAY] += 50;
	add_at(sniff, &x, t);			/* sniff asks for r's inverter */
	for (int k = 0; k < 40; k++) {		/* 40 inverters more */
		x = r;
		x.inverter_sn[1] = 'X';
		x.inverter_sn[14] = (char)('A' + k / 10);
		x.inverter_sn[15] = (char)('0' + k % 10);
		add_at(sniff, &x, t + 1);
	}
	assert_int_equal(sql_int("SELECT count(*) FROM readings"), 43);
	/* Only for the first, near relay's row of its inverter. */
	assert_int_equal(sniff->c.dup.searches, 1);
	/* Forgotten by now and asked again; never asked before. */
	add_at(sniff, &r, t + 2);
	add_at(sniff, &y, t + 2);
	assert_int_equal(sql_int("SELECT count(*) FROM readings"), 43);
	assert_int_equal(sql_int("SELECT total(duplicates) FROM readings"), 2);
	journal_close(relay);
	journal_close(sniff);
}

/* One program alone searches for copies of nothing. */
static void
alone_no_search(void **state)
{
	struct journal *relay = open_as("omnik-relay", 300);
	struct journal *sniff = open_as("omnik-sniff", 300);
	struct omnik_reading r;
	const time_t t = 1764590000;

	(void)state;
	for (int k = 0; k < 100; k++) {
		sample(&r, k);
		add_at(relay, &r, t + 60 * k);
	}
	assert_int_equal(sql_int("SELECT count(*) FROM readings"), 100);
	assert_int_equal(relay->c.dup.searches, 0);
	/* Another program joins: near its rows, relay searches again. */
	sample(&r, 200);
	add_at(sniff, &r, t + 6000);
	add_at(relay, &r, t + 6001);
	assert_int_equal(sql_int("SELECT count(*) FROM readings"), 101);
	assert_true(relay->c.dup.searches > 0);
	journal_close(relay);
	journal_close(sniff);
}

/*
 * Two processes, each with its writer thread, store the same 300
 * samples at once: each is one row, the other copy counted.
 */
#define RACE_N 300
static void
two_processes_at_once(void **state)
{
	static const char *const who[2] = { "omnik-relay", "omnik-sniff" };
	pid_t pid[2];
	int status;

	(void)state;
	journal_close(open_as("omnik-relay", 300));	/* schema made */
	for (int p = 0; p < 2; p++) {
		if ((pid[p] = fork()) == 0) {
			struct journal *j = open_as(who[p], 300);
			char err[256];
			const char *e;
			struct omnik_reading r;

			if (journal_writer_start(j, false, err, sizeof(err)))
				_exit(3);
			for (int k = 0; k < RACE_N; k++) {
				sample(&r, k);
				add_at(j, &r, 1764590000 + k * 2);
			}
			if (journal_sync(j, 20000, &e) != 0)
				_exit(4);
			journal_close(j);
			_exit(0);
		}
		assert_true(pid[p] > 0);
	}
	for (int p = 0; p < 2; p++) {
		assert_int_equal(waitpid(pid[p], &status, 0), pid[p]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(sql_int("SELECT count(*) FROM readings"), RACE_N);
	assert_int_equal(sql_int("SELECT count(DISTINCT etoday) FROM readings"),
	    RACE_N);
	assert_int_equal(sql_int("SELECT total(duplicates) FROM readings"),
	    RACE_N);
}

/* Run a file of SQL (the v4 fixture) into a new journal file. */
static void
load_sql(const char *file)
{
	FILE *fp = fopen(file, "r");
	char *sql, *msg = NULL;
	sqlite3 *db;
	long n;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	rewind(fp);
	sql = calloc(1, (size_t)n + 1);
	assert_non_null(sql);
	assert_int_equal(fread(sql, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", file, msg);
	sqlite3_close(db);
	free(sql);
}

/*
 * A journal the previous omniklog (schema 4) made, 15 readings of which
 * three alike each: every row is kept, cursors too; none of them is
 * ever taken for a copy (no origin), even of the same sample again.
 */
static void
migrates_v4_keeping_every_row(void **state)
{
	struct journal *j;
	struct journal_row row;
	const char *e;
	int64_t pos;
	int n;

	(void)state;
	load_sql("tests/data/journal-v4.sql");
	assert_int_equal(sql_int("PRAGMA user_version"), 4);
	assert_int_equal(sql_int("SELECT count(*) FROM readings"), 15);
	j = open_as("omnik-relay", 300);
	assert_int_equal(sql_int("PRAGMA user_version"), 5);
	assert_int_equal(sql_int("SELECT count(*) FROM readings"), 15);
	assert_int_equal(sql_int("SELECT count(*) FROM rejects"), 6);
	assert_int_equal(sql_int("SELECT count(*) FROM readings WHERE origin "
	    "IS NULL AND duplicates = 0"), 15);
	assert_int_equal(sql_int("SELECT count(DISTINCT frame) FROM readings"),
	    5);
	assert_int_equal(journal_cursor_get(j, "mqtt", NULL, 0, &pos, &e), 0);
	assert_int_equal(pos, 10);
	/* The old row's sample again, at its time, by a program now. */
	assert_int_equal(journal_fetch(j, 0, NULL, &row, 1, &n, &e), 0);
	assert_int_equal(n, 1);
	{
		struct record rec = { .reading = &row.r, .when = row.when,
		    .source = "test" };

		assert_int_equal(journal_add(j, &rec, &e), 0);
	}
	assert_int_equal(sql_int("SELECT count(*) FROM readings"), 16);
	assert_int_equal(journal_duplicates(j), 0);
	journal_close(j);
}

/*
 * Programs sharing a journal start together after an upgrade: each
 * migrates the same file at once; every one opens it, the steps applied
 * once.
 */
#define MIGRATORS 4
static void
migrates_once_when_started_together(void **state)
{
	pid_t pid[MIGRATORS];
	int status, fails = 0;

	(void)state;
	load_sql("tests/data/journal-v4.sql");
	for (int p = 0; p < MIGRATORS; p++) {
		if ((pid[p] = fork()) == 0) {
			struct journal_opts o = { .origin = "omnik-relay",
			    .dup_window = 300 };
			char err[512];
			struct journal *j = journal_open(path, &o, err,
			    sizeof(err));

			if (j == NULL) {
				fprintf(stderr, "# %s\n", err);
				_exit(1);
			}
			journal_close(j);
			_exit(0);
		}
		assert_true(pid[p] > 0);
	}
	for (int p = 0; p < MIGRATORS; p++) {
		assert_int_equal(waitpid(pid[p], &status, 0), pid[p]);
		fails += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	}
	assert_int_equal(fails, 0);
	assert_int_equal(sql_int("PRAGMA user_version"), 5);
	assert_int_equal(sql_int("SELECT count(*) FROM readings"), 15);
}

/* ------------------------------------------------------------------ */
/* The deliveries' lock */

static void
lease_one_holder_then_the_next(void **state)
{
	char err[256], holder[96], lock[300];
	struct lease *a, *b;

	(void)state;
	a = lease_open(path, "omnik-relay", err, sizeof(err));
	b = lease_open(path, "omnik-sniff", err, sizeof(err));
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(lease_take(a, holder, sizeof(holder), err,
	    sizeof(err)), 1);
	assert_int_equal(lease_take(b, holder, sizeof(holder), err,
	    sizeof(err)), 0);
	snprintf(lock, sizeof(lock), "omnik-relay (pid %ld)", (long)getpid());
	assert_string_equal(holder, lock);
	assert_int_equal(lease_take(a, holder, sizeof(holder), err,
	    sizeof(err)), 1);		/* kept */
	lease_close(a);			/* a clean exit */
	assert_int_equal(lease_take(b, holder, sizeof(holder), err,
	    sizeof(err)), 1);
	/* The file replaced under the path: the new file's lock counts. */
	snprintf(lock, sizeof(lock), "%s.lock", path);
	assert_int_equal(unlink(lock), 0);
	a = lease_open(path, "omnik-relay", err, sizeof(err));
	assert_int_equal(lease_take(a, holder, sizeof(holder), err,
	    sizeof(err)), 1);
	assert_int_equal(lease_take(b, holder, sizeof(holder), err,
	    sizeof(err)), 0);
	assert_false(lease_held(b));
	lease_close(a);
	lease_close(b);
}

static void
lease_after_kill_9(void **state)
{
	char err[256], holder[96], c;
	struct lease *l;
	int fds[2], status;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	if ((pid = fork()) == 0) {
		struct lease *h = lease_open(path, "omnik-sniff", err,
		    sizeof(err));

		alarm(60);	/* never outlives a failed test for long */
		if (h == NULL || lease_take(h, holder, sizeof(holder), err,
		    sizeof(err)) != 1)
			_exit(1);
		(void)!write(fds[1], "x", 1);
		for (;;)
			pause();
	}
	assert_true(pid > 0);
	close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);
	close(fds[0]);
	l = lease_open(path, "omnik-relay", err, sizeof(err));
	assert_int_equal(lease_take(l, holder, sizeof(holder), err,
	    sizeof(err)), 0);
	assert_non_null(strstr(holder, "omnik-sniff (pid "));
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(lease_take(l, holder, sizeof(holder), err,
	    sizeof(err)), 1);
	lease_close(l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(same_sample_twice_is_one,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(fewer_fields_same_sample,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(alike_but_different_are_two,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(copies_found_whatever_was_known,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(alone_no_search, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(many_inverters_still_found,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(two_processes_at_once, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(migrates_v4_keeping_every_row,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    migrates_once_when_started_together, setup, teardown),
		cmocka_unit_test_setup_teardown(lease_one_holder_then_the_next,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(lease_after_kill_9, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
