/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * packet.h: find the TCP segment in a captured packet.
 *
 *   link header          network            transport
 *   Ethernet [802.1Q]* ─┐
 *   Linux cooked v1/v2 ─┼─> IPv4 | IPv6 ───> TCP ──> struct tcpreasm_seg
 *   raw IP, BSD loopback┘   (ext. headers)
 *
 * Pure code: every read is bounds-checked against the captured length;
 * the IP length, not the capture, says where the payload ends (Ethernet
 * pads short frames), and an IP length past the packet's length on the
 * wire is malformed (the receiver drops it), not snapped. Fragments are
 * not reassembled (a kit's segments are small) and are reported as such.
 * IPv4 header and TCP checksums are checked where the capture holds them
 * whole: a packet the receiver would drop is reported as
 * PACKET_BAD_CHECKSUM, and seg->csum says whether the TCP checksum was
 * right or could not be checked (see packet.c).
 */
#ifndef PACKET_H
#define PACKET_H

#include <stddef.h>
#include <stdint.h>

#include "tcpreasm.h"

/* VLAN tags (802.1Q, 802.1ad, QinQ) taken in front of the IP header. */
#define PACKET_MAX_VLAN_TAGS 4

enum packet_link {
	PACKET_LINK_ETHER,	/* DLT_EN10MB */
	PACKET_LINK_SLL,	/* DLT_LINUX_SLL (-i any, libpcap < 1.10) */
	PACKET_LINK_SLL2,	/* DLT_LINUX_SLL2 (-i any) */
	PACKET_LINK_RAW,	/* DLT_RAW, DLT_IPV4, DLT_IPV6, NFQUEUE */
	PACKET_LINK_NULL,	/* DLT_NULL: BSD loopback */
	PACKET_LINK_UNKNOWN,
};

enum packet_result {
	PACKET_TCP,		/* *seg filled in */
	PACKET_NOT_TCP,		/* another protocol: ignore */
	PACKET_FRAGMENT,	/* an IP fragment */
	PACKET_MALFORMED,	/* headers cut short or inconsistent */
	PACKET_SNAPPED,		/* TCP, but the payload was cut by snaplen:
				 * *seg holds what was captured */
	PACKET_BAD_CHECKSUM,	/* IPv4 header or TCP checksum wrong */
};

/* seg->csum after PACKET_TCP or PACKET_SNAPPED. */
enum packet_csum {
	PACKET_CSUM_GOOD,
	PACKET_CSUM_OFFLOADED,	/* zero or partial: left to the NIC / GRO */
	PACKET_CSUM_UNCHECKED,	/* payload incomplete (snaplen, TSO) */
};

/* Map a libpcap DLT_ value to a link type. */
enum packet_link packet_link_from_dlt(int dlt);

/*
 * caplen bytes captured at p of a packet len bytes long on the wire
 * (pcap's len; a len below caplen counts as caplen).
 */
enum packet_result packet_parse(enum packet_link link, const uint8_t *p,
    size_t caplen, size_t len, struct tcpreasm_seg *seg);

#endif /* PACKET_H */
