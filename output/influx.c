/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * influx.c: the InfluxDB output.
 *
 *   rows --> lines (influx_line.c) --> POST /write or /api/v2/write
 *   204             --> cursor past the batch
 *   400, n lines    --> the first half again, then the rest: halving
 *                       until the one line refused is found
 *   400, one line   --> that reading skipped, InfluxDB's reason logged
 *   401 / 403 / 404 --> stop: a setting is wrong (the log line names it)
 *   429, 503        --> wait for Retry-After (else back off)
 *   5xx, timeout    --> back off
 *
 * The requests run on the program's event loop through curlev.h (curl
 * multi on libevent); nothing here blocks. libcurl is loaded when the
 * output starts, not linked.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "curlev.h"
#include "delivery.h"
#include "influx.h"
#include "journal.h"
#include "log.h"

#define REPLY_MAX 4096
#define REASON_MAX 300
#define RETRY_AFTER_MAX 3600	/* a longer Retry-After is cut to this */

struct ix {
	struct delivery *d;
	struct curlev *http;
	bool v2;
	char url[CONFIG_STR * 2 + 64];	/* the write URL: no secret in it */
	char auth[300];			/* v2: "Authorization: Token ..." */
	char user[128], password[128];	/* v1 */
	char cafile[CONFIG_STR];
	char measurement[2 * 128];	/* escaped */
	int batch, timeout;
	int limit;		/* rows per request now: < batch while a
				 * refused line is looked for */
	int64_t split_until;	/* the last row of the batch refused */

	/* The request in flight. */
	CURL *easy;
	struct curl_slist *headers;
	char *body;
	size_t body_len;
	const struct journal_row *rows;
	int nrows;		/* rows it covers (lines and skipped rows) */
	int nlines;
	int line_row;		/* one line: its row */
	int nskipped;		/* rows that make no line */
	int skip_row;		/* the first of them, and why */
	const char *skip_why;
	char reply[REPLY_MAX];
	struct curlev_body reply_body;	/* over reply */
	long retry_after;	/* seconds; -1: none */
	char curl_err[CURL_ERROR_SIZE];
	char last_error[256];	/* for the status page */
	long last_err;		/* logged once until it changes: an HTTP
				 * status, -curl's code; 0: none */
};

/* --- replies ----------------------------------------------------------- */


/* Retry-After: delay-seconds, or an HTTP-date (RFC 9110 10.2.3). */
static long
retry_after_parse(const char *v, time_t now)
{
	struct tm tm;
	char *end;
	long s;

	while (*v == ' ' || *v == '\t')
		v++;
	if (*v >= '0' && *v <= '9') {
		s = strtol(v, &end, 10);
		return s < 0 ? 0 : s > RETRY_AFTER_MAX ? RETRY_AFTER_MAX : s;
	}
	memset(&tm, 0, sizeof(tm));
	if (strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm) == NULL)
		return -1;
	s = (long)(timegm(&tm) - now);
	return s < 0 ? 0 : s > RETRY_AFTER_MAX ? RETRY_AFTER_MAX : s;
}

static size_t
on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
	struct ix *x = userdata;
	size_t len = size * nitems;
	char line[128];

	if (len >= sizeof(line))
		return len;
	memcpy(line, buf, len);
	line[len] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	if (strncasecmp(line, "Retry-After:", 12) == 0)
		x->retry_after = retry_after_parse(line + 12, time(NULL));
	return len;
}

/*
 * InfluxDB's reason, printable: the "error" (1.x) or "message" (2.x)
 * string of its JSON reply, else the reply's first line.
 */
static void
reason(const struct ix *x, char *out, size_t n)
{
	static const char *const keys[] = { "\"error\"", "\"message\"",
	    NULL };
	const char *p = NULL;
	bool json = false;
	size_t o = 0;

	for (const char *const *k = keys; *k && p == NULL; k++) {
		if ((p = strstr(x->reply, *k)) == NULL)
			continue;
		p += strlen(*k);
		p += strspn(p, " \t\r\n");
		if (*p++ != ':') {
			p = NULL;
			continue;
		}
		p += strspn(p, " \t\r\n");
		if (*p++ != '"')
			p = NULL;
	}
	if (p != NULL)
		json = true;
	else
		p = x->reply;
	for (; *p && *p != '\r' && *p != '\n' && o + 1 < n; p++) {
		if (json && *p == '"')
			break;
		if (json && p[0] == '\\' && p[1] != '\0')
			p++;		/* JSON's \" and \\ */
		out[o++] = *p >= 0x20 && *p < 0x7f ? *p : '?';
	}
	out[o] = '\0';
	if (o == 0)
		snprintf(out, n, "(empty reply)");
}

