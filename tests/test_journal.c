/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_journal.c: the SQLite journal: every field of a reading lands in
 * its column and reads back exactly; rejects keep their reason and bytes;
 * an old schema is migrated with its rows kept; a newer one is refused;
 * retention deletes old rows but none a cursor still needs; a batch is
 * hidden from readers until it commits; the writer thread commits what
 * is queued, says so (news, notify), skips an entry SQLite refuses for
 * itself, keeps everything and retries while the file is locked, refuses
 * new entries only when full while failing, applies back-pressure
 * otherwise, commits on close and on the sink's reopen; a kill -9 keeps
 * every committed row and the file consistent; a journal deleted or
 * replaced while open is noticed and opened anew with nothing queued
 * lost, a file that is not a journal left untouched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "journal.h"
#include "journal_int.h"	/* journal_begin, journal_set_notify */
#include "omnik.h"

static char dir[] = "/tmp/omk-test-journal-XXXXXX";
static char path[256];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/omk-test-journal-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/j.db", dir);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[512];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A reading with every field present and distinct, encoded and decoded. */
static void
make_reading(struct omnik_msg *m, uint8_t *frame, size_t *flen, int seed)
{
	struct omnik_reading r;
	enum omnik_err e;

	omnik_reading_clear(&r);
	r.kit_sn = 1601299688u;
	r.ctrl1 = 0x41;
	snprintf(r.inverter_sn, sizeof(r.inverter_sn), "NLDN302013%06u",
	    (unsigned)seed % 1000000u);
	/* Distinct, and within the decoder's limits (omnik_limits). */
	for (int i = 0; i < OMNIK_NFIELDS; i++)
		r.value[i] = omnik_limits[i].min + 100 + i * 7 + seed % 97;
	r.value[OMNIK_RUNMODE] = 1 + seed % 9;
	r.value[OMNIK_TEMP] = 200 + seed % 97;
	r.has_fw = true;
	snprintf(r.fw_main, sizeof(r.fw_main), "V5.07Build230");
	snprintf(r.fw_slave, sizeof(r.fw_slave), "V4.13Build253");
	e = omnik_encode_data(&r, 0x7D, frame, OMNIK_FRAME_MAX, flen);
	assert_int_equal(e, OMNIK_OK);
	assert_int_equal(omnik_decode(frame, *flen, m), OMNIK_OK);
	assert_int_equal(m->kind, OMNIK_MSG_DATA);
}

static struct journal *
open_journal(int retention)
{
	struct journal_opts o = { .retention_days = retention,
	    .sync_full = false };
	char err[512];
	struct journal *j = journal_open(path, &o, err, sizeof(err));

	if (j == NULL)
		fail_msg("journal_open: %s", err);
	return j;
}

static void
add(struct journal *j, int seed, time_t t)
{
	struct omnik_msg m;
	uint8_t frame[OMNIK_FRAME_MAX];
	size_t flen;
	const char *err = NULL;
	struct record rec;

	make_reading(&m, frame, &flen, seed);
	rec = (struct record){ .reading = &m.reading,
	    .when = { .tv_sec = t, .tv_usec = 123456 },
	    .source = "test", .frame = frame, .frame_len = flen };
	if (journal_add(j, &rec, &err) != 0)
		fail_msg("journal_add: %s", err);
}

static sqlite3 *
raw_open(void)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	return db;
}

static int64_t
raw_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void
every_field_lands(void **state)
{
	struct journal *j = open_journal(0);
	struct omnik_msg m;
	uint8_t frame[OMNIK_FRAME_MAX];
	size_t flen;
	struct journal_row rows[4];
	const char *err;
	int n;
	sqlite3 *db;
	sqlite3_stmt *st;

	(void)state;
	add(j, 1, 1764000000);
	make_reading(&m, frame, &flen, 1);
	assert_int_equal(journal_fetch(j, 0, NULL, rows, 4, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(rows[0].id, 1);
	assert_int_equal(rows[0].when.tv_sec, 1764000000);
	assert_int_equal(rows[0].when.tv_usec, 123456);
	assert_string_equal(rows[0].r.inverter_sn, m.reading.inverter_sn);
	assert_int_equal(rows[0].r.kit_sn, m.reading.kit_sn);
	for (int i = 0; i < OMNIK_NFIELDS; i++)
		assert_int_equal(rows[0].r.value[i], m.reading.value[i]);
	assert_string_equal(rows[0].r.fw_main, "V5.07Build230");
	assert_string_equal(rows[0].r.fw_slave, "V4.13Build253");
	assert_int_equal(rows[0].r.frame_len, 0x7D);
	journal_close(j);

	/* What a user sees with sqlite3: natural units, UTC, raw frame. */
	db = raw_open();
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT time, kit_sn, "
	    "inverter_sn, temp, pac1, etoday, etotal, htotal, frame, source "
	    "FROM readings", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0),
	    "2025-11-24T16:00:00.123456Z");
	assert_int_equal(sqlite3_column_int64(st, 1), 1601299688);
	assert_string_equal((const char *)sqlite3_column_text(st, 2),
	    m.reading.inverter_sn);
	assert_float_equal(sqlite3_column_double(st, 3),
	    m.reading.value[OMNIK_TEMP] / 10.0, 1e-9);
	assert_int_equal(sqlite3_column_type(st, 4), SQLITE_INTEGER);
	assert_int_equal(sqlite3_column_int64(st, 4),
	    m.reading.value[OMNIK_PAC1]);
	assert_float_equal(sqlite3_column_double(st, 5),
	    m.reading.value[OMNIK_ETODAY] / 100.0, 1e-9);
	assert_float_equal(sqlite3_column_double(st, 6),
	    m.reading.value[OMNIK_ETOTAL] / 10.0, 1e-9);
	assert_int_equal(sqlite3_column_int64(st, 7),
	    m.reading.value[OMNIK_HTOTAL]);
	assert_int_equal(sqlite3_column_bytes(st, 8), (int)flen);
	assert_memory_equal(sqlite3_column_blob(st, 8), frame, flen);
	assert_string_equal((const char *)sqlite3_column_text(st, 9), "test");
	sqlite3_finalize(st);
	/* No value column is NULL for a frame that carries them all. */
	assert_int_equal(raw_int(db, "SELECT count(*) FROM readings WHERE "
	    "temp IS NULL OR vpv3 IS NULL OR ipv3 IS NULL OR iac3 IS NULL OR "
	    "vac3 IS NULL OR fac3 IS NULL OR pac3 IS NULL OR runmode IS NULL"),
	    0);
	assert_int_equal(raw_int(db, "PRAGMA user_version"),
	    JOURNAL_SCHEMA_VERSION);
	sqlite3_close(db);
}

