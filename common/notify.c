/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * notify.c: the service manager's notification protocol (see
 * sd_notify(3), "the socket protocol"): one datagram of NEWLINE-separated
 * VAR=VALUE lines on the AF_UNIX socket named by $NOTIFY_SOCKET, a file
 * system path or, with a leading '@', an abstract name. Written here
 * rather than linked from libsystemd because it is a handful of lines and
 * the programs also run on systems without systemd.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "notify.h"

static struct event_base *notify_base;

int
notify_send(const char *state)
{
	struct sockaddr_un sun;
	const char *path = getenv("NOTIFY_SOCKET");
	size_t len;
	socklen_t alen;
	ssize_t n;
	int fd, saved;

	if (path == NULL || path[0] == '\0')
		return 0;
	len = strlen(path);
	/* Only a path or an abstract name: vsock and the like are not ours. */
	if ((path[0] != '/' && path[0] != '@') || len < 2 ||
	    len >= sizeof(sun.sun_path)) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, len);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	/* An abstract name is exactly len bytes; a path ends in its NUL. */
	alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
	    (path[0] == '/'));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	n = sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	    (struct sockaddr *)&sun, alen);
	saved = errno;
	close(fd);
	if (n < 0) {
		errno = saved;
		return -1;
	}
	return 0;
}

int
notify_ready(struct event_base *base)
{
	char msg[64];

	notify_base = base;
	snprintf(msg, sizeof(msg), "READY=1\nSTATUS=running\nMAINPID=%ld",
	    (long)getpid());
	return notify_send(msg);
}

static void
notify_reloaded(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	(void)notify_send("READY=1\nSTATUS=running");
}

int
notify_reloading(void)
{
	static const struct timeval now = { 0, 0 };

	if (getenv("NOTIFY_SOCKET") == NULL)
		return 0;
	if (notify_send("RELOADING=1\nSTATUS=reloading") != 0)
		return -1;
	/*
	 * The reload runs in the caller's signal handler; a zero timeout
	 * fires on the loop's next turn, after it. Without a loop, say
	 * ready at once rather than never.
	 */
	if (notify_base == NULL ||
	    event_base_once(notify_base, -1, EV_TIMEOUT, notify_reloaded,
	    NULL, &now) != 0)
		return notify_send("READY=1\nSTATUS=running");
	return 0;
}

int
notify_stopping(void)
{
	return notify_send("STOPPING=1\nSTATUS=stopping");
}
