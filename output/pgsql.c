/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pgsql.c: the PostgreSQL output.
 *
 *   DOWN --send--> [RESOLVING] --> CONNECTING --PQconnectPoll ok--> SETUP
 *     ^                 |                  |                          |
 *     +--- any error ---+------------------+------------<-------------+
 *                                                   READY <--> BUSY
 *                                             (one INSERT in flight)
 *
 * Every libpq call here is non-blocking (PQconnectStart/Poll,
 * PQsetnonblocking, PQsendQueryParams, PQflush, PQconsumeInput); the
 * socket is watched by one-shot libevent events for the direction libpq
 * wants, with a timeout so a silent server cannot hold a batch forever.
 *
 * All but one: libpq looks host names up with a blocking getaddrinfo
 * inside PQconnectPoll; so they are looked up first, in a worker thread
 * (pgsql_conninfo.c, which says how).
 *
 * libpq itself is loaded by pgsql_start (dynlib.h), not linked.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "delivery.h"
#include "dynlib.h"
#include "log.h"
#include "omnik.h"
#include "pgsql.h"
#define PGSQL_PQ_TABLE
#include "pgsql_int.h"
#include "resolve.h"

/* libpq, loaded at run time (pgsql_int.h). */
struct pq_api pgsql_pq;
#define PQ_ENTRY(sym) DYNLIB_ENTRY(struct pq_api, sym)
static const struct dynlib_sym pq_syms[] = { PQ_SYMBOLS(PQ_ENTRY) };
struct dynlib pgsql_pq_lib = DYNLIB("PostgreSQL output",
    OMNIK_LIBPQ_SONAME, OMNIK_LIBPQ_PACKAGE, pq_syms, &pgsql_pq);
#undef PGSQL_PQ_TABLE
#include "pgsql_int.h"	/* now the names: PQclear is pgsql_pq.PQclear */

#define PG_TIMEOUT_S 15
#define VAL_LEN 40			/* one text parameter */
#define NCOLS (5 + OMNIK_NFIELDS)	/* time inverter kit fw_main fw_slave */

enum pg_state { PG_DOWN, PG_RESOLVING, PG_CONNECTING, PG_SETUP, PG_READY,
	PG_BUSY };

struct pgsql {
	struct delivery *d;
	struct event_base *base;
	struct event *ev;
	PGconn *conn;
	enum pg_state state;
	char *conninfo;
	struct resolve *res;
	char table_name[128];		/* as configured: [SCHEMA.]TABLE */
	char table[300];		/* quoted by libpq: "schema"."table" */
	int batch;
	bool failed;			/* an error result in this query */
	const struct journal_row *rows;	/* batch waiting or in flight */
	int nrows;
	char *insert_sql;		/* VALUES groups for a full batch */
	size_t *group_end;		/* its length after group r */
	char *vals;			/* nrows * NCOLS * VAL_LEN */
	const char **params;
	char last_err[512];		/* libpq's, one try per address */
};

static void on_socket(evutil_socket_t fd, short what, void *arg);
static void query_start_insert(struct pgsql *p);
static int build_insert(struct pgsql *p);

static const char *
col_type(int field)
{
	/* Four-byte counters (hours) go past int4: 0xFFFFFFFE is a value. */
	if (omnik_fields[field].decimals != 0)
		return "double precision";
	return omnik_fields[field].size == 4 ? "bigint" : "integer";
}

