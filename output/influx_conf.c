/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * influx_conf.c: the [influxdb] section. v1 (db, user, password) or v2
 * (org, bucket, token), told apart by which of db and bucket is set.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "influx.h"

/*
 * http(s)://host[:port][/path]: the base the write path is appended to.
 * No query, fragment or user@ part: credentials go in headers, and the
 * URL ends up in log lines.
 */
static int
check_url(const char *value, char *err, size_t errlen)
{
	const char *h;

	if (value[0] == '\0')
		return 0;	/* off */
	if (strncmp(value, "https://", 8) == 0)
		h = value + 8;
	else if (strncmp(value, "http://", 7) == 0)
		h = value + 7;
	else {
		snprintf(err, errlen, "'%s' is not an http:// or https:// URL",
		    value);
		return -1;
	}
	if (*h == '\0' || *h == '/') {
		snprintf(err, errlen, "'%s' names no host", value);
		return -1;
	}
	for (const char *p = value; *p; p++) {
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '?' ||
		    *p == '#') {
			snprintf(err, errlen, "'%s': a base URL without blanks, "
			    "query or fragment (the write path is added)",
			    value);
			return -1;
		}
		if (*p == '@') {
			snprintf(err, errlen, "'%s': no user@ in the URL; use "
			    "user and password (v1) or token (v2)", value);
			return -1;
		}
	}
	return 0;
}

/* A name InfluxDB takes as given: printable, no backslash, no comment. */
static int
check_name(const char *value, char *err, size_t errlen)
{
	if (value[0] == '#') {
		snprintf(err, errlen, "'%s' starts with '#' (a comment in "
		    "line protocol)", value);
		return -1;
	}
	for (const char *p = value; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\') {
			snprintf(err, errlen, "'%s': no control characters "
			    "or backslashes", value);
			return -1;
		}
	return 0;
}

/* A password or token goes into a header: one line, nothing hidden. */
static int
check_secret(const char *value, char *err, size_t errlen)
{
	for (const char *p = value; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			/* The value itself stays out of the message. */
			snprintf(err, errlen, "no control characters");
			return -1;
		}
	return 0;
}

static int
check_measurement(const char *value, char *err, size_t errlen)
{
	if (value[0] == '\0') {
		snprintf(err, errlen, "the measurement name is empty");
		return -1;
	}
	return check_name(value, err, errlen);
}

#define K(kind, ...) CONFIG_KEY_##kind(struct influx_conf, __VA_ARGS__)
static const struct config_key keys[] = {
	K(STR, "url", url, "",
	    "InfluxDB's base URL, e.g. http://127.0.0.1:8086; empty: off",
	    .check = check_url),
	K(STR, "db", db, "", "v1: the database written to", .check =
	    check_name),
	K(STR, "user", user, "", "v1: user name (HTTP basic auth); empty: "
	    "no authentication", .check = check_name),
	K(STR, "password", password, "",
	    "v1: the user's password (sent in a header, never logged)",
	    .secret = true, .check = check_secret),
	K(STR, "org", org, "", "v2: the organisation", .check = check_name),
	K(STR, "bucket", bucket, "", "v2: the bucket written to",
	    .check = check_name),
	K(STR, "token", token, "",
	    "v2: API token with write access to the bucket (sent in a "
	    "header, never logged)", .secret = true, .check = check_secret),
	K(STR, "measurement", measurement, "omnik",
	    "measurement of the points (tags inverter_sn, kit_sn, variant)",
	    .check = check_measurement),
	K(STR, "cafile", cafile, "",
	    "CA certificates for an https url; empty: the system's",
	    .check = config_check_file),
	K(INT, "batch", batch, 1, INFLUX_BATCH_MAX, "5000",
	    "points (readings) per request at most"),
	K(INT, "timeout", timeout, 1, 300, "30",
	    "seconds a request may take before it is retried"),
};
#undef K

static int
influx_check(const void *conf, char *err, size_t errlen)
{
	const struct influx_conf *c = conf;
	bool v1 = c->db[0] || c->user[0] || c->password[0];
	bool v2 = c->org[0] || c->bucket[0] || c->token[0];

	if (c->url[0] == '\0') {
		if (v1 || v2) {
			snprintf(err, errlen, "[influxdb] url is empty, but "
			    "%s is set", v1 ? "db/user/password" :
			    "org/bucket/token");
			return -1;
		}
		return 0;
	}
	if (v1 && v2) {
		snprintf(err, errlen, "[influxdb] db/user/password (InfluxDB "
		    "1.x) and org/bucket/token (2.x) do not go together");
		return -1;
	}
	if (!v1 && !v2) {
		snprintf(err, errlen, "[influxdb] url is set: set db (InfluxDB "
		    "1.x) or org, bucket and token (2.x)");
		return -1;
	}
	if (v1 && c->db[0] == '\0') {
		snprintf(err, errlen, "[influxdb] db is empty");
		return -1;
	}
	if (v1 && (c->user[0] == '\0') != (c->password[0] == '\0')) {
		snprintf(err, errlen, "[influxdb] user and password go "
		    "together");
		return -1;
	}
	if (v2 && (!c->org[0] || !c->bucket[0] || !c->token[0])) {
		snprintf(err, errlen, "[influxdb] InfluxDB 2.x needs org, "
		    "bucket and token");
		return -1;
	}
	return 0;
}

const struct config_section influx_section =
    CONFIG_SECTION("influxdb", struct influx_conf, keys,
    .check = influx_check);
