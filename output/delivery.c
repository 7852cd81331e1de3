/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * delivery.c: cursor, batches and back-off for every remote output. See
 * delivery.h for why this runs on the program's event loop.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "delivery.h"
#include "log.h"

struct delivery {
	struct journal *j;
	struct event *timer;
	char name[64];
	char inverter[OMNIK_SERIAL_LEN + 1];
	bool by_inverter;
	int batch;
	int backoff_min_ms, backoff_max_ms, backoff_ms;
	const struct delivery_ops *ops;
	void *ctx;
	int64_t cursor;
	struct journal_row *rows;
	int nrows;
	bool in_flight, waiting, stopped, in_send, done_in_send;
	bool reload;		/* re-read the cursor once the batch is done */
	bool parked;		/* not following the journal (delivery_park) */
	uint64_t delivered;
	uint64_t save_errors;
	uint64_t failures;		/* RETRY and STOP results */
	struct timeval last_ok, last_fail;
};

static void step(struct delivery *d);

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct delivery *d = arg;

	(void)fd;
	(void)what;
	d->waiting = false;
	step(d);
}

static void
arm(struct delivery *d, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(d->timer, &tv);
}

struct delivery *
delivery_new(struct journal *j, struct event_base *base,
    const struct delivery_opts *o, const struct delivery_ops *ops, void *ctx,
    char *err, size_t errlen)
{
	struct delivery *d;
	const char *e;
	int64_t initial;

	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->j = j;
	snprintf(d->name, sizeof(d->name), "%s", o->name);
	if (o->inverter) {
		d->by_inverter = true;
		snprintf(d->inverter, sizeof(d->inverter), "%s", o->inverter);
	}
	d->batch = o->batch < 1 ? 1 : o->batch > DELIVERY_BATCH_MAX ?
	    DELIVERY_BATCH_MAX : o->batch;
	d->backoff_min_ms = o->backoff_min_ms > 0 ? o->backoff_min_ms : 500;
	d->backoff_max_ms = o->backoff_max_ms > 0 ? o->backoff_max_ms :
	    120000;
	d->ops = ops;
	d->ctx = ctx;
	d->timer = evtimer_new(base, on_timer, d);
	if (d->timer == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (o->parked) {
		d->parked = true;	/* its cursor is set when it resumes */
		return d;
	}
	initial = o->start_at_end ? journal_last_id(j, o->inverter) : 0;
	if (journal_cursor_get(j, d->name, o->inverter, initial, &d->cursor,
	    &e) != 0) {
		snprintf(err, errlen, "%s", e);
		goto fail;
	}
	/* Whatever is waiting from before a restart goes out first. */
	arm(d, 0);
	d->waiting = true;
	return d;
fail:
	d->ops = NULL;	/* the caller still owns ctx */
	delivery_free(d);
	return NULL;
}

void
delivery_free(struct delivery *d)
{
	if (d == NULL)
		return;
	if (d->timer)
		event_free(d->timer);
	if (d->ops && d->ops->free)
		d->ops->free(d->ctx);
	free(d->rows);
	free(d);
}

const char *
delivery_name(const struct delivery *d)
{
	return d->name;
}

uint64_t
delivery_count(const struct delivery *d)
{
	return d->delivered;
}

int64_t
delivery_backlog(struct delivery *d)
{
	int64_t last;

	if (d->stopped || d->parked)
		return 0;
	last = journal_last_id(d->j, d->by_inverter ? d->inverter : NULL);
	return last > d->cursor ? last - d->cursor : 0;
}

/* The cursor as the journal has it: after journal_reopen(), a new file. */
static void
load_cursor(struct delivery *d)
{
	const char *e;

	d->reload = false;
	if (journal_cursor_get(d->j, d->name, d->by_inverter ? d->inverter :
	    NULL, 0, &d->cursor, &e) != 0) {
		log_warnx("output %s: %s", d->name, e);
		d->cursor = 0;
	}
}

void
delivery_reload(struct delivery *d)
{
	if (d->parked)
		return;
	if (d->in_flight) {
		d->reload = true;	/* its rows were the old file's */
		return;
	}
	load_cursor(d);
	delivery_wake(d);
}

void
delivery_wake(struct delivery *d)
{
	if (d->stopped || d->in_flight || d->parked)
		return;
	d->backoff_ms = 0;
	evtimer_del(d->timer);
	d->waiting = true;
	arm(d, 0);
}

int64_t
delivery_flush(struct delivery *d, int max_steps)
{
	uint64_t before = d->delivered, seen;

	for (int i = 0; i < max_steps && !d->in_flight && !d->stopped; i++) {
		evtimer_del(d->timer);
		d->waiting = false;
		seen = d->delivered;
		step(d);
		if (d->delivered == seen)
			break;
	}
	return (int64_t)(d->delivered - before);
}

int64_t
delivery_cursor(const struct delivery *d)
{
	return d->cursor;
}

bool
delivery_parked(const struct delivery *d)
{
	return d->parked;
}

void
delivery_park(struct delivery *d)
{
	const char *e;

	if (d->parked)
		return;
	d->parked = true;
	evtimer_del(d->timer);
	d->waiting = false;
	if (journal_cursor_state(d->j, d->name, d->cursor, false, &e) != 0)
		log_warnx("output %s: %s", d->name, e);
}

void
delivery_resume_at(struct delivery *d, int64_t pos)
{
	const char *e;

	d->parked = false;
	d->cursor = pos;
	if (journal_cursor_state(d->j, d->name, pos, true, &e) != 0)
		log_warnx("output %s: %s (rows may be written again after a "
		    "restart)", d->name, e);
	delivery_wake(d);
}

void
delivery_kick(struct delivery *d)
{
	if (d->in_flight || d->waiting || d->stopped || d->parked)
		return;
	d->waiting = true;
	arm(d, 0);
}

/* Fetch the next batch and hand it to the output. */
static void
step(struct delivery *d)
{
	const char *e;

	if (d->in_flight || d->stopped || d->parked)
		return;
	/*
	 * The batch's rows (up to DELIVERY_BATCH_MAX, ~300 bytes each) with
	 * the first fetch: an output that never runs (the CSV's cursor
	 * while the CSV keeps up) costs nothing.
	 */
	if (d->rows == NULL &&
	    (d->rows = calloc((size_t)d->batch, sizeof(*d->rows))) == NULL) {
		log_warnx("output %s: out of memory for a batch", d->name);
		d->waiting = true;
		arm(d, d->backoff_max_ms);
		return;
	}
	if (journal_fetch(d->j, d->cursor, d->by_inverter ? d->inverter :
	    NULL, d->rows, d->batch, &d->nrows, &e) != 0) {
		log_warnx("output %s: %s", d->name, e);
		d->waiting = true;
		arm(d, d->backoff_max_ms);
		return;
	}
	if (d->nrows == 0)
		return;		/* idle until kicked */
	d->in_flight = true;
	d->in_send = true;
	d->done_in_send = false;
	if (d->ops->send(d->ctx, d->rows, d->nrows) != 0 && d->in_flight)
		delivery_done(d, 0, DELIVERY_RETRY, 0);
	d->in_send = false;
	/* Done synchronously: go on from the loop, not by recursion. */
	if (d->done_in_send && !d->waiting && !d->stopped && !d->parked) {
		d->waiting = true;
		arm(d, 0);
	}
}

void
delivery_done(struct delivery *d, int n, enum delivery_result r,
    time_t retry_at)
{
	const char *e;
	int ms;

	if (!d->in_flight)
		return;
	d->in_flight = false;
	if (n > d->nrows)
		n = d->nrows;
	if (d->reload) {
		/* Rows of a journal that is gone: the new one's cursor. */
		load_cursor(d);
		n = 0;
	}
	if (n > 0) {
		d->cursor = d->rows[n - 1].id;
		d->delivered += (uint64_t)n;
		if (journal_cursor_set(d->j, d->name, d->cursor, &e) != 0 &&
		    d->save_errors++ % 100 == 0)
			log_warnx("output %s: %s (rows may be sent again "
			    "after a restart)", d->name, e);
	}
	if (n > 0)
		gettimeofday(&d->last_ok, NULL);
	if (r == DELIVERY_RETRY || r == DELIVERY_STOP) {
		d->failures++;
		gettimeofday(&d->last_fail, NULL);
	}
	if (d->parked)
		return;		/* parked from inside send: stay so */
	switch (r) {
	case DELIVERY_OK:
		d->backoff_ms = 0;
		if (d->in_send) {
			d->done_in_send = true;
		} else {
			d->waiting = true;
			arm(d, 0);
		}
		return;
	case DELIVERY_RETRY:
		d->backoff_ms = d->backoff_ms == 0 ? d->backoff_min_ms :
		    d->backoff_ms * 2;
		if (d->backoff_ms > d->backoff_max_ms)
			d->backoff_ms = d->backoff_max_ms;
		ms = d->backoff_ms;
		log_debug("output %s: retrying in %d ms", d->name, ms);
		break;
	case DELIVERY_WAIT: {
		struct timeval now;

		gettimeofday(&now, NULL);
		/* A reset far ahead (or in ms, not s) must not overflow. */
		if (retry_at > now.tv_sec + 3600)
			retry_at = now.tv_sec + 3600;
		/* Rounded up: a millisecond early is still before the reset. */
		ms = retry_at > now.tv_sec ?
		    (int)(((retry_at - now.tv_sec) * 1000000 - now.tv_usec +
		    999) / 1000) : 0;
		if (ms < 0)
			ms = 0;
		d->backoff_ms = 0;
		break;
	}
	case DELIVERY_STOP:
	default:
		d->stopped = true;
		log_warnx("output %s: stopped; fix the configuration and "
		    "restart (nothing is lost: the journal keeps the "
		    "readings)", d->name);
		return;
	}
	d->waiting = true;
	arm(d, ms);
}

void *
delivery_ctx(const struct delivery *d)
{
	return d->ctx;
}

void
delivery_status(struct delivery *d, struct output_status *st)
{
	memset(st, 0, sizeof(*st));
	snprintf(st->name, sizeof(st->name), "%s", d->name);
	/* A stopped output still owes its rows: the page says how many. */
	if (d->stopped && !d->parked) {
		int64_t last = journal_last_id(d->j, d->by_inverter ?
		    d->inverter : NULL);

		st->backlog = last > d->cursor ? last - d->cursor : 0;
	} else {
		st->backlog = delivery_backlog(d);
	}
	st->delivered = d->delivered;
	st->last_ok = d->last_ok;
	st->errors = d->failures;
	st->last_error_at = d->last_fail;
	st->stopped = d->stopped;
}
