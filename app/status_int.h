/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * status_int.h: between status.c, which reads what is shown into a
 * struct status_view, and status_page.c, which writes it as HTML, JSON
 * or the Prometheus text format.
 */
#ifndef STATUS_INT_H
#define STATUS_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "delivery.h"
#include "journal.h"
#include "program.h"

struct evbuffer;

/* Bounds on one page, whatever the journal holds. */
#define STATUS_INVERTERS_MAX 16
#define STATUS_POINTS_MAX 2880		/* a reading every 30 s, all day */
#define STATUS_OUTPUTS_MAX 64
#define STATUS_REASONS_MAX 16		/* distinct reject reasons, then "other" */

struct status_point {
	time_t t;
	int64_t watts;
};

struct status_inverter {
	struct journal_row last;	/* its latest reading */
	int64_t power;			/* W, PAC summed; OMNIK_ABSENT */
	int64_t etotal;			/* the last good total, fixed point */
	int64_t etoday;			/* today's, fixed point; ABSENT: none */
	struct status_point *pts;	/* today's readings, oldest first */
	int npts;
	bool cut;			/* more today than STATUS_POINTS_MAX */
};

struct status_reason {
	char name[48];
	uint64_t count;
};

struct status_view {
	const char *program, *version;
	time_t now, midnight;		/* local midnight starts "today" */
	bool journal;			/* there is one */
	char journal_err[256];		/* reading it failed: why */
	struct status_inverter inv[STATUS_INVERTERS_MAX];
	int ninv;
	struct output_status out[STATUS_OUTPUTS_MAX];
	int nout;
	bool has_counters;
	struct program_counters pc;
	const struct status_reason *reasons;
	int nreasons;
};

int status_html(const struct status_view *v, struct evbuffer *out);
int status_json(const struct status_view *v, struct evbuffer *out);
int status_metrics(const struct status_view *v, struct evbuffer *out);

#endif /* STATUS_INT_H */
