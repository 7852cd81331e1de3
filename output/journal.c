/*
 * journal.c: readings and rejects in SQLite, with the delivery cursors.
 *
 * Values are stored in their natural units as REAL (35.2 for 352 tenths)
 * so that `sqlite3` queries read naturally; absent values are NULL. A row
 * read back is scaled and rounded to the integer it came from, which is
 * exact for the few decimals the protocol has.
 *
 * Group commit. A commit costs a WAL append, locks and (synchronous =
 * full) an fsync: ~1-3 ms that, one per reading, ran inside the event
 * loop and stalled forwarding. With journal_set_group() the writes of one
 * event-loop round share one transaction:
 *
 *   reading -> INSERT (BEGIN IMMEDIATE on the first; opened() hook arms
 *              a flush for the end of this loop round)
 *   reading -> INSERT ... (max rows pending: COMMIT at once)
 *   end of the round -> journal_flush(): COMMIT, then notify (deliveries)
 *
 * Why this and not a writer thread: one connection, one thread, no locks
 * and no queue that can fill (so nothing to drop); the readings of a busy
 * round (many kits) cost one commit; an idle relay commits a reading in
 * the same round it arrived, so "committed" is at most one loop round
 * behind "received". A thread would move the fsync off the loop but needs
 * a second connection, a bounded queue and a policy for a full queue.
 *
 * What readers see: the rows of an open group are visible to this very
 * connection, so journal_fetch() and journal_last_id() stop at the last
 * id committed before the group began: a delivery never sends a row that
 * a crash could still take back. The delivery cursors written while a
 * group is open commit with it (a crash before that re-sends those rows:
 * at least once, as promised). A kill -9 loses the open group only; WAL
 * keeps the file consistent. Without a group (no event loop) every write
 * commits on its own, as before.
 */
#include <ctype.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"

struct journal {
	sqlite3 *db;
	char *path;
	struct journal_opts opts;
	sqlite3_stmt *ins, *ins_rej, *fetch_all, *fetch_inv, *last_all,
	    *last_inv, *cur_get, *cur_ins, *cur_set;
	enum { TX_NONE, TX_GROUP, TX_BATCH } tx;	/* what is open */
	int64_t visible_max;	/* while tx is open: last committed id */
	int pending, group_max;	/* writes in the open group, its limit */
	uint64_t lost;		/* readings a failed group commit took */
	void (*opened)(void *);
	void *opened_arg;
	void (*notify)(void *);
	void *notify_arg;
	char err[512];
};

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
};

/* The value columns follow omnik_fields[] order; see migrations[1]. */
#define COLS_BEFORE_VALUES 5	/* time usec kit_sn inverter_sn ... */

const char *
journal_migration(int version)
{
	if (version < 1 || version > JOURNAL_SCHEMA_VERSION)
		return NULL;
	return migrations[version];
}

static int
fail(struct journal *j, const char *what, const char **err)
{
	size_t len;

	len = (size_t)snprintf(j->err, sizeof(j->err), "%s: %s: %s", j->path,
	    what, sqlite3_errmsg(j->db));
	/* Some errors (disk full, I/O) roll the whole group back. */
	if (j->tx == TX_GROUP && sqlite3_get_autocommit(j->db)) {
		j->lost += (uint64_t)j->pending;
		if (len < sizeof(j->err))
			snprintf(j->err + len, sizeof(j->err) - len, " (the "
			    "open group was rolled back: %d writes lost)",
			    j->pending);
		j->tx = TX_NONE;
		j->pending = 0;
	}
	if (err)
		*err = j->err;
	return -1;
}

static int
exec(struct journal *j, const char *sql, const char *what)
{
	char *msg = NULL;

	if (sqlite3_exec(j->db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	snprintf(j->err, sizeof(j->err), "%s: %s: %s", j->path, what,
	    msg ? msg : sqlite3_errmsg(j->db));
	sqlite3_free(msg);
	return -1;
}

static int
user_version(struct journal *j, int *v)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(j->db, "PRAGMA user_version", -1, &st,
	    NULL) != SQLITE_OK)
		return fail(j, "reading the schema version", NULL);
	rc = sqlite3_step(st);
	*v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : fail(j, "reading the schema version",
	    NULL);
}