static void
absent_is_null(void **state)
{
	struct journal *j = open_journal(0);
	struct omnik_reading r;
	struct record rec;
	struct journal_row row;
	const char *err;
	int n;
	sqlite3 *db;

	(void)state;
	omnik_reading_clear(&r);
	snprintf(r.inverter_sn, sizeof(r.inverter_sn), "X");
	r.value[OMNIK_PAC1] = 5;
	rec = (struct record){ .reading = &r, .when = { 1, 0 } };
	assert_int_equal(journal_add(j, &rec, &err), 0);
	assert_int_equal(journal_fetch(j, 0, "X", &row, 1, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_true(row.r.value[OMNIK_TEMP] == OMNIK_ABSENT);
	assert_int_equal(row.r.value[OMNIK_PAC1], 5);
	journal_close(j);
	db = raw_open();
	assert_int_equal(raw_int(db, "SELECT count(*) FROM readings WHERE "
	    "temp IS NULL AND pac1 = 5"), 1);
	sqlite3_close(db);
}

static void
rejects_keep_reason(void **state)
{
	struct journal *j = open_journal(0);
	const uint8_t bad[] = { 0x68, 0x00, 0x41, 0xB0, 0xFF, 0x16 };
	struct reject rej = { .reason = "bad checksum", .when = { 7, 0 },
	    .source = "s", .frame = bad, .frame_len = sizeof(bad) };
	const char *err;
	sqlite3 *db;

	(void)state;
	assert_int_equal(journal_add_reject(j, &rej, &err), 0);
	journal_close(j);
	db = raw_open();
	assert_int_equal(raw_int(db, "SELECT count(*) FROM rejects WHERE "
	    "reason = 'bad checksum' AND length(frame) = 6 AND "
	    "hex(frame) = '680041B0FF16'"), 1);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM readings"), 0);
	sqlite3_close(db);
}

/*
 * The schema of version 1 as it shipped (output/journal_sql.c, step 1;
 * shipped steps never change): the file an old omniklog left.
 */
static const char schema_v1[] =
	"CREATE TABLE readings ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" time TEXT NOT NULL,"
	" usec INTEGER NOT NULL,"
	" kit_sn INTEGER NOT NULL,"
	" inverter_sn TEXT NOT NULL,"
	" temp REAL, vpv1 REAL, vpv2 REAL, vpv3 REAL,"
	" ipv1 REAL, ipv2 REAL, ipv3 REAL, iac1 REAL, iac2 REAL, iac3 REAL,"
	" vac1 REAL, vac2 REAL, vac3 REAL, fac1 REAL, pac1 INTEGER,"
	" fac2 REAL, pac2 INTEGER, fac3 REAL, pac3 INTEGER,"
	" etoday REAL, etotal REAL, htotal INTEGER, runmode INTEGER,"
	" fault BLOB, fw_main TEXT, fw_slave TEXT,"
	" ctrl INTEGER NOT NULL,"
	" source TEXT,"
	" frame BLOB NOT NULL);"
	"CREATE TABLE rejects ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" time TEXT NOT NULL,"
	" usec INTEGER NOT NULL,"
	" source TEXT,"
	" reason TEXT NOT NULL,"
	" frame BLOB NOT NULL);";

static void
migrates_old_schema(void **state)
{
	sqlite3 *db = raw_open();
	struct journal *j;
	const char *err;
	int64_t pos;

	(void)state;
	/* A version-1 journal with a reading in it. */
	assert_int_equal(sqlite3_exec(db, schema_v1, NULL, NULL,
	    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 1;"
	    "INSERT INTO readings (time, usec, kit_sn, inverter_sn, pac1, "
	    "ctrl, frame) VALUES ('x', 5000000, 1, 'OLD', 42, 65, x'00')",
	    NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	j = open_journal(0);
	assert_int_equal(journal_cursor_get(j, "c", NULL, 0, &pos, &err), 0);
	assert_int_equal(journal_last_id(j, "OLD"), 1);
	add(j, 2, 100);
	assert_int_equal(journal_last_id(j, NULL), 2);
	journal_close(j);
	db = raw_open();
	assert_int_equal(raw_int(db, "PRAGMA user_version"),
	    JOURNAL_SCHEMA_VERSION);
	assert_int_equal(raw_int(db, "SELECT pac1 FROM readings WHERE "
	    "inverter_sn = 'OLD'"), 42);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM cursors WHERE "
	    "name = 'c' AND active = 1 AND inverter IS NULL"), 1);
	/* From a newer omniklog: refused, left as it is. */
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL,
	    NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	{
		struct journal_opts o = { 0 };
		char msg[512];

		assert_null(journal_open(path, &o, msg, sizeof(msg)));
		assert_non_null(strstr(msg, "newer"));
	}
	db = raw_open();
	assert_int_equal(raw_int(db, "PRAGMA user_version"), 99);
	sqlite3_close(db);
}

/*
 * What a journal's schema is, as text: every table's columns (name,
 * type, NOT NULL, default, key, in order) and every index's columns.
 */
static void
schema_of(sqlite3 *db, char *out, size_t n)
{
	sqlite3_stmt *obj, *col;
	size_t len = 0;

	out[0] = '\0';
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT type, name FROM "
	    "sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
	    -1, &obj, NULL), SQLITE_OK);
	while (sqlite3_step(obj) == SQLITE_ROW) {
		const char *type = (const char *)sqlite3_column_text(obj, 0);
		const char *name = (const char *)sqlite3_column_text(obj, 1);
		char sql[160];

		snprintf(sql, sizeof(sql), strcmp(type, "table") == 0 ?
		    "PRAGMA table_xinfo('%s')" : "PRAGMA index_xinfo('%s')",
		    name);
		len += (size_t)snprintf(out + len, n - len, "%s %s:", type,
		    name);
		assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &col, NULL),
		    SQLITE_OK);
		while (sqlite3_step(col) == SQLITE_ROW) {
			for (int i = 0; i < sqlite3_column_count(col); i++) {
				const char *v = (const char *)
				    sqlite3_column_text(col, i);

				len += (size_t)snprintf(out + len, n - len,
				    " %s", v ? v : "NULL");
			}
			len += (size_t)snprintf(out + len, n - len, ";");
		}
		sqlite3_finalize(col);
		len += (size_t)snprintf(out + len, n - len, "\n");
		assert_true(len < n);
	}
	sqlite3_finalize(obj);
}

