/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mkpcap: write pcap/pcapng fixtures for omnik-sniff from known frames, and
 * the CSV a perfect reader must get from them.
 *
 *   pushes (vectors.tsv lines, or generated readings)
 *     -> one TCP connection each: handshake, data segments, FINs
 *     -> segment transformations (split, reorder, retransmit, overlap, drop)
 *     -> attacks: forged copies (--attack), bad frames (--bad-frames)
 *     -> flows interleaved, unrelated traffic mixed in
 *     -> link layer (Ethernet, VLAN, Linux cooked v1/v2, raw IP; IPv4/IPv6)
 *     -> pcap or pcapng file; expected CSV lines on the side
 *
 * All of it is deterministic: the same options give the same bytes. Every
 * connection's packets fall in one second (its readings' time, as the CSV
 * shows whole seconds), which keeps the expected output independent of
 * which packet completes a frame.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <netinet/in.h>
#include <linux/if_packet.h>
#include <sys/socket.h>
#include <time.h>
#include <sys/time.h>
#include <unistd.h>

#include "csv.h"
#include "framer.h"
#include "omnik.h"

#define MAX_PUSH 4096
#define MAX_SEGS 16384		/* data segments per push */

/*
 * Injected segments, as an attacker on the LAN would send them; a perfect
 * reader gets the kit's readings, once, and nothing else:
 *   forge-first     a forged copy of each data segment (other readings,
 *                   valid frames) just before it, with a wrong TCP checksum
 *   forge-first-ip  the same with a wrong IPv4 header checksum
 *   forge-first-len the same with a wrong TCP checksum and an IP length
 *                   64 bytes longer than the packet (as if snapped)
 *   spoof-fin       after the first data segment a FIN+ACK 89 bytes behind
 *                   it, then the portal's ACK of all, then the rest
 *   after-fin       once both FINs are through, every data segment again,
 *                   and the whole push once more past the FIN
 *   after-rst       the portal resets after the data; the kit retransmits
 *                   it all, then closes
 */
enum attack { A_NONE, A_FORGE, A_FORGE_IP, A_FORGE_LEN, A_SPOOF_FIN,
    A_AFTER_FIN, A_AFTER_RST };

enum seg_mode { SEG_FRAME, SEG_SPLIT, SEG_OFFSETS, SEG_WHOLE };
enum link { L_ETHER, L_VLAN, L_QINQ, L_SLL, L_SLL2, L_RAW };

static struct {
	const char *vectors;
	int synthetic;
	int repeat;
	enum seg_mode seg;
	int split;
	bool reorder, retransmit, overlap, ipv6, pcapng, bad_csum, offload;
	bool ext_hdrs;		/* IPv6: hop-by-hop and destination options */
	bool fuzz;		/* fuzz_sniff records instead of a capture */
	int inject;		/* --inject: an AF_PACKET socket, or -1 */
	long pps;		/* --pps: injected packets a second, 0: paused */
	int flow_base;		/* first flow's number: other tuples, ISNs */
	enum attack attack;
	int bad_frames;		/* rejected frames in front of each push */
	int bad_ip;		/* the packet being written: 1 bad TCP, 2 bad
				 * IPv4 header checksum, 3 bad TCP and an IP
				 * length past the packet's end */
	int drop;		/* drop the Nth data segment of every flow */
	int kits;		/* flows interleaved at once */
	int noise;		/* percent of packets unrelated */
	int noise_size;		/* their TCP packets' IP length, 0: small */
	long packets;		/* stop after about this many packets */
	int open_flows;		/* keep this many flows open at once */
	int inverters;		/* data frames per generated push */
	enum link link;
	FILE *out, *expect;
	uint32_t rng;
	long written;
	time_t t0;
} O;

struct push {
	uint8_t *data;		/* MAX_PUSH, more with --bad-frames */
	size_t len;
};

struct pkt {
	bool from_kit;
	uint8_t bad;		/* as O.bad_ip */
	uint8_t flags;
	uint32_t seq, ack;
	const uint8_t *data;
	size_t len;
};

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10

static uint32_t
rnd(void)
{
	O.rng ^= O.rng << 13;
	O.rng ^= O.rng >> 17;
	O.rng ^= O.rng << 5;
	return O.rng;
}

static void
die(const char *msg)
{
	fprintf(stderr, "mkpcap: %s\n", msg);
	exit(1);
}

/* ---------------------------------------------------------------- */
/* Pushes */

static int
load_vectors(const char *path, struct push **out)
{
	FILE *fp = fopen(path, "r");
	char line[8192];
	struct push *p = NULL;
	int n = 0;

	if (fp == NULL)
		die("cannot open the vectors file");
	while (fgets(line, sizeof(line), fp)) {
		char *hex, *tab;
		size_t len = 0;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		hex = strchr(line, '\t');
		if (hex == NULL)
			continue;
		hex++;
		tab = strchr(hex, '\t');
		if (tab)
			*tab = '\0';
		p = realloc(p, sizeof(*p) * (size_t)(n + 1));
		if (p == NULL || (p[n].data = malloc(MAX_PUSH)) == NULL)
			die("out of memory");
		for (size_t i = 0; hex[i] && hex[i + 1] && len < MAX_PUSH;
		    i += 2) {
			unsigned v;

			if (sscanf(hex + i, "%2x", &v) != 1)
				break;
			p[n].data[len++] = (uint8_t)v;
		}
		p[n].len = len;
		n++;
	}
	fclose(fp);
	*out = p;
	return n;
}

