/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lease.c: the deliveries' lock beside the journal (lease.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lease.h"

struct lease {
	int fd;
	bool held;
	char who[64];
	char path[PATH_MAX];
};

struct lease *
lease_open(const char *journal_path, const char *who, char *err,
    size_t errlen)
{
	struct lease *l;

	if ((l = calloc(1, sizeof(*l))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	l->fd = -1;
	if ((size_t)snprintf(l->path, sizeof(l->path), "%s.lock",
	    journal_path) >= sizeof(l->path)) {
		snprintf(err, errlen, "%s: path too long for its lock file",
		    journal_path);
		free(l);
		return NULL;
	}
	snprintf(l->who, sizeof(l->who), "%s", who && *who ? who : "omniklog");
	return l;
}

/* Is the file we have open still the one at the path? */
static bool
same_file(const struct lease *l)
{
	struct stat a, b;

	return fstat(l->fd, &a) == 0 && stat(l->path, &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static void
drop_fd(struct lease *l)
{
	if (l->fd >= 0)
		close(l->fd);	/* releases the lock with it */
	l->fd = -1;
	l->held = false;
}

/* "PID NAME" as the holder wrote it: "NAME (pid PID)". */
static void
read_holder(const struct lease *l, char *holder, size_t len)
{
	char buf[96], name[64];
	long pid;
	ssize_t n = pread(l->fd, buf, sizeof(buf) - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	if (sscanf(buf, "%ld %63s", &pid, name) == 2 && pid > 0)
		snprintf(holder, len, "%s (pid %ld)", name, pid);
	else
		snprintf(holder, len, "another program");
}

/* Ours: say so in the file (best effort: it only names us in logs). */
static void
write_holder(const struct lease *l)
{
	char buf[96];
	int n = snprintf(buf, sizeof(buf), "%ld %s\n", (long)getpid(),
	    l->who);

	if (ftruncate(l->fd, 0) == 0)
		(void)!pwrite(l->fd, buf, (size_t)n, 0);
}

int
lease_take(struct lease *l, char *holder, size_t len, char *err,
    size_t errlen)
{
	if (l->fd >= 0 && !same_file(l))
		drop_fd(l);	/* deleted or replaced: the new one counts */
	if (l->held)
		return 1;
	if (l->fd < 0) {
		l->fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		    0640);
		/* Another user's file: the lock needs no write access. */
		if (l->fd < 0 && errno == EACCES)
			l->fd = open(l->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (l->fd < 0) {
			snprintf(err, errlen, "cannot open %s: %s", l->path,
			    strerror(errno));
			return -1;
		}
	}
	if (flock(l->fd, LOCK_EX | LOCK_NB) == 0) {
		l->held = true;
		write_holder(l);
		return 1;
	}
	if (errno == EWOULDBLOCK || errno == EINTR) {
		read_holder(l, holder, len);
		return 0;
	}
	snprintf(err, errlen, "cannot lock %s: %s", l->path, strerror(errno));
	drop_fd(l);
	return -1;
}

bool
lease_held(const struct lease *l)
{
	return l != NULL && l->held;
}

void
lease_release(struct lease *l)
{
	if (l->held)
		(void)flock(l->fd, LOCK_UN);
	l->held = false;
}

const char *
lease_path(const struct lease *l)
{
	return l->path;
}

void
lease_close(struct lease *l)
{
	if (l == NULL)
		return;
	drop_fd(l);
	free(l);
}
