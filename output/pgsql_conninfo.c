/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pgsql_conninfo.c: the PostgreSQL output's connection string, parsed
 * with libpq, and its host names looked up (in a worker thread for the
 * output, blocking for tests): hostaddr= added next to host=, one host
 * entry per address.
 *
 * Why: libpq looks host names up with a blocking getaddrinfo
 * inside PQconnectPoll. So host names are resolved first, in a worker
 * thread (resolve.h), and the connection string handed to libpq gets
 * hostaddr= next to host=: libpq connects to the address and still uses
 * the name for sslmode=verify-full and ~/.pgpass. A name with several
 * addresses becomes that many host entries, tried in order as libpq
 * would. Needing no lookup: a hostaddr already given, unix socket paths,
 * numeric addresses. Not seen by us (so still looked up by libpq, on the
 * loop): a host set only in a pg_service.conf service.
 */
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pgsql.h"
#include "pgsql_int.h"
#include "resolve.h"

/* Entries of a libpq comma-separated list (host, hostaddr, port). */
int
pg_list_count(const char *s)
{
	int n = 1;

	if (s == NULL || s[0] == '\0')
		return 0;
	for (; *s; s++)
		n += *s == ',';
	return n;
}

static void
list_get(const char *s, int i, char *buf, size_t n)
{
	size_t len;

	for (; i > 0 && s; i--) {
		s = strchr(s, ',');
		if (s)
			s++;
	}
	len = s ? strcspn(s, ",") : 0;
	if (len >= n)
		len = n - 1;
	memcpy(buf, s ? s : "", len);
	buf[len] = '\0';
}

/* conninfo options (or the environment libpq would read) by name. */
const char *
pg_opt_get(const PQconninfoOption *opts, const char *key, const char *env)
{
	for (const PQconninfoOption *o = opts; o->keyword; o++)
		if (strcmp(o->keyword, key) == 0 && o->val && o->val[0])
			return o->val;
	return getenv(env);
}

/* keyword='value', quoted as libpq reads it. */
static size_t
put_kv(char *buf, size_t len, const char *k, const char *v)
{
	len += (size_t)sprintf(buf + len, "%s%s='", len ? " " : "", k);
	for (; *v; v++) {
		if (*v == '\'' || *v == '\\')
			buf[len++] = '\\';
		buf[len++] = *v;
	}
	buf[len++] = '\'';
	buf[len] = '\0';
	return len;
}

/* Entry number n of a list (items may be empty: count, not length). */
static void
put_entry(char *list, int n, const char *item)
{
	size_t len = strlen(list);

	snprintf(list + len, PG_HOSTS_MAX * PG_ADDRS_MAX * (PG_HOST_LEN + 1) -
	    len, "%s%s", n > 0 ? "," : "", item);
}

/*
 * The conninfo with hostaddr= from a finished lookup (NULL and last_err
 * if no host entry is left). Each name becomes one host entry per
 * address, its port repeated when ports are given per host.
 */
