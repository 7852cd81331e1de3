/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_tcpreasm.c: segment sequences in, the bytes each direction delivers
 * out. Each table row is one connection between a kit (192.0.2.10:40000)
 * and the portal (203.0.113.69:10004); sequence numbers in a row are
 * relative to that side's ISN (the SYN is 0, the first data byte 1).
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <cmocka.h>

#include "tcpreasm.h"

struct rec {
	char out[2][4096];
	size_t len[2];
	char ends[256];
	int closes;
	unsigned frees;
};

static void
rec_put(struct rec *rc, int d, const char *s, size_t n)
{
	if (rc->len[d] + n >= sizeof(rc->out[d]))
		n = sizeof(rc->out[d]) - 1 - rc->len[d];
	memcpy(rc->out[d] + rc->len[d], s, n);
	rc->len[d] += n;
	rc->out[d][rc->len[d]] = '\0';
}

static void
on_data(void *arg, struct tcpreasm_flow *f, enum tcpreasm_dir d,
    const uint8_t *buf, size_t len, const struct timeval *when)
{
	(void)f;
	(void)when;
	rec_put(arg, d, (const char *)buf, len);
}

static void
on_gap(void *arg, struct tcpreasm_flow *f, enum tcpreasm_dir d,
    uint32_t missing, const struct timeval *when)
{
	char s[32];

	(void)f;
	(void)when;
	snprintf(s, sizeof(s), "[gap %u]", missing);
	rec_put(arg, d, s, strlen(s));
}

static const char *const end_names[] = {
	"fin", "rst", "idle", "evicted", "reused", "flush",
};

static void
on_close(void *arg, struct tcpreasm_flow *f, enum tcpreasm_end why,
    const struct timeval *when)
{
	struct rec *rc = arg;
	size_t l = strlen(rc->ends);

	(void)f;
	(void)when;
	snprintf(rc->ends + l, sizeof(rc->ends) - l, "%s%s", l ? "," : "",
	    end_names[why]);
	rc->closes++;
}

static const struct tcpreasm_ops ops = { on_data, on_gap, on_close };

struct tseg {
	char from;		/* 'C' client (kit), 'S' server (portal) */
	const char *flags;	/* any of S A F R */
	uint32_t seq;		/* relative to the sender's ISN */
	const char *data;
	uint32_t ack;		/* relative to the receiver's ISN */
};

struct tcase {
	const char *name;
	uint32_t isn_c, isn_s;
	struct tseg seg[12];
	const char *want_c;	/* delivered kit -> portal */
	const char *want_s;	/* delivered portal -> kit */
	unsigned gaps;
	unsigned dup;		/* retransmitted / overlapping bytes */
	const char *ends;	/* close reasons, after tcpreasm_free */
	unsigned flows;
};

#define HS { 'C', "S", 0, "", 0 }, { 'S', "SA", 0, "", 1 }