/* Each step and its version bump commit together, or not at all. */
static int
migrate(struct journal *j)
{
	char sql[64];
	int v;

	if (user_version(j, &v) != 0)
		return -1;
	if (v > JOURNAL_SCHEMA_VERSION) {
		snprintf(j->err, sizeof(j->err), "%s: schema version %d is "
		    "newer than this omniklog knows (%d); refusing to touch it",
		    j->path, v, JOURNAL_SCHEMA_VERSION);
		return -1;
	}
	for (; v < JOURNAL_SCHEMA_VERSION; v++) {
		if (exec(j, "BEGIN IMMEDIATE", "migration") != 0)
			return -1;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if (exec(j, migrations[v + 1], "migration") != 0 ||
		    exec(j, sql, "migration") != 0 ||
		    exec(j, "COMMIT", "migration") != 0) {
			(void)sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
	}
	return 0;
}

static int
prepare(struct journal *j, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v3(j->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
	    NULL) == SQLITE_OK)
		return 0;
	return fail(j, "preparing a statement", NULL);
}

static int
prepare_all(struct journal *j)
{
	char sql[1024], col[16];
	size_t len;

	len = (size_t)snprintf(sql, sizeof(sql), "INSERT INTO readings (time, "
	    "usec, kit_sn, inverter_sn, ctrl, source, frame, fault, fw_main, "
	    "fw_slave");
	for (int i = 0; i < OMNIK_NFIELDS; i++) {
		size_t k;

		for (k = 0; omnik_fields[i].name[k] && k < sizeof(col) - 1; k++)
			col[k] = (char)tolower((unsigned char)
			    omnik_fields[i].name[k]);
		col[k] = '\0';
		len += (size_t)snprintf(sql + len, sizeof(sql) - len, ", %s",
		    col);
	}
	len += (size_t)snprintf(sql + len, sizeof(sql) - len,
	    ") VALUES (?,?,?,?,?,?,?,?,?,?");
	for (int i = 0; i < OMNIK_NFIELDS; i++)
		len += (size_t)snprintf(sql + len, sizeof(sql) - len, ",?");
	snprintf(sql + len, sizeof(sql) - len, ")");

#define FETCH_COLS "id, usec, kit_sn, inverter_sn, ctrl, fault, fw_main, " \
	"fw_slave, temp, vpv1, vpv2, vpv3, ipv1, ipv2, ipv3, iac1, iac2, " \
	"iac3, vac1, vac2, vac3, fac1, pac1, fac2, pac2, fac3, pac3, " \
	"etoday, etotal, htotal, runmode, length(frame)"
	if (prepare(j, sql, &j->ins) != 0 ||
	    prepare(j, "INSERT INTO rejects (time, usec, source, reason, "
	    "frame) VALUES (?,?,?,?,?)", &j->ins_rej) != 0 ||
	    prepare(j, "SELECT " FETCH_COLS " FROM readings WHERE id > ? "
	    "AND id <= ? ORDER BY id LIMIT ?", &j->fetch_all) != 0 ||
	    prepare(j, "SELECT " FETCH_COLS " FROM readings WHERE "
	    "inverter_sn = ? AND id > ? AND id <= ? ORDER BY id LIMIT ?",
	    &j->fetch_inv) != 0 ||
	    prepare(j, "SELECT max(id) FROM readings WHERE id <= ?",
	    &j->last_all) != 0 ||
	    prepare(j, "SELECT max(id) FROM readings WHERE inverter_sn = ? "
	    "AND id <= ?", &j->last_inv) != 0 ||
	    prepare(j, "SELECT position FROM cursors WHERE name = ?",
	    &j->cur_get) != 0 ||
	    prepare(j, "INSERT OR IGNORE INTO cursors (name, position, "
	    "updated) VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ'))",
	    &j->cur_ins) != 0 ||
	    prepare(j, "UPDATE cursors SET position = ?, updated = "
	    "strftime('%Y-%m-%dT%H:%M:%fZ') WHERE name = ?", &j->cur_set) != 0)
		return -1;
#undef FETCH_COLS
	return 0;
}

static void
finalize_all(struct journal *j)
{
	sqlite3_stmt **all[] = { &j->ins, &j->ins_rej, &j->fetch_all,
	    &j->fetch_inv, &j->last_all, &j->last_inv, &j->cur_get,
	    &j->cur_ins, &j->cur_set };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		sqlite3_finalize(*all[i]);
		*all[i] = NULL;
	}
}

