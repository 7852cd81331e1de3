/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_discover.c: the discovery reply parser and the status page parser
 * on good, hostile and borderline input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "discover.h"
#include "probe.h"

static struct in_addr
ip(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a;
}

static enum discover_reply
parse(const char *reply, const char *src, struct discover_kit *k)
{
	return discover_parse_reply(reply, strlen(reply), ip(src), k);
}

static void
test_reply_good(void **state)
{
	struct discover_kit k;

	(void)state;
	assert_int_equal(parse("192.0.2.50,ACCF23A1B2C3,602302630", "192.0.2.50",
	    &k), DISCOVER_REPLY_OK);
	assert_int_equal(k.serial, 602302630u);
	assert_string_equal(k.mac, "ac:cf:23:a1:b2:c3");
	assert_int_equal(k.addr.s_addr, ip("192.0.2.50").s_addr);
	/* CR LF, and the separated MAC forms. */
	assert_int_equal(parse("192.0.2.7,ac-cf-23-a1-b2-c3,4294967295\r\n",
	    "192.0.2.7", &k), DISCOVER_REPLY_OK);
	assert_int_equal(k.serial, 4294967295u);
	assert_int_equal(parse("192.0.2.7,AC:CF:23:A1:B2:C3,1\n", "192.0.2.7",
	    &k), DISCOVER_REPLY_OK);
	assert_int_equal(k.serial, 1u);
	/* NUL padding, as some modules send a fixed-size buffer. */
	assert_int_equal(discover_parse_reply("192.0.2.7,ACCF23A1B2C3,7\0\0\0",
	    28, ip("192.0.2.7"), &k), DISCOVER_REPLY_OK);
}

static void
test_reply_spoofed(void **state)
{
	struct discover_kit k = { .serial = 42 };

	(void)state;
	assert_int_equal(parse("192.0.2.50,ACCF23A1B2C3,602302630",
	    "192.0.2.51", &k), DISCOVER_REPLY_SPOOFED);
	assert_int_equal(k.serial, 42u);	/* untouched */
}

static void
test_reply_malformed(void **state)
{
	static const char *bad[] = {
		"",
		"192.0.2.50",
		"192.0.2.50,ACCF23A1B2C3",
		"192.0.2.50,ACCF23A1B2C3,602302630,extra",
		"192.0.2.50,ACCF23A1B2C3,602302630,",
		",ACCF23A1B2C3,602302630",
		"192.0.2.50,,602302630",
		"192.0.2.50,ACCF23A1B2C3,",
		"192.0.2.050,ACCF23A1B2C3,602302630",	/* leading zero */
		"192.0.2,ACCF23A1B2C3,602302630",
		"192.0.2.256,ACCF23A1B2C3,602302630",
		"0xc0.0.2.50,ACCF23A1B2C3,602302630",
		"192.0.2.50,ACCF23A1B2C,602302630",	/* 11 digits */
		"192.0.2.50,ACCF23A1B2CG,602302630",
		"192.0.2.50,AC:CF:23-A1:B2:C3,602302630",	/* mixed */
		"192.0.2.50,AC:CF:23:A1:B2:C3:,602302630",
		"192.0.2.50,ACCF23A1B2C3,4294967296",	/* > 0xFFFFFFFF */
		"192.0.2.50,ACCF23A1B2C3,99999999999",
		"192.0.2.50,ACCF23A1B2C3,0",
		"192.0.2.50,ACCF23A1B2C3,0602302630",
		"192.0.2.50,ACCF23A1B2C3,-1",
		"192.0.2.50,ACCF23A1B2C3,+602302630",
		"192.0.2.50,ACCF23A1B2C3,602302630 ",
		"192.0.2.50,ACCF23A1B2C3,60230x2630",
		"192.0.2.50, ACCF23A1B2C3,602302630",
		"192.0.2.50,ACCF23A1B2C3,HF-LPB100",	/* a module name */
		"+ok",
		"192.0.2.50,ACCF23A1B2C3,602302630\r\n\r\n",
		"WIFIKIT-214028-READ",
	};
	struct discover_kit k;
	char big[200];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i], "192.0.2.50", &k) != DISCOVER_REPLY_MALFORMED)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	/* A control byte inside, and an overlong datagram. */
	assert_int_equal(discover_parse_reply("192.0.2.50,ACCF23A1B2C3,60\0" "2",
	    28, ip("192.0.2.50"), &k), DISCOVER_REPLY_MALFORMED);
	memset(big, '1', sizeof(big));
	memcpy(big, "192.0.2.50,ACCF23A1B2C3,", 24);
	assert_int_equal(discover_parse_reply(big, sizeof(big),
	    ip("192.0.2.50"), &k), DISCOVER_REPLY_MALFORMED);
}

