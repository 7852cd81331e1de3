/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * csv.c: seed-format CSV output.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "csv.h"
#include "log.h"

const char csv_header[] =
    "dateTime,Id,Temp,VPV1,VPV2,VPV3,IPV1,IPV2,IPV3,IAC1,IAC2,IAC3,"
    "VAC1,VAC2,VAC3,FAC1,PAC1,FAC2,PAC2,FAC3,PAC3,ETODAY,ETOTAL,HTOTAL,"
    "RunMode,KitSN,FWMain,FWSlave,Variant\n";

struct csv {
	char *path;
	int fd;
	bool is_stdout;
	size_t repaired;
	char err[256];
};

/* Append s as one CSV cell, quoted only if it needs to be. */
static bool
put_cell(char *buf, size_t n, size_t *len, const char *s)
{
	bool quote = strpbrk(s, ",\"\r\n") != NULL;
	size_t need = strlen(s) + (quote ? 2 + strlen(s) : 0) + 1;

	if (*len + need >= n)
		return false;
	if (quote)
		buf[(*len)++] = '"';
	for (; *s; s++) {
		if (*s == '"')
			buf[(*len)++] = '"';
		buf[(*len)++] = *s;
	}
	if (quote)
		buf[(*len)++] = '"';
	buf[*len] = '\0';
	return true;
}

size_t
csv_format(char *buf, size_t n, const struct omnik_reading *r,
    const struct timeval *when)
{
	struct tm tm;
	time_t t = when->tv_sec;
	char cell[64];
	size_t len;

	if (n < 32 || localtime_r(&t, &tm) == NULL)
		return 0;
	len = strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
	if (len == 0)
		return 0;
	buf[len++] = ',';
	buf[len] = '\0';
	if (!put_cell(buf, n, &len, r->inverter_sn))
		return 0;
	for (int i = 0; i < OMNIK_NFIELDS; i++) {
		omnik_format_value((enum omnik_field)i, r->value[i], cell,
		    sizeof(cell));
		if (len + 1 >= n)
			return 0;
		buf[len++] = ',';
		if (!put_cell(buf, n, &len, cell))
			return 0;
	}
	snprintf(cell, sizeof(cell), "%lu", (unsigned long)r->kit_sn);
	if (len + 1 >= n)
		return 0;
	buf[len++] = ',';
	if (!put_cell(buf, n, &len, cell))
		return 0;
	if (len + 1 >= n)
		return 0;
	buf[len++] = ',';
	if (!put_cell(buf, n, &len, r->fw_main))
		return 0;
	if (len + 1 >= n)
		return 0;
	buf[len++] = ',';
	if (!put_cell(buf, n, &len, r->fw_slave))
		return 0;
	/* The layout the reading was decoded with (decode.c). */
	if (len + 1 >= n)
		return 0;
	buf[len++] = ',';
	if (!put_cell(buf, n, &len, omnik_variant_label(r, cell)))
		return 0;
	if (len + 2 > n)
		return 0;
	buf[len++] = '\n';
	buf[len] = '\0';
	return len;
}

/*
 * One write() for the whole line. A short write is undone, so a full disk
 * costs this line and never leaves half of it behind.
 */
static int
write_line(struct csv *c, const char *line, size_t len, const char **err)
{
	ssize_t w;
	struct stat st;

	do
		w = write(c->fd, line, len);
	while (w < 0 && errno == EINTR);
	if (w == (ssize_t)len)
		return 0;
	if (w < 0) {
		snprintf(c->err, sizeof(c->err), "%s: %s", c->path,
		    strerror(errno));
	} else {
		/*
		 * Cut the partial line back off; if even that fails, the
		 * error says so and the next open trims it (repair_tail).
		 */
		bool cut = !c->is_stdout && fstat(c->fd, &st) == 0 &&
		    st.st_size >= w && ftruncate(c->fd, st.st_size - w) == 0;

		snprintf(c->err, sizeof(c->err),
		    "%s: short write (%zd of %zu bytes), %s", c->path, w, len,
		    cut ? "cut back off" : "left until the next open trims it");
	}
	*err = c->err;
	return -1;
}

/* Cut a partial last line (no trailing newline) left by a crash. */
static int
repair_tail(struct csv *c, off_t size)
{
	char chunk[512];
	off_t end = size, pos;
	ssize_t r;

	while (end > 0) {
		size_t want = end > (off_t)sizeof(chunk) ? sizeof(chunk) :
		    (size_t)end;
		pos = end - (off_t)want;
		r = pread(c->fd, chunk, want, pos);
		if (r != (ssize_t)want)
			return -1;
		if (end == size && chunk[want - 1] == '\n')
			return 0;	/* the common case: nothing to do */
		for (size_t i = want; i > 0; i--) {
			if (chunk[i - 1] == '\n') {
				end = pos + (off_t)i;
				goto cut;
			}
		}
		end = pos;
	}
cut:
	if (ftruncate(c->fd, end) != 0)
		return -1;
	c->repaired = (size_t)(size - end);
	return 0;
}

