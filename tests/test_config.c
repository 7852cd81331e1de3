/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_config.c: the INI file: defaults, every type, errors with their
 * line numbers, flags overriding the file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "pgsql.h"
#include "registry.h"

static char path[] = "/tmp/omniklog-conf-XXXXXX";

static void
write_file(const char *text)
{
	int fd = mkstemp(path);
	FILE *fp;

	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	fputs(text, fp);
	fclose(fp);
}

static void
done(void)
{
	unlink(path);
	strcpy(path, "/tmp/omniklog-conf-XXXXXX");
}

static void
test_defaults(void **state)
{
	struct config c;

	(void)state;
	config_defaults(&c);
	assert_string_equal(c.user, "omniklog");
	assert_string_equal(c.listen, "10004");
	assert_string_equal(c.upstream, "original");
	assert_string_equal(c.ports, "10004");
	assert_string_equal(c.csv, "");
	assert_int_equal(c.nfqueue, -1);
	assert_true(c.promisc);
}

static void
test_good_file(void **state)
{
	struct config c;
	char err[1024];

	(void)state;
	write_file("# comment\n[omniklog]\nuser = pi\ncsv = /tmp/x.csv\n"
	    "verbose = 1\n\n[relay]\nlisten = 10004\nlisten = [::1]:10005\n"
	    "upstream = none ; inline comment\n[sniff]\npromisc = no\n"
	    "ports = 10004\nports = 8899\n");
	config_defaults(&c);
	assert_int_equal(config_load(&c, path, err, sizeof(err)), 0);
	assert_string_equal(c.user, "pi");
	assert_string_equal(c.csv, "/tmp/x.csv");
	assert_int_equal(c.verbose, 1);
	/* A list named in the file replaces its default, then grows. */
	assert_string_equal(c.listen, "10004 [::1]:10005");
	assert_string_equal(c.upstream, "none");
	assert_false(c.promisc);
	assert_string_equal(c.ports, "10004 8899");
	/* A flag overrides the file. */
	assert_int_equal(config_set(&c, "relay", "upstream",
	    "203.0.113.69:10004", err, sizeof(err)), 0);
	assert_string_equal(c.upstream, "203.0.113.69:10004");
	done();
}

