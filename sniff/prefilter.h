/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * prefilter.h: the default filter's verdict on plain Ethernet packets,
 * without libpcap's BPF interpreter. A replay runs the filter in user
 * space for every packet (pcapsrc.c), and on a capture of nothing but
 * kits' traffic the interpreter was an eighth of the work.
 *
 * Promise: where prefilter_verdict says TAKE or LEAVE, the filter that
 * pcapsrc_filter_for_ports builds for the same ports (with its VLAN
 * terms, on DLT_EN10MB) says the same, packet for packet, however the
 * bytes are cut or garbled (tests/test_prefilter.c holds it to the
 * compiled program). Anything it does not know for sure (VLAN tags,
 * other ethertypes, IPv4 header lengths below 20, a capture too short to
 * hold the ports) is UNSURE: the caller runs the program.
 */
#ifndef PREFILTER_H
#define PREFILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tcpreasm.h"

enum prefilter_verdict {
	PREFILTER_UNSURE,	/* run the BPF program */
	PREFILTER_TAKE,		/* the filter takes it */
	PREFILTER_LEAVE,	/* the filter leaves it out */
};

struct prefilter {
	uint16_t port[TCPREASM_MAX_PORTS];
	int nports;
};

/* The ports the filter was built from (config_ports), up to 16. */
void prefilter_init(struct prefilter *pf, const uint16_t *ports,
    int nports);

/*
 * The verdict on an Ethernet frame of caplen captured bytes. The
 * default filter is "A or (vlan and (A or (vlan and ...)))", with
 * A = "tcp port P or (ip6 and (ip6[6] == 0 or ip6[6] == 43 or
 * ip6[6] == 60))". An untagged IPv4 or IPv6 frame is no VLAN tag, so A
 * alone decides it, and A reads these bytes, as libpcap compiles it:
 *
 *   [12:2]        ethertype: 0x0800 IPv4, 0x86dd IPv6
 *   IPv4 [23]     protocol 6; [20:2] & 0x1fff, the fragment offset, 0;
 *                 x = 4 * ([14] & 0xf); port [x+14:2] or [x+16:2]
 *   IPv6 [20]     next header 6 and port [54:2] or [56:2]; or next
 *                 header 0, 43 or 60 (the parser walks those)
 *
 * A load past the captured bytes makes BPF leave the packet; here it
 * makes the answer UNSURE, so the program decides as before.
 */
static inline uint16_t
prefilter_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline bool
prefilter_port(const struct prefilter *pf, uint16_t port)
{
	for (int i = 0; i < pf->nports; i++)
		if (pf->port[i] == port)
			return true;
	return false;
}

/* Inline: it runs for every packet of a replay. */
static inline enum prefilter_verdict
prefilter_verdict(const struct prefilter *pf, const uint8_t *p,
    size_t caplen)
{
	size_t x;

	if (caplen < 14)
		return PREFILTER_UNSURE;
	switch (prefilter_be16(p + 12)) {
	case 0x0800:
		if (caplen < 34)
			return PREFILTER_UNSURE;
		x = (size_t)(p[14] & 0x0f) * 4;
		if (x < 20 || caplen < x + 18)
			return PREFILTER_UNSURE;
		if (p[23] != 6 || (prefilter_be16(p + 20) & 0x1fff) != 0)
			return PREFILTER_LEAVE;
		return prefilter_port(pf, prefilter_be16(p + 14 + x)) ||
		    prefilter_port(pf, prefilter_be16(p + 16 + x)) ?
		    PREFILTER_TAKE : PREFILTER_LEAVE;
	case 0x86dd:
		if (caplen < 58)
			return PREFILTER_UNSURE;
		switch (p[20]) {
		case 6:
			return prefilter_port(pf, prefilter_be16(p + 54)) ||
			    prefilter_port(pf, prefilter_be16(p + 56)) ?
			    PREFILTER_TAKE : PREFILTER_LEAVE;
		case 0:
		case 43:
		case 60:
			return PREFILTER_TAKE;
		default:
			return PREFILTER_LEAVE;
		}
	default:
		return PREFILTER_UNSURE;
	}
}

#endif /* PREFILTER_H */
