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
	struct event *flush;		/* ends the loop round's group */
};

/*
 * A group opened in this loop round: commit it at the end of the round.
 * A zero timeout rather than event_active(): libevent runs expired timers
 * after the next poll's ready sockets, so the readings of those join the
 * same commit (measured: ~10-20% more sessions/s under load), and an
 * idle loop still commits at once.
 */
static void
group_opened(void *arg)
{
	struct outputs_remote *r = arg;

	static const struct timeval now = { 0, 0 };

	(void)event_add(r->flush, &now);
}

static void
flush_journal(struct outputs_remote *r)
{
	const char *e;

	if (journal_flush(r->j, &e) != 0)
		log_warnx("journal: %s", e);
}

static void
on_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	flush_journal(arg);
}

static void
kick_all(void *arg)
{
	struct outputs_remote *r = arg;

	for (int i = 0; i < r->nd; i++)
		delivery_kick(r->d[i]);
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
	journal_set_notify(j, kick_all, r);
	if (base != NULL) {
		if ((r->flush = event_new(base, -1, 0, on_flush, r)) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		journal_set_group(j, JOURNAL_GROUP_MAX, group_opened, r);
	}
	if (start_remote(r, cfg, base, err, errlen) != 0)
		goto fail;
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

int64_t
outputs_backlog(struct outputs *o)
{
	int64_t sum = 0;

	if (o->remote == NULL)
		return 0;
	flush_journal(o->remote);	/* pending rows count once committed */
	for (int i = 0; i < o->remote->nd; i++)
		sum += delivery_backlog(o->remote->d[i]);
	return sum;
}

void
outputs_teardown(struct outputs *o)
{
	struct outputs_remote *r = o->remote;

	if (r != NULL) {
		/* Pending readings first, with their errors in the log. */
		flush_journal(r);
		journal_set_group(r->j, 0, NULL, NULL);
		journal_set_notify(r->j, NULL, NULL);
		for (int i = 0; i < r->nd; i++)
			delivery_free(r->d[i]);
		if (r->prune)
			event_free(r->prune);
		if (r->flush)
			event_free(r->flush);
		free(r);
		o->remote = NULL;
	}
	outputs_close(o);
}
