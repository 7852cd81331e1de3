/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tcpreasm.c: per-flow, per-direction TCP reassembly (see tcpreasm.h).
 *
 * Flows live in a hash table keyed by both endpoints (a symmetric hash, so
 * either direction finds the flow) and on a recency list, oldest first:
 * the idle timeout and the flow cap both take from its head. Each
 * direction keeps the next sequence number it owes the consumer and a
 * sorted list of segments that arrived ahead of it.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tcpreasm.h"

struct tcpreasm_held {
	struct tcpreasm_held *next;
	uint32_t seq;
	uint32_t len;
	uint8_t data[];
};

/* What a held segment costs against the caps: its bytes and its node. */
#define HELD_COST(len) ((len) + (uint32_t)sizeof(struct tcpreasm_held) + 16)

#define SEQ_LT(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GT(a, b) SEQ_LT(b, a)

void
tcpreasm_config_defaults(struct tcpreasm_config *c)
{
	memset(c, 0, sizeof(*c));
	c->max_flows = 100000;
	c->max_held = 8u << 20;
	c->max_held_half = 256u << 10;
	c->idle_timeout = 300;
	c->server_ports[0] = 10004;
	c->nports = 1;
}

int
tcpreasm_init(struct tcpreasm *r, const struct tcpreasm_config *c,
    const struct tcpreasm_ops *ops, void *arg)
{
	uint32_t n = 1024;

	memset(r, 0, sizeof(*r));
	r->cfg = *c;
	if (r->cfg.max_flows == 0)
		r->cfg.max_flows = 1;
	r->ops = *ops;
	r->arg = arg;
	/* About one flow per bucket at the cap, never more than 2^20. */
	while (n < r->cfg.max_flows && n < (1u << 20))
		n <<= 1;
	r->buckets = calloc(n, sizeof(*r->buckets));
	if (r->buckets == NULL)
		return -1;
	r->nbuckets = n;
	return 0;
}

static int
addr_len(int af)
{
	return af == AF_INET6 ? 16 : 4;
}

static uint32_t
hash_side(int af, const uint8_t *a, uint16_t port)
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < addr_len(af); i++)
		h = (h ^ a[i]) * 16777619u;
	h = (h ^ (port & 0xff)) * 16777619u;
	h = (h ^ (port >> 8)) * 16777619u;
	return h;
}

static uint32_t
hash_seg(const struct tcpreasm_seg *s)
{
	/* Addition commutes: both directions hash alike. */
	uint32_t h = hash_side(s->af, s->src, s->sport) +
	    hash_side(s->af, s->dst, s->dport);

	h ^= h >> 16;
	h *= 0x45d9f3bu;
	h ^= h >> 16;
	return h;
}

static bool
side_is(const struct tcpreasm_flow *f, int side, const uint8_t *a,
    uint16_t port)
{
	return f->port[side] == port &&
	    memcmp(f->addr[side], a, (size_t)addr_len(f->af)) == 0;
}

static struct tcpreasm_flow *
flow_find(struct tcpreasm *r, const struct tcpreasm_seg *s, uint32_t h,
    enum tcpreasm_dir *dir)
{
	struct tcpreasm_flow *f;

	for (f = r->buckets[h & (r->nbuckets - 1)]; f; f = f->hnext) {
		if (f->af != s->af)
			continue;
		if (side_is(f, 0, s->src, s->sport) &&
		    side_is(f, 1, s->dst, s->dport)) {
			*dir = TCPREASM_TO_SERVER;
			return f;
		}
		if (side_is(f, 1, s->src, s->sport) &&
		    side_is(f, 0, s->dst, s->dport)) {
			*dir = TCPREASM_TO_CLIENT;
			return f;
		}
	}
	return NULL;
}

static bool
server_port(const struct tcpreasm *r, uint16_t port)
{
	for (int i = 0; i < r->cfg.nports; i++)
		if (r->cfg.server_ports[i] == port)
			return true;
	return false;
}

static void
list_unlink(struct tcpreasm *r, struct tcpreasm_flow *f)
{
	if (f->older)
		f->older->newer = f->newer;
	else
		r->oldest = f->newer;
	if (f->newer)
		f->newer->older = f->older;
	else
		r->newest = f->older;
	f->older = f->newer = NULL;
}

static void
list_append(struct tcpreasm *r, struct tcpreasm_flow *f)
{
	f->older = r->newest;
	f->newer = NULL;
	if (r->newest)
		r->newest->newer = f;
	else
		r->oldest = f;
	r->newest = f;
}

