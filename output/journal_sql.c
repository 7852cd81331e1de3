/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * journal_sql.c: the journal's SQL on one connection: the schema and its
 * migrations, the prepared statements, one write (struct jentry) applied,
 * one row read back.
 *
 * Values are stored in their natural units as REAL (35.2 for 352 tenths)
 * so that `sqlite3` queries read naturally; absent values are NULL. A row
 * read back is scaled and rounded to the integer it came from, which is
 * exact for the few decimals the protocol has.
 *
 * A connection is used by one thread at a time: the caller's (reads, and
 * writes without the writer thread) or the writer thread's (writes only).
 */
#include <ctype.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "journal_int.h"

/*
 * Each step moves the schema from version N-1 to N. Never edit a step
 * that has shipped: add one.
 */
static const char *const migrations[JOURNAL_SCHEMA_VERSION + 1] = {
	[1] =
	"CREATE TABLE readings ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" time TEXT NOT NULL,"		/* UTC, 2026-11-24T04:20:00.123456Z */
	" usec INTEGER NOT NULL,"	/* microseconds since 1970, UTC */
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
	" frame BLOB NOT NULL);",
	[2] =
	"CREATE TABLE cursors ("
	" name TEXT PRIMARY KEY,"
	" position INTEGER NOT NULL,"
	" updated TEXT NOT NULL);"
	"CREATE INDEX readings_inverter ON readings (inverter_sn, id);",
	/*
	 * Retention per cursor: a cursor that follows one inverter holds
	 * back only that inverter's rows, and the cursor of an output no
	 * longer configured (active = 0) holds back none.
	 */
	[3] =
	"ALTER TABLE cursors ADD COLUMN inverter TEXT;"	/* NULL: all */
	"ALTER TABLE cursors ADD COLUMN active INTEGER NOT NULL DEFAULT 1;",
	/*
	 * The layout a reading was decoded with (omnik_variant_label), and
	 * whether the kit marked it a buffered record (0x80).
	 */
	[4] =
	"ALTER TABLE readings ADD COLUMN variant TEXT;"
	"ALTER TABLE readings ADD COLUMN historical INTEGER NOT NULL DEFAULT 0;",
	/*
	 * Several programs on one journal (journal.h): which one stored a
	 * row (NULL before: never taken for a copy), how many copies of it
	 * others saw, and the index the check for a copy searches.
	 */
	[5] =
	"ALTER TABLE readings ADD COLUMN origin TEXT;"
	"ALTER TABLE readings ADD COLUMN duplicates INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX readings_time ON readings (inverter_sn, usec);",
};

/*
 * A new journal is made at the last version at once, the steps above
 * in one: the same tables, columns in the same order, the same indexes
 * (test_journal compares it with one migrated from version 1). Five
 * steps would parse the schema again at every ALTER TABLE, and the
 * freed blocks of all sizes stay in malloc's per-thread cache: ~30 KiB
 * of a new relay's idle heap, and SQLite's ALTER code resident.
 */
_Static_assert(JOURNAL_SCHEMA_VERSION == 5,
    "a new step goes into schema_new too");
static const char schema_new[] =
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
	" frame BLOB NOT NULL,"
	" variant TEXT,"
	" historical INTEGER NOT NULL DEFAULT 0,"
	" origin TEXT,"
	" duplicates INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE rejects ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" time TEXT NOT NULL,"
	" usec INTEGER NOT NULL,"
	" source TEXT,"
	" reason TEXT NOT NULL,"
	" frame BLOB NOT NULL);"
	"CREATE TABLE cursors ("
	" name TEXT PRIMARY KEY,"
	" position INTEGER NOT NULL,"
	" updated TEXT NOT NULL,"
	" inverter TEXT,"
	" active INTEGER NOT NULL DEFAULT 1);"
	"CREATE INDEX readings_inverter ON readings (inverter_sn, id);"
	"CREATE INDEX readings_time ON readings (inverter_sn, usec);";

int
jconn_fail(struct jconn *c, const char *what, const char **err)
{
	snprintf(c->err, sizeof(c->err), "%s: %s: %s", c->path, what,
	    sqlite3_errmsg(c->db));
	if (err)
		*err = c->err;
	return -1;
}

int
jconn_exec(struct jconn *c, const char *sql, const char *what)
{
	char *msg = NULL;

	if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	snprintf(c->err, sizeof(c->err), "%s: %s: %s", c->path, what,
	    msg ? msg : sqlite3_errmsg(c->db));
	sqlite3_free(msg);
	return -1;
}

/* How long opening waits for another process's migration. */
#define MIGRATION_WAIT_MS 60000