static const struct tcase cases[] = {
	{ "one segment, both FINs", 1000, 5000,
	  { HS, { 'C', "A", 1, "hello", 1 }, { 'C', "FA", 6, "", 1 },
	    { 'S', "FA", 1, "", 7 }, { 'C', "A", 7, "", 2 } },
	  "hello", "", 0, 0, "fin", 1 },
	{ "in order, three segments", 1000, 5000,
	  { HS, { 'C', "A", 1, "ab", 1 }, { 'C', "A", 3, "cd", 1 },
	    { 'C', "A", 5, "ef", 1 } },
	  "abcdef", "", 0, 0, "flush", 1 },
	{ "retransmission delivered once", 1000, 5000,
	  { HS, { 'C', "A", 1, "hello", 1 }, { 'C', "A", 1, "hello", 1 },
	    { 'C', "A", 6, "!", 1 } },
	  "hello!", "", 0, 5, "flush", 1 },
	{ "reordered: second before first", 1000, 5000,
	  { HS, { 'C', "A", 4, "def", 1 }, { 'C', "A", 1, "abc", 1 } },
	  "abcdef", "", 0, 0, "flush", 1 },
	{ "three reversed", 1000, 5000,
	  { HS, { 'C', "A", 5, "ef", 1 }, { 'C', "A", 3, "cd", 1 },
	    { 'C', "A", 1, "ab", 1 } },
	  "abcdef", "", 0, 0, "flush", 1 },
	{ "overlapping retransmission", 1000, 5000,
	  { HS, { 'C', "A", 1, "abcd", 1 }, { 'C', "A", 3, "cdefgh", 1 } },
	  "abcdefgh", "", 0, 2, "flush", 1 },
	{ "overlap: first copy wins", 1000, 5000,
	  { HS, { 'C', "A", 1, "abcd", 1 }, { 'C', "A", 3, "XYef", 1 } },
	  "abcdef", "", 0, 2, "flush", 1 },
	{ "overlaps among held segments", 1000, 5000,
	  { HS, { 'C', "A", 5, "efgh", 1 }, { 'C', "A", 3, "cdef", 1 },
	    { 'C', "A", 6, "fg", 1 }, { 'C', "A", 1, "ab", 1 } },
	  "abcdefgh", "", 0, 4, "flush", 1 },
	/*
	 * Two copies of the same bytes that disagree (one forged, or
	 * garbled): which one the portal took is not known, so neither is
	 * taken, and a third copy does not settle it.
	 */
	{ "held copies that differ: neither is taken", 1000, 5000,
	  { HS, { 'C', "A", 5, "efgh", 1 }, { 'C', "A", 5, "EFGH", 1 },
	    { 'C', "A", 1, "abcd", 1 } },
	  "abcd[gap 4]", "", 1, 0, "flush", 1 },
	{ "a longer copy at the same place that differs", 1000, 5000,
	  { HS, { 'C', "A", 5, "efgh", 1 }, { 'C', "A", 5, "EFGHij", 1 },
	    { 'C', "A", 1, "abcd", 1 }, { 'C', "A", 11, "kl", 1 } },
	  "abcd[gap 6]kl", "", 1, 0, "flush", 1 },
	{ "a third copy does not fill what two disputed", 1000, 5000,
	  { HS, { 'C', "A", 5, "efgh", 1 }, { 'C', "A", 6, "FG", 1 },
	    { 'C', "A", 5, "efgh", 1 }, { 'C', "A", 1, "abcd", 1 } },
	  "abcd[gap 4]", "", 1, 0, "flush", 1 },
	{ "in-order bytes that differ from held ones", 1000, 5000,
	  { HS, { 'C', "A", 5, "efgh", 1 }, { 'C', "A", 1, "abcdEFGH", 1 },
	    { 'C', "A", 9, "ij", 1 } },
	  "[gap 8]ij", "", 1, 0, "flush", 1 },
	{ "held copies that agree where they overlap", 1000, 5000,
	  { HS, { 'C', "A", 5, "efgh", 1 }, { 'C', "A", 7, "ghij", 1 },
	    { 'C', "A", 1, "abcdef", 1 } },
	  "abcdefghij", "", 0, 4, "flush", 1 },
	{ "lost segment skipped once the peer ACKs past it", 1000, 5000,
	  { HS, { 'C', "A", 1, "ab", 1 }, { 'C', "A", 5, "ef", 1 },
	    { 'S', "A", 1, "", 7 }, { 'C', "A", 7, "gh", 1 } },
	  "ab[gap 2]efgh", "", 1, 0, "flush", 1 },
	{ "ACK covers part of a hole: only that part is skipped", 1000, 5000,
	  { HS, { 'C', "A", 1, "ab", 1 }, { 'C', "A", 7, "gh", 1 },
	    { 'S', "A", 1, "", 5 }, { 'C', "A", 5, "ef", 1 } },
	  "ab[gap 2]efgh", "", 1, 0, "flush", 1 },
	{ "ACK past a lost tail, later data held then skipped to", 1000, 5000,
	  { HS, { 'C', "A", 1, "ab", 1 }, { 'S', "A", 1, "", 7 },
	    { 'C', "A", 7, "gh", 1 } },
	  "ab[gap 4]gh", "", 1, 0, "flush", 1 },
	{ "lost segment, no ACK: skipped when the flow ends", 1000, 5000,
	  { HS, { 'C', "A", 1, "ab", 1 }, { 'C', "A", 5, "ef", 1 },
	    { 'C', "FA", 7, "", 1 }, { 'S', "F", 1, "", 0 } },
	  "ab[gap 2]ef", "", 1, 0, "flush", 1 },
	{ "lost last segment before FIN, peer ACKs the FIN", 1000, 5000,
	  { HS, { 'C', "A", 1, "ab", 1 }, { 'C', "FA", 5, "", 1 },
	    { 'S', "FA", 1, "", 6 } },
	  "ab[gap 2]", "", 1, 0, "fin", 1 },
	{ "RST ends the flow: what follows is not a new one", 1000, 5000,
	  { HS, { 'C', "A", 1, "abc", 1 }, { 'S', "R", 1, "", 0 },
	    { 'C', "A", 1, "abc", 1 }, { 'C', "A", 4, "def", 1 } },
	  "abc", "", 0, 0, "rst", 1 },
	{ "RST far from the next byte is ignored", 1000, 5000,
	  { HS, { 'C', "A", 1, "abc", 1 }, { 'S', "R", 100000000, "", 0 },
	    { 'C', "R", 2, "", 0 }, { 'C', "A", 4, "def", 1 } },
	  "abcdef", "", 0, 0, "flush", 1 },
	/*
	 * The portal's side never seen (a capture of one direction): where
	 * its next byte is, the kit's ACKs say, and an RST far from that is
	 * a guess.
	 */
	{ "RST from an unseen side, far from what the kit ACKs", 1000, 5000,
	  { { 'C', "S", 0, "", 0 }, { 'C', "A", 1, "abc", 1 },
	    { 'S', "R", 100000000, "", 0 }, { 'C', "A", 4, "def", 1 } },
	  "abcdef", "", 0, 0, "flush", 1 },
	{ "RST from an unseen side, where the kit ACKs", 1000, 5000,
	  { { 'C', "S", 0, "", 0 }, { 'C', "A", 1, "abc", 1 },
	    { 'S', "R", 1, "", 0 }, { 'C', "A", 4, "def", 1 } },
	  "abc", "", 0, 0, "rst", 1 },
	{ "connection refused: RST before any ACK", 1000, 5000,
	  { { 'C', "S", 0, "", 0 }, { 'S', "RA", 0, "", 1 } },
	  "", "", 0, 0, "rst", 1 },
	{ "late retransmission after both FINs: no second flow", 1000, 5000,
	  { HS, { 'C', "A", 1, "hello", 1 }, { 'C', "FA", 6, "", 1 },
	    { 'S', "FA", 1, "", 7 }, { 'C', "A", 7, "", 2 },
	    { 'C', "A", 1, "hello", 1 }, { 'C', "FA", 1, "hello", 1 } },
	  "hello", "", 0, 0, "fin", 1 },
	{ "spoofed FIN behind the delivered bytes is ignored", 1000, 5000,
	  { HS, { 'C', "A", 1, "hello", 1 }, { 'C', "FA", 2, "", 1 },
	    { 'S', "A", 1, "", 9 }, { 'C', "A", 6, "world", 1 } },
	  "helloworld", "", 0, 0, "flush", 1 },
	{ "data past a FIN not yet reached is cut at the FIN", 1000, 5000,
	  { HS, { 'C', "FA", 5, "", 1 }, { 'C', "A", 3, "cdefgh", 1 },
	    { 'C', "A", 1, "ab", 1 }, { 'S', "FA", 1, "", 6 } },
	  "abcd", "", 0, 4, "fin", 1 },
	{ "data past a FIN, held before the hole fills, is dropped",
	  1000, 5000,
	  { HS, { 'C', "A", 1, "ab", 1 }, { 'C', "FA", 5, "", 1 },
	    { 'C', "A", 5, "zz", 1 }, { 'C', "A", 3, "cd", 1 } },
	  "abcd", "", 0, 2, "flush", 1 },
	{ "a SYN forged into a live push does not cut it off", 1000, 5000,
	  { HS, { 'C', "A", 1, "abc", 1 }, { 'C', "S", 7777, "", 0 },
	    { 'C', "A", 4, "def", 1 } },
	  "abcdef", "", 0, 0, "flush", 1 },
	{ "both directions", 1000, 5000,
	  { HS, { 'C', "A", 1, "ping", 1 }, { 'S', "A", 1, "pong", 5 },
	    { 'C', "A", 5, "!", 5 } },
	  "ping!", "pong", 0, 0, "flush", 1 },
	{ "picked up mid-stream, server speaks first", 1000, 5000,
	  { { 'S', "A", 100, "xy", 200 }, { 'C', "A", 200, "ab", 102 },
	    { 'C', "A", 202, "cd", 102 } },
	  "abcd", "xy", 0, 0, "flush", 1 },
	{ "sequence numbers wrap", 0xfffffffdu, 0xfffffff0u,
	  { HS, { 'C', "A", 4, "def", 1 }, { 'C', "A", 1, "abc", 1 },
	    { 'S', "A", 1, "0123456789abcdefXYZ", 7 } },
	  "abcdef", "0123456789abcdefXYZ", 0, 0, "flush", 1 },
	{ "pure ACKs make no flow", 1000, 5000,
	  { { 'C', "A", 1, "", 1 }, { 'S', "A", 1, "", 1 },
	    { 'C', "FA", 1, "", 1 } },
	  "", "", 0, 0, "", 0 },
	{ "data past the FIN is ignored", 1000, 5000,
	  { HS, { 'C', "FA", 1, "abc", 1 }, { 'C', "A", 4, "zzz", 1 } },
	  "abc", "", 0, 3, "flush", 1 },
	{ "SYN retransmitted: same flow", 1000, 5000,
	  { HS, { 'C', "S", 0, "", 0 }, { 'C', "A", 1, "abc", 1 } },
	  "abc", "", 0, 0, "flush", 1 },
	{ "new SYN on the same ports after the FINs: a new flow", 1000, 5000,
	  { HS, { 'C', "A", 1, "abc", 1 }, { 'C', "FA", 4, "", 1 },
	    { 'S', "FA", 1, "", 5 }, { 'C', "S", 7777, "", 0 },
	    { 'C', "A", 7778, "xyz", 0 } },
	  "abcxyz", "", 0, 0, "fin,flush", 2 },
	{ "new SYN on the same ports after one FIN: a new flow", 1000, 5000,
	  { HS, { 'C', "A", 1, "abc", 1 }, { 'C', "FA", 4, "", 1 },
	    { 'C', "S", 7777, "", 0 }, { 'C', "A", 7778, "xyz", 0 } },
	  "abcxyz", "", 0, 0, "reused,flush", 2 },
	{ "data on the SYN", 1000, 5000,
	  { { 'C', "S", 0, "ab", 0 }, { 'C', "A", 3, "cd", 1 } },
	  "abcd", "", 0, 0, "flush", 1 },
};

