/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pvoutput.c: the PVOutput output.
 *
 *   rows of one inverter --> statuses (local time) --> POST addbatchstatus
 *                             |  skipped for good:    |
 *                             |  too old, night zero  v
 *   reply 200 "d,t,1;d,t,0"  --> cursor past the acknowledged prefix
 *         400                --> resend one status at a time; a status
 *                                refused alone is skipped and logged
 *         401 / 403 (key)    --> stop this system (configuration)
 *         403 Exceeded       --> wait for X-Rate-Limit-Reset
 *         5xx, network       --> back off
 *
 * The requests run on the program's event loop through curlev.h (curl
 * multi on libevent); nothing here blocks. libcurl itself is loaded by
 * pvoutput_start, not linked.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "curlev.h"
#include "delivery.h"
#include "journal.h"
#include "log.h"
#include "pvoutput.h"

#define STATUS_LEN 64
#define BATCH_MAX 100
#define REPLY_MAX 8192
#define ZERO_RETRIES 3		/* a status answered ",0" this often: skipped */
#define MEMBERS_MAX PVOUTPUT_MEMBERS_MAX
#define SLOT_S 300		/* a summed system gets one status per slot */
#define SUM_WAIT_S 300		/* after a slot ends, a late inverter is
				 * waited for this long */
#define SUM_CARRY_S 600		/* an inverter's power still counts this
				 * long after its last reading */
#define SUM_POLL_S 30		/* while waiting, look for its reading */

/* What a summed system knows of one inverter, from the rows delivered. */
struct pv_member {
	char sn[OMNIK_SERIAL_LEN + 1];
	bool known;
	time_t t;		/* its last reading */
	int64_t pac, etoday, etotal;
};

struct pv_client {
	struct curlev *http;
	char url[CONFIG_STR + 64];
	char cafile[CONFIG_STR];	/* "" = curl's default store */
	char key_header[160];
	struct pvoutput_fmt fmt;
	int batch;
	int window_days;
	/* One rate limit per API key, shared by its systems. */
	long remaining;		/* -1: unknown */
	time_t reset;
	int nsys;
	int refs;		/* systems still alive */
};

struct pv_system {
	char last_err[256];		/* for the status page */
	struct pv_client *c;
	struct delivery *d;
	char sid[16];
	char inverter[OMNIK_SERIAL_LEN + 1];
	char sid_header[48];
	CURL *easy;
	struct curl_slist *headers;
	char *post;
	char reply[REPLY_MAX];
	char curl_err[CURL_ERROR_SIZE];	/* curl's detail (TLS reasons) */
	struct curlev_body reply_body;	/* over reply */
	const struct journal_row *rows;
	int nrows;
	int sent_row[BATCH_MAX];	/* status i is rows[sent_row[i]] .. */
	int sent_end[BATCH_MAX];	/* .. rows[sent_end[i] - 1] */
	struct pv_member mem[MEMBERS_MAX];	/* summed: its inverters */
	int nmem;			/* 0: one inverter, s->inverter */
	char sent[BATCH_MAX][16];	/* "yyyymmdd,hh:mm" of status i */
	bool sent_zero[BATCH_MAX];	/* status i reports no power */
	int nsent;
	int single;		/* statuses still to send one at a time */
	bool last_zero;		/* the last status acknowledged had no power */
	int64_t zero_id;	/* row answered ",0", and how often */
	int zero_count;
};

static void members_apply(struct pv_member *mem, int n,
    const struct journal_row *rows, int upto);

/* --- statuses ---------------------------------------------------------- */

