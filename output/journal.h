/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * journal.h: the local SQLite journal, always on, written first.
 *
 *   decoder --> outputs --> [journal sink] --> csv, text ...
 *                               |  queue (programs: journal_writer_start)
 *                               v  writer thread: INSERT, COMMIT (WAL)
 *                         readings / rejects tables
 *                               ^
 *          delivery cursors ----+  (postgresql, mqtt, pvoutput:<sid>)
 *          each reads rows with id > its cursor, in id order
 *
 * Promises: a reader (journal_fetch, journal_last_id, so every delivery)
 * never sees a row before its commit (WAL mode; with sync = full it
 * survives a power cut, with normal a crash of the program). Without the
 * writer thread a write has committed when it returns 0; with it, a
 * write returning 0 is queued and commits in order with the ones before
 * it, soon (at once when it comes alone, within 20 ms under load) unless
 * the journal is failing, when it waits for the next try (1 s .. 60 s
 * apart); journal_writer_poll() says what happened (see
 * journal_writer.c for the full/failing policy). Ids only grow (AUTOINCREMENT), so a cursor is a row id.
 * The schema carries a version (PRAGMA user_version) and is migrated
 * step by step when the file is opened; a file from a newer omniklog is
 * refused rather than touched. Library code: returns errors, never logs.
 */
#ifndef JOURNAL_H
#define JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>
#include <time.h>

#include "omnik.h"
#include "sink.h"

#define JOURNAL_SCHEMA_VERSION 5

struct journal;

/* One reading read back from the journal. */
struct journal_row {
	int64_t id;
	struct timeval when;
	struct omnik_reading r;
};

/*
 * Several programs on one journal (the relay and the sniffer, or the
 * poller) see the same samples: each is stored once. A reading is a
 * duplicate, and is not stored, when a row of ANOTHER origin already
 * holds the same inverter serial, the same E-today and E-total (both
 * present), and the same value in every other field present in both,
 * taken at most dup_window seconds before or after it. The first row
 * stays; it counts the copies (column `duplicates`). Rows of the same
 * origin are never merged (one program sees each sample once: two
 * offline frames with equal values five minutes apart are two
 * readings), nor rows written before schema 5 (no origin). The check
 * and the insert are one transaction, so it holds across processes.
 * origin NULL or "" (tests, tools) or dup_window 0: no check.
 */
struct journal_opts {
	int retention_days;	/* 0: keep everything */
	bool sync_full;		/* fsync the WAL at every commit */
	const char *origin;	/* the program writing: "omnik-relay" */
	int dup_window;		/* seconds; 0: every reading is stored */
};

struct journal *journal_open(const char *path, const struct journal_opts *o,
    char *err, size_t errlen);
void journal_close(struct journal *j);
/*
 * The caller's connection, for a read of its own on the caller's
 * thread (invstate_seed_db at start-up); never to write through.
 */
struct sqlite3 *journal_db(struct journal *j);
const char *journal_path(const struct journal *j);

/* One reading / one reject / a cursor position (below). */
int journal_add(struct journal *j, const struct record *rec, const char **err);
int journal_add_reject(struct journal *j, const struct reject *rej,
    const char **err);

/*
 * The writer thread, with its own connection: from now on writes are
 * queued for it (at most JOURNAL_QUEUE_MAX). journal_writer_fd() becomes
 * readable when a commit failed, recovered, dropped or pruned something,
 * and after every commit if tell_commits (someone waits for readings to
 * be committed: the deliveries): the program then calls
 * journal_writer_poll(), which says what happened since the last call
 * (and calls the notify hook, if one is set, when readings committed).
 * A producer finding the queue full waits up to 2 s while the writer is
 * healthy, and not at all while it is failing; then the write is
 * refused with an error.
 * journal_sync() waits up to timeout_ms for everything queued to commit
 * (it fails at once while the writer is failing).
 * journal_writer_stop() commits what is queued (one last try when
 * failing), ends the thread and reports as poll does; journal_close()
 * does the same without the report.
 */
#define JOURNAL_QUEUE_MAX 10000
struct journal_news {
	uint64_t committed;	/* readings committed since the last call */
	uint64_t dropped;	/* readings given up for good since then */
	int64_t pruned;		/* readings retention removed since then */
	int queued;		/* readings waiting for their commit now */
	bool failing;		/* the last commit failed; it is retried */
	bool moved;		/* the path no longer names the open file:
				 * the writer waits for journal_reopen() */
	bool recovered;		/* a commit succeeded again after failures */
	uint64_t duplicates;	/* readings another origin had stored */
	uint64_t refused;	/* readings a full queue refused since then */
	struct timeval refused_first, refused_last;	/* their times */
	char error[512];	/* a new error since the last call, or "" */
};
int journal_writer_start(struct journal *j, bool tell_commits, char *err,
    size_t errlen);
int journal_writer_fd(const struct journal *j);
void journal_writer_poll(struct journal *j, struct journal_news *n);
void journal_writer_stop(struct journal *j, struct journal_news *n);
int journal_sync(struct journal *j, int timeout_ms, const char **err);
int journal_queued(struct journal *j);	/* readings not yet committed */
/* Readings found to be duplicates (not stored) since the journal opened. */
uint64_t journal_duplicates(struct journal *j);