static uint8_t
parse_flags(const char *s)
{
	uint8_t f = 0;

	for (; *s; s++)
		switch (*s) {
		case 'S': f |= TCPREASM_TH_SYN; break;
		case 'A': f |= TCPREASM_TH_ACK; break;
		case 'F': f |= TCPREASM_TH_FIN; break;
		case 'R': f |= TCPREASM_TH_RST; break;
		}
	return f;
}

static void
make_seg(struct tcpreasm_seg *s, int af, bool from_client, uint32_t seq,
    uint32_t ack, uint8_t flags, const char *data, size_t len)
{
	uint8_t kit[16], portal[16];

	memset(kit, 0, 16);
	memset(portal, 0, 16);
	if (af == AF_INET) {
		inet_pton(AF_INET, "192.0.2.10", kit);
		inet_pton(AF_INET, "203.0.113.69", portal);
	} else {
		inet_pton(AF_INET6, "2001:db8::10", kit);
		inet_pton(AF_INET6, "2001:db8::69", portal);
	}
	memset(s, 0, sizeof(*s));
	s->af = af;
	memcpy(s->src, from_client ? kit : portal, 16);
	memcpy(s->dst, from_client ? portal : kit, 16);
	s->sport = from_client ? 40000 : 10004;
	s->dport = from_client ? 10004 : 40000;
	s->seq = seq;
	s->ack = ack;
	s->flags = flags;
	s->data = (const uint8_t *)data;
	s->len = len;
}

