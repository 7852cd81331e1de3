/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * csv.c: seed-format CSV output.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "csv.h"
#include "log.h"
#include "outq.h"

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
	/* csv_hold: whole lines not yet written, at most CSV_HOLD_MAX. */
	char *held;
	size_t held_len;
	bool holding;
	/* Where the file ends, as far as our writes know (csv_write_lines). */
	uint64_t end;
	/* Standard output in a daemon: written off the loop (csv_sink_open). */
	struct outq *q;
	uint64_t dropped;	/* lines, since the reader last took one */
};

/*
 * The longest line csv_format can write: the time (a year of up to ten
 * digits), the serial, every value (20 digits, sign and point), the kit
 * serial, the firmware strings and the variant, each quoted with every
 * byte doubled, commas and the newline.
 */
#define CSV_TIME_MAX 32
#define CSV_VALUE_MAX 22
#define CSV_QUOTED(n) (2 * (n) + 2)
#define CSV_WORST (CSV_TIME_MAX + 1 + CSV_QUOTED(OMNIK_SERIAL_LEN) + \
    OMNIK_NFIELDS * (1 + CSV_VALUE_MAX) + 1 + 10 + \
    2 * (1 + CSV_QUOTED(OMNIK_FW_LEN)) + 1 + \
    CSV_QUOTED(OMNIK_VARIANT_LABEL) + 2)
_Static_assert(CSV_WORST <= CSV_LINE_MAX, "CSV_LINE_MAX too small");

/*
 * Append s as one CSV cell, quoted only if it needs to be. The caller has
 * room for CSV_QUOTED(strlen(s)).
 */
static char *
put_cell(char *p, const char *s)
{
	size_t n = strcspn(s, ",\"\r\n");

	if (s[n] == '\0') {
		memcpy(p, s, n);
		return p + n;
	}
	*p++ = '"';
	for (; *s; s++) {
		if (*s == '"')
			*p++ = '"';
		*p++ = *s;
	}
	*p++ = '"';
	return p;
}

static const char csv_pairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233"
    "34353637383940414243444546474849505152535455565758596061626364656667"
    "6869707172737475767778798081828384858687888990919293949596979899";

/* Decimal digits of v. */
static inline size_t
digits_of(uint64_t v)
{
	size_t n = 1;

	while (v >= 10000) {
		v /= 10000;
		n += 4;
	}
	return n + (v >= 10) + (v >= 100) + (v >= 1000);
}

/* An unsigned number in decimal, two digits a step, from the right. */
static char *
put_uint_long(char *p, uint64_t v)
{
	size_t n = digits_of(v);
	char *e = p + n;

	while (v >= 100) {
		e -= 2;
		memcpy(e, csv_pairs + 2 * (v % 100), 2);
		v /= 100;
	}
	if (v >= 10)
		memcpy(e - 2, csv_pairs + 2 * v, 2);
	else
		e[-1] = (char)('0' + v);
	return p + n;
}

/*
 * Most values of a reading have one to four digits: those without the
 * count and the loop (a line has some 25 numbers).
 */
static inline char *
put_uint(char *p, uint64_t v)
{
	uint32_t w = (uint32_t)v;

	if (v >= 10000)
		return put_uint_long(p, v);
	if (w < 10) {
		*p = (char)('0' + w);
		return p + 1;
	}
	if (w < 100) {
		memcpy(p, csv_pairs + 2 * w, 2);
		return p + 2;
	}
	if (w < 1000) {
		*p = (char)('0' + w / 100);
		memcpy(p + 1, csv_pairs + 2 * (w % 100), 2);
		return p + 3;
	}
	memcpy(p, csv_pairs + 2 * (w / 100), 2);
	memcpy(p + 2, csv_pairs + 2 * (w % 100), 2);
	return p + 4;
}

/*
 * A value as omnik_format_value writes it (the seed's floats), without
 * its copy and bounds: the shortest fraction with at least one digit, ""
 * for an absent value. test_csv holds the two to the same bytes. One and
 * two decimals (every field has 0 to 2) divide by constants.
 */
