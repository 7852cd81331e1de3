/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_sniff.c: libFuzzer target for omnik-sniff's packet parser, TCP
 * reassembly and its consumer (sniff.c: parked frames, the framer and the
 * decoder behind it). The input is a list of packets:
 *
 *   byte 0        caps: max_flows 2..9, small held-byte caps
 *   then records  0x00-0x7f  raw: link (t % 6), 2-byte length, bytes
 *                 0x80-0xff  made here from a descriptor (flow 0-7,
 *                            direction, IPv6, checksum wrong or not, TCP
 *                            flags, sequence offset, ACK offset, time
 *                            step, payload length) and payload bytes
 *
 * Properties, each abort()s when violated:
 *   (a) a packet made here parses back to what was put in it, and is
 *       PACKET_BAD_CHECKSUM exactly when its checksum was spoilt;
 *   (b) after every packet: flows, held bytes (total and per direction)
 *       within their caps; no direction's next byte moves backwards or
 *       passes its FIN;
 *   (c) the reassembler delivers the same bytes, gaps and ends under two
 *       different hash keys (the key only places flows in buckets);
 *   (d) everything is freed at the end (ASan's leak check).
 * The same packets also go through sniff_packet, under the sanitizers.
 *
 * Built like fuzz_proto: with clang -fsanitize=fuzzer (make fuzz), and
 * with any compiler linked to tests/fuzz/replay.c (make check replays
 * tests/fuzz/corpus-sniff, packets of the captures tests/mkpcap writes).
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "packet.h"
#include "sniff.h"
#include "tcpreasm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond))							\
		violation(__LINE__, #cond);				\
} while (0)

#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)

static void
violation(int line, const char *what)
{
	fprintf(stderr, "fuzz_sniff.c:%d: property violated: %s\n", line,
	    what);
	abort();
}

/* (c) What a reassembler told its consumer, as one running digest. */
struct digest {
	uint64_t h;
	uint64_t events;
};

static void
mix(struct digest *g, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		g->h = (g->h ^ b[i]) * 1099511628211u;
}

static void
mix_flow(struct digest *g, const struct tcpreasm_flow *f, int what, int d)
{
	mix(g, &what, sizeof(what));
	mix(g, &d, sizeof(d));
	mix(g, f->addr, sizeof(f->addr));
	mix(g, f->port, sizeof(f->port));
	g->events++;
}

/* (b) The last next byte seen per live direction. */
struct mark {
	uint32_t next;
	bool set;
};

static void
on_data(void *arg, struct tcpreasm_flow *f, enum tcpreasm_dir d,
    const uint8_t *buf, size_t len, const struct timeval *when)
{
	(void)when;
	CHECK(len > 0);
	mix_flow(arg, f, 1, d);
	mix(arg, &len, sizeof(len));
	mix(arg, buf, len);
}

static void
on_gap(void *arg, struct tcpreasm_flow *f, enum tcpreasm_dir d,
    uint32_t missing, const struct timeval *when)
{
	(void)when;
	CHECK(missing > 0 && missing < 0x80000000u);
	mix_flow(arg, f, 2, d);
	mix(arg, &missing, sizeof(missing));
}

static void
on_close(void *arg, struct tcpreasm_flow *f, enum tcpreasm_end why,
    const struct timeval *when)
{
	int w = (int)why;

	(void)when;
	mix_flow(arg, f, 3, 0);
	mix(arg, &w, sizeof(w));
	for (int d = 0; d < 2; d++) {
		free(f->user[d]);
		f->user[d] = NULL;
	}
}

static const struct tcpreasm_ops ops = { on_data, on_gap, on_close };

static void
check_caps(struct tcpreasm *r)
{
	CHECK(r->nflows <= r->cfg.max_flows);
	CHECK(r->held <= r->cfg.max_held);
	for (struct tcpreasm_flow *f = r->oldest; f; f = f->newer) {
		/* Both directions done: a tombstone, its consumer gone. */
		bool ended = f->half[0].done && f->half[1].done;

		for (int d = 0; d < 2; d++) {
			const struct tcpreasm_half *h = &f->half[d];
			struct mark *m = f->user[d];

			CHECK(h->held_bytes <= r->cfg.max_held_half);
			if (ended || !h->known)
				continue;
			if (h->fin)
				CHECK(SEQ_LEQ(h->next, h->fin_seq));
			if (m == NULL) {
				if ((m = calloc(1, sizeof(*m))) == NULL)
					abort();
				f->user[d] = m;
			}
			if (m->set)
				CHECK(SEQ_LEQ(m->next, h->next));
			m->next = h->next;
			m->set = true;
		}
	}
}

/* ---------------------------------------------------------------- */
/* Packets made from a descriptor */

static uint32_t
sum16(uint32_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		s += i % 2 ? p[i] : (uint32_t)p[i] << 8;
	return s;
}

static uint16_t
finish(uint32_t s)
{
	while (s > 0xffff)
		s = (s >> 16) + (s & 0xffff);
	return (uint16_t)~s;
}

/* The pseudo header's sum, folded, of the last packet make_packet made. */
static uint16_t made_pseudo;

struct fuzz_flow {
	uint32_t cursor[2];	/* next in-order byte of each side */
};

/* Build an IP + TCP packet in out; returns its length. */
static size_t
make_packet(uint8_t *out, const struct tcpreasm_seg *sg, bool v6,
    bool spoil)
{
	size_t ipl = v6 ? 40 : 20, l4 = 20 + sg->len;
	uint8_t *t = out + ipl;
	uint32_t s;

	memset(out, 0, ipl + 20);
	if (v6) {
		out[0] = 0x60;
		out[4] = (uint8_t)(l4 >> 8);
		out[5] = (uint8_t)l4;
		out[6] = 6;
		out[7] = 64;
		memcpy(out + 8, sg->src, 16);
		memcpy(out + 24, sg->dst, 16);
	} else {
		out[0] = 0x45;
		out[2] = (uint8_t)((20 + l4) >> 8);
		out[3] = (uint8_t)(20 + l4);
		out[8] = 64;
		out[9] = 6;
		memcpy(out + 12, sg->src, 4);
		memcpy(out + 16, sg->dst, 4);
		s = finish(sum16(0, out, 20));
		out[10] = (uint8_t)(s >> 8);
		out[11] = (uint8_t)s;
	}
	t[0] = (uint8_t)(sg->sport >> 8);
	t[1] = (uint8_t)sg->sport;
	t[2] = (uint8_t)(sg->dport >> 8);
	t[3] = (uint8_t)sg->dport;
	for (int i = 0; i < 4; i++) {
		t[4 + i] = (uint8_t)(sg->seq >> (24 - 8 * i));
		t[8 + i] = (uint8_t)(sg->ack >> (24 - 8 * i));
	}
	t[12] = 5 << 4;
	t[13] = sg->flags;
	t[14] = 0x20;
	if (sg->len)
		memcpy(t + 20, sg->data, sg->len);
	s = sum16(0, v6 ? out + 8 : out + 12, v6 ? 32 : 8) + 6 + (uint32_t)l4;
	made_pseudo = (uint16_t)~finish(s);
	s = finish(sum16(s, t, l4));
	if (spoil)
		s ^= 0x0100;
	t[16] = (uint8_t)(s >> 8);
	t[17] = (uint8_t)s;
	return ipl + l4;
}

/* (a) The parser reads back what make_packet wrote. */
static void
check_parse(const uint8_t *pkt, size_t n, const struct tcpreasm_seg *want,
    bool v6, bool spoilt, struct tcpreasm_seg *got)
{
	enum packet_result r = packet_parse(PACKET_LINK_RAW, pkt, n, n, got);

	/*
	 * A spoilt checksum is refused, unless it fell on a value that looks
	 * like offload (zero, or the pseudo header's own sum): that cannot
	 * be checked and is taken, as designed (README, "Against segments
	 * forged"). Found by the fuzzer.
	 */
	if (spoilt) {
		size_t ipl = v6 ? 40 : 20;
		uint16_t field = (uint16_t)(pkt[ipl + 16] << 8 | pkt[ipl + 17]);
		bool offload_like = field == 0 || field == made_pseudo ||
		    (made_pseudo == 0 && field == 0xffff);

		if (offload_like)
			CHECK(r == PACKET_TCP &&
			    got->csum == PACKET_CSUM_OFFLOADED);
		else
			CHECK(r == PACKET_BAD_CHECKSUM);
		return;
	}
	CHECK(r == PACKET_TCP);
	CHECK(got->csum == PACKET_CSUM_GOOD);
	CHECK(got->af == (v6 ? AF_INET6 : AF_INET));
	CHECK(memcmp(got->src, want->src, v6 ? 16 : 4) == 0);
	CHECK(memcmp(got->dst, want->dst, v6 ? 16 : 4) == 0);
	CHECK(got->sport == want->sport && got->dport == want->dport);
	CHECK(got->seq == want->seq && got->ack == want->ack);
	CHECK(got->flags == (want->flags & (TCPREASM_TH_FIN |
	    TCPREASM_TH_SYN | TCPREASM_TH_RST | TCPREASM_TH_ACK)));
	CHECK(got->len == want->len);
	CHECK(got->len == 0 || memcmp(got->data, want->data, got->len) == 0);
}

/* ---------------------------------------------------------------- */

struct run {
	struct tcpreasm r[2];	/* two hash keys */
	struct digest g[2];
	struct sniff sn;
	struct timeval now;
	struct fuzz_flow fl[8];
};

static void
feed_seg(struct run *u, const struct tcpreasm_seg *sg)
{
	for (int k = 0; k < 2; k++) {
		tcpreasm_segment(&u->r[k], sg, &u->now);
		check_caps(&u->r[k]);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t pkt[40 + 20 + 256];
	struct tcpreasm_config cfg;
	struct run *u;
	size_t i = 1;
	static bool logging;

	if (!logging) {
		/* The consumer's warnings are expected here: keep them short. */
		log_init("fuzz_sniff", true, 0);
		logging = true;
	}
	if (size < 1)
		return 0;
	if ((u = calloc(1, sizeof(*u))) == NULL)
		abort();
	tcpreasm_config_defaults(&cfg);
	cfg.max_flows = 2 + (data[0] & 7);
	cfg.max_held_half = 600 + 300u * ((data[0] >> 3) & 3);
	cfg.max_held = 1500 + 1000u * (data[0] >> 5);
	cfg.idle_timeout = 60;
	cfg.closed_timeout = 30;
	for (int k = 0; k < 2; k++) {
		cfg.hash_key[0] = k ? 0x9e3779b9u : 1;
		cfg.hash_key[1] = k ? 0x7f4a7c15u : 2;
		if (tcpreasm_init(&u->r[k], &cfg, &ops, &u->g[k]) != 0)
			abort();
	}
	if (sniff_init(&u->sn, &cfg, NULL) != 0)
		abort();
	u->now.tv_sec = 1700000000;
	for (int f = 0; f < 8; f++) {
		u->fl[f].cursor[0] = 0xfffffff0u + (uint32_t)f * 977u;
		u->fl[f].cursor[1] = 0x10000000u * (uint32_t)f;
	}

	while (i < size) {
		uint8_t t = data[i++];

		if (!(t & 0x80)) {
			/* A raw packet, any link type. */
			struct tcpreasm_seg sg;
			size_t n, wire;

			if (i + 2 > size)
				break;
			n = (size_t)data[i] << 8 | data[i + 1];
			i += 2;
			if (n > size - i)
				n = size - i;
			/* 0x40: captured with a snap length, longer on the wire. */
			wire = t & 0x40 ? n + 65536 : n;
			if (packet_parse((enum packet_link)(t % 6), data + i, n,
			    wire, &sg) == PACKET_TCP)
				feed_seg(u, &sg);
			sniff_packet(&u->sn, (enum packet_link)(t % 6), data + i,
			    n, wire, &u->now);
			i += n;
		} else {
			struct tcpreasm_seg want, got;
			struct fuzz_flow *fl = &u->fl[t & 7];
			bool srv = t & 0x08, v6 = t & 0x10, spoil = t & 0x20;
			int16_t off;
			size_t len, n;

			if (i + 6 > size)
				break;
			memset(&want, 0, sizeof(want));
			want.af = v6 ? AF_INET6 : AF_INET;
			want.src[0] = want.dst[0] = v6 ? 0x20 : 192;
			want.src[3] = (uint8_t)(srv ? 69 : 10 + (t & 7));
			want.dst[3] = (uint8_t)(srv ? 10 + (t & 7) : 69);
			want.sport = srv ? 10004 : (uint16_t)(40000 + (t & 7));
			want.dport = srv ? (uint16_t)(40000 + (t & 7)) : 10004;
			want.flags = data[i];
			off = (int16_t)(data[i + 1] << 8 | data[i + 2]);
			want.seq = fl->cursor[srv] + (uint32_t)(int32_t)off;
			want.ack = fl->cursor[!srv] + data[i + 3];
			/* Time: mostly small steps, sometimes past a timeout. */
			if (data[i + 4] == 0xff)
				u->now.tv_sec += 100;
			else
				u->now.tv_usec += data[i + 4] * 10000;
			while (u->now.tv_usec >= 1000000) {
				u->now.tv_sec++;
				u->now.tv_usec -= 1000000;
			}
			len = data[i + 5];
			i += 6;
			if (len > size - i)
				len = size - i;
			want.data = data + i;
			want.len = len;
			i += len;
			if (off == 0 && !spoil)
				fl->cursor[srv] += (uint32_t)len +
				    ((want.flags & TCPREASM_TH_SYN) ? 1 : 0);
			n = make_packet(pkt, &want, v6, spoil);
			check_parse(pkt, n, &want, v6, spoil, &got);
			if (!spoil)
				feed_seg(u, &got);
			sniff_packet(&u->sn, PACKET_LINK_RAW, pkt, n, n,
			    &u->now);
		}
		/* (c) as it goes, not only at the end. */
		CHECK(u->g[0].h == u->g[1].h && u->g[0].events ==
		    u->g[1].events);
	}

	for (int k = 0; k < 2; k++) {
		tcpreasm_free(&u->r[k], &u->now);
		CHECK(u->r[k].held == 0 && u->r[k].nflows == 0);
	}
	CHECK(u->g[0].h == u->g[1].h && u->g[0].events == u->g[1].events);
	sniff_finish(&u->sn, &u->now);
	CHECK(u->sn.r.held == 0 && u->sn.r.nflows == 0);
	free(u);
	return 0;
}