/*
 * Switching a journal the old code left in rollback mode to WAL needs the
 * exclusive lock. Two programs opening it at once both hold the shared
 * one and want it: SQLite answers one of them "locked" at once, without
 * waiting (it would deadlock), so the busy timeout does not cover it and
 * the switch is tried again, for as long as a migration may take.
 */
static int
set_wal(struct jconn *c)
{
	struct timespec pause = { 0, 20 * 1000000L };
	int rc;

	for (int waited = 0;; waited += 20) {
		rc = sqlite3_exec(c->db, "PRAGMA journal_mode = WAL", NULL, NULL,
		    NULL);
		if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) ||
		    waited >= MIGRATION_WAIT_MS)
			break;
		nanosleep(&pause, NULL);
	}
	if (rc == SQLITE_OK)
		return 0;
	snprintf(c->err, sizeof(c->err), "%s: setting WAL mode: %s", c->path,
	    sqlite3_errmsg(c->db));
	return -1;
}

static int
user_version(struct jconn *c, int *v)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st,
	    NULL) != SQLITE_OK)
		return jconn_fail(c, "reading the schema version", NULL);
	rc = sqlite3_step(st);
	*v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : jconn_fail(c, "reading the schema "
	    "version", NULL);
}

static int
too_new(struct jconn *c, int v)
{
	snprintf(c->err, sizeof(c->err), "%s: schema version %d is newer "
	    "than this omniklog knows (%d); refusing to touch it", c->path, v,
	    JOURNAL_SCHEMA_VERSION);
	return -1;
}

/*
 * Each step and its version bump commit together, or not at all. Two
 * programs on one journal start together (at boot): the version is read
 * again under the write lock, so a step the other one has just applied
 * is not applied twice; the lock may be held as long as the other's
 * migration takes (an index over every row), hence the longer wait.
 */
static int
migrate(struct jconn *c)
{
	char sql[64];
	int v, rc = 0;

	if (user_version(c, &v) != 0)
		return -1;
	if (v > JOURNAL_SCHEMA_VERSION)
		return too_new(c, v);
	if (v == JOURNAL_SCHEMA_VERSION)
		return 0;
	sqlite3_busy_timeout(c->db, MIGRATION_WAIT_MS);
	while (rc == 0) {
		if (jconn_exec(c, "BEGIN IMMEDIATE", "migration") != 0) {
			rc = -1;
			break;
		}
		if (user_version(c, &v) != 0 || v > JOURNAL_SCHEMA_VERSION) {
			rc = v > JOURNAL_SCHEMA_VERSION ? too_new(c, v) : -1;
			(void)sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
			break;
		}
		if (v == JOURNAL_SCHEMA_VERSION) {
			(void)sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
			break;
		}
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
		    v == 0 ? JOURNAL_SCHEMA_VERSION : v + 1);
		if (jconn_exec(c, v == 0 ? schema_new : migrations[v + 1],
		    "migration") != 0 ||
		    jconn_exec(c, sql, "migration") != 0 ||
		    jconn_exec(c, "COMMIT", "migration") != 0) {
			(void)sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
			rc = -1;
		}
	}
	sqlite3_busy_timeout(c->db, 2000);
	return rc;
}

static int
prepare(struct jconn *c, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
	    NULL) == SQLITE_OK)
		return 0;
	return jconn_fail(c, "preparing a statement", NULL);
}

static void
column_name(int field, char *col, size_t n)
{
	size_t k;

	for (k = 0; omnik_fields[field].name[k] && k < n - 1; k++)
		col[k] = (char)tolower((unsigned char)omnik_fields[field].name[k]);
	col[k] = '\0';
}

/*
 * The rule of journal.h in SQL. ?1 inverter, ?2 .. ?3 the time window,
 * ?4 our origin, ?5.. every field (NULL when absent). E-today and E-total
 * compare with `=`, never true for NULL: a reading without them is never
 * a copy. The index readings_time serves it.
 */
