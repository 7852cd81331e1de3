/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * stream.c: framer -> decoder -> outputs, for one direction of one
 * connection or flow.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "invstate.h"
#include "log.h"
#include "stream.h"

void
stream_init(struct stream *s, struct outputs *out, enum stream_dir dir,
    const char *source)
{
	/* The framer clears only what it reads (framer_init). */
	_Static_assert(offsetof(struct stream, fr) == 0, "framer first");
	framer_init(&s->fr);
	memset((char *)s + sizeof(s->fr), 0, sizeof(*s) - sizeof(s->fr));
	s->out = out;
	s->dir = dir;
	/* Not snprintf: the sniffer opens a stream for every segment. */
	size_t n = strnlen(source, sizeof(s->source) - 1);
	memcpy(s->source, source, n);
	s->source[n] = '\0';
}

void
stream_set_limit(struct stream *s, unsigned burst, unsigned per_minute)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	s->lim.burst = burst;
	s->lim.per_minute = per_minute;
	s->lim.tokens = burst;
	s->lim.last = (double)ts.tv_sec + ts.tv_nsec / 1e9;
	s->lim.logged = s->lim.last - 60;
}

/*
 * Per-event lines (a rejected frame, a logger's firmware) from all streams
 * together: at most LOG_PER_MINUTE a minute, then counted, and the count
 * logged when the next minute begins. Many connections each sending a
 * few bad frames cannot flood the log either.
 */
#define LOG_PER_MINUTE 60

static bool
event_log_ok(void)
{
	static double window = -1e9;
	static unsigned lines;
	static uint64_t unlogged;
	struct timespec ts;
	double now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (double)ts.tv_sec + ts.tv_nsec / 1e9;
	if (now - window >= 60) {
		if (unlogged > 0)
			log_warnx("%llu more rejected frames and logger lines "
			    "in the last minute were not logged (at most %d a "
			    "minute)", (unsigned long long)unlogged,
			    LOG_PER_MINUTE);
		window = now;
		lines = 0;
		unlogged = 0;
	}
	if (lines < LOG_PER_MINUTE) {
		lines++;
		return true;
	}
	if (unlogged++ == 0)
		log_warnx("more than %d rejected frames and logger lines this "
		    "minute: further ones are counted, and the count logged "
		    "next minute", LOG_PER_MINUTE);
	return false;
}

/* May this reading be stored? Counts and logs the ones that may not. */
static bool
limit_allows(struct stream *s)
{
	struct stream_limit *l = &s->lim;
	struct timespec ts;
	double now;

	if (l->burst == 0)
		return true;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (double)ts.tv_sec + ts.tv_nsec / 1e9;
	l->tokens += (now - l->last) * l->per_minute / 60.0;
	if (l->tokens > l->burst)
		l->tokens = l->burst;
	l->last = now;
	if (l->tokens >= 1) {
		l->tokens -= 1;
		return true;
	}
	s->st.limited++;
	l->unlogged++;
	if (now - l->logged >= 60) {
		log_warnx("%s from kit: over the reading rate (%u, then %u a "
		    "minute): %llu readings not stored in the last minute, "
		    "%llu in all", s->source, l->burst, l->per_minute,
		    (unsigned long long)l->unlogged,
		    (unsigned long long)s->st.limited);
		l->logged = now;
		l->unlogged = 0;
	}
	return false;
}

static const char *
dir_name(const struct stream *s)
{
	return s->dir == STREAM_FROM_KIT ? "from kit" : "from portal";
}