size_t
pvoutput_status(const struct journal_row *row, const struct pvoutput_fmt *f,
    char *buf, size_t n)
{
	const struct omnik_reading *r = &row->r;
	time_t t = row->when.tv_sec;
	struct tm tm;
	char v1[24] = "", v2[24] = "", v5[24] = "", v6[24] = "";
	int64_t pac;
	int len;

	if (localtime_r(&t, &tm) == NULL)
		return 0;
	if (f->lifetime && r->value[OMNIK_ETOTAL] != OMNIK_ABSENT)
		snprintf(v1, sizeof(v1), "%lld",	/* 0.1 kWh -> Wh */
		    (long long)r->value[OMNIK_ETOTAL] * 100);
	else if (!f->lifetime && r->value[OMNIK_ETODAY] != OMNIK_ABSENT)
		snprintf(v1, sizeof(v1), "%lld",	/* 0.01 kWh -> Wh */
		    (long long)r->value[OMNIK_ETODAY] * 10);
	if (omnik_total_power(r, &pac))
		snprintf(v2, sizeof(v2), "%lld", (long long)pac);
	if (f->temperature && r->value[OMNIK_TEMP] != OMNIK_ABSENT)
		omnik_format_value(OMNIK_TEMP, r->value[OMNIK_TEMP], v5,
		    sizeof(v5));
	if (f->voltage && r->value[OMNIK_VAC1] != OMNIK_ABSENT)
		omnik_format_value(OMNIK_VAC1, r->value[OMNIK_VAC1], v6,
		    sizeof(v6));
	len = snprintf(buf, n, "%04d%02d%02d,%02d:%02d,%s,%s,,,%s,%s",
	    (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100,
	    tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100, v1, v2, v5,
	    v6);
	return len > 0 && (size_t)len < n ? (size_t)len : 0;
}

/* --- one request ------------------------------------------------------- */


static size_t
on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
	struct pv_system *s = userdata;
	size_t len = size * nitems;
	char line[128];

	if (len >= sizeof(line))
		return len;
	memcpy(line, buf, len);
	line[len] = '\0';
	if (strncasecmp(line, "X-Rate-Limit-Remaining:", 23) == 0)
		s->c->remaining = strtol(line + 23, NULL, 10);
	else if (strncasecmp(line, "X-Rate-Limit-Reset:", 19) == 0)
		s->c->reset = (time_t)strtoll(line + 19, NULL, 10);
	return len;
}

static void
request_free(struct pv_system *s)
{
	if (s->easy) {
		curlev_remove(s->c->http, s->easy);
		curl_easy_cleanup(s->easy);
		s->easy = NULL;
	}
	curl_slist_free_all(s->headers);
	s->headers = NULL;
	free(s->post);
	s->post = NULL;
}

/*
 * The reply's first line, printable, for a log line (and the status page:
 * at most 160 bytes of it there).
 */
static const char *
reply_line(struct pv_system *s)
{
	s->reply[strcspn(s->reply, "\r\n")] = '\0';
	for (char *p = s->reply; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
	return s->reply[0] ? s->reply : "(empty reply)";
}

static void
fmt_local(time_t t, char *buf, size_t n)
{
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, n, "%Y-%m-%d %H:%M", &tm);
}

/*
 * 200: "yyyymmdd,hh:mm,1;..." in the order sent. The cursor moves past
 * every row up to the first status not acknowledged.
 */
static void
handle_ok(struct pv_system *s)
{
	const char *p = s->reply;
	int i, upto;

	for (i = 0; i < s->nsent; i++) {
		const char *end = strchr(p, ';');
		size_t len = end ? (size_t)(end - p) : strcspn(p, "\r\n");
		size_t dl = strlen(s->sent[i]);

		if (len < dl + 2 || strncmp(p, s->sent[i], dl) != 0 ||
		    p[dl] != ',' || p[dl + 1] != '1')
			break;
		p = end ? end + 1 : p + len;
	}
	if (i > 0)
		s->last_zero = s->sent_zero[i - 1];
	if (i == s->nsent) {
		upto = s->nrows;
	} else {
		const struct journal_row *row = &s->rows[s->sent_row[i]];

		upto = s->sent_row[i];
		if (row->id == s->zero_id) {
			s->zero_count++;
		} else {
			s->zero_id = row->id;
			s->zero_count = 1;
		}
		if (s->zero_count >= ZERO_RETRIES) {
			log_warnx("output pvoutput system %s: status %s not "
			    "added after %d tries, skipped", s->sid,
			    s->sent[i], ZERO_RETRIES);
			upto++;
		}
		if (upto == 0) {
			delivery_done(s->d, 0, DELIVERY_RETRY, 0);
			return;
		}
	}
	if (s->single > 0)
		s->single--;
	members_apply(s->mem, s->nmem, s->rows, upto);
	delivery_done(s->d, upto, DELIVERY_OK, 0);
}

static int
member_of(const struct pv_member *mem, int n, const char *sn)
{
	for (int m = 0; m < n; m++)
		if (strcmp(mem[m].sn, sn) == 0)
			return m;
	return -1;
}

