/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * packet.c: link, IP and TCP headers (see packet.h).
 *
 * Checksums: a segment the portal's stack would drop (wrong IPv4 header
 * or TCP checksum) must not become a reading, or anyone on the LAN could
 * slip a forged copy in front of the kit's own. What cannot be checked is
 * passed on, marked: the capturing host's own packets and the large ones
 * GRO merged carry a partial checksum (the pseudo header's sum only,
 * completed by the NIC), some captures a zero one, and snaplen or TSO
 * leave the payload incomplete.
 */
#include <arpa/inet.h>
#include <pcap/dlt.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#include "packet.h"

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_VLAN 0x8100
#define ETHERTYPE_QINQ 0x88a8
#define ETHERTYPE_QINQ_OLD 0x9100

static uint16_t
be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

enum packet_link
packet_link_from_dlt(int dlt)
{
	switch (dlt) {
	case DLT_EN10MB:
		return PACKET_LINK_ETHER;
	case DLT_LINUX_SLL:
		return PACKET_LINK_SLL;
#ifdef DLT_LINUX_SLL2
	case DLT_LINUX_SLL2:
		return PACKET_LINK_SLL2;
#endif
	case DLT_RAW:
#ifdef DLT_IPV4
	case DLT_IPV4:
	case DLT_IPV6:
#endif
		return PACKET_LINK_RAW;
	case DLT_NULL:
		return PACKET_LINK_NULL;
	default:
		return PACKET_LINK_UNKNOWN;
	}
}

/*
 * The 16-bit one's complement sum of n bytes, as a big-endian number
 * (not yet folded) added to sum. The bytes are added eight at a time in
 * the host's order, with the carry out of each addition added back in
 * (a one's complement sum of 64-bit words), and folded and swapped once
 * at the end: the sum does not care about byte order or word size as
 * long as the words start at even offsets (RFC 1071), and this is the
 * hot loop of a capture of nothing but kits' traffic. Only an input of
 * zeros sums to 0, as with 16-bit words, so the folded value is the same
 * one in 1..0xffff.
 */
static uint32_t
csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	uint64_t acc = 0, acc2 = 0, q, tail = 0;
	uint32_t lo, hi, s, w;
	uint16_t h;

	/* Two sums, two carry chains that do not wait for each other. */
	for (; n >= 16; p += 16, n -= 16) {
		memcpy(&q, p, 8);
		acc += q;
		acc += acc < q;
		memcpy(&q, p + 8, 8);
		acc2 += q;
		acc2 += acc2 < q;
	}
	acc += acc2;
	acc += acc < acc2;
	if (n >= 8) {
		memcpy(&q, p, 8);
		acc += q;
		acc += acc < q;
		p += 8;
		n -= 8;
	}
	/*
	 * The tail at any 16-bit boundary of acc (2^16 is 1 modulo 0xffff),
	 * the odd last byte padded with a zero after it. tail stays below
	 * 2^33; the carry out of adding it to acc is added back.
	 */
	if (n >= 4) {
		memcpy(&w, p, 4);
		tail += w;
		p += 4;
		n -= 4;
	}
	if (n >= 2) {
		memcpy(&h, p, 2);
		tail += h;
		p += 2;
		n -= 2;
	}
	if (n == 1) {
		uint8_t last[2] = { p[0], 0 };

		memcpy(&h, last, 2);
		tail += h;
	}
	acc += tail;
	acc += acc < tail;
	lo = (uint32_t)acc;
	hi = (uint32_t)(acc >> 32);
	s = lo + hi;
	s += s < lo;
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return sum + ntohs((uint16_t)s);
}

static uint16_t
csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/*
 * The TCP checksum of a whole segment p[0..len) with the pseudo header
 * sum `pseudo` (addresses; length and protocol are added here).
 */
static enum packet_result
check_tcp(const uint8_t *p, size_t len, uint32_t pseudo,
    struct tcpreasm_seg *seg)
{
	uint16_t field = be16(p + 16), ph;

