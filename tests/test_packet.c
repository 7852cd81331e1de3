/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_packet.c: packet_parse on hand-built packets: every link type, the
 * IP length over Ethernet padding, VLAN tags, IPv6 extension headers,
 * fragments, snapped payloads, and headers cut short anywhere.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "packet.h"

static size_t
tcp_hdr(uint8_t *p, const char *payload)
{
	size_t n = strlen(payload);

	memset(p, 0, 20);
	p[0] = 0x9c; p[1] = 0x40;	/* 40000 */
	p[2] = 0x27; p[3] = 0x14;	/* 10004 */
	p[4] = 0x01; p[5] = 0x02; p[6] = 0x03; p[7] = 0x04;
	p[8] = 0xaa; p[11] = 0xbb;
	p[12] = 5 << 4;
	p[13] = 0x18;		/* PSH ACK */
	memcpy(p + 20, payload, n);
	return 20 + n;
}

static size_t
ipv4(uint8_t *p, const char *payload)
{
	size_t l4 = tcp_hdr(p + 20, payload), tot = 20 + l4;

	memset(p, 0, 20);
	p[0] = 0x45;
	p[2] = (uint8_t)(tot >> 8);
	p[3] = (uint8_t)tot;
	p[8] = 64;
	p[9] = 6;
	inet_pton(AF_INET, "192.0.2.10", p + 12);
	inet_pton(AF_INET, "203.0.113.69", p + 16);
	return tot;
}

static size_t
ipv6(uint8_t *p, const char *payload, bool ext)
{
	size_t off = 40, l4;

	memset(p, 0, 48);
	p[0] = 0x60;
	p[6] = ext ? 0 : 6;
	p[7] = 64;
	inet_pton(AF_INET6, "2001:db8::10", p + 8);
	inet_pton(AF_INET6, "2001:db8::69", p + 24);
	if (ext) {		/* hop-by-hop, 8 bytes, then TCP */
		p[40] = 6;
		p[41] = 0;
		off = 48;
	}
	l4 = tcp_hdr(p + off, payload);
	p[4] = (uint8_t)((off - 40 + l4) >> 8);
	p[5] = (uint8_t)(off - 40 + l4);
	return off + l4;
}

static void
expect_tcp(enum packet_result r, const struct tcpreasm_seg *s, int af,
    const char *payload)
{
	assert_int_equal(r, PACKET_TCP);
	assert_int_equal(s->af, af);
	assert_int_equal(s->sport, 40000);
	assert_int_equal(s->dport, 10004);
	assert_int_equal(s->seq, 0x01020304);
	assert_int_equal(s->ack, 0xaa0000bb);
	assert_int_equal(s->flags, TCPREASM_TH_ACK);
	assert_int_equal(s->len, strlen(payload));
	assert_memory_equal(s->data, payload, s->len);
}

static void
test_ethernet_padding(void **state)
{
	uint8_t p[128];
	struct tcpreasm_seg s;
	size_t n;

	(void)state;
	memset(p, 0xee, sizeof(p));
	p[12] = 0x08; p[13] = 0x00;
	n = 14 + ipv4(p + 14, "hi");
	/* Ethernet pads to 60 bytes: the padding is not payload. */
	assert_true(n < 60);
	expect_tcp(packet_parse(PACKET_LINK_ETHER, p, 60, 60, &s), &s, AF_INET,
	    "hi");
	assert_memory_equal(s.src, "\xc0\x00\x02\x0a", 4);
}

static void
test_vlan_and_qinq(void **state)
{
	uint8_t p[200];
	struct tcpreasm_seg s;
	size_t n;

	(void)state;
	memset(p, 0, sizeof(p));
	p[12] = 0x88; p[13] = 0xa8;	/* 802.1ad outer */
	p[16] = 0x81; p[17] = 0x00;	/* 802.1Q inner */
	p[20] = 0x86; p[21] = 0xdd;
	n = 22 + ipv6(p + 22, "tagged", false);
	expect_tcp(packet_parse(PACKET_LINK_ETHER, p, n, n, &s), &s, AF_INET6,
	    "tagged");
}