/* Rows delivered: what each inverter of a summed system last said. */
static void
members_apply(struct pv_member *mem, int n, const struct journal_row *rows,
    int upto)
{
	for (int i = 0; i < upto; i++) {
		const struct omnik_reading *r = &rows[i].r;
		int m = member_of(mem, n, r->inverter_sn);
		int64_t pac;

		if (m < 0)
			continue;
		mem[m].known = true;
		mem[m].t = rows[i].when.tv_sec;
		mem[m].pac = omnik_total_power(r, &pac) ? pac : 0;
		mem[m].etoday = r->value[OMNIK_ETODAY];
		mem[m].etotal = r->value[OMNIK_ETOTAL];
	}
}

static int
local_day(time_t t)
{
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL)
		return 0;
	return (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}

/*
 * The status of one slot of a summed system: power and energy of every
 * inverter added up. An inverter with no reading in the slot adds its
 * last power if that is recent (SUM_CARRY_S) and 0 otherwise (asleep),
 * and its last energy of the same day (0 on a new day: it has made
 * none yet); when its energy is not known at all (the first slot after
 * a start) the status carries no energy rather than a sum that is short.
 */
static void
slot_sum(const struct pv_member *mem, int n, time_t slot,
    struct journal_row *out)
{
	int64_t pac = 0, et = 0, etot = 0;
	bool et_ok = true, etot_ok = true;
	int day = local_day(slot);

	memset(out, 0, sizeof(*out));
	omnik_reading_clear(&out->r);
	out->when.tv_sec = slot;
	for (int m = 0; m < n; m++) {
		if (!mem[m].known) {
			et_ok = etot_ok = false;
			continue;
		}
		if (slot - mem[m].t <= SUM_CARRY_S)
			pac += mem[m].pac;
		if (mem[m].etotal == OMNIK_ABSENT)
			etot_ok = false;
		else
			etot += mem[m].etotal;
		if (local_day(mem[m].t) != day)
			continue;	/* nothing made yet today */
		if (mem[m].etoday == OMNIK_ABSENT)
			et_ok = false;
		else
			et += mem[m].etoday;
	}
	out->r.value[OMNIK_PAC1] = pac;
	out->r.value[OMNIK_ETODAY] = et_ok ? et : OMNIK_ABSENT;
	out->r.value[OMNIK_ETOTAL] = etot_ok ? etot : OMNIK_ABSENT;
}

static void
finish(struct pv_system *s, CURLcode cc)
{
	long code = 0;
	time_t now = time(NULL);

	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
	request_free(s);
	if (cc != CURLE_OK) {
		/* No URL in it, and the key travels in a header. */
		snprintf(s->last_err, sizeof(s->last_err), "%s",
		    s->curl_err[0] ? s->curl_err : curl_easy_strerror(cc));
		log_warnx("output pvoutput system %s: %s", s->sid,
		    s->last_err);
		delivery_done(s->d, 0, DELIVERY_RETRY, 0);
		return;
	}
	switch (code) {
	case 200:
		handle_ok(s);
		return;
	case 400:
		if (s->nsent > 1) {
			/* Find the bad status: resend one at a time. */
			log_info("output pvoutput system %s: %s; sending the "
			    "%d statuses one by one", s->sid, reply_line(s),
			    s->nsent);
			s->single = s->nsent;
			delivery_done(s->d, 0, DELIVERY_OK, 0);
			return;
		}
		snprintf(s->last_err, sizeof(s->last_err), "status %s "
		    "skipped: %.160s", s->nsent ? s->sent[0] : "?", reply_line(s));
		log_warnx("output pvoutput system %s: %s", s->sid,
		    s->last_err);
		if (s->single > 0)
			s->single--;
		members_apply(s->mem, s->nmem, s->rows,
		    s->nsent ? s->sent_end[0] : 0);
		delivery_done(s->d, s->nsent ? s->sent_end[0] : 0,
		    DELIVERY_OK, 0);
		return;
	case 401:
		snprintf(s->last_err, sizeof(s->last_err), "%.160s: check "
		    "[pvoutput] api_key and systems", reply_line(s));
		log_warnx("output pvoutput system %s: %s", s->sid,
		    s->last_err);
		delivery_done(s->d, 0, DELIVERY_STOP, 0);
		return;
	case 403:
		if (strstr(s->reply, "Exceeded") != NULL) {
			time_t at = s->c->reset > now ? s->c->reset :
			    now + 900;
			char when[32];

			fmt_local(at, when, sizeof(when));
			snprintf(s->last_err, sizeof(s->last_err), "rate "
			    "limit reached; waiting until %s", when);
			log_warnx("output pvoutput system %s: %s", s->sid,
			    s->last_err);
			s->c->remaining = 0;
			s->c->reset = at;
			delivery_done(s->d, 0, DELIVERY_WAIT, at);
			return;
		}
		snprintf(s->last_err, sizeof(s->last_err), "%.160s: check "
		    "[pvoutput]", reply_line(s));
		log_warnx("output pvoutput system %s: %s", s->sid,
		    s->last_err);
		delivery_done(s->d, 0, DELIVERY_STOP, 0);
		return;
	default:
		snprintf(s->last_err, sizeof(s->last_err), "HTTP %ld: %.160s",
		    code, reply_line(s));
		log_warnx("output pvoutput system %s: %s", s->sid,
		    s->last_err);
		delivery_done(s->d, 0, DELIVERY_RETRY, 0);
		return;
	}
}