/* Every problem, each with its line number, in one run. */
static void
test_errors_with_lines(void **state)
{
	struct config c;
	char err[2048], want[512];

	(void)state;
	write_file("[omniklog]\nuser = pi\nusr = typo\n[relay]\n"
	    "idle_timeout = soon\nmax_buffer = 10\n[nosuch]\nx = 1\n"
	    "[sniff]\npromisc = maybe\n");
	config_defaults(&c);
	assert_int_equal(config_load(&c, path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:3: unknown key 'usr' in section "
	    "[omniklog]", path);
	assert_non_null(strstr(err, want));
	snprintf(want, sizeof(want), "%s:5: [relay] idle_timeout: 'soon' is "
	    "not a whole number", path);
	assert_non_null(strstr(err, want));
	snprintf(want, sizeof(want), "%s:6: [relay] max_buffer: '10'", path);
	assert_non_null(strstr(err, want));
	snprintf(want, sizeof(want), "%s:8: unknown section [nosuch]", path);
	assert_non_null(strstr(err, want));
	snprintf(want, sizeof(want), "%s:10: [sniff] promisc: 'maybe' is not "
	    "yes or no", path);
	assert_non_null(strstr(err, want));
	/* Good keys before and after still took effect. */
	assert_string_equal(c.user, "pi");
	done();
}

static void
test_syntax_and_missing(void **state)
{
	struct config c;
	char err[1024], want[256];

	(void)state;
	write_file("[omniklog]\nthis line has no equals sign\n");
	config_defaults(&c);
	assert_int_equal(config_load(&c, path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:2: syntax error", path);
	assert_non_null(strstr(err, want));
	done();

	write_file("user = pi\n");
	assert_int_equal(config_load(&c, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "outside any section"));
	done();

	assert_int_equal(config_load(&c, "/nonexistent/omniklog.conf", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot read /nonexistent/omniklog.conf"));
	assert_int_equal(config_set(&c, "relay", "nope", "1", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown key 'nope'"));
}

/* The dump is itself a valid config that loads to the same settings. */
static void
test_dump_roundtrip(void **state)
{
	struct config a, b;
	char err[1024];
	FILE *fp;
	int fd;

	(void)state;
	config_defaults(&a);
	assert_int_equal(config_set(&a, "omniklog", "csv", "/x.csv", err,
	    sizeof(err)), 0);
	fd = mkstemp(path);
	fp = fdopen(fd, "w");
	config_dump(&a, fp);
	fclose(fp);
	memset(&b, 0x55, sizeof(b));
	config_defaults(&b);
	assert_int_equal(config_load(&b, path, err, sizeof(err)), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	done();
}

/*
 * The cap: a file of exactly CONFIG_MAX_SIZE bytes is read to its last
 * line, one byte more is refused. A file whose size says less than it
 * holds (procfs reports 0) is read to its end all the same.
 */
static void
test_size_cap(void **state)
{
	static const char key[] = "[omniklog]\nuser = last\n";
	struct config c;
	char err[1024];
	char *text;
	size_t pad = CONFIG_MAX_SIZE - (sizeof(key) - 1);

	(void)state;
	assert_non_null(text = malloc(CONFIG_MAX_SIZE + 2));
	memset(text, '#', pad);
	for (size_t i = 79; i < pad; i += 80)
		text[i] = '\n';
	text[pad - 1] = '\n';
	memcpy(text + pad, key, sizeof(key));
	write_file(text);
	config_defaults(&c);
	assert_int_equal(config_load(&c, path, err, sizeof(err)), 0);
	assert_string_equal(c.user, "last");
	done();
	memcpy(text + pad, "[omniklog]\nuser = lastX\n", sizeof(key) + 1);
	write_file(text);
	config_defaults(&c);
	assert_int_equal(config_load(&c, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "larger than a config file may be"));
	assert_string_equal(c.user, "omniklog");
	done();
	free(text);
	/* "test_config" (its comm) is a line without '=': line 1 failed. */
	config_defaults(&c);
	assert_int_equal(config_load(&c, "/proc/self/comm", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "/proc/self/comm:1:"));
}

static void
test_ports(void **state)
{
	uint16_t p[4];
	char err[256];

	(void)state;
	assert_int_equal(config_ports("10004", p, 4, err, sizeof(err)), 1);
	assert_int_equal(p[0], 10004);
	assert_int_equal(config_ports(" 10004, 8899 1", p, 4, err,
	    sizeof(err)), 3);
	assert_int_equal(p[1], 8899);
	assert_int_equal(p[2], 1);
	assert_int_equal(config_ports("10004 65536", p, 4, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "'10004 65536' is not a list of TCP ports"));
	assert_int_equal(config_ports("80x", p, 4, err, sizeof(err)), -1);
	assert_int_equal(config_ports("0", p, 4, err, sizeof(err)), -1);
	assert_int_equal(config_ports("1 2 3 4 5", p, 4, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "at most 4"));
	assert_int_equal(config_ports(" , ", p, 4, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no TCP port"));
}

/* Flags go on top of the file, and again when it is read anew. */
static void
test_build_with_overrides(void **state)
{
	struct config c;
	struct config_overrides o = { .n = 0 };
	char err[1024];

	(void)state;
	write_file("[omniklog]\nuser = pi\ncsv = /file.csv\n");
	assert_int_equal(config_override(&o, "omniklog", "csv", "/flag.csv"), 0);
	assert_int_equal(config_build(&c, path, &o, err, sizeof(err)), 0);
	assert_string_equal(c.user, "pi");
	assert_string_equal(c.csv, "/flag.csv");
	assert_int_equal(config_override(&o, "relay", "bogus", "1"), 0);
	assert_int_equal(config_build(&c, path, &o, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "option: unknown key 'bogus'"));
	done();
	/* An explicit path that does not exist is an error... */
	assert_int_equal(config_build(&c, "/nonexistent/x.conf", NULL, err,
	    sizeof(err)), -1);
	/* ...and the full table of overrides is refused, not overrun. */
	o.n = 0;
	for (int i = 0; i < CONFIG_MAX_OVERRIDES; i++)
		assert_int_equal(config_override(&o, "omniklog", "csv", "x"), 0);
	assert_int_equal(config_override(&o, "omniklog", "csv", "x"), -1);
}

/*
 * A TLS conninfo easily passes inih's 200-byte line: it goes on indented
 * lines, joined with spaces as libpq reads them.
 */
static void
test_long_conninfo(void **state)
{
	struct config c;
	const struct pgsql_conf *pg;
	char err[1024];

	(void)state;
	write_file("[postgresql]\nconninfo = host=db.example.org port=5432 "
	    "dbname=solar user=omniklog\n"
	    "    sslmode=verify-full sslrootcert=/etc/omniklog/pg-ca.pem\n"
	    "    sslcert=/etc/omniklog/pg-client.crt "
	    "sslkey=/etc/omniklog/pg-client.key\ntable = t\n");
	config_defaults(&c);
	assert_int_equal(config_load(&c, path, err, sizeof(err)), 0);
	pg = config_section_get(&c, &pgsql_section);
	assert_non_null(pg);
	assert_string_equal(pg->conninfo, "host=db.example.org port=5432 "
	    "dbname=solar user=omniklog sslmode=verify-full "
	    "sslrootcert=/etc/omniklog/pg-ca.pem "
	    "sslcert=/etc/omniklog/pg-client.crt "
	    "sslkey=/etc/omniklog/pg-client.key");
	assert_string_equal(pg->table, "t");
	done();
}

/* Dumps end up in bug reports: a conninfo password never appears. */
static void
test_dump_hides_conninfo_password(void **state)
{
	struct config c;
	char err[256], *buf = NULL;
	size_t len = 0;
	FILE *fp;

	(void)state;
	config_defaults(&c);
	assert_int_equal(config_set(&c, "postgresql", "conninfo",
	    "host=db password=s3cret dbname=solar", err, sizeof(err)), 0);
	fp = open_memstream(&buf, &len);
	config_dump(&c, fp);
	fclose(fp);
	assert_null(strstr(buf, "s3cret"));
	assert_non_null(strstr(buf, "conninfo = host=db password=(hidden) "
	    "dbname=solar"));
	free(buf);
}

/*
 * A comment after a value is a comment on a continuation line as well
 * (inih strips it on the key's line only): otherwise it became part of
 * the list, and a dump of it read back without it (found by
 * fuzz_config).
 */
static void
test_comment_on_continuation_line(void **state)
{
	struct config c;
	char err[1024];

	(void)state;
	write_file("[relay]\nallow_clients = 192.0.2.0/24 ; the kits\n"
	    "    198.51.100.0/24\t; the office\n"
	    "    203.0.113.0/24;not a comment\n"
	    "    192.0.2.1/32\r; after a CR too, as inih has it\n");
	config_defaults(&c);
	assert_int_equal(config_load(&c, path, err, sizeof(err)), 0);
	assert_string_equal(c.allow_clients,
	    "192.0.2.0/24 198.51.100.0/24 203.0.113.0/24;not a comment "
	    "192.0.2.1/32");
	done();
}

static char *
dump_of(const char *sect, const char *key, const char *value)
{
	struct config c;
	char err[256], *buf = NULL;
	size_t len = 0;
	FILE *fp;

	config_defaults(&c);
	assert_int_equal(config_set(&c, sect, key, value, err, sizeof(err)),
	    0);
	fp = open_memstream(&buf, &len);
	config_dump(&c, fp);
	fclose(fp);
	return buf;
}

/*
 * Every way libpq takes a password stays out of a dump: spaces around
 * the =, a quoted value, the keyword twice, a URI's user info and its
 * query. What is masked is the password, not the rest.
 */
static void
test_dump_hides_every_conninfo_password(void **state)
{
	static const struct {
		const char *conninfo, *dumped;
	} cases[] = {
		{ "host=db password = s3cret dbname=solar",
		  "host=db password=(hidden) dbname=solar" },
		{ "password='s3 cret \\' x' host=db",
		  "password=(hidden) host=db" },
		{ "password=s3cret1 host=db password=s3cret",
		  "password=(hidden) host=db password=(hidden)" },
		{ "host=db PASSWORD=s3cret", NULL },
		{ "postgresql://solar:s3cret@db:5432/solar?sslmode=require",
		  "postgresql://solar:(hidden)@db:5432/solar?sslmode=require" },
		{ "postgres://db/solar?user=u&password=s3cret&sslmode=require",
		  "postgres://db/solar?user=u&password=(hidden)&sslmode=require" },
		{ "host=db password='s3cret", NULL },
		{ "host=db password='x'@s3cret dbname=solar",
		  "host=db password=(hidden) (hidden)" },
		{ "host='db's3cret", "host='db' (hidden)" },
	};
	char want[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *buf = dump_of("postgresql", "conninfo",
		    cases[i].conninfo);

		if (strstr(buf, "s3cret") != NULL)
			fail_msg("case %zu: a password in the dump:\n%s", i,
			    buf);
		if (cases[i].dumped != NULL) {
			snprintf(want, sizeof(want), "conninfo = %s\n",
			    cases[i].dumped);
			if (strstr(buf, want) == NULL)
				fail_msg("case %zu: no \"%s\" in\n%s", i,
				    want, buf);
		}
		free(buf);
	}
}

/*
 * Only a conninfo holds a password to mask: a PVOutput serial that
 * happens to contain "password=" is dumped as it is, so the dump still
 * loads (found by fuzz_config).
 */
static void
test_dump_masks_only_conninfo(void **state)
{
	char *buf;

	(void)state;
	buf = dump_of("pvoutput", "systems", "NLDN3020password=12345");
	assert_non_null(strstr(buf, "systems = NLDN3020password=12345\n"));
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_errors_with_lines),
		cmocka_unit_test(test_syntax_and_missing),
		cmocka_unit_test(test_dump_roundtrip),
		cmocka_unit_test(test_size_cap),
		cmocka_unit_test(test_ports),
		cmocka_unit_test(test_build_with_overrides),
		cmocka_unit_test(test_dump_hides_conninfo_password),
		cmocka_unit_test(test_dump_hides_every_conninfo_password),
		cmocka_unit_test(test_dump_masks_only_conninfo),
		cmocka_unit_test(test_long_conninfo),
		cmocka_unit_test(test_comment_on_continuation_line),
	};

	/* As the programs do: the outputs' sections, before any load. */
	config_register(output_sections);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
