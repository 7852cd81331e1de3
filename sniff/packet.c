/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * packet.c: link, IP and TCP headers (see packet.h).
 */
#include <pcap/dlt.h>
#include <string.h>
#include <sys/socket.h>

#include "packet.h"

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_VLAN 0x8100
#define ETHERTYPE_QINQ 0x88a8
#define ETHERTYPE_QINQ_OLD 0x9100
#define MAX_VLAN_TAGS 4

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

static enum packet_result
parse_tcp(const uint8_t *p, size_t len, size_t caplen,
    struct tcpreasm_seg *seg)
{
	size_t off;

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
	return caplen < len ? PACKET_SNAPPED : PACKET_TCP;
}

static enum packet_result
parse_ipv4(const uint8_t *p, size_t caplen, struct tcpreasm_seg *seg)
{
	size_t hl, tot;

	if (caplen < 20 || (p[0] >> 4) != 4)
		return PACKET_MALFORMED;
	hl = (size_t)(p[0] & 0x0f) * 4;
	tot = be16(p + 2);
	if (hl < 20 || tot < hl || caplen < hl)
		return PACKET_MALFORMED;
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
	if (tot == 0)
		tot = caplen;
	return parse_tcp(p + hl, tot - hl, caplen - hl, seg);
}

static enum packet_result
parse_ipv6(const uint8_t *p, size_t caplen, struct tcpreasm_seg *seg)
{
	size_t off = 40, len;
	uint8_t nh;

	if (caplen < 40 || (p[0] >> 4) != 6)
		return PACKET_MALFORMED;
	len = be16(p + 4);
	if (len == 0)		/* jumbogram or TSO: trust the capture */
		len = caplen - 40;
	len += 40;
	nh = p[6];
	for (int i = 0; i < 8; i++) {
		switch (nh) {
		case 6:
			if (off > len || off > caplen)
				return PACKET_MALFORMED;
			memcpy(seg->src, p + 8, 16);
			memcpy(seg->dst, p + 24, 16);
			seg->af = AF_INET6;
			return parse_tcp(p + off, len - off, caplen - off, seg);
		case 0:		/* hop-by-hop */
		case 43:	/* routing */
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
parse_ip(const uint8_t *p, size_t caplen, struct tcpreasm_seg *seg)
{
	if (caplen < 1)
		return PACKET_MALFORMED;
	switch (p[0] >> 4) {
	case 4:
		return parse_ipv4(p, caplen, seg);
	case 6:
		return parse_ipv6(p, caplen, seg);
	default:
		return PACKET_NOT_TCP;
	}
}

/* An ethertype at p[-2..-1]; VLAN tags in front of the payload skipped. */
static enum packet_result
parse_ethertype(uint16_t type, const uint8_t *p, size_t caplen,
    struct tcpreasm_seg *seg)
{
	for (int i = 0; i <= MAX_VLAN_TAGS; i++) {
		switch (type) {
		case ETHERTYPE_IPV4:
			return parse_ipv4(p, caplen, seg);
		case ETHERTYPE_IPV6:
			return parse_ipv6(p, caplen, seg);
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
    struct tcpreasm_seg *seg)
{
	uint32_t fam;

	switch (link) {
	case PACKET_LINK_ETHER:
		if (caplen < 14)
			return PACKET_MALFORMED;
		return parse_ethertype(be16(p + 12), p + 14, caplen - 14, seg);
	case PACKET_LINK_SLL:
		if (caplen < 16)
			return PACKET_MALFORMED;
		return parse_ethertype(be16(p + 14), p + 16, caplen - 16, seg);
	case PACKET_LINK_SLL2:
		if (caplen < 20)
			return PACKET_MALFORMED;
		return parse_ethertype(be16(p), p + 20, caplen - 20, seg);
	case PACKET_LINK_RAW:
		return parse_ip(p, caplen, seg);
	case PACKET_LINK_NULL:
		if (caplen < 4)
			return PACKET_MALFORMED;
		/* Host byte order of the capturing machine: try both. */
		memcpy(&fam, p, 4);
		if (fam == 2 || fam == 0x02000000)
			return parse_ipv4(p + 4, caplen - 4, seg);
		return parse_ip(p + 4, caplen - 4, seg);
	case PACKET_LINK_UNKNOWN:
		break;
	}
	return PACKET_NOT_TCP;
}