	pseudo += 6 + (uint32_t)(len & 0xffff) + (uint32_t)(len >> 16);
	if (csum_fold(csum_add(pseudo, p, len)) == 0xffff) {
		seg->csum = PACKET_CSUM_GOOD;
		return PACKET_TCP;
	}
	/* Offloaded: the sender's NIC (or GRO's) finishes it. */
	ph = csum_fold(pseudo);
	if (field == 0 || field == ph || (ph == 0xffff && field == 0) ||
	    (ph == 0 && field == 0xffff)) {
		seg->csum = PACKET_CSUM_OFFLOADED;
		return PACKET_TCP;
	}
	return PACKET_BAD_CHECKSUM;
}

static enum packet_result
parse_tcp(const uint8_t *p, size_t len, size_t caplen, uint32_t pseudo,
    bool checkable, struct tcpreasm_seg *seg)
{
	size_t off;

	seg->csum = PACKET_CSUM_UNCHECKED;
	if (caplen < 20 || len < 20)
		return PACKET_MALFORMED;
	off = (size_t)(p[12] >> 4) * 4;
	if (off < 20 || off > len || off > caplen)
		return PACKET_MALFORMED;
	seg->sport = be16(p);
	seg->dport = be16(p + 2);
	seg->seq = be32(p + 4);
	seg->ack = be32(p + 8);
	seg->flags = p[13] & (TCPREASM_TH_FIN | TCPREASM_TH_SYN |
	    TCPREASM_TH_RST | TCPREASM_TH_ACK);
	seg->data = p + off;
	seg->len = (caplen < len ? caplen : len) - off;
	if (caplen < len)
		return PACKET_SNAPPED;
	return checkable ? check_tcp(p, len, pseudo, seg) : PACKET_TCP;
}

/*
 * `cut` is how many bytes of the packet the capture left out (snaplen):
 * an IP length past them is a lie, which the receiver drops (Linux's
 * ip_rcv, ip6_rcv); taken as a snapped packet it had its payload pass
 * with no checksum looked at.
 */
static enum packet_result
parse_ipv4(const uint8_t *p, size_t caplen, size_t cut,
    struct tcpreasm_seg *seg)
{
	size_t hl, tot;
	bool checkable = true;
	enum packet_result r;

	if (caplen < 20 || (p[0] >> 4) != 4)
		return PACKET_MALFORMED;
	hl = (size_t)(p[0] & 0x0f) * 4;
	tot = be16(p + 2);
	if (hl < 20 || (tot < hl && tot != 0) || caplen < hl ||
	    tot > caplen + cut)
		return PACKET_MALFORMED;
	/* Linux always fills the header checksum; 0 is "not filled in". */
	if (be16(p + 10) != 0 && csum_fold(csum_add(0, p, hl)) != 0xffff)
		return PACKET_BAD_CHECKSUM;
	if (p[9] != 6)
		return PACKET_NOT_TCP;
	if (be16(p + 6) & 0x3fff)	/* MF or a fragment offset */
		return PACKET_FRAGMENT;
	memset(seg->src, 0, 16);
	memset(seg->dst, 0, 16);
	memcpy(seg->src, p + 12, 4);
	memcpy(seg->dst, p + 16, 4);
	seg->af = AF_INET;
	/* tot == 0: TSO on the capturing host; trust the capture. */
	if (tot == 0) {
		tot = caplen;
		checkable = false;
	}
	/* The addresses' words, unfolded: check_tcp folds what it adds. */
	r = parse_tcp(p + hl, tot - hl, caplen - hl, (uint32_t)be16(p + 12) +
	    be16(p + 14) + be16(p + 16) + be16(p + 18), checkable, seg);
	if (r == PACKET_TCP && be16(p + 10) == 0)
		seg->csum = PACKET_CSUM_OFFLOADED;
	return r;
}

static enum packet_result
parse_ipv6(const uint8_t *p, size_t caplen, size_t cut,
    struct tcpreasm_seg *seg)
{
	size_t off = 40, len;
	uint8_t nh;
	bool checkable = true;

