/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_log.c: the log line format on stderr: "PROG: tag message" on a
 * terminal or file, "<N>tag message" when stderr is the journal stream
 * named by $JOURNAL_STREAM (and only then: a stale variable inherited by a
 * redirected child must not change the format).
 */
#include <setjmp.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_stderr),
		cmocka_unit_test(test_journal_stream),
		cmocka_unit_test(test_journal_stream_elsewhere),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
