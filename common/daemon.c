/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon.c: detach, pid file, privilege drop.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>

#include "daemon.h"

static char pidfile_path[PATH_MAX];
static bool pidfile_dir_made;	/* we made its directory: hand it over too */
static int ready_fd = -1;	/* the parent waits for a byte on it */

static int
write_pidfile(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX], buf[32];
	char *slash;
	int fd, n;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) == 0) {
			pidfile_dir_made = true;
		} else if (errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s: %s", dir,
			    strerror(errno));
			return -1;
		}
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "cannot write pid file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (write(fd, buf, (size_t)n) != n) {
		snprintf(err, errlen, "cannot write pid file %s: %s", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	snprintf(pidfile_path, sizeof(pidfile_path), "%s", path);
	return 0;
}

int
daemon_detach(const char *pidfile, char *err, size_t errlen)
{
	int pipefd[2], fd;
	pid_t pid;
	char ok;

	/* The parent waits for the daemon's word that the pid file exists. */
	if (pipe2(pipefd, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid > 0) {
		close(pipefd[1]);
		if (read(pipefd[0], &ok, 1) == 1)
			_exit(0);
		_exit(1);	/* the daemon reported its own error */
	}
	close(pipefd[0]);
	if (setsid() < 0) {
		snprintf(err, errlen, "setsid: %s", strerror(errno));
		return -1;
	}
	/* A second fork: never reacquire a controlling terminal. */
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid > 0)
		_exit(0);
	if (chdir("/") != 0) {
		snprintf(err, errlen, "chdir /: %s", strerror(errno));
		return -1;
	}
	umask(022);
	if (pidfile != NULL && pidfile[0] != '\0' &&
	    write_pidfile(pidfile, err, errlen) != 0)
		return -1;
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	ready_fd = pipefd[1];
	/* A daemon that dies (fatal) leaves no pid file for a later stop. */
	atexit(daemon_remove_pidfile);
	return 0;
}

void
daemon_ready(void)
{
	char ok = 1;

	if (ready_fd < 0)
		return;
	(void)!write(ready_fd, &ok, 1);
	close(ready_fd);
	ready_fd = -1;
}

void
daemon_remove_pidfile(void)
{
	if (pidfile_path[0] != '\0')
		unlink(pidfile_path);
	pidfile_path[0] = '\0';
}

/* Keep only CAP_NET_ADMIN in the permitted and effective sets. */
static int
keep_only_net_admin(char *err, size_t errlen)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	data[0].permitted = data[0].effective = 1u << CAP_NET_ADMIN;
	if (syscall(SYS_capset, &hdr, data) != 0) {
		snprintf(err, errlen, "capset(CAP_NET_ADMIN): %s",
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
daemon_drop_privileges(const char *user, bool keep_net_admin, char *err,
    size_t errlen)
{
	struct passwd *pw;
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (user == NULL || user[0] == '\0')
		return 0;
	errno = 0;
	pw = getpwnam(user);
	if (pw == NULL) {
		snprintf(err, errlen, "user '%s' does not exist%s", user,
		    strcmp(user, DAEMON_DEFAULT_USER) == 0 ?
		    " (create it with: useradd --system --no-create-home "
		    "--shell /usr/sbin/nologin omniklog)" : "");
		return strcmp(user, DAEMON_DEFAULT_USER) == 0 ? 1 : -1;
	}
	if (pw->pw_uid == 0) {
		snprintf(err, errlen, "user '%s' is root: refusing", user);
		return -1;
	}
	/* The daemon removes its pid file at exit, as this user. */
	if (pidfile_path[0] != '\0') {
		char dir[PATH_MAX], *slash;

		(void)!chown(pidfile_path, pw->pw_uid, pw->pw_gid);
		snprintf(dir, sizeof(dir), "%s", pidfile_path);
		slash = strrchr(dir, '/');
		if (pidfile_dir_made && slash != NULL && slash != dir) {
			*slash = '\0';
			(void)!chown(dir, pw->pw_uid, pw->pw_gid);
		}
	}
	if (keep_net_admin && prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) != 0) {
		snprintf(err, errlen, "prctl(PR_SET_KEEPCAPS): %s",
		    strerror(errno));
		return -1;
	}
	if (setgroups(1, &pw->pw_gid) != 0) {
		snprintf(err, errlen, "setgroups: %s", strerror(errno));
		return -1;
	}
	if (setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) != 0) {
		snprintf(err, errlen, "setresgid(%lu): %s",
		    (unsigned long)pw->pw_gid, strerror(errno));
		return -1;
	}
	if (setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0) {
		snprintf(err, errlen, "setresuid(%lu): %s",
		    (unsigned long)pw->pw_uid, strerror(errno));
		return -1;
	}
	/* Verify: a drop that silently failed is worse than none. */
	if (getresgid(&rg, &eg, &sg) != 0 || rg != pw->pw_gid ||
	    eg != pw->pw_gid || sg != pw->pw_gid ||
	    getresuid(&ru, &eu, &su) != 0 || ru != pw->pw_uid ||
	    eu != pw->pw_uid || su != pw->pw_uid) {
		snprintf(err, errlen, "privileges still held after the drop");
		return -1;
	}
	if (keep_net_admin) {
		if (keep_only_net_admin(err, errlen) != 0)
			return -1;
		(void)prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L);
	}
	return 0;
}