#define PAGE(s) (s), (sizeof(s) - 1)

static void
test_page_js(void **state)
{
	struct probe_page_info in;

	(void)state;
	probe_page_parse(PROBE_PAGE_JS, PAGE("var version=\"H4.01\";"
	    "var webData=\"NLBN1234567A1234,V5.2,V4.1,omnik4000tl2,4000,1920,"
	    "429,87419,,3,\";var m2mRssi=\"60%\";"), &in);
	assert_true(in.understood);
	assert_string_equal(in.inverter_sn, "NLBN1234567A1234");
	assert_true(in.has_power);
	assert_int_equal(in.power, 1920);
	assert_false(in.push[0].shown);
	/* The other firmware's array, blanks around '='. */
	probe_page_parse(PROBE_PAGE_HTML, PAGE("<script>var myDeviceArray="
	    "new Array(); myDeviceArray[0] = \"AANN3020,V5.04,V4.13,"
	    "Omnik3000tl,3000,1313,685,9429,,1,\";</script>"), &in);
	assert_true(in.understood);
	assert_string_equal(in.inverter_sn, "AANN3020");
	assert_int_equal(in.power, 1313);
	/* Night: an unset serial and no power are not shown as values. */
	probe_page_parse(PROBE_PAGE_JS, PAGE("webData=\"XXXXXXXXXXXXXXXX,,,,"
	    ",,,,,\";"), &in);
	assert_true(in.understood);
	assert_string_equal(in.inverter_sn, "");
	assert_false(in.has_power);
}

static void
test_page_js_hostile(void **state)
{
	static const char *bad[] = {
		"",
		"webData",
		"webData=",
		"webData=\"",
		"webData=\"NLBN1,2,3\"",		/* too few fields */
		"webData=NLBN1,a,b,c,d,1920,",		/* not quoted */
	};
	struct probe_page_info in;
	char big[2000];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		probe_page_parse(PROBE_PAGE_JS, bad[i], strlen(bad[i]), &in);
		if (in.understood)
			fail_msg("understood \"%s\"", bad[i]);
	}
	/* Characters outside a serial, a power that is not a number. */
	probe_page_parse(PROBE_PAGE_JS, PAGE("webData=\"NL<b>N,a,b,c,d,-5,,\""),
	    &in);
	assert_string_equal(in.inverter_sn, "");
	assert_false(in.has_power);
	probe_page_parse(PROBE_PAGE_JS, PAGE("webData=\"NLBN12345678901234,a,b,"
	    "c,d,99999999,,\""), &in);
	assert_string_equal(in.inverter_sn, "");	/* 18 characters */
	assert_false(in.has_power);
	/* An endless value is not one. */
	memset(big, 'A', sizeof(big));
	memcpy(big, "webData=\"", 9);
	big[sizeof(big) - 1] = '"';
	probe_page_parse(PROBE_PAGE_JS, big, sizeof(big), &in);
	assert_false(in.understood);
	/* A page cut off before its end is read within its length. */
	probe_page_parse(PROBE_PAGE_JS, "webData=\"A,b,c,d,e,5,\"", 12, &in);
	assert_false(in.understood);
}

static void
test_page_json(void **state)
{
	struct probe_page_info in;

	(void)state;
	probe_page_parse(PROBE_PAGE_JSON, PAGE("{\"g_sn\":1902944440,"
	    "\"i_sn\":\"NLBN50201894N038\",\"i_pow\":\"5000\",\"i_pow_n\":290,"
	    "\"l_a_agr\":0,\"l_a_ip\":\"203.0.113.69\",\"l_a_port\":10004,"
	    "\"mac\":\"bc-54-f9-f5-48-e0\"}"), &in);
	assert_true(in.understood);
	assert_string_equal(in.inverter_sn, "NLBN50201894N038");
	assert_int_equal(in.power, 290);
	assert_true(in.push[0].shown);
	assert_string_equal(in.push[0].host, "203.0.113.69");
	assert_int_equal(in.push[0].port, 10004);
	assert_false(in.push[1].shown);
	/* Blanks and line breaks between members, a name as the host. */
	probe_page_parse(PROBE_PAGE_JSON, PAGE("{\n \"i_pow_n\" : 0,\n "
	    "\"l_a_ip\" : \"portal.example.net\",\n \"l_a_port\" : 10000,\n"
	    " \"l_b_ip\":\"198.51.100.9\", \"l_b_port\":8000 }"), &in);
	assert_true(in.has_power);
	assert_int_equal(in.power, 0);
	assert_string_equal(in.push[0].host, "portal.example.net");
	assert_int_equal(in.push[0].port, 10000);
	assert_true(in.push[1].shown);
	assert_string_equal(in.push[1].host, "198.51.100.9");
	assert_int_equal(in.push[1].port, 8000);
}

