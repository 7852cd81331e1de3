/*
 * sniff.c: the reassembler's consumer (see sniff.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sniff.h"
#include "stream.h"

static void
stream_account(struct sniff *s, const struct stream *st)
{
	s->st.frames += st->st.frames;
	s->st.readings += st->st.readings;
	s->st.rejects += st->st.rejects;
	s->st.skipped += st->fr.st.skipped;
}

static void
stream_open(struct sniff *s, struct tcpreasm_flow *f, enum tcpreasm_dir d,
    struct stream *st)
{
	char name[64];

	/* Readings are labelled by the kit's end, replies by the portal's. */
	tcpreasm_side_name(f, d == TCPREASM_TO_SERVER ? 0 : 1, name,
	    sizeof(name));
	stream_init(st, s->out, d == TCPREASM_TO_SERVER ? STREAM_TO_CLOUD :
	    STREAM_FROM_CLOUD, name);
}

static void
on_data(void *arg, struct tcpreasm_flow *f, enum tcpreasm_dir d,
    const uint8_t *buf, size_t len, const struct timeval *when)
{
	struct sniff *s = arg;
	struct stream *st = f->user[d];

	if (st == NULL) {
		st = malloc(sizeof(*st));
		if (st == NULL) {
			s->st.no_memory++;
			return;
		}
		stream_open(s, f, d, st);
		f->user[d] = st;
		s->st.streams++;
	}
	stream_feed(st, buf, len, when);
}

static void
on_gap(void *arg, struct tcpreasm_flow *f, enum tcpreasm_dir d,
    uint32_t missing, const struct timeval *when)
{
	struct sniff *s = arg;
	struct stream *st = f->user[d];

	if (st == NULL)
		return;
	log_debug("%s: %u bytes never captured; resynchronising",
	    st->source, missing);
	/* A frame cannot span the hole: end the stream and start afresh. */
	stream_end(st, when);
	stream_account(s, st);
	stream_open(s, f, d, st);
}

static void
on_close(void *arg, struct tcpreasm_flow *f, enum tcpreasm_end why,
    const struct timeval *when)
{
	struct sniff *s = arg;

	(void)why;
	for (int d = 0; d < 2; d++) {
		struct stream *st = f->user[d];

		if (st == NULL)
			continue;
		stream_end(st, when);
		stream_account(s, st);
		free(st);
		f->user[d] = NULL;
	}
}

static const struct tcpreasm_ops sniff_ops = { on_data, on_gap, on_close };

int
sniff_init(struct sniff *s, const struct tcpreasm_config *cfg,
    struct outputs *out)
{
	memset(s, 0, sizeof(*s));
	s->out = out;
	return tcpreasm_init(&s->r, cfg, &sniff_ops, s);
}

void
sniff_packet(struct sniff *s, enum packet_link link, const uint8_t *p,
    size_t caplen, const struct timeval *when)
{
	struct tcpreasm_seg seg;

	s->st.packets++;
	switch (packet_parse(link, p, caplen, &seg)) {
	case PACKET_SNAPPED:
		s->st.snapped++;
		/* FALLTHROUGH */
	case PACKET_TCP:
		tcpreasm_segment(&s->r, &seg, when);
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

	/* Add what the open streams have counted so far. */
	for (const struct tcpreasm_flow *f = s->r.oldest; f; f = f->newer)
		for (int d = 0; d < 2; d++) {
			const struct stream *st = f->user[d];

			if (st == NULL)
				continue;
			frames += st->st.frames;
			readings += st->st.readings;
			rejects += st->st.rejects;
			skipped += st->fr.st.skipped;
		}
	log_info("statistics: %llu packets (%llu not TCP, %llu fragments, "
	    "%llu malformed, %llu cut by snaplen), %llu flows (%u open, "
	    "%llu idle, %llu evicted), %llu bytes in order, %llu duplicate, "
	    "%llu gaps (%llu bytes never seen), %llu frames, %llu readings, "
	    "%llu rejected, %llu bytes skipped%s%s",
	    (unsigned long long)s->st.packets,
	    (unsigned long long)s->st.not_tcp,
	    (unsigned long long)s->st.fragments,
	    (unsigned long long)s->st.malformed,
	    (unsigned long long)s->st.snapped,
	    (unsigned long long)r->flows, s->r.nflows,
	    (unsigned long long)r->idle, (unsigned long long)r->evicted,
	    (unsigned long long)r->bytes, (unsigned long long)r->dup_bytes,
	    (unsigned long long)r->gaps, (unsigned long long)r->gap_bytes,
	    (unsigned long long)frames, (unsigned long long)readings,
	    (unsigned long long)rejects, (unsigned long long)skipped,
	    extra && *extra ? ", " : "", extra ? extra : "");
}
