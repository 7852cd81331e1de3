/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * invstate.h: what an inverter's readings must keep to across readings,
 * and how often it may send them. The per-frame limits are the decoder's
 * (omnik_check); these need the readings before:
 *
 *   - E total and H total never go down (beyond E total's 0.1 kWh
 *     rounding) from one reading of an inverter to the next;
 *   - E today, when it has grown, is no more than the inverter's phases
 *     at 12 kW each could have made since local midnight;
 *   - at most INVSTATE_BURST readings at once and one per
 *     INVSTATE_RATE_S after that (a kit sends one per 5 minutes);
 *   - every reading of an inverter gets a time of its own: a buffered
 *     record (historical) is dated INVSTATE_HISTORICAL_S before its
 *     receive time, and a time an inverter's reading already has moves
 *     on by a microsecond, so no output keyed on (inverter, time) drops
 *     one of two readings that came together.
 *
 * The rules across readings apply to a reading received no earlier than
 * the inverter's last one; an older one (a capture replayed after newer
 * readings) is dated and rate-limited but not compared.
 *
 * One table for the process (the programs are single-threaded where they
 * decode), bounded: INVSTATE_SLOTS inverters; past that the one seen
 * longest ago is forgotten. invstate_seed() fills it from the journal's
 * last reading per inverter so that a restart forgets nothing. No logging
 * here: the caller (output/stream.c) logs and keeps what is refused.
 */
#ifndef INVSTATE_H
#define INVSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#include "omnik.h"

#define INVSTATE_SLOTS 1024
#define INVSTATE_BURST 32		/* readings at once, per inverter */
#define INVSTATE_RATE_S 10		/* then one per 10 s: 30 x a kit */
#define INVSTATE_HISTORICAL_S 300	/* one push interval */
#define INVSTATE_INTERVAL_S 60		/* rate excess: one log line, */
#define INVSTATE_KEPT_MAX 64		/* and this many kept raw, a minute */

enum invstate_verdict {
	INVSTATE_OK,		/* a reading: result.when is its time */
	INVSTATE_IMPLAUSIBLE,	/* breaks a rule across readings: why */
	INVSTATE_RATE,		/* over the rate limit: keep, log below */
};

struct invstate_result {
	struct timeval when;	/* OK: the time every output gets */
	char why[160];		/* IMPLAUSIBLE, RATE: the rule broken */
	bool keep;		/* RATE: keep the frame raw (under the cap) */
	bool log;		/* RATE: log now; excess readings since last */
	uint64_t excess;
};

struct invstate_stats {
	uint64_t inverters;	/* in the table now */
	uint64_t seeded;	/* from the journal at start */
	uint64_t forgotten;	/* pushed out of a full table */
	uint64_t implausible;
	uint64_t rate_excess;
	uint64_t rate_kept;
};

/* r must have passed omnik_check. recv: when it was received. */
enum invstate_verdict invstate_check(const struct omnik_reading *r,
    const struct timeval *recv, struct invstate_result *res);

/*
 * Each inverter's last reading in the journal at path, read on a
 * connection of its own (read-only). Returns the number of inverters
 * seeded, or -1 with err set; the table is then as it was.
 */
int invstate_seed(const char *path, char *err, size_t errlen);
/*
 * The same on a connection the caller has open (the journal's, at
 * start-up: a second connection would parse the whole schema again,
 * ~16 KiB of an idle relay's heap). Only reads.
 */
struct sqlite3;
int invstate_seed_db(struct sqlite3 *db, char *err, size_t errlen);

void invstate_stats(struct invstate_stats *out);
/* Empty the table and the counters (tests, and a program's start). */
void invstate_reset(void);

#endif /* INVSTATE_H */
