/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * defer.c: a kit's readings held until its session is over.
 *
 * A reading's outputs (its CSV line, its log line, its entry in the
 * journal's queue, and at the loop turn's end their writes) take tens of
 * microseconds on a cold core, at a real site's pace. Run as soon as the
 * frame is decoded, they lie between the kit's bytes going out to the
 * portal and the portal's answer coming back, and on one core (a Pi
 * Zero) the answer waits for them. So the readings of a session wait
 * here, in the order they came, and go to the outputs
 *
 *   - when the session ends, right after its sockets are closed (the kit
 *     has had the portal's answer and the close); every reading that
 *     came before them goes too, so the order stays the arrival order;
 *   - RELAY_DEFER_MS after the first of them came at the latest (a
 *     session that stays open: a far portal, a kit that keeps its
 *     connection);
 *   - the oldest at once when RELAY_DEFER_MAX wait.
 *
 * What decides whether a reading is stored (the connection's rate, the
 * inverter's plausibility and rate) ran already, when it came; only the
 * writing waits. The relay ends every session when it stops, and the
 * readings with it: nothing is lost but to a crash, within the bound.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "relay_private.h"

struct relay_deferred {
	const struct relay_session *s;	/* whose: compared, never followed */
	struct omnik_reading r;
	struct timeval when;
	size_t frame_len;
	uint8_t frame[OMNIK_FRAME_MAX];
	bool has_source;
	char source[64];
};

/*
 * The oldest out of the ring first, then to the outputs: were an output
 * ever to queue a reading in turn, it could not overwrite this one.
 */
static void
deliver_oldest(struct relay *r)
{
	struct relay_deferred e = r->dq[r->dq_head];
	struct record rec = {
		.reading = &e.r,
		.when = e.when,
		.source = e.has_source ? e.source : NULL,
		.frame = e.frame,
		.frame_len = e.frame_len,
	};

	r->dq_head = (r->dq_head + 1) % RELAY_DEFER_MAX;
	r->dq_len--;
	outputs_reading(r->out, &rec);
}

void
relay_defer_release(struct relay *r, const struct relay_session *upto)
{
	unsigned n = 0;

	if (upto == NULL)
		n = r->dq_len;
	else
		for (unsigned i = 0; i < r->dq_len; i++)
			if (r->dq[(r->dq_head + i) % RELAY_DEFER_MAX].s == upto)
				n = i + 1;
	while (n-- > 0 && r->dq_len > 0)
		deliver_oldest(r);
	if (r->dq_len == 0 && r->dq_timer != NULL)
		evtimer_del(r->dq_timer);
}

/* A reject of this session's: what it holds goes first. */
void
relay_defer_sync(void *arg)
{
	struct relay_session *s = arg;

	relay_defer_release(s->r, s);
}

static void
defer_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	relay_defer_release(arg, NULL);
}

void
relay_defer_reading(void *arg, const struct record *rec)
{
	struct relay_session *s = arg;
	struct relay *r = s->r;
	struct relay_deferred *e;
	size_t n;

	if (r->dq == NULL) {
		r->dq = calloc(RELAY_DEFER_MAX, sizeof(*r->dq));
		r->dq_timer = evtimer_new(r->base, defer_timeout, r);
		if (r->dq == NULL || r->dq_timer == NULL) {
			free(r->dq);
			r->dq = NULL;
			if (r->dq_timer != NULL)
				event_free(r->dq_timer);
			r->dq_timer = NULL;
		}
	}
	if (r->dq == NULL || rec->frame_len > sizeof(e->frame)) {
		/* Out of memory, or not a frame's: now, after the rest. */
		relay_defer_release(r, NULL);
		outputs_reading(r->out, rec);
		return;
	}
	if (r->dq_len == RELAY_DEFER_MAX)
		deliver_oldest(r);
	e = &r->dq[(r->dq_head + r->dq_len) % RELAY_DEFER_MAX];
	e->s = s;
	e->r = *rec->reading;
	e->when = rec->when;
	e->frame_len = rec->frame_len;
	if (rec->frame_len > 0)
		memcpy(e->frame, rec->frame, rec->frame_len);
	e->has_source = rec->source != NULL;
	n = e->has_source ? strnlen(rec->source, sizeof(e->source) - 1) : 0;
	if (n > 0)
		memcpy(e->source, rec->source, n);
	e->source[n] = '\0';
	if (r->dq_len++ == 0) {
		struct timeval tv = { 0, RELAY_DEFER_MS * 1000 };

		/* Without the bound nothing waits. */
		if (evtimer_add(r->dq_timer, &tv) != 0)
			relay_defer_release(r, NULL);
	}
}

void
relay_flush(struct relay *r)
{
	relay_defer_release(r, NULL);
}

void
relay_defer_free(struct relay *r)
{
	relay_defer_release(r, NULL);
	if (r->dq_timer != NULL)
		event_free(r->dq_timer);
	r->dq_timer = NULL;
	free(r->dq);
	r->dq = NULL;
}
