/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * outputs.h: the dispatcher between the decoder and the sinks. A sink that
 * fails is logged and counted; the others and the capture go on.
 *
 * One owner, one teardown: a program's struct outputs lives in its
 * struct program (program.h), filled by outputs_setup() and friends and
 * ended only by outputs_teardown() (setup.h), which stops the remote
 * deliveries and the journal writer before it closes the sinks.
 */
#ifndef OUTPUTS_H
#define OUTPUTS_H

#include <stdbool.h>
#include <stdint.h>

#include "sink.h"

#define OUTPUTS_MAX 8

struct outputs_remote;

struct outputs {
	struct sink sinks[OUTPUTS_MAX];
	uint64_t errors[OUTPUTS_MAX];
	int n;
	struct outputs_remote *remote;	/* setup.h: journal cursors */
	/* After the sinks on SIGHUP (setup.c: the journal's file). */
	void (*reopen_hook)(void *arg);
	void *reopen_arg;
	/* outputs_set_turn() */
	void (*turn_arm)(void *arg);
	void *turn_arg;
	bool turn_held;
	/*
	 * A daemon's (set before outputs_setup): its loop never waits for
	 * standard output's reader (csv_sink_open, text_sink).
	 */
	bool live;
};

void outputs_init(struct outputs *o);
/* Takes ownership of the sink's ctx: outputs_teardown() closes it. */
int outputs_add(struct outputs *o, const struct sink *s);
void outputs_reading(struct outputs *o, const struct record *rec);
void outputs_reject(struct outputs *o, const struct reject *rej);
void outputs_reopen(struct outputs *o);
/*
 * A program that takes input in batches (omnik-sniff: a batch of
 * packets) brackets each with on and off: sinks that can (the CSV file)
 * then write a batch's readings at once, at its end. Without the calls
 * every reading goes out as it comes.
 */
void outputs_hold(struct outputs *o, bool on);
/*
 * A loop that may hand over the readings of many connections in one turn
 * (the daemons' event loop): the first reading or reject of a turn holds
 * the sinks and the log lines (log_hold) and calls arm(arg), which must
 * arrange for outputs_turn_end() later in the same turn, after the
 * connections' own work: one write each for the CSV and the log instead
 * of one a reading. arm NULL: off (what is held is written).
 */
void outputs_set_turn(struct outputs *o, void (*arm)(void *), void *arg);
void outputs_turn_end(struct outputs *o);
uint64_t outputs_errors(const struct outputs *o);

#endif /* OUTPUTS_H */
