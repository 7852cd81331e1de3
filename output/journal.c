/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * journal.c: readings and rejects in SQLite, with the delivery cursors.
 *
 * Values are stored in their natural units as REAL (35.2 for 352 tenths)
 * so that `sqlite3` queries read naturally; absent values are NULL. A row
 * read back is scaled and rounded to the integer it came from, which is
 * exact for the few decimals the protocol has.
 *
 * Two ways to write. Without a writer (tests, tools, benchmarks) every
 * call runs on the caller's connection and commits before it returns
 * (or with journal_commit() after journal_begin()). The programs start
 * the writer thread (journal_writer_start), because a commit costs a WAL
 * append and, with synchronous = full, an fsync: 0.3-3 ms that, on the
 * event loop, stalled the forwarding of every open connection:
 *
 *   event loop thread                       writer thread (own connection)
 *   journal_add ----> [ queue, bounded ] ---> BEGIN; INSERT all queued;
 *   journal_add_reject                        COMMIT (one fsync for all)
 *   journal_cursor_set                          |
 *   journal_prune                               | eventfd: "committed"
 *   journal_writer_poll <-----------------------+
 *     -> notify (wakes the deliveries), counts, errors to log
 *   journal_fetch / journal_last_id: the loop's connection, which sees
 *     only committed rows (WAL snapshot), so a delivery never sends a
 *     row a crash could take back.
 *
 * Group commit falls out of it: whatever queued while a commit ran goes
 * in the next one. The queue holds JOURNAL_QUEUE_MAX entries. When it is
 * full and the writer is healthy the caller waits for room (the disk is
 * merely slower than the input: back-pressure, as a synchronous write
 * would be); when the writer is failing (disk full, I/O errors, a lock
 * held elsewhere) it keeps what it holds, retries with a growing pause
 * (1 s .. 60 s), and new entries beyond the bound are refused with an
 * error (the reading still reaches the CSV and the log). An entry SQLite
 * refuses for itself (a constraint, too big) is dropped and reported so
 * that it cannot block the ones behind it. On close the writer commits
 * what is queued; if that fails the rest is counted as dropped.
 *
 * The library never logs: journal_writer_poll() hands the program the
 * counts and the latest error.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"

/* One connection with its statements; used by one thread at a time. */
struct jconn {
	sqlite3 *db;
	const char *path;
	sqlite3_stmt *ins, *ins_rej, *fetch_all, *fetch_inv, *last_all,
	    *last_inv, *cur_get, *cur_ins, *cur_act, *cur_set, *prune_r,
	    *prune_j;
	char err[512];
};

enum jop { JOP_READING, JOP_REJECT, JOP_CURSOR, JOP_PRUNE, JOP_CURSTATE };

/* A write waiting for the writer thread; owns copies of what it needs. */
struct jentry {
	struct jentry *next;
	enum jop op;
	bool skip;			/* refused by SQLite for itself */
	bool active;			/* JOP_CURSTATE */
	uint64_t seq;			/* a reading's journal_seq() */
	int64_t id;			/* its row id, once inserted */
	struct timeval when;
	int64_t pos;			/* cursor position; prune: now */
	const char *source, *reason, *name;	/* in data[], or NULL */
	const uint8_t *frame;
	size_t frame_len;
	struct omnik_reading r;
	char data[];
};

struct jwriter {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t work;		/* to the writer: queued, or stop */
	pthread_cond_t room;		/* to producers: the queue shrank */
	pthread_cond_t done;		/* to journal_sync: a batch ended */
	struct jentry *head, **tail;
	int queued;			/* entries queued or being written */
	int readings;			/* of which readings */
	bool busy, failing, stop;
	bool idle;			/* waiting for work: signal it */
	bool moved;			/* the path names another file: paused */
	bool tell_commits;		/* wake the loop after every commit */
	uint64_t recoveries;		/* from failing to committing */
	uint64_t told_error, told_dropped, told_recoveries;
	uint64_t committed, dropped;	/* readings, since the start */
	int64_t pruned;
	char error[512];
	uint64_t error_seq;
	int wake_fd;			/* eventfd, readable after a batch */
	struct jconn c;
};

struct journal {
	struct jconn c;			/* the caller's (event loop's) */
	char *path;
	struct journal_opts opts;
	enum { TX_NONE, TX_BATCH } tx;	/* journal_begin .. journal_commit */
	int64_t visible_max;		/* while in a batch: last committed */
	struct jwriter *w;		/* NULL: writes run on c */
	uint64_t seen_committed, seen_dropped, seen_error, seen_recoveries;
	int64_t seen_pruned;
	void (*notify)(void *);
	void *notify_arg;
	/*
	 * The file both connections have open, to tell when the path no
	 * longer names it (deleted, replaced); written by the loop while
	 * the writer is paused. lost: the connections are closed and a new
	 * journal could not be opened yet.
	 */
	dev_t dev;
	ino_t ino;
	bool lost;
	/*
	 * Readings accepted (journal_seq), and the row id of the first one
	 * from watch_seq on that committed (0: not yet); with the writer
	 * watch_id is its, under its lock.
	 */
	uint64_t seq, watch_seq;
	int64_t watch_id;
	/* Readings a full queue refused since the last news (loop only). */
	uint64_t refused;
	struct timeval refused_first, refused_last;
	char err[1024];
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
};

const char *
journal_migration(int version)
{
	if (version < 1 || version > JOURNAL_SCHEMA_VERSION)
		return NULL;
	return migrations[version];
}

static int
conn_fail(struct jconn *c, const char *what, const char **err)
{
	snprintf(c->err, sizeof(c->err), "%s: %s: %s", c->path, what,
	    sqlite3_errmsg(c->db));
	if (err)
		*err = c->err;
	return -1;
}

static int
conn_exec(struct jconn *c, const char *sql, const char *what)
{
	char *msg = NULL;

	if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	snprintf(c->err, sizeof(c->err), "%s: %s: %s", c->path, what,
	    msg ? msg : sqlite3_errmsg(c->db));
	sqlite3_free(msg);
	return -1;
}

