/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * setup.c: journal, CSV and remote outputs from the configuration.
 */
#include <errno.h>
#include <event2/event.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

#include "csv.h"
#include "delivery.h"
#include "journal.h"
#include "log.h"
#include "mqtt.h"
#include "pgsql.h"
#include "pvoutput.h"
#include "setup.h"

#define REMOTE_MAX (2 + PVOUTPUT_SYSTEMS_MAX)
#define PRUNE_INTERVAL_S 3600

struct outputs_remote {
	struct journal *j;		/* owned by the journal sink */
	struct delivery *d[REMOTE_MAX];
	int nd;
	struct event *prune;
	struct event *news;		/* the journal writer's eventfd */
	bool unkicked;			/* committed, deliveries not woken */
	int64_t unkicked_since;		/* monotonic, microseconds */
};

static void
kick_all(void *arg)
{
	struct outputs_remote *r = arg;

	for (int i = 0; i < r->nd; i++)
		delivery_kick(r->d[i]);
}

/* What the journal writer did (on_news wakes the deliveries). */
static void
log_news(const struct journal_news *n)
{
	if (n->error[0] != '\0')
		log_warnx("journal: %s%s", n->error, n->failing ? " (retrying; "
		    "readings wait in memory meanwhile)" : "");
	if (n->recovered)
		log_info("journal: committing again");
	if (n->dropped > 0)
		log_warnx("journal: %llu readings could not be journaled (the "
		    "CSV and the log still have them)",
		    (unsigned long long)n->dropped);
	if (n->pruned > 0)
		log_info("journal: retention removed %lld readings",
		    (long long)n->pruned);
}

/*
 * After a commit. The deliveries are woken once the writer has caught up
 * (or a second after the first commit they did not hear of, under
 * endless load): a burst of
 * readings (a replay, many kits at once, a restart's backlog) then goes
 * out in full batches, not one request per commit; PVOutput counts
 * requests against its hourly limit.
 */