static void
reject(struct stream *s, const char *reason, const struct framer_frame *fr,
    const struct timeval *when)
{
	struct reject rej = {
		.reason = reason,
		.when = *when,
		.source = s->source,
		.frame = fr->data,
		.frame_len = fr->len,
	};

	uint64_t n;

	if (s->defer_sync)
		s->defer_sync(s->defer_arg);
	/* Frames over an inverter's rate have a cap of their own. */
	s->st.rejects++;
	n = s->st.rejects - s->st.rate_limited;
	if (n > STREAM_REJECTS_KEPT) {
		if (n == STREAM_REJECTS_KEPT + 1)
			log_warnx("%s %s: more than %d rejected frames: further "
			    "ones are counted, not logged or kept", s->source,
			    dir_name(s), STREAM_REJECTS_KEPT);
		return;
	}
	if (event_log_ok())
		log_warnx("%s %s: %zu-byte frame at offset %llu rejected: %s",
		    s->source, dir_name(s), fr->len,
		    (unsigned long long)fr->offset, reason);
	if (s->dir == STREAM_FROM_KIT && s->out)
		outputs_reject(s->out, &rej);
}

/* A value out of its limits (decoder or invstate): field and value. */
static void
implausible(struct stream *s, const char *why, const struct framer_frame *fr,
    const struct timeval *when)
{
	char reason[200];

	s->st.implausible++;
	snprintf(reason, sizeof(reason), "implausible: %s", why);
	reject(s, reason, fr, when);
}

/*
 * Over an inverter's rate (invstate.h): counted always, kept raw up to a
 * cap a minute, one log line a minute for all of them.
 */
static void
rate_limited(struct stream *s, const struct invstate_result *res,
    const struct framer_frame *fr, const struct timeval *when)
{
	struct reject rej = {
		.reason = res->why, .when = *when, .source = s->source,
		.frame = fr->data, .frame_len = fr->len,
	};

	s->st.rejects++;
	s->st.rate_limited++;
	if (res->log)
		log_warnx("%s %s: %s: %llu readings over the limit since the "
		    "last report (counted; %d a minute kept raw)", s->source,
		    dir_name(s), res->why, (unsigned long long)res->excess,
		    INVSTATE_KEPT_MAX);
	if (res->keep && s->out)
		outputs_reject(s->out, &rej);
}

/*
 * A decoded reading and the raw bytes it came from: the stream's rate,
 * the inverter's limits and rate, then the outputs. One path for frames
 * and status pages alike.
 */
static void
deliver(struct stream *s, const struct omnik_reading *r,
    const struct framer_frame *fr, const struct timeval *when)
{
	struct invstate_result res;
	struct reject rej = {
		.reason = "over the reading rate",
		.when = *when,
		.source = s->source,
		.frame = fr->data,
		.frame_len = fr->len,
	};

	/*
	 * The connection's rate first: a reading it drops must not move
	 * the inverter's state (its totals, its own rate).
	 */
	if (!limit_allows(s)) {
		/* Kept raw, up to a cap, so nothing is silently lost. */
		if (s->out && s->st.limited <= STREAM_LIMITED_KEPT)
			outputs_reject(s->out, &rej);
		return;
	}
	switch (invstate_check(r, when, &res)) {
	case INVSTATE_IMPLAUSIBLE:
		implausible(s, res.why, fr, when);
		return;
	case INVSTATE_RATE:
		rate_limited(s, &res, fr, when);
		return;
	case INVSTATE_OK:
		break;
	}
	struct record rec = {
		.reading = r,
		.when = res.when,	/* distinct per inverter */
		.source = s->source,
		.frame = fr->data,
		.frame_len = fr->len,
	};
	s->st.readings++;
	if (s->defer)
		s->defer(s->defer_arg, &rec);
	else if (s->out)
		outputs_reading(s->out, &rec);
}

void
stream_reading(struct stream *s, const struct omnik_reading *r,
    const uint8_t *raw, size_t rawlen, const struct timeval *when)
{
	struct framer_frame fr = { .data = raw, .len = rawlen };

	s->st.frames++;
	s->st.valid++;
	deliver(s, r, &fr, when);
}

/* Why a reading from outside the framer was not one (a status page). */
void
stream_refuse(struct stream *s, const char *reason, const uint8_t *raw,
    size_t rawlen, const struct timeval *when)
{
	struct framer_frame fr = { .data = raw, .len = rawlen };

	s->st.frames++;
	implausible(s, reason, &fr, when);
}

