/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_kitaddr.c: [poll] kits lists (common/kitaddr.c): addresses, ports,
 * the 32-bit serial and its edges, and what is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "kitaddr.h"

static void
test_good(void **state)
{
	struct kitaddr k[KITADDR_MAX];
	char err[256];

	(void)state;
	assert_int_equal(kitaddr_parse(" 192.0.2.10/602302630, kit.lan:8898/1 "
	    "[2001:db8::5]/268435455 [2001:db8::6]:80/2147483648\t"
	    "192.0.2.11/4294967295", k, KITADDR_MAX, err, sizeof(err)), 5);
	assert_string_equal(k[0].host, "192.0.2.10");
	assert_int_equal(k[0].port, 8899);
	assert_int_equal(k[0].serial, 602302630u);
	assert_string_equal(k[1].host, "kit.lan");
	assert_int_equal(k[1].port, 8898);
	assert_int_equal(k[1].serial, 1);
	assert_string_equal(k[2].host, "2001:db8::5");
	assert_int_equal(k[2].port, 8899);
	assert_int_equal(k[2].serial, 0x0FFFFFFFu);
	assert_int_equal(k[3].port, 80);
	assert_int_equal(k[3].serial, 0x80000000u);
	assert_int_equal(k[4].serial, 0xFFFFFFFFu);
	assert_int_equal(kitaddr_parse("", k, KITADDR_MAX, err, sizeof(err)), 0);
	assert_int_equal(kitaddr_parse(" , ", k, KITADDR_MAX, err,
	    sizeof(err)), 0);
}

static void
test_bad(void **state)
{
	static const struct {
		const char *list, *why;
	} bad[] = {
		{ "192.0.2.10", "no /SERIAL" },
		{ "192.0.2.10/", "serial is not" },
		{ "192.0.2.10/0", "serial is not" },
		{ "192.0.2.10/4294967296", "serial is not" },
		{ "192.0.2.10/18446744073709551617", "serial is not" },
		{ "192.0.2.10/-1", "serial is not" },
		{ "192.0.2.10/+5", "serial is not" },
		{ "192.0.2.10/0x23e668a6", "serial is not" },
		{ "192.0.2.10/60230263 0", "no /SERIAL" },
		{ "192.0.2.10:0/1", "port is not" },
		{ "192.0.2.10:65536/1", "port is not" },
		{ "192.0.2.10:/1", "port is not" },
		{ "/1", "not HOST" },
		{ "2001:db8::5/1", "port is not" },
		{ "[2001:db8::5/1", "not HOST" },
		{ "[2001:db8::5]x/1", "not HOST" },
		{ "kit;rm/1", "not HOST" },
		{ "192.0.2.10/1 192.0.2.11/1", "twice" },
		{ "192.0.2.10/1 192.0.2.10/2", "twice" },
	};
	struct kitaddr k[KITADDR_MAX];
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (kitaddr_parse(bad[i].list, k, KITADDR_MAX, err,
		    sizeof(err)) != -1 || strstr(err, bad[i].why) == NULL)
			fail_msg("'%s': '%s', want '%s'", bad[i].list, err,
			    bad[i].why);
	}
	/* More kits than room. */
	assert_int_equal(kitaddr_parse("192.0.2.1/1 192.0.2.2/2 192.0.2.3/3",
	    k, 2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than 2 kits"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
