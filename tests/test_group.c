/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_group.c: the journal as the programs get it from outputs_setup()
 * with an event loop, its writer thread committing in groups: readings
 * (and rejects) reach the CSV at once and the journal within a few loop
 * rounds, without the loop waiting for the commit; outputs_backlog counts
 * what is still queued; SIGHUP (outputs_reopen) and teardown commit what
 * is queued; a program killed -9 keeps every committed row and a
 * consistent file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "journal.h"
#include "omnik.h"
#include "outputs.h"
#include "registry.h"
#include "setup.h"

static char dir[64];
static char db_path[128], csv_path[128];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/omk-test-group-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(db_path, sizeof(db_path), "%s/j.db", dir);
	snprintf(csv_path, sizeof(csv_path), "%s/r.csv", dir);
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

static void
start(struct outputs *o, struct event_base **base, const char *sync)
{
	struct config cfg;
	char err[512];

	config_register(output_sections);
	config_defaults(&cfg);
	snprintf(cfg.db, sizeof(cfg.db), "%s", db_path);
	snprintf(cfg.csv, sizeof(cfg.csv), "%s", csv_path);
	snprintf(cfg.synchronous, sizeof(cfg.synchronous), "%s", sync);
	*base = event_base_new();
	assert_non_null(*base);
	if (outputs_setup(o, &cfg, *base, false, err, sizeof(err)) != 0)
		fail_msg("outputs_setup: %s", err);
}

static void
stop(struct outputs *o, struct event_base *base)
{
	outputs_teardown(o);
	event_base_free(base);
}

/* One reading per seed, as the decoder hands it over. */
static void
feed(struct outputs *o, int seed)
{
	struct omnik_reading r;
	struct omnik_msg m;
	uint8_t frame[OMNIK_FRAME_MAX];
	size_t flen;
	struct record rec;

	omnik_reading_clear(&r);
	r.kit_sn = 1601299688u;
	r.ctrl1 = 0x41;
	snprintf(r.inverter_sn, sizeof(r.inverter_sn), "NLDN302013%06u",
	    (unsigned)seed % 1000000u);
	/* Distinct, and within the decoder's limits (omnik_limits). */
	for (int i = 0; i < OMNIK_NFIELDS; i++)
		r.value[i] = omnik_limits[i].min + 10 + i + seed % 200;
	r.value[OMNIK_RUNMODE] = 1;
	r.value[OMNIK_TEMP] = 200 + seed % 500;
	assert_int_equal(omnik_encode_data(&r, 0x7D, frame, sizeof(frame),
	    &flen), OMNIK_OK);
	assert_int_equal(omnik_decode(frame, flen, &m), OMNIK_OK);
	rec = (struct record){ .reading = &m.reading,
	    .when = { 1700000000 + seed, 0 }, .source = "test",
	    .frame = frame, .frame_len = flen };
	outputs_reading(o, &rec);
}

static void
feed_reject(struct outputs *o)
{
	struct reject rej = { .reason = "bad checksum",
	    .when = { 1700000000, 0 }, .source = "test",
	    .frame = (const uint8_t *)"\x68\x00", .frame_len = 2 };

	outputs_reject(o, &rej);
}

