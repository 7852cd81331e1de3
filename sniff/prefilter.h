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

/* The ports the filter was built from (config_ports), at most
 * TCPREASM_MAX_PORTS. */
void prefilter_init(struct prefilter *pf, const uint16_t *ports,
    int nports);
/* The verdict on an Ethernet frame of caplen captured bytes. */
enum prefilter_verdict prefilter_verdict(const struct prefilter *pf,
    const uint8_t *p, size_t caplen);

#endif /* PREFILTER_H */
