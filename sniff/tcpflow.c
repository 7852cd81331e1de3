/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tcpflow.c: the flow table of the TCP reassembly (see tcpreasm.h).
 *
 * Flows live in a hash table keyed by both endpoints (taken in a fixed
 * order, so either direction finds the flow) and on two recency lists,
 * oldest first: one of all flows, which the idle timeout takes from, and
 * one per kind (tombstone, no data yet, data), which the flow cap takes
 * from in that order.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tcpreasm_int.h"

void
tcpreasm_config_defaults(struct tcpreasm_config *c)
{
	memset(c, 0, sizeof(*c));
	c->max_flows = 100000;
	c->max_held = 8u << 20;
	c->max_held_half = 256u << 10;
	c->idle_timeout = 300;
	c->closed_timeout = 120;
	c->server_ports[0] = 10004;
	c->nports = 1;
}

int
tcpreasm_init(struct tcpreasm *r, const struct tcpreasm_config *c,
    const struct tcpreasm_ops *ops, void *arg)
{
	uint32_t n = TCPREASM_BUCKETS_MIN;

	memset(r, 0, sizeof(*r));
	r->cfg = *c;
	if (r->cfg.max_flows == 0)
		r->cfg.max_flows = 1;
	r->ops = *ops;
	r->arg = arg;
	/* About one flow per bucket at the cap, never more than 2^20. */
	while (n < r->cfg.max_flows && n < (1u << 20))
		n <<= 1;
	r->max_buckets = n;
	/*
	 * The table starts small and doubles as flows come (flow_new): a
	 * site's few flows then keep their buckets in the cache, where a
	 * table sized for the cap had every packet miss it.
	 */
	n = TCPREASM_BUCKETS_MIN;
	r->buckets = calloc(n, sizeof(*r->buckets));
	if (r->buckets == NULL)
		return -1;
	r->nbuckets = n;
	return 0;
}

/* Twice the buckets, the chains split; if there is no memory, as it was. */
static void
grow(struct tcpreasm *r)
{
	uint32_t n = r->nbuckets * 2;
	struct tcpreasm_flow **b = calloc(n, sizeof(*b)), *f, *next;

	if (b == NULL)
		return;
	for (uint32_t i = 0; i < r->nbuckets; i++)
		for (f = r->buckets[i]; f != NULL; f = next) {
			next = f->hnext;
			f->hnext = b[f->hash & (n - 1)];
			b[f->hash & (n - 1)] = f;
		}
	free(r->buckets);
	r->buckets = b;
	r->nbuckets = n;
}

/*
 * HalfSipHash-1-3 (Aumasson and Bernstein's 32-bit SipHash variant, the
 * one Linux keys its own socket tables with on 32-bit machines) over the
 * two endpoints, lower one first. With a secret key nobody can choose
 * tuples that share a bucket, so chains stay short whatever arrives.
 */
#define ROTL32(x, b) (uint32_t)(((x) << (b)) | ((x) >> (32 - (b))))

static inline void
hsip_round(uint32_t v[4])
{
	v[0] += v[1];
	v[1] = ROTL32(v[1], 5);
	v[1] ^= v[0];
	v[0] = ROTL32(v[0], 16);
	v[2] += v[3];
	v[3] = ROTL32(v[3], 8);
	v[3] ^= v[2];
	v[0] += v[3];
	v[3] = ROTL32(v[3], 7);
	v[3] ^= v[0];
	v[2] += v[1];
	v[1] = ROTL32(v[1], 13);
	v[1] ^= v[2];
	v[2] = ROTL32(v[2], 16);
}

static void
hsip_word(uint32_t v[4], uint32_t m)
{
	v[3] ^= m;
	hsip_round(v);
	v[0] ^= m;
}

static void
hsip_side(uint32_t v[4], const uint8_t *a, int len)
{
	for (int i = 0; i < len; i += 4) {
		uint32_t m;

		memcpy(&m, a + i, 4);
		hsip_word(v, m);
	}
}

