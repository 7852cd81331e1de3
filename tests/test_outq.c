/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_outq.c: standard output off the loop (common/outq.h), on a real
 * pipe: lines arrive whole and in order; a reader that stops costs the
 * lines that come while the queue is full and until it has taken half,
 * counted; a reader that is gone is an error and nothing blocks; and
 * outq_free returns within its bound when the reader never comes back.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "outq.h"

static double
now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A 100-byte line numbered i. */
static void
line(char *buf, int i)
{
	memset(buf, 'x', 100);
	snprintf(buf, 100, "line %06d ", i);
	buf[strlen(buf)] = 'x';
	buf[99] = '\n';
}

/* Reads exactly n bytes (with a deadline): 0 if they came. */
static int
read_n(int fd, char *buf, size_t n)
{
	double until = now_s() + 5;
	size_t got = 0;

	while (got < n && now_s() < until) {
		ssize_t r = read(fd, buf + got, n - got);

		if (r > 0)
			got += (size_t)r;
		else if (r < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		else
			usleep(1000);
	}
	return got == n ? 0 : -1;
}

static void
test_in_order(void **state)
{
	int fds[2];
	char want[100 * 50], got[100 * 50];
	struct outq *q;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
	q = outq_new(fds[1], 4096);
	assert_non_null(q);
	for (int i = 0; i < 50; i++) {
		line(want + 100 * i, i);
		/* The queue holds 40 lines: wait for room now and then. */
		while (outq_pending(q) > 4096 - 100)
			usleep(100);
		assert_int_equal(outq_put(q, want + 100 * i, 100), 0);
	}
	assert_int_equal(read_n(fds[0], got, sizeof(got)), 0);
	assert_memory_equal(got, want, sizeof(want));
	assert_int_equal(outq_take_dropped(q), 0);
	assert_int_equal(outq_error(q), 0);
	outq_free(q, 1000);
	close(fds[0]);
	close(fds[1]);
}

static void
test_stalled_reader(void **state)
{
	int fds[2], i, put = 0, psz;
	char l[100], sink[1 << 17];
	struct outq *q;
	ssize_t got;
	double t0;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
	/* The smallest pipe: a page (4 KiB, or 64 KiB on some kernels). */
	psz = fcntl(fds[1], F_SETPIPE_SZ, 4096);
	assert_true(psz > 0);
	q = outq_new(fds[1], 2000);
	assert_non_null(q);
	/* Nothing reads: the pipe, then the queue's 2000 bytes fill. */
	for (i = 0; i < (psz + 2000) / 100 + 100; i++) {
		line(l, i);
		if (outq_put(q, l, 100) == 0)
			put++;
		usleep(200);
	}
	assert_true(put > 0 && put <= (psz + 2000) / 100 + 1);
	assert_int_equal((int)outq_take_dropped(q), i - put);
	assert_int_equal(outq_take_dropped(q), 0);
	assert_int_equal(outq_error(q), 0);

	/*
	 * Take the pipe's page: the queue drains into it, below half, and
	 * lines go in again, whole: every byte read is from a whole line.
	 */
	got = read(fds[0], sink, sizeof(sink));
	assert_true(got >= 100 && got % 100 == 0);
	for (ssize_t at = 0; at < got; at += 100)
		assert_true(memcmp(sink + at, "line ", 5) == 0 &&
		    sink[at + 99] == '\n');
	t0 = now_s();
	while (outq_pending(q) > 1000 && now_s() < t0 + 5)
		usleep(1000);
	line(l, 999);
	assert_int_equal(outq_put(q, l, 100), 0);

	/*
	 * A reader that never comes back: the pipe and the queue full again,
	 * the writer blocked in write(); outq_free keeps to its bound.
	 */
	for (i = 0; i < 200 && outq_put(q, l, 100) == 0; i++)
		usleep(200);
	assert_true(i < 200);
	assert_true(outq_pending(q) > 0);
	t0 = now_s();
	outq_free(q, 200);
	assert_true(now_s() - t0 < 1.5);
	/*
	 * The reader goes: the abandoned write fails, the thread frees q.
	 * The write end stays open: the thread may still be writing it.
	 */
	close(fds[0]);
}

/*
 * Every write whole lines, also across the ring's end: a datagram
 * socket shows each write as it was made.
 */
static void
test_writes_whole_lines(void **state)
{
	int sv[2], lines = 0;
	char l[150], msg[8192];
	struct outq *q;
	ssize_t n;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	q = outq_new(sv[1], 1000);	/* 150-byte lines: some straddle */
	assert_non_null(q);
	for (int i = 0; i < 200; i++) {
		memset(l, 'y', sizeof(l));
		snprintf(l, sizeof(l), "%05d ", i);
		l[6] = 'y';
		l[149] = '\n';
		while (outq_pending(q) > 1000 - 150)
			usleep(100);
		assert_int_equal(outq_put(q, l, sizeof(l)), 0);
		while ((n = recv(sv[0], msg, sizeof(msg), MSG_DONTWAIT)) > 0) {
			assert_true(n % 150 == 0 && n <= PIPE_BUF);
			for (ssize_t at = 0; at < n; at += 150) {
				char want[12];

				snprintf(want, sizeof(want), "%05d", lines++);
				assert_memory_equal(msg + at, want, 5);
				assert_true(msg[at + 149] == '\n');
			}
		}
	}
	outq_free(q, 1000);
	while ((n = recv(sv[0], msg, sizeof(msg), MSG_DONTWAIT)) > 0) {
		assert_true(n % 150 == 0);
		lines += (int)(n / 150);
	}
	assert_int_equal(lines, 200);
	close(sv[0]);
	close(sv[1]);
}

/* A standard output someone made non-blocking: waited for, not lost. */
static void
test_nonblocking_fd(void **state)
{
	int fds[2];
	char want[100 * 100], got[100 * 100];
	struct outq *q;

	(void)state;
	assert_int_equal(pipe2(fds, O_NONBLOCK), 0);
	assert_true(fcntl(fds[1], F_SETPIPE_SZ, 4096) > 0);
	q = outq_new(fds[1], 1 << 16);
	assert_non_null(q);
	for (int i = 0; i < 100; i++) {
		line(want + 100 * i, i);
		assert_int_equal(outq_put(q, want + 100 * i, 100), 0);
	}
	usleep(50000);		/* the pipe full, the writer waiting */
	assert_int_equal(read_n(fds[0], got, sizeof(got)), 0);
	assert_memory_equal(got, want, sizeof(want));
	assert_int_equal(outq_error(q), 0);
	outq_free(q, 1000);
	close(fds[0]);
	close(fds[1]);
}

static void
test_reader_gone(void **state)
{
	int fds[2];
	char l[100];
	struct outq *q;
	double t0;

	(void)state;
	signal(SIGPIPE, SIG_IGN);	/* as the programs do */
	assert_int_equal(pipe(fds), 0);
	q = outq_new(fds[1], 4096);
	assert_non_null(q);
	close(fds[0]);
	line(l, 1);
	assert_int_equal(outq_put(q, l, 100), 0);	/* queued */
	t0 = now_s();
	while (outq_error(q) == 0 && now_s() < t0 + 5)
		usleep(1000);
	assert_int_equal(outq_error(q), EPIPE);
	assert_int_equal(outq_put(q, l, 100), -1);
	assert_int_equal(outq_take_dropped(q), 0);	/* failed, not full */
	outq_free(q, 1000);
	close(fds[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_order),
		cmocka_unit_test(test_stalled_reader),
		cmocka_unit_test(test_writes_whole_lines),
		cmocka_unit_test(test_nonblocking_fd),
		cmocka_unit_test(test_reader_gone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