/* --- one request ------------------------------------------------------- */

static void
request_free(struct ix *x)
{
	if (x->easy) {
		curlev_remove(x->http, x->easy);
		curl_easy_cleanup(x->easy);
		x->easy = NULL;
	}
	curl_slist_free_all(x->headers);
	x->headers = NULL;
	free(x->body);
	x->body = NULL;
}

static void
fmt_time(time_t t, char *buf, size_t n)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/*
 * A failure worth a line: once, until it changes or writing resumes (a
 * curl message carries its milliseconds: the code is compared, not it).
 */
static void
failed(struct ix *x, long code, const char *what)
{
	if (x->last_err == code)
		return;
	x->last_err = code;
	snprintf(x->last_error, sizeof(x->last_error), "%.*s",
	    (int)sizeof(x->last_error) - 1, what);
	log_warnx("output influxdb: %s", what);
}

/* Rows that make no line count as delivered: logged once, when passed. */
static void
log_skipped(struct ix *x)
{
	const struct journal_row *row;
	char t[32];

	if (x->nskipped == 0)
		return;
	row = &x->rows[x->skip_row];
	fmt_time(row->when.tv_sec, t, sizeof(t));
	log_warnx("output influxdb: %d reading%s skipped (the first, of "
	    "inverter %s at %s: %s)", x->nskipped, x->nskipped > 1 ? "s" : "",
	    row->r.inverter_sn, t, x->skip_why);
}

static void
delivered(struct ix *x)
{
	if (x->last_err != 0) {
		log_info("output influxdb: writing again");
		x->last_err = 0;
	}
	log_skipped(x);
	if (x->limit < x->batch && x->nrows > 0 &&
	    x->rows[x->nrows - 1].id >= x->split_until)
		x->limit = x->batch;	/* past the batch refused */
	delivery_done(x->d, x->nrows, DELIVERY_OK, 0);
}

/* 400: InfluxDB refused a line (type conflict, a value it cannot parse). */
static void
refused(struct ix *x, const char *why)
{
	const struct journal_row *row;
	char t[32];

	if (x->nlines > 1) {
		if (x->limit == x->batch)
			log_info("output influxdb: %d points refused (%s); "
			    "looking for the line in smaller requests",
			    x->nlines, why);
		x->split_until = x->rows[x->nrows - 1].id;
		x->limit = x->nrows / 2 > 0 ? x->nrows / 2 : 1;
		delivery_done(x->d, 0, DELIVERY_OK, 0);
		return;
	}
	row = &x->rows[x->line_row];
	fmt_time(row->when.tv_sec, t, sizeof(t));
	snprintf(x->last_error, sizeof(x->last_error), "reading of "
	    "inverter %s at %s skipped: %s", row->r.inverter_sn, t, why);
	log_warnx("output influxdb: reading of inverter %s at %s skipped: "
	    "InfluxDB says: %s", row->r.inverter_sn, t, why);
	delivered(x);
}

/* 401, 403, 404: a setting is wrong; trying again cannot help. */
static void
stop(struct ix *x, long code, const char *why)
{
	const char *fix;

	if (code == 404)
		fix = x->v2 ? "check [influxdb] org and bucket (and url)" :
		    "check [influxdb] db (and url)";
	else
		fix = x->v2 ? "check [influxdb] token (write access to the "
		    "bucket)" : "check [influxdb] user and password (write "
		    "access to db)";
	snprintf(x->last_error, sizeof(x->last_error), "HTTP %ld: %s: %s",
	    code, why, fix);
	log_warnx("output influxdb: HTTP %ld: %s: %s; stopped", code, why,
	    fix);
	delivery_done(x->d, 0, DELIVERY_STOP, 0);
}

