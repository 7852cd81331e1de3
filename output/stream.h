/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * stream.h: where every way in meets the decoder. "Here are the next bytes
 * of stream S, in order": the relay calls it from its sockets, the sniffer
 * from its TCP reassembly, --stream from a file. Nothing past this point
 * knows how the bytes arrived.
 */
#ifndef STREAM_H
#define STREAM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/time.h>

#include "framer.h"
#include "outputs.h"

enum stream_dir {
	STREAM_FROM_KIT,	/* kit -> portal: readings, fed to the outputs */
	STREAM_FROM_PORTAL,	/* portal -> kit: framed and logged at debug */
};

/*
 * Rejected frames are logged and kept (journal) up to this many per
 * stream; past it they are only counted, so a peer sending nothing but bad
 * frames cannot flood the log, the disk or the event loop.
 */
#define STREAM_REJECTS_KEPT 16

struct stream_stats {
	uint64_t frames;
	uint64_t readings;
	uint64_t texts;
	uint64_t rejects;	/* bad checksums, truncated, undecodable */
	uint64_t implausible;	/* of those: values out of limits */
	uint64_t rate_limited;	/* of those: over an inverter's rate */
	uint64_t valid;		/* frames that decoded */
	uint64_t limited;	/* readings over the reading rate: not stored */
};

/*
 * A reading rate for one stream (the relay's, per connection): a burst,
 * then `per_minute`. Readings past it are counted, kept raw as rejects
 * (up to STREAM_LIMITED_KEPT) and logged once a minute with the count.
 * Measured on the monotonic clock, never on `when`.
 */
#define STREAM_LIMITED_KEPT 16

struct stream_limit {
	unsigned burst, per_minute;	/* 0: no limit */
	double tokens;
	double last;		/* monotonic seconds of the last refill */
	double logged;		/* monotonic seconds of the last log line */
	uint64_t unlogged;	/* limited since that line */
};

struct stream {
	struct framer fr;
	struct outputs *out;
	enum stream_dir dir;
	char source[64];
	struct stream_stats st;
	struct stream_limit lim;
	bool said_logger;	/* logger info is logged once per stream */
	uint32_t kit_sn;	/* 0, or the one kit whose readings count */
	/*
	 * Optional: where the stream's readings go instead of straight to
	 * outputs_reading, once the rate, plausibility and per-inverter
	 * checks passed (the relay holds them until the kit's session is
	 * over). rec and what it points to last only for the call.
	 */
	void (*defer)(void *arg, const struct record *rec);
	/*
	 * Optional, with defer: a rejected frame is not held, but before it
	 * is logged and kept, what defer holds of this stream goes out, so
	 * the log and the journal keep the order the frames came in.
	 */
	void (*defer_sync)(void *arg);
	void *defer_arg;
};

void stream_init(struct stream *s, struct outputs *out, enum stream_dir dir,
    const char *source);
/* Limit readings to a burst and then per_minute (both > 0). */
void stream_set_limit(struct stream *s, unsigned burst, unsigned per_minute);
/*
 * Only kit_sn's data frames give readings (a poll's answer: what answers
 * on a kit's address for another kit is not that kit's); others are
 * rejected, kept raw like any rejected frame.
 */
void stream_expect_kit(struct stream *s, uint32_t kit_sn);
/* The next bytes of the stream, received at `when`. */
void stream_feed(struct stream *s, const uint8_t *data, size_t len,
    const struct timeval *when);
/*
 * A reading that did not come in a frame (a kit's web status page,
 * omnik_status_parse), with the raw bytes it was read from: the same
 * rate, limits and outputs as a frame's reading. stream_refuse: the raw
 * bytes of one that was refused (reason), logged and kept like a
 * rejected frame.
 */
void stream_reading(struct stream *s, const struct omnik_reading *r,
    const uint8_t *raw, size_t rawlen, const struct timeval *when);
void stream_refuse(struct stream *s, const char *reason, const uint8_t *raw,
    size_t rawlen, const struct timeval *when);
/* End of the stream: whatever is buffered is reported, nothing kept. */
void stream_end(struct stream *s, const struct timeval *when);

#endif /* STREAM_H */