/* A request ended (on the loop, from curlev). */
static void
on_done(void *arg, CURL *easy, CURLcode result)
{
	struct pv_system *s = NULL;

	(void)arg;
	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&s);
	if (s != NULL)
		finish(s, result);
}

/*
 * A summed system: one status per 5-minute slot, once every inverter
 * has a reading in it, or once the slot ended SUM_WAIT_S ago (so a
 * backfill goes out at once, and a dead inverter holds nothing up), or
 * once a reading of a later slot came (rows are in arrival order). The
 * rows of the slot still waiting stay undelivered (*consumed ends
 * before them) and *wait_until says when to look again.
 */
static void
build_sum(struct pv_system *s, char *buf, size_t cap, size_t *len, int max,
    time_t oldest, int *consumed, time_t *wait_until)
{
	struct pv_member st[MEMBERS_MAX];
	time_t now = time(NULL);
	bool lz = s->last_zero;
	int i = 0;

	memcpy(st, s->mem, sizeof(st));
	*consumed = 0;
	*wait_until = 0;
	while (i < s->nrows && s->nsent < max) {
		bool seen[MEMBERS_MAX] = { false }, all = true, any = false;
		time_t slot = 0;
		int j = i, m;

		for (; j < s->nrows; j++) {
			const struct journal_row *row = &s->rows[j];
			time_t sl = row->when.tv_sec - row->when.tv_sec % SLOT_S;

			m = member_of(st, s->nmem, row->r.inverter_sn);
			if (m < 0)
				continue;
			if (any && sl > slot)
				break;
			if (!any)
				slot = sl;
			any = true;
			seen[m] = true;
		}
		for (m = 0; m < s->nmem; m++)
			all = all && seen[m];
		if (any && !all && j == s->nrows &&
		    now < slot + SLOT_S + SUM_WAIT_S) {
			*wait_until = slot + SLOT_S + SUM_WAIT_S;
			break;
		}
		members_apply(st, s->nmem, s->rows + i, j - i);
		if (any && slot >= oldest) {
			struct journal_row sum;
			char stt[STATUS_LEN];
			bool zero;

			slot_sum(st, s->nmem, slot, &sum);
			zero = sum.r.value[OMNIK_PAC1] == 0;
			if (!(zero && lz) && pvoutput_status(&sum, &s->c->fmt,
			    stt, sizeof(stt)) != 0) {
				lz = zero;
				s->sent_zero[s->nsent] = zero;
				snprintf(s->sent[s->nsent], sizeof(s->sent[0]),
				    "%.14s", stt);
				s->sent_row[s->nsent] = i;
				s->sent_end[s->nsent++] = j;
				*len += (size_t)snprintf(buf + *len, cap - *len,
				    "%s%s", s->nsent > 1 ? ";" : "", stt);
			}
		}
		i = j;
		*consumed = j;
	}
}

