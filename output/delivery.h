/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * delivery.h: a remote output as a cursor over the journal.
 *
 *   journal rows:  1 2 3 4 5 6 7 8 9 ...
 *                        ^ cursor (saved in the journal)
 *                          [5 6 7] batch in flight --> output's send()
 *   output calls delivery_done(n) --> cursor += n, saved, next batch
 *   target down  --> delivery_done(0, RETRY) --> wait 0.5 s, 1 s, 2 s ...
 *
 * Why the event loop and not a worker thread: the programs already run a
 * libevent loop (the relay's sockets, timers, signals), and every remote
 * target has a non-blocking client that plugs into it (libpq's async API,
 * libmosquitto's socket, curl multi). One thread means no locks around
 * the SQLite connection and no queue that can fill: the journal itself is
 * the queue, on disk, bounded only by retention. What runs in the loop is
 * bounded: one indexed SELECT of at most `batch` rows per step. Capture
 * never waits: an output that is slow only delays its own cursor.
 * The one blocking call the libraries make, the name lookup, runs in a
 * worker thread (resolve.h); libcurl has its own threaded resolver.
 *
 * Promises: rows go out in id order, at least once; the cursor only moves
 * past rows the output reported delivered or skipped for good; it survives
 * restarts; a failing target is retried with exponential back-off (capped)
 * or at the time the output asks for (a rate-limit reset).
 */
#ifndef DELIVERY_H
#define DELIVERY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/time.h>
#include <time.h>

#include "journal.h"

struct event_base;
struct delivery;

enum delivery_result {
	DELIVERY_OK,		/* all n rows done; go on at once */
	DELIVERY_RETRY,		/* n rows done, the rest failed: back off */
	DELIVERY_WAIT,		/* n rows done; go on at retry_at (epoch s) */
	DELIVERY_STOP,		/* configuration error: never try again */
};

struct delivery_ops {
	/*
	 * Start delivering rows[0..n-1] (they stay valid until
	 * delivery_done). Return 0 if started (delivery_done follows, maybe
	 * from inside send), -1 to back off at once.
	 */
	int (*send)(void *ctx, const struct journal_row *rows, int n);
	void (*free)(void *ctx);
};

struct delivery_opts {
	const char *name;	/* cursor name, e.g. "postgresql" */
	const char *inverter;	/* only this inverter's rows; NULL: all */
	int batch;		/* rows per send, 1 .. DELIVERY_BATCH_MAX */
	bool start_at_end;	/* a new cursor skips what is already there */
	int backoff_min_ms, backoff_max_ms;	/* 0: 500 ms, 120 s */
	bool parked;		/* start parked (delivery_park) */
};

/* InfluxDB takes 5,000 points per request (its own advice). */
#define DELIVERY_BATCH_MAX 5000

struct delivery *delivery_new(struct journal *j, struct event_base *base,
    const struct delivery_opts *o, const struct delivery_ops *ops, void *ctx,
    char *err, size_t errlen);
/* Stops, frees the output's ctx through ops->free. */
void delivery_free(struct delivery *d);

/* New rows may be there: try now unless in flight or backing off. */
void delivery_kick(struct delivery *d);
void delivery_done(struct delivery *d, int n, enum delivery_result r,
    time_t retry_at);

/*
 * The journal was opened anew (journal_reopen): re-read the cursor from
 * it (a new file starts every cursor at 0) and go on from there.
 */
void delivery_reload(struct delivery *d);
/* Try now, without waiting for the back-off (a HUP fixed the output). */
void delivery_wake(struct delivery *d);
/*
 * For an output whose send() completes at once (the CSV): deliver what
 * the journal has, at most max_steps batches, before returning. Returns
 * the rows delivered.
 */
int64_t delivery_flush(struct delivery *d, int max_steps);
int64_t delivery_cursor(const struct delivery *d);
/*
 * An output that follows the journal only at times (the CSV after a
 * failed write): parked, it fetches nothing and owes nothing, and its
 * cursor stops holding back retention; resumed, it goes on after pos.
 */
void delivery_park(struct delivery *d);
void delivery_resume_at(struct delivery *d, int64_t pos);
bool delivery_parked(const struct delivery *d);

/* Rows not yet delivered (0 when stopped). */
int64_t delivery_backlog(struct delivery *d);
const char *delivery_name(const struct delivery *d);
uint64_t delivery_count(const struct delivery *d);	/* rows delivered */
void *delivery_ctx(const struct delivery *d);	/* the output's own */

/*
 * What a status page shows of one output (outputs_status, setup.h). The
 * delivery fills the cursor's part; the output's status callback
 * (registry.h) the text of its last error.
 */
struct output_status {
	char name[64];
	int64_t backlog;		/* journal rows not yet delivered */
	uint64_t delivered;		/* rows, since the start */
	struct timeval last_ok;		/* the last rows delivered; 0: none */
	uint64_t errors;		/* attempts that failed (backed off) */
	struct timeval last_error_at;	/* 0: none */
	char last_error[256];		/* the output's words, or "" */
	bool stopped;			/* a configuration error */
};
void delivery_status(struct delivery *d, struct output_status *st);

#endif /* DELIVERY_H */