static void
test_cooked_and_raw(void **state)
{
	uint8_t p[200];
	struct tcpreasm_seg s;
	size_t n;

	(void)state;
	memset(p, 0, sizeof(p));
	p[14] = 0x08;			/* SLL v1: protocol at 14 */
	n = 16 + ipv4(p + 16, "sll");
	expect_tcp(packet_parse(PACKET_LINK_SLL, p, n, n, &s), &s, AF_INET,
	    "sll");
	memset(p, 0, sizeof(p));
	p[0] = 0x86; p[1] = 0xdd;	/* SLL v2: protocol at 0 */
	n = 20 + ipv6(p + 20, "sll2", true);
	expect_tcp(packet_parse(PACKET_LINK_SLL2, p, n, n, &s), &s, AF_INET6,
	    "sll2");
	n = ipv4(p, "raw");
	expect_tcp(packet_parse(PACKET_LINK_RAW, p, n, n, &s), &s, AF_INET,
	    "raw");
	n = ipv6(p, "raw6", false);
	expect_tcp(packet_parse(PACKET_LINK_RAW, p, n, n, &s), &s, AF_INET6,
	    "raw6");
}

static void
test_not_tcp_and_fragments(void **state)
{
	uint8_t p[200];
	struct tcpreasm_seg s;
	size_t n;

	(void)state;
	n = ipv4(p, "x");
	p[9] = 17;
	assert_int_equal(packet_parse(PACKET_LINK_RAW, p, n, n, &s),
	    PACKET_NOT_TCP);
	n = ipv4(p, "x");
	p[6] = 0x20;			/* more fragments */
	assert_int_equal(packet_parse(PACKET_LINK_RAW, p, n, n, &s),
	    PACKET_FRAGMENT);
	n = ipv6(p, "x", false);
	p[6] = 44;
	assert_int_equal(packet_parse(PACKET_LINK_RAW, p, n, n, &s),
	    PACKET_FRAGMENT);
	memset(p, 0, 20);
	p[12] = 0x08; p[13] = 0x06;	/* ARP */
	assert_int_equal(packet_parse(PACKET_LINK_ETHER, p, 60, 60, &s),
	    PACKET_NOT_TCP);
	assert_int_equal(packet_parse(PACKET_LINK_UNKNOWN, p, 60, 60, &s),
	    PACKET_NOT_TCP);
}

static void
test_snapped(void **state)
{
	uint8_t p[200];
	struct tcpreasm_seg s;
	size_t n;

	(void)state;
	n = ipv4(p, "0123456789");
	assert_int_equal(packet_parse(PACKET_LINK_RAW, p, n - 4, n, &s),
	    PACKET_SNAPPED);
	assert_int_equal(s.len, 6);
	/*
	 * The same bytes, but the whole packet: its IP length claims 4
	 * bytes it does not have. The receiver drops it; snapped, its
	 * payload passed with no checksum looked at.
	 */
	assert_int_equal(packet_parse(PACKET_LINK_RAW, p, n - 4, n - 4, &s),
	    PACKET_MALFORMED);
	n = ipv6(p, "0123456789", true);
	assert_int_equal(packet_parse(PACKET_LINK_RAW, p, n - 4, n, &s),
	    PACKET_SNAPPED);
	assert_int_equal(packet_parse(PACKET_LINK_RAW, p, n - 4, n - 4, &s),
	    PACKET_MALFORMED);
	/* Behind link headers and VLAN tags too. */
	memset(p, 0, sizeof(p));
	p[12] = 0x81; p[13] = 0x00;
	p[16] = 0x08; p[17] = 0x00;
	n = 18 + ipv4(p + 18, "0123456789");
	assert_int_equal(packet_parse(PACKET_LINK_ETHER, p, n - 1, n, &s),
	    PACKET_SNAPPED);
	assert_int_equal(packet_parse(PACKET_LINK_ETHER, p, n - 1, n - 1, &s),
	    PACKET_MALFORMED);
}

/* Every prefix of every packet shape: no read past the end. */
/* Internet checksum helpers, written apart from packet.c's. */
static uint32_t
sum16(uint32_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		s += i % 2 ? p[i] : (uint32_t)p[i] << 8;
	return s;
}

static uint16_t
fold(uint32_t s)
{
	while (s > 0xffff)
		s = (s >> 16) + (s & 0xffff);
	return (uint16_t)s;
}

