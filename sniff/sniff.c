/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sniff.c: the reassembler's consumer (see sniff.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sniff.h"
#include "stream.h"

/* Counts of the scratch stream; its rejects started at `base`. */
static void
sniff_account(struct sniff *s, const struct stream *st, uint64_t base)
{
	s->st.frames += st->st.frames;
	s->st.readings += st->st.readings;
	s->st.rejects += st->st.rejects - base;
	s->st.skipped += st->fr.st.skipped;
}

/*
 * A side's name, made again only when the side is another than last
 * time: every segment with data opens a stream under it, and the
 * portal's end is the same for every flow.
 */
static const char *
side_name(struct sniff *s, const struct tcpreasm_flow *f, int side)
{
	struct sniff_name *n = &s->name[side];

	if (!n->valid || n->af != f->af || n->port != f->port[side] ||
	    memcmp(n->addr, f->addr[side], sizeof(n->addr)) != 0) {
		tcpreasm_side_name(f, side, n->text, sizeof(n->text));
		n->af = f->af;
		n->port = f->port[side];
		memcpy(n->addr, f->addr[side], sizeof(n->addr));
		n->valid = true;
	}
	return n->text;
}

static void
sniff_stream_open(struct sniff *s, struct tcpreasm_flow *f,
    enum tcpreasm_dir d, struct stream *st)
{
	/* Readings are labelled by the kit's end, replies by the portal's. */
	stream_init(st, s->out, d == TCPREASM_TO_SERVER ? STREAM_FROM_KIT :
	    STREAM_FROM_PORTAL, side_name(s, f, d == TCPREASM_TO_SERVER ?
	    0 : 1));
}

/*
 * Between segments a direction keeps no stream, only the bytes of a frame
 * begun and not finished ("parked", at most one frame), and where in the
 * stream they start. Each segment runs through one scratch stream:
 * parked bytes first, then the new ones. 100,000 open flows therefore
 * cost the reassembler's entries plus their unfinished frames, not
 * 100,000 framers. The count of rejected frames is parked too (and
 * outlives gaps), so STREAM_REJECTS_KEPT holds per flow direction as it
 * does per relayed connection, not per segment.
 */
struct park {
	uint64_t offset;	/* stream offset of data[0] */
	uint64_t quiet_until;	/* the framer's: no report twice */
	uint64_t rejects;	/* in this direction so far */
	uint16_t len;
	uint8_t data[];
};

/*
 * Load the scratch stream with a direction's parked bytes, if any.
 * *base is the count of rejects it starts with.
 */
static struct stream *
unpark(struct sniff *s, struct tcpreasm_flow *f, enum tcpreasm_dir d,
    const struct timeval *when, uint64_t *base)
{
	struct stream *st = &s->scratch;
	struct park *pk = f->user[d];

	sniff_stream_open(s, f, d, st);
	*base = 0;
	if (pk != NULL) {
		*base = st->st.rejects = pk->rejects;
		/* Offsets in messages stay those of the whole stream. */
		framer_resume(&st->fr, pk->offset, pk->quiet_until);
		stream_feed(st, pk->data, pk->len, when);
		free(pk);
		f->user[d] = NULL;
	}
	return st;
}

/* Keep what the framer holds back; the scratch stream is then free. */
static void
park(struct sniff *s, struct tcpreasm_flow *f, enum tcpreasm_dir d,
    struct stream *st, uint64_t base)
{
	struct framer_suspended sus;
	struct park *pk;

	sniff_account(s, st, base);
	if (framer_suspend(&st->fr, &sus) != 0 || sus.len > OMNIK_FRAME_MAX) {
		s->st.no_memory++;
		return;
	}
	if (sus.len == 0 && st->st.rejects == 0)
		return;
	if ((pk = malloc(sizeof(*pk) + sus.len)) == NULL) {
		s->st.no_memory++;
		return;
	}
	pk->offset = sus.offset;
	pk->quiet_until = sus.quiet_until;
	pk->rejects = st->st.rejects;
	pk->len = (uint16_t)sus.len;
	memcpy(pk->data, sus.data, sus.len);
	f->user[d] = pk;
}

static void
on_data(void *arg, struct tcpreasm_flow *f, enum tcpreasm_dir d,
    const uint8_t *buf, size_t len, const struct timeval *when)
{
	struct sniff *s = arg;
	uint64_t base;
	struct stream *st = unpark(s, f, d, when, &base);

	if (d == TCPREASM_TO_SERVER)
		s->st.bytes_to_server += len;
	else
		s->st.bytes_to_client += len;
	stream_feed(st, buf, len, when);
	park(s, f, d, st, base);
}

/* The end of a stream: what is parked is reported as truncated. */
static void
end_stream(struct sniff *s, struct tcpreasm_flow *f, enum tcpreasm_dir d,
    const struct timeval *when)
{
	struct stream *st;
	uint64_t base;

	if (f->user[d] == NULL)
		return;
	st = unpark(s, f, d, when, &base);
	stream_end(st, when);
	sniff_account(s, st, base);
}