	if (caplen < 40 || (p[0] >> 4) != 6)
		return PACKET_MALFORMED;
	len = be16(p + 4);
	if (len == 0) {		/* jumbogram or TSO: trust the capture */
		len = caplen - 40;
		checkable = false;
	}
	len += 40;
	if (len > caplen + cut)
		return PACKET_MALFORMED;
	nh = p[6];
	for (int i = 0; i < 8; i++) {
		switch (nh) {
		case 6:
			if (off > len || off > caplen)
				return PACKET_MALFORMED;
			memcpy(seg->src, p + 8, 16);
			memcpy(seg->dst, p + 24, 16);
			seg->af = AF_INET6;
			return parse_tcp(p + off, len - off, caplen - off,
			    csum_add(0, p + 8, 32), checkable, seg);
		case 43:	/* routing */
			/*
			 * Segments left: the packet is on its way to another
			 * hop, which the checksum covers; the destination
			 * seen here forwards it and takes no segment from
			 * it. Passed on unchecked it was a way to slip in a
			 * payload with any checksum.
			 */
			if (off + 8 <= caplen && p[off + 3] != 0)
				return PACKET_NOT_TCP;
			/* FALLTHROUGH */
		case 0:		/* hop-by-hop */
		case 60:	/* destination options */
			if (off + 8 > caplen)
				return PACKET_MALFORMED;
			nh = p[off];
			off += ((size_t)p[off + 1] + 1) * 8;
			break;
		case 44:
			return PACKET_FRAGMENT;
		default:
			return PACKET_NOT_TCP;
		}
	}
	return PACKET_NOT_TCP;
}

static enum packet_result
parse_ip(const uint8_t *p, size_t caplen, size_t cut,
    struct tcpreasm_seg *seg)
{
	if (caplen < 1)
		return PACKET_MALFORMED;
	switch (p[0] >> 4) {
	case 4:
		return parse_ipv4(p, caplen, cut, seg);
	case 6:
		return parse_ipv6(p, caplen, cut, seg);
	default:
		return PACKET_NOT_TCP;
	}
}

/* An ethertype at p[-2..-1]; VLAN tags in front of the payload skipped. */
static enum packet_result
parse_ethertype(uint16_t type, const uint8_t *p, size_t caplen, size_t cut,
    struct tcpreasm_seg *seg)
{
	for (int i = 0; i <= PACKET_MAX_VLAN_TAGS; i++) {
		switch (type) {
		case ETHERTYPE_IPV4:
			return parse_ipv4(p, caplen, cut, seg);
		case ETHERTYPE_IPV6:
			return parse_ipv6(p, caplen, cut, seg);
		case ETHERTYPE_VLAN:
		case ETHERTYPE_QINQ:
		case ETHERTYPE_QINQ_OLD:
			if (caplen < 4)
				return PACKET_MALFORMED;
			type = be16(p + 2);
			p += 4;
			caplen -= 4;
			break;
		default:
			return PACKET_NOT_TCP;
		}
	}
	return PACKET_NOT_TCP;
}

enum packet_result
packet_parse(enum packet_link link, const uint8_t *p, size_t caplen,
    size_t len, struct tcpreasm_seg *seg)
{
	uint32_t fam;
	size_t cut = len > caplen ? len - caplen : 0;

	switch (link) {
	case PACKET_LINK_ETHER:
		if (caplen < 14)
			return PACKET_MALFORMED;
		return parse_ethertype(be16(p + 12), p + 14, caplen - 14, cut,
		    seg);
	case PACKET_LINK_SLL:
		if (caplen < 16)
			return PACKET_MALFORMED;
		return parse_ethertype(be16(p + 14), p + 16, caplen - 16, cut,
		    seg);
	case PACKET_LINK_SLL2:
		if (caplen < 20)
			return PACKET_MALFORMED;
		return parse_ethertype(be16(p), p + 20, caplen - 20, cut, seg);
	case PACKET_LINK_RAW:
		return parse_ip(p, caplen, cut, seg);
	case PACKET_LINK_NULL:
		if (caplen < 4)
			return PACKET_MALFORMED;
		/* Host byte order of the capturing machine: try both. */
		memcpy(&fam, p, 4);
		if (fam == 2 || fam == 0x02000000)
			return parse_ipv4(p + 4, caplen - 4, cut, seg);
		return parse_ip(p + 4, caplen - 4, cut, seg);
	case PACKET_LINK_UNKNOWN:
		break;
	}
	return PACKET_NOT_TCP;
}
