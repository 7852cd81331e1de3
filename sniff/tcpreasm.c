/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tcpreasm.c: per-flow, per-direction TCP reassembly (see tcpreasm.h).
 *
 * The flow table (hash, lookup, recency lists, eviction) is tcpflow.c's.
 * Each direction keeps the next sequence number it owes the consumer and
 * a sorted list of segments that arrived ahead of it.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tcpreasm_int.h"

/*
 * A held segment, or (unknown) a range two copies disagreed on: it holds
 * no bytes, and when the stream reaches it, it is a gap.
 */
struct tcpreasm_held {
	struct tcpreasm_held *next;
	uint32_t seq;
	uint32_t len;
	uint32_t cost;		/* what it counts against the caps */
	bool unknown;
	uint8_t data[];
};

/* What a held segment costs against the caps: its bytes and its node. */
#define HELD_COST(len) ((len) + (uint32_t)sizeof(struct tcpreasm_held) + 16)
/*
 * Segments held per direction. The list is walked for each new one (is
 * it covered, where does it go): the byte cap alone let some 8,000
 * one-byte segments behind holes in, and each further one cost a walk
 * over all of them. A kit's push is a few segments; a full window of
 * full-size ones reaches the byte cap first.
 */
#define HELD_SEGS_MAX 256u

#define SEQ_LT(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GT(a, b) SEQ_LT(b, a)
#define SEQ_GEQ(a, b) SEQ_LEQ(b, a)

/*
 * An RST counts only this close to the next byte its sender owes (the
 * capture may have missed some of them); anything else is a guess.
 */
#define RST_WINDOW (1u << 20)
/* A SYN restarts an open flow only after it was quiet this long. */
#define REUSE_QUIET_US (30 * (int64_t)1000000)

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
	h->nheld--;
	h->held_bytes -= n->cost;
	r->held -= n->cost;
	free(n);
}

/*
 * The list of flows that hold bytes, for the global cap: walking every
 * flow for one that does cost each segment at the cap a pass over up
 * to max_flows entries. Called where held segments come and go.
 */
static void
holding_update(struct tcpreasm *r, struct tcpreasm_flow *f)
{
	struct tcpreasm_lru *l = &r->holding;
	bool holds = f->half[0].held != NULL || f->half[1].held != NULL;

	if (holds == f->holding)
		return;
	f->holding = holds;
	if (holds) {
		f->hold_older = l->newest;
		f->hold_newer = NULL;
		if (l->newest)
			l->newest->hold_newer = f;
		else
			l->oldest = f;
		l->newest = f;
		return;
	}
	if (f->hold_older)
		f->hold_older->hold_newer = f->hold_newer;
	else
		l->oldest = f->hold_newer;
	if (f->hold_newer)
		f->hold_newer->hold_older = f->hold_older;
	else
		l->newest = f->hold_older;
	f->hold_older = f->hold_newer = NULL;
}