/* Data frames and a "DATA SEND IS OK", as a kit pushes them. */
static void
make_synthetic(int i, struct push *p)
{
	struct omnik_reading r;
	size_t n1, n2;

	p->len = 0;
	for (int inv = 0; inv < O.inverters; inv++, i += 100000) {

	omnik_reading_clear(&r);
	r.kit_sn = 600000000u + (uint32_t)(i % 1000);
	r.ctrl1 = 0x41;
	r.value[OMNIK_TEMP] = 200 + i % 300;
	r.value[OMNIK_VPV1] = 2000 + i % 1500;
	r.value[OMNIK_VPV2] = 1900 + i % 1300;
	r.value[OMNIK_IPV1] = i % 90;
	r.value[OMNIK_IPV2] = (i * 7) % 90;
	r.value[OMNIK_IAC1] = (i * 3) % 120;
	r.value[OMNIK_VAC1] = 2250 + i % 200;
	r.value[OMNIK_FAC1] = 4990 + i % 20;
	r.value[OMNIK_PAC1] = i % 3000;
	r.value[OMNIK_ETODAY] = i % 4000;
	r.value[OMNIK_ETOTAL] = 100000 + i;
	r.value[OMNIK_HTOTAL] = 5000 + i;
	r.value[OMNIK_RUNMODE] = 1;
	r.has_fw = true;
	snprintf(r.fw_main, sizeof(r.fw_main), "NL1-V1.0-0077-4");
	snprintf(r.fw_slave, sizeof(r.fw_slave), "V2.0-0024");
	snprintf(r.inverter_sn, sizeof(r.inverter_sn), "NLDN%06u%06u",
	    (unsigned)inv % 1000000u, (unsigned)i % 1000000u);
	if (omnik_encode_data(&r, 0x7D, p->data + p->len,
	    MAX_PUSH - p->len, &n1) != OMNIK_OK)
		die("cannot encode a reading");
	p->len += n1;
	}
	if (omnik_encode_text(r.kit_sn, 0x41, "DATA SEND IS OK\r\n",
	    p->data + p->len, MAX_PUSH - p->len, &n2) != OMNIK_OK)
		die("cannot encode a text frame");
	p->len += n2;
}

/*
 * The CSV lines a reader must produce for this push at time t, leaving
 * out frames that touch the byte range [lost_from, lost_to).
 */
static void
expect_push(const struct push *p, time_t t, size_t lost_from, size_t lost_to)
{
	struct framer fr;
	struct framer_frame f;
	struct timeval tv = { t, 0 };
	enum framer_status st;
	char line[CSV_LINE_MAX];
	int pass = 0;

	/* Every packet has a checksum the portal drops: nothing arrives. */
	if (O.expect == NULL || O.bad_csum)
		return;
	framer_init(&fr);
	framer_input(&fr, p->data, p->len);
	for (;;) {
		while ((st = framer_next(&fr, &f)) != FRAMER_NEED_MORE) {
			struct omnik_msg m;

			if (st != FRAMER_FRAME)
				continue;
			if (f.offset < lost_to && f.offset + f.len > lost_from)
				continue;
			if (omnik_decode(f.data, f.len, &m) != OMNIK_OK ||
			    m.kind != OMNIK_MSG_DATA)
				continue;
			if (csv_format(line, sizeof(line), &m.reading, &tv))
				fputs(line, O.expect);
		}
		if (pass++)
			break;
		framer_finish(&fr);
	}
}

/* ---------------------------------------------------------------- */
/* Writing packets */

static void
put(const void *p, size_t n)
{
	if (fwrite(p, 1, n, O.out) != n)
		die("write failed");
}

static void
put32(uint32_t v)
{
	put(&v, 4);
}

static void
put16(uint16_t v)
{
	put(&v, 2);
}

static int
linktype(void)
{
	switch (O.link) {
	case L_ETHER:
	case L_VLAN:
	case L_QINQ:
		return 1;
	case L_SLL:
		return 113;
	case L_SLL2:
		return 276;
	case L_RAW:
		return 101;
	}
	return 1;
}

static void
file_header(void)
{
	if (O.inject >= 0)
		return;
	if (O.fuzz) {
		/* fuzz_sniff's caps byte: 9 flows, the larger held caps. */
		put("\xff", 1);
		return;
	}
	if (O.pcapng) {
		put32(0x0A0D0D0A);	/* section header block */
		put32(28);
		put32(0x1A2B3C4D);
		put16(1);
		put16(0);
		put32(0xffffffff);
		put32(0xffffffff);
		put32(28);
		put32(1);		/* interface description block */
		put32(20);
		put16((uint16_t)linktype());
		put16(0);
		put32(65535);
		put32(20);
	} else {
		put32(0xa1b2c3d4);
		put16(2);
		put16(4);
		put32(0);
		put32(0);
		put32(65535);
		put32((uint32_t)linktype());
	}
}

