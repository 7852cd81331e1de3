/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * journal_int.h: what the journal's own files share; journal.h is the
 * promise to everyone else.
 *
 *   journal.c         the public API and the sink: open, close, reopen,
 *                     the one write path (journal_submit), cursors' writes
 *   journal_read.c    the readers, on the caller's connection
 *   journal_writer.c  the writer thread: queue, batching, retry, eventfd
 *   journal_sql.c     SQL on one connection: schema and migrations, the
 *                     prepared statements, one entry applied, a row read
 *
 * Every write becomes a struct jentry. With the writer thread it is
 * queued and applied in the thread's next transaction; without, the same
 * entry is applied at once on the caller's connection (jconn_apply both
 * times).
 */
#ifndef JOURNAL_INT_H
#define JOURNAL_INT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "journal.h"

/* One connection with its statements; used by one thread at a time. */
struct jconn {
	sqlite3 *db;
	const char *path;
	sqlite3_stmt *ins, *ins_rej, *fetch_all, *fetch_inv, *last_all,
	    *last_inv, *cur_get, *cur_ins, *cur_act, *cur_set, *prune_r,
	    *prune_j, *dup_find, *dup_count, *dup_max, *dup_range, *dup_pre;
	const char *origin;		/* stored with each row; NULL: none */
	int dup_window;			/* seconds; 0 (or no origin): no
					 * duplicate check */
	struct jconn_dupstate {
		/*
		 * What this connection knows of the rows a copy could be
		 * of (journal_sql.c, find_copy): rows up to start_id were
		 * there at the first check (per inverter: the latest usec
		 * among them), rows in (start_id, seen] of other origins lie
		 * in [lo, hi]. tx counts ended transactions.
		 */
		bool started, any;
		int64_t start_id, seen, lo, hi;
		uint64_t tx, checked_tx;
		uint64_t searches;	/* full searches run (for tests) */
		int npre, pre_next;	/* pre_next: replaced when full */
		struct {
			char sn[OMNIK_SERIAL_LEN + 1];
			int64_t latest;		/* INT64_MIN: no row */
		} pre[16];
	} dup;
	char err[512];
};

enum jop { JOP_READING, JOP_REJECT, JOP_CURSOR, JOP_PRUNE, JOP_CURSTATE };

/* One write, queued or applied at once; owns copies of what it needs. */
struct jentry {
	struct jentry *next;
	enum jop op;
	bool skip;			/* refused by SQLite for itself */
	bool dup;			/* a reading another origin stored */
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

struct jwriter;

struct journal {
	struct jconn c;			/* the caller's (event loop's) */
	char *path;
	char *origin;			/* opts.origin points here */
	struct journal_opts opts;
	enum { TX_NONE, TX_BATCH } tx;	/* journal_begin .. journal_commit */
	int64_t visible_max;		/* while in a batch: last committed */
	struct jwriter *w;		/* NULL: writes run on c */
	uint64_t seen_committed, seen_dropped, seen_error, seen_recoveries,
	    seen_duplicates;
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
	/* Duplicates found without the writer thread (loop only). */
	uint64_t duplicates;
	/* Readings a full queue refused since the last news (loop only). */
	uint64_t refused;
	struct timeval refused_first, refused_last;
	char err[1024];
};

/* journal_sql.c: SQL on one connection. */
int jconn_open(struct jconn *c, const char *path, const struct journal_opts *o,
    bool writer);
void jconn_close(struct jconn *c);
int jconn_fail(struct jconn *c, const char *what, const char **err);
int jconn_exec(struct jconn *c, const char *sql, const char *what);
/*
 * One entry on c: the SQLite result code; a reading's row id in e->id,
 * or e->dup set (and e->id 0) when it was a duplicate (journal.h).
 */
int jconn_apply(struct jconn *c, struct jentry *e, int retention_days,
    int64_t *pruned);
bool jentry_fault(int rc);
const char *jentry_what(const struct jentry *e);
int64_t jconn_last_id(struct jconn *c, const char *inverter, int64_t cap);
/* The statement reading a batch (prepared with the first): 0, or -1. */
int jconn_fetch_stmt(struct jconn *c, bool by_inverter, sqlite3_stmt **st);
/* The columns jconn_read_row() reads, in its order. */
#define FETCH_COLS "id, usec, kit_sn, inverter_sn, ctrl, fault, fw_main, " \
	"fw_slave, temp, vpv1, vpv2, vpv3, ipv1, ipv2, ipv3, iac1, iac2, " \
	"iac3, vac1, vac2, vac3, fac1, pac1, fac2, pac2, fac3, pac3, " \
	"etoday, etotal, htotal, runmode, length(frame), variant, historical"
void jconn_read_row(sqlite3_stmt *st, struct journal_row *row);
void jconn_column_text(sqlite3_stmt *st, int col, char *buf, size_t n);
double jconn_pow10(int decimals);
/* A reading's time column, UTC to the microsecond, in buf: its length. */
#define JCONN_TIME_MAX 40
size_t jconn_format_time(const struct timeval *tv, char *buf, size_t n);

/* journal_writer.c: the thread (struct jwriter is its own). */
int jwriter_enqueue(struct journal *j, struct jentry *e, const char **err);
void jwriter_end(struct journal *j);		/* stop, join, free */
void jwriter_lock(struct jwriter *w);
void jwriter_unlock(struct jwriter *w);
void jwriter_pause(struct jwriter *w);
void jwriter_drop_file(struct jwriter *w);	/* while paused */
void jwriter_resume(struct jwriter *w);

/* journal.c */
bool journal_same_file(const struct journal *j);
int journal_lost_fail(struct journal *j, const char **err);
int64_t journal_visible(const struct journal *j);

/*
 * For tests and benchmarks only (no program uses them). Batch many adds
 * in one transaction on the caller's connection (not with the writer
 * thread): readers see none of them until journal_commit. And a hook
 * called after readings committed (with the writer thread from
 * journal_writer_poll()); the programs wake their deliveries from the
 * poll's news instead (see setup.c).
 */
int journal_begin(struct journal *j, const char **err);
int journal_commit(struct journal *j, const char **err);
void journal_set_notify(struct journal *j, void (*fn)(void *), void *arg);

#endif /* JOURNAL_INT_H */