static char *
put_value(char *p, enum omnik_field f, int64_t v)
{
	unsigned d = omnik_fields[f].decimals;
	uint64_t mag, scale = 1;
	char *dot;

	if (v == OMNIK_ABSENT)
		return p;
	if (v < 0) {
		*p++ = '-';
		mag = (uint64_t)(-(v + 1)) + 1;
	} else {
		mag = (uint64_t)v;
	}
	switch (d) {
	case 0:
		return put_uint(p, mag);
	case 1:
		p = put_uint(p, mag / 10);
		*p++ = '.';
		*p++ = (char)('0' + mag % 10);
		return p;
	case 2:
		p = put_uint(p, mag / 100);
		*p++ = '.';
		*p++ = (char)('0' + mag % 100 / 10);
		if (mag % 10 != 0)
			*p++ = (char)('0' + mag % 10);
		return p;
	}
	for (unsigned i = 0; i < d; i++)
		scale *= 10;
	p = put_uint(p, mag / scale);
	dot = p;
	*p++ = '.';
	mag %= scale;
	for (unsigned i = 0; i < d; i++) {
		scale /= 10;
		*p++ = (char)('0' + mag / scale % 10);
	}
	while (p > dot + 2 && p[-1] == '0')
		p--;
	return p;
}

/*
 * The time column. localtime_r and strftime were most of a line's cost,
 * and readings come minute after minute, so the date of one local day
 * (or, on a day whose offset changes, one hour) is kept with where that
 * span begins: any second inside it is the kept date and the time of day
 * counted from there. A span is kept only if its first and last seconds
 * are the local 00:00:00 and 23:59:59 (or HH:00:00 and HH:59:59) of one
 * day (hour): then there is no offset change and no leap second inside
 * it, and the count is exact. Otherwise strftime, as before. Per thread:
 * the journal's delivery of the CSV formats lines too.
 */
struct csv_clock {
	bool valid;
	time_t start;		/* the first second of the kept span */
	uint32_t span;		/* its length in seconds */
	uint32_t base;		/* local seconds since midnight at start */
	size_t len;		/* of text: "YYYY-MM-DD " */
	char text[CSV_TIME_MAX];
};

static _Thread_local struct csv_clock csv_clock;

/* Does [from, from + len) run from h0:00:00 to h1:59:59 of tm's day? */
static bool
plain_span(int64_t from, int64_t len, const struct tm *tm, int h0, int h1)
{
	time_t a = (time_t)from, b = (time_t)(from + len - 1);
	struct tm x, y;

	if ((int64_t)a != from || (int64_t)b != from + len - 1 ||
	    localtime_r(&a, &x) == NULL || localtime_r(&b, &y) == NULL)
		return false;
	return x.tm_year == tm->tm_year && x.tm_yday == tm->tm_yday &&
	    x.tm_hour == h0 && x.tm_min == 0 && x.tm_sec == 0 &&
	    y.tm_year == tm->tm_year && y.tm_yday == tm->tm_yday &&
	    y.tm_hour == h1 && y.tm_min == 59 && y.tm_sec == 59;
}

/*
 * Keep the day (else the hour) of t, if it is a plain one; false if
 * neither is. localtime_r took t, so t is far from time_t's ends and the
 * sums cannot overflow.
 */
static bool
clock_keep(struct csv_clock *k, time_t t, const struct tm *tm)
{
	int64_t in_hour = tm->tm_min * 60 + tm->tm_sec;
	int64_t in_day = tm->tm_hour * 3600 + in_hour;
	size_t len;

	k->valid = false;
	if (tm->tm_sec > 59)
		return false;
	if (plain_span((int64_t)t - in_day, 86400, tm, 0, 23)) {
		k->start = (time_t)((int64_t)t - in_day);
		k->span = 86400;
		k->base = 0;
	} else if (plain_span((int64_t)t - in_hour, 3600, tm, tm->tm_hour,
	    tm->tm_hour)) {
		k->start = (time_t)((int64_t)t - in_hour);
		k->span = 3600;
		k->base = (uint32_t)tm->tm_hour * 3600;
	} else {
		return false;
	}
	len = strftime(k->text, sizeof(k->text), "%Y-%m-%d ", tm);
	if (len == 0)
		return false;
	k->len = len;
	k->valid = true;
	return true;
}

static char *
put_2digits(char *p, uint32_t v)
{
	*p++ = (char)('0' + v / 10);
	*p++ = (char)('0' + v % 10);
	return p;
}

