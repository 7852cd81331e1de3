/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * http.c: one read of a kit's web status page, with libcurl on the loop
 * (output/curlev.h). The pages are tried in the order below, starting
 * with the one that last gave a reading; a page that is missing, refused
 * (401) or without the data sends the attempt on to the next one. A
 * kit that does not connect at all ends the attempt: every page would
 * fail alike.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curlev.h"
#include "log.h"
#include "poller.h"

static const struct {
	const char *path;
	enum omnik_page kind;
} pages[POLL_PAGES] = {
	{ "/js/status.js", OMNIK_PAGE_JS },
	{ "/status.json?CMD=inv_query", OMNIK_PAGE_JSON },
	{ "/status.html", OMNIK_PAGE_HTML },
};

/* Of a page, the journal keeps the data's part, at most this much. */
#define HTTP_RAW_KEPT 2048

static void page_start(struct poll_kit *k);


static void
easy_end(struct poll_kit *k)
{
	if (k->easy) {
		curlev_remove(k->pl->curl, k->easy);
		curl_easy_cleanup(k->easy);
		k->easy = NULL;
	}
}

/* The page answered 200: a reading, garbage, or no data. */
static enum poll_result
page_parse(struct poll_kit *k)
{
	struct omnik_status st;
	struct timeval now;
	char why[128], reason[200];
	enum omnik_err e;
	const uint8_t *raw;
	size_t rl;

	gettimeofday(&now, NULL);
	e = omnik_status_parse(pages[k->page].kind, k->body.buf, k->body.len, &st,
	    why, sizeof(why));
	if (e == OMNIK_ERR_TYPE) {
		snprintf(k->why, sizeof(k->why), "%s: %s", pages[k->page].path,
		    why);
		return POLL_FAILED;
	}
	raw = (const uint8_t *)k->body.buf + (e == OMNIK_OK ||
	    st.raw_len > 0 ? st.raw_off : 0);
	rl = st.raw_len > 0 ? st.raw_len : k->body.len;
	if (rl > HTTP_RAW_KEPT)
		rl = HTTP_RAW_KEPT;
	if (e == OMNIK_OK && st.reading.kit_sn != 0 &&
	    st.reading.kit_sn != k->addr.serial) {
		snprintf(why, sizeof(why), "the page is kit %lu's, not kit %lu's",
		    (unsigned long)st.reading.kit_sn,
		    (unsigned long)k->addr.serial);
		e = OMNIK_ERR_IMPLAUSIBLE;
	}
	/* The page is there: it is the one to read next time too. */
	k->page_worked = k->page;
	if (e != OMNIK_OK) {
		snprintf(reason, sizeof(reason), "%s: %s", pages[k->page].path,
		    why);
		stream_refuse(&k->st, reason, raw, rl, &now);
		snprintf(k->why, sizeof(k->why), "%s: %s", pages[k->page].path,
		    why);
		return POLL_NO_DATA;
	}
	st.reading.kit_sn = k->addr.serial;
	stream_reading(&k->st, &st.reading, raw, rl, &now);
	k->readings += k->st.st.readings;
	/* A reading the limits refused is no reading. */
	if (k->st.st.readings == 0) {
		snprintf(k->why, sizeof(k->why), "%s: the reading was refused",
		    pages[k->page].path);
		return POLL_NO_DATA;
	}
	return POLL_OK;
}

static void
on_done(void *arg, CURL *easy, CURLcode result)
{
	struct poll_kit *k = NULL;
	long code = 0;
	enum poll_result res;

	(void)arg;
	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&k);
	if (k == NULL)
		return;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
	easy_end(k);
	k->pages_tried++;
	if (result != CURLE_OK) {
		if (k->body.cut)
			snprintf(k->why, sizeof(k->why), "%s: more than %d "
			    "bytes: not a status page", pages[k->page].path,
			    POLL_BODY_MAX);
		else
			snprintf(k->why, sizeof(k->why), "%s: %s",
			    pages[k->page].path, curl_easy_strerror(result));
		/* Connected, then cut or overlong: try the next page. */
		res = POLL_FAILED;
		if (code == 0 && !k->body.cut) {
			poll_done(k, res);
			return;
		}
	} else if (code == 200) {
		res = page_parse(k);
		if (res != POLL_FAILED) {
			poll_done(k, res);
			return;
		}
	} else if (code == 401) {
		snprintf(k->why, sizeof(k->why), "%s: 401, user or password "
		    "refused ([poll] http_user, http_password)",
		    pages[k->page].path);
		log_debug("%s: %s", k->name, k->why);
	} else if (code == 404) {
		/* A missing page says least: it never hides another's why. */
		if (++k->pages_missing == POLL_PAGES)
			snprintf(k->why, sizeof(k->why), "no status page (HTTP "
			    "404 for each of /js/status.js, /status.json, "
			    "/status.html)");
		else if (k->why[0] == '\0')
			snprintf(k->why, sizeof(k->why), "%s: HTTP status 404",
			    pages[k->page].path);
	} else {
		snprintf(k->why, sizeof(k->why), "%s: HTTP status %ld",
		    pages[k->page].path, code);
	}
	if (k->pages_tried >= POLL_PAGES) {
		poll_done(k, POLL_FAILED);
		return;
	}
	k->page = (k->page + 1) % POLL_PAGES;
	page_start(k);
}

