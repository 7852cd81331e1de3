/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_relay_defer.c: relay/defer.c on its own, with the outputs
 * replaced by a recorder: readings held per session reach the outputs in
 * the order they came, whichever session ends first; a full ring hands
 * on its oldest; the timer lets none wait past its bound; what waits is
 * written when the relay is freed; copies are whole (reading, frame,
 * time, source, a missing source); a frame too big to hold goes at
 * once, after what waits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <event2/event.h>

#include "relay_private.h"

#define SEEN_MAX 64

static struct {
	char sn[OMNIK_SERIAL_LEN + 1];
	char source[64];
	bool has_source;
	long usec;
	size_t frame_len;
	uint8_t first;
} seen[SEEN_MAX];
static int nseen;

/* The outputs: what came, in order. */
void
outputs_reading(struct outputs *o, const struct record *rec)
{
	(void)o;
	assert_true(nseen < SEEN_MAX);
	snprintf(seen[nseen].sn, sizeof(seen[nseen].sn), "%s",
	    rec->reading->inverter_sn);
	seen[nseen].has_source = rec->source != NULL;
	snprintf(seen[nseen].source, sizeof(seen[nseen].source), "%s",
	    rec->source ? rec->source : "");
	seen[nseen].usec = (long)rec->when.tv_usec;
	seen[nseen].frame_len = rec->frame_len;
	seen[nseen].first = rec->frame_len ? rec->frame[0] : 0;
	nseen++;
}

static struct relay r;
static struct relay_session s1, s2;

static int
setup(void **state)
{
	(void)state;
	memset(&r, 0, sizeof(r));
	r.base = event_base_new();
	r.out = NULL;
	memset(&s1, 0, sizeof(s1));
	memset(&s2, 0, sizeof(s2));
	s1.r = s2.r = &r;
	nseen = 0;
	return r.base == NULL;
}

static int
teardown(void **state)
{
	(void)state;
	relay_defer_free(&r);
	event_base_free(r.base);
	return 0;
}

/* Reading k of session s: its serial, frame and source carry k. */
static void
queue(struct relay_session *s, int k, size_t frame_len, bool source)
{
	static uint8_t frame[2 * OMNIK_FRAME_MAX];
	struct omnik_reading rd;
	char src[32];
	struct record rec;

	memset(&rd, 0, sizeof(rd));
	snprintf(rd.inverter_sn, sizeof(rd.inverter_sn), "NLDN%012d", k);
	memset(frame, 0xA5, sizeof(frame));
	frame[0] = (uint8_t)k;
	snprintf(src, sizeof(src), "198.51.100.2:%d", 40000 + k);
	memset(&rec, 0, sizeof(rec));
	rec.reading = &rd;
	rec.when.tv_sec = 1700000000;
	rec.when.tv_usec = 1000 + k;
	rec.source = source ? src : NULL;
	rec.frame = frame;
	rec.frame_len = frame_len;
	relay_defer_reading(s, &rec);
	/* The copy is the ring's: the caller's buffers may change at once. */
	memset(frame, 0, sizeof(frame));
	memset(&rd, 0, sizeof(rd));
	memset(src, 0, sizeof(src));
}

static void
assert_seen(int i, int k)
{
	char sn[OMNIK_SERIAL_LEN + 1], src[32];

	snprintf(sn, sizeof(sn), "NLDN%012d", k);
	snprintf(src, sizeof(src), "198.51.100.2:%d", 40000 + k);
	assert_string_equal(seen[i].sn, sn);
	assert_int_equal(seen[i].usec, 1000 + k);
	assert_int_equal(seen[i].first, (uint8_t)k);
	if (seen[i].has_source)
		assert_string_equal(seen[i].source, src);
}

static void
test_held_until_release_in_order(void **state)
{
	(void)state;
	queue(&s1, 1, 139, true);
	queue(&s2, 2, 139, true);
	queue(&s1, 3, 99, true);
	queue(&s2, 4, 183, true);
	assert_int_equal(nseen, 0);		/* held */
	/* s1 ends: its readings, and s2's that came before its last. */
	relay_defer_release(&r, &s1);
	assert_int_equal(nseen, 3);
	assert_seen(0, 1);
	assert_seen(1, 2);
	assert_seen(2, 3);
	assert_int_equal(seen[2].frame_len, 99);
	/* A session with nothing waiting releases nothing. */
	relay_defer_release(&r, &s1);
	assert_int_equal(nseen, 3);
	relay_defer_release(&r, &s2);
	assert_int_equal(nseen, 4);
	assert_seen(3, 4);
	assert_int_equal(seen[3].frame_len, 183);
	/* Empty: the timer is off. */
	assert_false(event_pending(r.dq_timer, EV_TIMEOUT, NULL));
}

static void
test_full_ring_hands_on_oldest(void **state)
{
	(void)state;
	for (int k = 0; k < RELAY_DEFER_MAX; k++)
		queue(&s1, k, 139, true);
	assert_int_equal(nseen, 0);
	queue(&s2, RELAY_DEFER_MAX, 139, true);
	assert_int_equal(nseen, 1);
	assert_seen(0, 0);
	/* Freed with readings waiting: every one, in order, once. */
	relay_defer_free(&r);
	assert_int_equal(nseen, RELAY_DEFER_MAX + 1);
	for (int k = 0; k <= RELAY_DEFER_MAX; k++)
		assert_seen(k, k);
	assert_null(r.dq);
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void
test_timer_bounds_the_wait(void **state)
{
	double t0, dt;

	(void)state;
	t0 = now_ms();
	queue(&s1, 7, 139, true);
	assert_true(event_pending(r.dq_timer, EV_TIMEOUT, NULL));
	/* Nothing else in the loop: it runs until the timer has fired. */
	assert_int_equal(event_base_loop(r.base, EVLOOP_ONCE), 0);
	dt = now_ms() - t0;
	assert_int_equal(nseen, 1);
	assert_seen(0, 7);
	assert_true(dt >= RELAY_DEFER_MS - 5);
	assert_false(event_pending(r.dq_timer, EV_TIMEOUT, NULL));
	/* The session's end later finds nothing left. */
	relay_defer_release(&r, &s1);
	assert_int_equal(nseen, 1);
}

static void
test_big_frame_goes_at_once_after_the_rest(void **state)
{
	(void)state;
	queue(&s1, 1, 139, true);
	queue(&s2, 2, OMNIK_FRAME_MAX + 1, true);
	assert_int_equal(nseen, 2);
	assert_seen(0, 1);
	assert_seen(1, 2);
	assert_int_equal(seen[1].frame_len, OMNIK_FRAME_MAX + 1);
	assert_false(event_pending(r.dq_timer, EV_TIMEOUT, NULL));
}

static void
test_missing_source_stays_missing(void **state)
{
	(void)state;
	queue(&s1, 5, 139, false);
	queue(&s1, 6, 0, true);
	relay_defer_release(&r, &s1);
	assert_int_equal(nseen, 2);
	assert_false(seen[0].has_source);
	assert_seen(0, 5);
	assert_true(seen[1].has_source);
	assert_int_equal(seen[1].frame_len, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_held_until_release_in_order,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_ring_hands_on_oldest,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_bounds_the_wait,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_big_frame_goes_at_once_after_the_rest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_source_stays_missing,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
