/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tcpreasm.h: TCP reassembly for the captures (pcap live, replay, NFQUEUE).
 *
 *   packets (any order, duplicated, lost) ──> tcpreasm_segment()
 *                                               │ per flow, per direction
 *                                               ▼
 *      ops.data(flow, dir, in-order bytes)   each byte once, in order
 *      ops.gap(flow, dir, n)                 n bytes were never seen: the
 *                                            consumer restarts its framer
 *      ops.close(flow, why)                  FIN/RST/idle/evicted/end
 *
 * Promises: pure code (no I/O, no clock: time is the packet's), deterministic
 * for a given packet sequence, bounded memory (flows, held bytes and
 * held segments per direction are capped; past a cap the oldest flows,
 * or those holding bytes longest, give way, counted) and bounded work
 * per segment at either cap. Retransmitted and overlapping bytes are
 * delivered once: the first copy seen wins (the parser has already
 * dropped copies whose checksum the receiver would refuse), except that
 * a copy whose bytes differ from held ones makes the range disputed:
 * neither is delivered, the range is a gap, and later copies do not
 * fill it (bytes already delivered cannot be compared). Segments ahead
 * of the next expected byte are held until the hole fills; a hole that
 * cannot fill any more (the peer acknowledged past it, the flow ends,
 * the held bytes reach their cap) is skipped and counted.
 *
 * Against injected segments: the next expected byte never moves back;
 * nothing past a direction's FIN is delivered; a FIN or RST behind what
 * was delivered, or an RST far from it (or, from a side never seen, far
 * from where its peer's ACKs put it), is ignored (counted); a flow that
 * ended by FIN or RST stays as a tombstone for closed_timeout seconds, so
 * a late retransmission is dropped instead of starting it again; a SYN
 * reuses an open flow only once it is closing or quiet; when the table is
 * full, tombstones go first, then flows that never carried a byte, and a
 * flow without data never pushes out one with data; the flow hash is
 * keyed (hash_key), so an outsider cannot pick tuples that collide.
 *
 * Directions: TCPREASM_TO_SERVER is the client's data (the SYN sender, or
 * the side talking to one of the configured server ports: the kit's push
 * to port 10004); TCPREASM_TO_CLIENT the other.
 */
#ifndef TCPREASM_H
#define TCPREASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

enum tcpreasm_dir { TCPREASM_TO_SERVER = 0, TCPREASM_TO_CLIENT = 1 };

enum tcpreasm_end {
	TCPREASM_END_FIN,	/* both sides closed */
	TCPREASM_END_RST,
	TCPREASM_END_IDLE,	/* nothing seen for idle_timeout */
	TCPREASM_END_EVICTED,	/* flow table full: the least recent goes */
	TCPREASM_END_REUSED,	/* a new SYN on the same 5-tuple */
	TCPREASM_END_FLUSH,	/* tcpreasm_free / end of capture */
};

#define TCPREASM_TH_FIN 0x01
#define TCPREASM_TH_SYN 0x02
#define TCPREASM_TH_RST 0x04
#define TCPREASM_TH_ACK 0x10

/* One TCP segment as the packet parser found it. */
struct tcpreasm_seg {
	int af;			/* AF_INET or AF_INET6 */
	uint8_t src[16], dst[16];	/* IPv4 in the first 4 bytes */
	uint16_t sport, dport;	/* host order */
	uint32_t seq, ack;
	uint8_t flags;		/* TCPREASM_TH_* */
	uint8_t csum;		/* the parser's enum packet_csum; unused here */
	const uint8_t *data;
	size_t len;
};

struct tcpreasm_held;

struct tcpreasm_half {
	uint32_t next;		/* next sequence number to deliver */
	uint32_t fin_seq;	/* sequence number of the FIN, if fin */
	uint32_t peer_ack;	/* highest ACK the other side sent */
	uint32_t isn;		/* the SYN's sequence number, if syn */
	bool syn;
	bool known;		/* next is valid */
	bool fin;		/* FIN seen */
	bool done;		/* FIN reached in order: no more data */
	bool acked;		/* peer_ack is valid */
	uint32_t held_bytes;
	uint32_t nheld;		/* segments on held */
	struct tcpreasm_held *held;	/* sorted by seq */
};

struct tcpreasm_flow {
	/* The client (side 0) and server (side 1) addresses and ports. */
	int af;
	uint8_t addr[2][16];
	uint16_t port[2];
	struct tcpreasm_half half[2];	/* indexed by enum tcpreasm_dir */
	int64_t last_us;	/* packet time of the last segment */
	void *user[2];		/* the consumer's, per direction */
	uint32_t hash;
	uint8_t kind;		/* which eviction list: enum in tcpreasm_int.h */
	struct tcpreasm_flow *hnext;	/* hash chain */
	struct tcpreasm_flow *older, *newer;	/* recency list, all flows */
	struct tcpreasm_flow *kolder, *knewer;	/* recency within its kind */
	/* On the list of flows holding bytes, by when they began to. */
	struct tcpreasm_flow *hold_older, *hold_newer;
	bool holding;
};

struct tcpreasm_ops {
	void (*data)(void *arg, struct tcpreasm_flow *f, enum tcpreasm_dir d,
	    const uint8_t *buf, size_t len, const struct timeval *when);
	void (*gap)(void *arg, struct tcpreasm_flow *f, enum tcpreasm_dir d,
	    uint32_t missing, const struct timeval *when);
	/* Last call for the flow: free what user[] holds here. */
	void (*close)(void *arg, struct tcpreasm_flow *f,
	    enum tcpreasm_end why, const struct timeval *when);
};

#define TCPREASM_MAX_PORTS 16

struct tcpreasm_config {
	uint32_t max_flows;	/* concurrent flows */
	size_t max_held;	/* out-of-order bytes held, all flows */
	uint32_t max_held_half;	/* out-of-order bytes held per direction */
	uint32_t idle_timeout;	/* seconds */
	uint32_t closed_timeout;	/* seconds a tombstone is kept after
					 * its last segment */
	uint16_t server_ports[TCPREASM_MAX_PORTS];
	int nports;
	uint32_t hash_key[2];	/* secret: the caller fills it at random */
};

struct tcpreasm_stats {
	uint64_t segments;	/* TCP segments given */
	uint64_t flows;		/* flows created */
	uint64_t bytes;		/* bytes delivered in order */
	uint64_t dup_bytes;	/* retransmitted / overlapping bytes dropped */
	uint64_t conflicts;	/* copies that disagreed with held bytes */
	uint64_t conflict_bytes;	/* bytes of both, dropped */
	uint64_t held_segments;	/* segments that had to wait for a hole */
	uint64_t gaps;		/* holes skipped */
	uint64_t gap_bytes;	/* bytes never seen */
	uint64_t dropped_bytes;	/* held bytes dropped: too far ahead */
	uint64_t evicted;	/* flows ended because the table was full */
	uint64_t idle;		/* flows ended by the idle timeout */
	uint64_t held_pressure;	/* holes skipped because held bytes ran full */
	uint64_t no_flow;	/* segments without payload or SYN, no flow */
	uint64_t closed_segments;	/* for a flow already ended: dropped */
	uint64_t ignored;	/* FIN, RST or SYN out of place: ignored */
	uint64_t refused;	/* flows without data, table full of flows
				 * with data: not followed */
	uint64_t alloc_fail;
};

struct tcpreasm_lru {
	struct tcpreasm_flow *oldest, *newest;
};

struct tcpreasm {
	struct tcpreasm_config cfg;
	struct tcpreasm_ops ops;
	void *arg;
	struct tcpreasm_flow **buckets;
	uint32_t nbuckets;	/* a power of two */
	uint32_t max_buckets;	/* what nbuckets may grow to */
	uint32_t nflows;
	size_t held;		/* out-of-order bytes held, all flows */
	struct tcpreasm_flow *oldest, *newest;	/* all flows, by recency */
	struct tcpreasm_lru kind[3];	/* tombstones, no data yet, data */
	struct tcpreasm_lru holding;	/* flows holding bytes (hold_*) */
	struct tcpreasm_flow *last;	/* the flow found last */
	struct tcpreasm_flow *spare;	/* freed entries kept for reuse */
	uint32_t nspare;	/* at most TCPREASM_SPARE_MAX */
	struct tcpreasm_stats st;
};

void tcpreasm_config_defaults(struct tcpreasm_config *c);
/* Returns 0, or -1 if the table cannot be allocated. */
int tcpreasm_init(struct tcpreasm *r, const struct tcpreasm_config *c,
    const struct tcpreasm_ops *ops, void *arg);
/* One segment, seen at `when` (times must not go backwards much). */
void tcpreasm_segment(struct tcpreasm *r, const struct tcpreasm_seg *s,
    const struct timeval *when);
/* End flows idle for longer than the timeout, as of `now`; drop tombstones. */
void tcpreasm_expire(struct tcpreasm *r, const struct timeval *now);
/* End every flow (delivering what is held) and free everything. */
void tcpreasm_free(struct tcpreasm *r, const struct timeval *now);
/* Format "ADDR:PORT" of a flow's side (0 client, 1 server). */
size_t tcpreasm_side_name(const struct tcpreasm_flow *f, int side, char *buf,
    size_t n);

#endif /* TCPREASM_H */
