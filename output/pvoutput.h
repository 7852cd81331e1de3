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
#include "registry.h"

struct delivery;
struct event_base;
struct journal;
struct journal_row;

#define PVOUTPUT_SYSTEMS_MAX 32
#define PVOUTPUT_MEMBERS_MAX 8		/* inverters summed into one system */

/* One entry of `systems`, as checked and parsed by the config loader. */
struct pvoutput_system {
	char sid[12];			/* 1 .. 99999999 */
	char inverter[17];		/* INVERTER=SID: its serial */
	int nmem;			/* SID:SN1+SN2: its inverters */
	char mem[PVOUTPUT_MEMBERS_MAX][17];
};

/* [pvoutput] (pvoutput_conf.c) */
struct pvoutput_conf {
	char api_key[128];		/* "" = off */
	char systems[CONFIG_STR * 4];	/* "INVERTER=SYSTEMID ..." */
	char url[CONFIG_STR];
	char cafile[CONFIG_STR];	/* "" = the system's CA store */
	bool donor;
	char energy[16];		/* today | lifetime */
	bool temperature;
	bool voltage;
	int nsystems;			/* systems, parsed */
	struct pvoutput_system sys[PVOUTPUT_SYSTEMS_MAX];
};

extern const struct config_section pvoutput_section;
/* One delivery per configured system. */
extern const struct output_driver pvoutput_driver;

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
