/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pvoutput.h: readings to PVOutput.org's addbatchstatus service, one
 * cursor per PVOutput system (one system per inverter), HTTPS through
 * curl multi on the program's libevent loop.
 *
 * Promises: statuses go out as readings arrive, in order, up to 30 per
 * request (100 for donors); a reading counts as delivered only when
 * PVOutput acknowledged its status ("yyyymmdd,hh:mm,1"), or when it was
 * skipped for good: older than the backfill window (14 days, 90 for
 * donors), a repeated zero status at night, or a status PVOutput refused
 * with 400 on its own. The API key and system id travel in headers only
 * and are never logged. The X-Rate-Limit-* headers are honoured: at zero
 * remaining, or on a 403 "Exceeded", nothing is sent until the reset.
 * A 401 (bad key or system id) stops that system with a clear log line.
 */
#ifndef PVOUTPUT_H
#define PVOUTPUT_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct delivery;
struct event_base;
struct journal;
struct journal_row;

#define PVOUTPUT_SYSTEMS_MAX 32

/* One delivery per configured system, stored in out[0 .. *n-1]. */
int pvoutput_start(struct journal *j, struct event_base *base,
    const struct config *cfg, struct delivery **out, int max, int *n,
    char *err, size_t errlen);

struct pvoutput_fmt {
	bool lifetime;		/* v1 = lifetime energy, request carries c1=1 */
	bool temperature;	/* v5 */
	bool voltage;		/* v6 */
};

/*
 * One status, "yyyymmdd,hh:mm,v1,v2,,,v5,v6", date and time in the local
 * time zone (TZ). Returns its length, 0 if it did not fit.
 */
size_t pvoutput_status(const struct journal_row *row,
    const struct pvoutput_fmt *f, char *buf, size_t n);

#endif /* PVOUTPUT_H */