char *
pg_conninfo_with_addrs(const char *conninfo, const struct pg_lookup *l,
    char *err, size_t errlen)
{
	enum { LIST = PG_HOSTS_MAX * PG_ADDRS_MAX * (PG_HOST_LEN + 1) };
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	const char *host, *port;
	char h[PG_HOST_LEN], pt[PG_HOST_LEN], a[64];
	char *hosts = NULL, *addrs = NULL, *ports = NULL, *out = NULL;
	int nport, nent = 0, first_err = 0, first_bad = -1;
	size_t cap, len = 0;

	if (opts == NULL)
		goto nomem;
	host = pg_opt_get(opts, "host", "PGHOST");
	port = pg_opt_get(opts, "port", "PGPORT");
	nport = pg_list_count(port);
	hosts = calloc(3, LIST);
	if (hosts == NULL)
		goto nomem;
	addrs = hosts + LIST;
	ports = addrs + LIST;
	for (int i = 0; i < l->n; i++) {
		list_get(host, i, h, sizeof(h));
		if (nport > 1)
			list_get(port, i, pt, sizeof(pt));
		if (l->name[i][0] == '\0') {	/* libpq's own: no lookup */
			put_entry(hosts, nent, h);
			put_entry(addrs, nent, "");
			if (nport > 1)
				put_entry(ports, nent, pt);
			nent++;
			continue;
		}
		if (l->err[i] != 0) {
			if (first_bad < 0) {
				first_bad = i;
				first_err = l->err[i];
			}
			continue;
		}
		for (int k = 0; k < pg_list_count(l->addrs[i]); k++) {
			list_get(l->addrs[i], k, a, sizeof(a));
			put_entry(hosts, nent, h);
			put_entry(addrs, nent, a);
			if (nport > 1)
				put_entry(ports, nent, pt);
			nent++;
		}
	}
	if (nent == 0) {
		snprintf(err, errlen, "cannot resolve %s: %s",
		    l->name[first_bad], gai_strerror(first_err));
		goto done;
	}
	if (first_bad >= 0)
		log_warnx("output postgresql: cannot resolve %s: %s (trying "
		    "the other hosts)", l->name[first_bad],
		    gai_strerror(first_err));
	cap = 3 * LIST * 2 + 64;
	for (const PQconninfoOption *o = opts; o->keyword; o++)
		if (o->val)
			cap += strlen(o->keyword) + 2 * strlen(o->val) + 4;
	out = malloc(cap);
	if (out == NULL)
		goto nomem;
	out[0] = '\0';
	for (const PQconninfoOption *o = opts; o->keyword; o++) {
		if (o->val == NULL || strcmp(o->keyword, "host") == 0 ||
		    strcmp(o->keyword, "hostaddr") == 0 ||
		    strcmp(o->keyword, "port") == 0)
			continue;
		len = put_kv(out, len, o->keyword, o->val);
	}
	len = put_kv(out, len, "host", hosts);
	len = put_kv(out, len, "hostaddr", addrs);
	if (nport > 0)
		len = put_kv(out, len, "port", nport > 1 ? ports : port);
	log_debug("output postgresql: host %s, hostaddr %s", hosts, addrs);
	goto done;
nomem:
	snprintf(err, errlen, "out of memory");
done:
	free(hosts);
	if (opts)
		PQconninfoFree(opts);
	return out;
}

/* In a worker thread: look up the names, nothing else. */
void
pg_lookup_work(void *job)
{
	struct pg_lookup *l = job;

	for (int i = 0; i < l->n; i++)
		if (l->name[i][0])
			l->err[i] = resolve_addresses(l->name[i], PG_ADDRS_MAX,
			    l->addrs[i], sizeof(l->addrs[i]));
}

static bool
needs_lookup(const char *h)
{
	/* "" default socket, "/dir" a socket path, "@name" an abstract one. */
	return h[0] != '\0' && h[0] != '/' && h[0] != '@' &&
	    !resolve_is_numeric(h);
}

/*
 * The host names to look up, NULL when none is (all sockets or
 * addresses, or hostaddr given): libpq then gets the conninfo as it is.
 */
struct pg_lookup *
pg_lookup_new(const char *conninfo)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	struct pg_lookup *l = NULL;
	const char *host, *addr;
	bool any = false;

	if (opts == NULL)
		return NULL;		/* libpq will say what is wrong */
	host = pg_opt_get(opts, "host", "PGHOST");
	addr = pg_opt_get(opts, "hostaddr", "PGHOSTADDR");
	if (host && !(addr && addr[0]) && pg_list_count(host) <= PG_HOSTS_MAX &&
	    (l = calloc(1, sizeof(*l))) != NULL) {
		l->n = pg_list_count(host);
		for (int i = 0; i < l->n; i++) {
			list_get(host, i, l->name[i], sizeof(l->name[i]));
			if (needs_lookup(l->name[i]))
				any = true;
			else
				l->name[i][0] = '\0';
		}
	}
	PQconninfoFree(opts);
	if (!any) {
		free(l);
		l = NULL;
	}
	return l;
}

char *
pgsql_conninfo_resolved(const char *conninfo, char *err, size_t errlen)
{
	struct pg_lookup *l;
	char *out;

	/* Callable before pgsql_start: it parses with libpq too. */
	if (dynlib_load(&pgsql_pq_lib, err, errlen) != 0)
		return NULL;
	l = pg_lookup_new(conninfo);
	if (l == NULL) {
		if ((out = strdup(conninfo)) == NULL)
			snprintf(err, errlen, "out of memory");
		return out;
	}
	pg_lookup_work(l);
	out = pg_conninfo_with_addrs(conninfo, l, err, errlen);
	free(l);
	return out;
}
