/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * framer.h: turn an Omnik byte stream, fed in chunks of any size, into whole
 * frames.
 *
 * A frame is a 0x68 byte, a length byte L, then L + 12 more bytes ending in
 * 0x16, with a valid checksum. Anything else is skipped one byte at a time,
 * so a stray 0x68 in garbage never hides a good frame behind it. 0xFF filler
 * is counted apart from other skipped bytes. The framer buffers at most one
 * frame (OMNIK_FRAME_MAX bytes); frames wholly inside a chunk are returned
 * in place, without copying.
 *
 * Use:
 *	framer_input(f, chunk, n);
 *	while ((st = framer_next(f, &fr)) != FRAMER_NEED_MORE)
 *		... fr.data, fr.len valid until the next framer_ call ...
 *	(at end of stream) framer_finish(f); and drain the same way.
 *
 * The chunk must stay valid until framer_next returns FRAMER_NEED_MORE.
 * Invariant, at any FRAMER_NEED_MORE:
 *	bytes_in == frame_bytes + skipped + filler + framer_buffered(f)
 */
#ifndef FRAMER_H
#define FRAMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "omnik.h"

enum framer_status {
	FRAMER_NEED_MORE,	/* input used up; feed the next chunk */
	FRAMER_FRAME,		/* a whole frame with a valid checksum */
	FRAMER_BAD_CHECKSUM,	/* start, length and end fit; checksum wrong */
	FRAMER_TRUNCATED,	/* end of stream inside a frame */
};

struct framer_frame {
	const uint8_t *data;
	size_t len;
	uint64_t offset;	/* stream offset of data[0] */
	enum framer_status status;	/* what framer_next returned */
};

struct framer_stats {
	uint64_t bytes_in;
	uint64_t frames;
	uint64_t frame_bytes;
	uint64_t bad_checksums;
	uint64_t truncated;
	uint64_t skipped;	/* bytes outside valid frames, not 0xFF */
	uint64_t filler;	/* 0xFF bytes outside valid frames */
};

struct framer {
	uint8_t buf[OMNIK_FRAME_MAX];
	size_t buflen;
	size_t consume;		/* bytes of buf to drop on the next call */
	const uint8_t *in;
	size_t inlen;
	uint64_t inpos;		/* stream offset of in[0]; buf ends there */
	uint64_t quiet_until;	/* no second report inside a reported frame */
	bool eof;
	struct framer_stats st;
};

void framer_init(struct framer *f);
void framer_input(struct framer *f, const uint8_t *data, size_t len);
enum framer_status framer_next(struct framer *f, struct framer_frame *out);
/*
 * Up to max results at once, each exactly what the next framer_next would
 * have returned (its status in out[i].status); the count, 0 at
 * FRAMER_NEED_MORE. It also stops after a result held in the framer's
 * own buffer, so that all out[0 .. count) stay valid until the next
 * framer_ call. For callers that take many frames from one chunk; the
 * per-call cost is then paid once.
 *	while ((n = framer_next_many(f, frs, 64)) > 0)
 *		for (i = 0; i < n; i++) ... frs[i] ...
 */
size_t framer_next_many(struct framer *f, struct framer_frame *out,
    size_t max);
/* End of stream: what is buffered is reported as truncated, then rescanned. */
void framer_finish(struct framer *f);
size_t framer_buffered(const struct framer *f);

/*
 * Between chunks a framer holds at most one unfinished frame. A caller with
 * very many mostly idle streams (the sniffer's 100,000 flows) can keep just
 * those bytes and where they stand instead of a whole framer:
 *	framer_suspend(f, &s);	(at FRAMER_NEED_MORE; s.data points into f)
 *	... copy s.data, s.len, s.offset, s.quiet_until; drop f ...
 *	framer_init(g); framer_resume(g, offset, quiet_until);
 *	framer_input(g, copy, len); ... then the next chunk as usual.
 * Offsets in later frames stay those of the whole stream.
 */
struct framer_suspended {
	const uint8_t *data;
	size_t len;
	uint64_t offset;	/* stream offset of data[0] */
	uint64_t quiet_until;
};

/* Returns -1 if input is still pending (not at FRAMER_NEED_MORE). */
int framer_suspend(const struct framer *f, struct framer_suspended *out);
void framer_resume(struct framer *f, uint64_t offset, uint64_t quiet_until);
const char *framer_strstatus(enum framer_status st);

#endif /* FRAMER_H */