/* Build the statuses of rows[]; skipped rows count as delivered. */
static int
build(struct pv_system *s, char **post, int *consumed, time_t *wait_until)
{
	struct pv_client *c = s->c;
	time_t oldest = time(NULL) - (time_t)c->window_days * 86400;
	size_t cap = 32 + (size_t)c->batch * STATUS_LEN, len = 0;
	int max = s->single > 0 ? 1 : c->batch, old = 0;
	bool lz = s->last_zero;
	char *buf;

	buf = malloc(cap);
	if (buf == NULL)
		return -1;
	len = (size_t)snprintf(buf, cap, "%sdata=", c->fmt.lifetime ?
	    "c1=1&" : "");
	s->nsent = 0;
	*consumed = s->nrows;
	*wait_until = 0;
	if (s->nmem > 0) {
		build_sum(s, buf, cap, &len, max, oldest, consumed,
		    wait_until);
		*post = buf;
		return 0;
	}
	for (int i = 0; i < s->nrows && s->nsent < max; i++) {
		const struct journal_row *row = &s->rows[i];
		char st[STATUS_LEN];
		int64_t pac;
		bool zero;

		if (row->when.tv_sec < oldest) {
			old++;
			continue;
		}
		zero = !omnik_total_power(&row->r, &pac) || pac == 0;
		if (zero && lz)
			continue;	/* night: one zero status is enough */
		if (pvoutput_status(row, &c->fmt, st, sizeof(st)) == 0)
			continue;
		lz = zero;
		s->sent_zero[s->nsent] = zero;
		snprintf(s->sent[s->nsent], sizeof(s->sent[0]), "%.14s", st);
		s->sent_end[s->nsent] = i + 1;
		s->sent_row[s->nsent++] = i;
		len += (size_t)snprintf(buf + len, cap - len, "%s%s",
		    s->nsent > 1 ? ";" : "", st);
	}
	if (old > 0)
		log_warnx("output pvoutput system %s: %d readings older than "
		    "%d days skipped (PVOutput takes no older statuses)",
		    s->sid, old, c->window_days);
	*post = buf;
	return 0;
}

