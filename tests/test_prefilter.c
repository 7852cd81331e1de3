/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_prefilter.c: the replay's shortcut past the BPF interpreter
 * (sniff/prefilter.c) against the interpreter itself. The default filter
 * is built as a replay builds it and compiled by the libpcap installed
 * here; for every packet the shortcut decides, the compiled program must
 * decide the same. Packets: kits' TCP, web and DNS noise, IPv6, VLAN tags,
 * fragments, odd header lengths, every truncation, and random bytes
 * written over all of them.
 */
#include <arpa/inet.h>
#include <pcap/pcap.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "pcapsrc.h"
#include "prefilter.h"

struct verdicts {
	unsigned take, leave, unsure;
};

/* The default filter for `ports`, compiled for Ethernet. */
static void
compile(const char *ports, struct bpf_program *prog, struct prefilter *pf)
{
	char filter[4096], err[256];
	uint16_t port[TCPREASM_MAX_PORTS];
	pcap_t *p = pcap_open_dead(DLT_EN10MB, 65535);
	int n;

	assert_non_null(p);
	assert_int_equal(pcapsrc_filter_for_ports(ports, true, filter,
	    sizeof(filter), err, sizeof(err)), 0);
	assert_int_equal(pcap_compile(p, prog, filter, 1,
	    PCAP_NETMASK_UNKNOWN), 0);
	pcap_close(p);
	n = config_ports(ports, port, TCPREASM_MAX_PORTS, err, sizeof(err));
	assert_true(n > 0);
	prefilter_init(pf, port, n);
}

/* The shortcut's verdict, held to the program's where it gives one. */
static enum prefilter_verdict
check(const struct bpf_program *prog, const struct prefilter *pf,
    const uint8_t *pkt, size_t caplen, struct verdicts *v)
{
	struct pcap_pkthdr h = { .caplen = (bpf_u_int32)caplen,
	    .len = (bpf_u_int32)caplen };
	enum prefilter_verdict r = prefilter_verdict(pf, pkt, caplen);
	int bpf = pcap_offline_filter(prog, &h, pkt) != 0;

	switch (r) {
	case PREFILTER_TAKE:
		if (!bpf)
			fail_msg("taken, the filter leaves it (caplen %zu)",
			    caplen);
		v->take++;
		break;
	case PREFILTER_LEAVE:
		if (bpf)
			fail_msg("left, the filter takes it (caplen %zu)",
			    caplen);
		v->leave++;
		break;
	case PREFILTER_UNSURE:
		v->unsure++;
		break;
	}
	return r;
}

/* An Ethernet frame: IPv4 (proto, ports) with an IHL of ihl words. */
static size_t
eth_ipv4(uint8_t *p, uint8_t proto, uint16_t sport, uint16_t dport,
    int ihl, size_t payload)
{
	size_t hl = (size_t)ihl * 4, tot = hl + 20 + payload;

	memset(p, 0, 14 + tot);
	p[12] = 0x08;
	p[14] = (uint8_t)(0x40 | ihl);
	p[16] = (uint8_t)(tot >> 8);
	p[17] = (uint8_t)tot;
	p[22] = 64;
	p[23] = proto;
	inet_pton(AF_INET, "192.0.2.10", p + 26);
	inet_pton(AF_INET, "203.0.113.69", p + 30);
	p[14 + hl] = (uint8_t)(sport >> 8);
	p[15 + hl] = (uint8_t)sport;
	p[16 + hl] = (uint8_t)(dport >> 8);
	p[17 + hl] = (uint8_t)dport;
	p[26 + hl] = 0x50;
	return 14 + tot;
}

static size_t
eth_ipv6(uint8_t *p, uint8_t nh, uint16_t sport, uint16_t dport)
{
	memset(p, 0, 14 + 40 + 20);
	p[12] = 0x86;
	p[13] = 0xdd;
	p[14] = 0x60;
	p[19] = 20;
	p[20] = nh;
	p[21] = 64;
	inet_pton(AF_INET6, "2001:db8::10", p + 22);
	inet_pton(AF_INET6, "2001:db8::69", p + 38);
	p[54] = (uint8_t)(sport >> 8);
	p[55] = (uint8_t)sport;
	p[56] = (uint8_t)(dport >> 8);
	p[57] = (uint8_t)dport;
	return 14 + 40 + 20;
}

/* Every truncation of pkt[0..n), checked. */
static void
every_cut(const struct bpf_program *prog, const struct prefilter *pf,
    const uint8_t *pkt, size_t n, struct verdicts *v)
{
	for (size_t c = 0; c <= n; c++)
		check(prog, pf, pkt, c, v);
}