#define DUP_FIELD_PARAM 5
static int
prepare_dup(struct jconn *c)
{
	char sql[4096], col[16];
	size_t len;

	len = (size_t)snprintf(sql, sizeof(sql), "SELECT id FROM readings "
	    "WHERE inverter_sn = ?1 AND usec BETWEEN ?2 AND ?3 AND origin IS "
	    "NOT NULL AND origin <> ?4");
	for (int i = 0; i < OMNIK_NFIELDS; i++) {
		int p = DUP_FIELD_PARAM + i;

		column_name(i, col, sizeof(col));
		if (i == OMNIK_ETODAY || i == OMNIK_ETOTAL)
			len += (size_t)snprintf(sql + len, sizeof(sql) - len,
			    " AND %s = ?%d", col, p);
		else
			len += (size_t)snprintf(sql + len, sizeof(sql) - len,
			    " AND (%s IS NULL OR ?%d IS NULL OR %s = ?%d)", col,
			    p, col, p);
	}
	snprintf(sql + len, sizeof(sql) - len, " ORDER BY id LIMIT 1");
	if (prepare(c, sql, &c->dup_find) != 0 ||
	    prepare(c, "UPDATE readings SET duplicates = duplicates + 1 WHERE "
	    "id = ?", &c->dup_count) != 0 ||
	    prepare(c, "SELECT max(id) FROM readings", &c->dup_max) != 0 ||
	    prepare(c, "SELECT min(usec), max(usec) FROM readings WHERE id > ?1 "
	    "AND id <= ?2 AND origin IS NOT NULL AND origin <> ?3",
	    &c->dup_range) != 0 ||
	    prepare(c, "SELECT usec FROM readings WHERE inverter_sn = ?1 AND "
	    "id <= ?2 ORDER BY usec DESC LIMIT 1", &c->dup_pre) != 0)
		return -1;
	return 0;
}

static void
finalize(sqlite3_stmt **const *st, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		sqlite3_finalize(*st[i]);
		*st[i] = NULL;
	}
}

/*
 * The statements are prepared in groups, each when it is first needed
 * (prepare_for, jconn_fetch_stmt): the caller's connection hands its
 * writes to the writer thread, which has its own, and the readers
 * below serve the outputs only when one catches up. An idle relay
 * keeps ~70 KiB of statements less. A group is prepared whole or not at
 * all.
 */

/* A reading, a reject, a cursor's move. */
static int
prepare_adds(struct jconn *c)
{
	sqlite3_stmt **const group[] = { &c->ins, &c->ins_rej, &c->cur_set,
	    &c->dup_find, &c->dup_count, &c->dup_max, &c->dup_range,
	    &c->dup_pre };
	char sql[1024], col[16];
	size_t len;

	if (c->ins != NULL)
		return 0;
	len = (size_t)snprintf(sql, sizeof(sql), "INSERT INTO readings (time, "
	    "usec, kit_sn, inverter_sn, ctrl, source, frame, fault, fw_main, "
	    "fw_slave");
	for (int i = 0; i < OMNIK_NFIELDS; i++) {
		column_name(i, col, sizeof(col));
		len += (size_t)snprintf(sql + len, sizeof(sql) - len, ", %s",
		    col);
	}
	len += (size_t)snprintf(sql + len, sizeof(sql) - len,
	    ", variant, historical, origin) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?");
	for (int i = 0; i < OMNIK_NFIELDS; i++)
		len += (size_t)snprintf(sql + len, sizeof(sql) - len, ",?");
	snprintf(sql + len, sizeof(sql) - len, ")");

	/* ins last: it says the group is there. */
	if (prepare(c, "INSERT INTO rejects (time, usec, source, reason, "
	    "frame) VALUES (?,?,?,?,?)", &c->ins_rej) != 0 ||
	    prepare(c, "UPDATE cursors SET position = ?, updated = "
	    "strftime('%Y-%m-%dT%H:%M:%fZ') WHERE name = ?", &c->cur_set) != 0 ||
	    prepare_dup(c) != 0 || prepare(c, sql, &c->ins) != 0) {
		finalize(group, sizeof(group) / sizeof(group[0]));
		return -1;
	}
	return 0;
}

static int
prepare_prune(struct jconn *c)
{
	sqlite3_stmt **const group[] = { &c->prune_r, &c->prune_j };

	if (c->prune_r != NULL)
		return 0;
	/* Old readings go unless an active cursor has yet to pass them
	 * (one that follows their inverter, or all). prune_r last. */
	if (prepare(c, "DELETE FROM rejects WHERE usec < ?1",
	    &c->prune_j) != 0 ||
	    prepare(c, "DELETE FROM readings WHERE usec < ?1 AND NOT EXISTS "
	    "(SELECT 1 FROM cursors c WHERE c.active AND c.position < "
	    "readings.id AND (c.inverter IS NULL OR c.inverter = "
	    "readings.inverter_sn))", &c->prune_r) != 0) {
		finalize(group, sizeof(group) / sizeof(group[0]));
		return -1;
	}
	return 0;
}

/* What an entry of op needs; 0, or -1 with c->err. */
static int
prepare_for(struct jconn *c, enum jop op)
{
	switch (op) {
	case JOP_PRUNE:
		return prepare_prune(c);
	case JOP_CURSTATE:
		return 0;	/* prepared each time */
	case JOP_READING:
	case JOP_REJECT:
	case JOP_CURSOR:
		break;
	}
	return prepare_adds(c);
}