static void
run_case(const struct tcase *tc, int af)
{
	struct tcpreasm r;
	struct tcpreasm_config cfg;
	struct rec rc;
	struct timeval tv = { 1700000000, 0 };

	memset(&rc, 0, sizeof(rc));
	tcpreasm_config_defaults(&cfg);
	assert_int_equal(tcpreasm_init(&r, &cfg, &ops, &rc), 0);
	for (int i = 0; i < 12 && tc->seg[i].from; i++) {
		const struct tseg *t = &tc->seg[i];
		bool c = t->from == 'C';
		struct tcpreasm_seg s;

		make_seg(&s, af, c, (c ? tc->isn_c : tc->isn_s) + t->seq,
		    (c ? tc->isn_s : tc->isn_c) + t->ack, parse_flags(t->flags),
		    t->data, strlen(t->data));
		tv.tv_usec += 1000;
		tcpreasm_segment(&r, &s, &tv);
	}
	tcpreasm_free(&r, &tv);
	if (strcmp(rc.out[0], tc->want_c) != 0 ||
	    strcmp(rc.out[1], tc->want_s) != 0 ||
	    strcmp(rc.ends, tc->ends) != 0 || r.st.gaps != tc->gaps ||
	    r.st.dup_bytes != tc->dup || r.st.flows != tc->flows)
		fail_msg("%s (%s): to portal \"%s\" (want \"%s\"), to kit "
		    "\"%s\" (want \"%s\"), ends \"%s\" (want \"%s\"), gaps %llu "
		    "(want %u), dup %llu (want %u), flows %llu (want %u)",
		    tc->name, af == AF_INET ? "IPv4" : "IPv6", rc.out[0],
		    tc->want_c, rc.out[1], tc->want_s, rc.ends, tc->ends,
		    (unsigned long long)r.st.gaps, tc->gaps,
		    (unsigned long long)r.st.dup_bytes, tc->dup,
		    (unsigned long long)r.st.flows, tc->flows);
	assert_int_equal(r.held, 0);
	assert_int_equal(r.nflows, 0);
}

static void
test_table_ipv4(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i], AF_INET);
}

static void
test_table_ipv6(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i], AF_INET6);
}

/* A small deterministic PRNG, so a failure can be replayed. */
static uint32_t
rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

struct piece {
	uint32_t off, len;
};

/*
 * A 3000-byte stream cut into random pieces, shuffled locally, with
 * duplicates and overlapping re-cuts thrown in: the consumer must see the
 * stream exactly once, for many seeds.
 */
static void
test_shuffled_with_duplicates(void **state)
{
	static char stream[3000];
	struct tcpreasm_seg s;
	struct tcpreasm r;
	struct tcpreasm_config cfg;
	struct rec rc;
	struct timeval tv = { 1700000000, 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(stream); i++)
		stream[i] = (char)('a' + i % 26);
	for (uint32_t seed = 1; seed <= 200; seed++) {
		struct piece p[600];
		uint32_t x = seed * 2654435761u, n = 0, off = 0;

		while (off < sizeof(stream)) {
			uint32_t l = 1 + rnd(&x) % 40;

			if (off + l > sizeof(stream))
				l = (uint32_t)sizeof(stream) - off;
			p[n].off = off;
			p[n++].len = l;
			/* Sometimes an overlapping or repeated copy too. */
			if (rnd(&x) % 4 == 0 && n < 599) {
				uint32_t b = off > 10 ? off - rnd(&x) % 10 : 0;
				p[n].off = b;
				p[n++].len = off + l - b;
			}
			off += l;
		}
		for (uint32_t i = 0; i + 1 < n; i++)
			if (rnd(&x) % 3 == 0) {
				uint32_t j = i + 1 + rnd(&x) % 5;

				if (j >= n)
					j = n - 1;
				struct piece t = p[i];
				p[i] = p[j];
				p[j] = t;
			}
		memset(&rc, 0, sizeof(rc));
		tcpreasm_config_defaults(&cfg);
		assert_int_equal(tcpreasm_init(&r, &cfg, &ops, &rc), 0);
		make_seg(&s, AF_INET, true, 4242, 0, TCPREASM_TH_SYN, "", 0);
		tcpreasm_segment(&r, &s, &tv);
		for (uint32_t i = 0; i < n; i++) {
			make_seg(&s, AF_INET, true, 4243 + p[i].off, 1,
			    TCPREASM_TH_ACK, stream + p[i].off, p[i].len);
			tcpreasm_segment(&r, &s, &tv);
		}
		assert_int_equal(rc.len[0], sizeof(stream));
		assert_memory_equal(rc.out[0], stream, sizeof(stream));
		assert_int_equal(r.st.gaps, 0);
		tcpreasm_free(&r, &tv);
	}
}

static void
seg_from(struct tcpreasm *r, uint16_t sport, uint32_t seq, const char *d,
    time_t sec)
{
	struct tcpreasm_seg s;
	struct timeval tv = { sec, 0 };

	make_seg(&s, AF_INET, true, seq, 1, TCPREASM_TH_ACK, d, strlen(d));
	s.sport = sport;
	tcpreasm_segment(r, &s, &tv);
}

static void
test_idle_timeout(void **state)
{
	struct tcpreasm r;
	struct tcpreasm_config cfg;
	struct rec rc;
	struct timeval tv = { 2000, 0 };

	(void)state;
	memset(&rc, 0, sizeof(rc));
	tcpreasm_config_defaults(&cfg);
	cfg.idle_timeout = 60;
	assert_int_equal(tcpreasm_init(&r, &cfg, &ops, &rc), 0);
	seg_from(&r, 40001, 100, "a", 1000);
	seg_from(&r, 40002, 100, "b", 1030);
	seg_from(&r, 40002, 101, "c", 1059);
	assert_int_equal(r.nflows, 2);
	/* 61 s after the first flow's only packet: it goes, not the other. */
	seg_from(&r, 40003, 100, "d", 1061);
	assert_int_equal(r.st.idle, 1);
	assert_int_equal(r.nflows, 2);
	assert_string_equal(rc.ends, "idle");
	tcpreasm_expire(&r, &tv);
	assert_int_equal(r.nflows, 0);
	assert_string_equal(rc.ends, "idle,idle,idle");
	tcpreasm_free(&r, &tv);
}