static void
test_plain_cases(void **state)
{
	struct bpf_program prog;
	struct prefilter pf;
	struct verdicts v = { 0 };
	uint8_t p[256];
	size_t n;

	(void)state;
	compile("10004", &prog, &pf);
	/* The kit's push and the portal's answer: taken without BPF. */
	n = eth_ipv4(p, 6, 40000, 10004, 5, 150);
	assert_int_equal(check(&prog, &pf, p, n, &v), PREFILTER_TAKE);
	n = eth_ipv4(p, 6, 10004, 40000, 5, 0);
	assert_int_equal(check(&prog, &pf, p, n, &v), PREFILTER_TAKE);
	/* Web and DNS noise: left without BPF. */
	n = eth_ipv4(p, 6, 443, 51000, 5, 100);
	assert_int_equal(check(&prog, &pf, p, n, &v), PREFILTER_LEAVE);
	n = eth_ipv4(p, 17, 53, 10004, 5, 40);
	assert_int_equal(check(&prog, &pf, p, n, &v), PREFILTER_LEAVE);
	/* IPv4 options: the ports are further on. */
	n = eth_ipv4(p, 6, 40000, 10004, 8, 10);
	assert_int_equal(check(&prog, &pf, p, n, &v), PREFILTER_TAKE);
	/* A fragment past the first: the filter leaves it. */
	n = eth_ipv4(p, 6, 40000, 10004, 5, 10);
	p[20] = 0x00;
	p[21] = 0x10;
	assert_int_equal(check(&prog, &pf, p, n, &v), PREFILTER_LEAVE);
	/* IPv6: TCP to the port taken, hop-by-hop taken, UDP left. */
	n = eth_ipv6(p, 6, 40000, 10004);
	assert_int_equal(check(&prog, &pf, p, n, &v), PREFILTER_TAKE);
	n = eth_ipv6(p, 0, 40000, 443);
	assert_int_equal(check(&prog, &pf, p, n, &v), PREFILTER_TAKE);
	n = eth_ipv6(p, 17, 40000, 10004);
	assert_int_equal(check(&prog, &pf, p, n, &v), PREFILTER_LEAVE);
	/* A VLAN tag and ARP are the interpreter's. */
	n = eth_ipv4(p, 6, 40000, 10004, 5, 10);
	p[12] = 0x81;
	assert_int_equal(check(&prog, &pf, p, n, &v), PREFILTER_UNSURE);
	p[12] = 0x08;
	p[13] = 0x06;
	assert_int_equal(check(&prog, &pf, p, n, &v), PREFILTER_UNSURE);
	/* An IHL below 5 too. */
	n = eth_ipv4(p, 6, 40000, 10004, 5, 10);
	p[14] = 0x44;
	assert_int_equal(check(&prog, &pf, p, n, &v), PREFILTER_UNSURE);
	pcap_freecode(&prog);
}

static void
test_every_truncation(void **state)
{
	struct bpf_program prog;
	struct prefilter pf;
	struct verdicts v = { 0 };
	uint8_t p[256];
	size_t n;

	(void)state;
	compile("10004", &prog, &pf);
	for (int ihl = 0; ihl < 16; ihl++) {
		n = eth_ipv4(p, 6, 40000, 10004, ihl < 5 ? 5 : ihl, 20);
		p[14] = (uint8_t)(0x40 | ihl);
		every_cut(&prog, &pf, p, n, &v);
		n = eth_ipv4(p, 6, 443, 40000, ihl < 5 ? 5 : ihl, 20);
		p[14] = (uint8_t)(0x40 | ihl);
		every_cut(&prog, &pf, p, n, &v);
	}
	n = eth_ipv6(p, 6, 10004, 40000);
	every_cut(&prog, &pf, p, n, &v);
	n = eth_ipv6(p, 6, 443, 40000);
	every_cut(&prog, &pf, p, n, &v);
	n = eth_ipv6(p, 43, 443, 40000);
	every_cut(&prog, &pf, p, n, &v);
	assert_true(v.take > 0 && v.leave > 0 && v.unsure > 0);
	pcap_freecode(&prog);
}

/*
 * Random bytes over the headers of each kind of packet, with one port
 * and with several: whatever the bytes, a verdict is the filter's.
 */
static void
test_random_bytes(void **state)
{
	static const char *const lists[] = { "10004", "10004 8899 502" };
	uint32_t x = 0x12345678u;

	(void)state;
	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
		struct bpf_program prog;
		struct prefilter pf;
		struct verdicts v = { 0 };

		compile(lists[l], &prog, &pf);
		for (int i = 0; i < 200000; i++) {
			uint8_t p[256];
			size_t n;
			int flips;

			switch (i % 4) {
			case 0:
				n = eth_ipv4(p, 6, 40000, 10004, 5, 30);
				break;
			case 1:
				n = eth_ipv4(p, 6, 8899, 40000, 6, 30);
				break;
			case 2:
				n = eth_ipv6(p, 6, 40000, 502);
				break;
			default:
				n = eth_ipv4(p, 17, 53, 40000, 5, 30);
				break;
			}
			/* xorshift32: the same packets every run. */
			flips = 1 + (int)(x % 4);
			for (int k = 0; k < flips; k++) {
				x ^= x << 13;
				x ^= x >> 17;
				x ^= x << 5;
				p[x % 64] = (uint8_t)(x >> 8);
			}
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			check(&prog, &pf, p, x % 8 == 0 ? x % (n + 1) : n, &v);
		}
		/* The shortcut is used, and the interpreter still is. */
		assert_true(v.take > 10000 && v.leave > 10000 &&
		    v.unsure > 100);
		pcap_freecode(&prog);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_cases),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_random_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
