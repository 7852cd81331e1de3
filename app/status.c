/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * status.c: what the status page, /status.json and /metrics show, read
 * when a page is made (http.c makes each at most once a second): the
 * journal's latest row per inverter and today's rows (journal_since:
 * bounded however long the journal is), the outputs' cursors, the
 * program's counters, and the rejects by reason, which a sink of our own
 * counts as the dispatcher hands them over.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <event2/buffer.h>

#include "config.h"
#include "http.h"
#include "log.h"
#include "omnik.h"
#include "setup.h"
#include "status.h"
#include "status_int.h"
#include "version.h"

/* The sink's counts; the dispatcher owns it (outputs_add). */
struct status_rejects {
	struct status_reason r[STATUS_REASONS_MAX + 1];	/* + "other" */
	int n;
};

struct status {
	struct program *p;
	struct http *http;
	struct status_rejects *rej;	/* NULL until status_attach */
	struct journal_row *scratch;	/* STATUS_POINTS_MAX rows */
};

/* ------------------------------------------------------------------ */
/* Rejects by reason */

/*
 * "implausible: FAC1 335.00 Hz outside 45.00..65.00" counts as
 * "implausible": the part before the detail, so that the label set stays
 * small whatever the frames say.
 */
static void
reason_class(const char *why, char *out, size_t n)
{
	size_t k = strcspn(why, ":(");

	while (k > 0 && why[k - 1] == ' ')
		k--;
	if (k >= n)
		k = n - 1;
	memcpy(out, why, k);
	out[k] = '\0';
	if (k == 0)
		snprintf(out, n, "unknown");
}

static int
rejects_count(void *ctx, const struct reject *rej, const char **err)
{
	struct status_rejects *sr = ctx;
	char name[sizeof(sr->r[0].name)];
	int i;

	(void)err;
	reason_class(rej->reason ? rej->reason : "", name, sizeof(name));
	for (i = 0; i < sr->n; i++)
		if (strcmp(sr->r[i].name, name) == 0)
			break;
	if (i == sr->n) {
		/* Past the bound, one row for the rest. */
		if (sr->n == STATUS_REASONS_MAX) {
			i = STATUS_REASONS_MAX;
			snprintf(sr->r[i].name, sizeof(sr->r[i].name), "other");
		} else {
			snprintf(sr->r[i].name, sizeof(sr->r[i].name), "%s",
			    name);
			sr->n++;
		}
	}
	sr->r[i].count++;
	return 0;
}

static void
rejects_close(void *ctx)
{
	free(ctx);
}

/* ------------------------------------------------------------------ */
/* One view */

static time_t
local_midnight(time_t now)
{
	struct tm tm;

	if (localtime_r(&now, &tm) == NULL)
		return now - now % 86400;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1;
	return mktime(&tm);
}

static int64_t
reading_power(const struct omnik_reading *r)
{
	static const enum omnik_field pac[3] = {
		OMNIK_PAC1, OMNIK_PAC2, OMNIK_PAC3
	};
	int64_t sum = 0;
	bool any = false;

	for (int i = 0; i < 3; i++) {
		if (r->value[pac[i]] == OMNIK_ABSENT)
			continue;
		sum += r->value[pac[i]];
		any = true;
	}
	return any ? sum : OMNIK_ABSENT;
}

static int
read_inverter(struct status *s, struct journal *j, struct status_view *v,
    const struct journal_inverter *ji, const char **e)
{
	struct status_inverter *si = &v->inv[v->ninv];
	int n;

	memset(si, 0, sizeof(*si));
	if (journal_fetch(j, ji->last_id - 1, ji->sn, &si->last, 1, &n,
	    e) != 0)
		return -1;
	if (n != 1)
		return 0;	/* pruned meanwhile */
	si->power = reading_power(&si->last.r);
	if (journal_last_positive(j, ji->sn, OMNIK_ETOTAL, ji->last_id,
	    &si->etotal, e) != 0)
		return -1;
	si->etoday = OMNIK_ABSENT;
	if (journal_since(j, ji->sn, v->midnight, s->scratch,
	    STATUS_POINTS_MAX, &n, e) != 0)
		return -1;
	si->cut = n == STATUS_POINTS_MAX;
	if (n > 0 && (si->pts = calloc((size_t)n, sizeof(*si->pts))) == NULL)
		n = 0;
	for (int i = 0; i < n; i++) {
		const struct omnik_reading *r = &s->scratch[i].r;
		int64_t w = reading_power(r);

		/* E today only grows through a day: its highest is today's. */
		if (r->value[OMNIK_ETODAY] != OMNIK_ABSENT &&
		    (si->etoday == OMNIK_ABSENT ||
		    r->value[OMNIK_ETODAY] > si->etoday))
			si->etoday = r->value[OMNIK_ETODAY];
		if (w == OMNIK_ABSENT)
			continue;
		si->pts[si->npts].t = s->scratch[i].when.tv_sec;
		si->pts[si->npts++].watts = w;
	}
	v->ninv++;
	return 0;
}

