/*
 * journal.h: the local SQLite journal, always on, written first.
 *
 *   decoder --> outputs --> [journal sink] --> csv, text ...
 *                               |  INSERT into the round's open group
 *                               v  COMMIT (WAL) at the end of the loop round
 *                         readings / rejects tables
 *                               ^
 *          delivery cursors ----+  (postgresql, mqtt, pvoutput:<sid>)
 *          each reads rows with id > its cursor, in id order
 *
 * Promises: a reading that journal_add() returned 0 for is committed (WAL
 * mode; with sync = full it survives a power cut, with normal a crash of
 * the program) -- at once without a group, or with journal_set_group() by
 * the journal_flush() that ends the event-loop round (or when max_rows
 * writes are pending); a reader (journal_fetch, journal_last_id, so every
 * delivery) never sees a row before its commit. Ids only grow (AUTOINCREMENT), so a cursor is a row id.
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

#define JOURNAL_SCHEMA_VERSION 2

struct journal;

/* One reading read back from the journal. */
struct journal_row {
	int64_t id;
	struct timeval when;
	struct omnik_reading r;
};

struct journal_opts {
	int retention_days;	/* 0: keep everything */
	bool sync_full;		/* fsync the WAL at every commit */
};

struct journal *journal_open(const char *path, const struct journal_opts *o,
    char *err, size_t errlen);
void journal_close(struct journal *j);
const char *journal_path(const struct journal *j);

/* The SQL of one migration step (1 .. JOURNAL_SCHEMA_VERSION), for tests. */
const char *journal_migration(int version);

/* One reading / one reject, each in its own transaction unless batched. */
int journal_add(struct journal *j, const struct record *rec, const char **err);
int journal_add_reject(struct journal *j, const struct reject *rej,
    const char **err);
/*
 * Group commit (see journal.c): from now on writes open a transaction
 * that journal_flush() commits; opened(arg) is called when one opens (the
 * program arranges a flush at the end of the loop round), and it commits
 * by itself at max_rows writes. max_rows 0: every write commits alone.
 * journal_flush() is a no-op without an open group; on a failed commit
 * the group is rolled back and its writes counted in journal_lost().
 * journal_close() and the sink's reopen (SIGHUP) flush too.
 */
#define JOURNAL_GROUP_MAX 512
void journal_set_group(struct journal *j, int max_rows,
    void (*opened)(void *), void *arg);
int journal_flush(struct journal *j, const char **err);
int journal_pending(const struct journal *j);	/* writes not yet committed */
uint64_t journal_lost(const struct journal *j);

/* Batch many adds in one transaction (fleet ingest, benchmarks). */
int journal_begin(struct journal *j, const char **err);
int journal_commit(struct journal *j, const char **err);

/*
 * Up to max rows with id > after, in id order; only inverter's rows if
 * inverter is not NULL. *n is set to the number read.
 */
int journal_fetch(struct journal *j, int64_t after, const char *inverter,
    struct journal_row *rows, int max, int *n, const char **err);
/* The highest id (of inverter's rows if not NULL), 0 if none. */
int64_t journal_last_id(struct journal *j, const char *inverter);

/*
 * Delivery cursors: the id of the last row an output has delivered (or
 * skipped for good). A missing cursor is created at `initial`.
 */
int journal_cursor_get(struct journal *j, const char *name, int64_t initial,
    int64_t *pos, const char **err);
int journal_cursor_set(struct journal *j, const char *name, int64_t pos,
    const char **err);

/*
 * Retention: delete readings and rejects older than the retention period
 * at `now`; readings some cursor has not yet passed are kept.
 */
int journal_prune(struct journal *j, time_t now, int64_t *deleted,
    const char **err);

/* Called after every commit of readings (wakes the deliveries). */
void journal_set_notify(struct journal *j, void (*fn)(void *), void *arg);

/* The journal as the dispatcher's first sink; the sink owns j. */
void journal_sink(struct journal *j, struct sink *out);

#endif /* JOURNAL_H */