/* --pps: frame k leaves no earlier than k / pps after the first. */
static void
pace(void)
{
	static struct timespec t0;
	struct timespec now;
	double due, at;

	if (O.written++ == 0)
		clock_gettime(CLOCK_MONOTONIC, &t0);
	due = (double)O.written / (double)O.pps;
	clock_gettime(CLOCK_MONOTONIC, &now);
	at = (double)(now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9;
	if (due - at > 100e-6) {
		struct timespec d = { 0, (long)((due - at) * 1e9) };

		nanosleep(&d, NULL);
	}
}

static void
write_record(const struct timeval *tv, const uint8_t *p, size_t n)
{
	static const uint8_t zero[4];

	if (O.inject >= 0) {
		/* On the wire; now and then a pause for the receive queue. */
		(void)tv;
		if (send(O.inject, p, n, 0) != (ssize_t)n)
			die("cannot send a frame");
		if (O.pps > 0) {
			pace();
			return;
		}
		if (++O.written % 64 == 0)
			usleep(2000);
		return;
	}
	if (O.fuzz) {
		/* A raw record: the parser's link type, length, bytes. */
		uint8_t hdr[3] = { O.link == L_SLL ? 1 : O.link == L_SLL2 ? 2 :
		    O.link == L_RAW ? 3 : 0, (uint8_t)(n >> 8), (uint8_t)n };

		(void)tv;
		put(hdr, 3);
		put(p, n);
		O.written++;
		return;
	}
	if (O.pcapng) {
		uint64_t us = (uint64_t)tv->tv_sec * 1000000 +
		    (uint64_t)tv->tv_usec;
		size_t pad = (4 - n % 4) % 4;

		put32(6);
		put32((uint32_t)(32 + n + pad));
		put32(0);
		put32((uint32_t)(us >> 32));
		put32((uint32_t)us);
		put32((uint32_t)n);
		put32((uint32_t)n);
		put(p, n);
		put(zero, pad);
		put32((uint32_t)(32 + n + pad));
	} else {
		put32((uint32_t)tv->tv_sec);
		put32((uint32_t)tv->tv_usec);
		put32((uint32_t)n);
		put32((uint32_t)n);
		put(p, n);
	}
	O.written++;
}

static uint16_t
csum_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static uint32_t
csum_add(uint32_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)(p[n - 1] << 8);
	return s;
}

/*
 * One IP packet (TCP, or UDP when proto is 17) between two hosts,
 * wrapped in the chosen link layer.
 */
static void
emit_ip(const struct timeval *tv, int v6, const uint8_t *src,
    const uint8_t *dst, uint8_t proto, const uint8_t *l4, size_t l4len)
{
	static uint8_t buf[70000];
	size_t off = 0, iphl = v6 ? (O.ext_hdrs ? 40 + 8 + 16 : 40) : 20;
	uint8_t *ip;
	uint16_t ethertype = v6 ? 0x86dd : 0x0800;
	uint32_t s;

	switch (O.link) {
	case L_ETHER:
	case L_VLAN:
	case L_QINQ:
		memcpy(buf, "\x02\x00\x00\x00\x00\x69\x02\x00\x00\x00\x00\x10",
		    12);
		off = 12;
		if (O.link == L_QINQ) {	/* 802.1ad service tag outside */
			buf[off++] = 0x88;
			buf[off++] = 0xa8;
			buf[off++] = 0x00;
			buf[off++] = 100;
		}
		if (O.link == L_VLAN || O.link == L_QINQ) {
			buf[off++] = 0x81;
			buf[off++] = 0x00;
			buf[off++] = 0x00;
			buf[off++] = 42;
		}
		buf[off++] = (uint8_t)(ethertype >> 8);
		buf[off++] = (uint8_t)ethertype;
		break;
	case L_SLL:
		memset(buf, 0, 16);
		buf[1] = 4;		/* sent by us */
		buf[3] = 1;		/* ARPHRD_ETHER */
		buf[5] = 6;
		memcpy(buf + 6, "\x02\x00\x00\x00\x00\x10", 6);
		buf[14] = (uint8_t)(ethertype >> 8);
		buf[15] = (uint8_t)ethertype;
		off = 16;
		break;
	case L_SLL2:
		memset(buf, 0, 20);
		buf[0] = (uint8_t)(ethertype >> 8);
		buf[1] = (uint8_t)ethertype;
		buf[7] = 3;		/* interface index */
		buf[9] = 1;		/* ARPHRD_ETHER */
		buf[10] = 4;
		buf[11] = 6;
		memcpy(buf + 12, "\x02\x00\x00\x00\x00\x10", 6);
		off = 20;
		break;
	case L_RAW:
		break;
	}
	ip = buf + off;
	memset(ip, 0, iphl);
	if (v6) {
		ip[0] = 0x60;
		ip[4] = (uint8_t)((iphl - 40 + l4len +
		    (O.bad_ip == 3 ? 64 : 0)) >> 8);
		ip[5] = (uint8_t)(iphl - 40 + l4len +
		    (O.bad_ip == 3 ? 64 : 0));
		ip[6] = O.ext_hdrs ? 0 : proto;
		ip[7] = 64;
		memcpy(ip + 8, src, 16);
		memcpy(ip + 24, dst, 16);
		if (O.ext_hdrs) {
			/* Hop-by-hop (8 bytes: PadN), destination options
			 * (16 bytes: PadN), then the transport. */
			ip[40] = 60;
			ip[41] = 0;
			ip[42] = 1;
			ip[43] = 4;
			ip[48] = proto;
			ip[49] = 1;
			ip[50] = 1;
			ip[51] = 12;
		}
	} else {
		size_t tot = 20 + l4len + (O.bad_ip == 3 ? 64 : 0);

		ip[0] = 0x45;
		ip[2] = (uint8_t)(tot >> 8);
		ip[3] = (uint8_t)tot;
		ip[6] = 0x40;		/* don't fragment */
		ip[8] = 64;
		ip[9] = proto;
		memcpy(ip + 12, src, 4);
		memcpy(ip + 16, dst, 4);
		s = csum_fold(csum_add(0, ip, 20));
		if (O.bad_ip == 2)
			s ^= 0x0101;
		ip[10] = (uint8_t)(s >> 8);
		ip[11] = (uint8_t)s;
	}
	memcpy(ip + iphl, l4, l4len);
	/* Transport checksum over the pseudo header. */
	{
		uint8_t *l = ip + iphl;
		size_t co = proto == 6 ? 16 : 6;

		s = 0;
		s = csum_add(s, src, v6 ? 16 : 4);
		s = csum_add(s, dst, v6 ? 16 : 4);
		s += proto + (uint32_t)l4len;
		l[co] = l[co + 1] = 0;
		/* Offload: the pseudo header's sum, left for the NIC. */
		if (O.offload)
			s = (uint16_t)~csum_fold(s);
		else
			s = csum_fold(csum_add(s, l, l4len));
		if (O.bad_csum || O.bad_ip == 1 || O.bad_ip == 3)
			s ^= 0x5a5a;
		l[co] = (uint8_t)(s >> 8);
		l[co + 1] = (uint8_t)s;
	}
	off += iphl + l4len;
	/* Ethernet pads short frames: the reader must go by the IP length. */
	if ((O.link == L_ETHER || O.link == L_VLAN || O.link == L_QINQ) &&
	    off < 60) {
		memset(buf + off, 0, 60 - off);
		off = 60;
	}
	write_record(tv, buf, off);
}