static void
view_read(struct status *s, struct status_view *v)
{
	struct program *p = s->p;
	struct journal *j = outputs_journal(&p->out);
	struct journal_inverter ji[STATUS_INVERTERS_MAX];
	const char *e = NULL;
	int n = 0;

	memset(v, 0, sizeof(*v));
	v->program = p->ops->name;
	v->version = OMNIKLOG_VERSION;
	v->now = time(NULL);
	v->midnight = local_midnight(v->now);
	if (p->ops->counters != NULL) {
		p->ops->counters(p, &v->pc);
		v->has_counters = true;
	}
	if (s->rej != NULL) {
		v->reasons = s->rej->r;
		/* "other" is used only once the table is full, right after. */
		v->nreasons = s->rej->n + (s->rej->r[STATUS_REASONS_MAX].count >
		    0);
	}
	v->nout = outputs_status(&p->out, v->out, STATUS_OUTPUTS_MAX);
	if (j == NULL)
		return;
	v->journal = true;
	if (journal_inverters(j, INT64_MAX, ji, STATUS_INVERTERS_MAX, &n,
	    &e) != 0)
		goto fail;
	for (int i = 0; i < n; i++)
		if (read_inverter(s, j, v, &ji[i], &e) != 0)
			goto fail;
	return;
fail:
	snprintf(v->journal_err, sizeof(v->journal_err), "%s", e ? e :
	    "cannot read the journal");
}

static void
view_free(struct status_view *v)
{
	for (int i = 0; i < v->ninv; i++)
		free(v->inv[i].pts);
}

static int
render(void *arg, enum http_page page, struct evbuffer *out)
{
	struct status *s = arg;
	struct status_view *v;
	int rc = -1;

	/* Large (the outputs' status), and made at most once a second. */
	if ((v = malloc(sizeof(*v))) == NULL)
		return -1;
	view_read(s, v);
	if (v->journal_err[0] != '\0')
		log_warnx("http: %s", v->journal_err);
	switch (page) {
	case HTTP_PAGE_STATUS:
		rc = status_html(v, out);
		break;
	case HTTP_PAGE_JSON:
		rc = status_json(v, out);
		break;
	case HTTP_PAGE_METRICS:
		rc = status_metrics(v, out);
		break;
	default:
		break;
	}
	view_free(v);
	free(v);
	return rc;
}

/* ------------------------------------------------------------------ */

struct status *
status_open(struct program *p)
{
	const struct http_conf *hc = config_section_get(&p->cfg,
	    &http_section);
	struct status *s;
	char err[512];

	if (hc == NULL || hc->listen[0] == '\0')
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->scratch = calloc(STATUS_POINTS_MAX,
	    sizeof(*s->scratch))) == NULL)
		fatalx("out of memory");
	s->p = p;
	if ((s->http = http_open(program_base(p), hc, render, s, err,
	    sizeof(err))) == NULL)
		fatalx("%s", err);
	log_info("status page on %s (metrics: %smetrics)", http_url(s->http),
	    http_url(s->http));
	return s;
}

void
status_attach(struct status *s)
{
	struct sink sk;

	if (s == NULL || (s->rej = calloc(1, sizeof(*s->rej))) == NULL)
		return;
	memset(&sk, 0, sizeof(sk));
	sk.name = "status";
	sk.ctx = s->rej;
	sk.reject = rejects_count;
	sk.close = rejects_close;
	if (outputs_add(&s->p->out, &sk) != 0) {
		log_warnx("http: no room to count rejects by reason");
		free(s->rej);
		s->rej = NULL;
	}
}

void
status_free(struct status *s)
{
	if (s == NULL)
		return;
	http_free(s->http);
	free(s->scratch);
	free(s);
}