static void
to_timeval(int64_t us, struct timeval *tv)
{
	tv->tv_sec = (time_t)(us / 1000000);
	tv->tv_usec = (suseconds_t)(us % 1000000);
}

static void
deliver(struct tcpreasm *r, struct tcpreasm_flow *f, enum tcpreasm_dir d,
    const uint8_t *buf, size_t len, const struct timeval *when)
{
	r->st.bytes += len;
	if (r->ops.data && len > 0)
		r->ops.data(r->arg, f, d, buf, len, when);
}

static void
free_held(struct tcpreasm *r, struct tcpreasm_half *h,
    struct tcpreasm_held *n)
{
	h->held = n->next;
	h->held_bytes -= HELD_COST(n->len);
	r->held -= HELD_COST(n->len);
	free(n);
}

/* Deliver the held segments that the next expected byte has reached. */
static void
drain(struct tcpreasm *r, struct tcpreasm_flow *f, enum tcpreasm_dir d,
    const struct timeval *when)
{
	struct tcpreasm_half *h = &f->half[d];
	struct tcpreasm_held *n;

	while ((n = h->held) != NULL && SEQ_LEQ(n->seq, h->next)) {
		uint32_t end = n->seq + n->len;

		if (SEQ_GT(end, h->next)) {
			uint32_t k = h->next - n->seq;

			r->st.dup_bytes += k;
			h->next = end;
			deliver(r, f, d, n->data + k, n->len - k, when);
		} else {
			r->st.dup_bytes += n->len;
		}
		free_held(r, h, n);
	}
	if (h->fin && !h->done && h->next == h->fin_seq)
		h->done = true;
}

/* Bytes up to target will never be seen: report them and go on after. */
static void
jump_to(struct tcpreasm *r, struct tcpreasm_flow *f, enum tcpreasm_dir d,
    uint32_t target, const struct timeval *when)
{
	struct tcpreasm_half *h = &f->half[d];
	uint32_t missing = target - h->next;

	r->st.gaps++;
	r->st.gap_bytes += missing;
	h->next = target;
	if (r->ops.gap)
		r->ops.gap(r->arg, f, d, missing, when);
	drain(r, f, d, when);
}

/*
 * Give up on the hole in front of the first held segment (or before the
 * FIN): report it and go on with what follows. Returns false if there is
 * no hole to skip.
 */
static bool
skip_hole(struct tcpreasm *r, struct tcpreasm_flow *f, enum tcpreasm_dir d,
    const struct timeval *when)
{
	struct tcpreasm_half *h = &f->half[d];

	if (h->held != NULL)
		jump_to(r, f, d, h->held->seq, when);
	else if (h->fin && !h->done && SEQ_GT(h->fin_seq, h->next))
		jump_to(r, f, d, h->fin_seq, when);
	else
		return false;
	return true;
}

/*
 * The peer acknowledged bytes we never saw: they will not be sent again.
 * Skip up to what it acknowledged (or the next held byte, if sooner);
 * bytes past its ACK may still come.
 */
static void
skip_acked(struct tcpreasm *r, struct tcpreasm_flow *f, enum tcpreasm_dir d,
    const struct timeval *when)
{
	struct tcpreasm_half *h = &f->half[d];

	while (h->known && h->acked && !h->done &&
	    SEQ_GT(h->peer_ack, h->next) && (h->held != NULL || h->fin)) {
		uint32_t target = h->held ? h->held->seq : h->fin_seq;

		if (SEQ_LT(h->peer_ack, target))
			target = h->peer_ack;
		if (target == h->next)
			break;
		jump_to(r, f, d, target, when);
	}
}

static void
flow_close(struct tcpreasm *r, struct tcpreasm_flow *f, enum tcpreasm_end why,
    const struct timeval *when)
{
	struct tcpreasm_flow **pp;
	uint32_t h;
	struct tcpreasm_seg key;

	/* What is held is delivered after its holes, not thrown away. */
	for (int d = 0; d < 2; d++)
		while (skip_hole(r, f, (enum tcpreasm_dir)d, when))
			;
	if (r->ops.close)
		r->ops.close(r->arg, f, why, when);

	memset(&key, 0, sizeof(key));
	key.af = f->af;
	memcpy(key.src, f->addr[0], 16);
	memcpy(key.dst, f->addr[1], 16);
	key.sport = f->port[0];
	key.dport = f->port[1];
	h = hash_seg(&key);
	for (pp = &r->buckets[h & (r->nbuckets - 1)]; *pp; pp = &(*pp)->hnext)
		if (*pp == f) {
			*pp = f->hnext;
			break;
		}
	list_unlink(r, f);
	for (int d = 0; d < 2; d++)
		while (f->half[d].held)
			free_held(r, &f->half[d], f->half[d].held);
	r->nflows--;
	free(f);
}

