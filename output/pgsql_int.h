/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pgsql_int.h: what the PostgreSQL output's files share (private):
 * libpq loaded at run time, and the connection string's parsing and
 * name lookups (pgsql_conninfo.c) used by the connection (pgsql.c).
 */
#ifndef PGSQL_INT_H
#define PGSQL_INT_H

#include <libpq-fe.h>
#include <stddef.h>

#include "dynlib.h"

/* libpq, loaded at run time: every function the output calls. */
#define PQ_SYMBOLS(X) \
	X(PQclear) X(PQconnectPoll) X(PQescapeIdentifier) X(PQconnectStart) X(PQconninfoFree) \
	X(PQconninfoParse) X(PQconsumeInput) X(PQerrorMessage) X(PQfinish) \
	X(PQflush) X(PQfreemem) X(PQgetResult) X(PQisBusy) \
	X(PQresultErrorMessage) X(PQresultStatus) X(PQsendQuery) \
	X(PQsendQueryParams) X(PQsetnonblocking) X(PQsocket) X(PQstatus)

struct pq_api { PQ_SYMBOLS(DYNLIB_MEMBER) };
extern struct pq_api pgsql_pq;
extern struct dynlib pgsql_pq_lib;	/* loads pgsql_pq */

#define PG_HOSTS_MAX 8			/* host= entries in a conninfo */
#define PG_ADDRS_MAX 4			/* addresses tried per host name */
#define PG_HOST_LEN 256

/* A worker thread's job: the host names of the conninfo to look up. */
struct pg_lookup {
	int n;
	char name[PG_HOSTS_MAX][PG_HOST_LEN];	/* "": no lookup */
	char addrs[PG_HOSTS_MAX][PG_ADDRS_MAX * 64];
	int err[PG_HOSTS_MAX];			/* EAI_* */
};

/* Entries of a libpq comma-separated list (host, hostaddr, port). */
int pg_list_count(const char *s);
/* conninfo options (or the environment libpq would read) by name. */
const char *pg_opt_get(const PQconninfoOption *opts, const char *key,
    const char *env);
/* The conninfo with hostaddr= from a finished lookup (NULL and err). */
char *pg_conninfo_with_addrs(const char *conninfo, const struct pg_lookup *l,
    char *err, size_t errlen);
/* In a worker thread: look up the names, nothing else. */
void pg_lookup_work(void *job);
/* The host names to look up, NULL when none is. */
struct pg_lookup *pg_lookup_new(const char *conninfo);

#endif /* PGSQL_INT_H */

/*
 * libpq's names as the loaded table's members. Not before pgsql.c has
 * built the table from the names themselves (PGSQL_PQ_TABLE; it then
 * includes this again).
 */
#if !defined(PGSQL_PQ_NAMES) && !defined(PGSQL_PQ_TABLE)
#define PGSQL_PQ_NAMES
#define PQclear pgsql_pq.PQclear
#define PQconnectPoll pgsql_pq.PQconnectPoll
#define PQconnectStart pgsql_pq.PQconnectStart
#define PQescapeIdentifier pgsql_pq.PQescapeIdentifier
#define PQconninfoFree pgsql_pq.PQconninfoFree
#define PQconninfoParse pgsql_pq.PQconninfoParse
#define PQconsumeInput pgsql_pq.PQconsumeInput
#define PQerrorMessage pgsql_pq.PQerrorMessage
#define PQfinish pgsql_pq.PQfinish
#define PQflush pgsql_pq.PQflush
#define PQfreemem pgsql_pq.PQfreemem
#define PQgetResult pgsql_pq.PQgetResult
#define PQisBusy pgsql_pq.PQisBusy
#define PQresultErrorMessage pgsql_pq.PQresultErrorMessage
#define PQresultStatus pgsql_pq.PQresultStatus
#define PQsendQuery pgsql_pq.PQsendQuery
#define PQsendQueryParams pgsql_pq.PQsendQueryParams
#define PQsetnonblocking pgsql_pq.PQsetnonblocking
#define PQsocket pgsql_pq.PQsocket
#define PQstatus pgsql_pq.PQstatus
#endif