static void
handle_frame(struct stream *s, const struct framer_frame *fr,
    const struct timeval *when)
{
	struct omnik_msg m;
	enum omnik_err e;

	s->st.frames++;
	e = omnik_decode(fr->data, fr->len, &m);
	if (e == OMNIK_ERR_IMPLAUSIBLE && s->dir == STREAM_FROM_KIT) {
		implausible(s, m.reason, fr, when);
		return;
	}
	if (e != OMNIK_OK) {
		reject(s, omnik_strerror(e), fr, when);
		return;
	}
	s->st.valid++;
	if (s->dir == STREAM_FROM_PORTAL) {
		log_debug("%s from portal: frame %02X %02X kit %lu, %zu bytes%s%s",
		    s->source, m.ctrl1, m.ctrl2, (unsigned long)m.kit_sn,
		    fr->len, m.text[0] ? ": " : "", m.text);
		return;
	}
	switch (m.kind) {
	case OMNIK_MSG_DATA:
		if (s->kit_sn != 0 && m.kit_sn != s->kit_sn) {
			char why[80];

			snprintf(why, sizeof(why), "kit %lu's reading, not kit "
			    "%lu's", (unsigned long)m.kit_sn,
			    (unsigned long)s->kit_sn);
			reject(s, why, fr, when);
			break;
		}
		deliver(s, &m.reading, fr, when);
		break;
	case OMNIK_MSG_TEXT:
		s->st.texts++;
		log_debug("%s kit %lu says \"%s\"", s->source,
		    (unsigned long)m.kit_sn, m.text);
		break;
	case OMNIK_MSG_LOGGER_INFO:
		/* A kit sends it with every push: once per connection. */
		if (s->said_logger) {
			log_debug("%s kit %lu logger firmware \"%s\"",
			    s->source, (unsigned long)m.kit_sn, m.text);
			break;
		}
		s->said_logger = true;
		if (event_log_ok())
			log_info("%s kit %lu logger firmware \"%s\"",
			    s->source, (unsigned long)m.kit_sn, m.text);
		break;
	case OMNIK_MSG_REQUEST:
		log_debug("%s poll request for kit %lu", s->source,
		    (unsigned long)m.kit_sn);
		break;
	}
}

static void
drain(struct stream *s, const struct timeval *when)
{
	struct framer_frame fr;
	enum framer_status st;

	while ((st = framer_next(&s->fr, &fr)) != FRAMER_NEED_MORE) {
		if (st == FRAMER_FRAME)
			handle_frame(s, &fr, when);
		else
			reject(s, framer_strstatus(st), &fr, when);
	}
}

void
stream_expect_kit(struct stream *s, uint32_t kit_sn)
{
	s->kit_sn = kit_sn;
}

void
stream_feed(struct stream *s, const uint8_t *data, size_t len,
    const struct timeval *when)
{
	framer_input(&s->fr, data, len);
	drain(s, when);
}

void
stream_end(struct stream *s, const struct timeval *when)
{
	framer_finish(&s->fr);
	drain(s, when);
	if (s->st.rejects - s->st.rate_limited > STREAM_REJECTS_KEPT)
		log_warnx("%s %s: %llu frames rejected in all, %llu of them "
		    "only counted", s->source, dir_name(s),
		    (unsigned long long)(s->st.rejects - s->st.rate_limited),
		    (unsigned long long)(s->st.rejects - s->st.rate_limited -
		    STREAM_REJECTS_KEPT));
	if (s->st.rate_limited > 0)
		log_warnx("%s %s: %llu readings over an inverter's rate in all",
		    s->source, dir_name(s),
		    (unsigned long long)s->st.rate_limited);
	if (s->lim.unlogged > 0)
		log_warnx("%s from kit: %llu readings over the reading rate "
		    "not stored in all", s->source,
		    (unsigned long long)s->st.limited);
	if (s->fr.st.skipped > 0)
		log_debug("%s %s: %llu bytes outside frames skipped",
		    s->source, dir_name(s),
		    (unsigned long long)s->fr.st.skipped);
}