static void
test_flow_cap_evicts_oldest(void **state)
{
	struct tcpreasm r;
	struct tcpreasm_config cfg;
	struct rec rc;
	struct timeval tv = { 2000, 0 };

	(void)state;
	memset(&rc, 0, sizeof(rc));
	tcpreasm_config_defaults(&cfg);
	cfg.max_flows = 2;
	assert_int_equal(tcpreasm_init(&r, &cfg, &ops, &rc), 0);
	seg_from(&r, 40001, 100, "a", 1000);
	seg_from(&r, 40002, 100, "b", 1001);
	seg_from(&r, 40001, 101, "A", 1002);	/* 40001 is now the newer */
	seg_from(&r, 40003, 100, "c", 1003);
	assert_int_equal(r.st.evicted, 1);
	assert_int_equal(r.nflows, 2);
	/* 40002 went: its next byte starts a new flow. */
	seg_from(&r, 40002, 101, "B", 1004);
	assert_int_equal(r.st.evicted, 2);
	assert_int_equal(r.st.flows, 4);
	assert_string_equal(rc.out[0], "abAcB");
	tcpreasm_free(&r, &tv);
}

static void
test_held_cap_per_direction(void **state)
{
	struct tcpreasm r;
	struct tcpreasm_config cfg;
	struct rec rc;
	struct timeval tv = { 2000, 0 };

	(void)state;
	memset(&rc, 0, sizeof(rc));
	tcpreasm_config_defaults(&cfg);
	cfg.max_held_half = 200;	/* room for about two small segments */
	assert_int_equal(tcpreasm_init(&r, &cfg, &ops, &rc), 0);
	seg_from(&r, 40001, 100, "ab", 1000);
	/* A hole of 2 ("cd") that never fills; data keeps coming after it. */
	for (uint32_t i = 0; i < 10; i++)
		seg_from(&r, 40001, 104 + 2 * i, "xy", 1000);
	assert_true(r.held <= 200);
	assert_int_equal(r.st.gaps, 1);
	assert_true(r.st.held_pressure >= 1);
	assert_string_equal(rc.out[0], "ab[gap 2]xyxyxyxyxyxyxyxyxyxy");
	tcpreasm_free(&r, &tv);
}

static void
test_held_cap_global(void **state)
{
	struct tcpreasm r;
	struct tcpreasm_config cfg;
	struct rec rc;
	struct timeval tv = { 2000, 0 };
	size_t peak = 0;

	(void)state;
	memset(&rc, 0, sizeof(rc));
	tcpreasm_config_defaults(&cfg);
	cfg.max_held = 4096;
	assert_int_equal(tcpreasm_init(&r, &cfg, &ops, &rc), 0);
	/* 300 flows, each with a hole and one byte held behind it. */
	for (uint16_t p = 0; p < 300; p++) {
		seg_from(&r, (uint16_t)(30000 + p), 100, "a", 1000);
		seg_from(&r, (uint16_t)(30000 + p), 102, "c", 1000);
		if (r.held > peak)
			peak = r.held;
	}
	assert_true(peak <= 4096);
	assert_true(r.st.held_pressure > 0);
	tcpreasm_free(&r, &tv);
	/* Nothing is lost that was seen: every "c" came out after its gap. */
	assert_int_equal(r.st.gaps, 300);
	assert_int_equal(rc.len[0], 300 * strlen("a[gap 1]c"));
}

/*
 * The global cap on held bytes, full, with 90,000 older flows that hold
 * nothing in front of those that do: making room must not walk past
 * every flow for every segment (an attacker's out-of-order segments,
 * each behind its own hole, each needing room). CPU time, not wall
 * time: other work on the machine does not count.
 */
static const struct tcpreasm_ops null_ops = { NULL, NULL, NULL };

