/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_resolve.c: output/resolve.c, the worker-thread calls, on a real
 * libevent loop. A blocking call is played by a work function that waits
 * on a pipe the test controls; a timer proves the loop keeps running
 * meanwhile. ASan (make check) catches a job leaked or freed twice.
 */
#include <errno.h>
#include <event2/event.h>
#include <netdb.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "resolve.h"

struct job {
	int gate;		/* read end: work() blocks until it is written */
	char host[64];
	char addrs[256];
	int rc;
	atomic_int *discarded;
};

static struct event_base *base;
static int ndone, last_err;
static struct job *last_job;
static atomic_int discarded;

static void
work_wait(void *arg)
{
	struct job *j = arg;
	char c;

	if (j->gate >= 0 && read(j->gate, &c, 1) < 0)
		j->rc = -1;	/* a broken gate: the test sees the failure */
	if (j->host[0])
		j->rc = resolve_addresses(j->host, 4, j->addrs,
		    sizeof(j->addrs));
}

static void
discard(void *arg)
{
	struct job *j = arg;

	atomic_fetch_add(j->discarded, 1);
	free(j);
}

static void
done(void *arg, void *job, int err)
{
	(void)arg;
	ndone++;
	last_err = err;
	last_job = job;
	event_base_loopbreak(base);
}

static struct job *
job_new(int gate, const char *host)
{
	struct job *j = calloc(1, sizeof(*j));

	assert_non_null(j);
	j->gate = gate;
	snprintf(j->host, sizeof(j->host), "%s", host);
	j->discarded = &discarded;
	return j;
}

static int ticks;

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	ticks++;
}

/* Run the loop until done() or `ms` pass. */
static void
run(int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* Wait (bounded) for a thread to discard its job. */
static void
wait_discarded(int want)
{
	for (int i = 0; i < 500 && atomic_load(&discarded) < want; i++)
		usleep(10000);
	assert_int_equal(atomic_load(&discarded), want);
}

static int
setup(void **state)
{
	(void)state;
	base = event_base_new();
	ndone = 0;
	last_err = -1;
	last_job = NULL;
	ticks = 0;
	atomic_store(&discarded, 0);
	return base ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	event_base_free(base);
	return 0;
}

static void
lookup_localhost(void **state)
{
	struct resolve *r = resolve_new(base, done, NULL);
	struct job *j = job_new(-1, "localhost");

	(void)state;
	assert_int_equal(resolve_start(r, work_wait, discard, j, 5000), 0);
	assert_true(resolve_pending(r));
	run(5000);
	assert_int_equal(ndone, 1);
	assert_int_equal(last_err, 0);
	assert_ptr_equal(last_job, j);
	assert_int_equal(j->rc, 0);
	assert_true(strstr(j->addrs, "127.0.0.1") || strstr(j->addrs, "::1"));
	assert_false(resolve_pending(r));
	free(j);
	resolve_free(r);
}

static void
numeric(void **state)
{
	(void)state;
	assert_true(resolve_is_numeric("127.0.0.1"));
	assert_true(resolve_is_numeric("2001:db8::1"));
	assert_false(resolve_is_numeric("localhost"));
	assert_false(resolve_is_numeric("db.example"));
	assert_false(resolve_is_numeric(""));
}

static void
addresses_bounded(void **state)
{
	char buf[12];

	(void)state;
	/* "127.0.0.1" fits, a second entry would not: whole entries only.
	 * "no such host" fails in glibc itself: no query leaves. */
	assert_int_equal(resolve_addresses("127.0.0.1", 4, buf, sizeof(buf)),
	    0);
	assert_string_equal(buf, "127.0.0.1");
	assert_int_equal(resolve_addresses("127.0.0.1", 4, buf, 4),
	    EAI_OVERFLOW);
	assert_int_not_equal(resolve_addresses("no such host", 4, buf,
	    sizeof(buf)), 0);
}

/*
 * A call that hangs: the loop goes on (timer ticks), done() says
 * ETIMEDOUT, a second call is refused while the thread runs, the thread
 * discards the job when it ends, and then a new call is taken.
 */
static void
timeout_then_busy_then_free_slot(void **state)
{
	struct resolve *r = resolve_new(base, done, NULL);
	struct timeval ms20 = { 0, 20000 };
	struct event *tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
	struct job *j2;
	int gate[2];

	(void)state;
	assert_int_equal(pipe(gate), 0);
	event_add(tick, &ms20);
	assert_int_equal(resolve_start(r, work_wait, discard,
	    job_new(gate[0], ""), 300), 0);
	run(5000);
	assert_int_equal(ndone, 1);
	assert_int_equal(last_err, ETIMEDOUT);
	assert_null(last_job);
	assert_true(ticks >= 5);	/* ~15 ticks of 20 ms in 300 ms */
	assert_false(resolve_pending(r));

	j2 = job_new(-1, "");
	errno = 0;
	assert_int_equal(resolve_start(r, work_wait, discard, j2, 300), -1);
	assert_int_equal(errno, EBUSY);
	assert_int_equal(atomic_load(&discarded), 0);

	assert_int_equal(write(gate[1], "x", 1), 1);	/* the call returns */
	wait_discarded(1);
	assert_int_equal(resolve_start(r, work_wait, discard, j2, 3000), 0);
	run(3000);
	assert_int_equal(ndone, 2);
	assert_int_equal(last_err, 0);
	assert_ptr_equal(last_job, j2);
	free(j2);
	event_free(tick);
	resolve_free(r);
	close(gate[0]);
	close(gate[1]);
}

/* Freed while the thread runs: the thread discards; no done(). */
static void
free_while_running(void **state)
{
	struct resolve *r = resolve_new(base, done, NULL);
	int gate[2];

	(void)state;
	assert_int_equal(pipe(gate), 0);
	assert_int_equal(resolve_start(r, work_wait, discard,
	    job_new(gate[0], ""), 5000), 0);
	resolve_free(r);
	assert_int_equal(write(gate[1], "x", 1), 1);
	wait_discarded(1);
	run(50);
	assert_int_equal(ndone, 0);
	close(gate[0]);
	close(gate[1]);
}

/* Freed after the thread finished but before the loop saw it. */
static void
free_after_finish(void **state)
{
	struct resolve *r = resolve_new(base, done, NULL);

	(void)state;
	assert_int_equal(resolve_start(r, work_wait, discard,
	    job_new(-1, ""), 5000), 0);
	usleep(100000);		/* the thread is done, the event not run */
	resolve_free(r);
	assert_int_equal(atomic_load(&discarded), 1);
	run(50);
	assert_int_equal(ndone, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(lookup_localhost, setup,
		    teardown),
		cmocka_unit_test(numeric),
		cmocka_unit_test(addresses_bounded),
		cmocka_unit_test_setup_teardown(
		    timeout_then_busy_then_free_slot, setup, teardown),
		cmocka_unit_test_setup_teardown(free_while_running, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(free_after_finish, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
