/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon.h: becoming a well-behaved daemon. Open sockets and capture
 * handles first, then detach and drop privileges.
 */
#ifndef DAEMON_H
#define DAEMON_H

#include <stdbool.h>
#include <stddef.h>

#define DAEMON_DEFAULT_USER "omniklog"

/*
 * Fork into the background, start a new session, chdir to /, point the
 * standard descriptors at /dev/null and write our pid to pidfile ("" for
 * none; its directory is created if missing). Returns 0 in the daemon, -1
 * with a message on failure. The parent waits: it exits 0 only when the
 * daemon calls daemon_ready(), and 1 if the daemon exits before that, so
 * an init script never reports "started" for a daemon that died setting
 * itself up.
 */
int daemon_detach(const char *pidfile, char *err, size_t errlen);
/* Set-up is done (privileges dropped, outputs open): release the parent. */
void daemon_ready(void);
/*
 * Remove the pid file written by daemon_detach, if any. It is handed to the
 * unprivileged user by daemon_drop_privileges, so this works after it.
 */
void daemon_remove_pidfile(void);

/*
 * Switch to user's uid, gid and supplementary groups (setgroups,
 * setresgid, setresuid, each checked, then verified). keep_net_admin keeps
 * CAP_NET_ADMIN (for NFQUEUE) across the switch. user "" does nothing.
 * Returns 0 on success, 1 if user is the default DAEMON_DEFAULT_USER and
 * does not exist (the caller warns and goes on as it is), -1 with a message
 * on any other failure (the caller must not go on).
 */
int daemon_drop_privileges(const char *user, bool keep_net_admin, char *err,
    size_t errlen);

#endif /* DAEMON_H */
