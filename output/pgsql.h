/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pgsql.h: readings to PostgreSQL (or TimescaleDB), a cursor over the
 * journal driven by libpq's non-blocking API on the event loop.
 *
 * The table (created if missing; see README "The journal and outputs"):
 * one row per reading, `time timestamptz`, primary key (inverter_sn,
 * time). Batches are one multi-row INSERT ... ON CONFLICT DO NOTHING, so
 * a batch sent again after a lost reply never duplicates a row. TLS and
 * authentication come from the libpq connection string (sslmode=...).
 */
#ifndef PGSQL_H
#define PGSQL_H

#include <stddef.h>

#include "config.h"
#include "registry.h"

struct delivery;
struct event_base;
struct journal;

/* [postgresql] */
struct pgsql_conf {
	char conninfo[CONFIG_STR * 2];	/* "" = off */
	char table[128];		/* [SCHEMA.]TABLE */
	int batch;
};

extern const struct config_section pgsql_section;
extern const struct output_driver pgsql_driver;

/* The table's DDL for a (quoted) table name, for the README and tests. */
int pgsql_ddl(const char *table, char *buf, size_t n);

/*
 * The connection string libpq gets once the host names in `conninfo` are
 * looked up (hostaddr= added; the output does this in a worker thread,
 * this blocking form is for tests). NULL and err if no host is left
 * or libpq cannot be loaded.
 * The caller frees the result.
 */
char *pgsql_conninfo_resolved(const char *conninfo, char *err,
    size_t errlen);


#endif /* PGSQL_H */