/* "YYYY-MM-DD HH:MM:SS" at p (room for CSV_TIME_MAX), or NULL. */
static char *
put_time(char *p, time_t t)
{
	struct csv_clock *k = &csv_clock;
	struct tm tm;
	uint64_t off;
	uint32_t sod;
	size_t len;

	/* Wraps to far more than a day for a t before the kept span. */
	off = (uint64_t)(int64_t)t - (uint64_t)(int64_t)k->start;
	if (!k->valid || off >= k->span) {
		if (localtime_r(&t, &tm) == NULL)
			return NULL;
		if (!clock_keep(k, t, &tm)) {
			len = strftime(p, CSV_TIME_MAX, "%Y-%m-%d %H:%M:%S",
			    &tm);
			return len == 0 ? NULL : p + len;
		}
		off = (uint64_t)((int64_t)t - (int64_t)k->start);
	}
	sod = k->base + (uint32_t)off;
	memcpy(p, k->text, k->len);
	p += k->len;
	p = put_2digits(p, sod / 3600);
	*p++ = ':';
	p = put_2digits(p, sod / 60 % 60);
	*p++ = ':';
	return put_2digits(p, sod % 60);
}

/* The line into buf, which has room for CSV_WORST: its length, or 0. */
static size_t
format_line(char *buf, const struct omnik_reading *r,
    const struct timeval *when)
{
	char label[OMNIK_VARIANT_LABEL];
	char *p = put_time(buf, when->tv_sec);

	if (p == NULL)
		return 0;
	*p++ = ',';
	p = put_cell(p, r->inverter_sn);
	for (int i = 0; i < OMNIK_NFIELDS; i++) {
		*p++ = ',';
		p = put_value(p, (enum omnik_field)i, r->value[i]);
	}
	*p++ = ',';
	p = put_uint(p, r->kit_sn);
	*p++ = ',';
	p = put_cell(p, r->fw_main);
	*p++ = ',';
	p = put_cell(p, r->fw_slave);
	/* The layout the reading was decoded with (decode.c). */
	*p++ = ',';
	p = put_cell(p, omnik_variant_label(r, label));
	*p++ = '\n';
	*p = '\0';
	return (size_t)(p - buf);
}

size_t
csv_format(char *buf, size_t n, const struct omnik_reading *r,
    const struct timeval *when)
{
	char tmp[CSV_WORST];
	size_t len;

	if (n < 32)
		return 0;
	if (n >= CSV_WORST)
		return format_line(buf, r, when);
	len = format_line(tmp, r, when);
	if (len == 0 || len + 1 > n)
		return 0;
	memcpy(buf, tmp, len + 1);
	return len;
}

/*
 * Whole lines to the queue of a daemon's standard output: what does not
 * fit while its reader does not read is dropped and counted (the journal
 * has every reading), and the count is logged once lines fit again.
 */
static int
queue_lines(struct csv *c, const char *p, size_t len, const char **err)
{
	switch (outq_put_sink(c->q, p, len, &c->dropped, c->err,
	    sizeof(c->err))) {
	case 1:
		log_warnx("standard output: read again; %llu CSV line%s "
		    "dropped while it was not (the journal has them)",
		    (unsigned long long)c->dropped,
		    c->dropped == 1 ? " was" : "s were");
		c->dropped = 0;
		/* FALLTHROUGH */
	case 0:
		return 0;
	default:
		*err = c->err;
		return -1;
	}
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

	if (c->q != NULL)
		return queue_lines(c, line, len, err);
	do
		w = write(c->fd, line, len);
	while (w < 0 && errno == EINTR);
	if (w == (ssize_t)len) {
		c->end += len;
		return 0;
	}
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
	c->end = (uint64_t)st.st_size - c->repaired;
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

static int csv_flush(struct csv *c, const char **err);

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
	if (c->holding) {
		int rc = 0;

		if (CSV_HOLD_MAX - c->held_len < CSV_WORST)
			rc = csv_flush(c, err);
		len = format_line(c->held + c->held_len, r, when);
		if (len == 0) {
			*err = "no local time for the reading";
			return -1;
		}
		c->held_len += len;
		return rc;
	}
	len = csv_format(line, sizeof(line), r, when);
	if (len == 0) {
		*err = "line too long";
		return -1;
	}
	return write_line(c, line, len, err);
}

/*
 * The lines go out in pieces that end where a page of the file ends (or
 * just after the one line that crosses it): a write killed by a signal
 * (kill -9) stops only between pages, so a crash leaves whole lines, as
 * one write per line did. A piece that fails takes the whole call back
 * with it: the file is cut to where it was.
 */