/* A new journal, made at the last version at once, is the one migrated
 * step by step from version 1. */
static void
new_schema_is_migrated(void **state)
{
	static char migrated[16384], fresh[16384];
	sqlite3 *db = raw_open();

	(void)state;
	assert_int_equal(sqlite3_exec(db, schema_v1, NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 1", NULL,
	    NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	journal_close(open_journal(0));
	db = raw_open();
	schema_of(db, migrated, sizeof(migrated));
	sqlite3_close(db);

	assert_int_equal(unlink(path), 0);
	journal_close(open_journal(0));
	db = raw_open();
	assert_int_equal(raw_int(db, "PRAGMA user_version"),
	    JOURNAL_SCHEMA_VERSION);
	schema_of(db, fresh, sizeof(fresh));
	sqlite3_close(db);
	assert_non_null(strstr(fresh, "table readings:"));
	assert_non_null(strstr(fresh, "index readings_time:"));
	assert_string_equal(fresh, migrated);
}

static void
cursors_persist(void **state)
{
	struct journal *j = open_journal(0);
	const char *err;
	int64_t pos;

	(void)state;
	assert_int_equal(journal_cursor_get(j, "mqtt", NULL, 7, &pos, &err), 0);
	assert_int_equal(pos, 7);
	assert_int_equal(journal_cursor_set(j, "mqtt", 12, &err), 0);
	journal_close(j);
	j = open_journal(0);
	assert_int_equal(journal_cursor_get(j, "mqtt", NULL, 0, &pos, &err), 0);
	assert_int_equal(pos, 12);
	journal_close(j);
}

static void
retention(void **state)
{
	struct journal *j = open_journal(0);
	time_t now = time(NULL);
	const char *err;
	int64_t pos, deleted;
	struct reject rej = { .reason = "r", .when = { now - 40 * 86400, 0 },
	    .frame = (const uint8_t *)"x", .frame_len = 1 };
	sqlite3 *db;

	(void)state;
	/* ids 1..3 are 40 days old, 4 is 20 days, 5 is new. */
	for (int i = 0; i < 3; i++)
		add(j, i, now - 40 * 86400);
	add(j, 3, now - 20 * 86400);
	add(j, 4, now);
	assert_int_equal(journal_add_reject(j, &rej, &err), 0);
	/* An output that has delivered only id 1 so far. */
	assert_int_equal(journal_cursor_get(j, "slow", NULL, 1, &pos, &err), 0);
	journal_close(j);

	j = open_journal(30);	/* pruning runs at open */
	assert_int_equal(journal_prune(j, now, &deleted, &err), 0);
	assert_int_equal(deleted, 0);	/* done already */
	journal_close(j);
	db = raw_open();
	/* id 1 went; 2 and 3 are old but not yet delivered: kept. */
	assert_int_equal(raw_int(db, "SELECT count(*) FROM readings"), 4);
	assert_int_equal(raw_int(db, "SELECT min(id) FROM readings"), 2);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM rejects"), 0);
	assert_int_equal(sqlite3_exec(db, "UPDATE cursors SET position = 5",
	    NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	j = open_journal(30);
	journal_close(j);
	db = raw_open();
	assert_int_equal(raw_int(db, "SELECT count(*) FROM readings"), 2);
	assert_int_equal(raw_int(db, "SELECT min(id) FROM readings"), 4);
	sqlite3_close(db);

	/* Ids are never reused after deletes: cursors stay valid. */
	j = open_journal(0);
	add(j, 9, now);
	assert_int_equal(journal_last_id(j, NULL), 6);
	journal_close(j);
}

/*
 * A cursor that follows one inverter holds back only that inverter's old
 * rows (a PVOutput system whose inverter is quiet holds back nothing);
 * the cursor of an output removed from the config holds back none, and
 * holds back again once that output is configured again.
 */
static void
retention_per_cursor(void **state)
{
	struct journal *j = open_journal(0);
	time_t now = time(NULL), old = now - 40 * 86400;
	const char *keep[] = { "pvoutput:1", "quiet" }, *err;
	char names[64];
	int64_t pos, deleted;
	sqlite3 *db;

	(void)state;
	/* ids 1..6, old, inverters ...000 and ...001 alternating. */
	for (int i = 0; i < 6; i++)
		add(j, i % 2, old);
	add(j, 0, now);					/* id 7 */
	/* pvoutput:1 delivers ...001 and has sent up to id 2 only. */
	assert_int_equal(journal_cursor_get(j, "pvoutput:1",
	    "NLDN302013000001", 2, &pos, &err), 0);
	/* An inverter that never reports: its cursor stays at 0. */
	assert_int_equal(journal_cursor_get(j, "quiet", "NLDN302013999999", 0,
	    &pos, &err), 0);
	/* An output that has gone from the config, stuck at 1. */
	assert_int_equal(journal_cursor_get(j, "mqtt", NULL, 1, &pos, &err),
	    0);
	assert_int_equal(journal_cursors_retire(j, keep, 2, names,
	    sizeof(names), &err), 1);
	assert_string_equal(names, "mqtt");
	/* Nothing more to retire the second time. */
	assert_int_equal(journal_cursors_retire(j, keep, 2, names,
	    sizeof(names), &err), 0);
	journal_close(j);

	j = open_journal(30);
	journal_close(j);
	db = raw_open();
	/* Kept: ...001's rows after id 2 (4, 6) and the new one (7). */
	{
		sqlite3_stmt *st;

		assert_int_equal(sqlite3_prepare_v2(db, "SELECT group_concat(id)"
		    " FROM (SELECT id FROM readings ORDER BY id)", -1, &st,
		    NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_string_equal((const char *)sqlite3_column_text(st, 0),
		    "4,6,7");
		sqlite3_finalize(st);
	}
	sqlite3_close(db);

	/* mqtt configured again: it holds back its rows again. */
	j = open_journal(0);
	add(j, 0, old);					/* id 8 */
	assert_int_equal(journal_cursor_get(j, "mqtt", NULL, 0, &pos, &err),
	    0);
	assert_int_equal(pos, 1);
	journal_close(j);
	j = open_journal(30);
	assert_int_equal(journal_prune(j, now, &deleted, &err), 0);
	journal_close(j);
	db = raw_open();
	assert_int_equal(raw_int(db, "SELECT count(*) FROM readings WHERE "
	    "id = 8"), 1);
	sqlite3_close(db);
}

static void
fetch_in_order_by_inverter(void **state)
{
	struct journal *j = open_journal(0);
	struct journal_row rows[8];
	const char *err;
	int n;

	(void)state;
	for (int i = 0; i < 6; i++)
		add(j, i % 2, 1000 + i);
	assert_int_equal(journal_fetch(j, 0, NULL, rows, 8, &n, &err), 0);
	assert_int_equal(n, 6);
	for (int i = 0; i < n; i++)
		assert_int_equal(rows[i].id, i + 1);
	assert_int_equal(journal_fetch(j, 2, "NLDN302013000001", rows, 8, &n,
	    &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(rows[0].id, 4);
	assert_int_equal(rows[1].id, 6);
	assert_int_equal(journal_fetch(j, 0, NULL, rows, 3, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(journal_last_id(j, "NLDN302013000000"), 5);
	journal_close(j);
}

static int notify_calls;

static void
count_notify(void *arg)
{
	(void)arg;
	notify_calls++;
}

/* Rows on disk, as another connection (a new process) sees them. */
static int64_t
disk_rows(const char *table)
{
	char sql[64];
	sqlite3 *db = raw_open();
	int64_t n;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	n = raw_int(db, sql);
	sqlite3_close(db);
	return n;
}

static int
fetch_n(struct journal *j)
{
	struct journal_row rows[16];
	const char *err;
	int n;

	assert_int_equal(journal_fetch(j, 0, NULL, rows, 16, &n, &err), 0);
	return n;
}

/* Waits (bounded) for the writer's eventfd and polls it. */
static void
news_wait(struct journal *j, struct journal_news *n, int timeout_ms)
{
	struct pollfd p = { .fd = journal_writer_fd(j), .events = POLLIN };

	assert_true(p.fd >= 0);
	(void)poll(&p, 1, timeout_ms);
	journal_writer_poll(j, n);
}

static void
writer(struct journal *j)
{
	char err[512];

	if (journal_writer_start(j, true, err, sizeof(err)) != 0)
		fail_msg("journal_writer_start: %s", err);
}

static void
writer_commits_then_notifies(void **state)
{
	struct journal *j = open_journal(0);
	struct reject rej = { .reason = "bad checksum", .when = { 1000, 0 },
	    .frame = (const uint8_t *)"x", .frame_len = 1 };
	struct journal_news n;
	const char *err;
	uint64_t committed = 0;

	(void)state;
	add(j, 1, 1000);		/* direct: committed at once */
	writer(j);
	journal_set_notify(j, count_notify, NULL);
	notify_calls = 0;
	add(j, 2, 1000);
	add(j, 3, 1000);
	assert_int_equal(journal_add_reject(j, &rej, &err), 0);
	{
		int64_t pos;

		assert_int_equal(journal_cursor_get(j, "c1", NULL, 0, &pos, &err),
		    0);
		assert_int_equal(journal_cursor_set(j, "c1", 2, &err), 0);
	}
	/* No row is seen before the writer says it committed. */
	assert_int_equal(notify_calls, 0);
	assert_int_equal(journal_sync(j, 5000, &err), 0);
	assert_int_equal(journal_queued(j), 0);
	assert_int_equal(disk_rows("readings"), 3);
	assert_int_equal(disk_rows("rejects"), 1);
	assert_int_equal(fetch_n(j), 3);
	while (committed < 2) {
		news_wait(j, &n, 2000);
		assert_string_equal(n.error, "");
		assert_false(n.failing);
		if (n.committed == 0)
			fail_msg("no news of the commit");
		committed += n.committed;
	}
	assert_int_equal(committed, 2);
	assert_true(notify_calls >= 1);
	/* Nothing new: no wake-up. */
	notify_calls = 0;
	journal_writer_poll(j, &n);
	assert_int_equal(n.committed, 0);
	assert_int_equal(notify_calls, 0);
	{
		sqlite3 *db = raw_open();

		assert_int_equal(raw_int(db, "SELECT position FROM cursors "
		    "WHERE name = 'c1'"), 2);
		sqlite3_close(db);
	}
	/* journal_begin is for direct use only. */
	assert_int_equal(journal_begin(j, &err), -1);
	journal_set_notify(j, NULL, NULL);
	journal_close(j);
}

/* A reading SQLite refuses for itself is dropped; the others commit. */
static void
writer_skips_a_refused_entry(void **state)
{
	struct journal *j = open_journal(0);
	sqlite3 *db = raw_open();
	struct journal_news n = { 0 };
	uint64_t committed = 0, dropped = 0;
	char error[512] = "";

	(void)state;
	assert_int_equal(sqlite3_exec(db, "CREATE TRIGGER refuse BEFORE "
	    "INSERT ON readings WHEN NEW.inverter_sn = 'NLDN302013000002' "
	    "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END", NULL,
	    NULL, NULL), SQLITE_OK);
	writer(j);
	add(j, 1, 1000);
	add(j, 2, 1000);
	add(j, 3, 1000);
	assert_int_equal(journal_sync(j, 5000, NULL), 0);
	for (int i = 0; i < 10 && committed + dropped < 3; i++) {
		news_wait(j, &n, 1000);
		committed += n.committed;
		dropped += n.dropped;
		if (n.error[0])
			snprintf(error, sizeof(error), "%s", n.error);
	}
	assert_int_equal(committed, 2);
	assert_int_equal(dropped, 1);
	assert_non_null(strstr(error, "refused by the test"));
	assert_int_equal(raw_int(db, "SELECT count(*) FROM readings"), 2);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM readings WHERE "
	    "inverter_sn = 'NLDN302013000002'"), 0);
	sqlite3_close(db);
	journal_close(j);
}

/*
 * A refusal that rolls the whole transaction back (RAISE(ROLLBACK)): the
 * batch starts over without it, and no row lands twice.
 */
static void
writer_refusal_that_rolls_back(void **state)
{
	struct journal *j = open_journal(0);
	sqlite3 *db = raw_open();
	struct journal_news n;

	(void)state;
	assert_int_equal(sqlite3_exec(db, "CREATE TRIGGER refuse BEFORE "
	    "INSERT ON readings WHEN NEW.inverter_sn = 'NLDN302013000002' "
	    "BEGIN SELECT RAISE(ROLLBACK, 'rolled back by the test'); END",
	    NULL, NULL, NULL), SQLITE_OK);
	writer(j);
	for (int i = 1; i <= 5; i++)
		add(j, i, 1000);
	journal_writer_stop(j, &n);
	assert_int_equal(n.dropped, 1);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM readings"), 4);
	assert_int_equal(raw_int(db, "SELECT count(DISTINCT inverter_sn) "
	    "FROM readings"), 4);
	sqlite3_close(db);
	journal_close(j);
}

/* Stopped while the file is locked: one last try, the rest counted. */
static void
writer_stop_while_failing(void **state)
{
	struct journal *j = open_journal(0);
	sqlite3 *db = raw_open();
	struct journal_news n;

	(void)state;
	writer(j);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL),
	    SQLITE_OK);
	for (int i = 1; i <= 3; i++)
		add(j, i, 1000);
	journal_writer_stop(j, &n);
	assert_int_equal(n.dropped, 3);
	assert_int_equal(n.committed, 0);
	assert_false(n.failing);
	assert_non_null(strstr(n.error, "locked"));
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM readings"), 0);
	sqlite3_close(db);
	journal_close(j);
}

/* Polls until the writer reports failing (bounded). */
static void
wait_failing(struct journal *j, char *error, size_t n)
{
	struct journal_news nw;

	for (int i = 0; i < 20; i++) {
		news_wait(j, &nw, 500);
		if (nw.error[0])
			snprintf(error, n, "%s", nw.error);
		if (nw.failing)
			return;
	}
	fail_msg("the writer never reported failing");
}

/*
 * Another process holds the write lock (a backup, a sqlite3 shell): the
 * writer fails, says so, keeps everything, and commits once it can. A
 * full queue while failing refuses new entries with an error.
 */
static void
writer_retries_then_commits_all(void **state)
{
	struct journal *j = open_journal(0);
	sqlite3 *db = raw_open();
	struct journal_news n;
	char error[512] = "";
	const char *err = NULL;
	bool recovered = false;
	uint64_t committed = 0;

	(void)state;
	writer(j);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL),
	    SQLITE_OK);
	add(j, 0, 1000);
	wait_failing(j, error, sizeof(error));
	assert_non_null(strstr(error, "locked"));
	for (int i = 1; i < JOURNAL_QUEUE_MAX; i++)
		add(j, i, 1000);
	assert_int_equal(journal_queued(j), JOURNAL_QUEUE_MAX);
	{
		struct omnik_msg m;
		uint8_t frame[OMNIK_FRAME_MAX];
		size_t flen;
		struct record rec;

		uint64_t seq = journal_seq(j);

		make_reading(&m, frame, &flen, 12345);
		for (int i = 0; i < 3; i++) {
			rec = (struct record){ .reading = &m.reading,
			    .when = { 2000 + i, 0 }, .frame = frame,
			    .frame_len = flen };
			assert_int_equal(journal_add(j, &rec, &err), -1);
			assert_non_null(strstr(err, "not journaled"));
		}
		/* Said exactly: how many, taken when; not counted as kept. */
		assert_int_equal(journal_seq(j), seq);
		journal_writer_poll(j, &n);
		assert_int_equal(n.refused, 3);
		assert_int_equal(n.refused_first.tv_sec, 2000);
		assert_int_equal(n.refused_last.tv_sec, 2002);
		assert_int_equal(n.queued, JOURNAL_QUEUE_MAX);
	}
	/* Failing: no waiting for it. */
	assert_int_equal(journal_sync(j, 60000, &err), -1);
	assert_non_null(strstr(err, "not yet committed"));
	assert_non_null(strstr(err, "locked"));
	assert_int_equal(raw_int(db, "SELECT count(*) FROM readings"), 0);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL),
	    SQLITE_OK);
	/* The next try (within 2 s + the lock wait) commits all of it. */
	for (int i = 0; i < 100 && !recovered; i++) {
		news_wait(j, &n, 100);
		recovered |= n.recovered;
		committed += n.committed;
	}
	assert_true(recovered);
	assert_int_equal(journal_sync(j, 5000, &err), 0);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM readings"),
	    JOURNAL_QUEUE_MAX);
	assert_int_equal(raw_int(db, "SELECT max(id) - min(id) + 1 FROM "
	    "readings"), JOURNAL_QUEUE_MAX);
	assert_false(n.failing);
	assert_int_equal(committed, JOURNAL_QUEUE_MAX);
	sqlite3_close(db);
	journal_close(j);
}

/* More than the queue holds, faster than it commits: all of it lands. */
static void
writer_back_pressure_loses_nothing(void **state)
{
	struct journal *j = open_journal(0);
	const int total = JOURNAL_QUEUE_MAX * 2 + 7;
	struct journal_news n;

	(void)state;
	writer(j);
	for (int i = 0; i < total; i++)
		add(j, i, 1000);
	journal_writer_stop(j, &n);
	assert_int_equal(n.dropped, 0);
	assert_string_equal(n.error, "");
	assert_int_equal(disk_rows("readings"), total);
	journal_close(j);
}

static void
close_and_reopen_commit(void **state)
{
	struct journal *j = open_journal(0);
	struct sink sk;
	const char *err;

	(void)state;
	writer(j);
	add(j, 1, 1000);
	add(j, 2, 1000);
	journal_close(j);		/* teardown, SIGTERM */
	assert_int_equal(disk_rows("readings"), 2);

	j = open_journal(0);
	writer(j);
	journal_sink(j, &sk);
	add(j, 3, 1000);
	assert_non_null(sk.reopen);
	assert_int_equal(sk.reopen(sk.ctx, &err), 0);	/* SIGHUP */
	assert_int_equal(disk_rows("readings"), 3);
	sk.close(sk.ctx);
}

/* Batched adds (fleet ingest) are hidden until journal_commit too. */
static void
batch_hidden_until_commit(void **state)
{
	struct journal *j = open_journal(0);
	const char *err;

	(void)state;
	add(j, 1, 1000);
	assert_int_equal(journal_begin(j, &err), 0);
	assert_int_equal(disk_rows("readings"), 1);
	add(j, 2, 1000);
	add(j, 3, 1000);
	assert_int_equal(fetch_n(j), 1);
	assert_int_equal(journal_commit(j, &err), 0);
	assert_int_equal(fetch_n(j), 3);
	assert_int_equal(disk_rows("readings"), 3);
	journal_close(j);
}

/*
 * A child queues 7 rows for the writer (full sync), waits for their
 * commit, reports, queues 3 more, reports, and is killed -9. Every
 * committed row survives, nothing half-written, the file checks clean
 * and takes new rows.
 */
static void
crash_keeps_committed(void **state)
{
	int pfd[2];
	char buf[8];
	pid_t pid;
	int status;
	sqlite3 *db;

	(void)state;
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct journal_opts o = { .sync_full = true };
		char e[512];
		const char *err;
		struct journal *j;

		close(pfd[0]);
		if ((j = journal_open(path, &o, e, sizeof(e))) == NULL)
			_exit(2);
		if (journal_writer_start(j, false, e, sizeof(e)) != 0)
			_exit(5);
		for (int i = 0; i < 7; i++)
			add(j, i, 1000 + i);
		if (journal_sync(j, 10000, &err) != 0 ||
		    write(pfd[1], "c", 1) != 1)
			_exit(3);
		/* Queued: they may or may not commit before the kill. */
		for (int i = 7; i < 10; i++)
			add(j, i, 1000 + i);
		if (write(pfd[1], "p", 1) != 1)
			_exit(4);
		for (;;)
			pause();
	}
	close(pfd[1]);
	assert_int_equal(read(pfd[0], buf, 1), 1);
	assert_int_equal(buf[0], 'c');
	assert_int_equal(read(pfd[0], buf, 1), 1);
	assert_int_equal(buf[0], 'p');
	close(pfd[0]);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	db = raw_open();
	assert_int_equal(sqlite3_exec(db, "PRAGMA integrity_check", NULL, NULL,
	    NULL), SQLITE_OK);
	{
		sqlite3_stmt *st;

		assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA "
		    "integrity_check", -1, &st, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_string_equal((const char *)sqlite3_column_text(st, 0),
		    "ok");
		sqlite3_finalize(st);
	}
	{
		int64_t n = raw_int(db, "SELECT count(*) FROM readings");

		/* Everything synced survives; whole readings, no gaps. */
		assert_true(n >= 7 && n <= 10);
		assert_int_equal(raw_int(db, "SELECT max(id) FROM readings"), n);
		assert_int_equal(raw_int(db, "SELECT count(DISTINCT "
		    "inverter_sn) FROM readings"), n);
		sqlite3_close(db);
		struct journal *j = open_journal(0);

		add(j, 11, 2000);
		assert_int_equal(journal_last_id(j, NULL), n + 1);
		journal_close(j);
	}
}

