/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon.h: becoming a well-behaved daemon. Open sockets and capture
 * handles first, then detach and drop privileges.
 *
 * What root does here is safe against the service user: root never
 * writes into, creates in or chowns anything inside a directory another
 * user can write (the pid file's directory and every one above it must be
 * root's, or ours, and not writable by others), and a dropped process
 * keeps no capability it does not name and can gain none (no_new_privs,
 * an empty bounding set).
 */
#ifndef DAEMON_H
#define DAEMON_H

#include <stdbool.h>
#include <stddef.h>

#define DAEMON_DEFAULT_USER "omniklog"

/*
 * Fork into the background, start a new session, chdir to /, point the
 * standard descriptors at /dev/null and write our pid to pidfile ("" for
 * none). Returns 0 in the daemon, -1 with a message on failure. The
 * parent waits: it exits 0 only when the daemon calls daemon_ready(), and
 * 1 if the daemon exits before that, so an init script never reports
 * "started" for a daemon that died setting itself up.
 *
 * The pid file's directory is created (0755, owned by whoever we are) if
 * missing; it, and every directory above it, must belong to root or to
 * us and not be writable by group or others, or the start is refused.
 * The file is opened without following symbolic links, must be a regular
 * file of ours with one link, and stays locked (flock) while the daemon
 * runs: a second daemon on the same pid file is refused.
 */
int daemon_detach(const char *pidfile, char *err, size_t errlen);
/* Set-up is done (privileges dropped, outputs open): release the parent. */
void daemon_ready(void);
/*
 * Remove the pid file written by daemon_detach, if any. After a privilege
 * drop the directory is not ours to remove it from: the file is emptied
 * instead (through the descriptor kept open), so it names no process.
 */
void daemon_remove_pidfile(void);

/* Does user exist in the user database? */
bool daemon_user_exists(const char *user);

/*
 * Switch to user's uid, gid and supplementary groups: setgroups,
 * setresgid, setresuid, each checked, then verified. Before the switch the
 * capability bounding set is emptied (if it holds CAP_SETPCAP: a service
 * manager that took that away set the bounding set itself); after it,
 * no_new_privs is set. keep_net_admin keeps CAP_NET_ADMIN (for NFQUEUE)
 * in the permitted set only: daemon_net_admin() raises it for the calls
 * that need it. user "" or a user whose uid is 0 (root) does nothing:
 * that is how to run as root on purpose. Returns 0 on success, -1 with a
 * message on any failure, a missing user included (the caller must not
 * go on).
 */
int daemon_drop_privileges(const char *user, bool keep_net_admin, char *err,
    size_t errlen);

/*
 * Raise (on) or lower CAP_NET_ADMIN in the effective set, when
 * daemon_drop_privileges kept it; a no-op otherwise. 0, or -1 (errno).
 */
int daemon_net_admin(bool on);

#endif /* DAEMON_H */