static uint32_t
hash_tuple(const struct tcpreasm *r, int af, const uint8_t *a, uint16_t pa,
    const uint8_t *b, uint16_t pb)
{
	const uint32_t *k = r->cfg.hash_key;
	uint32_t v[4] = { k[0], k[1], 0x6c796765u ^ k[0], 0x74656462u ^ k[1] };
	int len = addr_len(af), c = memcmp(a, b, (size_t)len);

	if (c > 0 || (c == 0 && pa > pb)) {
		const uint8_t *t = a;
		uint16_t tp = pa;

		a = b;
		b = t;
		pa = pb;
		pb = tp;
	}
	/* Only the address bytes the family has, as flow_find compares. */
	hsip_side(v, a, len);
	hsip_side(v, b, len);
	hsip_word(v, (uint32_t)pa << 16 | pb);
	/* The last word carries the length in bytes, as SipHash's does. */
	hsip_word(v, (uint32_t)(2 * len + 8) << 24 | (uint32_t)(af & 0xff));
	v[2] ^= 0xff;
	hsip_round(v);
	hsip_round(v);
	hsip_round(v);
	return v[1] ^ v[3];
}

uint32_t
hash_seg(const struct tcpreasm *r, const struct tcpreasm_seg *s)
{
	return hash_tuple(r, s->af, s->src, s->sport, s->dst, s->dport);
}

struct tcpreasm_flow *
flow_find(struct tcpreasm *r, const struct tcpreasm_seg *s, uint32_t h,
    enum tcpreasm_dir *dir)
{
	struct tcpreasm_flow *f;

	for (f = r->buckets[h & (r->nbuckets - 1)]; f; f = f->hnext)
		if (f->hash == h && flow_has(f, s, dir))
			return f;
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

void
list_unlink(struct tcpreasm *r, struct tcpreasm_flow *f)
{
	struct tcpreasm_lru *k = &r->kind[f->kind];

	if (f->older)
		f->older->newer = f->newer;
	else
		r->oldest = f->newer;
	if (f->newer)
		f->newer->older = f->older;
	else
		r->newest = f->older;
	f->older = f->newer = NULL;
	if (f->kolder)
		f->kolder->knewer = f->knewer;
	else
		k->oldest = f->knewer;
	if (f->knewer)
		f->knewer->kolder = f->kolder;
	else
		k->newest = f->kolder;
	f->kolder = f->knewer = NULL;
}

void
list_append(struct tcpreasm *r, struct tcpreasm_flow *f)
{
	struct tcpreasm_lru *k = &r->kind[f->kind];

	f->older = r->newest;
	f->newer = NULL;
	if (r->newest)
		r->newest->newer = f;
	else
		r->oldest = f;
	r->newest = f;
	f->kolder = k->newest;
	f->knewer = NULL;
	if (k->newest)
		k->newest->knewer = f;
	else
		k->oldest = f;
	k->newest = f;
}

void
flow_free(struct tcpreasm *r, struct tcpreasm_flow *f)
{
	struct tcpreasm_flow **pp;

	for (pp = &r->buckets[f->hash & (r->nbuckets - 1)]; *pp;
	    pp = &(*pp)->hnext)
		if (*pp == f) {
			*pp = f->hnext;
			break;
		}
	list_unlink(r, f);
	if (r->last == f)
		r->last = NULL;
	r->nflows--;
	if (r->nspare < TCPREASM_SPARE_MAX) {
		f->hnext = r->spare;
		r->spare = f;
		r->nspare++;
		return;
	}
	free(f);
}

void
flow_close(struct tcpreasm *r, struct tcpreasm_flow *f, enum tcpreasm_end why,
    const struct timeval *when)
{
	flow_end(r, f, why, when);
	flow_free(r, f);
}

/*
 * Room for one more flow: tombstones go first, then flows that never
 * carried a byte; flows with data only make room for another with data.
 * Returns false if there is none to be had.
 */
static bool
make_room(struct tcpreasm *r, bool with_data, const struct timeval *when)
{
	while (r->nflows >= r->cfg.max_flows) {
		if (r->kind[KIND_CLOSED].oldest) {
			flow_free(r, r->kind[KIND_CLOSED].oldest);
		} else if (r->kind[KIND_EMBRYO].oldest) {
			r->st.evicted++;
			flow_close(r, r->kind[KIND_EMBRYO].oldest,
			    TCPREASM_END_EVICTED, when);
		} else if (with_data && r->kind[KIND_DATA].oldest) {
			r->st.evicted++;
			flow_close(r, r->kind[KIND_DATA].oldest,
			    TCPREASM_END_EVICTED, when);
		} else {
			return false;
		}
	}
	return true;
}

struct tcpreasm_flow *
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

