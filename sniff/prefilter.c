/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * prefilter.c: see prefilter.h.
 *
 * The default filter is "A or (vlan and (A or (vlan and ...)))", with
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
#include <stdbool.h>
#include <string.h>

#include "prefilter.h"

void
prefilter_init(struct prefilter *pf, const uint16_t *ports, int nports)
{
	if (nports > TCPREASM_MAX_PORTS)
		nports = TCPREASM_MAX_PORTS;
	memset(pf, 0, sizeof(*pf));
	memcpy(pf->port, ports, (size_t)nports * sizeof(ports[0]));
	pf->nports = nports;
}

static uint16_t
be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static bool
port_in(const struct prefilter *pf, uint16_t port)
{
	for (int i = 0; i < pf->nports; i++)
		if (pf->port[i] == port)
			return true;
	return false;
}

enum prefilter_verdict
prefilter_verdict(const struct prefilter *pf, const uint8_t *p,
    size_t caplen)
{
	size_t x;

	if (caplen < 14)
		return PREFILTER_UNSURE;
	switch (be16(p + 12)) {
	case 0x0800:
		if (caplen < 34)
			return PREFILTER_UNSURE;
		x = (size_t)(p[14] & 0x0f) * 4;
		if (x < 20 || caplen < x + 18)
			return PREFILTER_UNSURE;
		if (p[23] != 6 || (be16(p + 20) & 0x1fff) != 0)
			return PREFILTER_LEAVE;
		return port_in(pf, be16(p + 14 + x)) ||
		    port_in(pf, be16(p + 16 + x)) ? PREFILTER_TAKE :
		    PREFILTER_LEAVE;
	case 0x86dd:
		if (caplen < 58)
			return PREFILTER_UNSURE;
		switch (p[20]) {
		case 6:
			return port_in(pf, be16(p + 54)) ||
			    port_in(pf, be16(p + 56)) ? PREFILTER_TAKE :
			    PREFILTER_LEAVE;
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