struct flow {
	int v6;
	uint8_t kit[16], portal[16];
	uint16_t kport, pport;
	uint32_t kisn, pisn;
	const struct push *push;
	time_t t;
	struct pkt *pk;
	int npk, cur;
	uint8_t *forged;	/* --attack forge-*: the forged copies */
};

static void
emit_tcp(struct flow *f, const struct pkt *p, const struct timeval *tv)
{
	static uint8_t l4[70000];

	memset(l4, 0, 20);
	l4[0] = (uint8_t)((p->from_kit ? f->kport : f->pport) >> 8);
	l4[1] = (uint8_t)(p->from_kit ? f->kport : f->pport);
	l4[2] = (uint8_t)((p->from_kit ? f->pport : f->kport) >> 8);
	l4[3] = (uint8_t)(p->from_kit ? f->pport : f->kport);
	for (int i = 0; i < 4; i++) {
		l4[4 + i] = (uint8_t)(p->seq >> (24 - 8 * i));
		l4[8 + i] = (uint8_t)(p->ack >> (24 - 8 * i));
	}
	l4[12] = 5 << 4;
	l4[13] = p->flags;
	l4[14] = 0xfa;
	l4[15] = 0xf0;
	if (p->len > 0)
		memcpy(l4 + 20, p->data, p->len);
	O.bad_ip = p->bad;
	emit_ip(tv, f->v6, p->from_kit ? f->kit : f->portal,
	    p->from_kit ? f->portal : f->kit, 6, l4, 20 + p->len);
}

