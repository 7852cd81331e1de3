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
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>

#include "daemon.h"

static char pidfile_path[PATH_MAX];
static char pidfile_name[NAME_MAX + 1];
static int pidfile_fd = -1;	/* held open (and locked) while we run */
static int piddir_fd = -1;	/* O_PATH: where pidfile_name is */
static int ready_fd = -1;	/* the parent waits for a byte on it */
static bool net_admin_kept;	/* permitted, raised only on demand */

/*
 * May root put a file in, or create a directory in, the directory fd
 * (path names it in messages)? Only if nobody else can change what is
 * there: it belongs to root or to us, and neither group nor others can
 * write it. A sticky directory such as /tmp is good enough on the way
 * (nobody can rename or remove our entries in it), not as the pid file's
 * own directory.
 */
static int
dir_trusted(int fd, const char *path, bool last, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(err, errlen, "%s belongs to uid %lu, not to root: "
		    "refusing to write a pid file under it (remove it, or "
		    "choose another pidfile)", path, (unsigned long)st.st_uid);
		return -1;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 &&
	    (last || (st.st_mode & S_ISVTX) == 0)) {
		snprintf(err, errlen, "%s is writable by %s: refusing to write "
		    "a pid file under it (chmod go-w it, or choose another "
		    "pidfile)", path, (st.st_mode & S_IWOTH) ? "anyone" :
		    "its group");
		return -1;
	}
	return 0;
}

/*
 * Open the directory dir, creating its last component if missing, one
 * component at a time without following symbolic links, each checked by
 * dir_trusted. The path is resolved first (realpath): a link on the way,
 * such as /var/run -> /run, is fine, because what is checked is where it
 * leads, and every step of that is one only root (or we) can change.
 * Returns an O_PATH descriptor, or -1 with a message.
 */
static int
open_trusted_dir(const char *dir, char *err, size_t errlen)
{
	char real[PATH_MAX], walk[PATH_MAX], *comp, *save = NULL;
	int fd, nfd;
	size_t wl = 0;

	if (realpath(dir, real) == NULL) {
		char parent[PATH_MAX], *slash;

		/* Only the last component may be missing: we make it. */
		snprintf(parent, sizeof(parent), "%s", dir);
		slash = strrchr(parent, '/');
		if (errno != ENOENT || slash == NULL) {
			snprintf(err, errlen, "%s: %s", dir, strerror(errno));
			return -1;
		}
		*slash = '\0';
		if (realpath(parent[0] ? parent : "/", real) == NULL) {
			snprintf(err, errlen, "%s: %s", parent[0] ? parent :
			    "/", strerror(errno));
			return -1;
		}
		if (strlen(real) + strlen(slash + 1) + 2 > sizeof(real)) {
			snprintf(err, errlen, "%s: path too long", dir);
			return -1;
		}
		if (strcmp(real, "/") != 0)
			strcat(real, "/");
		strcat(real, slash + 1);
	}
	fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "/: %s", strerror(errno));
		return -1;
	}
	walk[0] = '\0';
	for (comp = strtok_r(real, "/", &save); comp != NULL;
	    comp = strtok_r(NULL, "/", &save)) {
		/* The one we are in is a way through: sticky will do. */
		if (dir_trusted(fd, walk[0] ? walk : "/", false, err,
		    errlen) != 0)
			goto fail;
		wl += (size_t)snprintf(walk + wl, sizeof(walk) - wl, "/%s",
		    comp);
		if (wl >= sizeof(walk)) {
			snprintf(err, errlen, "%s: path too long", dir);
			goto fail;
		}
		nfd = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (nfd < 0 && errno == ENOENT &&
		    (save == NULL || save[strspn(save, "/")] == '\0')) {
			/* The last one only: we make it, root's, 0755. */
			if (mkdirat(fd, comp, 0755) != 0 && errno != EEXIST) {
				snprintf(err, errlen, "cannot create %s: %s",
				    walk, strerror(errno));
				goto fail;
			}
			nfd = openat(fd, comp, O_PATH | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
		}
		if (nfd < 0) {
			snprintf(err, errlen, "%s: %s%s", walk, strerror(errno),
			    errno == ELOOP || errno == ENOTDIR ?
			    " (changed while being checked?)" : "");
			goto fail;
		}
		close(fd);
		fd = nfd;
	}
	if (dir_trusted(fd, walk[0] ? walk : "/", true, err, errlen) != 0)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

static int
write_pidfile(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX], buf[32];
	const char *name;
	struct stat st;
	int dfd, fd = -1, n;

	if (strlen(path) >= sizeof(dir)) {
		snprintf(err, errlen, "pid file %s: path too long", path);
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	name = strrchr(path, '/');
	if (name == NULL) {
		snprintf(dir, sizeof(dir), ".");
		name = path;
	} else {
		dir[name - path] = '\0';
		if (dir[0] == '\0')
			snprintf(dir, sizeof(dir), "/");
		name++;
	}
	if (name[0] == '\0' || strlen(name) >= sizeof(pidfile_name)) {
		snprintf(err, errlen, "pid file %s: not a file name", path);
		return -1;
	}
	if ((dfd = open_trusted_dir(dir, err, errlen)) < 0)
		return -1;
	fd = openat(dfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY | O_CLOEXEC, 0644);
	if (fd < 0) {
		if (errno == ELOOP)
			snprintf(err, errlen, "pid file %s is a symbolic link: "
			    "refusing", path);
		else
			snprintf(err, errlen, "cannot write pid file %s: %s",
			    path, strerror(errno));
		goto fail;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || st.st_nlink != 1) {
		snprintf(err, errlen, "pid file %s is not a plain file of "
		    "ours (type, owner or links): refusing", path);
		goto fail;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		snprintf(err, errlen, "pid file %s is locked: %s", path,
		    errno == EWOULDBLOCK ? "already running" :
		    strerror(errno));
		goto fail;
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		snprintf(err, errlen, "cannot write pid file %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	snprintf(pidfile_path, sizeof(pidfile_path), "%s", path);
	snprintf(pidfile_name, sizeof(pidfile_name), "%s", name);
	pidfile_fd = fd;
	piddir_fd = dfd;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	close(dfd);
	return -1;
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
	if (pidfile_fd < 0)
		return;
	/* Root's directory: after the drop, emptying is all we may do. */
	if (unlinkat(piddir_fd, pidfile_name, 0) != 0)
		(void)!ftruncate(pidfile_fd, 0);
	close(pidfile_fd);
	close(piddir_fd);
	pidfile_fd = piddir_fd = -1;
	pidfile_path[0] = '\0';
}

/*
 * Our capabilities after the switch: CAP_NET_ADMIN in the permitted set
 * when kept (effective only when raised), nothing else anywhere.
 */
static int
set_caps(bool net_admin_effective)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	data[0].permitted = 1u << CAP_NET_ADMIN;
	if (net_admin_effective)
		data[0].effective = 1u << CAP_NET_ADMIN;
	return (int)syscall(SYS_capset, &hdr, data);
}

int
daemon_net_admin(bool on)
{
	if (!net_admin_kept)
		return 0;
	return set_caps(on);
}

/*
 * Empty the bounding set (but for CAP_NET_ADMIN when kept), so that
 * nothing we exec, and nothing we become, can hold a capability again.
 * It takes CAP_SETPCAP; without it in the bounding set a service manager
 * (systemd's CapabilityBoundingSet=) has chosen the set: it stays.
 */
static int
empty_bounding_set(bool keep_net_admin, char *err, size_t errlen)
{
	if (prctl(PR_CAPBSET_READ, (long)CAP_SETPCAP, 0L, 0L, 0L) != 1)
		return 0;
	for (long cap = 0; ; cap++) {
		int r = prctl(PR_CAPBSET_READ, cap, 0L, 0L, 0L);

		if (r < 0)
			break;	/* EINVAL: past this kernel's last one */
		if (r == 0 || (keep_net_admin && cap == CAP_NET_ADMIN))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0L, 0L, 0L) != 0) {
			snprintf(err, errlen, "prctl(PR_CAPBSET_DROP, %ld): %s",
			    cap, strerror(errno));
			return -1;
		}
	}
	return 0;
}