struct journal *
journal_open(const char *path, const struct journal_opts *o, char *err,
    size_t errlen)
{
	struct journal *j;
	int64_t deleted;

	j = calloc(1, sizeof(*j));
	if (j == NULL || (j->path = strdup(path)) == NULL) {
		free(j);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	j->opts = *o;
	if (sqlite3_open_v2(path, &j->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(j->err, sizeof(j->err), "cannot open %s: %s", path,
		    j->db ? sqlite3_errmsg(j->db) : "out of memory");
		goto fail;
	}
	/* Another process (sqlite3 shell, a backup) may hold the lock. */
	sqlite3_busy_timeout(j->db, 2000);
	if (exec(j, "PRAGMA journal_mode = WAL", "setting WAL mode") != 0 ||
	    exec(j, o->sync_full ? "PRAGMA synchronous = FULL" :
	    "PRAGMA synchronous = NORMAL", "setting synchronous") != 0 ||
	    /* Big enough for a fleet's batch without spilling. */
	    exec(j, "PRAGMA cache_size = -8192", "pragma") != 0 ||
	    migrate(j) != 0 || prepare_all(j) != 0)
		goto fail;
	if (journal_prune(j, time(NULL), &deleted, NULL) != 0)
		goto fail;
	return j;
fail:
	snprintf(err, errlen, "%s", j->err);
	journal_close(j);
	return NULL;
}

void
journal_close(struct journal *j)
{
	if (j == NULL)
		return;
	(void)journal_flush(j, NULL);	/* the caller flushed to see errors */
	finalize_all(j);
	sqlite3_close(j->db);
	free(j->path);
	free(j);
}

const char *
journal_path(const struct journal *j)
{
	return j->path;
}

void
journal_set_notify(struct journal *j, void (*fn)(void *), void *arg)
{
	j->notify = fn;
	j->notify_arg = arg;
}

void
journal_set_group(struct journal *j, int max_rows, void (*opened)(void *),
    void *arg)
{
	j->group_max = max_rows > 0 ? max_rows : 0;
	j->opened = opened;
	j->opened_arg = arg;
}

static int64_t last_id(struct journal *j, const char *inverter, int64_t cap);

/* Start a group if grouping and none is open: the first write of a round. */
static int
group_open(struct journal *j, const char **err)
{
	if (j->group_max == 0 || j->tx != TX_NONE)
		return 0;
	/* IMMEDIATE: the write lock now, so no one commits under our cap. */
	if (exec(j, "BEGIN IMMEDIATE", "starting a group commit") != 0) {
		if (err)
			*err = j->err;
		return -1;
	}
	j->visible_max = last_id(j, NULL, INT64_MAX);
	j->tx = TX_GROUP;
	j->pending = 0;
	if (j->opened)
		j->opened(j->opened_arg);
	return 0;
}

int
journal_flush(struct journal *j, const char **err)
{
	int n = j->pending;

	if (j->tx != TX_GROUP)
		return 0;
	j->tx = TX_NONE;
	j->pending = 0;
	if (exec(j, "COMMIT", "committing a group") != 0) {
		size_t len = strlen(j->err);

		(void)sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
		j->lost += (uint64_t)n;
		snprintf(j->err + len, sizeof(j->err) - len, " (%d writes lost)",
		    n);
		if (err)
			*err = j->err;
		return -1;
	}
	if (n > 0 && j->notify)
		j->notify(j->notify_arg);
	return 0;
}

int
journal_pending(const struct journal *j)
{
	return j->tx == TX_GROUP ? j->pending : 0;
}

uint64_t
journal_lost(const struct journal *j)
{
	return j->lost;
}

/* After a write: count it in the group, commit a full one. */
static int
group_wrote(struct journal *j, const char **err)
{
	if (j->tx != TX_GROUP)
		return 0;
	if (++j->pending >= j->group_max)
		return journal_flush(j, err);
	return 0;
}

static void
format_time(const struct timeval *tv, char *buf, size_t n)
{
	struct tm tm;
	time_t t = tv->tv_sec;

	size_t len;

	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	len = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + len, n - len, ".%06uZ",
	    (unsigned)tv->tv_usec % 1000000u);
}

static int64_t
usec_of(const struct timeval *tv)
{
	return (int64_t)tv->tv_sec * 1000000 + tv->tv_usec;
}

static double
pow10i(int d)
{
	static const double p[] = { 1, 10, 100, 1000, 10000 };

	return p[d < 0 ? 0 : d > 4 ? 4 : d];
}

int
journal_add(struct journal *j, const struct record *rec, const char **err)
{
	const struct omnik_reading *r = rec->reading;
	sqlite3_stmt *st = j->ins;
	char t[40];
	int rc;

	if (group_open(j, err) != 0)
		return -1;
	format_time(&rec->when, t, sizeof(t));
	sqlite3_bind_text(st, 1, t, -1, SQLITE_TRANSIENT);
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
	for (int i = 0; i < OMNIK_NFIELDS; i++) {
		if (r->value[i] == OMNIK_ABSENT)
			sqlite3_bind_null(st, 11 + i);
		else if (omnik_fields[i].decimals == 0)
			sqlite3_bind_int64(st, 11 + i, r->value[i]);
		else
			sqlite3_bind_double(st, 11 + i, (double)r->value[i] /
			    pow10i(omnik_fields[i].decimals));
	}
	rc = sqlite3_step(st);
	sqlite3_reset(st);	/* every parameter is bound again next time */
	if (rc != SQLITE_DONE)
		return fail(j, "storing a reading", err);
	if (j->tx == TX_GROUP)
		return group_wrote(j, err);
	if (j->notify && j->tx == TX_NONE)
		j->notify(j->notify_arg);
	return 0;
}

int
journal_add_reject(struct journal *j, const struct reject *rej,
    const char **err)
{
	sqlite3_stmt *st = j->ins_rej;
	char t[40];
	int rc;

	if (group_open(j, err) != 0)
		return -1;
	format_time(&rej->when, t, sizeof(t));
	sqlite3_bind_text(st, 1, t, -1, SQLITE_TRANSIENT);
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
	if (rc != SQLITE_DONE)
		return fail(j, "storing a rejected frame", err);
	return group_wrote(j, err);
}

int
journal_begin(struct journal *j, const char **err)
{
	if (journal_flush(j, err) != 0)
		return -1;
	if (exec(j, "BEGIN IMMEDIATE", "begin") != 0) {
		*err = j->err;
		return -1;
	}
	j->visible_max = last_id(j, NULL, INT64_MAX);
	j->tx = TX_BATCH;
	return 0;
}

int
journal_commit(struct journal *j, const char **err)
{
	j->tx = TX_NONE;
	if (exec(j, "COMMIT", "commit") != 0) {
		(void)sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
		*err = j->err;
		return -1;
	}
	if (j->notify)
		j->notify(j->notify_arg);
	return 0;
}

static void
column_text(sqlite3_stmt *st, int col, char *buf, size_t n)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	snprintf(buf, n, "%s", s ? (const char *)s : "");
}