/* Unrelated traffic: web, DNS, other TCP, with 0x68 bytes in it. */
static void
emit_noise(const struct timeval *tv, long i)
{
	static const char *const words[] = {
		"GET / HTTP/1.1\r\nHost: example.net\r\n\r\n",
		"\x68\x7d\x41\xb0 not a frame at all \x16",
		"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	};
	uint8_t l4[1600], a[16], b[16];
	const char *w = words[i % 3];
	size_t wl = strlen(w), pl;
	int v6 = (i % 7) == 0;
	uint16_t sp = (uint16_t)(30000 + i % 20000);
	uint16_t dp = (i % 5) == 0 ? 53 : (i % 5) == 1 ? 443 : 80;

	memset(a, 0, 16);
	memset(b, 0, 16);
	if (v6) {
		inet_pton(AF_INET6, "2001:db8:1::5", a);
		inet_pton(AF_INET6, "2001:db8:2::80", b);
	} else {
		inet_pton(AF_INET, "198.51.100.5", a);
		inet_pton(AF_INET, "203.0.113.80", b);
	}
	memset(l4, 0, sizeof(l4));
	l4[0] = (uint8_t)(sp >> 8);
	l4[1] = (uint8_t)sp;
	l4[2] = (uint8_t)(dp >> 8);
	l4[3] = (uint8_t)dp;
	if (dp == 53) {
		l4[4] = 0;
		l4[5] = (uint8_t)(8 + wl);
		memcpy(l4 + 8, w, wl);
		emit_ip(tv, v6, a, b, 17, l4, 8 + wl);
		return;
	}
	l4[7] = (uint8_t)i;
	l4[12] = 5 << 4;
	l4[13] = TH_ACK | TH_PSH;
	memcpy(l4 + 20, w, wl);
	/* --noise-size: web pages, not requests (filled to the length). */
	pl = wl;
	if (O.noise_size > 0 && (size_t)O.noise_size > (v6 ? 60u : 40u) + wl)
		pl = (size_t)O.noise_size - (v6 ? 60u : 40u);
	memset(l4 + 20 + wl, 'x', pl - wl);
	emit_ip(tv, v6, a, b, 6, l4, 20 + pl);
}

/* ---------------------------------------------------------------- */
/* Connections */

static void
add(struct flow *f, bool from_kit, uint8_t flags, uint32_t seq, uint32_t ack,
    const uint8_t *d, size_t len)
{
	struct pkt *p;

	f->pk = realloc(f->pk, sizeof(*f->pk) * (size_t)(f->npk + 1));
	if (f->pk == NULL)
		die("out of memory");
	p = &f->pk[f->npk++];
	p->bad = 0;
	p->from_kit = from_kit;
	p->flags = flags;
	p->seq = seq;
	p->ack = ack;
	p->data = d;
	p->len = len;
}

/* The data segments of a push, cut as asked: [from, to) pairs. */
static int
cut(const struct push *p, int offset_split, size_t *from, size_t *to, int max)
{
	int n = 0;
	size_t o = 0;

	if (offset_split > 0) {
		from[0] = 0;
		to[0] = (size_t)offset_split;
		from[1] = (size_t)offset_split;
		to[1] = p->len;
		return 2;
	}
	while (o < p->len && n < max) {
		size_t l;

		switch (O.seg) {
		case SEG_WHOLE:
			l = p->len;
			break;
		case SEG_SPLIT:
			l = (size_t)O.split;
			break;
		case SEG_FRAME:
		default:
			/* One frame (or filler run) per segment. */
			if (p->data[o] == OMNIK_START && o + 1 < p->len)
				l = (size_t)p->data[o + 1] + OMNIK_OVERHEAD;
			else {
				l = 1;
				while (o + l < p->len &&
				    p->data[o + l] != OMNIK_START)
					l++;
			}
			break;
		}
		if (o + l > p->len)
			l = p->len - o;
		from[n] = o;
		to[n] = o + l;
		o += l;
		n++;
	}
	return n;
}

/*
 * A forged copy of a push: every whole frame in it keeps its place and
 * length but carries other values (and a checksum that fits them), so
 * that if it were taken it would be a reading the kit never sent.
 */
static void
forge(const uint8_t *d, size_t len, uint8_t *out)
{
	memcpy(out, d, len);
	for (size_t i = 0; i + OMNIK_FRAME_MIN <= len; i++) {
		size_t fl = (size_t)d[i + 1] + OMNIK_OVERHEAD;

		if (d[i] != OMNIK_START || i + fl > len ||
		    d[i + fl - 1] != OMNIK_END ||
		    omnik_checksum(d + i, fl) != d[i + fl - 2])
			continue;
		/* A byte in the middle: a value, in a data frame. */
		out[i + fl / 2] ^= 0x21;
		out[i + fl - 2] = omnik_checksum(out + i, fl);
		i += fl - 1;
	}
}

/* N frames with a broken checksum, then the push itself. */
static void
add_bad_frames(struct push *p, int n)
{
	uint8_t bad[64];
	size_t bl;
	uint8_t *d;

	if (omnik_encode_text(600000001u, 0x41, "DATA SEND IS OK", bad,
	    sizeof(bad), &bl) != OMNIK_OK)
		die("cannot encode a text frame");
	bad[bl - 2] ^= 0x01;
	d = malloc(bl * (size_t)n + p->len);
	if (d == NULL)
		die("out of memory");
	for (int i = 0; i < n; i++)
		memcpy(d + bl * (size_t)i, bad, bl);
	memcpy(d + bl * (size_t)n, p->data, p->len);
	free(p->data);
	p->data = d;
	p->len += bl * (size_t)n;
}

static void
build_flow(struct flow *f, int idx, const struct push *p, time_t t,
    int offset_split)
{
	static size_t from[MAX_SEGS], to[MAX_SEGS];
	static int order[MAX_SEGS];
	int n;
	size_t lost_from = 0, lost_to = 0;
	uint32_t k, s;

	memset(f, 0, sizeof(*f));
	idx += O.flow_base;
	f->v6 = O.ipv6;
	f->push = p;
	f->t = t;
	if (O.ipv6) {
		inet_pton(AF_INET6, "2001:db8::", f->kit);
		f->kit[12] = (uint8_t)(idx >> 16);
		f->kit[13] = (uint8_t)(idx >> 8);
		f->kit[14] = (uint8_t)idx;
		f->kit[15] = 1;
		inet_pton(AF_INET6, "2001:db8:69::69", f->portal);
	} else {
		/* Kits spread over 192.0.2.0/24 and 198.51.100.0/24. */
		f->kit[0] = (idx / 250) % 2 ? 198 : 192;
		f->kit[1] = (idx / 250) % 2 ? 51 : 0;
		f->kit[2] = (idx / 250) % 2 ? 100 : 2;
		f->kit[3] = (uint8_t)(1 + idx % 250);
		inet_pton(AF_INET, "203.0.113.69", f->portal);
	}
	f->kport = (uint16_t)(1024 + (idx / 500) % 60000);
	f->pport = 10004;
	f->kisn = 0xfffff000u + (uint32_t)idx * 7919u;	/* some wrap */
	f->pisn = 0x10000000u + (uint32_t)idx * 104729u;
	k = f->kisn;
	s = f->pisn;
	add(f, true, TH_SYN, k, 0, NULL, 0);
	add(f, false, TH_SYN | TH_ACK, s, k + 1, NULL, 0);
	add(f, true, TH_ACK, k + 1, s + 1, NULL, 0);

	n = cut(p, offset_split, from, to, MAX_SEGS);
	if (O.attack == A_FORGE || O.attack == A_FORGE_IP ||
	    O.attack == A_FORGE_LEN) {
		f->forged = malloc(p->len ? p->len : 1);
		if (f->forged == NULL)
			die("out of memory");
		forge(p->data, p->len, f->forged);
	}
	for (int i = 0; i < n; i++)
		order[i] = i;
	if (O.reorder)
		for (int i = 0; i + 1 < n; i += 2) {
			int x = order[i];

			order[i] = order[i + 1];
			order[i + 1] = x;
		}
	for (int j = 0; j < n; j++) {
		int i = order[j];
		uint32_t seq = k + 1 + (uint32_t)from[i];

		if (O.drop > 0 && i == O.drop - 1 && n > 1) {
			lost_from = from[i];
			lost_to = to[i];
			continue;
		}
		if (f->forged) {
			add(f, true, TH_ACK | TH_PSH, seq, s + 1,
			    f->forged + from[i], to[i] - from[i]);
			f->pk[f->npk - 1].bad = O.attack == A_FORGE ? 1 :
			    O.attack == A_FORGE_IP ? 2 : 3;
		}
		add(f, true, TH_ACK | TH_PSH, seq, s + 1, p->data + from[i],
		    to[i] - from[i]);
		if (O.attack == A_SPOOF_FIN && j == 0) {
			add(f, true, TH_FIN | TH_ACK, seq + (uint32_t)
			    (to[i] - from[i]) - 89, s + 1, NULL, 0);
			add(f, false, TH_ACK, s + 1, k + 1 + (uint32_t)p->len,
			    NULL, 0);
		}
		if (O.retransmit)
			add(f, true, TH_ACK | TH_PSH, seq, s + 1,
			    p->data + from[i], to[i] - from[i]);
		if (O.overlap && i > 0) {
			/* Half of the previous segment and half of this. */
			size_t a = from[i - 1] + (to[i - 1] - from[i - 1]) / 2;
			size_t b = from[i] + (to[i] - from[i] + 1) / 2;

			add(f, true, TH_ACK | TH_PSH, k + 1 + (uint32_t)a,
			    s + 1, p->data + a, b - a);
		}
	}
	/* The portal got everything, whatever the capture missed. */
	add(f, false, TH_ACK, s + 1, k + 1 + (uint32_t)p->len, NULL, 0);
	if (O.attack == A_AFTER_RST) {
		add(f, false, TH_RST, s + 1, 0, NULL, 0);
		for (int i = 0; i < n; i++)
			add(f, true, TH_ACK | TH_PSH, k + 1 + (uint32_t)from[i],
			    s + 1, p->data + from[i], to[i] - from[i]);
	}
	add(f, true, TH_FIN | TH_ACK, k + 1 + (uint32_t)p->len, s + 1, NULL, 0);
	add(f, false, TH_FIN | TH_ACK, s + 1, k + 2 + (uint32_t)p->len, NULL, 0);
	add(f, true, TH_ACK, k + 2 + (uint32_t)p->len, s + 2, NULL, 0);
	if (O.attack == A_AFTER_FIN) {
		for (int i = 0; i < n; i++)
			add(f, true, TH_ACK | TH_PSH, k + 1 + (uint32_t)from[i],
			    s + 2, p->data + from[i], to[i] - from[i]);
		for (int i = 0; i < n; i++)
			add(f, true, TH_ACK | TH_PSH, k + 2 + (uint32_t)p->len +
			    (uint32_t)from[i], s + 2, p->data + from[i],
			    to[i] - from[i]);
	}
	expect_push(p, t, lost_from, lost_to);
}

/* Emit the next packet of a flow, with noise in front as asked. */
static void
step(struct flow *f, long *tick)
{
	struct timeval tv;

	if (O.noise > 0) {
		/* Unrelated packets so that noise% of all are unrelated. */
		long want = O.noise / (100 - O.noise);
		long extra = (O.noise % (100 - O.noise)) > 0 &&
		    rnd() % (uint32_t)(100 - O.noise) <
		    (uint32_t)(O.noise % (100 - O.noise));

		for (long i = 0; i < want + extra; i++) {
			tv.tv_sec = f->t;
			tv.tv_usec = (suseconds_t)((*tick)++ % 1000000);
			emit_noise(&tv, O.written);
		}
	}
	tv.tv_sec = f->t;
	tv.tv_usec = (suseconds_t)((*tick)++ % 1000000);
	emit_tcp(f, &f->pk[f->cur++], &tv);
}

static void
usage(void)
{
	fprintf(stderr,
"usage: mkpcap -o OUT [--expect CSV] [--vectors FILE | --synthetic N]\n"
"  [--repeat N] [--seg frame|whole|offsets|N] [--reorder] [--retransmit]\n"
"  [--overlap] [--drop N] [--kits K] [--noise PCT] [--noise-size N]\n"
"  [--ipv6]\n"
"  [--link ether|vlan|qinq|sll|sll2|raw] [--ext-headers] [--pcapng]\n"
"  [--bad-checksums] [--fuzz-records] [--inject IFACE] [--pps N]\n"
"  [--flow-base N]\n"
"  [--offload] [--attack forge-first|forge-first-ip|forge-first-len|\n"
"  spoof-fin|after-fin|after-rst] [--bad-frames N]\n"
"  [--packets N] [--open-flows N] [--inverters N]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "out", 1, NULL, 'o' }, { "expect", 1, NULL, 'e' },
		{ "vectors", 1, NULL, 'V' }, { "synthetic", 1, NULL, 'S' },
		{ "repeat", 1, NULL, 'R' }, { "seg", 1, NULL, 's' },
		{ "reorder", 0, NULL, 'r' }, { "retransmit", 0, NULL, 't' },
		{ "overlap", 0, NULL, 'O' }, { "drop", 1, NULL, 'd' },
		{ "kits", 1, NULL, 'k' }, { "noise", 1, NULL, 'n' },
		{ "noise-size", 1, NULL, 'N' }, { "pps", 1, NULL, 'P' },
		{ "ipv6", 0, NULL, '6' }, { "link", 1, NULL, 'l' },
		{ "pcapng", 0, NULL, 'g' }, { "bad-checksums", 0, NULL, 'b' },
		{ "inverters", 1, NULL, 'I' }, { "packets", 1, NULL, 'p' }, { "open-flows", 1, NULL, 'F' },
		{ "offload", 0, NULL, 'L' }, { "attack", 1, NULL, 'A' },
		{ "bad-frames", 1, NULL, 'X' }, { "ext-headers", 0, NULL, 'H' },
		{ "fuzz-records", 0, NULL, 'Z' }, { "inject", 1, NULL, 'J' },
		{ "flow-base", 1, NULL, 'B' },
		{ NULL, 0, NULL, 0 },
	};
	struct push *pushes = NULL;
	int npush = 0, ch, idx = 0;
	const char *outpath = NULL, *expath = NULL;
	long tick = 0;

	O.repeat = 1;
	O.inject = -1;
	O.inverters = 1;
	O.kits = 1;
	O.rng = 12345;
	O.t0 = 1781258400;	/* 2026-06-12 12:00:00 Europe/Amsterdam */
	while ((ch = getopt_long(argc, argv, "o:e:", lo, NULL)) != -1) {
		switch (ch) {
		case 'o': outpath = optarg; break;
		case 'e': expath = optarg; break;
		case 'V': O.vectors = optarg; break;
		case 'S': O.synthetic = atoi(optarg); break;
		case 'R': O.repeat = atoi(optarg); break;
		case 's':
			if (strcmp(optarg, "frame") == 0)
				O.seg = SEG_FRAME;
			else if (strcmp(optarg, "whole") == 0)
				O.seg = SEG_WHOLE;
			else if (strcmp(optarg, "offsets") == 0)
				O.seg = SEG_OFFSETS;
			else if ((O.split = atoi(optarg)) > 0)
				O.seg = SEG_SPLIT;
			else
				usage();
			break;
		case 'r': O.reorder = true; break;
		case 't': O.retransmit = true; break;
		case 'O': O.overlap = true; break;
		case 'd': O.drop = atoi(optarg); break;
		case 'k': O.kits = atoi(optarg); break;
		case 'n': O.noise = atoi(optarg); break;
		case 'N': O.noise_size = atoi(optarg); break;
		case 'P': O.pps = atol(optarg); break;
		case '6': O.ipv6 = true; break;
		case 'l':
			if (strcmp(optarg, "ether") == 0) O.link = L_ETHER;
			else if (strcmp(optarg, "vlan") == 0) O.link = L_VLAN;
			else if (strcmp(optarg, "qinq") == 0) O.link = L_QINQ;
			else if (strcmp(optarg, "sll") == 0) O.link = L_SLL;
			else if (strcmp(optarg, "sll2") == 0) O.link = L_SLL2;
			else if (strcmp(optarg, "raw") == 0) O.link = L_RAW;
			else usage();
			break;
		case 'g': O.pcapng = true; break;
		case 'b': O.bad_csum = true; break;
		case 'p': O.packets = atol(optarg); break;
		case 'I': O.inverters = atoi(optarg); break;
		case 'F': O.open_flows = atoi(optarg); break;
		case 'L': O.offload = true; break;
		case 'H': O.ext_hdrs = true; break;
		case 'Z': O.fuzz = true; break;
		case 'B': O.flow_base = atoi(optarg); break;
		case 'J': {
			/* Send the frames out of IFACE instead (Ethernet). */
			struct sockaddr_ll sll;

			memset(&sll, 0, sizeof(sll));
			sll.sll_family = AF_PACKET;
			sll.sll_protocol = htons(0x0003);	/* ETH_P_ALL */
			sll.sll_ifindex = (int)if_nametoindex(optarg);
			O.inject = socket(AF_PACKET, SOCK_RAW, htons(0x0003));
			if (sll.sll_ifindex == 0 || O.inject < 0 ||
			    bind(O.inject, (struct sockaddr *)&sll,
			    sizeof(sll)) != 0)
				die("cannot open the interface to inject");
			break;
		}
		case 'X': O.bad_frames = atoi(optarg); break;
		case 'A':
			if (strcmp(optarg, "forge-first") == 0)
				O.attack = A_FORGE;
			else if (strcmp(optarg, "forge-first-ip") == 0)
				O.attack = A_FORGE_IP;
			else if (strcmp(optarg, "forge-first-len") == 0)
				O.attack = A_FORGE_LEN;
			else if (strcmp(optarg, "spoof-fin") == 0)
				O.attack = A_SPOOF_FIN;
			else if (strcmp(optarg, "after-fin") == 0)
				O.attack = A_AFTER_FIN;
			else if (strcmp(optarg, "after-rst") == 0)
				O.attack = A_AFTER_RST;
			else
				usage();
			break;
		default: usage();
		}
	}
	if ((outpath == NULL && O.inject < 0) || optind < argc || O.noise < 0 || O.noise > 99 ||
	    O.noise_size < 0 || O.noise_size > 1500 ||
	    O.kits < 1 || O.repeat < 1)
		usage();
	if (O.vectors)
		npush = load_vectors(O.vectors, &pushes);
	if (O.synthetic > 0) {
		pushes = realloc(pushes, sizeof(*pushes) *
		    (size_t)(npush + O.synthetic));
		if (pushes == NULL)
			die("out of memory");
		for (int i = 0; i < O.synthetic; i++) {
			if ((pushes[npush].data = malloc(MAX_PUSH)) == NULL)
				die("out of memory");
			make_synthetic(i, &pushes[npush++]);
		}
	}
	if (npush == 0)
		usage();
	for (int i = 0; i < npush && O.bad_frames > 0; i++)
		add_bad_frames(&pushes[i], O.bad_frames);
	if (O.inject >= 0)
		outpath = "/dev/null";
	O.out = strcmp(outpath, "-") ? fopen(outpath, "wb") : stdout;
	if (O.out == NULL)
		die("cannot create the output");
	if (expath && (O.expect = fopen(expath, "w")) == NULL)
		die("cannot create the expected CSV");
	file_header();

	if (O.open_flows > 0) {
		/*
		 * Many flows open at once: every flow's handshake and first
		 * data segment, then all the rest, flow by flow.
		 */
		struct flow *fl = calloc((size_t)O.open_flows, sizeof(*fl));
		int nf = O.open_flows;

		if (fl == NULL)
			die("out of memory");
		for (int i = 0; i < nf; i++) {
			build_flow(&fl[i], i, &pushes[i % npush], O.t0, 0);
			while (fl[i].cur < 4)
				step(&fl[i], &tick);
		}
		for (int i = 0; i < nf; i++) {
			while (fl[i].cur < fl[i].npk)
				step(&fl[i], &tick);
			free(fl[i].pk);
			free(fl[i].forged);
		}
		free(fl);
		goto done;
	}

	for (int rep = 0;; rep++) {
		if (O.packets > 0 ? O.written >= O.packets : rep >= O.repeat)
			break;
		for (int pi = 0; pi < npush;) {
			/* A group of kits pushing at the same time. */
			struct flow fl[64];
			int nf = 0, offsets = O.seg == SEG_OFFSETS ?
			    (int)pushes[pi].len - 1 : 1;
			time_t t = O.t0 + (time_t)idx * 300;

			for (int off = 1; off <= offsets; off++) {
				nf = 0;
				for (int k = 0; k < O.kits && pi + k < npush &&
				    k < 64; k++)
					build_flow(&fl[nf++], idx * 64 + k,
					    &pushes[pi + k], t,
					    O.seg == SEG_OFFSETS ? off : 0);
				for (bool more = true; more;) {
					more = false;
					for (int k = 0; k < nf; k++)
						if (fl[k].cur < fl[k].npk) {
							step(&fl[k], &tick);
							more = true;
						}
				}
				for (int k = 0; k < nf; k++) {
					free(fl[k].pk);
					free(fl[k].forged);
				}
				idx++;
				t = O.t0 + (time_t)idx * 300;
				tick = 0;
			}
			pi += nf;
			if (O.packets > 0 && O.written >= O.packets)
				break;
		}
	}
done:
	if (fflush(O.out) != 0 || (O.out != stdout && fclose(O.out) != 0))
		die("write failed");
	if (O.expect && fclose(O.expect) != 0)
		die("write failed");
	for (int i = 0; i < npush; i++)
		free(pushes[i].data);
	free(pushes);
	fprintf(stderr, "mkpcap: %ld packets\n", O.written);
	return 0;
}