static int drained_rows;

static void
drain_count(void *arg)
{
	drained_rows = fetch_n(arg);	/* the old file, still readable */
}

/* Waits (bounded) for the writer to report the path moved. */
static void
wait_moved(struct journal *j)
{
	struct journal_news n;

	for (int i = 0; i < 40; i++) {
		news_wait(j, &n, 250);
		if (n.moved)
			return;
	}
	fail_msg("the writer never reported the journal moved");
}

static bool
same_content(const char *file, const char *want)
{
	char buf[64] = "";
	FILE *f = fopen(file, "r");
	size_t n;

	if (f == NULL)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strcmp(buf, want) == 0;
}

/*
 * Deleted while open (its WAL and shared memory left behind): the writer
 * commits nothing into the deleted file, the reopen lets the caller read
 * the old file a last time, and every reading queued meanwhile lands in
 * a new journal at the path, which is sound.
 */
static void
reopen_after_delete(void **state)
{
	struct journal *j = open_journal(0);
	char why[128], err[512];
	const char *e;

	(void)state;
	writer(j);
	for (int i = 0; i < 3; i++)
		add(j, i, 1000);
	assert_int_equal(journal_sync(j, 5000, &e), 0);
	assert_false(journal_moved(j, why, sizeof(why)));
	assert_int_equal(unlink(path), 0);
	assert_true(journal_moved(j, why, sizeof(why)));
	assert_non_null(strstr(why, "deleted"));
	add(j, 3, 1000);
	add(j, 4, 1000);
	wait_moved(j);
	assert_int_equal(journal_queued(j), 2);
	assert_int_equal(access(path, F_OK), -1);	/* nothing created */
	drained_rows = -1;
	if (journal_reopen(j, drain_count, j, err, sizeof(err)) != 0)
		fail_msg("journal_reopen: %s", err);
	assert_int_equal(drained_rows, 3);
	assert_false(journal_moved(j, why, sizeof(why)));
	assert_int_equal(journal_sync(j, 5000, &e), 0);
	assert_int_equal(disk_rows("readings"), 2);
	assert_int_equal(fetch_n(j), 2);
	{
		sqlite3 *db = raw_open();

		assert_int_equal(raw_int(db, "SELECT min(id) FROM readings"),
		    1);
		assert_int_equal(raw_int(db, "SELECT count(*) FROM "
		    "pragma_integrity_check WHERE integrity_check <> 'ok'"), 0);
		sqlite3_close(db);
	}
	journal_close(j);
}