static void
read_row(sqlite3_stmt *st, struct journal_row *row)
{
	struct omnik_reading *r = &row->r;
	int64_t us = sqlite3_column_int64(st, 1);

	omnik_reading_clear(r);
	row->id = sqlite3_column_int64(st, 0);
	row->when.tv_sec = (time_t)(us / 1000000);
	row->when.tv_usec = (suseconds_t)(us % 1000000);
	r->kit_sn = (uint32_t)sqlite3_column_int64(st, 2);
	column_text(st, 3, r->inverter_sn, sizeof(r->inverter_sn));
	r->ctrl1 = (uint8_t)sqlite3_column_int(st, 4);
	if (sqlite3_column_type(st, 5) == SQLITE_BLOB &&
	    sqlite3_column_bytes(st, 5) == (int)sizeof(r->fault)) {
		r->has_fault = true;
		memcpy(r->fault, sqlite3_column_blob(st, 5), sizeof(r->fault));
	}
	if (sqlite3_column_type(st, 6) != SQLITE_NULL) {
		r->has_fw = true;
		column_text(st, 6, r->fw_main, sizeof(r->fw_main));
		column_text(st, 7, r->fw_slave, sizeof(r->fw_slave));
	}
	for (int i = 0; i < OMNIK_NFIELDS; i++) {
		if (sqlite3_column_type(st, 8 + i) == SQLITE_NULL)
			continue;
		r->value[i] = (int64_t)llround(sqlite3_column_double(st,
		    8 + i) * pow10i(omnik_fields[i].decimals));
	}
	{
		int flen = sqlite3_column_int(st, 8 + OMNIK_NFIELDS);

		r->frame_len = flen >= OMNIK_OVERHEAD ?
		    (uint8_t)(flen - OMNIK_OVERHEAD) : 0;
	}
}