/* What another process finds in the journal. */
static int64_t
disk(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v = -1;

	assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static int
csv_lines(void)
{
	FILE *f = fopen(csv_path, "r");
	int c, n = 0;

	if (f == NULL)
		return 0;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n - 1;		/* the header */
}

/* Loop rounds until the journal holds n readings (bounded: 10 s). */
static void
rounds_until(struct event_base *base, int64_t n)
{
	for (int i = 0; i < 1000; i++) {
		if (disk("SELECT count(*) FROM readings") >= n)
			return;
		(void)event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(10000);
	}
	fail_msg("the journal never reached %lld readings", (long long)n);
}

static void
commits_off_the_loop(void **state)
{
	struct outputs o;
	struct event_base *base;

	(void)state;
	start(&o, &base, "full");
	feed(&o, 1);
	feed(&o, 2);
	feed_reject(&o);
	/* The CSV has them at once; the writer commits them by itself. */
	assert_int_equal(csv_lines(), 2);
	rounds_until(base, 2);
	/* The reject may be in the next commit: wait for all of it. */
	{
		const char *e;

		if (outputs_sync(&o, 5000, &e) != 0)
			fail_msg("outputs_sync: %s", e);
	}
	assert_int_equal(disk("SELECT count(*) FROM rejects"), 1);
	assert_int_equal(disk("SELECT max(id) FROM readings"), 2);
	assert_int_equal(outputs_backlog(&o), 0);
	/* SIGHUP: whatever is queued is on disk when it returns. */
	for (int i = 3; i <= 40; i++)
		feed(&o, i);
	outputs_reopen(&o);
	assert_int_equal(disk("SELECT count(*) FROM readings"), 40);
	/* Teardown (SIGTERM drain) commits without the loop running. */
	for (int i = 41; i <= 60; i++)
		feed(&o, i);
	feed_reject(&o);
	stop(&o, base);
	assert_int_equal(disk("SELECT count(*) FROM readings"), 60);
	assert_int_equal(disk("SELECT count(*) FROM rejects"), 2);
	assert_int_equal(disk("SELECT count(DISTINCT inverter_sn) FROM "
	    "readings"), 60);
	assert_int_equal(csv_lines(), 60);
}

/*
 * The writer's eventfd and the check of the journal's file (every 2 s)
 * stay registered; nothing else is left armed.
 */
static void
one_event_for_the_writer(void **state)
{
	struct outputs o;
	struct event_base *base;

	(void)state;
	start(&o, &base, "normal");
	for (int i = 0; i < 600; i++)
		feed(&o, i);
	rounds_until(base, 600);
	assert_int_equal(event_base_get_num_events(base,
	    EVENT_BASE_COUNT_ADDED), 2);
	stop(&o, base);
}

/*
 * A relay-like child: 6 readings, committed, it reports; 4 more readings,
 * it reports at once; kill -9.
 */
static void
kill9_keeps_what_committed(void **state)
{
	int pfd[2];
	char c;
	pid_t pid;
	int status;
	int64_t n;

	(void)state;
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct outputs o;
		struct event_base *base;

		close(pfd[0]);
		start(&o, &base, "full");
		for (int i = 0; i < 6; i++)
			feed(&o, i);
		outputs_reopen(&o);	/* SIGHUP: waits for the commit */
		if (write(pfd[1], "c", 1) != 1)
			_exit(3);
		for (int i = 6; i < 10; i++)
			feed(&o, i);
		if (write(pfd[1], "p", 1) != 1)
			_exit(4);
		for (;;)
			pause();
	}
	close(pfd[1]);
	assert_int_equal(read(pfd[0], &c, 1), 1);
	assert_int_equal(c, 'c');
	assert_int_equal(read(pfd[0], &c, 1), 1);
	assert_int_equal(c, 'p');
	close(pfd[0]);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));

	/* The readonly check recovers the WAL as the next process would. */
	n = disk("SELECT count(*) FROM readings");
	assert_true(n >= 6 && n <= 10);
	assert_int_equal(disk("SELECT max(id) FROM readings"), n);
	assert_int_equal(disk("SELECT count(*) FROM pragma_integrity_check "
	    "WHERE integrity_check <> 'ok'"), 0);
	/* The CSV, written at once, holds all ten. */
	assert_int_equal(csv_lines(), 10);
	{
		struct outputs o;
		struct event_base *base;

		start(&o, &base, "full");	/* the restart carries on */
		feed(&o, 20);
		stop(&o, base);
		assert_int_equal(disk("SELECT max(id) FROM readings"), n + 1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(commits_off_the_loop, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(one_event_for_the_writer,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(kill9_keeps_what_committed,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