static void
on_gap(void *arg, struct tcpreasm_flow *f, enum tcpreasm_dir d,
    uint32_t missing, const struct timeval *when)
{
	struct sniff *s = arg;

	if (f->user[d] != NULL) {
		log_debug("%s: %u bytes never captured; resynchronising",
		    side_name(s, f, d == TCPREASM_TO_SERVER ? 0 : 1),
		    missing);
	}
	/*
	 * A frame cannot span the hole: what came before it ends here,
	 * reported as truncated; the direction's count of rejects goes on.
	 */
	if (f->user[d] != NULL) {
		static const uint8_t none[1];
		uint64_t base;
		struct stream *st = unpark(s, f, d, when, &base);
		struct park *pk;

		framer_finish(&st->fr);
		stream_feed(st, none, 0, when);
		sniff_account(s, st, base);
		if (st->st.rejects == 0)
			return;
		if ((pk = calloc(1, sizeof(*pk))) == NULL) {
			s->st.no_memory++;
			return;
		}
		pk->rejects = st->st.rejects;
		f->user[d] = pk;
	}
}

static void
on_close(void *arg, struct tcpreasm_flow *f, enum tcpreasm_end why,
    const struct timeval *when)
{
	(void)why;
	for (int d = 0; d < 2; d++)
		end_stream(arg, f, (enum tcpreasm_dir)d, when);
}

static const struct tcpreasm_ops sniff_ops = { on_data, on_gap, on_close };

int
sniff_init(struct sniff *s, const struct tcpreasm_config *cfg,
    struct outputs *out)
{
	struct tcpreasm_config c = *cfg;

	memset(s, 0, sizeof(*s));
	s->out = out;
	/* The flow hash's key: secret, so nobody can aim at one bucket. */
	if (getrandom(c.hash_key, sizeof(c.hash_key), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(c.hash_key)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		c.hash_key[0] ^= (uint32_t)ts.tv_nsec ^ (uint32_t)getpid() << 16;
		c.hash_key[1] ^= (uint32_t)ts.tv_sec ^
		    (uint32_t)(uintptr_t)&c;
	}
	return tcpreasm_init(&s->r, &c, &sniff_ops, s);
}

/* Either end on one of the kits' ports. */
static bool
port_wanted(const struct sniff *s, const struct tcpreasm_seg *seg)
{
	for (int i = 0; i < s->r.cfg.nports; i++)
		if (seg->sport == s->r.cfg.server_ports[i] ||
		    seg->dport == s->r.cfg.server_ports[i])
			return true;
	return false;
}

void
sniff_packet(struct sniff *s, enum packet_link link, const uint8_t *p,
    size_t caplen, size_t len, const struct timeval *when)
{
	struct tcpreasm_seg seg;

	s->st.packets++;
	switch (packet_parse(link, p, caplen, len, &seg)) {
	case PACKET_SNAPPED:
		s->st.snapped++;
		/* FALLTHROUGH */
	case PACKET_TCP:
		if (s->match_ports && !port_wanted(s, &seg)) {
			s->st.other_ports++;
			break;
		}
		if (seg.csum != PACKET_CSUM_GOOD)
			s->st.csum_unchecked++;
		tcpreasm_segment(&s->r, &seg, when);
		break;
	case PACKET_BAD_CHECKSUM:
		s->st.bad_checksum++;
		break;
	case PACKET_NOT_TCP:
		s->st.not_tcp++;
		break;
	case PACKET_FRAGMENT:
		s->st.fragments++;
		break;
	case PACKET_MALFORMED:
		s->st.malformed++;
		break;
	}
}

void
sniff_tick(struct sniff *s, const struct timeval *now)
{
	tcpreasm_expire(&s->r, now);
}

void
sniff_finish(struct sniff *s, const struct timeval *now)
{
	tcpreasm_free(&s->r, now);
}

void
sniff_log_stats(const struct sniff *s, const char *extra)
{
	const struct tcpreasm_stats *r = &s->r.st;
	uint64_t frames = s->st.frames, readings = s->st.readings;
	uint64_t rejects = s->st.rejects, skipped = s->st.skipped;

	char filt[64] = "";

	if (s->filter_in_user)
		snprintf(filt, sizeof(filt), "%llu left out by the filter, ",
		    (unsigned long long)s->st.filtered);
	log_info("statistics: %s%llu packets (%llu not TCP, %llu fragments, "
	    "%llu malformed, %llu cut by snaplen, %llu bad checksums dropped, "
	    "%llu with offloaded checksums, %llu on other ports), "
	    "%llu flows (%u open, %llu idle, %llu evicted, %llu refused), "
	    "%llu bytes in order, %llu duplicate, %llu in copies that "
	    "disagreed (dropped), %llu gaps (%llu bytes never seen), "
	    "%llu segments after the end, %llu out-of-window "
	    "FIN/RST/SYN ignored, %llu frames, %llu readings, "
	    "%llu rejected, %llu bytes skipped%s%s", filt,
	    (unsigned long long)s->st.packets,
	    (unsigned long long)s->st.not_tcp,
	    (unsigned long long)s->st.fragments,
	    (unsigned long long)s->st.malformed,
	    (unsigned long long)s->st.snapped,
	    (unsigned long long)s->st.bad_checksum,
	    (unsigned long long)s->st.csum_unchecked,
	    (unsigned long long)s->st.other_ports,
	    (unsigned long long)r->flows, s->r.nflows,
	    (unsigned long long)r->idle, (unsigned long long)r->evicted,
	    (unsigned long long)r->refused,
	    (unsigned long long)r->bytes, (unsigned long long)r->dup_bytes,
	    (unsigned long long)r->conflict_bytes,
	    (unsigned long long)r->gaps, (unsigned long long)r->gap_bytes,
	    (unsigned long long)r->closed_segments,
	    (unsigned long long)r->ignored,
	    (unsigned long long)frames, (unsigned long long)readings,
	    (unsigned long long)rejects, (unsigned long long)skipped,
	    extra && *extra ? ", " : "", extra ? extra : "");
}
