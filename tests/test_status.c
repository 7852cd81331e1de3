/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_status.c: the kit's web status pages (proto/status.c) as readings:
 * each page kind, what a page reading carries and leaves absent, the
 * known garbage refused, and hostile pages (cut off, overlong, odd bytes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "omnik.h"

static enum omnik_err
parse(enum omnik_page kind, const char *page, struct omnik_status *st,
    char *why, size_t n)
{
	/* An exact-size copy: a read past the page is an ASan error. */
	size_t len = strlen(page);
	char *copy = malloc(len ? len : 1);
	enum omnik_err e;

	assert_non_null(copy);
	memcpy(copy, page, len);
	e = omnik_status_parse(kind, copy, len, st, why, n);
	free(copy);
	return e;
}

/* Only the page's fields are present; everything else is absent. */
static void
assert_only_page_fields(const struct omnik_reading *r)
{
	for (int i = 0; i < OMNIK_NFIELDS; i++)
		if (i != OMNIK_PAC1 && i != OMNIK_ETODAY && i != OMNIK_ETOTAL)
			assert_true(r->value[i] == OMNIK_ABSENT);
	assert_int_equal(r->variant, OMNIK_VARIANT_HTTP);
	assert_false(r->historical);
	assert_false(r->has_fault);
}

static void
test_js_webdata(void **state)
{
	struct omnik_status st;
	char why[128], lab[OMNIK_VARIANT_LABEL];

	(void)state;
	assert_int_equal(parse(OMNIK_PAGE_JS,
	    "var version=\"H4.01.38Y1.0.09W1.0.08\";\r\n"
	    "var webData=\"NLDN1020154F2031,V5.07Build230,V4.13Build253,"
	    "omnik2000tl ,2000,1440,429,87556,,1,\";\r\n"
	    "var m2mMid=\"602302630\";\r\n", &st, why, sizeof(why)),
	    OMNIK_OK);
	assert_string_equal(st.reading.inverter_sn, "NLDN1020154F2031");
	assert_string_equal(st.reading.fw_main, "V5.07Build230");
	assert_string_equal(st.reading.fw_slave, "V4.13Build253");
	assert_true(st.reading.has_fw);
	assert_string_equal(st.model, "omnik2000tl");
	assert_int_equal(st.rated_power, 2000);
	assert_int_equal(st.reading.value[OMNIK_PAC1], 1440);
	assert_int_equal(st.reading.value[OMNIK_ETODAY], 429);	/* 4.29 kWh */
	assert_int_equal(st.reading.value[OMNIK_ETOTAL], 87556); /* 8755.6 */
	assert_only_page_fields(&st.reading);
	assert_string_equal(omnik_variant_label(&st.reading, lab), "http");
	/* What a journal keeps: the list itself. */
	assert_int_equal(st.raw_off, 52);
	assert_int_equal(st.raw_len, 81);
}

static void
test_js_device_array(void **state)
{
	struct omnik_status st;
	char why[128];

	(void)state;
	assert_int_equal(parse(OMNIK_PAGE_JS,
	    "myDeviceArray[0]=\"AANN3020,V5.04Build215,V4.13Build221,"
	    "OMNIK3000TL,3000,1226,1176,60958,,1,\";", &st, why,
	    sizeof(why)), OMNIK_OK);
	assert_string_equal(st.reading.inverter_sn, "AANN3020");
	assert_int_equal(st.reading.value[OMNIK_PAC1], 1226);
	assert_int_equal(st.reading.value[OMNIK_ETODAY], 1176);
	assert_int_equal(st.reading.value[OMNIK_ETOTAL], 60958);
	assert_only_page_fields(&st.reading);

	/* Empty fields are absent, never 0. */
	assert_int_equal(parse(OMNIK_PAGE_JS,
	    "webData=\"NLDN1020154F2031,,,,2000,,429,87556,,\";", &st, why,
	    sizeof(why)), OMNIK_OK);
	assert_true(st.reading.value[OMNIK_PAC1] == OMNIK_ABSENT);
	assert_false(st.reading.has_fw);
	assert_int_equal(st.reading.value[OMNIK_ETOTAL], 87556);
}

static void
test_html(void **state)
{
	struct omnik_status st;
	char why[128];

	(void)state;
	assert_int_equal(parse(OMNIK_PAGE_HTML,
	    "<html><head><script type=\"text/javascript\">\n"
	    "var webData = \"NLBN1020157M6006,V5.07,V4.13,omnik3000tl,3000,"
	    "512,96,48739,,1,\";\n</script></head><body>...</body></html>",
	    &st, why, sizeof(why)), OMNIK_OK);
	assert_string_equal(st.reading.inverter_sn, "NLBN1020157M6006");
	assert_int_equal(st.reading.value[OMNIK_PAC1], 512);
	assert_int_equal(st.reading.value[OMNIK_ETODAY], 96);
	assert_int_equal(st.reading.value[OMNIK_ETOTAL], 48739);

	/* A login or error page: no data, not garbage. */
	assert_int_equal(parse(OMNIK_PAGE_HTML,
	    "<html><body>401 Unauthorized</body></html>", &st, why,
	    sizeof(why)), OMNIK_ERR_TYPE);
	assert_non_null(strstr(why, "webData"));
}

static void
test_json(void **state)
{
	struct omnik_status st;
	char why[128];

	(void)state;
	assert_int_equal(parse(OMNIK_PAGE_JSON,
	    "{\"auto_dns\":1,\"g_sn\":1902944440,\"g_ver\":\"ME-111001-V1.0.6"
	    "(201704051120)\",\"i_alarm\":\"F23\",\"i_eall\":\"143.1\","
	    "\"i_eday\":\"0.41\",\"i_modle\":\"omnik5000tl2\",\"i_num\":1,"
	    "\"i_pow\":\"5000\",\"i_pow_n\":290,\"i_sn\":\"NLBN50201894N038\","
	    "\"i_ver_m\":\"V5.27Build261\",\"i_ver_s\":\"V5.43Build182\","
	    "\"l_a_ip\":\"203.0.113.69\",\"l_a_port\":10004}", &st, why,
	    sizeof(why)), OMNIK_OK);
	assert_string_equal(st.reading.inverter_sn, "NLBN50201894N038");
	assert_int_equal(st.reading.kit_sn, 1902944440u);
	assert_int_equal(st.reading.value[OMNIK_PAC1], 290);
	assert_int_equal(st.reading.value[OMNIK_ETODAY], 41);
	assert_int_equal(st.reading.value[OMNIK_ETOTAL], 1431);
	assert_int_equal(st.rated_power, 5000);
	assert_string_equal(st.alarm, "F23");
	assert_string_equal(st.reading.fw_main, "V5.27Build261");
	assert_only_page_fields(&st.reading);

	/* Pretty-printed, numbers quoted or not, kWh without decimals. */
	assert_int_equal(parse(OMNIK_PAGE_JSON,
	    "{\n  \"i_sn\" : \"NLBN50201894N038\",\n  \"i_pow_n\" : \"0\",\n"
	    "  \"i_eday\" : 12,\n  \"i_eall\" : \"143.10\"\n}\n", &st, why,
	    sizeof(why)), OMNIK_OK);
	assert_int_equal(st.reading.value[OMNIK_PAC1], 0);
	assert_int_equal(st.reading.value[OMNIK_ETODAY], 1200);
	assert_int_equal(st.reading.value[OMNIK_ETOTAL], 1431);
	assert_int_equal(st.reading.kit_sn, 0);

	assert_int_equal(parse(OMNIK_PAGE_JSON, "{\"g_sn\":1}", &st, why,
	    sizeof(why)), OMNIK_ERR_TYPE);
}

static void
test_garbage(void **state)
{
	static const struct {
		enum omnik_page kind;
		const char *page;
		const char *why;	/* a part of the reason */
	} bad[] = {
		/* A kit without an inverter. */
		{ OMNIK_PAGE_JS, "webData=\"XXXXXXXXXXXXXXXX,,,,,0,0,0,,\";",
		  "no inverter" },
		{ OMNIK_PAGE_JSON, "{\"i_sn\":\"XXX\",\"i_pow_n\":0,"
		  "\"i_eday\":\"1\",\"i_eall\":\"2\"}", "no inverter" },
		/* The same number in both energies. */
		{ OMNIK_PAGE_JS, "webData=\"NLDN1020154F2031,a,b,m,2000,0,"
		  "87556,87556,,\";", "equal" },
		{ OMNIK_PAGE_JSON, "{\"i_sn\":\"NLBN50201894N038\","
		  "\"i_eday\":\"143.1\",\"i_eall\":\"143.1\"}", "equal" },
		/* The "no value". */
		{ OMNIK_PAGE_JS, "webData=\"NLDN1020154F2031,a,b,m,2000,"
		  "4294967295,429,87556,,\";", "4294967295" },
		{ OMNIK_PAGE_JS, "webData=\"NLDN1020154F2031,a,b,m,2000,100,"
		  "429,4294967295,,\";", "4294967295" },
		{ OMNIK_PAGE_JSON, "{\"i_sn\":\"NLBN50201894N038\","
		  "\"i_pow_n\":4294967295,\"i_eall\":\"1\"}", "4294967295" },
		/* A kit serial no kit has: not a page to attribute to ours. */
		{ OMNIK_PAGE_JSON, "{\"g_sn\":4294967296,\"i_sn\":"
		  "\"NLBN50201894N038\",\"i_pow_n\":290,\"i_eall\":\"1\"}",
		  "kit serial" },
		{ OMNIK_PAGE_JSON, "{\"g_sn\":100000000000000,\"i_sn\":"
		  "\"NLBN50201894N038\",\"i_pow_n\":290,\"i_eall\":\"1\"}",
		  "kit serial" },
		/* What follows a value belongs to it: "2 90" is not 2 W. */
		{ OMNIK_PAGE_JSON, "{\"i_sn\":\"NLBN50201894N038\","
		  "\"i_pow_n\":2 90,\"i_eall\":\"1\"}", "plain value" },
		{ OMNIK_PAGE_JSON, "{\"i_sn\":\"NLBN50201894N038\","
		  "\"i_pow_n\":\"2\"90,\"i_eall\":\"1\"}", "plain value" },
		/* Nothing to read. */
		{ OMNIK_PAGE_JS, "webData=\"NLDN1020154F2031,a,b,m,2000,,,,,\";",
		  "no value" },
		/* Not numbers. */
		{ OMNIK_PAGE_JS, "webData=\"NLDN1020154F2031,a,b,m,2000,-5,"
		  "429,87556,,\";", "not a number" },
		{ OMNIK_PAGE_JS, "webData=\"NLDN1020154F2031,a,b,m,2000,1.5,"
		  "429,87556,,\";", "not a number" },
		{ OMNIK_PAGE_JSON, "{\"i_sn\":\"NLBN50201894N038\","
		  "\"i_eday\":\"0.415\",\"i_eall\":\"1\"}", "not a number" },
		{ OMNIK_PAGE_JSON, "{\"i_sn\":\"NLBN50201894N038\","
		  "\"i_eall\":\"1e9\"}", "not a number" },
		/* Beyond the limits of any inverter. */
		{ OMNIK_PAGE_JS, "webData=\"NLDN1020154F2031,a,b,m,2000,99999,"
		  "429,87556,,\";", "PAC1" },
		{ OMNIK_PAGE_JS, "webData=\"NLDN1020154F2031,a,b,m,2000,100,"
		  "90000,87556,,\";", "ETODAY" },
		/* No serial. */
		{ OMNIK_PAGE_JS, "webData=\",a,b,m,2000,100,429,87556,,\";",
		  "serial" },
		/* Overlong and unprintable text fields. */
		{ OMNIK_PAGE_JS, "webData=\"NLDN1020154F2031NLDN1020154F2031,a,"
		  "b,m,2000,100,429,87556,,\";", "too long" },
		{ OMNIK_PAGE_JS, "webData=\"NLDN10\x01" "20154F,a,b,m,2000,100,"
		  "429,87556,,\";", "not printable" },
		{ OMNIK_PAGE_JSON, "{\"i_sn\":\"NLBN5020\\\"1894N038\","
		  "\"i_eall\":\"1\"}", "plain value" },
	};
	struct omnik_status st;
	char why[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum omnik_err e = parse(bad[i].kind, bad[i].page, &st, why,
		    sizeof(why));

		if (e != OMNIK_ERR_IMPLAUSIBLE || !strstr(why, bad[i].why))
			fail_msg("case %zu: %d '%s', want '%s'", i, e, why,
			    bad[i].why);
	}
}

/*
 * A reason goes to the log and the journal's rejects: a hostile page's
 * control bytes (a line break that forges a log line, an escape sequence
 * for the terminal) never reach it as they came.
 */
static void
test_why_printable(void **state)
{
	static const struct {
		enum omnik_page kind;
		const char *page;
		size_t len;
	} bad[] = {
#define CASE(k, s) { k, s, sizeof(s) - 1 }
		CASE(OMNIK_PAGE_JS, "webData=\"NLDN1020154F2031,a,b,m,2000,"
		    "1\nomnik-poll: kit 1 answers again,429,87556,,\";"),
		CASE(OMNIK_PAGE_JS, "webData=\"NLDN1020154F2031,a,b,m,2000,"
		    "\x1b[2J\x1b]0;x\x07,429,87556,,\";"),
		CASE(OMNIK_PAGE_JS, "webData=\"NLDN1020154F2031,a,b,m,2000,"
		    "1\0002\x7f\xff,429,87556,,\";"),
		CASE(OMNIK_PAGE_JSON, "{\"i_sn\":\"NLBN50201894N038\","
		    "\"i_pow_n\":\"1\r\nerror: forged\",\"i_eall\":\"1\"}"),
		CASE(OMNIK_PAGE_JSON, "{\"i_sn\":\"NLBN50201894N038\","
		    "\"i_pow_n\":1\x1b[31m,\"i_eall\":\"1\"}"),
#undef CASE
	};
	struct omnik_status st;
	char why[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *copy = malloc(bad[i].len);
		enum omnik_err e;

		assert_non_null(copy);
		memcpy(copy, bad[i].page, bad[i].len);
		e = omnik_status_parse(bad[i].kind, copy, bad[i].len, &st, why,
		    sizeof(why));
		free(copy);
		assert_int_equal(e, OMNIK_ERR_IMPLAUSIBLE);
		assert_non_null(strstr(why, "not a number"));
		for (const char *c = why; *c; c++)
			if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
				fail_msg("case %zu: byte 0x%02x in '%s'", i,
				    (unsigned char)*c, why);
	}
}

/* Every prefix of a good page: never a read past it, never a reading
 * with a value the page did not hold in full. */
static void
test_cut_pages(void **state)
{
	static const char *const pages[] = {
		"webData=\"NLDN1020154F2031,V5,V4,omnik2000tl,2000,1440,429,"
		"87556,,1,\";",
		"{\"i_sn\":\"NLBN50201894N038\",\"i_pow_n\":290,"
		"\"i_eday\":\"0.41\",\"i_eall\":\"143.1\"}",
	};
	struct omnik_status st;
	char why[128];

	(void)state;
	for (int k = 0; k < 2; k++) {
		size_t len = strlen(pages[k]);

		for (size_t n = 0; n <= len; n++) {
			char *copy = malloc(n ? n : 1);
			enum omnik_err e;

			memcpy(copy, pages[k], n);
			e = omnik_status_parse(k ? OMNIK_PAGE_JSON :
			    OMNIK_PAGE_JS, copy, n, &st, why, sizeof(why));
			free(copy);
			if (e != OMNIK_OK)
				continue;
			/* The JS list is quoted (the ';' after it may go),
			 * the JSON object braced: only the whole page. */
			assert_true(n >= len - (k == 0 ? 1 : 0));
			assert_int_equal(st.reading.value[OMNIK_ETOTAL],
			    k == 0 ? 87556 : 1431);
		}
	}
}

static void
test_variant_label_round_trip(void **state)
{
	struct omnik_reading r;

	(void)state;
	omnik_reading_clear(&r);
	assert_true(omnik_variant_parse("http", false, &r));
	assert_int_equal(r.variant, OMNIK_VARIANT_HTTP);
	assert_int_equal(r.phases, 1);
	/* A page never holds a buffered record. */
	omnik_reading_clear(&r);
	assert_false(omnik_variant_parse("http", true, &r));
	assert_int_equal(r.variant, OMNIK_VARIANT_OMNIK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_js_webdata),
		cmocka_unit_test(test_js_device_array),
		cmocka_unit_test(test_html),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_why_printable),
		cmocka_unit_test(test_cut_pages),
		cmocka_unit_test(test_variant_label_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