static void
col_name(int field, char *buf, size_t n)
{
	size_t k;

	for (k = 0; omnik_fields[field].name[k] && k + 1 < n; k++) {
		char c = omnik_fields[field].name[k];

		buf[k] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	buf[k] = '\0';
}

/*
 * [SCHEMA.]TABLE as a quoted SQL name, each part quoted by libpq's own
 * PQescapeIdentifier (it needs the connection: the quoting follows its
 * encoding). The first dot separates the schema, which must exist.
 */
static int
quote_table(PGconn *conn, const char *name, char *buf, size_t n)
{
	const char *dot = strchr(name, '.');
	size_t len = 0;

	buf[0] = '\0';
	for (int part = 0; part < (dot ? 2 : 1); part++) {
		const char *s = part == 0 ? name : dot + 1;
		size_t sl = part == 0 && dot ? (size_t)(dot - name) :
		    strlen(s);
		char *q;

		if (sl == 0)
			return -1;
		q = PQescapeIdentifier(conn, s, sl);
		if (q == NULL)
			return -1;
		len += (size_t)snprintf(buf + len, len < n ? n - len : 0,
		    "%s%s", part ? "." : "", q);
		PQfreemem(q);
	}
	return len < n ? 0 : -1;
}

int
pgsql_ddl(const char *table, char *buf, size_t n)
{
	char col[16];
	size_t len;

	len = (size_t)snprintf(buf, n, "CREATE TABLE IF NOT EXISTS %s (\n"
	    "  time timestamptz NOT NULL,\n"
	    "  inverter_sn text NOT NULL,\n"
	    "  kit_sn bigint NOT NULL,\n", table);
	for (int i = 0; i < OMNIK_NFIELDS && len < n; i++) {
		col_name(i, col, sizeof(col));
		len += (size_t)snprintf(buf + len, n - len, "  %s %s,\n", col,
		    col_type(i));
	}
	if (len < n)
		len += (size_t)snprintf(buf + len, n - len,
		    "  fw_main text,\n  fw_slave text,\n"
		    "  PRIMARY KEY (inverter_sn, time)\n);\n");
	return len < n ? 0 : -1;
}

/*
 * libpq's message on one log line: it has a line per address tried (a
 * name with an IPv6 and an IPv4 address, TLS failing on each) and
 * tab-indented hints; those become "; " and " ".
 */
static void
set_conn_error(struct pgsql *p, const char *what)
{
	const char *m = p->conn ? PQerrorMessage(p->conn) : "out of memory";
	char *e = p->last_err;
	size_t k, n = sizeof(p->last_err);

	k = (size_t)snprintf(e, n, "%s: ", what);
	if (k >= n)
		k = n - 1;
	for (; *m && k + 3 < n; m++) {
		if (*m == '\n' && m[1] == '\t') {
			e[k++] = ' ';
			m++;
		} else if (*m == '\n' && m[1] != '\0') {
			e[k++] = ';';
			e[k++] = ' ';
		} else if (*m != '\n') {
			e[k++] = *m == '\t' ? ' ' : *m;
		}
	}
	while (k > 0 && e[k - 1] == ' ')
		k--;
	e[k < n ? k : n - 1] = '\0';
}

/* Close the connection; a batch in flight or waiting is retried later. */
static void
go_down(struct pgsql *p)
{
	bool had_batch = p->nrows > 0;

	if (p->ev) {
		event_free(p->ev);
		p->ev = NULL;
	}
	if (p->conn) {
		PQfinish(p->conn);
		p->conn = NULL;
	}
	if (p->state != PG_DOWN)
		log_warnx("output postgresql: %s", p->last_err);
	p->state = PG_DOWN;
	p->nrows = 0;
	if (had_batch)
		delivery_done(p->d, 0, DELIVERY_RETRY, 0);
}

/* Watch the socket for what libpq wants next. */
static int
watch(struct pgsql *p, short what)
{
	struct timeval tv = { PG_TIMEOUT_S, 0 };

	if (p->ev)
		event_free(p->ev);
	p->ev = event_new(p->base, PQsocket(p->conn), what, on_socket, p);
	if (p->ev == NULL || event_add(p->ev, &tv) != 0) {
		snprintf(p->last_err, sizeof(p->last_err), "cannot watch the "
		    "connection");
		return -1;
	}
	return 0;
}

static int
connect_start(struct pgsql *p, const char *conninfo)
{
	p->conn = PQconnectStart(conninfo);
	if (p->conn == NULL || PQstatus(p->conn) == CONNECTION_BAD) {
		set_conn_error(p, "cannot connect");
		p->state = PG_CONNECTING;	/* so go_down logs */
		go_down(p);
		return -1;
	}
	p->state = PG_CONNECTING;
	return watch(p, EV_WRITE);
}

static void
on_resolved(void *arg, void *job, int err)
{
	struct pgsql *p = arg;
	char *conninfo;

	if (err != 0) {
		snprintf(p->last_err, sizeof(p->last_err), "name lookup: no "
		    "answer for %d s", PG_TIMEOUT_S);
		go_down(p);
		return;
	}
	conninfo = pg_conninfo_with_addrs(p->conninfo, job, p->last_err,
	    sizeof(p->last_err));
	free(job);
	if (conninfo == NULL) {
		go_down(p);
		return;
	}
	(void)connect_start(p, conninfo);
	free(conninfo);
}

/* Look the host names up off the loop if there are any; then connect. */
static int
connect_begin(struct pgsql *p)
{
	struct pg_lookup *l = pg_lookup_new(p->conninfo);

	if (l == NULL)
		return connect_start(p, p->conninfo);
	p->state = PG_RESOLVING;
	if (resolve_start(p->res, pg_lookup_work, free, l, PG_TIMEOUT_S * 1000)
	    != 0) {
		snprintf(p->last_err, sizeof(p->last_err), "name lookup: %s",
		    errno == EBUSY ? "an earlier one is still running" :
		    strerror(errno));
		free(l);
		go_down(p);
		return -1;
	}
	return 0;
}

/* After PQsend*: flush what is queued, then wait for the reply. */
static void
after_send(struct pgsql *p)
{
	int r = PQflush(p->conn);

	if (r < 0) {
		set_conn_error(p, "sending");
		go_down(p);
	} else if (watch(p, r == 1 ? EV_WRITE | EV_READ : EV_READ) != 0) {
		go_down(p);
	}
}

static void
setup_start(struct pgsql *p)
{
	char sql[2048];
	size_t len;

	if (PQsetnonblocking(p->conn, 1) != 0) {
		set_conn_error(p, "non-blocking mode");
		go_down(p);
		return;
	}
	if (quote_table(p->conn, p->table_name, p->table,
	    sizeof(p->table)) != 0 || build_insert(p) != 0) {
		set_conn_error(p, "quoting [postgresql] table");
		go_down(p);
		return;
	}
	(void)pgsql_ddl(p->table, sql, sizeof(sql));
	len = strlen(sql);
	snprintf(sql + len, sizeof(sql) - len, "SET TIME ZONE 'UTC';");
	p->state = PG_SETUP;
	p->failed = false;
	if (!PQsendQuery(p->conn, sql)) {
		set_conn_error(p, "creating the table");
		go_down(p);
		return;
	}
	after_send(p);
}

static void
fmt_value(char *buf, int field, int64_t v)
{
	if (v == OMNIK_ABSENT)
		buf[0] = '\0';
	else
		omnik_format_value((enum omnik_field)field, v, buf, VAL_LEN);
}

static void
query_start_insert(struct pgsql *p)
{
	int np = 0;

	for (int r = 0; r < p->nrows; r++) {
		const struct journal_row *row = &p->rows[r];
		char *v = p->vals + (size_t)r * NCOLS * VAL_LEN;
		struct tm tm;
		time_t t = row->when.tv_sec;

		gmtime_r(&t, &tm);
		snprintf(v, VAL_LEN, "%04d-%02d-%02d %02d:%02d:%02d.%06u+00",
		    (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100,
		    tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
		    tm.tm_sec % 100, (unsigned)row->when.tv_usec % 1000000u);
		snprintf(v + VAL_LEN, VAL_LEN, "%s", row->r.inverter_sn);
		snprintf(v + 2 * VAL_LEN, VAL_LEN, "%lu",
		    (unsigned long)row->r.kit_sn);
		snprintf(v + 3 * VAL_LEN, VAL_LEN, "%s", row->r.fw_main);
		snprintf(v + 4 * VAL_LEN, VAL_LEN, "%s", row->r.fw_slave);
		for (int c = 0; c < NCOLS; c++) {
			char *cell = v + (size_t)c * VAL_LEN;

			if (c >= 5)
				fmt_value(cell, c - 5, row->r.value[c - 5]);
			/* Empty means NULL (absent value, no firmware). */
			p->params[np++] = cell[0] != '\0' || c < 3 ? cell :
			    NULL;
		}
	}
	{
		static const char tail[] = " ON CONFLICT DO NOTHING";
		size_t len = p->group_end[p->nrows - 1];
		char *q = malloc(len + sizeof(tail));
		int ok;

		if (q == NULL) {
			snprintf(p->last_err, sizeof(p->last_err), "out of "
			    "memory");
			go_down(p);
			return;
		}
		/* The prepared text up to this batch's last VALUES group. */
		memcpy(q, p->insert_sql, len);
		memcpy(q + len, tail, sizeof(tail));
		p->state = PG_BUSY;
		p->failed = false;
		ok = PQsendQueryParams(p->conn, q, np, NULL, p->params, NULL,
		    NULL, 0);
		free(q);
		if (!ok) {
			set_conn_error(p, "sending readings");
			go_down(p);
			return;
		}
	}
	after_send(p);
}

/* A query finished: results all read. */
static void
query_done(struct pgsql *p)
{
	int n = p->nrows;

	if (p->state == PG_SETUP) {
		if (p->failed) {
			go_down(p);
			return;
		}
		log_info("output postgresql: connected, table %s ready",
		    p->table);
		p->state = PG_READY;
	} else if (p->state == PG_BUSY) {
		p->state = PG_READY;
		p->nrows = 0;
		if (p->failed) {
			/* A rejected statement: keep the rows, try later. */
			log_warnx("output postgresql: %s", p->last_err);
			delivery_done(p->d, 0, DELIVERY_RETRY, 0);
			return;
		}
		delivery_done(p->d, n, DELIVERY_OK, 0);
		return;
	}
	if (p->nrows > 0)
		query_start_insert(p);
	else if (watch(p, EV_READ) != 0)	/* notice a dropped link */
		go_down(p);
}

static void
on_socket(evutil_socket_t fd, short what, void *arg)
{
	struct pgsql *p = arg;
	PGresult *res;

	(void)fd;
	if (what & EV_TIMEOUT) {
		if (p->state == PG_READY) {	/* idle: just watch again */
			if (watch(p, EV_READ) != 0)
				go_down(p);
			return;
		}
		snprintf(p->last_err, sizeof(p->last_err), "no answer for %d s",
		    PG_TIMEOUT_S);
		go_down(p);
		return;
	}
	if (p->state == PG_CONNECTING) {
		switch (PQconnectPoll(p->conn)) {
		case PGRES_POLLING_READING:
			if (watch(p, EV_READ) != 0)
				go_down(p);
			return;
		case PGRES_POLLING_WRITING:
			if (watch(p, EV_WRITE) != 0)
				go_down(p);
			return;
		case PGRES_POLLING_OK:
			setup_start(p);
			return;
		default:
			set_conn_error(p, "cannot connect");
			go_down(p);
			return;
		}
	}
	if ((what & EV_WRITE) && PQflush(p->conn) < 0) {
		set_conn_error(p, "sending");
		go_down(p);
		return;
	}
	if (!(what & EV_READ)) {
		after_send(p);
		return;
	}
	if (!PQconsumeInput(p->conn)) {
		set_conn_error(p, "connection lost");
		go_down(p);
		return;
	}
	if (p->state == PG_READY) {	/* a notice, or the server closing */
		if (PQstatus(p->conn) == CONNECTION_BAD) {
			set_conn_error(p, "connection lost");
			go_down(p);
		} else if (watch(p, EV_READ) != 0) {
			go_down(p);
		}
		return;
	}
	while (!PQisBusy(p->conn)) {
		res = PQgetResult(p->conn);
		if (res == NULL) {
			query_done(p);
			return;
		}
		if (PQresultStatus(res) != PGRES_COMMAND_OK &&
		    PQresultStatus(res) != PGRES_TUPLES_OK) {
			p->failed = true;
			snprintf(p->last_err, sizeof(p->last_err), "%s",
			    PQresultErrorMessage(res));
			p->last_err[strcspn(p->last_err, "\n")] = '\0';
		}
		PQclear(res);
	}
	if (PQstatus(p->conn) == CONNECTION_BAD) {
		set_conn_error(p, "connection lost");
		go_down(p);
	} else if (watch(p, EV_READ) != 0) {
		go_down(p);
	}
}

static int
pg_send(void *ctx, const struct journal_row *rows, int n)
{
	struct pgsql *p = ctx;

	p->rows = rows;
	p->nrows = n;
	switch (p->state) {
	case PG_DOWN:
		return connect_begin(p) == 0 ? 0 : -1;
	case PG_READY:
		query_start_insert(p);
		return 0;
	default:
		return 0;	/* sent once the connection is set up */
	}
}

static void
pg_free(void *ctx)
{
	struct pgsql *p = ctx;

	if (p == NULL)
		return;
	resolve_free(p->res);
	if (p->ev)
		event_free(p->ev);
	if (p->conn)
		PQfinish(p->conn);
	free(p->conninfo);
	free(p->insert_sql);
	free(p->group_end);
	free(p->vals);
	free(p->params);
	free(p);
}

static const struct delivery_ops pg_ops = { pg_send, pg_free };

static int
build_insert(struct pgsql *p)
{
	size_t cap = 768 + (size_t)p->batch * NCOLS * 8, len;
	char col[16];
	int np = 1;

	/* Again on every connection: the quoting is the connection's. */
	free(p->insert_sql);
	free(p->group_end);
	p->insert_sql = malloc(cap);
	p->group_end = calloc((size_t)p->batch, sizeof(*p->group_end));
	if (p->insert_sql == NULL || p->group_end == NULL)
		return -1;
	len = (size_t)snprintf(p->insert_sql, cap, "INSERT INTO %s (time, "
	    "inverter_sn, kit_sn, fw_main, fw_slave", p->table);
	for (int i = 0; i < OMNIK_NFIELDS; i++) {
		col_name(i, col, sizeof(col));
		len += (size_t)snprintf(p->insert_sql + len, cap - len, ", %s",
		    col);
	}
	len += (size_t)snprintf(p->insert_sql + len, cap - len, ") VALUES ");
	for (int r = 0; r < p->batch; r++) {
		for (int c = 0; c < NCOLS; c++)
			len += (size_t)snprintf(p->insert_sql + len, cap - len,
			    "%s$%d%s", c == 0 ? (r ? ",(" : "(") : "", np++,
			    c + 1 == NCOLS ? ")" : ",");
		p->group_end[r] = len;
		if (len + 64 >= cap)
			return -1;
	}
	return 0;
}

static struct delivery *
pgsql_start(struct journal *j, struct event_base *base,
    const struct pgsql_conf *o, char *err, size_t errlen)
{
	struct delivery_opts dopt = { .name = "postgresql", .batch = o->batch };
	struct pgsql *p;

	if (dynlib_load(&pgsql_pq_lib, err, errlen) != 0)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		goto nomem;
	p->base = base;
	p->batch = o->batch < 1 ? 1 : o->batch > DELIVERY_BATCH_MAX ?
	    DELIVERY_BATCH_MAX : o->batch;
	dopt.batch = p->batch;
	if (o->table[0] == '\0' || strlen(o->table) >= sizeof(p->table_name)) {
		snprintf(err, errlen, "[postgresql] table: bad name '%s'",
		    o->table);
		pg_free(p);
		return NULL;
	}
	snprintf(p->table_name, sizeof(p->table_name), "%s", o->table);
	p->conninfo = strdup(o->conninfo);
	p->res = resolve_new(base, on_resolved, p);
	p->vals = calloc((size_t)p->batch * NCOLS, VAL_LEN);
	p->params = calloc((size_t)p->batch * NCOLS, sizeof(*p->params));
	if (p->conninfo == NULL || p->res == NULL || p->vals == NULL ||
	    p->params == NULL)
		goto nomem;
	/* Catch a malformed connection string now, not at the first try. */
	{
		char *msg = NULL;
		PQconninfoOption *opts = PQconninfoParse(o->conninfo, &msg);

		if (opts == NULL) {
			snprintf(err, errlen, "[postgresql] conninfo: %s",
			    msg ? msg : "out of memory");
			PQfreemem(msg);
			pg_free(p);
			return NULL;
		}
		{
			const char *h = pg_opt_get(opts, "host", "PGHOST");

			if (pg_list_count(h) > PG_HOSTS_MAX) {
				snprintf(err, errlen, "[postgresql] conninfo: "
				    "more than %d hosts", PG_HOSTS_MAX);
				PQconninfoFree(opts);
				pg_free(p);
				return NULL;
			}
		}
		PQconninfoFree(opts);
	}
	p->d = delivery_new(j, base, &dopt, &pg_ops, p, err, errlen);
	if (p->d == NULL) {
		pg_free(p);
		return NULL;
	}
	return p->d;
nomem:
	snprintf(err, errlen, "out of memory");
	pg_free(p);
	return NULL;
}

/* --- the driver and its section -------------------------------------- */

/* [SCHEMA.]TABLE: PostgreSQL names are at most 63 bytes. */
static int
check_table(const char *value, char *err, size_t errlen)
{
	const char *dot = strchr(value, '.');
	size_t a = dot ? (size_t)(dot - value) : strlen(value);
	size_t b = dot ? strlen(dot + 1) : 1;

	if (a == 0 || b == 0 || a > 63 || b > 63 || (dot &&
	    strchr(dot + 1, '.'))) {
		snprintf(err, errlen, "'%s' is not TABLE or SCHEMA.TABLE "
		    "(each at most 63 bytes)", value);
		return -1;
	}
	return 0;
}

static const struct config_key keys[] = {
	/* A list, so that a long TLS conninfo goes on indented lines. */
	CONFIG_KEY_LIST(struct pgsql_conf, "conninfo", conninfo, "",
	    "libpq connection string (host, dbname, user, sslmode...), "
	    "continued on indented lines; empty: off", .conninfo = true),
	CONFIG_KEY_STR(struct pgsql_conf, "table", table, "omniklog_readings",
	    "[SCHEMA.]TABLE the readings go to (the table is created if "
	    "missing, the schema must exist)", .check = check_table),
	CONFIG_KEY_INT(struct pgsql_conf, "batch", batch, 1, 1000, "200",
	    "readings per INSERT"),
};

const struct config_section pgsql_section =
    CONFIG_SECTION("postgresql", struct pgsql_conf, keys);

static bool
pgsql_enabled(const void *conf)
{
	const struct pgsql_conf *c = conf;

	return c->conninfo[0] != '\0';
}

static int
pgsql_driver_start(struct journal *j, struct event_base *base,
    const void *conf, struct delivery **out, int max, int *n, char *err,
    size_t errlen)
{
	*n = 0;
	if (max < 1) {
		snprintf(err, errlen, "postgresql: too many outputs");
		return -1;
	}
	if ((out[0] = pgsql_start(j, base, conf, err, errlen)) == NULL)
		return -1;
	*n = 1;
	return 0;
}

static void
pgsql_status(void *ctx, struct output_status *st)
{
	const struct pgsql *p = ctx;

	/* Only a failure writes it: it is the last one, not the state. */
	snprintf(st->last_error, sizeof(st->last_error), "%.255s",
	    p->last_err);
}

const struct output_driver pgsql_driver = {
	.name = "postgresql",
	.section = &pgsql_section,
	.enabled = pgsql_enabled,
	.start = pgsql_driver_start,
	.status = pgsql_status,
};