	if (!make_room(r, s->len > 0, when)) {
		r->st.refused++;
		return NULL;
	}
	if ((f = r->spare) != NULL) {
		r->spare = f->hnext;
		r->nspare--;
		memset(f, 0, sizeof(*f));
	} else if ((f = calloc(1, sizeof(*f))) == NULL) {
		r->st.alloc_fail++;
		return NULL;
	}
	f->af = s->af;
	memcpy(f->addr[0], src_is_client ? s->src : s->dst, 16);
	memcpy(f->addr[1], src_is_client ? s->dst : s->src, 16);
	f->port[0] = src_is_client ? s->sport : s->dport;
	f->port[1] = src_is_client ? s->dport : s->sport;
	f->hash = h;
	f->kind = s->len > 0 ? KIND_DATA : KIND_EMBRYO;
	f->hnext = r->buckets[h & (r->nbuckets - 1)];
	r->buckets[h & (r->nbuckets - 1)] = f;
	list_append(r, f);
	r->nflows++;
	if (r->nflows > r->nbuckets && r->nbuckets < r->max_buckets)
		grow(r);
	r->st.flows++;
	r->last = f;
	*dir = src_is_client ? TCPREASM_TO_SERVER : TCPREASM_TO_CLIENT;
	return f;
}

void
tcpreasm_expire(struct tcpreasm *r, const struct timeval *now)
{
	int64_t us = (int64_t)now->tv_sec * 1000000 + now->tv_usec;
	int64_t limit = (int64_t)r->cfg.idle_timeout * 1000000;
	int64_t closed = (int64_t)r->cfg.closed_timeout * 1000000;
	struct tcpreasm_flow *f;

	while ((f = r->kind[KIND_CLOSED].oldest) != NULL &&
	    us - f->last_us > closed)
		flow_free(r, f);
	while ((f = r->oldest) != NULL && us - f->last_us > limit) {
		if (f->kind != KIND_CLOSED)
			r->st.idle++;
		flow_close(r, f, TCPREASM_END_IDLE, now);
	}
}

void
tcpreasm_free(struct tcpreasm *r, const struct timeval *now)
{
	struct tcpreasm_flow *f;

	while (r->oldest)
		flow_close(r, r->oldest, TCPREASM_END_FLUSH, now);
	while ((f = r->spare) != NULL) {
		r->spare = f->hnext;
		free(f);
	}
	r->nspare = 0;
	free(r->buckets);
	r->buckets = NULL;
}

/*
 * An IPv4 side by hand: a flow's name is made for every segment with
 * data on a side other than the last one (sniff.c), and inet_ntop with
 * snprintf was a fifth of a replay. Digits two at a time from a table.
 */
static const char dec_pairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233"
    "34353637383940414243444546474849505152535455565758596061626364656667"
    "6869707172737475767778798081828384858687888990919293949596979899";

static size_t
put_dec(char *p, unsigned v)
{
	size_t n = v >= 10000 ? 5 : v >= 1000 ? 4 : v >= 100 ? 3 :
	    v >= 10 ? 2 : 1;
	char *e = p + n;

	while (v >= 100) {
		e -= 2;
		memcpy(e, dec_pairs + 2 * (v % 100), 2);
		v /= 100;
	}
	if (v >= 10)
		memcpy(e - 2, dec_pairs + 2 * v, 2);
	else
		e[-1] = (char)('0' + v);
	return n;
}

size_t
tcpreasm_side_name(const struct tcpreasm_flow *f, int side, char *buf,
    size_t n)
{
	char a[INET6_ADDRSTRLEN];
	int w;

	if (f->af == AF_INET && n >= sizeof("255.255.255.255:65535")) {
		const uint8_t *ip = f->addr[side];
		size_t len = 0;

		for (int i = 0; i < 4; i++) {
			len += put_dec(buf + len, ip[i]);
			buf[len++] = i < 3 ? '.' : ':';
		}
		len += put_dec(buf + len, f->port[side]);
		buf[len] = '\0';
		return len;
	}
	if (inet_ntop(f->af, f->addr[side], a, sizeof(a)) == NULL)
		snprintf(a, sizeof(a), "?");
	if (f->af == AF_INET6)
		w = snprintf(buf, n, "[%s]:%u", a, f->port[side]);
	else
		w = snprintf(buf, n, "%s:%u", a, f->port[side]);
	return w < 0 ? 0 : (size_t)w;
}
