/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_delivery.c: the cursor framework every remote output stands on,
 * with a scripted output on a real event loop and a real journal: rows in
 * id order and in batches, the cursor saved only past rows reported done,
 * exponential back-off with its cap, a wait until a given time, a stop
 * that never retries, a restart that resumes, filtering by inverter;
 * rows of an open journal batch are never handed over before
 * the commit, which wakes the delivery.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "delivery.h"
#include "journal.h"
#include "journal_int.h"	/* journal_begin, journal_set_notify */

#define MAX_CALLS 64

struct script {
	struct delivery *d;
	struct event_base *base;
	/* What to answer to call i: rows done, result, and wait seconds. */
	int done[MAX_CALLS];
	enum delivery_result res[MAX_CALLS];
	int calls;
	int64_t first_id[MAX_CALLS], last_id[MAX_CALLS];
	int n[MAX_CALLS];
	double at[MAX_CALLS];
	bool freed;
	int stop_after;		/* loopbreak after this many calls */
};

static char dir[64], path[128];

static double
now_s(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static int
s_send(void *ctx, const struct journal_row *rows, int n)
{
	struct script *s = ctx;
	int i = s->calls++;
	int done;

	s->first_id[i] = rows[0].id;
	s->last_id[i] = rows[n - 1].id;
	s->n[i] = n;
	s->at[i] = now_s();
	done = s->done[i] < 0 ? n : s->done[i];
	delivery_done(s->d, done, s->res[i], s->res[i] == DELIVERY_WAIT ?
	    time(NULL) + 1 : 0);
	if (s->calls >= s->stop_after)
		event_base_loopbreak(s->base);
	return 0;
}

static void
s_free(void *ctx)
{
	struct script *s = ctx;

	s->freed = true;
}

static const struct delivery_ops ops = { s_send, s_free };

static struct journal *
open_j(void)
{
	struct journal_opts o = { 0 };
	char err[256];
	struct journal *j = journal_open(path, &o, err, sizeof(err));

	if (j == NULL)
		fail_msg("%s", err);
	return j;
}

static void
add_rows(struct journal *j, int n, const char *inverter)
{
	struct omnik_reading r;
	const char *e;

	omnik_reading_clear(&r);
	snprintf(r.inverter_sn, sizeof(r.inverter_sn), "%s", inverter);
	for (int i = 0; i < n; i++) {
		struct record rec = { .reading = &r, .when = { 1000 + i, 0 } };

		r.value[OMNIK_PAC1] = i;
		assert_int_equal(journal_add(j, &rec, &e), 0);
	}
}

static struct delivery *
start(struct script *s, struct journal *j, const char *inverter, int batch)
{
	struct delivery_opts o = { .name = inverter ? inverter : "test",
	    .inverter = inverter, .batch = batch, .backoff_min_ms = 20,
	    .backoff_max_ms = 80 };
	char err[256];

	s->d = delivery_new(j, s->base, &o, &ops, s, err, sizeof(err));
	if (s->d == NULL)
		fail_msg("%s", err);
	return s->d;
}

static void
run(struct script *s, int calls)
{
	struct timeval limit = { 5, 0 };

	s->stop_after = calls;
	event_base_loopexit(s->base, &limit);
	event_base_dispatch(s->base);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/omk-test-delivery-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/j.db", dir);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[160];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static void
script_init(struct script *s)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < MAX_CALLS; i++) {
		s->done[i] = -1;
		s->res[i] = DELIVERY_OK;
	}
	s->base = event_base_new();
	assert_non_null(s->base);
}

static void
batches_in_order(void **state)
{
	struct journal *j = open_j();
	struct script s;
	int64_t pos;
	const char *e;

	(void)state;
	script_init(&s);
	add_rows(j, 25, "A");
	start(&s, j, NULL, 10);
	run(&s, 3);
	assert_int_equal(s.calls, 3);
	assert_int_equal(s.first_id[0], 1);
	assert_int_equal(s.last_id[0], 10);
	assert_int_equal(s.first_id[1], 11);
	assert_int_equal(s.first_id[2], 21);
	assert_int_equal(s.n[2], 5);
	assert_int_equal(delivery_backlog(s.d), 0);
	assert_int_equal(journal_cursor_get(j, "test", NULL, 0, &pos, &e), 0);
	assert_int_equal(pos, 25);
	/* New rows wake it up. */
	add_rows(j, 2, "A");
	delivery_kick(s.d);
	run(&s, 4);
	assert_int_equal(s.first_id[3], 26);
	assert_int_equal(s.n[3], 2);
	delivery_free(s.d);
	assert_true(s.freed);
	journal_close(j);
	event_base_free(s.base);
}