static void
test_held_pressure_cost(void **state)
{
	static char big[1000];
	struct tcpreasm r;
	struct tcpreasm_config cfg;
	struct tcpreasm_seg s;
	struct timeval tv = { 3000, 0 };
	struct timespec t0, t1;
	double secs;

	(void)state;
	memset(big, 'h', sizeof(big));
	tcpreasm_config_defaults(&cfg);
	cfg.max_flows = 100000;
	cfg.max_held = 1u << 20;
	assert_int_equal(tcpreasm_init(&r, &cfg, &null_ops, NULL), 0);
	for (uint32_t i = 0; i < 90000; i++) {
		make_seg(&s, AF_INET, true, 100, 1, TCPREASM_TH_ACK, "a", 1);
		s.sport = (uint16_t)(1024 + i % 60000);
		s.src[2] = (uint8_t)(i / 60000);
		tcpreasm_segment(&r, &s, &tv);
	}
	assert_int_equal(r.nflows, 90000);
	/* Then 8 flows fill the cap, 1000 bytes behind each 1-byte hole. */
	for (uint32_t i = 0; i < 8000; i++) {
		uint32_t fl = i % 8, k = i / 8;

		make_seg(&s, AF_INET, true, 100 + k * 1001, 1, TCPREASM_TH_ACK,
		    k == 0 ? "a" : big, k == 0 ? 1 : sizeof(big));
		s.sport = (uint16_t)(2000 + fl);
		s.src[2] = 9;
		tcpreasm_segment(&r, &s, &tv);
	}
	assert_true(r.held + 2000 > cfg.max_held);
	assert_true(r.st.held_pressure > 0);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	for (uint32_t i = 0; i < 3000; i++) {
		make_seg(&s, AF_INET, true, 100 + (1000 + i) * 1001, 1,
		    TCPREASM_TH_ACK, big, sizeof(big));
		s.sport = (uint16_t)(2000 + i % 8);
		s.src[2] = 9;
		tcpreasm_segment(&r, &s, &tv);
		assert_true(r.held <= cfg.max_held);
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	print_message("# 3000 segments at the held cap, 90000 flows: %.3f s\n",
	    secs);
	assert_true(secs < 0.5);
	tcpreasm_free(&r, &tv);
	assert_int_equal(r.held, 0);
}

/*
 * One direction's held list full of 1-byte segments, each behind a
 * 1-byte hole (the per-direction byte cap alone lets some 8,000 of them
 * in): every further one must not cost a walk over all of them, twice.
 */
static void
test_held_segments_cost(void **state)
{
	struct tcpreasm r;
	struct tcpreasm_config cfg;
	struct tcpreasm_seg s;
	struct timeval tv = { 3000, 0 };
	struct timespec t0, t1;
	double secs;

	(void)state;
	tcpreasm_config_defaults(&cfg);
	assert_int_equal(tcpreasm_init(&r, &cfg, &null_ops, NULL), 0);
	make_seg(&s, AF_INET, true, 100, 1, TCPREASM_TH_ACK, "a", 1);
	tcpreasm_segment(&r, &s, &tv);
	for (uint32_t i = 1; i <= 10000; i++) {
		make_seg(&s, AF_INET, true, 100 + 2 * i, 1, TCPREASM_TH_ACK,
		    "b", 1);
		tcpreasm_segment(&r, &s, &tv);
	}
	assert_true(r.held <= cfg.max_held_half);
	assert_true(r.st.held_pressure > 0);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	for (uint32_t i = 10001; i <= 50000; i++) {
		make_seg(&s, AF_INET, true, 100 + 2 * i, 1, TCPREASM_TH_ACK,
		    "b", 1);
		tcpreasm_segment(&r, &s, &tv);
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	print_message("# 40000 1-byte segments behind holes: %.3f s\n", secs);
	assert_true(secs < 0.5);
	tcpreasm_free(&r, &tv);
	assert_int_equal(r.held, 0);
}

/*
 * Random segments over a few flows (random flags, sequence numbers near
 * and far, lost and repeated segments, time jumps) with small caps: the
 * caps hold after every segment and everything is freed at the end.
 */
static void
test_random_bounded(void **state)
{
	static char junk[3000];
	struct tcpreasm r;
	struct tcpreasm_config cfg;
	struct rec rc;
	struct timeval tv = { 5000, 0 };
	uint32_t x = 99991;
	uint32_t next[8];

	(void)state;
	memset(junk, 'j', sizeof(junk));
	memset(&rc, 0, sizeof(rc));
	tcpreasm_config_defaults(&cfg);
	cfg.max_flows = 5;
	cfg.max_held = 20000;
	cfg.max_held_half = 6000;
	cfg.idle_timeout = 30;
	assert_int_equal(tcpreasm_init(&r, &cfg, &ops, &rc), 0);
	for (int i = 0; i < 8; i++)
		next[i] = rnd(&x);
	for (int i = 0; i < 200000; i++) {
		struct tcpreasm_seg s;
		int fl = (int)(rnd(&x) % 8);
		bool c = rnd(&x) % 4 != 0;
		uint32_t len = rnd(&x) % 3 ? rnd(&x) % 1500 : 0;
		uint32_t seq = next[fl];
		uint8_t flags = TCPREASM_TH_ACK;

		switch (rnd(&x) % 10) {
		case 0: seq += rnd(&x) % 20000; break;	/* ahead */
		case 1: seq -= rnd(&x) % 20000; break;	/* behind */
		case 2: seq = rnd(&x); break;		/* anywhere */
		default: next[fl] += len; break;	/* in order */
		}
		switch (rnd(&x) % 50) {
		case 0: flags = TCPREASM_TH_SYN; break;
		case 1: flags |= TCPREASM_TH_SYN; break;
		case 2: flags |= TCPREASM_TH_FIN; break;
		case 3: flags = TCPREASM_TH_RST; break;
		}
		make_seg(&s, i % 3 ? AF_INET : AF_INET6, c, seq, rnd(&x),
		    flags, junk, len);
		s.sport = (uint16_t)(40000 + fl);
		if (!c)
			s.dport = (uint16_t)(40000 + fl);
		tv.tv_usec += (suseconds_t)(rnd(&x) % 100000);
		if (tv.tv_usec >= 1000000) {
			tv.tv_sec++;
			tv.tv_usec -= 1000000;
		}
		if (rnd(&x) % 5000 == 0)
			tv.tv_sec += 60;		/* everything idles out */
		tcpreasm_segment(&r, &s, &tv);
		assert_true(r.held <= cfg.max_held);
		assert_true(r.nflows <= cfg.max_flows);
		{
			unsigned holders = 0, listed = 0;

			for (const struct tcpreasm_flow *f = r.oldest; f;
			    f = f->newer) {
				for (int d = 0; d < 2; d++) {
					assert_true(f->half[d].held_bytes <=
					    cfg.max_held_half);
					assert_true(f->half[d].nheld <= 256);
					assert_true((f->half[d].nheld == 0) ==
					    (f->half[d].held == NULL));
				}
				holders += f->half[0].held != NULL ||
				    f->half[1].held != NULL;
			}
			/* The list of holders is exactly those. */
			for (const struct tcpreasm_flow *f = r.holding.oldest;
			    f; f = f->hold_newer) {
				assert_true(f->half[0].held != NULL ||
				    f->half[1].held != NULL);
				listed++;
			}
			assert_int_equal(listed, holders);
		}
		/* The recorder's buffers would fill: keep them short. */
		rc.len[0] = rc.len[1] = 0;
		rc.ends[0] = '\0';
	}
	assert_true(r.st.gaps > 0 && r.st.evicted > 0 && r.st.idle > 0 &&
	    r.st.held_pressure > 0);
	tcpreasm_free(&r, &tv);
	assert_int_equal(r.held, 0);
	assert_int_equal(r.nflows, 0);
}

/*
 * A SYN flood with fresh tuples while the table is full: flows that carry
 * data stay, the flood's flows take turns on what is left or are refused.
 */
static void
test_syn_flood_keeps_data_flows(void **state)
{
	struct tcpreasm r;
	struct tcpreasm_config cfg;
	struct rec rc;
	struct tcpreasm_seg s;
	struct timeval tv = { 1000, 0 };

	(void)state;
	memset(&rc, 0, sizeof(rc));
	tcpreasm_config_defaults(&cfg);
	cfg.max_flows = 4;
	assert_int_equal(tcpreasm_init(&r, &cfg, &ops, &rc), 0);
	seg_from(&r, 40001, 100, "a", 1000);
	seg_from(&r, 40002, 100, "b", 1000);
	for (uint16_t p = 0; p < 1000; p++) {
		make_seg(&s, AF_INET, true, 7000u * p, 0, TCPREASM_TH_SYN,
		    "", 0);
		s.sport = (uint16_t)(50000 + p);
		tcpreasm_segment(&r, &s, &tv);
		assert_true(r.nflows <= 4);
	}
	/* Both data flows are still followed: no new flow, no gap. */
	seg_from(&r, 40001, 101, "A", 1001);
	seg_from(&r, 40002, 101, "B", 1001);
	assert_int_equal(r.st.flows, 2 + 1000);
	assert_int_equal(r.st.evicted, 1000 - 2);
	assert_string_equal(rc.out[0], "abAB");
	/* Now full of data flows: a SYN is refused, a tombstone gives way. */
	seg_from(&r, 40003, 100, "c", 1002);
	seg_from(&r, 40004, 100, "d", 1002);
	make_seg(&s, AF_INET, true, 1, 0, TCPREASM_TH_SYN, "", 0);
	s.sport = 60000;
	tcpreasm_segment(&r, &s, &tv);
	assert_int_equal(r.st.refused, 1);
	make_seg(&s, AF_INET, false, 1, 0, TCPREASM_TH_RST, "", 0);
	s.dport = 40003;
	tcpreasm_segment(&r, &s, &tv);
	make_seg(&s, AF_INET, true, 1, 0, TCPREASM_TH_SYN, "", 0);
	s.sport = 60000;
	tcpreasm_segment(&r, &s, &tv);
	assert_int_equal(r.st.refused, 1);
	assert_int_equal(r.nflows, 4);
	seg_from(&r, 40001, 102, "x", 1003);
	assert_int_equal(r.st.flows, 2 + 1000 + 3);
	tcpreasm_free(&r, &tv);
}

/* A tombstone drops late copies for closed_timeout, then goes. */
static void
test_tombstone_expires(void **state)
{
	struct tcpreasm r;
	struct tcpreasm_config cfg;
	struct rec rc;
	struct tcpreasm_seg s;
	struct timeval tv = { 1000, 0 };

	(void)state;
	memset(&rc, 0, sizeof(rc));
	tcpreasm_config_defaults(&cfg);
	cfg.closed_timeout = 60;
	assert_int_equal(tcpreasm_init(&r, &cfg, &ops, &rc), 0);
	seg_from(&r, 40001, 100, "abc", 1000);
	make_seg(&s, AF_INET, false, 1, 0, TCPREASM_TH_RST, "", 0);
	s.dport = 40001;
	tcpreasm_segment(&r, &s, &tv);
	seg_from(&r, 40001, 100, "abc", 1030);
	seg_from(&r, 40001, 100, "abc", 1089);
	assert_int_equal(r.st.closed_segments, 2);
	assert_string_equal(rc.out[0], "abc");
	/* 61 s after the last copy the tuple is free again. */
	seg_from(&r, 40001, 200, "new", 1150);
	assert_int_equal(r.st.flows, 2);
	assert_string_equal(rc.out[0], "abcnew");
	tcpreasm_free(&r, &tv);
}

/*
 * Tuples an outsider found to share a bucket under one key spread out
 * under another: the hash is keyed, chains stay short.
 */
static void
test_keyed_hash(void **state)
{
	struct tcpreasm r;
	struct tcpreasm_config cfg;
	struct rec rc;
	struct timeval tv = { 1000, 0 };
	uint16_t found[64];
	unsigned n = 0, longest = 0;

	(void)state;
	memset(&rc, 0, sizeof(rc));
	tcpreasm_config_defaults(&cfg);
	cfg.max_flows = 1;		/* one at a time: cheap to probe */
	cfg.hash_key[0] = 0x01234567u;
	cfg.hash_key[1] = 0x89abcdefu;
	assert_int_equal(tcpreasm_init(&r, &cfg, &ops, &rc), 0);
	for (uint32_t p = 1; p < 65536 && n < 64; p++) {
		seg_from(&r, (uint16_t)p, 100, "a", 1000);
		if ((r.newest->hash & (r.nbuckets - 1)) == 0)
			found[n++] = (uint16_t)p;
		rc.len[0] = 0;
	}
	tcpreasm_free(&r, &tv);
	assert_true(n >= 32);

	tcpreasm_config_defaults(&cfg);
	cfg.hash_key[0] = 0xdeadbeefu;
	cfg.hash_key[1] = 0x0badf00du;
	assert_int_equal(tcpreasm_init(&r, &cfg, &ops, &rc), 0);
	for (unsigned i = 0; i < n; i++) {
		seg_from(&r, found[i], 100, "a", 1000);
		rc.len[0] = 0;
	}
	assert_int_equal(r.nflows, n);
	for (uint32_t b = 0; b < r.nbuckets; b++) {
		unsigned len = 0;

		for (const struct tcpreasm_flow *f = r.buckets[b]; f;
		    f = f->hnext)
			len++;
		if (len > longest)
			longest = len;
	}
	assert_true(longest <= 4);
	tcpreasm_free(&r, &tv);
}


/*
 * The table starts small (a site's few flows stay in the cache) and
 * doubles as flows come; every flow is found again afterwards, each in
 * the bucket its hash names.
 */
static void
test_table_grows(void **state)
{
	struct tcpreasm r;
	struct tcpreasm_config cfg;
	struct rec rc;
	struct timeval tv = { 1000, 0 };

	(void)state;
	memset(&rc, 0, sizeof(rc));
	tcpreasm_config_defaults(&cfg);
	assert_int_equal(tcpreasm_init(&r, &cfg, &ops, &rc), 0);
	assert_int_equal(r.nbuckets, 1024);
	for (uint16_t p = 1; p <= 5000; p++) {
		seg_from(&r, p, 100, "a", 1000);
		rc.len[0] = 0;
	}
	assert_int_equal(r.nflows, 5000);
	assert_true(r.nbuckets >= 4096 && r.nbuckets <= 8192);
	for (uint32_t b = 0; b < r.nbuckets; b++)
		for (const struct tcpreasm_flow *f = r.buckets[b]; f;
		    f = f->hnext)
			assert_int_equal(f->hash & (r.nbuckets - 1), b);
	/* The next byte of each: found, not a new flow. */
	for (uint16_t p = 5000; p >= 1; p--) {
		seg_from(&r, p, 101, "b", 1000);
		assert_int_equal(rc.len[0], 1);
		assert_int_equal(rc.out[0][0], 'b');
		rc.len[0] = 0;
	}
	assert_int_equal(r.st.flows, 5000);
	assert_int_equal(r.nflows, 5000);
	tcpreasm_free(&r, &tv);
}

/* IPv4 lives in the first 4 address bytes: what follows is not looked at. */
static void
test_ipv4_padding_ignored(void **state)
{
	struct tcpreasm r;
	struct tcpreasm_config cfg;
	struct rec rc;
	struct tcpreasm_seg s;
	struct timeval tv = { 1000, 0 };

	(void)state;
	memset(&rc, 0, sizeof(rc));
	tcpreasm_config_defaults(&cfg);
	assert_int_equal(tcpreasm_init(&r, &cfg, &ops, &rc), 0);
	make_seg(&s, AF_INET, true, 100, 1, TCPREASM_TH_ACK, "ab", 2);
	tcpreasm_segment(&r, &s, &tv);
	make_seg(&s, AF_INET, true, 102, 1, TCPREASM_TH_ACK, "cd", 2);
	memset(s.src + 4, 0xa5, 12);
	memset(s.dst + 4, 0x5a, 12);
	tcpreasm_segment(&r, &s, &tv);
	assert_int_equal(r.st.flows, 1);
	assert_string_equal(rc.out[0], "abcd");
	tcpreasm_free(&r, &tv);
}

static void
test_side_name(void **state)
{
	struct tcpreasm_flow f;
	char buf[64];

	(void)state;
	memset(&f, 0, sizeof(f));
	f.af = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::10", f.addr[0]);
	f.port[0] = 40000;
	tcpreasm_side_name(&f, 0, buf, sizeof(buf));
	assert_string_equal(buf, "[2001:db8::10]:40000");
	f.af = AF_INET;
	inet_pton(AF_INET, "192.0.2.10", f.addr[1]);
	f.port[1] = 10004;
	tcpreasm_side_name(&f, 1, buf, sizeof(buf));
	assert_string_equal(buf, "192.0.2.10:10004");
	/* By hand as inet_ntop and printf: every octet, ports at each width. */
	static const uint16_t ports[] = { 0, 1, 9, 10, 99, 100, 999, 1000,
	    9999, 10000, 10004, 65535 };
	for (unsigned v = 0; v < 256; v++)
		for (size_t k = 0; k < sizeof(ports) / sizeof(ports[0]); k++) {
			char a[INET_ADDRSTRLEN], want[64];
			size_t n;

			f.addr[0][0] = (uint8_t)v;
			f.addr[0][1] = (uint8_t)(255 - v);
			f.addr[0][2] = (uint8_t)(v * 7);
			f.addr[0][3] = (uint8_t)(v / 3);
			f.port[0] = ports[k];
			inet_ntop(AF_INET, f.addr[0], a, sizeof(a));
			snprintf(want, sizeof(want), "%s:%u", a, ports[k]);
			n = tcpreasm_side_name(&f, 0, buf, sizeof(buf));
			assert_string_equal(buf, want);
			assert_int_equal(n, strlen(want));
		}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_ipv4),
		cmocka_unit_test(test_table_ipv6),
		cmocka_unit_test(test_shuffled_with_duplicates),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_flow_cap_evicts_oldest),
		cmocka_unit_test(test_held_cap_per_direction),
		cmocka_unit_test(test_held_cap_global),
		cmocka_unit_test(test_held_pressure_cost),
		cmocka_unit_test(test_held_segments_cost),
		cmocka_unit_test(test_random_bounded),
		cmocka_unit_test(test_syn_flood_keeps_data_flows),
		cmocka_unit_test(test_tombstone_expires),
		cmocka_unit_test(test_keyed_hash),
		cmocka_unit_test(test_table_grows),
		cmocka_unit_test(test_ipv4_padding_ignored),
		cmocka_unit_test(test_side_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