/*
 * Replaced by a file that is not a journal: refused and left untouched;
 * readers get an error meanwhile; once the file is gone a new journal
 * takes the queue.
 */
static void
reopen_refuses_another_file(void **state)
{
	struct journal *j = open_journal(0);
	struct journal_row rows[4];
	char other[300], why[128], err[512];
	const char *e;
	FILE *f;
	int n;

	(void)state;
	writer(j);
	add(j, 0, 1000);
	assert_int_equal(journal_sync(j, 5000, &e), 0);
	snprintf(other, sizeof(other), "%s.other", path);
	f = fopen(other, "w");
	assert_non_null(f);
	fputs("not a journal\n", f);
	fclose(f);
	assert_int_equal(rename(other, path), 0);
	assert_true(journal_moved(j, why, sizeof(why)));
	assert_non_null(strstr(why, "replaced"));
	add(j, 1, 1000);
	wait_moved(j);
	assert_int_equal(journal_reopen(j, NULL, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a database"));
	assert_true(same_content(path, "not a journal\n"));
	assert_int_equal(journal_fetch(j, 0, NULL, rows, 4, &n, &e), -1);
	assert_int_equal(journal_last_id(j, NULL), 0);
	assert_true(journal_moved(j, why, sizeof(why)));
	add(j, 2, 1000);		/* queued meanwhile */
	assert_int_equal(unlink(path), 0);
	if (journal_reopen(j, NULL, NULL, err, sizeof(err)) != 0)
		fail_msg("journal_reopen: %s", err);
	assert_int_equal(journal_sync(j, 5000, &e), 0);
	assert_int_equal(fetch_n(j), 2);
	journal_close(j);
}

/*
 * journal_seq counts the readings taken, in row order; a watch gives the
 * row of the first one from a given seq on, once it committed.
 */
static void
seq_and_watch(void **state)
{
	struct journal *j = open_journal(0);
	const char *e;
	int64_t pos;
	bool active;

	(void)state;
	add(j, 0, 1000);
	add(j, 1, 1000);
	assert_int_equal(journal_seq(j), 2);
	journal_watch(j, 4);
	add(j, 2, 1000);
	assert_int_equal(journal_watched(j), 0);
	add(j, 3, 1000);		/* direct: seq 4 is row 4 at once */
	assert_int_equal(journal_watched(j), 4);
	writer(j);
	journal_watch(j, 6);
	add(j, 4, 1000);
	add(j, 5, 1000);
	assert_int_equal(journal_seq(j), 6);
	assert_int_equal(journal_sync(j, 5000, &e), 0);
	assert_int_equal(journal_watched(j), 6);
	/* A cursor set aside: kept, not in use, not marked by a peek. */
	assert_int_equal(journal_cursor_peek(j, "csv", &pos, &active, &e), 0);
	assert_int_equal(journal_cursor_state(j, "csv", 5, false, &e), 0);
	assert_int_equal(journal_sync(j, 5000, &e), 0);
	assert_int_equal(journal_cursor_peek(j, "csv", &pos, &active, &e), 1);
	assert_int_equal(pos, 5);
	assert_false(active);
	assert_int_equal(journal_cursor_state(j, "csv", 6, true, &e), 0);
	assert_int_equal(journal_sync(j, 5000, &e), 0);
	assert_int_equal(journal_cursor_peek(j, "csv", &pos, &active, &e), 1);
	assert_int_equal(pos, 6);
	assert_true(active);
	journal_close(j);
}

/*
 * The time column against strftime and printf, the way it was made
 * before: pseudo-random instants from 1000 to 9999 and the edges (the
 * epoch, leap days, the last microsecond of a year), plus years the
 * hand-made path leaves to strftime, and every cut of a short buffer.
 */
static void
time_column_as_strftime(void **state)
{
	static const int64_t edge[] = { 0, 951782400, 951868799, 1767225599,
	    -30610224000LL, 253402300799LL, -30610224001LL, 253402300800LL,
	    1782820800 };
	uint64_t x = 88172645463325252ULL;

	(void)state;
	for (int i = 0; i < 20000; i++) {
		struct timeval tv;
		struct tm tm;
		char want[JCONN_TIME_MAX], got[JCONN_TIME_MAX];
		time_t t;
		size_t len;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		tv.tv_sec = i < 9 ? (time_t)edge[i] :
		    (time_t)(-30610224000LL + (int64_t)(x % 284012524800ULL));
		tv.tv_usec = i < 9 ? 999999 : (suseconds_t)(x >> 40) % 1000000;
		t = tv.tv_sec;
		assert_non_null(gmtime_r(&t, &tm));
		len = strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(want + len, sizeof(want) - len, ".%06uZ",
		    (unsigned)tv.tv_usec);
		assert_int_equal(jconn_format_time(&tv, got, sizeof(got)),
		    strlen(want));
		assert_string_equal(got, want);
		if (i < 9)
			for (size_t n = 1; n < strlen(want); n++) {
				char cut[JCONN_TIME_MAX];

				memcpy(cut, want, n - 1);
				cut[n - 1] = '\0';
				jconn_format_time(&tv, got, n);
				assert_string_equal(got, cut);
			}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(time_column_as_strftime),
		cmocka_unit_test_setup_teardown(every_field_lands, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(absent_is_null, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(rejects_keep_reason, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(new_schema_is_migrated, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(migrates_old_schema, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(cursors_persist, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(retention, setup, teardown),
		cmocka_unit_test_setup_teardown(retention_per_cursor, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(fetch_in_order_by_inverter,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(writer_commits_then_notifies,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(writer_skips_a_refused_entry,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(writer_retries_then_commits_all,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(writer_refusal_that_rolls_back,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(writer_stop_while_failing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    writer_back_pressure_loses_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(close_and_reopen_commit, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(batch_hidden_until_commit,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(crash_keeps_committed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(reopen_after_delete, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(reopen_refuses_another_file,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(seq_and_watch, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