static int
pv_send(void *ctx, const struct journal_row *rows, int n)
{
	struct pv_system *s = ctx;
	struct pv_client *c = s->c;
	time_t now = time(NULL);
	char *post = NULL;
	time_t wait_until;
	int consumed;

	if (c->remaining == 0 && c->reset > now) {
		char when[32];

		fmt_local(c->reset, when, sizeof(when));
		log_info("output pvoutput system %s: no requests left this "
		    "hour; waiting until %s", s->sid, when);
		delivery_done(s->d, 0, DELIVERY_WAIT, c->reset);
		return 0;
	}
	s->rows = rows;
	s->nrows = n;
	if (build(s, &post, &consumed, &wait_until) != 0)
		return -1;
	if (s->nsent == 0) {	/* all skipped: done without a request */
		free(post);
		members_apply(s->mem, s->nmem, rows, consumed);
		if (wait_until > 0)	/* a slot waits for an inverter */
			delivery_done(s->d, consumed, DELIVERY_WAIT,
			    wait_until < now + SUM_POLL_S ? wait_until :
			    now + SUM_POLL_S);
		else
			delivery_done(s->d, consumed, DELIVERY_OK, 0);
		return 0;
	}
	/* Rows after the last status sent wait for the next request. */
	if (s->nmem > 0)
		s->nrows = consumed;
	else if (s->single > 0 || s->nsent == (s->single > 0 ? 1 : c->batch))
		s->nrows = s->sent_end[s->nsent - 1];
	s->post = post;
	s->reply_body = (struct curlev_body){ .buf = s->reply,
	    .size = sizeof(s->reply), .keep_prefix = true };
	curlev_body_reset(&s->reply_body);
	s->easy = curl_easy_init();
	s->headers = curl_slist_append(NULL, c->key_header);
	if (s->headers)
		s->headers = curl_slist_append(s->headers, s->sid_header);
	if (s->headers)
		s->headers = curl_slist_append(s->headers, "X-Rate-Limit: 1");
	/* No "Expect: 100-continue" round trip for larger batches. */
	if (s->headers)
		s->headers = curl_slist_append(s->headers, "Expect:");
	if (s->easy == NULL || s->headers == NULL) {
		request_free(s);
		return -1;
	}
	curl_easy_setopt(s->easy, CURLOPT_URL, c->url);
	curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->post);
	curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
	curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, curlev_body_write);
	curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, &s->reply_body);
	curl_easy_setopt(s->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(s->easy, CURLOPT_HEADERDATA, s);
	curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
	curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->easy, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(s->easy, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(s->easy, CURLOPT_USERAGENT, "omniklog");
	curl_easy_setopt(s->easy, CURLOPT_PROTOCOLS_STR, "https,http");
	s->curl_err[0] = '\0';
	curl_easy_setopt(s->easy, CURLOPT_ERRORBUFFER, s->curl_err);
	if (c->cafile[0])
		curl_easy_setopt(s->easy, CURLOPT_CAINFO, c->cafile);
	if (curlev_add(c->http, s->easy) != 0) {
		request_free(s);
		return -1;
	}
	return 0;
}

static void
client_unref(struct pv_client *c)
{
	if (--c->refs > 0)
		return;
	curlev_free(c->http);
	free(c);
}

static void
pv_free(void *ctx)
{
	struct pv_system *s = ctx;

	request_free(s);
	client_unref(s->c);
	free(s);
}

static const struct delivery_ops pv_ops = { pv_send, pv_free };

static int
pvoutput_start(struct journal *j, struct event_base *base, const void *conf,
    struct delivery **out, int max, int *n, char *err, size_t errlen)
{
	const struct pvoutput_conf *cfg = conf;
	struct pv_client *c;
	struct delivery_opts dopt = { 0 };

	*n = 0;
	if (curlev_load("PVOutput output", err, errlen) != 0)
		return -1;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	c->refs = 1;		/* ours, until the systems hold it */
	c->remaining = -1;
	snprintf(c->url, sizeof(c->url), "%s%sservice/r2/addbatchstatus.jsp",
	    cfg->url, cfg->url[strlen(cfg->url) - 1] == '/' ? "" :
	    "/");
	snprintf(c->cafile, sizeof(c->cafile), "%s", cfg->cafile);
	if (c->cafile[0] && access(c->cafile, R_OK) != 0) {
		snprintf(err, errlen, "[pvoutput] cafile: cannot read %s: %s",
		    c->cafile, strerror(errno));
		goto fail;
	}
	snprintf(c->key_header, sizeof(c->key_header),
	    "X-Pvoutput-Apikey: %s", cfg->api_key);
	c->fmt.lifetime = strcmp(cfg->energy, "lifetime") == 0;
	c->fmt.temperature = cfg->temperature;
	c->fmt.voltage = cfg->voltage;
	c->batch = cfg->donor ? 100 : 30;
	c->window_days = cfg->donor ? 90 : 14;
	if ((c->http = curlev_new(base, on_done, c)) == NULL) {
		snprintf(err, errlen, "pvoutput: out of memory");
		goto fail;
	}

	/* The systems as the config loader checked and parsed them. */
	if (cfg->nsystems > max) {
		snprintf(err, errlen, "[pvoutput] systems: too many");
		goto fail;
	}
	for (int i = 0; i < cfg->nsystems; i++) {
		const struct pvoutput_system *ps = &cfg->sys[i];
		struct pv_system *s;
		char name[48];

		s = calloc(1, sizeof(*s));
		if (s == NULL) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		s->c = c;
		c->refs++;
		snprintf(s->sid, sizeof(s->sid), "%s", ps->sid);
		snprintf(s->inverter, sizeof(s->inverter), "%s", ps->inverter);
		s->nmem = ps->nmem;
		for (int m = 0; m < ps->nmem; m++)
			snprintf(s->mem[m].sn, sizeof(s->mem[m].sn), "%s",
			    ps->mem[m]);
		snprintf(s->sid_header, sizeof(s->sid_header),
		    "X-Pvoutput-SystemId: %s", s->sid);
		snprintf(name, sizeof(name), "pvoutput:%s", s->sid);
		dopt.name = name;
		/* A summed system reads every row and keeps its own. */
		dopt.inverter = s->nmem > 0 ? NULL : s->inverter;
		dopt.batch = c->batch;
		s->d = delivery_new(j, base, &dopt, &pv_ops, s, err, errlen);
		if (s->d == NULL) {
			pv_free(s);
			goto fail;
		}
		out[(*n)++] = s->d;
	}
	client_unref(c);
	return 0;
fail:
	while (*n > 0)
		delivery_free(out[--*n]);
	client_unref(c);
	return -1;
}

static bool
pvoutput_enabled(const void *conf)
{
	const struct pvoutput_conf *c = conf;

	return c->api_key[0] != '\0';
}

static void
pv_status(void *ctx, struct output_status *st)
{
	const struct pv_system *s = ctx;

	snprintf(st->last_error, sizeof(st->last_error), "%s", s->last_err);
}

const struct output_driver pvoutput_driver = {
	.name = "pvoutput",
	.section = &pvoutput_section,
	.enabled = pvoutput_enabled,
	.start = pvoutput_start,
	.status = pv_status,
};