#define CSV_PAGE 4096u
int
csv_write_lines(struct csv *c, const char *lines, size_t len,
    const char **err)
{
	size_t done = 0, n, k, room;
	const char *nl;
	struct stat st;

	if (c->fd < 0) {
		*err = c->err;
		return -1;
	}
	if (c->is_stdout)
		return len == 0 ? 0 : write_line(c, lines, len, err);
	while (done < len) {
		room = CSV_PAGE - (size_t)(c->end % CSV_PAGE);
		for (n = 0; done + n < len && n < room; n += k) {
			nl = memchr(lines + done + n, '\n', len - done - n);
			k = nl != NULL ? (size_t)(nl - (lines + done + n)) + 1 :
			    len - done - n;
			if (n > 0 && n + k > room)
				break;
		}
		if (write_line(c, lines + done, n, err) != 0)
			break;
		done += n;
	}
	if (done == len)
		return 0;
	if (done > 0) {
		bool cut = fstat(c->fd, &st) == 0 &&
		    (uint64_t)st.st_size >= done &&
		    ftruncate(c->fd, st.st_size - (off_t)done) == 0;

		if (cut)
			c->end -= done;
		else
			snprintf(c->err, sizeof(c->err), "%s: a write failed "
			    "and %zu bytes before it could not be cut back "
			    "off", c->path, done);
		*err = c->err;
	}
	return -1;
}

/*
 * What is held, in one write. If that fails it is undone (write_line),
 * and the lines go one write each, as without holding: the ones that fit
 * (a file size limit, a disk almost full) are written, the rest lost, as
 * they would have been. Standard output cannot be cut back: the rest of
 * a short write follows it.
 */
static int
csv_flush(struct csv *c, const char **err)
{
	const char *p = c->held, *end = c->held + c->held_len, *nl;
	const char *e = NULL;
	size_t lines = 0, lost = 0;
	char msg[sizeof(c->err)];
	ssize_t w;

	if (c->held_len == 0)
		return 0;
	c->held_len = 0;
	if (c->fd < 0) {
		*err = c->err;
		return -1;
	}
	if (c->q != NULL)
		return queue_lines(c, p, (size_t)(end - p), err);
	if (c->is_stdout) {
		while (p < end) {
			w = write(c->fd, p, (size_t)(end - p));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				snprintf(c->err, sizeof(c->err), "%s: %s",
				    c->path, w < 0 ? strerror(errno) :
				    "nothing written");
				*err = c->err;
				return -1;
			}
			p += w;
		}
		return 0;
	}
	if (write_line(c, p, (size_t)(end - p), &e) == 0)
		return 0;
	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		lines++;
		if (write_line(c, p, (size_t)(nl + 1 - p), &e) != 0)
			lost++;
	}
	if (lost == 0)
		return 0;
	snprintf(msg, sizeof(msg), "%s (%zu of %zu lines lost)", e, lost,
	    lines);
	memcpy(c->err, msg, sizeof(c->err));
	*err = c->err;
	return -1;
}

int
csv_hold(struct csv *c, bool on, const char **err)
{
	if (!on) {
		c->holding = false;
		return csv_flush(c, err);
	}
	/* Without the memory, lines go out one by one, as before. */
	if (c->held == NULL && (c->held = malloc(CSV_HOLD_MAX)) == NULL)
		return 0;
	c->holding = true;
	return 0;
}

int
csv_reopen(struct csv *c, const char **err)
{
	/* Held lines were taken before the signal: the old file's. */
	if (csv_flush(c, err) != 0)
		log_warnx("%s", *err);
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
	const char *e = NULL;

	if (c == NULL)
		return;
	if (csv_flush(c, &e) != 0)
		log_warnx("%s", e);
	/* What the reader has not taken yet: up to 2 s more for it. */
	if (c->q != NULL && outq_pending(c->q) > 0)
		log_info("standard output: waiting up to 2 s for its reader");
	outq_free(c->q, 2000);
	if (c->fd >= 0 && !c->is_stdout)
		close(c->fd);
	free(c->held);
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

static int
sink_hold(void *ctx, bool on, const char **err)
{
	return csv_hold(ctx, on, err);
}

static void
sink_close(void *ctx)
{
	csv_close(ctx);
}

int
csv_sink_open(const char *path, bool live, struct sink *out, char *err,
    size_t errlen)
{
	struct csv *c = csv_open(path, err, errlen);

	if (c == NULL)
		return -1;
	/* The header went out directly, before the loop runs. */
	if (live && c->is_stdout &&
	    (c->q = outq_new(c->fd, CSV_QUEUE_MAX)) == NULL) {
		snprintf(err, errlen, "out of memory");
		csv_close(c);
		return -1;
	}
	if (c->repaired > 0)
		log_warnx("%s: cut %zu bytes of a partial last line", path,
		    c->repaired);
	memset(out, 0, sizeof(*out));
	out->name = "csv";
	out->ctx = c;
	out->reading = sink_reading;
	out->reopen = sink_reopen;
	out->hold = sink_hold;
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