int
jconn_fetch_stmt(struct jconn *c, bool by_inverter, sqlite3_stmt **st)
{
	if (by_inverter && c->fetch_inv == NULL && prepare(c, "SELECT "
	    FETCH_COLS " FROM readings WHERE inverter_sn = ? AND id > ? AND "
	    "id <= ? ORDER BY id LIMIT ?", &c->fetch_inv) != 0)
		return -1;
	if (!by_inverter && c->fetch_all == NULL && prepare(c, "SELECT "
	    FETCH_COLS " FROM readings WHERE id > ? AND id <= ? ORDER BY id "
	    "LIMIT ?", &c->fetch_all) != 0)
		return -1;
	*st = by_inverter ? c->fetch_inv : c->fetch_all;
	return 0;
}

/* What the caller's connection reads besides, at once (~10 KiB). */
static int
prepare_reads(struct jconn *c)
{
	if (prepare(c, "SELECT max(id) FROM readings WHERE id <= ?",
	    &c->last_all) != 0 ||
	    prepare(c, "SELECT max(id) FROM readings WHERE inverter_sn = ? "
	    "AND id <= ?", &c->last_inv) != 0 ||
	    prepare(c, "SELECT position FROM cursors WHERE name = ?",
	    &c->cur_get) != 0 ||
	    prepare(c, "INSERT OR IGNORE INTO cursors (name, position, "
	    "updated, inverter) VALUES (?1, ?2, "
	    "strftime('%Y-%m-%dT%H:%M:%fZ'), ?3)", &c->cur_ins) != 0 ||
	    prepare(c, "UPDATE cursors SET inverter = ?2, active = 1 WHERE "
	    "name = ?1 AND (active = 0 OR inverter IS NOT ?2)",
	    &c->cur_act) != 0)
		return -1;
	return 0;
}

void
jconn_close(struct jconn *c)
{
	sqlite3_stmt **const all[] = { &c->ins, &c->ins_rej, &c->fetch_all,
	    &c->fetch_inv, &c->last_all, &c->last_inv, &c->cur_get,
	    &c->cur_ins, &c->cur_act, &c->cur_set, &c->prune_r, &c->prune_j,
	    &c->dup_find, &c->dup_count, &c->dup_max, &c->dup_range,
	    &c->dup_pre };

	finalize(all, sizeof(all) / sizeof(all[0]));
	sqlite3_close(c->db);
	c->db = NULL;
}

static int dup_tx_committed(void *arg);
static void dup_tx_rolled_back(void *arg);

/* Opens, sets the pragmas; the caller's connection migrates. */
int
jconn_open(struct jconn *c, const char *path, const struct journal_opts *o,
    bool writer)
{
	c->path = path;
	memset(&c->dup, 0, sizeof(c->dup));
	c->origin = o->origin != NULL && o->origin[0] != '\0' ? o->origin :
	    NULL;
	c->dup_window = o->dup_window;
	if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(c->err, sizeof(c->err), "cannot open %s: %s", path,
		    c->db ? sqlite3_errmsg(c->db) : "out of memory");
		return -1;
	}
	/*
	 * Another process may hold the lock: the sqlite3 shell, a backup, or
	 * another program of ours opening (and migrating) the same journal
	 * at the same moment, as two services do at boot on a slow SD card:
	 * at open, wait as long as a migration may take.
	 */
	(void)sqlite3_commit_hook(c->db, dup_tx_committed, c);
	(void)sqlite3_rollback_hook(c->db, dup_tx_rolled_back, c);
	sqlite3_busy_timeout(c->db, MIGRATION_WAIT_MS);
	if (set_wal(c) != 0 ||
	    jconn_exec(c, o->sync_full ? "PRAGMA synchronous = FULL" :
	    "PRAGMA synchronous = NORMAL", "setting synchronous") != 0 ||
	    /*
	     * 1 MiB per connection: a batch of 10,000 readings commits as
	     * fast as with 8 MiB, and a delivery catching up a big backlog
	     * keeps 1.7 MiB of heap instead of 9 MiB (measured).
	     */
	    jconn_exec(c, "PRAGMA cache_size = -1024", "pragma") != 0 ||
	    (!writer && migrate(c) != 0) ||
	    (writer ? prepare_adds(c) != 0 || prepare_prune(c) != 0 :
	    prepare_reads(c) != 0))
		return -1;
	sqlite3_busy_timeout(c->db, 2000);
	return 0;
}