bool
daemon_user_exists(const char *user)
{
	return user != NULL && user[0] != '\0' && getpwnam(user) != NULL;
}

int
daemon_drop_privileges(const char *user, bool keep_net_admin, char *err,
    size_t errlen)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct caps[2];
	struct passwd *pw;
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (user == NULL || user[0] == '\0')
		return 0;
	errno = 0;
	pw = getpwnam(user);
	if (pw == NULL) {
		/* Running on as root, with every capability, is not a default. */
		snprintf(err, errlen, "user '%s' does not exist: refusing to "
		    "run as root (%suser = root in the config, or -u '', "
		    "runs as root on purpose)", user,
		    strcmp(user, DAEMON_DEFAULT_USER) == 0 ?
		    "create it with: adduser --system --group omniklog; " : "");
		return -1;
	}
	if (pw->pw_uid == 0)
		return 0;	/* root, asked for by name */
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
	if (empty_bounding_set(keep_net_admin, err, errlen) != 0)
		return -1;
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
		if (set_caps(false) != 0) {
			snprintf(err, errlen, "capset(CAP_NET_ADMIN): %s",
			    strerror(errno));
			return -1;
		}
		(void)prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L);
		net_admin_kept = true;
	}
	(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0L, 0L, 0L);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) != 0) {
		snprintf(err, errlen, "prctl(PR_SET_NO_NEW_PRIVS): %s",
		    strerror(errno));
		return -1;
	}
	/* And verify the capabilities: none effective, none but one kept. */
	memset(caps, 0, sizeof(caps));
	if (syscall(SYS_capget, &hdr, caps) != 0 || caps[0].effective != 0 ||
	    caps[1].effective != 0 || caps[1].permitted != 0 ||
	    caps[0].inheritable != 0 || caps[1].inheritable != 0 ||
	    caps[0].permitted != (keep_net_admin ? 1u << CAP_NET_ADMIN : 0u)) {
		snprintf(err, errlen, "capabilities still held after the drop");
		return -1;
	}
	return 0;
}