/* Fill in the IPv4 header and TCP checksums of ipv4()'s packet. */
static void
fill_ipv4(uint8_t *p, size_t n, bool partial)
{
	uint32_t s;

	s = fold(sum16(0, p, 20)) ^ 0xffff;
	p[10] = (uint8_t)(s >> 8);
	p[11] = (uint8_t)s;
	s = sum16(0, p + 12, 8) + 6 + (uint32_t)(n - 20);
	if (partial) {
		s = fold(s);
	} else {
		s = fold(sum16(s, p + 20, n - 20)) ^ 0xffff;
	}
	p[36] = (uint8_t)(s >> 8);
	p[37] = (uint8_t)s;
}

static void
fill_ipv6(uint8_t *p, size_t n, size_t l4off)
{
	uint32_t s = sum16(0, p + 8, 32) + 6 + (uint32_t)(n - l4off);

	s = fold(sum16(s, p + l4off, n - l4off)) ^ 0xffff;
	p[l4off + 16] = (uint8_t)(s >> 8);
	p[l4off + 17] = (uint8_t)s;
}

/*
 * Checksums: right ones pass as checked; a packet the receiver would
 * drop (TCP or IPv4 header checksum wrong) is reported, not parsed; the
 * partial (offloaded) and zero ones and cut payloads pass, marked.
 */
static void
test_checksums(void **state)
{
	uint8_t p[200];
	struct tcpreasm_seg s;
	size_t n;

	(void)state;
	n = ipv4(p, "reading");
	fill_ipv4(p, n, false);
	expect_tcp(packet_parse(PACKET_LINK_RAW, p, n, n, &s), &s, AF_INET,
	    "reading");
	assert_int_equal(s.csum, PACKET_CSUM_GOOD);
	p[n - 1] ^= 0x01;		/* a forged payload, checksum kept */
	assert_int_equal(packet_parse(PACKET_LINK_RAW, p, n, n, &s),
	    PACKET_BAD_CHECKSUM);
	p[n - 1] ^= 0x01;
	p[8] = 63;			/* TTL changed, header sum not */
	assert_int_equal(packet_parse(PACKET_LINK_RAW, p, n, n, &s),
	    PACKET_BAD_CHECKSUM);
	/* TX offload on the capturing host: the pseudo header's sum. */
	n = ipv4(p, "reading");
	fill_ipv4(p, n, true);
	expect_tcp(packet_parse(PACKET_LINK_RAW, p, n, n, &s), &s, AF_INET,
	    "reading");
	assert_int_equal(s.csum, PACKET_CSUM_OFFLOADED);
	/* Zero: not filled in. */
	n = ipv4(p, "reading");
	assert_int_equal(packet_parse(PACKET_LINK_RAW, p, n, n, &s),
	    PACKET_TCP);
	assert_int_equal(s.csum, PACKET_CSUM_OFFLOADED);
	/* Cut by snaplen: nothing to check against. */
	n = ipv4(p, "reading");
	fill_ipv4(p, n, false);
	p[n - 1] ^= 0x01;
	assert_int_equal(packet_parse(PACKET_LINK_RAW, p, n - 2, n, &s),
	    PACKET_SNAPPED);
	assert_int_equal(s.csum, PACKET_CSUM_UNCHECKED);
	/* IPv6, with and without an extension header. */
	n = ipv6(p, "six", false);
	fill_ipv6(p, n, 40);
	expect_tcp(packet_parse(PACKET_LINK_RAW, p, n, n, &s), &s, AF_INET6,
	    "six");
	assert_int_equal(s.csum, PACKET_CSUM_GOOD);
	n = ipv6(p, "six", true);
	fill_ipv6(p, n, 48);
	expect_tcp(packet_parse(PACKET_LINK_RAW, p, n, n, &s), &s, AF_INET6,
	    "six");
	assert_int_equal(s.csum, PACKET_CSUM_GOOD);
	p[20] ^= 0x40;			/* another source address */
	assert_int_equal(packet_parse(PACKET_LINK_RAW, p, n, n, &s),
	    PACKET_BAD_CHECKSUM);
}

/*
 * A routing header with segments left: the packet is on its way to
 * another hop, the TCP checksum covers an address the header holds, and
 * the portal named in it does not take the segment (it forwards or drops
 * the packet). Not a segment of the flow between the addresses seen: a
 * forged payload with a wrong checksum must not pass as one.
 */
