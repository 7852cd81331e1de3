/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_pgsql.c: the connection string the PostgreSQL output hands libpq
 * after looking host names up (pgsql_conninfo_resolved), read back with
 * libpq's own parser: hostaddr= next to host=, one entry per address,
 * ports kept in step, sockets and addresses untouched, every other
 * option (quotes and all) unchanged. "localhost" resolves through
 * /etc/hosts; a name with an empty label ("db..omk") fails in glibc
 * itself, without a query: no test here sends one to a real DNS server.
 */
#include <libpq-fe.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pgsql.h"
#include "resolve.h"

static char err[256];

/* Value of `key` in a conninfo, "" if unset (static buffer). */
static const char *
get(const char *conninfo, const char *key)
{
	static char val[1024];
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);

	assert_non_null(opts);
	val[0] = '\0';
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (strcmp(o->keyword, key) == 0 && o->val)
			snprintf(val, sizeof(val), "%s", o->val);
	PQconninfoFree(opts);
	return val;
}

static int
count(const char *list)
{
	int n = 1;

	for (; *list; list++)
		n += *list == ',';
	return n;
}

/* Entry i of a comma-separated list (static buffer). */
static const char *
item(const char *list, int i)
{
	static char buf[256];
	size_t len;

	for (; i > 0; i--)
		list = strchr(list, ',') + 1;
	len = strcspn(list, ",");
	snprintf(buf, sizeof(buf), "%.*s", (int)len, list);
	return buf;
}

static void
name_gets_hostaddr(void **state)
{
	char *c = pgsql_conninfo_resolved("host=localhost port=5433 "
	    "user=omk dbname=db password='it\\'s a \\\\secret' "
	    "sslmode=verify-full connect_timeout=3", err, sizeof(err));
	char hosts[512], addrs[512];
	int n;

	(void)state;
	assert_non_null(c);
	snprintf(hosts, sizeof(hosts), "%s", get(c, "host"));
	snprintf(addrs, sizeof(addrs), "%s", get(c, "hostaddr"));
	n = count(addrs);
	assert_true(n >= 1 && n <= 4);
	assert_int_equal(count(hosts), n);
	for (int i = 0; i < n; i++) {
		assert_string_equal(item(hosts, i), "localhost");
		assert_true(resolve_is_numeric(item(addrs, i)));
	}
	assert_true(strstr(addrs, "127.0.0.1") || strstr(addrs, "::1"));
	assert_string_equal(get(c, "port"), "5433");
	assert_string_equal(get(c, "user"), "omk");
	assert_string_equal(get(c, "dbname"), "db");
	assert_string_equal(get(c, "password"), "it's a \\secret");
	assert_string_equal(get(c, "sslmode"), "verify-full");
	assert_string_equal(get(c, "connect_timeout"), "3");
	free(c);
}

static void
uri_form(void **state)
{
	char *c = pgsql_conninfo_resolved("postgresql://omk@localhost:5999/"
	    "db?sslmode=require", err, sizeof(err));

	(void)state;
	assert_non_null(c);
	assert_true(resolve_is_numeric(item(get(c, "hostaddr"), 0)));
	assert_string_equal(item(get(c, "host"), 0), "localhost");
	assert_string_equal(get(c, "port"), "5999");
	assert_string_equal(get(c, "user"), "omk");
	assert_string_equal(get(c, "dbname"), "db");
	assert_string_equal(get(c, "sslmode"), "require");
	free(c);
}

/* A socket, a name, an address; a port each: entries stay in step. */
static void
mixed_list(void **state)
{
	char *c = pgsql_conninfo_resolved("host=/run/pg,localhost,192.0.2.7 "
	    "port=1,2,3", err, sizeof(err));
	char hosts[512], addrs[512], ports[512];
	int n;

	(void)state;
	assert_non_null(c);
	snprintf(hosts, sizeof(hosts), "%s", get(c, "host"));
	snprintf(addrs, sizeof(addrs), "%s", get(c, "hostaddr"));
	snprintf(ports, sizeof(ports), "%s", get(c, "port"));
	n = count(hosts);
	assert_true(n >= 3);
	assert_int_equal(count(addrs), n);
	assert_int_equal(count(ports), n);
	assert_string_equal(item(hosts, 0), "/run/pg");
	assert_string_equal(item(addrs, 0), "");
	assert_string_equal(item(ports, 0), "1");
	for (int i = 1; i < n - 1; i++) {
		assert_string_equal(item(hosts, i), "localhost");
		assert_true(resolve_is_numeric(item(addrs, i)));
		assert_string_equal(item(ports, i), "2");
	}
	assert_string_equal(item(hosts, n - 1), "192.0.2.7");
	assert_string_equal(item(addrs, n - 1), "");
	assert_string_equal(item(ports, n - 1), "3");
	free(c);
}

/* Nothing to look up: libpq gets the string as it was. */
static void
untouched(void **state)
{
	static const char *const same[] = {
		"host=/run/postgresql dbname=x",
		"host=192.0.2.7,2001:db8::1 user=u",
		"host=db.invalid hostaddr=192.0.2.7",
		"dbname=x",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		char *c = pgsql_conninfo_resolved(same[i], err, sizeof(err));

		assert_non_null(c);
		assert_string_equal(c, same[i]);
		free(c);
	}
}

static void
unresolvable(void **state)
{
	char *c;

	(void)state;
	err[0] = '\0';
	c = pgsql_conninfo_resolved("host=db..omk", err, sizeof(err));
	assert_null(c);
	assert_non_null(strstr(err, "cannot resolve db..omk"));
	/* One of two gone: the other is tried. */
	c = pgsql_conninfo_resolved("host=db..omk,/run/pg port=7,8",
	    err, sizeof(err));
	assert_non_null(c);
	assert_string_equal(get(c, "host"), "/run/pg");
	assert_string_equal(get(c, "hostaddr"), "");
	assert_string_equal(get(c, "port"), "8");
	free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(name_gets_hostaddr),
		cmocka_unit_test(uri_form),
		cmocka_unit_test(mixed_list),
		cmocka_unit_test(untouched),
		cmocka_unit_test(unresolvable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