static int
user_version(struct jconn *c, int *v)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st,
	    NULL) != SQLITE_OK)
		return conn_fail(c, "reading the schema version", NULL);
	rc = sqlite3_step(st);
	*v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : conn_fail(c, "reading the schema "
	    "version", NULL);
}

/* Each step and its version bump commit together, or not at all. */
static int
migrate(struct jconn *c)
{
	char sql[64];
	int v;

	if (user_version(c, &v) != 0)
		return -1;
	if (v > JOURNAL_SCHEMA_VERSION) {
		snprintf(c->err, sizeof(c->err), "%s: schema version %d is "
		    "newer than this omniklog knows (%d); refusing to touch it",
		    c->path, v, JOURNAL_SCHEMA_VERSION);
		return -1;
	}
	for (; v < JOURNAL_SCHEMA_VERSION; v++) {
		if (conn_exec(c, "BEGIN IMMEDIATE", "migration") != 0)
			return -1;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if (conn_exec(c, migrations[v + 1], "migration") != 0 ||
		    conn_exec(c, sql, "migration") != 0 ||
		    conn_exec(c, "COMMIT", "migration") != 0) {
			(void)sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
	}
	return 0;
}

static int
prepare(struct jconn *c, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
	    NULL) == SQLITE_OK)
		return 0;
	return conn_fail(c, "preparing a statement", NULL);
}

/* The writer's connection only needs the statements that write. */
static int
prepare_all(struct jconn *c, bool writer)
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
	    ", variant, historical) VALUES (?,?,?,?,?,?,?,?,?,?,?,?");
	for (int i = 0; i < OMNIK_NFIELDS; i++)
		len += (size_t)snprintf(sql + len, sizeof(sql) - len, ",?");
	snprintf(sql + len, sizeof(sql) - len, ")");

#define FETCH_COLS "id, usec, kit_sn, inverter_sn, ctrl, fault, fw_main, " \
	"fw_slave, temp, vpv1, vpv2, vpv3, ipv1, ipv2, ipv3, iac1, iac2, " \
	"iac3, vac1, vac2, vac3, fac1, pac1, fac2, pac2, fac3, pac3, " \
	"etoday, etotal, htotal, runmode, length(frame), variant, historical"
	/* What the writer thread runs. */
	if (prepare(c, sql, &c->ins) != 0 ||
	    prepare(c, "INSERT INTO rejects (time, usec, source, reason, "
	    "frame) VALUES (?,?,?,?,?)", &c->ins_rej) != 0 ||
	    prepare(c, "UPDATE cursors SET position = ?, updated = "
	    "strftime('%Y-%m-%dT%H:%M:%fZ') WHERE name = ?", &c->cur_set) != 0 ||
	    /* Old readings go unless an active cursor has yet to pass
	     * them (one that follows their inverter, or all). */
	    prepare(c, "DELETE FROM readings WHERE usec < ?1 AND NOT EXISTS "
	    "(SELECT 1 FROM cursors c WHERE c.active AND c.position < "
	    "readings.id AND (c.inverter IS NULL OR c.inverter = "
	    "readings.inverter_sn))", &c->prune_r) != 0 ||
	    prepare(c, "DELETE FROM rejects WHERE usec < ?1", &c->prune_j) != 0)
		return -1;
	if (writer)
		return 0;
	/* What the caller's connection runs besides. */
	if (prepare(c, "SELECT " FETCH_COLS " FROM readings WHERE id > ? "
	    "AND id <= ? ORDER BY id LIMIT ?", &c->fetch_all) != 0 ||
	    prepare(c, "SELECT " FETCH_COLS " FROM readings WHERE "
	    "inverter_sn = ? AND id > ? AND id <= ? ORDER BY id LIMIT ?",
	    &c->fetch_inv) != 0 ||
	    prepare(c, "SELECT max(id) FROM readings WHERE id <= ?",
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
#undef FETCH_COLS
	return 0;
}

static void
conn_close(struct jconn *c)
{
	sqlite3_stmt **all[] = { &c->ins, &c->ins_rej, &c->fetch_all,
	    &c->fetch_inv, &c->last_all, &c->last_inv, &c->cur_get,
	    &c->cur_ins, &c->cur_act, &c->cur_set, &c->prune_r, &c->prune_j };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		sqlite3_finalize(*all[i]);
		*all[i] = NULL;
	}
	sqlite3_close(c->db);
	c->db = NULL;
}

/* Opens, sets the pragmas; the caller's connection migrates. */
static int
conn_open(struct jconn *c, const char *path, const struct journal_opts *o,
    bool writer)
{
	c->path = path;
	if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(c->err, sizeof(c->err), "cannot open %s: %s", path,
		    c->db ? sqlite3_errmsg(c->db) : "out of memory");
		return -1;
	}
	/* Another process (sqlite3 shell, a backup) may hold the lock. */
	sqlite3_busy_timeout(c->db, 2000);
	if (conn_exec(c, "PRAGMA journal_mode = WAL", "setting WAL mode") != 0 ||
	    conn_exec(c, o->sync_full ? "PRAGMA synchronous = FULL" :
	    "PRAGMA synchronous = NORMAL", "setting synchronous") != 0 ||
	    /*
	     * 1 MiB per connection: a batch of 10,000 readings commits as
	     * fast as with 8 MiB, and a delivery catching up a big backlog
	     * keeps 1.7 MiB of heap instead of 9 MiB (measured).
	     */
	    conn_exec(c, "PRAGMA cache_size = -1024", "pragma") != 0 ||
	    (!writer && migrate(c) != 0) || prepare_all(c, writer) != 0)
		return -1;
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