static struct tcpreasm_flow *
flow_new(struct tcpreasm *r, const struct tcpreasm_seg *s, uint32_t h,
    enum tcpreasm_dir *dir, const struct timeval *when)
{
	struct tcpreasm_flow *f;
	bool src_is_client;

	if (s->flags & TCPREASM_TH_SYN)
		src_is_client = !(s->flags & TCPREASM_TH_ACK);
	else if (server_port(r, s->dport))
		src_is_client = true;
	else if (server_port(r, s->sport))
		src_is_client = false;
	else
		src_is_client = true;

	while (r->nflows >= r->cfg.max_flows && r->oldest) {
		r->st.evicted++;
		flow_close(r, r->oldest, TCPREASM_END_EVICTED, when);
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL) {
		r->st.alloc_fail++;
		return NULL;
	}
	f->af = s->af;
	memcpy(f->addr[0], src_is_client ? s->src : s->dst, 16);
	memcpy(f->addr[1], src_is_client ? s->dst : s->src, 16);
	f->port[0] = src_is_client ? s->sport : s->dport;
	f->port[1] = src_is_client ? s->dport : s->sport;
	f->hnext = r->buckets[h & (r->nbuckets - 1)];
	r->buckets[h & (r->nbuckets - 1)] = f;
	list_append(r, f);
	r->nflows++;
	r->st.flows++;
	*dir = src_is_client ? TCPREASM_TO_SERVER : TCPREASM_TO_CLIENT;
	return f;
}

/* Make room for `cost` more held bytes, skipping holes oldest flow first. */
static void
relieve_pressure(struct tcpreasm *r, struct tcpreasm_flow *self,
    enum tcpreasm_dir d, uint32_t cost, const struct timeval *when)
{
	struct tcpreasm_half *h = &self->half[d];
	struct tcpreasm_flow *f;

	while (h->held && h->held_bytes + cost > r->cfg.max_held_half) {
		r->st.held_pressure++;
		skip_hole(r, self, d, when);
	}
	for (f = r->oldest; f && r->held + cost > r->cfg.max_held;
	    f = f->newer) {
		for (int i = 0; i < 2; i++)
			while (f->half[i].held &&
			    r->held + cost > r->cfg.max_held) {
				r->st.held_pressure++;
				skip_hole(r, f, (enum tcpreasm_dir)i, when);
			}
	}
}

static bool
covered(const struct tcpreasm_half *h, uint32_t seq, uint32_t len)
{
	for (const struct tcpreasm_held *n = h->held;
	    n && SEQ_LEQ(n->seq, seq); n = n->next)
		if (SEQ_LEQ(seq + len, n->seq + n->len))
			return true;
	return false;
}

static void
add_data(struct tcpreasm *r, struct tcpreasm_flow *f, enum tcpreasm_dir d,
    uint32_t seq, const uint8_t *data, uint32_t len,
    const struct timeval *when)
{
	struct tcpreasm_half *h = &f->half[d];
	struct tcpreasm_held **pp, *n;
	uint32_t cost = HELD_COST(len);

	for (;;) {
		int32_t off = (int32_t)(seq - h->next);

		if (h->done) {
			/* Past the FIN: nothing more belongs to the stream. */
			r->st.dup_bytes += len;
			return;
		}
		if (off <= 0) {
			uint32_t old = (uint32_t)-off;

			if (old >= len) {
				r->st.dup_bytes += len;
				return;
			}
			r->st.dup_bytes += old;
			h->next = seq + len;
			deliver(r, f, d, data + old, len - old, when);
			drain(r, f, d, when);
			return;
		}
		if (covered(h, seq, len)) {
			r->st.dup_bytes += len;
			return;
		}
		if (cost > r->cfg.max_held_half || cost > r->cfg.max_held) {
			/* Too big to ever hold: what is before it is lost. */
			if (!skip_hole(r, f, d, when))
				jump_to(r, f, d, seq, when);
			continue;
		}
		if (h->held_bytes + cost > r->cfg.max_held_half ||
		    r->held + cost > r->cfg.max_held) {
			relieve_pressure(r, f, d, cost, when);
			continue;
		}
		break;
	}
	n = malloc(sizeof(*n) + len);
	if (n == NULL) {
		r->st.alloc_fail++;
		r->st.dropped_bytes += len;
		return;
	}
	for (pp = &h->held; *pp && SEQ_LEQ((*pp)->seq, seq); pp = &(*pp)->next)
		;
	n->seq = seq;
	n->len = len;
	memcpy(n->data, data, len);
	n->next = *pp;
	*pp = n;
	h->held_bytes += cost;
	r->held += cost;
	r->st.held_segments++;
}