static void
test_routing_header(void **state)
{
	uint8_t p[200];
	struct tcpreasm_seg s;
	size_t n;

	(void)state;
	n = ipv6(p, "forged", true);	/* the 8 bytes after 40: routing */
	p[6] = 43;
	p[40] = 6;
	p[41] = 0;
	p[42] = 4;			/* segment routing */
	p[43] = 1;			/* segments left */
	fill_ipv6(p, n, 48);
	p[n - 1] ^= 0x01;		/* the checksum no longer fits */
	assert_int_not_equal(packet_parse(PACKET_LINK_RAW, p, n, n, &s),
	    PACKET_TCP);
	assert_int_not_equal(packet_parse(PACKET_LINK_RAW, p, n, n, &s),
	    PACKET_SNAPPED);
	/* At its last hop (none left) it is checked as any other. */
	p[43] = 0;
	assert_int_equal(packet_parse(PACKET_LINK_RAW, p, n, n, &s),
	    PACKET_BAD_CHECKSUM);
	p[n - 1] ^= 0x01;
	expect_tcp(packet_parse(PACKET_LINK_RAW, p, n, n, &s), &s, AF_INET6,
	    "forged");
	assert_int_equal(s.csum, PACKET_CSUM_GOOD);
}

/*
 * The sum against sum16's, the plain RFC 1071 one, over every payload
 * length up to 150 bytes (each tail of the wide sum, odd ones too), with
 * random bytes, all 0xff (a carry out of every addition) and all zero:
 * the right checksum passes, one byte changed does not.
 */
static void
test_checksum_every_length(void **state)
{
	uint8_t p[256];
	struct tcpreasm_seg s;
	uint32_t x = 0x9e3779b9u;

	(void)state;
	for (int fill = 0; fill < 3; fill++)
		for (size_t len = 0; len <= 150; len++) {
			size_t n = ipv4(p, ""), tot = n + len;

			for (size_t i = 0; i < len; i++) {
				x ^= x << 13;
				x ^= x >> 17;
				x ^= x << 5;
				p[n + i] = fill == 0 ? (uint8_t)x :
				    fill == 1 ? 0xff : 0;
			}
			p[2] = (uint8_t)(tot >> 8);
			p[3] = (uint8_t)tot;
			fill_ipv4(p, tot, false);
			assert_int_equal(packet_parse(PACKET_LINK_RAW, p, tot,
			    tot, &s), PACKET_TCP);
			assert_int_equal(s.csum, PACKET_CSUM_GOOD);
			assert_int_equal(s.len, len);
			/* A payload byte, or the sequence number's. */
			p[len ? n + x % len : 24 + x % 4] ^=
			    (uint8_t)(1u << (x >> 8) % 8);
			assert_int_equal(packet_parse(PACKET_LINK_RAW, p, tot,
			    tot, &s), PACKET_BAD_CHECKSUM);
		}
}

static void
test_every_truncation(void **state)
{
	uint8_t p[200];
	struct tcpreasm_seg s;
	size_t n;

	(void)state;
	memset(p, 0, sizeof(p));
	p[12] = 0x81; p[13] = 0x00;
	p[16] = 0x86; p[17] = 0xdd;
	n = 18 + ipv6(p + 18, "payload", true);
	for (enum packet_link l = PACKET_LINK_ETHER; l <= PACKET_LINK_NULL;
	    l++)
		for (size_t k = 0; k <= n; k++) {
			/* An exact-size heap copy: ASan guards its end. */
			uint8_t *c = malloc(k ? k : 1);

			assert_non_null(c);
			memcpy(c, p, k);
			/* Cut there, and cut by snaplen from n. */
			(void)packet_parse(l, c, k, k, &s);
			(void)packet_parse(l, c, k, n, &s);
			free(c);
		}
	n = ipv4(p, "abc");
	p[0] = 0x4f;			/* IHL 60 > the packet */
	assert_int_equal(packet_parse(PACKET_LINK_RAW, p, n, n, &s),
	    PACKET_MALFORMED);
	n = ipv4(p, "abc");
	p[32] = 0xf0;			/* TCP offset 60 > the segment */
	assert_int_equal(packet_parse(PACKET_LINK_RAW, p, n, n, &s),
	    PACKET_MALFORMED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ethernet_padding),
		cmocka_unit_test(test_vlan_and_qinq),
		cmocka_unit_test(test_cooked_and_raw),
		cmocka_unit_test(test_not_tcp_and_fragments),
		cmocka_unit_test(test_snapped),
		cmocka_unit_test(test_checksums),
		cmocka_unit_test(test_routing_header),
		cmocka_unit_test(test_checksum_every_length),
		cmocka_unit_test(test_every_truncation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
