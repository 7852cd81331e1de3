/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pcapsrc.h: libpcap as a packet source, for replay (-r) and live capture
 * (-i). Both hand every packet to sniff_packet with the capture's own
 * timestamp, so a replay gives the same readings every time.
 */
#ifndef PCAPSRC_H
#define PCAPSRC_H

#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

#include "sniff.h"

struct event_base;
struct pcapsrc;

/*
 * The BPF filter for these TCP ports (space or comma separated), with the
 * IPv6 packets whose ports it cannot see (extension headers), also under
 * up to PACKET_MAX_VLAN_TAGS tags when vlan is true: what the parser can
 * read. Returns 0, or -1 with a message in err.
 */
int pcapsrc_filter_for_ports(const char *ports, bool vlan, char *buf,
    size_t n, char *err, size_t errlen);

/*
 * Replay one pcap or pcapng file, open as fp (name for messages), into s;
 * fp is closed. The caller opens it, so that it can give up its
 * privileges before the first byte is parsed. filter "" builds one from
 * ports, which also sets s->match_ports. The filter runs here, as the
 * kernel would run it, and counts what it leaves out (s->st.filtered).
 * between(arg), if not NULL, runs every few thousand packets (for
 * signals). Returns 0, or -1 with a message in err (packets read before a
 * read error are kept).
 */
int pcapsrc_replay(struct sniff *s, FILE *fp, const char *name,
    const char *filter, const char *ports, void (*between)(void *),
    void *arg, char *err, size_t errlen);

struct pcapsrc_live_config {
	const char *interface;
	const char *filter;	/* "" = built from ports */
	const char *ports;
	bool promisc;
	int snaplen;
	int buffer_size;
};

/* Open and activate the live capture (needs privileges). */
struct pcapsrc *pcapsrc_live_open(const struct pcapsrc_live_config *c,
    struct sniff *s, char *err, size_t errlen);
/* Watch it from the event loop. Returns 0 or -1 with a message. */
int pcapsrc_live_attach(struct pcapsrc *p, struct event_base *base,
    char *err, size_t errlen);
/* Read what is waiting now (also called from a timer). */
void pcapsrc_live_poll(struct pcapsrc *p);
/* "received N, dropped by the kernel N, by the interface N". */
void pcapsrc_live_stats(struct pcapsrc *p, char *buf, size_t n);
void pcapsrc_live_close(struct pcapsrc *p);

#endif /* PCAPSRC_H */
