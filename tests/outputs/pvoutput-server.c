/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pvoutput-server.c: a local stand-in for PVOutput's addbatchstatus
 * service, for the output tests. Plain HTTP on 127.0.0.1; it answers as
 * PVOutput's API documentation describes:
 *
 *   200  "yyyymmdd,hh:mm,1;..."       every status added
 *   400  "Bad request 400: ..."       a date older than the backfill
 *                                     window (14 days, 90 with --donor),
 *                                     in the future, a value out of
 *                                     range, too many statuses; the whole
 *                                     request is refused
 *   401  "Unauthorized 401: ..."      wrong X-Pvoutput-Apikey or SystemId
 *   403  "Forbidden 403: Exceeded number requests per hour"
 *   X-Rate-Limit-Remaining/-Limit/-Reset on every reply to a request
 *   carrying "X-Rate-Limit: 1"
 *
 *   pvoutput-server -p PORT -k KEY -s SID[,SID...] -l LOG [--donor]
 *                   [--limit N] [--window S] [--max-power W]
 *
 * LOG gets one line per status added: "sid date time v1 v2 v5 v6 c1",
 * and one line per reply: "# code remaining". Dates are read in the local
 * time zone (TZ), as PVOutput reads them in the system's.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <getopt.h>
#include <signal.h>
#include <sys/queue.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct server {
	const char *key;
	char systems[256];
	FILE *log;
	bool donor;
	int limit, window, max_power;
	int used;
	time_t window_start;
};

static void
reply(struct evhttp_request *req, struct server *sv, int code,
    const char *reason, const char *body)
{
	struct evbuffer *b = evbuffer_new();
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	const char *want = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "X-Rate-Limit");
	char v[32];

	if (want && strcmp(want, "1") == 0) {
		snprintf(v, sizeof(v), "%d", sv->limit - sv->used < 0 ? 0 :
		    sv->limit - sv->used);
		evhttp_add_header(out, "X-Rate-Limit-Remaining", v);
		snprintf(v, sizeof(v), "%d", sv->limit);
		evhttp_add_header(out, "X-Rate-Limit-Limit", v);
		snprintf(v, sizeof(v), "%lld",
		    (long long)(sv->window_start + sv->window));
		evhttp_add_header(out, "X-Rate-Limit-Reset", v);
	}
	evhttp_add_header(out, "Content-Type", "text/plain");
	evbuffer_add_printf(b, "%s", body);
	fprintf(sv->log, "# %d %d\n", code, sv->limit - sv->used);
	fflush(sv->log);
	evhttp_send_reply(req, code, reason, b);
	evbuffer_free(b);
}

static bool
known_system(struct server *sv, const char *sid)
{
	char buf[256];

	snprintf(buf, sizeof(buf), ",%s,", sid);
	return strstr(sv->systems, buf) != NULL;
}

/* Local midnight of a yyyymmdd date, -1 if it is not one. */
static time_t
parse_date(const char *d, int hh, int mm)
{
	struct tm tm = { 0 };
	char *end;
	long v = strtol(d, &end, 10);

	if (end - d != 8 || *end != '\0')
		return -1;
	tm.tm_year = (int)(v / 10000) - 1900;
	tm.tm_mon = (int)(v / 100 % 100) - 1;
	tm.tm_mday = (int)(v % 100);
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_isdst = -1;
	if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31)
		return -1;
	return mktime(&tm);
}

#define FIELDS 8