/* The highest id a reader may see: none of an open transaction's. */
static int64_t
visible(const struct journal *j)
{
	return j->tx == TX_NONE ? INT64_MAX : j->visible_max;
}

int
journal_fetch(struct journal *j, int64_t after, const char *inverter,
    struct journal_row *rows, int max, int *n, const char **err)
{
	sqlite3_stmt *st = inverter ? j->fetch_inv : j->fetch_all;
	int b = 1, rc;

	*n = 0;
	if (inverter)
		sqlite3_bind_text(st, b++, inverter, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, b++, after);
	sqlite3_bind_int64(st, b++, visible(j));
	sqlite3_bind_int(st, b, max);
	while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
		read_row(st, &rows[(*n)++]);
	if (*n < max && rc != SQLITE_DONE) {
		sqlite3_reset(st);
		return fail(j, "reading readings", err);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return 0;
}

static int64_t
last_id(struct journal *j, const char *inverter, int64_t cap)
{
	sqlite3_stmt *st = inverter ? j->last_inv : j->last_all;
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

int64_t
journal_last_id(struct journal *j, const char *inverter)
{
	return last_id(j, inverter, visible(j));
}

int
journal_cursor_get(struct journal *j, const char *name, int64_t initial,
    int64_t *pos, const char **err)
{
	int rc;

	sqlite3_bind_text(j->cur_ins, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(j->cur_ins, 2, initial);
	rc = sqlite3_step(j->cur_ins);
	sqlite3_reset(j->cur_ins);
	if (rc != SQLITE_DONE)
		return fail(j, "creating a cursor", err);
	sqlite3_bind_text(j->cur_get, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(j->cur_get);
	if (rc == SQLITE_ROW)
		*pos = sqlite3_column_int64(j->cur_get, 0);
	sqlite3_reset(j->cur_get);
	return rc == SQLITE_ROW ? 0 : fail(j, "reading a cursor", err);
}

int
journal_cursor_set(struct journal *j, const char *name, int64_t pos,
    const char **err)
{
	int rc;

	if (group_open(j, err) != 0)
		return -1;
	sqlite3_bind_int64(j->cur_set, 1, pos);
	sqlite3_bind_text(j->cur_set, 2, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(j->cur_set);
	sqlite3_reset(j->cur_set);
	if (rc != SQLITE_DONE)
		return fail(j, "saving a cursor", err);
	return group_wrote(j, err);
}

int
journal_prune(struct journal *j, time_t now, int64_t *deleted,
    const char **err)
{
	sqlite3_stmt *st;
	int64_t cutoff;
	int rc;

	*deleted = 0;
	if (j->opts.retention_days <= 0)
		return 0;
	cutoff = ((int64_t)now - (int64_t)j->opts.retention_days * 86400) *
	    1000000;
	if (sqlite3_prepare_v2(j->db, "DELETE FROM readings WHERE usec < ?1 "
	    "AND id <= coalesce((SELECT min(position) FROM cursors), "
	    "(SELECT max(id) FROM readings))", -1, &st, NULL) != SQLITE_OK)
		return fail(j, "pruning", err);
	sqlite3_bind_int64(st, 1, cutoff);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail(j, "pruning readings", err);
	*deleted = sqlite3_changes(j->db);
	if (sqlite3_prepare_v2(j->db, "DELETE FROM rejects WHERE usec < ?1",
	    -1, &st, NULL) != SQLITE_OK)
		return fail(j, "pruning", err);
	sqlite3_bind_int64(st, 1, cutoff);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : fail(j, "pruning rejects", err);
}

static int
sink_reading(void *ctx, const struct record *rec, const char **err)
{
	return journal_add(ctx, rec, err);
}

static int
sink_reject(void *ctx, const struct reject *rej, const char **err)
{
	return journal_add_reject(ctx, rej, err);
}

/* SIGHUP: whatever is pending is on disk before files are rotated. */
static int
sink_reopen(void *ctx, const char **err)
{
	return journal_flush(ctx, err);
}

static void
sink_close(void *ctx)
{
	journal_close(ctx);
}

void
journal_sink(struct journal *j, struct sink *out)
{
	memset(out, 0, sizeof(*out));
	out->name = "journal";
	out->ctx = j;
	out->reading = sink_reading;
	out->reject = sink_reject;
	out->reopen = sink_reopen;
	out->close = sink_close;
}