static char *
put_digits(char *p, unsigned v, int k)
{
	for (int i = k - 1; i >= 0; i--, v /= 10)
		p[i] = (char)('0' + v % 10);
	return p + k;
}

/*
 * "2026-06-01T12:00:00.123456Z": as strftime's "%Y-%m-%dT%H:%M:%S" and
 * ".%06uZ" would have it, by hand for every four-digit year (they were
 * a tenth of the writer's instructions per reading); the rest as before.
 */
size_t
jconn_format_time(const struct timeval *tv, char *buf, size_t n)
{
	struct tm tm;
	time_t t = tv->tv_sec;
	unsigned us = (unsigned)tv->tv_usec % 1000000u;
	char tmp[JCONN_TIME_MAX], *p = tmp;
	size_t len;

	if (n == 0)
		return 0;
	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	if (tm.tm_year + 1900 < 1000 || tm.tm_year + 1900 > 9999) {
		len = strftime(tmp, sizeof(tmp) - 9, "%Y-%m-%dT%H:%M:%S", &tm);
		p = tmp + len;
		p += snprintf(p, sizeof(tmp) - len, ".%06uZ", us);
		goto out;
	}
	p = put_digits(p, (unsigned)tm.tm_year + 1900, 4);
	*p++ = '-';
	p = put_digits(p, (unsigned)tm.tm_mon + 1, 2);
	*p++ = '-';
	p = put_digits(p, (unsigned)tm.tm_mday, 2);
	*p++ = 'T';
	p = put_digits(p, (unsigned)tm.tm_hour, 2);
	*p++ = ':';
	p = put_digits(p, (unsigned)tm.tm_min, 2);
	*p++ = ':';
	p = put_digits(p, (unsigned)tm.tm_sec, 2);
	*p++ = '.';
	p = put_digits(p, us, 6);
	*p++ = 'Z';
out:
	len = (size_t)(p - tmp) < n ? (size_t)(p - tmp) : n - 1;
	memcpy(buf, tmp, len);
	buf[len] = '\0';
	return len;
}

static int64_t
usec_of(const struct timeval *tv)
{
	return (int64_t)tv->tv_sec * 1000000 + tv->tv_usec;
}

/* 10^d for the protocol's 0 .. 4 decimals. */
double
jconn_pow10(int d)
{
	static const double p[] = { 1, 10, 100, 1000, 10000 };

	return p[d < 0 ? 0 : d > 4 ? 4 : d];
}

/* A field's value as its column holds it: NULL, an integer or a REAL. */
static void
bind_field(sqlite3_stmt *st, int param, int field, int64_t v)
{
	if (v == OMNIK_ABSENT)
		sqlite3_bind_null(st, param);
	else if (omnik_fields[field].decimals == 0)
		sqlite3_bind_int64(st, param, v);
	else
		sqlite3_bind_double(st, param, (double)v /
		    jconn_pow10(omnik_fields[field].decimals));
}

/*
 * Whether a row of another program could be a copy of a reading at us
 * (journal.h's rule), from what the connection knows (struct
 * jconn_dupstate) without the full search: on one program's journal,
 * or with the other program's rows far from this time, the search is
 * skipped. Once per transaction (its rows are all committed then:
 * SQLite's ids only grow, and no other program can write into a
 * transaction of ours) the rows new since are looked at: their times,
 * if they are another program's. Rows there before the first check
 * count per inverter by the latest time among them, whoever stored
 * them. Anything unsure (a query that fails, more inverters than kept)
 * means: search.
 */
static int64_t
step_int64(sqlite3_stmt *st, int col, int64_t none, int *rc)
{
	int64_t v = none;

	*rc = sqlite3_step(st);
	if (*rc == SQLITE_ROW && sqlite3_column_type(st, col) != SQLITE_NULL)
		v = sqlite3_column_int64(st, col);
	if (*rc == SQLITE_ROW || *rc == SQLITE_DONE)
		*rc = SQLITE_OK;
	return v;
}