/*
 * The file under the path. Before each commit the writer checks that the
 * path still names the file it has open (one stat); when it does not
 * (deleted, moved away, replaced, its directory removed) it commits
 * nothing, keeps its queue and reports `moved`. journal_moved() makes the
 * same check for the caller (SIGHUP, a timer) and says why in `why`.
 * journal_reopen() then (on the caller's thread) pauses the writer, calls
 * drain(arg) while the old file can still be read (the CSV's last rows),
 * closes both connections and opens, creating it if need be, the journal
 * at the path; the writer resumes with everything it queued meanwhile.
 * When that fails (no directory, a file that is not a journal: left as
 * it is) the journal stays closed, readers get errors, the writer keeps
 * its queue, and the caller tries again later (drain is not called
 * again). Cursors of the new file start afresh: callers re-read them.
 */
bool journal_moved(struct journal *j, char *why, size_t len);
int journal_reopen(struct journal *j, void (*drain)(void *), void *arg,
    char *err, size_t errlen);

/*
 * Up to max rows with id > after, in id order; only inverter's rows if
 * inverter is not NULL. *n is set to the number read.
 */
int journal_fetch(struct journal *j, int64_t after, const char *inverter,
    struct journal_row *rows, int max, int *n, const char **err);
/* The highest id (of inverter's rows if not NULL), 0 if none. */
int64_t journal_last_id(struct journal *j, const char *inverter);

/*
 * The inverters with readings up to id `upto`, the most recently heard
 * first (at most max), each with its latest row's id (journal_fetch
 * reads the row). And the latest value of field f above 0 in an
 * inverter's rows up to `upto` (OMNIK_ABSENT if none): the last good
 * total, as offline frames carry 0 for some.
 */
struct journal_inverter {
	char sn[OMNIK_SERIAL_LEN + 1];
	int64_t last_id;
};
int journal_inverters(struct journal *j, int64_t upto,
    struct journal_inverter *inv, int max, int *n, const char **err);
int journal_last_positive(struct journal *j, const char *inverter,
    enum omnik_field f, int64_t upto, int64_t *value, const char **err);
/*
 * A status page's curve: the inverter's readings taken at or after
 * `from` (epoch seconds) among its last `max` rows, oldest first, at most
 * max. Bounded work whatever the journal holds: one index walk of max
 * rows.
 */
int journal_since(struct journal *j, const char *inverter, time_t from,
    struct journal_row *rows, int max, int *n, const char **err);

/*
 * Delivery cursors: the id of the last row an output has delivered (or
 * skipped for good). A missing cursor is created at `initial`. inverter:
 * the one inverter whose rows the output delivers, NULL for all (what
 * retention keeps for it). Getting a cursor marks it in use. This and
 * journal_cursors_retire() run on the caller's connection even with the
 * writer thread (they may wait for its lock): call them at start-up,
 * before queued journal_cursor_set()s could be newer.
 */
int journal_cursor_get(struct journal *j, const char *name,
    const char *inverter, int64_t initial, int64_t *pos, const char **err);
int journal_cursor_set(struct journal *j, const char *name, int64_t pos,
    const char **err);

/*
 * An output that follows the journal only at times (the CSV, behind
 * after a failed write): create or move its cursor and say whether it is
 * in use (holds back retention); queued in order with the writes.
 * journal_cursor_peek() reads one without marking it in use: 1 found,
 * 0 not, -1 error.
 */
int journal_cursor_state(struct journal *j, const char *name, int64_t pos,
    bool active, const char **err);
int journal_cursor_peek(struct journal *j, const char *name, int64_t *pos,
    bool *active, const char **err);

/*
 * Readings in journal order before they have row ids: journal_seq() is
 * the number of readings the journal accepted so far (journal_add
 * returned 0); it grows by one per accepted reading, in the order of
 * their rows. journal_watch(seq) asks for the row id of the first
 * reading from seq on to commit; journal_watched() returns it, 0 until
 * then.
 */
uint64_t journal_seq(const struct journal *j);
void journal_watch(struct journal *j, uint64_t seq);
int64_t journal_watched(struct journal *j);

/*
 * The cursors of outputs no longer configured: every cursor in use but
 * not named in keep[0..n-1] stops holding back retention (it is kept, and
 * resumes if its output comes back). Returns how many, their names in
 * retired (comma-separated, truncated to len), or -1 with *err.
 */
int journal_cursors_retire(struct journal *j, const char *const *keep, int n,
    char *retired, size_t len, const char **err);

/*
 * Retention: delete readings and rejects older than the retention period
 * at `now`; readings a cursor in use has not yet passed (of its inverter,
 * or of all) are kept. With the
 * writer thread it is queued and *deleted is 0 (the news counts it).
 */
int journal_prune(struct journal *j, time_t now, int64_t *deleted,
    const char **err);

/* The journal as the dispatcher's first sink; the sink owns j. */
void journal_sink(struct journal *j, struct sink *out);

#endif /* JOURNAL_H */