static int
csv_open_fd(struct csv *c, char *err, size_t errlen)
{
	struct stat st;
	const char *e = NULL;

	c->repaired = 0;
	if (c->is_stdout) {
		c->fd = STDOUT_FILENO;
		return write_line(c, csv_header, sizeof(csv_header) - 1, &e);
	}
	/*
	 * Never through a symbolic link: in a data directory the service
	 * user can write, one planted there would have root (or us) append
	 * to a file of its choosing.
	 */
	c->fd = open(c->path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW |
	    O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0644);
	if (c->fd < 0) {
		if (errno == ELOOP)
			snprintf(err, errlen, "%s is a symbolic link: refusing "
			    "to write through it", c->path);
		else
			snprintf(err, errlen, "cannot open %s: %s", c->path,
			    strerror(errno));
		return -1;
	}
	if (fstat(c->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", c->path);
		goto fail;
	}
	if (st.st_size > 0 && repair_tail(c, st.st_size) != 0) {
		snprintf(err, errlen, "%s: cannot check its last line: %s",
		    c->path, strerror(errno));
		goto fail;
	}
	if (st.st_size - (off_t)c->repaired == 0 &&
	    write_line(c, csv_header, sizeof(csv_header) - 1, &e) != 0) {
		snprintf(err, errlen, "%s", e);
		goto fail;
	}
	return 0;
fail:
	close(c->fd);
	c->fd = -1;
	return -1;
}

struct csv *
csv_open(const char *path, char *err, size_t errlen)
{
	struct csv *c;

	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->path = strdup(path)) == NULL) {
		snprintf(err, errlen, "out of memory");
		free(c);
		return NULL;
	}
	c->is_stdout = strcmp(path, "-") == 0;
	if (csv_open_fd(c, err, errlen) != 0) {
		free(c->path);
		free(c);
		return NULL;
	}
	return c;
}

int
csv_write(struct csv *c, const struct omnik_reading *r,
    const struct timeval *when, const char **err)
{
	char line[CSV_LINE_MAX];
	size_t len;

	if (c->fd < 0) {
		*err = c->err;
		return -1;
	}
	len = csv_format(line, sizeof(line), r, when);
	if (len == 0) {
		*err = "line too long";
		return -1;
	}
	return write_line(c, line, len, err);
}

int
csv_reopen(struct csv *c, const char **err)
{
	if (c->is_stdout)
		return 0;
	if (c->fd >= 0)
		close(c->fd);
	if (csv_open_fd(c, c->err, sizeof(c->err)) != 0) {
		*err = c->err;
		return -1;
	}
	if (c->repaired > 0)
		log_warnx("%s: cut %zu bytes of a partial last line", c->path,
		    c->repaired);
	return 0;
}

size_t
csv_repaired(const struct csv *c)
{
	return c->repaired;
}

void
csv_close(struct csv *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0 && !c->is_stdout)
		close(c->fd);
	free(c->path);
	free(c);
}

static int
sink_reading(void *ctx, const struct record *rec, const char **err)
{
	return csv_write(ctx, rec->reading, &rec->when, err);
}

static int
sink_reopen(void *ctx, const char **err)
{
	return csv_reopen(ctx, err);
}

static void
sink_close(void *ctx)
{
	csv_close(ctx);
}

int
csv_sink_open(const char *path, struct sink *out, char *err, size_t errlen)
{
	struct csv *c = csv_open(path, err, errlen);

	if (c == NULL)
		return -1;
	if (c->repaired > 0)
		log_warnx("%s: cut %zu bytes of a partial last line", path,
		    c->repaired);
	memset(out, 0, sizeof(*out));
	out->name = "csv";
	out->ctx = c;
	out->reading = sink_reading;
	out->reopen = sink_reopen;
	out->close = sink_close;
	return 0;
}

/*
 * The file's last line (with its "\n") in buf, or 0 if there is none or
 * it does not fit: where a CSV written from the journal stands.
 */
size_t
csv_last_line(const struct csv *c, char *buf, size_t n)
{
	struct stat st;
	off_t from;
	ssize_t got;
	size_t start;

	if (c->is_stdout || c->fd < 0 || n < 2 || fstat(c->fd, &st) != 0 ||
	    st.st_size == 0)
		return 0;
	from = st.st_size > (off_t)(n - 1) ? st.st_size - (off_t)(n - 1) : 0;
	got = pread(c->fd, buf, (size_t)(st.st_size - from), from);
	if (got <= 0 || buf[got - 1] != '\n')
		return 0;
	for (start = (size_t)got - 1; start > 0 && buf[start - 1] != '\n';
	    start--)
		;
	if (start == 0 && from > 0)
		return 0;		/* longer than buf */
	memmove(buf, buf + start, (size_t)got - start);
	buf[(size_t)got - start] = '\0';
	return (size_t)got - start;
}
