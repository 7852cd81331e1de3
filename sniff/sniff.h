/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sniff.h: captured packets in, readings out. Shared by the three capture
 * sources (replay, live, NFQUEUE), which only hand over packets:
 *
 *   packet ──> packet_parse ──> tcpreasm ──> stream_feed (per direction)
 *                                  │ gap ──> stream_end + a fresh framer
 *                                  └ close ─> stream_end
 *
 * The kit -> portal direction of a flow is STREAM_FROM_KIT, the other
 * STREAM_FROM_PORTAL. Between segments a direction keeps only the bytes
 * of an unfinished frame (see sniff.c), so open flows cost the
 * reassembler's ~180 bytes plus what they have half sent.
 */
#ifndef SNIFF_H
#define SNIFF_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/time.h>

#include "outputs.h"
#include "packet.h"
#include "stream.h"
#include "tcpreasm.h"

struct sniff_stats {
	uint64_t filtered;	/* left out by a replay's filter */
	uint64_t packets;	/* handed to sniff_packet */
	uint64_t not_tcp;
	uint64_t fragments;
	uint64_t malformed;
	uint64_t snapped;	/* payload cut by the snap length */
	uint64_t bad_checksum;	/* IPv4 or TCP checksum wrong: dropped */
	uint64_t csum_unchecked;	/* offloaded or incomplete: taken
					 * without a check */
	uint64_t other_ports;	/* TCP the filter let by for its headers,
				 * not on a kit port: dropped */
	uint64_t frames;	/* whole frames (both directions) */
	uint64_t readings;
	uint64_t rejects;
	uint64_t skipped;	/* stream bytes outside frames, not filler */
	uint64_t bytes_to_server, bytes_to_client;	/* in-order bytes */
	uint64_t no_memory;
};

/* A side's "ADDR:PORT", kept from the last segment that used it. */
struct sniff_name {
	bool valid;
	int af;
	uint8_t addr[16];
	uint16_t port;
	char text[64];
};

struct sniff {
	struct tcpreasm r;
	struct outputs *out;
	struct sniff_stats st;
	struct stream scratch;	/* the one framer all flows take turns on */
	struct sniff_name name[2];	/* client side, server side */
	/*
	 * Set by a source whose filter lets more TCP through than the
	 * ports (IPv6 extension headers): only r.cfg.server_ports count.
	 */
	bool match_ports;
	bool filter_in_user;	/* a replay: `filtered` is counted */
};

int sniff_init(struct sniff *s, const struct tcpreasm_config *cfg,
    struct outputs *out);
/* caplen bytes captured of a packet len bytes long (packet_parse). */
void sniff_packet(struct sniff *s, enum packet_link link, const uint8_t *p,
    size_t caplen, size_t len, const struct timeval *when);
/* Idle flows end; call now and then when no packets come. */
void sniff_tick(struct sniff *s, const struct timeval *now);
/* End every flow (its readings are reported) and free everything. */
void sniff_finish(struct sniff *s, const struct timeval *now);
/* Log the counters at info level, with the source's own in `extra`. */
void sniff_log_stats(const struct sniff *s, const char *extra);

#endif /* SNIFF_H */
