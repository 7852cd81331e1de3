/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_log.c: the log line format on stderr: "PROG: tag message" on a
 * terminal or file, "<N>tag message" when stderr is the journal stream
 * named by $JOURNAL_STREAM (and only then: a stale variable inherited by a
 * redirected child must not change the format). A socket that stops
 * taking lines (journald's) loses whole lines, counted, never a part.
 */
#include <setjmp.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"

static char path[] = "/tmp/omniklog-log-XXXXXX";
static int saved_stderr = -1;

/* Point fd 2 at a fresh file; returns its "dev:ino" in js. */
static void
capture_start(char *js, size_t n)
{
	struct stat st;
	int fd;

	strcpy(path, "/tmp/omniklog-log-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	assert_true(saved_stderr >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
	assert_int_equal(fstat(STDERR_FILENO, &st), 0);
	snprintf(js, n, "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino);
}

/* Restore fd 2 and return what was written (static buffer). */
static const char *
capture_end(void)
{
	static char buf[4096];
	FILE *fp;
	size_t n;

	fflush(stderr);
	assert_int_equal(dup2(saved_stderr, STDERR_FILENO), STDERR_FILENO);
	close(saved_stderr);
	fp = fopen(path, "r");
	assert_non_null(fp);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	unlink(path);
	return buf;
}

static void
log_some(void)
{
	errno = ENOENT;
	log_warn("open %s", "x.csv");
	log_warnx("bad frame %d", 7);
	log_info("started");
	log_debug("frame");
}

static void
test_plain_stderr(void **state)
{
	char js[64];

	(void)state;
	unsetenv("JOURNAL_STREAM");
	capture_start(js, sizeof(js));
	log_init("omnik-test", true, 1);
	log_some();
	assert_string_equal(capture_end(),
	    "omnik-test: warning: open x.csv: No such file or directory\n"
	    "omnik-test: warning: bad frame 7\n"
	    "omnik-test: started\n"
	    "omnik-test: debug: frame\n");
}

static void
test_journal_stream(void **state)
{
	char js[64];

	(void)state;
	capture_start(js, sizeof(js));
	setenv("JOURNAL_STREAM", js, 1);
	log_init("omnik-test", true, 1);
	log_some();
	unsetenv("JOURNAL_STREAM");
	assert_string_equal(capture_end(),
	    "<4>warning: open x.csv: No such file or directory\n"
	    "<4>warning: bad frame 7\n"
	    "<6>started\n"
	    "<7>debug: frame\n");
}

/* The variable names another stream: ours was redirected. */
static void
test_journal_stream_elsewhere(void **state)
{
	char js[64], other[80];

	(void)state;
	capture_start(js, sizeof(js));
	snprintf(other, sizeof(other), "%s1", js);
	setenv("JOURNAL_STREAM", other, 1);
	log_init("omnik-test", true, 0);
	log_warnx("bad frame %d", 7);
	log_debug("not shown");
	setenv("JOURNAL_STREAM", "garbage", 1);
	log_init("omnik-test", true, 0);
	log_info("started");
	unsetenv("JOURNAL_STREAM");
	assert_string_equal(capture_end(),
	    "omnik-test: warning: bad frame 7\n"
	    "omnik-test: started\n");
}

/* Everything the socket holds, read without waiting, appended to buf. */
static size_t
drain_socket(int fd, char *buf, size_t len, size_t size)
{
	ssize_t n;

	while (len < size - 1 &&
	    (n = recv(fd, buf + len, size - 1 - len, MSG_DONTWAIT)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	return len;
}

/*
 * stderr a socket nobody reads: log calls return at once; the lines the
 * socket took are whole, and the ones it did not are counted exactly in
 * the notice that comes before the next line that goes through.
 */
static void
test_socket_full(void **state)
{
	static char buf[1 << 20];
	int sv[2], sndbuf = 4096, lines = 0, dropped = 0, total = 2000;
	size_t len = 0;
	char *p, *q, *notice;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf,
	    sizeof(sndbuf)), 0);
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	assert_int_equal(dup2(sv[1], STDERR_FILENO), STDERR_FILENO);
	close(sv[1]);
	unsetenv("JOURNAL_STREAM");
	log_init("omnik-test", true, 0);
	/* Half of them in one turn's hold, as the loop writes them. */
	log_hold(true);
	for (int i = 0; i < total / 2; i++)
		log_info("line %d of a log nobody reads, padded to be long "
		    "enough to fill the socket's buffer soon", i);
	log_hold(false);
	for (int i = total / 2; i < total; i++)
		log_info("line %d of a log nobody reads, padded to be long "
		    "enough to fill the socket's buffer soon", i);
	len = drain_socket(sv[0], buf, len, sizeof(buf));
	log_info("after");
	len = drain_socket(sv[0], buf, len, sizeof(buf));
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	close(sv[0]);
	notice = NULL;
	for (p = buf; *p != '\0'; p = q + 1) {
		q = strchr(p, '\n');
		assert_non_null(q);	/* every line ends */
		if (strncmp(p, "omnik-test: line ", 17) == 0) {
			lines++;
			continue;
		}
		if (sscanf(p, "omnik-test: warning: log: %d lines dropped",
		    &dropped) == 1) {
			notice = p;
			continue;
		}
		assert_true(strncmp(p, "omnik-test: after\n", 18) == 0);
		assert_non_null(notice);	/* the notice came first */
	}
	assert_true(dropped > 0);
	assert_int_equal(lines + dropped, total);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_stderr),
		cmocka_unit_test(test_journal_stream),
		cmocka_unit_test(test_journal_stream_elsewhere),
		cmocka_unit_test(test_socket_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