/* The SQLite result code; the statement is reset either way. */
static int
conn_add(struct jconn *c, const struct record *rec)
{
	const struct omnik_reading *r = rec->reading;
	sqlite3_stmt *st = c->ins;
	char t[40];
	int rc;

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
	{
		char lab[OMNIK_VARIANT_LABEL];

		sqlite3_bind_text(st, 11 + OMNIK_NFIELDS,
		    omnik_variant_label(r, lab), -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(st, 12 + OMNIK_NFIELDS, r->historical);
	}
	rc = sqlite3_step(st);
	sqlite3_reset(st);	/* every parameter is bound again next time */
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int
conn_add_reject(struct jconn *c, const struct reject *rej)
{
	sqlite3_stmt *st = c->ins_rej;
	char t[40];
	int rc;

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

/* ------------------------------------------------------------------ */
/* The file under the path */

/*
 * Is the path still the file the connections have open? A journal
 * deleted (or moved, or replaced) while open would otherwise take every
 * later commit into a file nobody can read. One stat() per commit batch.
 */
static bool
same_file(const struct journal *j)
{
	struct stat st;

	return stat(j->path, &st) == 0 && st.st_dev == j->dev &&
	    st.st_ino == j->ino;
}

static void
note_file(struct journal *j)
{
	struct stat st;

	if (stat(j->path, &st) == 0) {
		j->dev = st.st_dev;
		j->ino = st.st_ino;
	} else {
		j->dev = 0;
		j->ino = 0;
	}
}

/* ------------------------------------------------------------------ */
/* The writer thread */

/* Refused for its own sake: retrying cannot help, the others must pass. */
static bool
entry_fault(int rc)
{
	rc &= 0xff;
	return rc == SQLITE_CONSTRAINT || rc == SQLITE_TOOBIG ||
	    rc == SQLITE_MISMATCH || rc == SQLITE_RANGE;
}

static int
entry_apply(struct journal *j, struct jconn *c, struct jentry *e,
    int64_t *pruned)
{
	switch (e->op) {
	case JOP_READING: {
		struct record rec = { .reading = &e->r, .when = e->when,
		    .source = e->source, .frame = e->frame,
		    .frame_len = e->frame_len };
		int rc = conn_add(c, &rec);

		e->id = rc == SQLITE_OK ? sqlite3_last_insert_rowid(c->db) : 0;
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
		int rc = conn_prune(c, j->opts.retention_days,
		    (time_t)e->pos, &n);

		*pruned += n;
		return rc;
	}
	}
	return SQLITE_MISUSE;
}

static const char *
entry_what(const struct jentry *e)
{
	static const char *const what[] = { "storing a reading",
	    "storing a rejected frame", "saving a cursor", "pruning",
	    "saving a cursor" };

	return what[e->op];
}

/* Sets w->error (under the lock) when it differs from the last one. */
static void
writer_error(struct jwriter *w, const char *msg)
{
	pthread_mutex_lock(&w->mu);
	if (strcmp(w->error, msg) != 0 || !w->failing) {
		snprintf(w->error, sizeof(w->error), "%s", msg);
		w->error_seq++;
	}
	pthread_mutex_unlock(&w->mu);
}

/*
 * One transaction for the whole list. 0: committed (entries refused for
 * themselves are marked skip); -1: nothing committed, retry later.
 */
static int
writer_commit(struct journal *j, struct jentry *list, int64_t *pruned)
{
	struct jwriter *w = j->w;
	struct jconn *c = &w->c;
	char msg[600];
	int rc;

	/*
	 * Not into a file the path no longer names: the loop opens a new
	 * journal (journal_reopen) and resumes us.
	 */
	if (!same_file(j))
		return -2;
	/*
	 * Opened with the first write, not at start: an idle relay keeps
	 * one connection (~200 KiB less); the caller's connection has
	 * opened and migrated the same file already.
	 */
	if (c->db == NULL && conn_open(c, j->path, &j->opts, true) != 0) {
		writer_error(w, c->err);
		conn_close(c);
		return -1;
	}
again:
	*pruned = 0;
	if (conn_exec(c, "BEGIN IMMEDIATE", "starting a commit") != 0) {
		writer_error(w, c->err);
		return -1;
	}
	for (struct jentry *e = list; e != NULL; e = e->next) {
		if (e->skip)
			continue;
		if ((rc = entry_apply(j, c, e, pruned)) == SQLITE_OK)
			continue;
		snprintf(msg, sizeof(msg), "%s: %s: %s", c->path, entry_what(e),
		    sqlite3_errmsg(c->db));
		if (entry_fault(rc)) {
			e->skip = true;
			writer_error(w, msg);
			/*
			 * It took the whole transaction with it: start over
			 * without it (each round skips one more entry).
			 */
			if (sqlite3_get_autocommit(c->db))
				goto again;
			continue;
		}
		(void)sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		writer_error(w, msg);
		return -1;
	}
	if (conn_exec(c, "COMMIT", "committing") != 0) {
		(void)sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		writer_error(w, c->err);
		return -1;
	}
	return 0;
}

static void
writer_wake(struct jwriter *w)
{
	uint64_t one = 1;

	/* Only fails if the counter would overflow: it is readable then. */
	(void)!write(w->wake_fd, &one, sizeof(one));
}

/* Frees a finished list; counts it. Called with the lock held. */
static void
writer_retire(struct jwriter *w, struct jentry *list, bool committed)
{
	while (list != NULL) {
		struct jentry *next = list->next;

		if (list->op == JOP_READING) {
			w->readings--;
			if (committed && !list->skip)
				w->committed++;
			else
				w->dropped++;
		}
		w->queued--;
		free(list);
		list = next;
	}
}

static void
deadline_in(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

#define WRITER_RETRY_MIN_MS 1000
#define WRITER_RETRY_MAX_MS 60000
/*
 * Under load (the last commit less than a linger ago), woken for a few
 * entries, the writer waits this long for more before it commits: one
 * commit then takes dozens of readings instead of two or three, which
 * cuts its CPU per reading from 38 to 7 us (32 kits pushing at once),
 * and producers need not wake it for each one. Such readings become
 * durable up to 20 ms later; forwarding never waits for it. A reading
 * that comes after a quiet spell of 20 ms commits at once.
 */
#define WRITER_LINGER_NS 20000000L
#define WRITER_LINGER_BELOW 256
/* A full queue with a healthy writer: how long a producer may wait. */
#define JOURNAL_FULL_WAIT_MS 2000

static int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Is there news the loop must hear? Called with the lock held. */
static bool
writer_news(struct jwriter *w, bool committed)
{
	bool tell = (committed && w->tell_commits) || w->failing || w->moved ||
	    w->error_seq != w->told_error || w->dropped != w->told_dropped ||
	    w->recoveries != w->told_recoveries;

	w->told_error = w->error_seq;
	w->told_dropped = w->dropped;
	w->told_recoveries = w->recoveries;
	return tell;
}

static void *
writer_main(void *arg)
{
	struct journal *j = arg;
	struct jwriter *w = j->w;
	struct jentry *list;
	struct timespec until;
	int64_t pruned;
	int pause_ms = 0, rc;
	bool committed;
	int64_t last_ns = 0;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		w->idle = true;
		while ((w->head == NULL || w->moved) && !w->stop)
			pthread_cond_wait(&w->work, &w->mu);
		w->idle = false;
		if (w->head == NULL)
			break;
		if (w->queued < WRITER_LINGER_BELOW && !w->stop &&
		    mono_ns() - last_ns < WRITER_LINGER_NS) {
			struct timespec linger = { 0, WRITER_LINGER_NS };

			pthread_mutex_unlock(&w->mu);
			(void)nanosleep(&linger, NULL);
			pthread_mutex_lock(&w->mu);
		}
		list = w->head;
		w->head = NULL;
		w->tail = &w->head;
		w->busy = true;
		pthread_mutex_unlock(&w->mu);

		rc = writer_commit(j, list, &pruned);
		last_ns = mono_ns();

		pthread_mutex_lock(&w->mu);
		w->busy = false;
		committed = false;
		if (rc == 0) {
			w->pruned += pruned;
			for (struct jentry *e = list; e && j->watch_seq &&
			    j->watch_id == 0; e = e->next)
				if (e->op == JOP_READING && !e->skip &&
				    e->seq >= j->watch_seq)
					j->watch_id = e->id;
			for (struct jentry *e = list; e && !committed; e = e->next)
				committed = e->op == JOP_READING && !e->skip;
			writer_retire(w, list, true);
			if (w->failing)
				w->recoveries++;
			w->failing = false;
			pause_ms = 0;
		} else if (w->stop) {
			/* The last chance went by: count the rest as lost. */
			writer_retire(w, list, false);
			writer_retire(w, w->head, false);
			w->head = NULL;
			w->tail = &w->head;
			w->failing = false;	/* nothing is retried now */
		} else {
			/* Keep the order: the failed list goes back first. */
			if (rc == -2)
				w->moved = true;	/* until resumed */
			else
				w->failing = true;
			struct jentry **end = &list;

			while (*end != NULL)
				end = &(*end)->next;
			*end = w->head;
			if (w->head == NULL)
				w->tail = end;
			w->head = list;
		}
		pthread_cond_broadcast(&w->room);
		pthread_cond_broadcast(&w->done);
		if (writer_news(w, committed) || (rc == 0 && pruned > 0))
			writer_wake(w);
		if (rc == -1 && !w->stop) {
			pause_ms = pause_ms == 0 ? WRITER_RETRY_MIN_MS :
			    pause_ms * 2 > WRITER_RETRY_MAX_MS ?
			    WRITER_RETRY_MAX_MS : pause_ms * 2;
			deadline_in(&until, pause_ms);
			while (!w->stop && pthread_cond_timedwait(&w->work,
			    &w->mu, &until) != ETIMEDOUT)
				;
		}
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void
writer_free(struct jwriter *w)
{
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	conn_close(&w->c);
	pthread_cond_destroy(&w->work);
	pthread_cond_destroy(&w->room);
	pthread_cond_destroy(&w->done);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

int
journal_writer_start(struct journal *j, bool tell_commits, char *err,
    size_t errlen)
{
	struct jwriter *w;
	pthread_condattr_t ca;
	sigset_t all, old;
	int e;

	if (j->w != NULL)
		return 0;
	if (j->tx != TX_NONE) {
		snprintf(err, errlen, "%s: a batch is open", j->path);
		return -1;
	}
	/* Two connections on two threads need a thread-safe SQLite. */
	if (!sqlite3_threadsafe()) {
		snprintf(err, errlen, "this SQLite library is built without "
		    "thread support; the journal needs it");
		return -1;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	w->tail = &w->head;
	w->wake_fd = -1;
	w->tell_commits = tell_commits;
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->work, &ca);
	pthread_cond_init(&w->room, &ca);
	pthread_cond_init(&w->done, &ca);
	pthread_condattr_destroy(&ca);
	if ((w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		writer_free(w);
		return -1;
	}
	/* Its connection opens with the first write (writer_commit). */
	j->w = w;
	/*
	 * The thread starts with every signal blocked, so the program's
	 * handlers (libevent's) always run on the loop's thread and no
	 * signal interrupts the writer's I/O.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&w->thread, NULL, writer_main, j);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		snprintf(err, errlen, "cannot start the journal writer: %s",
		    strerror(e));
		j->w = NULL;
		writer_free(w);
		return -1;
	}
	return 0;
}

/* Commits what is queued (one last try if failing), ends the thread. */
static void
writer_stop(struct journal *j)
{
	struct jwriter *w = j->w;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_broadcast(&w->work);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
}

int
journal_writer_fd(const struct journal *j)
{
	return j->w ? j->w->wake_fd : -1;
}

void
journal_writer_poll(struct journal *j, struct journal_news *n)
{
	struct jwriter *w = j->w;
	uint64_t count;

	memset(n, 0, sizeof(*n));
	if (w == NULL)
		return;
	(void)!read(w->wake_fd, &count, sizeof(count));
	pthread_mutex_lock(&w->mu);
	n->committed = w->committed - j->seen_committed;
	n->dropped = w->dropped - j->seen_dropped;
	n->pruned = w->pruned - j->seen_pruned;
	n->queued = w->readings;
	n->failing = w->failing;
	n->moved = w->moved || j->lost;
	n->recovered = w->recoveries != j->seen_recoveries;
	j->seen_recoveries = w->recoveries;
	if (w->error_seq != j->seen_error)
		snprintf(n->error, sizeof(n->error), "%s", w->error);
	j->seen_committed = w->committed;
	j->seen_dropped = w->dropped;
	j->seen_pruned = w->pruned;
	j->seen_error = w->error_seq;
	pthread_mutex_unlock(&w->mu);
	n->refused = j->refused;
	n->refused_first = j->refused_first;
	n->refused_last = j->refused_last;
	j->refused = 0;
	if (n->committed > 0 && j->notify)
		j->notify(j->notify_arg);
}

int
journal_sync(struct journal *j, int timeout_ms, const char **err)
{
	struct jwriter *w = j->w;
	struct timespec until;
	int left;

	if (w == NULL)
		return 0;
	deadline_in(&until, timeout_ms);
	pthread_mutex_lock(&w->mu);
	/* Not while failing: the next try may be a minute away. */
	while ((w->head != NULL || w->busy) && !w->failing && !w->moved &&
	    pthread_cond_timedwait(&w->done, &w->mu, &until) != ETIMEDOUT)
		;
	left = w->queued;
	if (left > 0 && w->moved)
		snprintf(j->err, sizeof(j->err), "%d writes not yet committed: "
		    "%s is no longer the journal's file", left, j->path);
	else if (left > 0 && w->failing)
		snprintf(j->err, sizeof(j->err), "%d writes not yet committed: "
		    "the journal is failing (%s)", left, w->error);
	else if (left > 0)
		snprintf(j->err, sizeof(j->err), "%d writes not yet committed "
		    "after %d ms", left, timeout_ms);
	pthread_mutex_unlock(&w->mu);
	if (left > 0 && err)
		*err = j->err;
	return left > 0 ? -1 : 0;
}

int
journal_queued(struct journal *j)
{
	int n;

	if (j->w == NULL)
		return 0;
	pthread_mutex_lock(&j->w->mu);
	n = j->w->readings;
	pthread_mutex_unlock(&j->w->mu);
	return n;
}

/* Hands e to the writer: waits for room while it is healthy. */
static int
enqueue(struct journal *j, struct jentry *e, const char **err)
{
	struct jwriter *w = j->w;

	pthread_mutex_lock(&w->mu);
	if (w->queued >= JOURNAL_QUEUE_MAX && !w->failing && !w->moved &&
	    !w->stop) {
		struct timespec until;

		/* Bounded: a stuck disk must not hold the loop for long. */
		deadline_in(&until, JOURNAL_FULL_WAIT_MS);
		while (w->queued >= JOURNAL_QUEUE_MAX && !w->failing &&
		    !w->moved && !w->stop && pthread_cond_timedwait(&w->room,
		    &w->mu, &until) != ETIMEDOUT)
			;
	}
	if (w->queued >= JOURNAL_QUEUE_MAX || w->stop) {
		snprintf(j->err, sizeof(j->err), "not journaled: %d writes "
		    "wait for a journal that %s%s", w->queued, w->moved ?
		    "is no longer at its path" : w->failing ?
		    "cannot be written: " : "is slow to commit",
		    w->failing && !w->moved ? w->error : "");
		pthread_mutex_unlock(&w->mu);
		if (e->op == JOP_READING) {
			if (j->refused++ == 0)
				j->refused_first = e->when;
			j->refused_last = e->when;
		}
		free(e);
		if (err)
			*err = j->err;
		return -1;
	}
	e->next = NULL;
	*w->tail = e;
	w->tail = &e->next;
	w->queued++;
	if (e->op == JOP_READING)
		w->readings++;
	if (w->idle)
		pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

/* An entry with room for the copies of the strings and the frame. */
static struct jentry *
entry_new(struct journal *j, enum jop op, const char *s1, const char *s2,
    size_t frame_len, const char **err)
{
	size_t l1 = s1 ? strlen(s1) + 1 : 0, l2 = s2 ? strlen(s2) + 1 : 0;
	struct jentry *e;

	e = malloc(sizeof(*e) + frame_len + l1 + l2);
	if (e == NULL) {
		snprintf(j->err, sizeof(j->err), "out of memory: not journaled");
		if (err)
			*err = j->err;
		return NULL;
	}
	e->next = NULL;
	e->op = op;
	e->skip = false;
	e->frame_len = frame_len;
	e->frame = (const uint8_t *)e->data;
	e->source = e->reason = e->name = NULL;
	if (s1)
		memcpy(e->data + frame_len, s1, l1);
	if (s2)
		memcpy(e->data + frame_len + l1, s2, l2);
	e->source = s1 ? e->data + frame_len : NULL;
	e->reason = s2 ? e->data + frame_len + l1 : NULL;
	return e;
}

/* ------------------------------------------------------------------ */
/* The journal */

/*
 * Before SQLite starts: no up-front page cache per connection (about 20
 * pages each, a quarter of an idle relay's heap); pages are allocated as
 * they are used. Fails harmlessly if the program started SQLite already.
 */
static void
sqlite_setup(void)
{
	(void)sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0);
}

struct journal *
journal_open(const char *path, const struct journal_opts *o, char *err,
    size_t errlen)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	struct journal *j;
	int64_t deleted;
	const char *e;

	j = calloc(1, sizeof(*j));
	if (j == NULL || (j->path = strdup(path)) == NULL) {
		free(j);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	j->opts = *o;
	(void)pthread_once(&once, sqlite_setup);
	if (conn_open(&j->c, j->path, o, false) != 0) {
		snprintf(err, errlen, "%s", j->c.err);
		journal_close(j);
		return NULL;
	}
	note_file(j);
	if (journal_prune(j, time(NULL), &deleted, &e) != 0) {
		snprintf(err, errlen, "%s", e);
		journal_close(j);
		return NULL;
	}
	return j;
}

void
journal_close(struct journal *j)
{
	if (j == NULL)
		return;
	if (j->w != NULL) {
		writer_stop(j);
		writer_free(j->w);
		j->w = NULL;
	}
	if (j->tx == TX_BATCH)
		(void)sqlite3_exec(j->c.db, "COMMIT", NULL, NULL, NULL);
	conn_close(&j->c);
	free(j->path);
	free(j);
}

void
journal_writer_stop(struct journal *j, struct journal_news *n)
{
	if (j->w == NULL) {
		memset(n, 0, sizeof(*n));
		return;
	}
	writer_stop(j);
	journal_writer_poll(j, n);
	writer_free(j->w);
	j->w = NULL;
}

/*
 * The writer takes no new batch while moved is set; the one it may be
 * committing ends first. Then its connection is the loop's to close.
 */
static void
writer_pause(struct jwriter *w)
{
	pthread_mutex_lock(&w->mu);
	w->moved = true;
	while (w->busy)
		pthread_cond_wait(&w->done, &w->mu);
	pthread_mutex_unlock(&w->mu);
}

/* Cursor moves queued for the old file mean nothing in a new one. */
static void
writer_forget_cursors(struct jwriter *w)
{
	struct jentry **p = &w->head, *e;

	pthread_mutex_lock(&w->mu);
	w->tail = &w->head;
	while ((e = *p) != NULL) {
		if (e->op == JOP_CURSOR || e->op == JOP_CURSTATE) {
			*p = e->next;
			w->queued--;
			free(e);
			continue;
		}
		w->tail = &e->next;
		p = &e->next;
	}
	pthread_mutex_unlock(&w->mu);
}

static void
writer_resume(struct jwriter *w)
{
	pthread_mutex_lock(&w->mu);
	w->moved = false;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
}

bool
journal_moved(struct journal *j, char *why, size_t len)
{
	struct stat st;

	if (j->lost) {
		snprintf(why, len, "is not open (a new journal could not be "
		    "opened yet)");
		return true;
	}
	if (same_file(j))
		return false;
	if (stat(j->path, &st) == 0)
		snprintf(why, len, "was replaced by another file");
	else if (errno == ENOENT || errno == ENOTDIR)
		snprintf(why, len, "was deleted (or its directory)");
	else
		snprintf(why, len, "cannot be found: %s", strerror(errno));
	return true;
}

int
journal_reopen(struct journal *j, void (*drain)(void *), void *arg,
    char *err, size_t errlen)
{
	struct jwriter *w = j->w;
	char side[PATH_MAX + 8];
	struct stat st;

	if (w != NULL)
		writer_pause(w);
	if (!j->lost) {
		/* The last reads of the old file, while it is still open. */
		if (drain != NULL)
			drain(arg);
		if (j->tx == TX_BATCH)
			(void)sqlite3_exec(j->c.db, "COMMIT", NULL, NULL, NULL);
		j->tx = TX_NONE;
		/*
		 * Empty the old file's WAL (through our descriptors): left
		 * beside the path, SQLite would read it as the WAL of the
		 * next file there and take the old pages for its own.
		 */
		(void)sqlite3_wal_checkpoint_v2(j->c.db, NULL,
		    SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
		/* Both: a WAL index shared with the old file would mix them. */
		conn_close(&j->c);
		if (w != NULL) {
			conn_close(&w->c);
			writer_forget_cursors(w);
		}
		j->lost = true;
	}
	/*
	 * A deleted journal's WAL and shared-memory files, if they outlived
	 * it, belong to no file now: SQLite must not replay them into the
	 * new one. A file that replaced the journal keeps its own.
	 */
	if (stat(j->path, &st) != 0 && errno == ENOENT) {
		snprintf(side, sizeof(side), "%s-wal", j->path);
		(void)unlink(side);
		snprintf(side, sizeof(side), "%s-shm", j->path);
		(void)unlink(side);
	}
	if (conn_open(&j->c, j->path, &j->opts, false) != 0) {
		snprintf(err, errlen, "%s", j->c.err);
		conn_close(&j->c);
		return -1;	/* still lost; the writer stays paused */
	}
	note_file(j);
	j->lost = false;
	if (w != NULL)
		writer_resume(w);
	return 0;
}

/* The loop's connection is closed until journal_reopen succeeds. */
static int
lost_fail(struct journal *j, const char **err)
{
	snprintf(j->err, sizeof(j->err), "%s: not open (it was deleted or "
	    "replaced; a new journal is not open yet)", j->path);
	if (err)
		*err = j->err;
	return -1;
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

int
journal_add(struct journal *j, const struct record *rec, const char **err)
{
	int rc;

	if (j->w != NULL) {
		struct jentry *e = entry_new(j, JOP_READING, rec->source, NULL,
		    rec->frame ? rec->frame_len : 0, err);

		if (e == NULL)
			return -1;
		e->when = rec->when;
		e->r = *rec->reading;
		e->seq = j->seq + 1;
		if (rec->frame)
			memcpy(e->data, rec->frame, rec->frame_len);
		if (enqueue(j, e, err) != 0)
			return -1;
		j->seq++;
		return 0;
	}
	if (j->lost)
		return lost_fail(j, err);
	if ((rc = conn_add(&j->c, rec)) != SQLITE_OK)
		return conn_fail(&j->c, "storing a reading", err);
	if (++j->seq >= j->watch_seq && j->watch_seq && j->watch_id == 0)
		j->watch_id = sqlite3_last_insert_rowid(j->c.db);
	if (j->notify && j->tx == TX_NONE)
		j->notify(j->notify_arg);
	return 0;
}

int
journal_add_reject(struct journal *j, const struct reject *rej,
    const char **err)
{
	int rc;

	if (j->w != NULL) {
		struct jentry *e = entry_new(j, JOP_REJECT, rej->source,
		    rej->reason ? rej->reason : "unknown",
		    rej->frame ? rej->frame_len : 0, err);

		if (e == NULL)
			return -1;
		e->when = rej->when;
		if (rej->frame)
			memcpy(e->data, rej->frame, rej->frame_len);
		return enqueue(j, e, err);
	}
	if (j->lost)
		return lost_fail(j, err);
	if ((rc = conn_add_reject(&j->c, rej)) != SQLITE_OK)
		return conn_fail(&j->c, "storing a rejected frame", err);
	return 0;
}

static int64_t last_id(struct jconn *c, const char *inverter, int64_t cap);

int
journal_begin(struct journal *j, const char **err)
{
	if (j->w != NULL || j->tx != TX_NONE) {
		snprintf(j->err, sizeof(j->err), "%s: journal_begin: %s",
		    j->path, j->w ? "the writer thread commits" :
		    "a batch is open");
		*err = j->err;
		return -1;
	}
	if (j->lost)
		return lost_fail(j, err);
	if (conn_exec(&j->c, "BEGIN IMMEDIATE", "begin") != 0) {
		*err = j->c.err;
		return -1;
	}
	j->visible_max = last_id(&j->c, NULL, INT64_MAX);
	j->tx = TX_BATCH;
	return 0;
}

int
journal_commit(struct journal *j, const char **err)
{
	if (j->tx != TX_BATCH)
		return 0;
	j->tx = TX_NONE;
	if (conn_exec(&j->c, "COMMIT", "commit") != 0) {
		(void)sqlite3_exec(j->c.db, "ROLLBACK", NULL, NULL, NULL);
		*err = j->c.err;
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
	/* Rows of schema 3 and before have no variant: the Omnik layout. */
	{
		const unsigned char *v = sqlite3_column_text(st,
		    9 + OMNIK_NFIELDS);

		if (v == NULL || !omnik_variant_parse((const char *)v,
		    sqlite3_column_int(st, 10 + OMNIK_NFIELDS) != 0, r))
			omnik_variant_parse("omnik", false, r);
	}
}

/* The highest id a reader may see: none of an open batch's. */
static int64_t
visible(const struct journal *j)
{
	return j->tx == TX_NONE ? INT64_MAX : j->visible_max;
}

int
journal_fetch(struct journal *j, int64_t after, const char *inverter,
    struct journal_row *rows, int max, int *n, const char **err)
{
	sqlite3_stmt *st = inverter ? j->c.fetch_inv : j->c.fetch_all;
	int b = 1, rc = SQLITE_DONE;

	*n = 0;
	if (j->lost)
		return lost_fail(j, err);
	if (inverter)
		sqlite3_bind_text(st, b++, inverter, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, b++, after);
	sqlite3_bind_int64(st, b++, visible(j));
	sqlite3_bind_int(st, b, max);
	while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
		read_row(st, &rows[(*n)++]);
	if (*n < max && rc != SQLITE_DONE) {
		sqlite3_reset(st);
		return conn_fail(&j->c, "reading readings", err);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return 0;
}

static int64_t
last_id(struct jconn *c, const char *inverter, int64_t cap)
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

int64_t
journal_last_id(struct journal *j, const char *inverter)
{
	if (j->lost)
		return 0;
	return last_id(&j->c, inverter, visible(j));
}

static void
bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

int
journal_cursor_get(struct journal *j, const char *name, const char *inverter,
    int64_t initial, int64_t *pos, const char **err)
{
	struct jconn *c = &j->c;
	int rc;

	if (j->lost)
		return lost_fail(j, err);
	sqlite3_bind_text(c->cur_ins, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(c->cur_ins, 2, initial);
	bind_text_or_null(c->cur_ins, 3, inverter);
	rc = sqlite3_step(c->cur_ins);
	sqlite3_reset(c->cur_ins);
	if (rc != SQLITE_DONE)
		return conn_fail(c, "creating a cursor", err);
	/* In use (again), perhaps for another inverter than before. */
	sqlite3_bind_text(c->cur_act, 1, name, -1, SQLITE_STATIC);
	bind_text_or_null(c->cur_act, 2, inverter);
	rc = sqlite3_step(c->cur_act);
	sqlite3_reset(c->cur_act);
	if (rc != SQLITE_DONE)
		return conn_fail(c, "updating a cursor", err);
	sqlite3_bind_text(c->cur_get, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(c->cur_get);
	if (rc == SQLITE_ROW)
		*pos = sqlite3_column_int64(c->cur_get, 0);
	sqlite3_reset(c->cur_get);
	return rc == SQLITE_ROW ? 0 : conn_fail(c, "reading a cursor", err);
}

int
journal_cursors_retire(struct journal *j, const char *const *keep, int n,
    char *retired, size_t len, const char **err)
{
	struct jconn *c = &j->c;
	sqlite3_stmt *sel, *off;
	size_t used = 0;
	int rc, count = 0;

	if (len > 0)
		retired[0] = '\0';
	if (j->lost)
		return lost_fail(j, err);
	if (sqlite3_prepare_v2(c->db, "SELECT name FROM cursors WHERE active",
	    -1, &sel, NULL) != SQLITE_OK)
		return conn_fail(c, "listing cursors", err);
	if (sqlite3_prepare_v2(c->db, "UPDATE cursors SET active = 0 WHERE "
	    "name = ?", -1, &off, NULL) != SQLITE_OK) {
		sqlite3_finalize(sel);
		return conn_fail(c, "listing cursors", err);
	}
	while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(sel, 0);
		bool kept = false;

		for (int i = 0; i < n && !kept && name; i++)
			kept = strcmp(keep[i], name) == 0;
		if (kept || name == NULL)
			continue;
		sqlite3_bind_text(off, 1, name, -1, SQLITE_TRANSIENT);
		rc = sqlite3_step(off);
		sqlite3_reset(off);
		if (rc != SQLITE_DONE)
			break;
		if (used < len)
			used += (size_t)snprintf(retired + used, len - used,
			    "%s%s", count > 0 ? ", " : "", name);
		count++;
		rc = SQLITE_ROW;
	}
	sqlite3_finalize(off);
	sqlite3_finalize(sel);
	if (rc != SQLITE_DONE)
		return conn_fail(c, "retiring cursors", err);
	return count;
}

int
journal_cursor_set(struct journal *j, const char *name, int64_t pos,
    const char **err)
{
	int rc;

	if (j->w != NULL) {
		struct jentry *e = entry_new(j, JOP_CURSOR, name, NULL, 0, err);

		if (e == NULL)
			return -1;
		e->name = e->source;
		e->source = NULL;
		e->pos = pos;
		return enqueue(j, e, err);
	}
	if (j->lost)
		return lost_fail(j, err);
	if ((rc = conn_cursor_set(&j->c, name, pos)) != SQLITE_OK)
		return conn_fail(&j->c, "saving a cursor", err);
	return 0;
}

int
journal_cursor_state(struct journal *j, const char *name, int64_t pos,
    bool active, const char **err)
{
	int rc;

	if (j->w != NULL) {
		struct jentry *e = entry_new(j, JOP_CURSTATE, name, NULL, 0,
		    err);

		if (e == NULL)
			return -1;
		e->name = e->source;
		e->source = NULL;
		e->pos = pos;
		e->active = active;
		return enqueue(j, e, err);
	}
	if (j->lost)
		return lost_fail(j, err);
	if ((rc = conn_cursor_state(&j->c, name, pos, active)) != SQLITE_OK)
		return conn_fail(&j->c, "saving a cursor", err);
	return 0;
}

int
journal_cursor_peek(struct journal *j, const char *name, int64_t *pos,
    bool *active, const char **err)
{
	sqlite3_stmt *st;
	int rc;

	if (j->lost)
		return lost_fail(j, err);
	if (sqlite3_prepare_v2(j->c.db, "SELECT position, active FROM "
	    "cursors WHERE name = ?", -1, &st, NULL) != SQLITE_OK)
		return conn_fail(&j->c, "reading a cursor", err);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*pos = sqlite3_column_int64(st, 0);
		*active = sqlite3_column_int(st, 1) != 0;
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : conn_fail(&j->c, "reading a cursor",
	    err);
}

uint64_t
journal_seq(const struct journal *j)
{
	return j->seq;
}

void
journal_watch(struct journal *j, uint64_t seq)
{
	if (j->w != NULL)
		pthread_mutex_lock(&j->w->mu);
	j->watch_seq = seq;
	j->watch_id = 0;
	if (j->w != NULL)
		pthread_mutex_unlock(&j->w->mu);
}

int64_t
journal_watched(struct journal *j)
{
	int64_t id;

	if (j->w != NULL)
		pthread_mutex_lock(&j->w->mu);
	id = j->watch_id;
	if (j->w != NULL)
		pthread_mutex_unlock(&j->w->mu);
	return id;
}

int
journal_prune(struct journal *j, time_t now, int64_t *deleted,
    const char **err)
{
	int rc;

	*deleted = 0;
	if (j->opts.retention_days <= 0)
		return 0;
	if (j->w != NULL) {
		struct jentry *e = entry_new(j, JOP_PRUNE, NULL, NULL, 0, err);

		if (e == NULL)
			return -1;
		e->pos = (int64_t)now;
		return enqueue(j, e, err);
	}
	if (j->lost)
		return lost_fail(j, err);
	if ((rc = conn_prune(&j->c, j->opts.retention_days, now, deleted)) !=
	    SQLITE_OK)
		return conn_fail(&j->c, "pruning", err);
	return 0;
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

/*
 * SIGHUP: what is queued is on disk before the program goes on (a backup
 * taken after `kill -HUP` has it), unless the journal is failing.
 */
#define JOURNAL_REOPEN_WAIT_MS 2000
static int
sink_reopen(void *ctx, const char **err)
{
	return journal_sync(ctx, JOURNAL_REOPEN_WAIT_MS, err);
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

/*
 * For an output that shows each inverter's latest state (MQTT) after a
 * restart. Rare calls (start-up), so the statements are prepared here
 * and not kept.
 */
int
journal_inverters(struct journal *j, int64_t upto,
    struct journal_inverter *inv, int max, int *n, const char **err)
{
	sqlite3_stmt *st;
	int rc;

	*n = 0;
	if (upto > visible(j))
		upto = visible(j);
	if (sqlite3_prepare_v2(j->c.db, "SELECT inverter_sn, max(id) AS m "
	    "FROM readings WHERE id <= ?1 GROUP BY inverter_sn ORDER BY m "
	    "DESC LIMIT ?2", -1, &st, NULL) != SQLITE_OK)
		return conn_fail(&j->c, "listing inverters", err);
	sqlite3_bind_int64(st, 1, upto);
	sqlite3_bind_int(st, 2, max);
	while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		column_text(st, 0, inv[*n].sn, sizeof(inv[*n].sn));
		inv[*n].last_id = sqlite3_column_int64(st, 1);
		(*n)++;
	}
	if (*n < max && rc != SQLITE_DONE) {
		conn_fail(&j->c, "listing inverters", err);
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

int
journal_last_positive(struct journal *j, const char *inverter,
    enum omnik_field f, int64_t upto, int64_t *value, const char **err)
{
	char sql[200], col[16];
	sqlite3_stmt *st;
	size_t k;
	int rc;

	*value = OMNIK_ABSENT;
	if ((int)f < 0 || f >= OMNIK_NFIELDS)
		return 0;
	for (k = 0; omnik_fields[f].name[k] && k < sizeof(col) - 1; k++)
		col[k] = (char)tolower((unsigned char)omnik_fields[f].name[k]);
	col[k] = '\0';
	if (upto > visible(j))
		upto = visible(j);
	snprintf(sql, sizeof(sql), "SELECT %s FROM readings WHERE "
	    "inverter_sn = ?1 AND id <= ?2 AND %s > 0 ORDER BY id DESC "
	    "LIMIT 1", col, col);
	if (sqlite3_prepare_v2(j->c.db, sql, -1, &st, NULL) != SQLITE_OK)
		return conn_fail(&j->c, "reading a total", err);
	sqlite3_bind_text(st, 1, inverter, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, upto);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*value = (int64_t)llround(sqlite3_column_double(st, 0) *
		    pow10i(omnik_fields[f].decimals));
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return conn_fail(&j->c, "reading a total", err);
	return 0;
}
