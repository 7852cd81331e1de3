/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_relay_acl.c: the relay's allow-lists and address helpers: CIDR
 * parsing and matching (IPv4, IPv6, IPv4-mapped), "[ADDR:]PORT" parsing,
 * formatting and comparison, and what counts as this host.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "acl.h"
#include "addr.h"

static struct sockaddr_storage
sa(const char *ip, unsigned port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
	} else {
		assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
	}
	return ss;
}

static bool
allows(const struct acl *a, const char *ip)
{
	struct sockaddr_storage ss = sa(ip, 1);

	return acl_allows(a, (struct sockaddr *)&ss);
}

static void
test_acl_empty_allows_all(void **state)
{
	struct acl a;
	char err[128];

	(void)state;
	assert_int_equal(acl_parse(&a, "  ", err, sizeof(err)), 0);
	assert_true(acl_empty(&a));
	assert_true(allows(&a, "203.0.113.69"));
	assert_true(allows(&a, "2001:db8::1"));
}

static void
test_acl_match(void **state)
{
	struct acl a;
	char err[128];

	(void)state;
	assert_int_equal(acl_parse(&a, "198.51.100.0/24, 192.0.2.7 "
	    "2001:db8:1::/48,10.0.0.0/9", err, sizeof(err)), 0);
	assert_int_equal(a.n, 4);
	assert_true(allows(&a, "198.51.100.0"));
	assert_true(allows(&a, "198.51.100.255"));
	assert_false(allows(&a, "198.51.101.0"));
	assert_true(allows(&a, "192.0.2.7"));
	assert_false(allows(&a, "192.0.2.8"));
	assert_true(allows(&a, "10.127.255.255"));	/* /9: bit 9 is 0 */
	assert_false(allows(&a, "10.128.0.0"));
	assert_true(allows(&a, "2001:db8:1:ffff::1"));
	assert_false(allows(&a, "2001:db8:2::1"));
	/* An IPv4 client on a dual-stack socket matches the IPv4 networks. */
	assert_true(allows(&a, "::ffff:198.51.100.2"));
	assert_false(allows(&a, "::ffff:203.0.113.69"));
}

static void
test_acl_zero_bits_and_host(void **state)
{
	struct acl a;
	char err[128];

	(void)state;
	assert_int_equal(acl_parse(&a, "0.0.0.0/0", err, sizeof(err)), 0);
	assert_true(allows(&a, "203.0.113.69"));
	assert_false(allows(&a, "2001:db8::1"));	/* other family */
	assert_int_equal(acl_parse(&a, "2001:db8::1/128", err, sizeof(err)), 0);
	assert_true(allows(&a, "2001:db8::1"));
	assert_false(allows(&a, "2001:db8::2"));
}

static void
test_acl_errors(void **state)
{
	static const char *const bad[] = {
		"198.51.100.0/33", "2001:db8::/129", "198.51.100.0/", "nope",
		"198.51.100.0/24x", "198.51.100.0/-1", "1.2.3.4.5",
	};
	struct acl a;
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(acl_parse(&a, bad[i], err, sizeof(err)), -1);
		assert_non_null(strstr(err, bad[i]));
	}
}