void
tcpreasm_segment(struct tcpreasm *r, const struct tcpreasm_seg *s,
    const struct timeval *when)
{
	struct tcpreasm_flow *f;
	struct tcpreasm_half *h, *peer;
	enum tcpreasm_dir d;
	uint32_t h32, seq;
	int64_t us = (int64_t)when->tv_sec * 1000000 + when->tv_usec;
	struct timeval now;
	bool syn = s->flags & TCPREASM_TH_SYN;

	r->st.segments++;
	/* The recency list stays sorted even if packet times step back. */
	if (r->newest && us < r->newest->last_us)
		us = r->newest->last_us;
	to_timeval(us, &now);
	tcpreasm_expire(r, &now);

	h32 = hash_seg(s);
	f = flow_find(r, s, h32, &d);
	if (f != NULL && syn && !(s->flags & TCPREASM_TH_ACK) &&
	    d == TCPREASM_TO_SERVER && f->half[d].syn &&
	    f->half[d].isn != s->seq) {
		/* The 5-tuple is used again for a new connection. */
		flow_close(r, f, TCPREASM_END_REUSED, &now);
		f = NULL;
	}
	if (f == NULL) {
		if ((s->flags & TCPREASM_TH_RST) || (!syn && s->len == 0)) {
			r->st.no_flow++;
			return;
		}
		f = flow_new(r, s, h32, &d, &now);
		if (f == NULL)
			return;
	}
	f->last_us = us;
	if (r->newest != f) {
		list_unlink(r, f);
		list_append(r, f);
	}
	if (s->flags & TCPREASM_TH_RST) {
		flow_close(r, f, TCPREASM_END_RST, &now);
		return;
	}
	h = &f->half[d];
	peer = &f->half[1 - d];
	seq = s->seq;
	if (syn) {
		if (!h->syn) {
			h->syn = true;
			h->isn = s->seq;
			if (!h->known) {
				h->known = true;
				h->next = s->seq + 1;
			}
		}
		seq = s->seq + 1;
	}
	if (!h->known && (s->len > 0 || (s->flags & TCPREASM_TH_FIN))) {
		/* Picked up mid-stream: start at the first byte we see. */
		h->known = true;
		h->next = seq;
	}
	if (s->flags & TCPREASM_TH_ACK) {
		if (!peer->acked || SEQ_GT(s->ack, peer->peer_ack))
			peer->peer_ack = s->ack;
		peer->acked = true;
	}
	if (s->len > 0 && h->known)
		add_data(r, f, d, seq, s->data, (uint32_t)s->len, &now);
	if ((s->flags & TCPREASM_TH_FIN) && h->known && !h->fin) {
		h->fin = true;
		h->fin_seq = seq + (uint32_t)s->len;
		drain(r, f, d, &now);
	}
	skip_acked(r, f, TCPREASM_TO_SERVER, &now);
	skip_acked(r, f, TCPREASM_TO_CLIENT, &now);
	if (f->half[0].done && f->half[1].done)
		flow_close(r, f, TCPREASM_END_FIN, &now);
}

void
tcpreasm_expire(struct tcpreasm *r, const struct timeval *now)
{
	int64_t us = (int64_t)now->tv_sec * 1000000 + now->tv_usec;
	int64_t limit = (int64_t)r->cfg.idle_timeout * 1000000;

	while (r->oldest && us - r->oldest->last_us > limit) {
		r->st.idle++;
		flow_close(r, r->oldest, TCPREASM_END_IDLE, now);
	}
}

void
tcpreasm_free(struct tcpreasm *r, const struct timeval *now)
{
	while (r->oldest)
		flow_close(r, r->oldest, TCPREASM_END_FLUSH, now);
	free(r->buckets);
	r->buckets = NULL;
}

size_t
tcpreasm_side_name(const struct tcpreasm_flow *f, int side, char *buf,
    size_t n)
{
	char a[INET6_ADDRSTRLEN];
	int w;

	if (inet_ntop(f->af, f->addr[side], a, sizeof(a)) == NULL)
		snprintf(a, sizeof(a), "?");
	if (f->af == AF_INET6)
		w = snprintf(buf, n, "[%s]:%u", a, f->port[side]);
	else
		w = snprintf(buf, n, "%s:%u", a, f->port[side]);
	return w < 0 ? 0 : (size_t)w;
}