static bool
may_have_copy(struct jconn *c, const char *sn, int64_t us, int64_t w)
{
	struct jconn_dupstate *d = &c->dup;
	const int npre_max = (int)(sizeof(d->pre) / sizeof(d->pre[0]));
	int64_t m, lo, hi, latest = INT64_MIN;
	int rc, i;

	if (!d->started || sqlite3_get_autocommit(c->db) ||
	    d->checked_tx != d->tx) {
		m = step_int64(c->dup_max, 0, 0, &rc);
		sqlite3_reset(c->dup_max);
		if (rc != SQLITE_OK)
			return true;
		if (!d->started) {
			d->started = true;
			d->start_id = d->seen = m;
		} else if (m > d->seen) {
			sqlite3_bind_int64(c->dup_range, 1, d->seen);
			sqlite3_bind_int64(c->dup_range, 2, m);
			sqlite3_bind_text(c->dup_range, 3, c->origin, -1,
			    SQLITE_STATIC);
			rc = sqlite3_step(c->dup_range);
			if (rc == SQLITE_ROW && sqlite3_column_type(c->dup_range,
			    0) != SQLITE_NULL) {
				lo = sqlite3_column_int64(c->dup_range, 0);
				hi = sqlite3_column_int64(c->dup_range, 1);
				d->lo = d->any && d->lo < lo ? d->lo : lo;
				d->hi = d->any && d->hi > hi ? d->hi : hi;
				d->any = true;
			}
			sqlite3_reset(c->dup_range);
			sqlite3_clear_bindings(c->dup_range);
			if (rc != SQLITE_ROW && rc != SQLITE_DONE)
				return true;
			d->seen = m;
		}
		d->checked_tx = d->tx;
	}
	if (d->any && us + w >= d->lo && us - w <= d->hi)
		return true;
	for (i = 0; i < d->npre; i++)
		if (strcmp(d->pre[i].sn, sn) == 0)
			break;
	if (i == d->npre) {
		if (strlen(sn) >= sizeof(d->pre[0].sn))
			return true;
		/* Full: the oldest entry goes (asked again if it comes back). */
		if (i == npre_max) {
			i = d->pre_next;
			d->pre_next = (d->pre_next + 1) % npre_max;
		}
		sqlite3_bind_text(c->dup_pre, 1, sn, -1, SQLITE_STATIC);
		sqlite3_bind_int64(c->dup_pre, 2, d->start_id);
		latest = step_int64(c->dup_pre, 0, INT64_MIN, &rc);
		sqlite3_reset(c->dup_pre);
		sqlite3_clear_bindings(c->dup_pre);
		if (rc != SQLITE_OK)
			return true;
		memcpy(d->pre[i].sn, sn, strlen(sn) + 1);
		d->pre[i].latest = latest;
		if (i == d->npre)
			d->npre++;
	}
	return d->pre[i].latest != INT64_MIN && us - w <= d->pre[i].latest;
}

/* Every transaction's end, committed or not (SQLite's hooks). */
static int
dup_tx_committed(void *arg)
{
	((struct jconn *)arg)->dup.tx++;
	return 0;
}

static void
dup_tx_rolled_back(void *arg)
{
	((struct jconn *)arg)->dup.tx++;
}

/* The row rec would be a copy of (journal.h), 0 if none: *id. */
static int
find_copy(struct jconn *c, const struct record *rec, int64_t *id)
{
	const struct omnik_reading *r = rec->reading;
	sqlite3_stmt *st = c->dup_find;
	int64_t us = usec_of(&rec->when), w = (int64_t)c->dup_window * 1000000;
	int rc;

	*id = 0;
	if (!may_have_copy(c, r->inverter_sn, us, w))
		return SQLITE_OK;
	c->dup.searches++;
	sqlite3_bind_text(st, 1, r->inverter_sn, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, us - w);
	sqlite3_bind_int64(st, 3, us + w);
	sqlite3_bind_text(st, 4, c->origin, -1, SQLITE_STATIC);
	for (int i = 0; i < OMNIK_NFIELDS; i++)
		bind_field(st, DUP_FIELD_PARAM + i, i, r->value[i]);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return rc;
	if (*id == 0)
		return SQLITE_OK;
	sqlite3_bind_int64(c->dup_count, 1, *id);
	rc = sqlite3_step(c->dup_count);
	sqlite3_reset(c->dup_count);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int conn_insert(struct jconn *c, const struct record *rec);

/*
 * A reading stored, or counted on the row it is a copy of (*dup). The
 * check and the insert are one transaction: the writer's batch, the
 * caller's journal_begin(), or one of their own here, taken with the
 * write lock at once (IMMEDIATE) so that no other process can store the
 * same reading between them.
 */
static int
conn_add(struct jconn *c, const struct record *rec, bool *dup)
{
	bool own;
	int64_t id;
	int rc;

	*dup = false;
	if (c->origin == NULL || c->dup_window <= 0)
		return conn_insert(c, rec);
	own = sqlite3_get_autocommit(c->db) != 0;
	if (own && (rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL,
	    NULL)) != SQLITE_OK)
		return rc;
	rc = find_copy(c, rec, &id);
	if (rc == SQLITE_OK && id > 0)
		*dup = true;
	else if (rc == SQLITE_OK)
		rc = conn_insert(c, rec);
	if (own) {
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			(void)sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	}
	return rc;
}