static void
on_batch(struct evhttp_request *req, void *arg)
{
	struct server *sv = arg;
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char *key = evhttp_find_header(in, "X-Pvoutput-Apikey");
	const char *sid = evhttp_find_header(in, "X-Pvoutput-SystemId");
	struct evbuffer *body = evhttp_request_get_input_buffer(req);
	struct evkeyvalq params;
	char form[16384], msg[256], out[8192], *save = NULL, *st;
	char f[FIELDS][24];
	char lines[100][300];
	size_t len = evbuffer_get_length(body), olen = 0;
	const char *data;
	char c1[8];
	time_t now = time(NULL), oldest;
	int n = 0, window_days = sv->donor ? 90 : 14;

	if (now >= sv->window_start + sv->window) {
		sv->window_start = now;
		sv->used = 0;
	}
	if (key == NULL || strcmp(key, sv->key) != 0) {
		reply(req, sv, 401, "Unauthorized",
		    "Unauthorized 401: Invalid API Key");
		return;
	}
	if (sid == NULL || !known_system(sv, sid)) {
		reply(req, sv, 401, "Unauthorized",
		    "Unauthorized 401: Invalid System ID");
		return;
	}
	if (sv->used >= sv->limit) {
		reply(req, sv, 403, "Forbidden",
		    "Forbidden 403: Exceeded number requests per hour");
		return;
	}
	sv->used++;
	if (len >= sizeof(form)) {
		reply(req, sv, 400, "Bad Request", "Bad request 400: too long");
		return;
	}
	evbuffer_copyout(body, form, len);
	form[len] = '\0';
	TAILQ_INIT(&params);
	if (evhttp_parse_query_str(form, &params) != 0 ||
	    (data = evhttp_find_header(&params, "data")) == NULL) {
		evhttp_clear_headers(&params);
		reply(req, sv, 400, "Bad Request",
		    "Bad request 400: No statuses added");
		return;
	}
	snprintf(c1, sizeof(c1), "%s", evhttp_find_header(&params, "c1") ?
	    evhttp_find_header(&params, "c1") : "0");
	snprintf(form, sizeof(form), "%s", data);
	evhttp_clear_headers(&params);
	/* Older than N days: before local midnight N days ago. */
	{
		struct tm tm;
		time_t t = now - (time_t)window_days * 86400;

		localtime_r(&t, &tm);
		tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
		tm.tm_isdst = -1;
		oldest = mktime(&tm);
	}
	for (st = strtok_r(form, ";", &save); st;
	    st = strtok_r(NULL, ";", &save)) {
		int k = 0, hh, mm;
		const char *p = st;
		time_t when;
		long v2, v6;

		if (n >= (sv->donor ? 100 : 30)) {
			snprintf(msg, sizeof(msg), "Bad request 400: Maximum "
			    "%d statuses per request", sv->donor ? 100 : 30);
			goto bad;
		}
		memset(f, 0, sizeof(f));
		while (k < FIELDS) {
			size_t l = strcspn(p, ",");

			snprintf(f[k++], sizeof(f[0]), "%.*s", (int)l, p);
			if (p[l] == '\0')
				break;
			p += l + 1;
		}
		if (sscanf(f[1], "%d:%d", &hh, &mm) != 2 || hh > 23 ||
		    mm > 59 || (when = parse_date(f[0], hh, mm)) < 0) {
			snprintf(msg, sizeof(msg), "Bad request 400: Invalid "
			    "date or time [%s %s]", f[0], f[1]);
			goto bad;
		}
		if (when < oldest) {
			snprintf(msg, sizeof(msg), "Bad request 400: Date is "
			    "older than %d days [%s]", window_days, f[0]);
			goto bad;
		}
		if (when > now + 300) {
			snprintf(msg, sizeof(msg), "Bad request 400: Date is "
			    "in the future [%s %s]", f[0], f[1]);
			goto bad;
		}
		if (f[2][0] == '\0' && f[3][0] == '\0') {
			snprintf(msg, sizeof(msg), "Bad request 400: Energy "
			    "or power value required [%s %s]", f[0], f[1]);
			goto bad;
		}
		v2 = atol(f[3]);
		if (atol(f[2]) < 0 || v2 < 0 || v2 > sv->max_power) {
			snprintf(msg, sizeof(msg), "Bad request 400: Power "
			    "value [%s] too high for system size", f[3]);
			goto bad;
		}
		v6 = atol(f[7]);
		if (f[7][0] && (v6 < 0 || v6 > 1000)) {
			snprintf(msg, sizeof(msg), "Bad request 400: Invalid "
			    "voltage value [%s]", f[7]);
			goto bad;
		}
		snprintf(lines[n], sizeof(lines[0]), "%s %s %s %s %s %s %s %s",
		    sid, f[0], f[1], f[2][0] ? f[2] : "-",
		    f[3][0] ? f[3] : "-", f[6][0] ? f[6] : "-",
		    f[7][0] ? f[7] : "-", c1);
		olen += (size_t)snprintf(out + olen, sizeof(out) - olen,
		    "%s%s,%s,1", n ? ";" : "", f[0], f[1]);
		n++;
	}
	if (n == 0) {
		snprintf(msg, sizeof(msg), "Bad request 400: No statuses");
		goto bad;
	}
	for (int i = 0; i < n; i++)
		fprintf(sv->log, "%s\n", lines[i]);
	reply(req, sv, 200, "OK", out);
	return;
bad:
	reply(req, sv, 400, "Bad Request", msg);
}

static void
on_other(struct evhttp_request *req, void *arg)
{
	(void)arg;
	evhttp_send_error(req, 404, "Not Found");
}

static void
on_signal(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "donor", no_argument, NULL, 'd' },
		{ "limit", required_argument, NULL, 'L' },
		{ "window", required_argument, NULL, 'W' },
		{ "max-power", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	struct server sv = { .limit = 60, .window = 3600, .max_power = 10000 };
	struct event_base *base;
	struct evhttp *http;
	struct event *sig;
	const char *logpath = NULL;
	int ch, port = 0;

	while ((ch = getopt_long(argc, argv, "p:k:s:l:", opts, NULL)) != -1) {
		switch (ch) {
		case 'p': port = atoi(optarg); break;
		case 'k': sv.key = optarg; break;
		case 's': snprintf(sv.systems, sizeof(sv.systems), ",%s,",
			      optarg); break;
		case 'l': logpath = optarg; break;
		case 'd': sv.donor = true; break;
		case 'L': sv.limit = atoi(optarg); break;
		case 'W': sv.window = atoi(optarg); break;
		case 'P': sv.max_power = atoi(optarg); break;
		default: return 2;
		}
	}
	if (port <= 0 || sv.key == NULL || logpath == NULL) {
		fprintf(stderr, "usage: pvoutput-server -p PORT -k KEY -s SIDS "
		    "-l LOG [--donor] [--limit N] [--window S] "
		    "[--max-power W]\n");
		return 2;
	}
	if ((sv.log = fopen(logpath, "a")) == NULL) {
		perror(logpath);
		return 1;
	}
	sv.window_start = time(NULL);
	base = event_base_new();
	http = base ? evhttp_new(base) : NULL;
	if (http == NULL || evhttp_bind_socket(http, "127.0.0.1",
	    (ev_uint16_t)port) != 0) {
		fprintf(stderr, "pvoutput-server: cannot listen on port %d\n",
		    port);
		return 1;
	}
	evhttp_set_allowed_methods(http, EVHTTP_REQ_POST | EVHTTP_REQ_GET);
	evhttp_set_cb(http, "/service/r2/addbatchstatus.jsp", on_batch, &sv);
	evhttp_set_gencb(http, on_other, NULL);
	sig = evsignal_new(base, SIGTERM, on_signal, base);
	event_add(sig, NULL);
	event_base_dispatch(base);
	event_free(sig);
	evhttp_free(http);
	event_base_free(base);
	fclose(sv.log);
	return 0;
}
