/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * influx.h: readings to InfluxDB as line protocol over HTTP(S), one
 * cursor over the journal, curl multi on the program's libevent loop.
 *
 *   v1: POST URL/write?db=DB&precision=s          (user/password: basic
 *                                                  auth, never the URL)
 *   v2: POST URL/api/v2/write?org=O&bucket=B&precision=s
 *       Authorization: Token T
 *
 * Promises: one point per reading, in journal order, at least once (a
 * point written twice is the same point: InfluxDB keys it on series and
 * time); up to `batch` points per request. Every present field is a
 * float, every time, so that a field never changes type between
 * requests; an absent field is left out, never written as 0. 204 is
 * delivered; a 400 splits the batch until the one line InfluxDB refuses
 * is found, and that reading alone is skipped and logged with InfluxDB's
 * reason; 401/403/404 stop the output with a line naming the setting;
 * 5xx, 429 (Retry-After) and timeouts are retried later. The password
 * and token travel in headers only and are never logged.
 */
#ifndef INFLUX_H
#define INFLUX_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "registry.h"

struct journal_row;

#define INFLUX_BATCH_MAX 5000
/* The longest line influx_line() writes: escaped measurement, three
 * tags, every field, the time. */
#define INFLUX_LINE_MAX 1024

/* [influxdb] (influx_conf.c) */
struct influx_conf {
	char url[CONFIG_STR];		/* "" = off */
	char db[128];			/* v1 */
	char user[128];
	char password[128];
	char org[128];			/* v2 */
	char bucket[128];
	char token[256];
	char measurement[128];
	char cafile[CONFIG_STR];	/* "" = the system's CA store */
	int batch;
	int timeout;			/* seconds per request */
};

extern const struct config_section influx_section;
extern const struct output_driver influx_driver;

/*
 * The line of one reading, "omnik,inverter_sn=..,kit_sn=..,variant=..
 * pac=2615,temp=35.2,... 1780000000\n", measurement already escaped
 * (influx_escape_measurement). Returns its length; 0 if the reading has
 * no field to write or a serial InfluxDB 1.x and 2.x would read apart
 * (a backslash: *why says so), or if it does not fit n.
 */
size_t influx_line(const struct journal_row *row, const char *measurement,
    char *buf, size_t n, const char **why);
/* A measurement name with ',' and ' ' escaped; 0 if it does not fit. */
size_t influx_escape_measurement(const char *name, char *buf, size_t n);

#endif /* INFLUX_H */