static void
backoff_doubles_to_cap(void **state)
{
	struct journal *j = open_j();
	struct script s;
	int64_t pos;
	const char *e;

	(void)state;
	script_init(&s);
	add_rows(j, 10, "A");
	/* Call 0: 3 rows done then failure; 1..4 fail; 5 succeeds. */
	s.done[0] = 3;
	for (int i = 0; i < 5; i++)
		s.res[i] = DELIVERY_RETRY;
	for (int i = 1; i < 5; i++)
		s.done[i] = 0;
	start(&s, j, NULL, 10);
	run(&s, 6);
	assert_int_equal(s.calls, 6);
	/* The partial success moved the cursor; retries start after it. */
	assert_int_equal(s.first_id[1], 4);
	assert_int_equal(s.first_id[5], 4);
	/* Gaps: 20, 40, 80, 80, 80 ms (the cap), with scheduling slack. */
	{
		const double want[] = { 0.020, 0.040, 0.080, 0.080, 0.080 };

		for (int i = 0; i < 5; i++) {
			double gap = s.at[i + 1] - s.at[i];

			if (gap < want[i] * 0.9 || gap > want[i] + 0.5)
				fail_msg("retry %d after %.3f s, want %.3f s",
				    i, gap, want[i]);
		}
	}
	assert_int_equal(journal_cursor_get(j, "test", NULL, 0, &pos, &e), 0);
	assert_int_equal(pos, 10);
	delivery_free(s.d);
	journal_close(j);
	event_base_free(s.base);
}

static void
wait_and_stop(void **state)
{
	struct journal *j = open_j();
	struct script s;

	(void)state;
	script_init(&s);
	add_rows(j, 4, "A");
	s.done[0] = 1;
	s.res[0] = DELIVERY_WAIT;	/* until the next second */
	s.done[1] = 0;
	s.res[1] = DELIVERY_STOP;
	start(&s, j, NULL, 2);
	run(&s, 2);
	assert_int_equal(s.calls, 2);
	assert_true(s.at[1] - s.at[0] > 0.0);
	assert_int_equal((int64_t)s.at[1], (int64_t)s.at[0] + 1);
	assert_int_equal(s.first_id[1], 2);
	/* Stopped: no backlog to wait for, and kicks do nothing. */
	assert_int_equal(delivery_backlog(s.d), 0);
	delivery_kick(s.d);
	run(&s, 3);
	assert_int_equal(s.calls, 2);
	delivery_free(s.d);
	journal_close(j);
	event_base_free(s.base);
}

static void
resumes_after_restart(void **state)
{
	struct journal *j = open_j();
	struct script s;

	(void)state;
	script_init(&s);
	add_rows(j, 6, "A");
	s.done[0] = 4;
	s.res[0] = DELIVERY_RETRY;
	start(&s, j, NULL, 10);
	run(&s, 1);
	delivery_free(s.d);	/* the program stops */
	journal_close(j);
	event_base_free(s.base);

	j = open_j();
	script_init(&s);
	start(&s, j, NULL, 10);
	assert_int_equal(delivery_backlog(s.d), 2);
	run(&s, 1);
	assert_int_equal(s.first_id[0], 5);
	assert_int_equal(s.n[0], 2);
	delivery_free(s.d);
	journal_close(j);
	event_base_free(s.base);
}

static void
one_inverter_only(void **state)
{
	struct journal *j = open_j();
	struct script s;

	(void)state;
	script_init(&s);
	add_rows(j, 3, "A");
	add_rows(j, 3, "B");
	add_rows(j, 3, "A");
	start(&s, j, "B", 10);
	run(&s, 1);
	assert_int_equal(s.first_id[0], 4);
	assert_int_equal(s.last_id[0], 6);
	assert_int_equal(s.n[0], 3);
	assert_int_equal(delivery_backlog(s.d), 0);
	delivery_free(s.d);
	journal_close(j);
	event_base_free(s.base);
}

static void
kick_delivery(void *arg)
{
	delivery_kick(arg);
}

static void
never_sends_uncommitted(void **state)
{
	struct journal *j = open_j();
	struct script s;
	const char *e;

	(void)state;
	script_init(&s);
	add_rows(j, 3, "A");
	start(&s, j, NULL, 10);
	journal_set_notify(j, kick_delivery, s.d);
	/* A batch stays open until we commit it. */
	assert_int_equal(journal_begin(j, &e), 0);
	add_rows(j, 2, "A");
	assert_int_equal(delivery_backlog(s.d), 3);
	delivery_kick(s.d);
	run(&s, 1);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.first_id[0], 1);
	assert_int_equal(s.last_id[0], 3);
	/* Rounds go by: nothing more is sent while the batch is open. */
	for (int i = 0; i < 20; i++)
		(void)event_base_loop(s.base, EVLOOP_NONBLOCK);
	assert_int_equal(s.calls, 1);
	assert_int_equal(delivery_backlog(s.d), 0);
	/* The commit wakes it; the rest follows. */
	assert_int_equal(journal_commit(j, &e), 0);
	run(&s, 2);
	assert_int_equal(s.calls, 2);
	assert_int_equal(s.first_id[1], 4);
	assert_int_equal(s.last_id[1], 5);
	journal_set_notify(j, NULL, NULL);
	delivery_free(s.d);
	journal_close(j);
	event_base_free(s.base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(batches_in_order, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(backoff_doubles_to_cap, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(wait_and_stop, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(resumes_after_restart, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(never_sends_uncommitted, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(one_inverter_only, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
