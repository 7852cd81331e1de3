/*
 * test_group.c: the journal's group commit as the programs get it from
 * outputs_setup() with an event loop: readings (and rejects) handed to the
 * outputs reach the CSV at once but the journal only when the loop has
 * run its round; SIGHUP (outputs_reopen), outputs_backlog and teardown
 * commit what is pending; a program killed -9 after its loop ran keeps
 * every committed row and a consistent file.
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

	config_defaults(&cfg);
	snprintf(cfg.db, sizeof(cfg.db), "%s", db_path);
	snprintf(cfg.csv, sizeof(cfg.csv), "%s", csv_path);
	snprintf(cfg.synchronous, sizeof(cfg.synchronous), "%s", sync);
	*base = event_base_new();
	assert_non_null(*base);
	if (outputs_setup(o, &cfg, *base, err, sizeof(err)) != 0)
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
	for (int i = 0; i < OMNIK_NFIELDS; i++)
		r.value[i] = 10 + i + seed;
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

/* One round of the loop (its return value says whether events remain). */
static void
loop_round(struct event_base *base)
{
	(void)event_base_loop(base, EVLOOP_NONBLOCK);
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

static void
commits_after_the_round(void **state)
{
	struct outputs o;
	struct event_base *base;

	(void)state;
	start(&o, &base, "full");
	feed(&o, 1);
	feed(&o, 2);
	feed_reject(&o);
	/* The CSV has them at once; the journal not before the round. */
	assert_int_equal(csv_lines(), 2);
	assert_int_equal(disk("SELECT count(*) FROM readings"), 0);
	assert_int_equal(disk("SELECT count(*) FROM rejects"), 0);
	loop_round(base);
	assert_int_equal(disk("SELECT count(*) FROM readings"), 2);
	assert_int_equal(disk("SELECT count(*) FROM rejects"), 1);
	assert_int_equal(disk("SELECT max(id) FROM readings"), 2);
	/* Nothing left to run: the round's flush is not persistent. */
	assert_int_equal(event_base_get_num_events(base,
	    EVENT_BASE_COUNT_ADDED | EVENT_BASE_COUNT_ACTIVE), 0);
	/* Next round, and SIGHUP commits without the loop. */
	feed(&o, 3);
	assert_int_equal(disk("SELECT count(*) FROM readings"), 2);
	outputs_reopen(&o);
	assert_int_equal(disk("SELECT count(*) FROM readings"), 3);
	/* So does asking for the backlog (no remote output: 0). */
	feed(&o, 4);
	assert_int_equal(outputs_backlog(&o), 0);
	assert_int_equal(disk("SELECT count(*) FROM readings"), 4);
	/* And teardown (SIGTERM drain) without the loop running again. */
	feed(&o, 5);
	feed_reject(&o);
	assert_int_equal(disk("SELECT count(*) FROM readings"), 4);
	stop(&o, base);
	assert_int_equal(disk("SELECT count(*) FROM readings"), 5);
	assert_int_equal(disk("SELECT count(*) FROM rejects"), 2);
	assert_int_equal(csv_lines(), 5);
}

static void
full_group_commits_inside_the_round(void **state)
{
	struct outputs o;
	struct event_base *base;

	(void)state;
	start(&o, &base, "normal");
	for (int i = 0; i < JOURNAL_GROUP_MAX + 3; i++)
		feed(&o, i);
	assert_int_equal(disk("SELECT count(*) FROM readings"),
	    JOURNAL_GROUP_MAX);
	loop_round(base);
	assert_int_equal(disk("SELECT count(*) FROM readings"),
	    JOURNAL_GROUP_MAX + 3);
	stop(&o, base);
}

/*
 * A relay-like child: 6 readings, its loop runs (commit), it reports;
 * 4 more readings, it reports before its loop runs again; kill -9.
 */
static void
kill9_keeps_what_committed(void **state)
{
	int pfd[2];
	char c;
	pid_t pid;
	int status;

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
		loop_round(base);
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
	assert_int_equal(disk("SELECT count(*) FROM readings"), 6);
	assert_int_equal(disk("SELECT max(id) FROM readings"), 6);
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
		assert_int_equal(disk("SELECT max(id) FROM readings"), 7);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(commits_after_the_round, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    full_group_commits_inside_the_round, setup, teardown),
		cmocka_unit_test_setup_teardown(kill9_keeps_what_committed,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
