/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tcpreasm_int.h: what tcpreasm.c (segments, ordering, delivery) and
 * tcpflow.c (the flow table) share. Private to those two files.
 *
 * The per-segment lookup and the recency touch stay static inline here:
 * they run for every packet.
 */
#ifndef TCPREASM_INT_H
#define TCPREASM_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "tcpreasm.h"

/* The flow table's first size (it doubles up to about max_flows). */
#define TCPREASM_BUCKETS_MIN 1024u
/*
 * Freed flow entries kept for the next flows: a capture ends one flow
 * for about every one it starts, and malloc's own reuse of these
 * (tombstones freed long after their neighbours) cost more than all of
 * a segment's reassembly. A few hundred cover it; past them, free().
 */
#define TCPREASM_SPARE_MAX 256u

/* Flow kinds, in the order the flow cap takes them. */
enum { KIND_CLOSED, KIND_EMBRYO, KIND_DATA };

static inline int
addr_len(int af)
{
	return af == AF_INET6 ? 16 : 4;
}

/*
 * Word compares, not memcmp: the length is 4 or 16, known here, and
 * this runs up to twice for every packet.
 */
static inline bool
addr_eq(int af, const uint8_t *a, const uint8_t *b)
{
	if (af == AF_INET6) {
		uint64_t x[2], y[2];

		memcpy(x, a, 16);
		memcpy(y, b, 16);
		return ((x[0] ^ y[0]) | (x[1] ^ y[1])) == 0;
	} else {
		uint32_t x, y;

		memcpy(&x, a, 4);
		memcpy(&y, b, 4);
		return x == y;
	}
}

static inline bool
side_is(const struct tcpreasm_flow *f, int side, const uint8_t *a,
    uint16_t port)
{
	return f->port[side] == port && addr_eq(f->af, f->addr[side], a);
}

/* Is the segment's tuple this flow's, and in which direction? */
static inline bool
flow_has(const struct tcpreasm_flow *f, const struct tcpreasm_seg *s,
    enum tcpreasm_dir *dir)
{
	if (f->af != s->af)
		return false;
	if (side_is(f, 0, s->src, s->sport) &&
	    side_is(f, 1, s->dst, s->dport)) {
		*dir = TCPREASM_TO_SERVER;
		return true;
	}
	if (side_is(f, 1, s->src, s->sport) &&
	    side_is(f, 0, s->dst, s->dport)) {
		*dir = TCPREASM_TO_CLIENT;
		return true;
	}
	return false;
}

/* tcpflow.c: the flow table. */
uint32_t hash_seg(const struct tcpreasm *r, const struct tcpreasm_seg *s);
struct tcpreasm_flow *flow_find(struct tcpreasm *r,
    const struct tcpreasm_seg *s, uint32_t h, enum tcpreasm_dir *dir);
void list_unlink(struct tcpreasm *r, struct tcpreasm_flow *f);
void list_append(struct tcpreasm *r, struct tcpreasm_flow *f);
void flow_free(struct tcpreasm *r, struct tcpreasm_flow *f);
void flow_close(struct tcpreasm *r, struct tcpreasm_flow *f,
    enum tcpreasm_end why, const struct timeval *when);
struct tcpreasm_flow *flow_new(struct tcpreasm *r,
    const struct tcpreasm_seg *s, uint32_t h, enum tcpreasm_dir *dir,
    const struct timeval *when);

/* tcpreasm.c: the end of a flow for the consumer. */
void flow_end(struct tcpreasm *r, struct tcpreasm_flow *f,
    enum tcpreasm_end why, const struct timeval *when);


/*
 * The flow of a segment, if any, and the tuple's hash. A capture brings
 * a flow's segments mostly one after the other: the last flow found is
 * tried before the hash is computed.
 */
static inline struct tcpreasm_flow *
lookup(struct tcpreasm *r, const struct tcpreasm_seg *s, uint32_t *h,
    enum tcpreasm_dir *dir)
{
	struct tcpreasm_flow *f = r->last;

	if (f != NULL && flow_has(f, s, dir)) {
		*h = f->hash;
		return f;
	}
	*h = hash_seg(r, s);
	if ((f = flow_find(r, s, *h, dir)) != NULL)
		r->last = f;
	return f;
}

/* Most recent of all and of its kind (which may change here). */
static inline void
touch(struct tcpreasm *r, struct tcpreasm_flow *f, uint8_t kind)
{
	if (r->newest == f && f->kind == kind && r->kind[kind].newest == f)
		return;
	list_unlink(r, f);
	f->kind = kind;
	list_append(r, f);
}

#endif /* TCPREASM_INT_H */