#define KICK_MAX_DELAY_US 1000000
static int64_t
mono_us(void)
{
	struct timespec ts;

	/* Not the wall clock: an NTP step must not stop the kicks. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
on_news(evutil_socket_t fd, short what, void *arg)
{
	struct outputs_remote *r = arg;
	struct journal_news n;
	int64_t now;

	(void)fd;
	(void)what;
	journal_writer_poll(r->j, &n);
	log_news(&n);
	now = mono_us();
	if (n.committed > 0 && !r->unkicked) {
		r->unkicked = true;
		r->unkicked_since = now;
	}
	if (!r->unkicked)
		return;
	if (n.queued == 0 || now - r->unkicked_since >= KICK_MAX_DELAY_US) {
		r->unkicked = false;
		kick_all(r);
	}
}

static void
on_prune(evutil_socket_t fd, short what, void *arg)
{
	struct outputs_remote *r = arg;
	const char *e;
	int64_t n;

	(void)fd;
	(void)what;
	if (journal_prune(r->j, time(NULL), &n, &e) != 0)
		log_warnx("journal: %s", e);
	else if (n > 0)
		log_info("journal: retention removed %lld readings",
		    (long long)n);
}

/* Outputs removed from the config no longer hold back retention. */
static void
retire_cursors(struct outputs_remote *r)
{
	const char *keep[REMOTE_MAX], *e;
	char names[512];
	int n;

	for (int i = 0; i < r->nd; i++)
		keep[i] = delivery_name(r->d[i]);
	n = journal_cursors_retire(r->j, keep, r->nd, names, sizeof(names),
	    &e);
	if (n < 0)
		log_warnx("journal: %s", e);
	else if (n > 0)
		log_info("journal: output%s %s no longer configured: %s no "
		    "longer hold%s back retention (kept, should %s come back)",
		    n > 1 ? "s" : "", names, n > 1 ? "they" : "it",
		    n > 1 ? "" : "s", n > 1 ? "they" : "it");
}

/* The journal's directory, when it is a single missing level. */
static int
make_parent(const char *path, char *err, size_t errlen)
{
	char buf[CONFIG_STR];
	char *dir;
	struct stat st;

	snprintf(buf, sizeof(buf), "%s", path);
	dir = dirname(buf);
	if (stat(dir, &st) == 0)
		return 0;
	if (mkdir(dir, 0750) == 0 || errno == EEXIST)
		return 0;
	snprintf(err, errlen, "cannot create %s for the journal: %s", dir,
	    strerror(errno));
	return -1;
}

static bool
any_remote(const struct config *cfg)
{
	return cfg->pg_conninfo[0] || cfg->mqtt_host[0] || cfg->pv_api_key[0];
}

static int
start_remote(struct outputs_remote *r, const struct config *cfg,
    struct event_base *base, char *err, size_t errlen)
{
	struct delivery *d;
	int n;

	if (cfg->pg_conninfo[0]) {
		struct pgsql_opts po = { .conninfo = cfg->pg_conninfo,
		    .table = cfg->pg_table, .batch = cfg->pg_batch };

		if ((d = pgsql_start(r->j, base, &po, err, errlen)) == NULL)
			return -1;
		r->d[r->nd++] = d;
	}
	if (cfg->mqtt_host[0]) {
		if ((d = mqtt_start(r->j, base, cfg, err, errlen)) == NULL)
			return -1;
		r->d[r->nd++] = d;
	}
	if (cfg->pv_api_key[0]) {
		if (pvoutput_start(r->j, base, cfg, r->d + r->nd,
		    REMOTE_MAX - r->nd, &n, err, errlen) != 0)
			return -1;
		r->nd += n;
	}
	return 0;
}

int
outputs_setup(struct outputs *o, const struct config *cfg,
    struct event_base *base, char *err, size_t errlen)
{
	struct journal_opts jo = { .retention_days = cfg->retention,
	    .sync_full = strcmp(cfg->synchronous, "normal") != 0 };
	struct outputs_remote *r = NULL;
	struct journal *j = NULL;
	struct sink sk;

	outputs_init(o);
	if (cfg->db[0] == '\0' && any_remote(cfg)) {
		snprintf(err, errlen, "remote outputs need the journal: set "
		    "[omniklog] db");
		return -1;
	}
	if (any_remote(cfg) && base == NULL) {
		snprintf(err, errlen, "remote outputs need an event loop");
		return -1;
	}
	if (cfg->db[0] != '\0') {
		if (make_parent(cfg->db, err, errlen) != 0 ||
		    (j = journal_open(cfg->db, &jo, err, errlen)) == NULL)
			return -1;
		journal_sink(j, &sk);
		(void)outputs_add(o, &sk);	/* first: commit before all */
	}
	if (cfg->csv[0] != '\0') {
		if (csv_sink_open(cfg->csv, &sk, err, errlen) != 0)
			goto fail;
		(void)outputs_add(o, &sk);
	}
	if (j == NULL)
		return 0;
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	r->j = j;
	o->remote = r;
	if (start_remote(r, cfg, base, err, errlen) != 0)
		goto fail;
	retire_cursors(r);
	if (base != NULL) {
		/*
		 * Commits off the event loop (see journal.c); the loop hears
		 * of each commit only if deliveries wait for them.
		 */
		if (journal_writer_start(j, r->nd > 0, err, errlen) != 0)
			goto fail;
		r->news = event_new(base, journal_writer_fd(j),
		    EV_READ | EV_PERSIST, on_news, r);
		if (r->news == NULL || event_add(r->news, NULL) != 0) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
	}
	if (base != NULL && cfg->retention > 0) {
		struct timeval tv = { PRUNE_INTERVAL_S, 0 };

		r->prune = event_new(base, -1, EV_PERSIST, on_prune, r);
		if (r->prune == NULL || event_add(r->prune, &tv) != 0) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
	}
	return 0;
fail:
	outputs_teardown(o);
	return -1;
}

int
outputs_sync(struct outputs *o, int timeout_ms, const char **err)
{
	if (o->remote == NULL)
		return 0;
	return journal_sync(o->remote->j, timeout_ms, err);
}

int64_t
outputs_backlog(struct outputs *o)
{
	int64_t sum = 0;

	if (o->remote == NULL)
		return 0;
	sum = journal_queued(o->remote->j);	/* not yet committed */
	for (int i = 0; i < o->remote->nd; i++)
		sum += delivery_backlog(o->remote->d[i]);
	return sum;
}

void
outputs_teardown(struct outputs *o)
{
	struct outputs_remote *r = o->remote;

	if (r != NULL) {
		struct journal_news n;

		/* Off the loop before the writer closes its eventfd. */
		if (r->news) {
			event_free(r->news);
			r->news = NULL;
		}
		/* Queued readings first, with their errors in the log. */
		journal_writer_stop(r->j, &n);
		log_news(&n);
		for (int i = 0; i < r->nd; i++)
			delivery_free(r->d[i]);
		if (r->prune)
			event_free(r->prune);
		if (r->news)
			event_free(r->news);
		free(r);
		o->remote = NULL;
	}
	outputs_close(o);
}
