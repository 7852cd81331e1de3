/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * journal.c: the journal's public face: open, close, the file under the
 * path (reopened when it was deleted or replaced), the writes, and the
 * journal as the dispatcher's first sink. See journal_int.h for the
 * other files (the readers, the writer thread, the SQL).
 *
 * One write path: every write (a reading, a reject, a cursor, a prune)
 * becomes a struct jentry and goes to journal_submit(). With the writer
 * thread (the programs: journal_writer_start) it is queued and commits
 * in the thread's next transaction. Without (tests, tools, benchmarks)
 * the same entry is applied at once on the caller's connection, the
 * queue drained synchronously: it has committed when the call returns
 * (or at journal_commit() after journal_begin()).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal_int.h"

/* ------------------------------------------------------------------ */
/* The file under the path */

/*
 * Is the path still the file the connections have open? A journal
 * deleted (or moved, or replaced) while open would otherwise take every
 * later commit into a file nobody can read. One stat() per commit batch.
 */
bool
journal_same_file(const struct journal *j)
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

/* An entry with room for the copies of the strings and the frame. */
static struct jentry *
jentry_new(struct journal *j, enum jop op, const char *s1, const char *s2,
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
	e->dup = false;
	e->id = 0;
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
 * they are used. And no memory statistics, which nothing here reads:
 * with them every allocation SQLite makes takes a global mutex (in
 * bench_journal's profile, mutexes and sqlite3Malloc fell from 3.9 % of
 * the samples to 1.4 %). Fails harmlessly if the program started
 * SQLite already.
 */
static void
sqlite_setup(void)
{
	(void)sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0);
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
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
	j->opts.origin = NULL;
	if (o->origin != NULL && (j->origin = strdup(o->origin)) == NULL) {
		journal_close(j);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	j->opts.origin = j->origin;
	(void)pthread_once(&once, sqlite_setup);
	if (jconn_open(&j->c, j->path, &j->opts, false) != 0) {
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
	/*
	 * The pages the migration and the prune read (~40 KiB on a new
	 * journal) are not what the readers read next: an idle program
	 * does not keep them cached.
	 */
	(void)sqlite3_db_release_memory(j->c.db);
	return j;
}

struct sqlite3 *
journal_db(struct journal *j)
{
	return j->c.db;
}

void
journal_close(struct journal *j)
{
	if (j == NULL)
		return;
	jwriter_end(j);
	if (j->tx == TX_BATCH)
		(void)sqlite3_exec(j->c.db, "COMMIT", NULL, NULL, NULL);
	jconn_close(&j->c);
	free(j->origin);
	free(j->path);
	free(j);
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
	if (journal_same_file(j))
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
		jwriter_pause(w);
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
		jconn_close(&j->c);
		if (w != NULL)
			jwriter_drop_file(w);
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
	if (jconn_open(&j->c, j->path, &j->opts, false) != 0) {
		snprintf(err, errlen, "%s", j->c.err);
		jconn_close(&j->c);
		return -1;	/* still lost; the writer stays paused */
	}
	note_file(j);
	j->lost = false;
	if (w != NULL)
		jwriter_resume(w);
	return 0;
}

/* The loop's connection is closed until journal_reopen succeeds. */
int
journal_lost_fail(struct journal *j, const char **err)
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

/*
 * The one write path. With the writer thread e is queued; without, it is
 * applied at once on the caller's connection: committed when this
 * returns, or with the batch of journal_begin(). Takes e; *pruned: what
 * a prune applied at once deleted.
 */
static int
journal_submit(struct journal *j, struct jentry *e, int64_t *pruned,
    const char **err)
{
	bool reading = e->op == JOP_READING, tell;
	int64_t n = 0;
	int rc;

	if (reading)
		e->seq = j->seq + 1;
	if (j->w != NULL) {
		if (jwriter_enqueue(j, e, err) != 0)
			return -1;
		if (reading)
			j->seq++;
		return 0;
	}
	if (j->lost) {
		free(e);
		return journal_lost_fail(j, err);
	}
	rc = jconn_apply(&j->c, e, j->opts.retention_days, &n);
	if (pruned)
		*pruned = n;
	if (rc != SQLITE_OK) {
		rc = jconn_fail(&j->c, jentry_what(e), err);
		free(e);
		return rc;
	}
	if (reading) {
		j->seq++;
		if (e->dup)
			j->duplicates++;
		else if (j->watch_seq && j->watch_id == 0 &&
		    e->seq >= j->watch_seq)
			j->watch_id = e->id;
	}
	/* A copy added no row: nothing new to read. */
	tell = reading && !e->dup && j->notify && j->tx == TX_NONE;
	free(e);
	if (tell)
		j->notify(j->notify_arg);
	return 0;
}

int
journal_add(struct journal *j, const struct record *rec, const char **err)
{
	struct jentry *e = jentry_new(j, JOP_READING, rec->source, NULL,
	    rec->frame ? rec->frame_len : 0, err);

	if (e == NULL)
		return -1;
	e->when = rec->when;
	e->r = *rec->reading;
	if (rec->frame)
		memcpy(e->data, rec->frame, rec->frame_len);
	return journal_submit(j, e, NULL, err);
}

int
journal_add_reject(struct journal *j, const struct reject *rej,
    const char **err)
{
	struct jentry *e = jentry_new(j, JOP_REJECT, rej->source,
	    rej->reason ? rej->reason : "unknown",
	    rej->frame ? rej->frame_len : 0, err);

	if (e == NULL)
		return -1;
	e->when = rej->when;
	if (rej->frame)
		memcpy(e->data, rej->frame, rej->frame_len);
	return journal_submit(j, e, NULL, err);
}

/* A cursor's entry: its name, where the source would be. */
static struct jentry *
cursor_entry(struct journal *j, enum jop op, const char *name, int64_t pos,
    const char **err)
{
	struct jentry *e = jentry_new(j, op, name, NULL, 0, err);

	if (e == NULL)
		return NULL;
	e->name = e->source;
	e->source = NULL;
	e->pos = pos;
	return e;
}

int
journal_cursor_set(struct journal *j, const char *name, int64_t pos,
    const char **err)
{
	struct jentry *e = cursor_entry(j, JOP_CURSOR, name, pos, err);

	return e ? journal_submit(j, e, NULL, err) : -1;
}

int
journal_cursor_state(struct journal *j, const char *name, int64_t pos,
    bool active, const char **err)
{
	struct jentry *e = cursor_entry(j, JOP_CURSTATE, name, pos, err);

	if (e == NULL)
		return -1;
	e->active = active;
	return journal_submit(j, e, NULL, err);
}

/* With the writer thread *deleted stays 0: the news counts it. */
int
journal_prune(struct journal *j, time_t now, int64_t *deleted,
    const char **err)
{
	struct jentry *e;

	*deleted = 0;
	if (j->opts.retention_days <= 0)
		return 0;
	if ((e = jentry_new(j, JOP_PRUNE, NULL, NULL, 0, err)) == NULL)
		return -1;
	e->pos = (int64_t)now;
	return journal_submit(j, e, deleted, err);
}

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
		return journal_lost_fail(j, err);
	if (jconn_exec(&j->c, "BEGIN IMMEDIATE", "begin") != 0) {
		*err = j->c.err;
		return -1;
	}
	j->visible_max = jconn_last_id(&j->c, NULL, INT64_MAX);
	j->tx = TX_BATCH;
	return 0;
}

int
journal_commit(struct journal *j, const char **err)
{
	if (j->tx != TX_BATCH)
		return 0;
	j->tx = TX_NONE;
	if (jconn_exec(&j->c, "COMMIT", "commit") != 0) {
		(void)sqlite3_exec(j->c.db, "ROLLBACK", NULL, NULL, NULL);
		*err = j->c.err;
		return -1;
	}
	if (j->notify)
		j->notify(j->notify_arg);
	return 0;
}

/* The highest id a reader may see: none of an open batch's. */
int64_t
journal_visible(const struct journal *j)
{
	return j->tx == TX_NONE ? INT64_MAX : j->visible_max;
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
		jwriter_lock(j->w);
	j->watch_seq = seq;
	j->watch_id = 0;
	if (j->w != NULL)
		jwriter_unlock(j->w);
}

int64_t
journal_watched(struct journal *j)
{
	int64_t id;

	if (j->w != NULL)
		jwriter_lock(j->w);
	id = j->watch_id;
	if (j->w != NULL)
		jwriter_unlock(j->w);
	return id;
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

