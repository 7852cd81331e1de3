/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_notify.c: the service manager notifications, received on a real
 * AF_UNIX datagram socket as systemd would: a path and an abstract name,
 * READY=1 with our pid, STOPPING=1, and RELOADING=1 followed by READY=1
 * only once the loop has turned (after the reload handler returned).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/event.h>

#include "notify.h"

static char dir[] = "/tmp/omniklog-notify-XXXXXX";
static char sockpath[128];

/* A bound, non-blocking datagram socket; name "@..." is abstract. */
static int
listener(const char *name)
{
	struct sockaddr_un sun;
	size_t len = strlen(name);
	socklen_t alen;
	int fd;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	assert_true(fd >= 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, name, len);
	alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	if (name[0] == '@')
		sun.sun_path[0] = '\0';
	else
		alen++;
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, alen), 0);
	return fd;
}

/* The next datagram, or "" if none is waiting. */
static const char *
next_msg(int fd)
{
	static char buf[512];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

	if (n < 0) {
		assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
		n = 0;
	}
	buf[n] = '\0';
	return buf;
}

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(sockpath, sizeof(sockpath), "%s/notify", dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(sockpath);
	rmdir(dir);
	unsetenv("NOTIFY_SOCKET");
	return 0;
}

static void
test_no_manager(void **state)
{
	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(notify_ready(NULL), 0);
	assert_int_equal(notify_reloading(), 0);
	assert_int_equal(notify_stopping(), 0);
}

static void
test_path_socket(void **state)
{
	struct event_base *base = event_base_new();
	char want[64];
	int fd;

	(void)state;
	assert_non_null(base);
	fd = listener(sockpath);
	setenv("NOTIFY_SOCKET", sockpath, 1);

	assert_int_equal(notify_ready(base), 0);
	snprintf(want, sizeof(want), "READY=1\nSTATUS=running\nMAINPID=%ld",
	    (long)getpid());
	assert_string_equal(next_msg(fd), want);
	assert_string_equal(next_msg(fd), "");

	assert_int_equal(notify_reloading(), 0);
	assert_string_equal(next_msg(fd), "RELOADING=1\nSTATUS=reloading");
	/* Still reloading until the loop turns. */
	assert_string_equal(next_msg(fd), "");
	assert_int_equal(event_base_loop(base, EVLOOP_ONCE), 0);
	assert_string_equal(next_msg(fd), "READY=1\nSTATUS=running");

	assert_int_equal(notify_stopping(), 0);
	assert_string_equal(next_msg(fd), "STOPPING=1\nSTATUS=stopping");
	assert_string_equal(next_msg(fd), "");

	close(fd);
	unlink(sockpath);
	/* The manager went away: an error, not a crash or a block. */
	assert_int_equal(notify_stopping(), -1);
	event_base_free(base);
}

static void
test_abstract_socket(void **state)
{
	char name[64];
	int fd;

	(void)state;
	snprintf(name, sizeof(name), "@omniklog-test-notify-%ld",
	    (long)getpid());
	fd = listener(name);
	setenv("NOTIFY_SOCKET", name, 1);
	assert_int_equal(notify_stopping(), 0);
	assert_string_equal(next_msg(fd), "STOPPING=1\nSTATUS=stopping");
	/* No loop given: READY=1 follows RELOADING=1 at once. */
	assert_int_equal(notify_ready(NULL), 0);
	(void)next_msg(fd);
	assert_int_equal(notify_reloading(), 0);
	assert_string_equal(next_msg(fd), "RELOADING=1\nSTATUS=reloading");
	assert_string_equal(next_msg(fd), "READY=1\nSTATUS=running");
	close(fd);
}

static void
test_bad_socket_names(void **state)
{
	(void)state;
	setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
	assert_int_equal(notify_stopping(), -1);
	setenv("NOTIFY_SOCKET", "@", 1);
	assert_int_equal(notify_stopping(), -1);
	setenv("NOTIFY_SOCKET", "", 1);
	assert_int_equal(notify_stopping(), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_manager),
		cmocka_unit_test(test_path_socket),
		cmocka_unit_test(test_abstract_socket),
		cmocka_unit_test(test_bad_socket_names),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