static void
page_start(struct poll_kit *k)
{
	const char *h = k->addr.host;
	struct poller *pl = k->pl;
	char src[sizeof(k->url) + 8];

	snprintf(k->url, sizeof(k->url), strchr(h, ':') ? "http://[%s]%s" :
	    "http://%s%s", h, pages[k->page].path);
	snprintf(src, sizeof(src), "%s", k->url);
	stream_init(&k->st, pl->out, STREAM_FROM_KIT, src);
	curlev_body_reset(&k->body);
	if ((k->easy = curl_easy_init()) == NULL) {
		snprintf(k->why, sizeof(k->why), "out of memory");
		poll_done(k, POLL_FAILED);
		return;
	}
	curl_easy_setopt(k->easy, CURLOPT_URL, k->url);
	curl_easy_setopt(k->easy, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(k->easy, CURLOPT_WRITEFUNCTION, curlev_body_write);
	curl_easy_setopt(k->easy, CURLOPT_WRITEDATA, &k->body);
	curl_easy_setopt(k->easy, CURLOPT_PRIVATE, k);
	curl_easy_setopt(k->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(k->easy, CURLOPT_CONNECTTIMEOUT, (long)pl->timeout);
	curl_easy_setopt(k->easy, CURLOPT_TIMEOUT, (long)pl->timeout);
	curl_easy_setopt(k->easy, CURLOPT_USERAGENT, "omniklog");
	/* A kit's page is on the LAN: never through a proxy. */
	curl_easy_setopt(k->easy, CURLOPT_NOPROXY, "*");
	if (pl->user[0] != '\0') {
		curl_easy_setopt(k->easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(k->easy, CURLOPT_USERNAME, pl->user);
		curl_easy_setopt(k->easy, CURLOPT_PASSWORD, pl->password);
	}
	if (curlev_add(pl->curl, k->easy) != 0) {
		curl_easy_cleanup(k->easy);
		k->easy = NULL;
		snprintf(k->why, sizeof(k->why), "cannot start the request");
		poll_done(k, POLL_FAILED);
	}
}

/* libcurl and the loop's multi handle, on first use. 0 or -1 with err. */
int
poll_http_setup(struct poller *pl, char *err, size_t errlen)
{
	if (pl->curl)
		return 0;
	if (curlev_load("omnik-poll's status page reading", err, errlen) != 0)
		return -1;
	if ((pl->curl = curlev_new(pl->base, on_done, pl)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

void
poll_http_start(struct poll_kit *k)
{
	char err[256];

	k->why[0] = '\0';
	if (poll_http_setup(k->pl, err, sizeof(err)) != 0) {
		snprintf(k->why, sizeof(k->why), "%s", err);
		poll_done(k, POLL_FAILED);
		return;
	}
	if (k->body.buf == NULL) {
		if ((k->body.buf = malloc(POLL_BODY_MAX)) == NULL) {
			snprintf(k->why, sizeof(k->why), "out of memory");
			poll_done(k, POLL_FAILED);
			return;
		}
		k->body.size = POLL_BODY_MAX;
	}
	k->pages_tried = 0;
	k->pages_missing = 0;
	k->page = k->page_worked >= 0 ? k->page_worked : 0;
	page_start(k);
}

void
poll_http_abort(struct poll_kit *k)
{
	if (k->pl->curl)
		easy_end(k);
	if (k->pl->stopping) {
		free(k->body.buf);
		k->body.buf = NULL;
	}
}