static void
test_page_json_hostile(void **state)
{
	struct probe_page_info in;

	(void)state;
	/* Unset, out of range, or odd characters: not shown. */
	probe_page_parse(PROBE_PAGE_JSON, PAGE("{\"l_a_ip\":\"0.0.0.0\","
	    "\"l_a_port\":10004}"), &in);
	assert_false(in.push[0].shown);
	probe_page_parse(PROBE_PAGE_JSON, PAGE("{\"l_a_ip\":\"203.0.113.69\","
	    "\"l_a_port\":70000}"), &in);
	assert_false(in.push[0].shown);
	probe_page_parse(PROBE_PAGE_JSON, PAGE("{\"l_a_ip\":\"203.0.113.69\","
	    "\"l_a_port\":0}"), &in);
	assert_false(in.push[0].shown);
	probe_page_parse(PROBE_PAGE_JSON, PAGE("{\"l_a_ip\":\"a b<script>\","
	    "\"l_a_port\":1}"), &in);
	assert_false(in.push[0].shown);
	probe_page_parse(PROBE_PAGE_JSON, PAGE("{\"l_a_ip\":\"x\\\"y\","
	    "\"l_a_port\":1}"), &in);
	assert_false(in.push[0].shown);
	probe_page_parse(PROBE_PAGE_JSON, PAGE("{\"l_a_ip\":\"203.0.113.69\"}"),
	    &in);
	assert_false(in.push[0].shown);
	probe_page_parse(PROBE_PAGE_JSON, PAGE("{\"l_a_ip\":\"203.0.113.69"),
	    &in);
	assert_false(in.push[0].shown);
	/* A key as a value is not the key. */
	probe_page_parse(PROBE_PAGE_JSON, PAGE("{\"x\":\"i_pow_n\",\"y\":5}"),
	    &in);
	assert_false(in.understood);
	/* A number's digits are not the number when more follows them:
	 * 1e9 W is not 1 W, 12.5 not 12, a port 1000.5 not 1000. */
	probe_page_parse(PROBE_PAGE_JSON, PAGE("{\"i_pow_n\":1e9}"), &in);
	assert_true(in.understood);
	assert_false(in.has_power);
	probe_page_parse(PROBE_PAGE_JSON, PAGE("{\"i_pow_n\":12.5}"), &in);
	assert_false(in.has_power);
	probe_page_parse(PROBE_PAGE_JSON, PAGE("{\"i_pow_n\":290abc}"), &in);
	assert_false(in.has_power);
	probe_page_parse(PROBE_PAGE_JSON, PAGE("{\"l_a_ip\":\"203.0.113.69\","
	    "\"l_a_port\":1000.5}"), &in);
	assert_false(in.push[0].shown);
	/* Blanks, ',' or '}' after the digits end a number. */
	probe_page_parse(PROBE_PAGE_JSON, PAGE("{\"i_pow_n\":290 }"), &in);
	assert_true(in.has_power);
	assert_int_equal(in.power, 290);
	/* The page's end may have cut it: 290 of 2900. */
	probe_page_parse(PROBE_PAGE_JSON, PAGE("{\"i_pow_n\":290"), &in);
	assert_false(in.has_power);
	probe_page_parse(PROBE_PAGE_JSON, PAGE("{\"i_pow_n\":\"\"}"), &in);
	assert_true(in.understood);
	assert_false(in.has_power);
	probe_page_parse(PROBE_PAGE_JSON, NULL, 0, &in);
	assert_false(in.understood);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_good),
		cmocka_unit_test(test_reply_spoofed),
		cmocka_unit_test(test_reply_malformed),
		cmocka_unit_test(test_page_js),
		cmocka_unit_test(test_page_js_hostile),
		cmocka_unit_test(test_page_json),
		cmocka_unit_test(test_page_json_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