/* The SQLite result code; the statement is reset either way. */
static int
conn_insert(struct jconn *c, const struct record *rec)
{
	const struct omnik_reading *r = rec->reading;
	sqlite3_stmt *st = c->ins;
	char t[JCONN_TIME_MAX];
	int rc;

	sqlite3_bind_text(st, 1, t, (int)jconn_format_time(&rec->when, t,
	    sizeof(t)), SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, usec_of(&rec->when));
	sqlite3_bind_int64(st, 3, r->kit_sn);
	sqlite3_bind_text(st, 4, r->inverter_sn, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, r->ctrl1);
	if (rec->source)
		sqlite3_bind_text(st, 6, rec->source, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 6);
	sqlite3_bind_blob(st, 7, rec->frame ? (const void *)rec->frame : "",
	    (int)rec->frame_len, SQLITE_STATIC);
	if (r->has_fault)
		sqlite3_bind_blob(st, 8, r->fault, sizeof(r->fault),
		    SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 8);
	if (r->has_fw) {
		sqlite3_bind_text(st, 9, r->fw_main, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 10, r->fw_slave, -1, SQLITE_STATIC);
	} else {
		sqlite3_bind_null(st, 9);
		sqlite3_bind_null(st, 10);
	}
	for (int i = 0; i < OMNIK_NFIELDS; i++)
		bind_field(st, 11 + i, i, r->value[i]);
	{
		char lab[OMNIK_VARIANT_LABEL];

		sqlite3_bind_text(st, 11 + OMNIK_NFIELDS,
		    omnik_variant_label(r, lab), -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(st, 12 + OMNIK_NFIELDS, r->historical);
	}
	if (c->origin != NULL)
		sqlite3_bind_text(st, 13 + OMNIK_NFIELDS, c->origin, -1,
		    SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 13 + OMNIK_NFIELDS);
	rc = sqlite3_step(st);
	sqlite3_reset(st);	/* every parameter is bound again next time */
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int
conn_add_reject(struct jconn *c, const struct reject *rej)
{
	sqlite3_stmt *st = c->ins_rej;
	char t[JCONN_TIME_MAX];
	int rc;

	sqlite3_bind_text(st, 1, t, (int)jconn_format_time(&rej->when, t,
	    sizeof(t)), SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, usec_of(&rej->when));
	if (rej->source)
		sqlite3_bind_text(st, 3, rej->source, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 3);
	sqlite3_bind_text(st, 4, rej->reason ? rej->reason : "unknown", -1,
	    SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, rej->frame ? (const void *)rej->frame : "",
	    (int)rej->frame_len, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int
conn_cursor_set(struct jconn *c, const char *name, int64_t pos)
{
	int rc;

	sqlite3_bind_int64(c->cur_set, 1, pos);
	sqlite3_bind_text(c->cur_set, 2, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(c->cur_set);
	sqlite3_reset(c->cur_set);
	sqlite3_clear_bindings(c->cur_set);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/*
 * A cursor created or moved, in use or not (an output that follows the
 * journal only now and then: the CSV after a failed write). Rare: the
 * statement is prepared each time.
 */
static int
conn_cursor_state(struct jconn *c, const char *name, int64_t pos,
    bool active)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(c->db, "INSERT INTO cursors (name, position, "
	    "updated, active) VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ'), "
	    "?3) ON CONFLICT (name) DO UPDATE SET position = ?2, active = ?3, "
	    "updated = strftime('%Y-%m-%dT%H:%M:%fZ')", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, pos);
	sqlite3_bind_int(st, 3, active ? 1 : 0);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int
conn_prune(struct jconn *c, int days, time_t now, int64_t *deleted)
{
	int64_t cutoff = ((int64_t)now - (int64_t)days * 86400) * 1000000;
	int rc;

	*deleted = 0;
	sqlite3_bind_int64(c->prune_r, 1, cutoff);
	rc = sqlite3_step(c->prune_r);
	sqlite3_reset(c->prune_r);
	if (rc != SQLITE_DONE)
		return rc;
	*deleted = sqlite3_changes(c->db);
	sqlite3_bind_int64(c->prune_j, 1, cutoff);
	rc = sqlite3_step(c->prune_j);
	sqlite3_reset(c->prune_j);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Refused for its own sake: retrying cannot help, the others must pass. */
bool
jentry_fault(int rc)
{
	rc &= 0xff;
	return rc == SQLITE_CONSTRAINT || rc == SQLITE_TOOBIG ||
	    rc == SQLITE_MISMATCH || rc == SQLITE_RANGE;
}

/*
 * What the writer thread runs for each entry of a batch, and the
 * caller's connection for each write without it.
 */
int
jconn_apply(struct jconn *c, struct jentry *e, int retention_days,
    int64_t *pruned)
{
	if (prepare_for(c, e->op) != 0) {
		int rc = sqlite3_errcode(c->db);

		/* Not a fault of the entry's own: it is tried again. */
		return rc == SQLITE_OK || jentry_fault(rc) ? SQLITE_ERROR : rc;
	}
	switch (e->op) {
	case JOP_READING: {
		struct record rec = { .reading = &e->r, .when = e->when,
		    .source = e->source, .frame = e->frame,
		    .frame_len = e->frame_len };
		int rc = conn_add(c, &rec, &e->dup);

		e->id = rc == SQLITE_OK && !e->dup ?
		    sqlite3_last_insert_rowid(c->db) : 0;
		return rc;
	}
	case JOP_REJECT: {
		struct reject rej = { .reason = e->reason, .when = e->when,
		    .source = e->source, .frame = e->frame,
		    .frame_len = e->frame_len };

		return conn_add_reject(c, &rej);
	}
	case JOP_CURSOR:
		return conn_cursor_set(c, e->name, e->pos);
	case JOP_CURSTATE:
		return conn_cursor_state(c, e->name, e->pos, e->active);
	case JOP_PRUNE: {
		int64_t n;
		int rc = conn_prune(c, retention_days, (time_t)e->pos, &n);

		*pruned += n;
		return rc;
	}
	}
	return SQLITE_MISUSE;
}

const char *
jentry_what(const struct jentry *e)
{
	static const char *const what[] = { "storing a reading",
	    "storing a rejected frame", "saving a cursor", "pruning",
	    "saving a cursor" };

	return what[e->op];
}

/* Sets w->error (under the lock) when it differs from the last one. */
void
jconn_column_text(sqlite3_stmt *st, int col, char *buf, size_t n)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	snprintf(buf, n, "%s", s ? (const char *)s : "");
}

void
jconn_read_row(sqlite3_stmt *st, struct journal_row *row)
{
	struct omnik_reading *r = &row->r;
	int64_t us = sqlite3_column_int64(st, 1);

	omnik_reading_clear(r);
	row->id = sqlite3_column_int64(st, 0);
	row->when.tv_sec = (time_t)(us / 1000000);
	row->when.tv_usec = (suseconds_t)(us % 1000000);
	r->kit_sn = (uint32_t)sqlite3_column_int64(st, 2);
	jconn_column_text(st, 3, r->inverter_sn, sizeof(r->inverter_sn));
	r->ctrl1 = (uint8_t)sqlite3_column_int(st, 4);
	if (sqlite3_column_type(st, 5) == SQLITE_BLOB &&
	    sqlite3_column_bytes(st, 5) == (int)sizeof(r->fault)) {
		r->has_fault = true;
		memcpy(r->fault, sqlite3_column_blob(st, 5), sizeof(r->fault));
	}
	if (sqlite3_column_type(st, 6) != SQLITE_NULL) {
		r->has_fw = true;
		jconn_column_text(st, 6, r->fw_main, sizeof(r->fw_main));
		jconn_column_text(st, 7, r->fw_slave, sizeof(r->fw_slave));
	}
	for (int i = 0; i < OMNIK_NFIELDS; i++) {
		if (sqlite3_column_type(st, 8 + i) == SQLITE_NULL)
			continue;
		r->value[i] = (int64_t)llround(sqlite3_column_double(st,
		    8 + i) * jconn_pow10(omnik_fields[i].decimals));
	}
	{
		int flen = sqlite3_column_int(st, 8 + OMNIK_NFIELDS);

		r->frame_len = flen >= OMNIK_OVERHEAD ?
		    (uint8_t)(flen - OMNIK_OVERHEAD) : 0;
	}
	/* Rows of schema 3 and before have no variant: the Omnik layout. */
	{
		const unsigned char *v = sqlite3_column_text(st,
		    9 + OMNIK_NFIELDS);

		if (v == NULL || !omnik_variant_parse((const char *)v,
		    sqlite3_column_int(st, 10 + OMNIK_NFIELDS) != 0, r))
			omnik_variant_parse("omnik", false, r);
	}
}

int64_t
jconn_last_id(struct jconn *c, const char *inverter, int64_t cap)
{
	sqlite3_stmt *st = inverter ? c->last_inv : c->last_all;
	int64_t id = 0;
	int b = 1;

	if (inverter)
		sqlite3_bind_text(st, b++, inverter, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, b, cap);
	if (sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return id;
}