static void
test_acl_too_many(void **state)
{
	struct acl a;
	char list[ACL_MAX * 16 + 32], err[128];
	size_t n = 0;

	(void)state;
	for (int i = 0; i <= ACL_MAX; i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "10.0.%d.0/24 ",
		    i);
	assert_int_equal(acl_parse(&a, list, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than"));
}

static void
test_addr_parse(void **state)
{
	struct addr a[4];
	char err[128], buf[ADDR_STRLEN];
	int n;

	(void)state;
	n = addr_parse("10004", true, a, 4, err, sizeof(err));
	assert_true(n >= 1);	/* 0.0.0.0 and, with IPv6, :: */
	for (int i = 0; i < n; i++)
		assert_int_equal(addr_port((struct sockaddr *)&a[i].ss), 10004);
	assert_int_equal(addr_parse("127.0.0.1:8", true, a, 4, err,
	    sizeof(err)), 1);
	assert_string_equal(addr_format((struct sockaddr *)&a[0].ss, buf,
	    sizeof(buf)), "127.0.0.1:8");
	assert_int_equal(addr_parse("[2001:db8::5]:10004", false, a, 4, err,
	    sizeof(err)), 1);
	assert_string_equal(addr_format((struct sockaddr *)&a[0].ss, buf,
	    sizeof(buf)), "[2001:db8::5]:10004");
	/* A fixed upstream needs a host; a bare IPv6 needs brackets. */
	assert_int_equal(addr_parse("10004", false, a, 4, err, sizeof(err)), -1);
	assert_int_equal(addr_parse("2001:db8::5:10004", false, a, 4, err,
	    sizeof(err)), -1);
	assert_int_equal(addr_parse("1.2.3.4:0", false, a, 4, err,
	    sizeof(err)), -1);
	assert_int_equal(addr_parse("1.2.3.4:65536", false, a, 4, err,
	    sizeof(err)), -1);
	assert_int_equal(addr_parse("1.2.3.4:1x", false, a, 4, err,
	    sizeof(err)), -1);
	assert_int_equal(addr_parse("[::1:10004", false, a, 4, err,
	    sizeof(err)), -1);
}

/*
 * The hand-made IPv4 form against inet_ntop and printf, over edge and
 * pseudo-random addresses and ports, plain and IPv4-mapped, and cut to
 * every buffer size as snprintf would cut it.
 */
static void
test_addr_format_v4(void **state)
{
	static const uint32_t edge[] = { 0, 0xFFFFFFFFu, 0x7F000001u,
	    0xC0000209u, 0x0A00000Au, 0x64646464u };
	static const unsigned ports[] = { 0, 1, 9, 10, 99, 100, 10004, 65535 };
	uint32_t x = 2463534242u;

	(void)state;
	for (int i = 0; i < 4000; i++) {
		struct sockaddr_in s4 = { .sin_family = AF_INET };
		struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
		char ip[INET_ADDRSTRLEN], want[ADDR_STRLEN], got[ADDR_STRLEN];
		uint32_t a;
		unsigned port;

		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		a = i < 6 ? edge[i] : x;
		port = i < 8 ? ports[i] : (x >> 7) & 0xFFFF;
		s4.sin_addr.s_addr = htonl(a);
		s4.sin_port = htons((uint16_t)port);
		inet_ntop(AF_INET, &s4.sin_addr, ip, sizeof(ip));
		snprintf(want, sizeof(want), "%s:%u", ip, port);
		assert_string_equal(addr_format((struct sockaddr *)&s4, got,
		    sizeof(got)), want);
		s6.sin6_addr.s6_addr[10] = s6.sin6_addr.s6_addr[11] = 0xFF;
		memcpy(&s6.sin6_addr.s6_addr[12], &s4.sin_addr, 4);
		s6.sin6_port = s4.sin_port;
		assert_string_equal(addr_format((struct sockaddr *)&s6, got,
		    sizeof(got)), want);
		if (i < 8) {
			for (size_t n = 1; n <= strlen(want) + 1; n++) {
				char cut[ADDR_STRLEN];

				memset(got, 'x', sizeof(got));
				snprintf(cut, n, "%s", want);
				addr_format((struct sockaddr *)&s4, got, n);
				assert_string_equal(got, cut);
				assert_int_equal(got[n], 'x');
			}
		}
	}
}

static void
test_addr_equal_and_local(void **state)
{
	struct sockaddr_storage a = sa("198.51.100.2", 10004);
	struct sockaddr_storage m = sa("::ffff:198.51.100.2", 10004);
	struct sockaddr_storage p = sa("198.51.100.2", 10005);
	struct sockaddr_storage l4 = sa("127.0.0.5", 1);
	struct sockaddr_storage l6 = sa("::1", 1);
	struct sockaddr_storage any = sa("0.0.0.0", 1);
	struct sockaddr_storage far = sa("203.0.113.69", 1);
	char buf[ADDR_STRLEN];

	(void)state;
	assert_true(addr_equal((struct sockaddr *)&a, (struct sockaddr *)&m));
	assert_false(addr_equal((struct sockaddr *)&a, (struct sockaddr *)&p));
	assert_string_equal(addr_format((struct sockaddr *)&m, buf,
	    sizeof(buf)), "198.51.100.2:10004");
	assert_true(addr_is_local((struct sockaddr *)&l4));
	assert_true(addr_is_local((struct sockaddr *)&l6));
	assert_true(addr_is_local((struct sockaddr *)&any));
	/* The test hosts never carry the stand-in portal's address. */
	assert_false(addr_is_local((struct sockaddr *)&far));
}

/* What the relay accepts kits from, and never forwards to, by default. */
static void
test_acl_private(void **state)
{
	struct acl a;
	char err[128];
	const char *in[] = { "10.1.2.3", "172.16.0.1", "172.31.255.254",
	    "192.168.1.50", "127.0.0.1", "169.254.7.7", "::1", "fe80::1",
	    "fd00::5", "fc12::1", "::ffff:192.168.0.9" };
	const char *out[] = { "198.51.100.2", "203.0.113.69", "192.0.2.1",
	    "172.32.0.1", "11.0.0.1", "2001:db8::1", "::ffff:203.0.113.69",
	    "fec0::1" };

	(void)state;
	assert_int_equal(acl_parse(&a, ACL_PRIVATE_NETS, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		assert_true(allows(&a, in[i]));
	for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++)
		assert_false(allows(&a, out[i]));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_acl_empty_allows_all),
		cmocka_unit_test(test_acl_match),
		cmocka_unit_test(test_acl_zero_bits_and_host),
		cmocka_unit_test(test_acl_errors),
		cmocka_unit_test(test_acl_too_many),
		cmocka_unit_test(test_addr_parse),
		cmocka_unit_test(test_addr_format_v4),
		cmocka_unit_test(test_addr_equal_and_local),
		cmocka_unit_test(test_acl_private),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
