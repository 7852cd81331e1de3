/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * stream.c: framer -> decoder -> outputs, for one direction of one
 * connection or flow.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "stream.h"

void
stream_init(struct stream *s, struct outputs *out, enum stream_dir dir,
    const char *source)
{
	memset(s, 0, sizeof(*s));
	framer_init(&s->fr);
	s->out = out;
	s->dir = dir;
	snprintf(s->source, sizeof(s->source), "%s", source);
}

static const char *
dir_name(const struct stream *s)
{
	return s->dir == STREAM_TO_CLOUD ? "from kit" : "from portal";
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

	s->st.rejects++;
	if (s->st.rejects > STREAM_REJECTS_KEPT) {
		if (s->st.rejects == STREAM_REJECTS_KEPT + 1)
			log_warnx("%s %s: more than %d rejected frames: further "
			    "ones are counted, not logged or kept", s->source,
			    dir_name(s), STREAM_REJECTS_KEPT);
		return;
	}
	log_warnx("%s %s: %zu-byte frame at offset %llu rejected: %s",
	    s->source, dir_name(s), fr->len, (unsigned long long)fr->offset,
	    reason);
	if (s->dir == STREAM_TO_CLOUD && s->out)
		outputs_reject(s->out, &rej);
}

static void
handle_frame(struct stream *s, const struct framer_frame *fr,
    const struct timeval *when)
{
	struct omnik_msg m;
	enum omnik_err e;

	s->st.frames++;
	e = omnik_decode(fr->data, fr->len, &m);
	if (e != OMNIK_OK) {
		reject(s, omnik_strerror(e), fr, when);
		return;
	}
	if (s->dir == STREAM_FROM_CLOUD) {
		log_debug("%s from portal: frame %02X %02X kit %lu, %zu bytes%s%s",
		    s->source, m.ctrl1, m.ctrl2, (unsigned long)m.kit_sn,
		    fr->len, m.text[0] ? ": " : "", m.text);
		return;
	}
	switch (m.kind) {
	case OMNIK_MSG_DATA: {
		struct record rec = {
			.reading = &m.reading,
			.when = *when,
			.source = s->source,
			.frame = fr->data,
			.frame_len = fr->len,
		};
		s->st.readings++;
		if (s->out)
			outputs_reading(s->out, &rec);
		break;
	}
	case OMNIK_MSG_TEXT:
		s->st.texts++;
		log_debug("%s kit %lu says \"%s\"", s->source,
		    (unsigned long)m.kit_sn, m.text);
		break;
	case OMNIK_MSG_LOGGER_INFO:
		log_info("%s kit %lu logger firmware \"%s\"", s->source,
		    (unsigned long)m.kit_sn, m.text);
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
	if (s->st.rejects > STREAM_REJECTS_KEPT)
		log_warnx("%s %s: %llu frames rejected in all, %llu of them "
		    "only counted", s->source, dir_name(s),
		    (unsigned long long)s->st.rejects,
		    (unsigned long long)(s->st.rejects - STREAM_REJECTS_KEPT));
	if (s->fr.st.skipped > 0)
		log_debug("%s %s: %llu bytes outside frames skipped",
		    s->source, dir_name(s),
		    (unsigned long long)s->fr.st.skipped);
}