static void
finish(struct ix *x, CURLcode cc)
{
	char why[REASON_MAX], msg[REASON_MAX + 64];
	long code = 0;

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	request_free(x);
	if (cc != CURLE_OK) {
		/* No secret in it: the URL has none, and they travel in
		 * headers. */
		if (cc == CURLE_OPERATION_TIMEDOUT)
			snprintf(msg, sizeof(msg), "no answer within %d s; "
			    "retrying", x->timeout);
		else
			snprintf(msg, sizeof(msg), "%s; retrying",
			    x->curl_err[0] ? x->curl_err :
			    curl_easy_strerror(cc));
		failed(x, -(long)cc, msg);
		delivery_done(x->d, 0, DELIVERY_RETRY, 0);
		return;
	}
	if (code >= 200 && code < 300) {
		delivered(x);
		return;
	}
	reason(x, why, sizeof(why));
	switch (code) {
	case 400:
		refused(x, why);
		return;
	case 401:
	case 403:
	case 404:
		stop(x, code, why);
		return;
	case 413:	/* over the server's max-body-size */
		if (x->nrows > 1) {
			x->split_until = x->rows[x->nrows - 1].id;
			x->limit = x->nrows / 2;
			delivery_done(x->d, 0, DELIVERY_OK, 0);
			return;
		}
		break;
	case 429:
	case 503:
		if (x->retry_after >= 0) {
			snprintf(msg, sizeof(msg), "HTTP %ld: %s; waiting %ld "
			    "s (Retry-After)", code, why, x->retry_after);
			failed(x, code, msg);
			delivery_done(x->d, 0, DELIVERY_WAIT,
			    time(NULL) + x->retry_after);
			return;
		}
		break;
	default:
		break;
	}
	snprintf(msg, sizeof(msg), "HTTP %ld: %s; retrying", code, why);
	failed(x, code, msg);
	delivery_done(x->d, 0, DELIVERY_RETRY, 0);
}

static void
on_done(void *arg, CURL *easy, CURLcode result)
{
	struct ix *x = arg;

	(void)easy;
	finish(x, result);
}

/* The lines of rows[0 .. n-1] into x->body; rows without one skipped. */
static int
build(struct ix *x, const struct journal_row *rows, int n)
{
	size_t cap = (size_t)n * 256, len = 0;
	char line[INFLUX_LINE_MAX];
	char *b;

	if ((b = malloc(cap)) == NULL)
		return -1;
	x->nlines = x->nskipped = 0;
	for (int i = 0; i < n; i++) {
		const char *why;
		size_t l = influx_line(&rows[i], x->measurement, line,
		    sizeof(line), &why);

		if (l == 0) {
			if (x->nskipped++ == 0) {
				x->skip_row = i;
				x->skip_why = why ? why : "its line is too "
				    "long";
			}
			continue;
		}
		if (len + l > cap) {	/* at most n * INFLUX_LINE_MAX */
			char *nb = realloc(b, cap * 2);

			if (nb == NULL) {
				free(b);
				return -1;
			}
			b = nb;
			cap *= 2;
		}
		memcpy(b + len, line, l);
		len += l;
		x->line_row = i;
		x->nlines++;
	}
	x->body = b;
	x->body_len = len;
	return 0;
}

static int
ix_send(void *ctx, const struct journal_row *rows, int n)
{
	struct ix *x = ctx;

	x->rows = rows;
	x->nrows = n < x->limit ? n : x->limit;
	if (build(x, rows, x->nrows) != 0)
		return -1;
	if (x->nlines == 0) {	/* nothing to write: done without a request */
		free(x->body);
		x->body = NULL;
		log_skipped(x);
		delivery_done(x->d, x->nrows, DELIVERY_OK, 0);
		return 0;
	}
	x->reply_body = (struct curlev_body){ .buf = x->reply,
	    .size = sizeof(x->reply), .keep_prefix = true };
	curlev_body_reset(&x->reply_body);
	x->retry_after = -1;
	x->curl_err[0] = '\0';
	x->easy = curl_easy_init();
	x->headers = curl_slist_append(NULL,
	    "Content-Type: text/plain; charset=utf-8");
	/* No "Expect: 100-continue" round trip for larger batches. */
	if (x->headers)
		x->headers = curl_slist_append(x->headers, "Expect:");
	if (x->headers && x->v2)
		x->headers = curl_slist_append(x->headers, x->auth);
	if (x->easy == NULL || x->headers == NULL) {
		request_free(x);
		return -1;
	}
	curl_easy_setopt(x->easy, CURLOPT_URL, x->url);
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)x->body_len);
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body);
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, curlev_body_write);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, &x->reply_body);
	curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT,
	    x->timeout < 10 ? (long)x->timeout : 10L);
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT, (long)x->timeout);
	curl_easy_setopt(x->easy, CURLOPT_USERAGENT, "omniklog");
	curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->curl_err);
	if (!x->v2 && x->user[0]) {
		curl_easy_setopt(x->easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(x->easy, CURLOPT_USERNAME, x->user);
		curl_easy_setopt(x->easy, CURLOPT_PASSWORD, x->password);
	}
	if (x->cafile[0])
		curl_easy_setopt(x->easy, CURLOPT_CAINFO, x->cafile);
	if (curlev_add(x->http, x->easy) != 0) {
		request_free(x);
		return -1;
	}
	return 0;
}