/* Deliver the held segments that the next expected byte has reached. */
static void
drain(struct tcpreasm *r, struct tcpreasm_flow *f, enum tcpreasm_dir d,
    const struct timeval *when)
{
	struct tcpreasm_half *h = &f->half[d];
	struct tcpreasm_held *n;
	bool had = h->held != NULL;

	while ((n = h->held) != NULL && SEQ_LEQ(n->seq, h->next)) {
		uint32_t end = n->seq + n->len;

		if (SEQ_GT(end, h->next) && n->unknown) {
			uint32_t missing = end - h->next;

			/* Disputed bytes: a hole, as if never seen. */
			r->st.gaps++;
			r->st.gap_bytes += missing;
			h->next = end;
			if (r->ops.gap)
				r->ops.gap(r->arg, f, d, missing, when);
		} else if (SEQ_GT(end, h->next)) {
			uint32_t k = h->next - n->seq;

			r->st.dup_bytes += k;
			h->next = end;
			deliver(r, f, d, n->data + k, n->len - k, when);
		} else if (!n->unknown) {
			r->st.dup_bytes += n->len;
		}
		free_held(r, h, n);
	}
	if (had)
		holding_update(r, f);
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

	/* Never backwards: what was delivered stays delivered. */
	if (SEQ_GT(target, h->next)) {
		r->st.gaps++;
		r->st.gap_bytes += missing;
		h->next = target;
		if (r->ops.gap)
			r->ops.gap(r->arg, f, d, missing, when);
	}
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
static inline bool
acked_hole(const struct tcpreasm_half *h)
{
	return h->known && h->acked && !h->done &&
	    SEQ_GT(h->peer_ack, h->next) && (h->held != NULL || h->fin);
}

static void
skip_acked(struct tcpreasm *r, struct tcpreasm_flow *f, enum tcpreasm_dir d,
    const struct timeval *when)
{
	struct tcpreasm_half *h = &f->half[d];

	while (acked_hole(h)) {
		uint32_t target = h->held ? h->held->seq : h->fin_seq;

		if (SEQ_LT(h->peer_ack, target))
			target = h->peer_ack;
		if (!SEQ_GT(target, h->next))
			break;
		jump_to(r, f, d, target, when);
	}
}

/*
 * The end of a flow for the consumer: what is held is delivered after its
 * holes, not thrown away, and close is called. The entry stays, as a
 * tombstone, until flow_free.
 */
void
flow_end(struct tcpreasm *r, struct tcpreasm_flow *f, enum tcpreasm_end why,
    const struct timeval *when)
{
	if (f->kind == KIND_CLOSED)
		return;
	for (int d = 0; d < 2; d++)
		while (skip_hole(r, f, (enum tcpreasm_dir)d, when))
			;
	if (r->ops.close)
		r->ops.close(r->arg, f, why, when);
	for (int d = 0; d < 2; d++) {
		while (f->half[d].held)
			free_held(r, &f->half[d], f->half[d].held);
		f->half[d].done = true;
	}
	holding_update(r, f);
	touch(r, f, KIND_CLOSED);
}

/*
 * Make room for `cost` more held bytes: this direction's own first, then
 * skipping holes in the flows that began holding bytes first.
 */
static void
relieve_pressure(struct tcpreasm *r, struct tcpreasm_flow *self,
    enum tcpreasm_dir d, uint32_t cost, const struct timeval *when)
{
	struct tcpreasm_half *h = &self->half[d];
	struct tcpreasm_flow *f;

	while (h->held && (h->held_bytes + cost > r->cfg.max_held_half ||
	    h->nheld >= HELD_SEGS_MAX)) {
		r->st.held_pressure++;
		skip_hole(r, self, d, when);
	}
	/* Each round empties f (it leaves the list) or makes the room. */
	while (r->held + cost > r->cfg.max_held &&
	    (f = r->holding.oldest) != NULL) {
		for (int i = 0; i < 2; i++)
			while (f->half[i].held &&
			    r->held + cost > r->cfg.max_held) {
				r->st.held_pressure++;
				skip_hole(r, f, (enum tcpreasm_dir)i, when);
			}
		holding_update(r, f);
	}
}

enum overlap { OVERLAP_NEW, OVERLAP_COVERED, OVERLAP_CONFLICT };

/*
 * How data[0..len) at seq meets what is held: all of it held already
 * (the same bytes), new bytes, or bytes that differ from a held copy's
 * (or fall in a disputed range).
 */
static enum overlap
overlap(const struct tcpreasm_half *h, uint32_t seq, const uint8_t *data,
    uint32_t len)
{
	uint32_t end = seq + len;
	bool covered = false;

	for (const struct tcpreasm_held *n = h->held;
	    n && SEQ_LT(n->seq, end); n = n->next) {
		uint32_t nend = n->seq + n->len;
		uint32_t lo = SEQ_GT(n->seq, seq) ? n->seq : seq;
		uint32_t hi = SEQ_LT(nend, end) ? nend : end;

		if (!SEQ_LT(lo, hi))
			continue;
		if (n->unknown || memcmp(n->data + (lo - n->seq),
		    data + (lo - seq), hi - lo) != 0)
			return OVERLAP_CONFLICT;
		if (SEQ_LEQ(n->seq, seq) && SEQ_LEQ(end, nend))
			covered = true;
	}
	return covered ? OVERLAP_COVERED : OVERLAP_NEW;
}

/*
 * [seq, seq + len) came in a copy that disagrees with a held one. Which
 * copy the receiver kept is not known: the range and the held segments
 * it touches become one disputed range, delivered as a gap, and copies
 * that come later do not fill it.
 */
static void
dispute(struct tcpreasm *r, struct tcpreasm_flow *f, enum tcpreasm_dir d,
    uint32_t seq, uint32_t len, const struct timeval *when)
{
	struct tcpreasm_half *h = &f->half[d];
	struct tcpreasm_held **pp, *n;
	uint32_t lo = seq, hi = seq + len;
	bool more = true;

	r->st.conflicts++;
	/* Held segments never overlap it after a pass that takes none. */
	while (more) {
		more = false;
		for (pp = &h->held; (n = *pp) != NULL;) {
			if (SEQ_LT(n->seq, hi) && SEQ_GT(n->seq + n->len, lo)) {
				if (SEQ_LT(n->seq, lo))
					lo = n->seq;
				if (SEQ_GT(n->seq + n->len, hi))
					hi = n->seq + n->len;
				if (!n->unknown)
					r->st.conflict_bytes += n->len;
				*pp = n->next;
				h->nheld--;
				h->held_bytes -= n->cost;
				r->held -= n->cost;
				free(n);
				more = true;
				continue;
			}
			pp = &n->next;
		}
	}
	r->st.conflict_bytes += len;
	if (SEQ_LEQ(lo, h->next)) {
		jump_to(r, f, d, hi, when);
		holding_update(r, f);
		return;
	}
	if ((n = malloc(sizeof(*n))) == NULL) {
		/* Left a plain hole: the caps and the end still skip it. */
		r->st.alloc_fail++;
		holding_update(r, f);
		return;
	}
	for (pp = &h->held; *pp && SEQ_LT((*pp)->seq, lo); pp = &(*pp)->next)
		;
	n->seq = lo;
	n->len = hi - lo;
	n->cost = HELD_COST(0);
	n->unknown = true;
	n->next = *pp;
	*pp = n;
	h->nheld++;
	h->held_bytes += n->cost;
	r->held += n->cost;
	holding_update(r, f);
}

/* A FIN is known at fin_seq: held bytes from there on never count. */
static void
trim_past_fin(struct tcpreasm *r, struct tcpreasm_half *h)
{
	struct tcpreasm_held **pp = &h->held, *n;

	while ((n = *pp) != NULL) {
		if (SEQ_GEQ(n->seq, h->fin_seq)) {
			*pp = n->next;
			if (!n->unknown)
				r->st.dup_bytes += n->len;
			h->nheld--;
			h->held_bytes -= n->cost;
			r->held -= n->cost;
			free(n);
			continue;
		}
		if (SEQ_GT(n->seq + n->len, h->fin_seq)) {
			uint32_t keep = h->fin_seq - n->seq;

			if (!n->unknown) {
				r->st.dup_bytes += n->len - keep;
				n->cost -= n->len - keep;
				h->held_bytes -= n->len - keep;
				r->held -= n->len - keep;
			}
			n->len = keep;
		}
		pp = &n->next;
	}
}

static void
add_data(struct tcpreasm *r, struct tcpreasm_flow *f, enum tcpreasm_dir d,
    uint32_t seq, const uint8_t *data, uint32_t len,
    const struct timeval *when)
{
	struct tcpreasm_half *h = &f->half[d];
	struct tcpreasm_held **pp, *n;
	uint32_t cost;

	if (h->fin) {
		/* Nothing after the FIN belongs to the stream. */
		if (SEQ_GEQ(seq, h->fin_seq)) {
			r->st.dup_bytes += len;
			return;
		}
		if (SEQ_GT(seq + len, h->fin_seq)) {
			r->st.dup_bytes += seq + len - h->fin_seq;
			len = h->fin_seq - seq;
		}
	}
	cost = HELD_COST(len);
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
			/* Held bytes it reaches must agree with it. */
			if (h->held != NULL && overlap(h, h->next, data + old,
			    len - old) == OVERLAP_CONFLICT) {
				r->st.dup_bytes += old;
				dispute(r, f, d, h->next, len - old, when);
				return;
			}
			r->st.dup_bytes += old;
			h->next = seq + len;
			deliver(r, f, d, data + old, len - old, when);
			drain(r, f, d, when);
			return;
		}
		switch (overlap(h, seq, data, len)) {
		case OVERLAP_COVERED:
			r->st.dup_bytes += len;
			return;
		case OVERLAP_CONFLICT:
			dispute(r, f, d, seq, len, when);
			return;
		case OVERLAP_NEW:
			break;
		}
		if (cost > r->cfg.max_held_half || cost > r->cfg.max_held) {
			/* Too big to ever hold: what is before it is lost. */
			if (!skip_hole(r, f, d, when))
				jump_to(r, f, d, seq, when);
			continue;
		}
		if (h->held_bytes + cost > r->cfg.max_held_half ||
		    h->nheld >= HELD_SEGS_MAX ||
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
	n->cost = cost;
	n->unknown = false;
	memcpy(n->data, data, len);
	n->next = *pp;
	*pp = n;
	h->held_bytes += cost;
	h->nheld++;
	r->held += cost;
	r->st.held_segments++;
	holding_update(r, f);
}

/*
 * A segment for a flow that already ended: a new connection on the same
 * tuple (a SYN with another ISN) replaces the tombstone; anything else is
 * a late copy and dropped. Returns true if the segment is used up.
 */
static bool
tombstone(struct tcpreasm *r, struct tcpreasm_flow **fp,
    const struct tcpreasm_seg *s, enum tcpreasm_dir d, int64_t us)
{
	struct tcpreasm_flow *f = *fp;
	const struct tcpreasm_half *c = &f->half[TCPREASM_TO_SERVER];

	if ((s->flags & (TCPREASM_TH_SYN | TCPREASM_TH_ACK | TCPREASM_TH_RST))
	    == TCPREASM_TH_SYN && d == TCPREASM_TO_SERVER &&
	    !(c->syn && c->isn == s->seq)) {
		flow_free(r, f);
		*fp = NULL;
		return false;
	}
	r->st.closed_segments++;
	/* Kept while copies keep coming: they stay dropped. */
	f->last_us = us;
	touch(r, f, KIND_CLOSED);
	return true;
}

/* Has tcpreasm_expire anything to do at packet time us? */
static inline bool
expire_due(const struct tcpreasm *r, int64_t us)
{
	const struct tcpreasm_flow *c = r->kind[KIND_CLOSED].oldest;
	const struct tcpreasm_flow *o = r->oldest;

	return (c != NULL && us - c->last_us >
	    (int64_t)r->cfg.closed_timeout * 1000000) ||
	    (o != NULL && us - o->last_us >
	    (int64_t)r->cfg.idle_timeout * 1000000);
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
	/*
	 * Time stepped back (the next file of a replay, a clock set back):
	 * ended flows belong to another capture and cannot have late copies
	 * in this one.
	 */
	while (r->newest && us + 1000000 < r->newest->last_us &&
	    r->kind[KIND_CLOSED].oldest)
		flow_free(r, r->kind[KIND_CLOSED].oldest);
	/* The recency list stays sorted even if packet times step back. */
	if (r->newest && us < r->newest->last_us)
		us = r->newest->last_us;
	to_timeval(us, &now);
	if (expire_due(r, us))
		tcpreasm_expire(r, &now);

	f = lookup(r, s, &h32, &d);
	if (f != NULL && f->kind == KIND_CLOSED && tombstone(r, &f, s, d, us))
		return;
	if (f != NULL && syn && !(s->flags & TCPREASM_TH_ACK) &&
	    d == TCPREASM_TO_SERVER && f->half[d].syn &&
	    f->half[d].isn != s->seq) {
		/*
		 * The 5-tuple is used again for a new connection; but only
		 * once the old one is closing or quiet, or a SYN forged into
		 * a live push would cut it off.
		 */
		if (!f->half[0].fin && !f->half[1].fin &&
		    us - f->last_us < REUSE_QUIET_US) {
			r->st.ignored++;
			return;
		}
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
	h = &f->half[d];
	peer = &f->half[1 - d];
	if (s->flags & TCPREASM_TH_RST) {
		/*
		 * Only where the sender's next byte is (RFC 5961's idea):
		 * the one we owe the consumer, or, for a side never seen
		 * (a capture of one direction), the one its peer ACKs.
		 */
		uint32_t where = h->known ? h->next : h->peer_ack;

		if ((h->known || h->acked) && (SEQ_LT(s->seq, where) ||
		    s->seq - where > RST_WINDOW)) {
			r->st.ignored++;
			return;
		}
		f->last_us = us;
		flow_end(r, f, TCPREASM_END_RST, &now);
		return;
	}
	f->last_us = us;
	touch(r, f, s->len > 0 || f->kind == KIND_DATA ? KIND_DATA :
	    KIND_EMBRYO);
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
		uint32_t fin_seq = seq + (uint32_t)s->len;

		if (SEQ_LT(fin_seq, h->next)) {
			/* Behind bytes already delivered: not a real one. */
			r->st.ignored++;
		} else {
			h->fin = true;
			h->fin_seq = fin_seq;
			trim_past_fin(r, h);
			holding_update(r, f);
			drain(r, f, d, &now);
		}
	}
	/* Tested here first: for almost every segment there is none. */
	if (acked_hole(&f->half[TCPREASM_TO_SERVER]))
		skip_acked(r, f, TCPREASM_TO_SERVER, &now);
	if (acked_hole(&f->half[TCPREASM_TO_CLIENT]))
		skip_acked(r, f, TCPREASM_TO_CLIENT, &now);
	if (f->half[0].done && f->half[1].done)
		flow_end(r, f, TCPREASM_END_FIN, &now);
}