static void
ix_free(void *ctx)
{
	struct ix *x = ctx;

	request_free(x);
	curlev_free(x->http);
	/* The secrets leave no copy behind in freed memory. */
	explicit_bzero(x->auth, sizeof(x->auth));
	explicit_bzero(x->password, sizeof(x->password));
	free(x);
}

static const struct delivery_ops ix_ops = { ix_send, ix_free };

/* A query parameter's value, percent-encoded (RFC 3986 unreserved kept). */
static void
url_param(char *buf, size_t n, size_t *len, const char *key, const char *v)
{
	static const char hex[] = "0123456789ABCDEF";

	*len += (size_t)snprintf(buf + *len, n - *len, "%s=", key);
	for (; *v && *len + 4 < n; v++) {
		unsigned char c = (unsigned char)*v;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c) != NULL) {
			buf[(*len)++] = (char)c;
		} else {
			buf[(*len)++] = '%';
			buf[(*len)++] = hex[c >> 4];
			buf[(*len)++] = hex[c & 15];
		}
	}
	buf[*len] = '\0';
}

static void
write_url(struct ix *x, const struct influx_conf *c)
{
	size_t n = sizeof(x->url), len;
	bool slash = c->url[strlen(c->url) - 1] == '/';

	len = (size_t)snprintf(x->url, n, "%s%s%s", c->url, slash ? "" : "/",
	    x->v2 ? "api/v2/write?" : "write?");
	if (x->v2) {
		url_param(x->url, n, &len, "org", c->org);
		len += (size_t)snprintf(x->url + len, n - len, "&");
		url_param(x->url, n, &len, "bucket", c->bucket);
	} else {
		url_param(x->url, n, &len, "db", c->db);
	}
	snprintf(x->url + len, n - len, "&precision=s");
}

static int
influx_start(struct journal *j, struct event_base *base, const void *conf,
    struct delivery **out, int max, int *n, char *err, size_t errlen)
{
	const struct influx_conf *c = conf;
	struct delivery_opts dopt = { .name = "influxdb" };
	struct ix *x;

	*n = 0;
	if (max < 1) {
		snprintf(err, errlen, "influxdb: no room for its delivery");
		return -1;
	}
	if (curlev_load("InfluxDB output", err, errlen) != 0)
		return -1;
	if ((x = calloc(1, sizeof(*x))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	x->v2 = c->bucket[0] != '\0';
	write_url(x, c);
	if (x->v2)
		snprintf(x->auth, sizeof(x->auth), "Authorization: Token %s",
		    c->token);
	snprintf(x->user, sizeof(x->user), "%s", c->user);
	snprintf(x->password, sizeof(x->password), "%s", c->password);
	snprintf(x->cafile, sizeof(x->cafile), "%s", c->cafile);
	if (influx_escape_measurement(c->measurement, x->measurement,
	    sizeof(x->measurement)) == 0) {
		snprintf(err, errlen, "[influxdb] measurement: too long");
		goto fail;
	}
	if (x->cafile[0] && access(x->cafile, R_OK) != 0) {
		snprintf(err, errlen, "[influxdb] cafile: cannot read %s: %s",
		    x->cafile, strerror(errno));
		goto fail;
	}
	x->batch = x->limit = c->batch;
	x->timeout = c->timeout;
	if ((x->http = curlev_new(base, on_done, x)) == NULL) {
		snprintf(err, errlen, "influxdb: out of memory");
		goto fail;
	}
	dopt.batch = x->batch;
	x->d = delivery_new(j, base, &dopt, &ix_ops, x, err, errlen);
	if (x->d == NULL)
		goto fail;
	out[(*n)++] = x->d;
	return 0;
fail:
	ix_free(x);
	return -1;
}

static bool
influx_enabled(const void *conf)
{
	const struct influx_conf *c = conf;

	return c->url[0] != '\0';
}

static void
influx_status(void *ctx, struct output_status *st)
{
	const struct ix *x = ctx;

	snprintf(st->last_error, sizeof(st->last_error), "%s",
	    x->last_error);
}

const struct output_driver influx_driver = {
	.name = "influxdb",
	.section = &influx_section,
	.enabled = influx_enabled,
	.start = influx_start,
	.status = influx_status,
};
