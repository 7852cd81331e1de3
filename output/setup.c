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
#include <unistd.h>

#include "csv.h"
#include "delivery.h"
#include "invstate.h"
#include "journal.h"
#include "lease.h"
#include "log.h"
#include "registry.h"
#include "setup.h"

/* The CSV's and every remote output's deliveries (PVOutput: one per
 * system), together. */
#define REMOTE_MAX 64
#define PRUNE_INTERVAL_S 3600
/* How often the journal's file is checked (and a lost one reopened). */
#define CHECK_INTERVAL_S 2
/*
 * How often a program standing by tries the deliveries' lock (lease.h),
 * and the holder looks for rows other programs committed: the bound on
 * a takeover after the holder's end, and on their rows' delay.
 */
#define LEASE_INTERVAL_MS 1000

/*
 * The CSV with a journal: written directly; after a failed write (a
 * full disk) from the journal through its cursor, in order, each line
 * once, until it has caught up.
 */
struct csv_out {
	struct csv *c;
	struct journal *j;
	struct delivery *d;		/* parked while the file is in step */
	uint64_t seq;			/* journal_seq() at the last reading */
	bool behind;			/* written from the journal */
	bool failing;			/* the last write from it failed */
	uint64_t from_journal;		/* lines written from it, this time */
	uint64_t lost;			/* readings in neither store */
	char last_err[256];		/* while failing, for the status page */
	struct timeval last_write;	/* the last line written directly */
	uint64_t write_errors;		/* direct writes that failed */
	/*
	 * Held (outputs_hold: the loop's turn): the lines of the turn's
	 * readings, written at its end in one write, all or nothing. On a
	 * failure the file falls behind from the first of them.
	 */
	bool holding;
	char *held;			/* CSV_HOLD_MAX, on first use */
	size_t held_len, held_n;
	uint64_t held_seq;		/* journal_watch() point of the first */
	uint64_t held_unjournaled;	/* of them, not in the journal */
};

struct outputs_remote {
	struct journal *j;		/* owned by the journal sink */
	struct delivery *d[REMOTE_MAX];
	const struct output_driver *drv[REMOTE_MAX];	/* NULL: the CSV */
	int nd;
	struct csv_out *csv;		/* its delivery is one of d[] */
	struct event *prune;
	struct event *news;		/* the journal writer's eventfd */
	struct event *check;		/* the journal's file, every few s */
	bool unkicked;			/* committed, deliveries not woken */
	int64_t unkicked_since;		/* monotonic, microseconds */
	bool moved_told;		/* the loss of the journal is logged */
	char reopen_err[1024];		/* the last reopen error logged */
	/*
	 * Programs sharing the journal: only the lock's holder runs the
	 * remote deliveries, d[first_remote .. nd-1]; the others start
	 * them when they take the lock over (on_lease).
	 */
	struct lease *lease;		/* NULL: no remote output */
	struct event *lease_ev;
	struct config *cfg;		/* to start them later */
	struct event_base *base;
	int first_remote;
	char holder[96];		/* the other holder last logged */
	char lease_err[1024];		/* the last lock error logged */
	uint64_t duplicates;		/* readings others had stored */
	int dup_window;
};

static void
kick_all(void *arg)
{
	struct outputs_remote *r = arg;

	for (int i = 0; i < r->nd; i++)
		delivery_kick(r->d[i]);
}

static void
local_time(const struct timeval *tv, char *buf, size_t n)
{
	struct tm tm;
	time_t t = tv->tv_sec;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, n, "%lld", (long long)t);
}

/* What the journal writer did (on_news wakes the deliveries). */
static void
log_news(const struct journal_news *n)
{
	if (n->refused > 0) {
		char t1[32], t2[32];

		local_time(&n->refused_first, t1, sizeof(t1));
		local_time(&n->refused_last, t2, sizeof(t2));
		log_warnx("journal: %llu readings refused, taken from %s to "
		    "%s: it cannot be written and the %d readings it keeps "
		    "in memory fill its queue; they are lost to the journal "
		    "and to the CSV, only their log lines have them",
		    (unsigned long long)n->refused, t1, t2, n->queued);
	}
	if (n->error[0] != '\0')
		log_warnx("journal: %s%s", n->error, n->failing ? " (retrying; "
		    "readings wait in memory meanwhile)" : "");
	if (n->recovered)
		log_info("journal: committing again");
	if (n->dropped > 0)
		log_warnx("journal: %llu readings could not be journaled "
		    "(lost to the journal and to a CSV written from it; their "
		    "log lines have them)",
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

static void check_journal(struct outputs_remote *r);
static void csv_follow(struct csv_out *co);

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
	if (n.duplicates > 0 && r->duplicates == 0)
		log_info("journal: another program on %s stored a reading "
		    "this one saw too: such copies are counted on its row, "
		    "not stored again (duplicate_window %d s)",
		    journal_path(r->j), r->dup_window);
	r->duplicates += n.duplicates;
	if (n.moved)
		check_journal(r);
	if (n.committed > 0)
		csv_follow(r->csv);
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

/*
 * Before the old file is closed: the CSV takes what it still lacks from
 * it; a remote output loses the rows it had yet to send (said once).
 */
static void
drain_old(void *arg)
{
	struct outputs_remote *r = arg;
	int64_t left;

	for (int i = 0; i < r->nd; i++) {
		if (r->csv && r->d[i] == r->csv->d)
			(void)delivery_flush(r->d[i], 1000);
		left = delivery_backlog(r->d[i]);
		if (left > 0)
			log_warnx("journal: output %s had %lld readings of the "
			    "old journal yet to deliver: they stay in that "
			    "file only", delivery_name(r->d[i]),
			    (long long)left);
	}
}

/*
 * The journal's path no longer names the file open (deleted, replaced,
 * its directory removed): open a new journal there. Readings queued
 * meanwhile wait in the writer's memory and go to the new one.
 */
static void
check_journal(struct outputs_remote *r)
{
	const char *path = journal_path(r->j);
	char why[128], err[1024];

	if (!journal_moved(r->j, why, sizeof(why)))
		return;
	if (!r->moved_told) {
		log_warnx("journal: %s %s while open: opening a new journal "
		    "there (%d readings wait in memory meanwhile)", path, why,
		    journal_queued(r->j));
		r->moved_told = true;
	}
	if (journal_reopen(r->j, drain_old, r, err, sizeof(err)) != 0) {
		if (strcmp(err, r->reopen_err) != 0)
			log_warnx("journal: %s (left as it is; tried again "
			    "every %d s, the readings wait in memory, up to "
			    "%d)", err, CHECK_INTERVAL_S, JOURNAL_QUEUE_MAX);
		snprintf(r->reopen_err, sizeof(r->reopen_err), "%s", err);
		return;
	}
	log_warnx("journal: opened a new journal at %s; %d readings waiting "
	    "in memory go to it", path, journal_queued(r->j));
	r->moved_told = false;
	r->reopen_err[0] = '\0';
	for (int i = 0; i < r->nd; i++)
		delivery_reload(r->d[i]);
}

static void
on_check(evutil_socket_t fd, short what, void *arg)
{
	struct outputs_remote *r = arg;

	on_news(fd, what, arg);		/* refusals are counted on the loop */
	check_journal(r);
	csv_follow(r->csv);
}

/* SIGHUP, after the sinks: the journal's file; the CSV catches up. */
static void
on_reopen(void *arg)
{
	struct outputs_remote *r = arg;

	check_journal(r);
	if (r->csv) {
		/* What the journal committed is in the CSV too on return. */
		csv_follow(r->csv);
		(void)delivery_flush(r->csv->d, 1000);
		delivery_wake(r->csv->d);
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

/* ------------------------------------------------------------------ */
/* The CSV: written directly, from the journal when it fell behind */

/* Caught up: every reading the journal took is in the file. Directly. */
static void
csv_caught_up(struct csv_out *co)
{
	delivery_park(co->d);
	co->behind = false;
	log_info("output csv: caught up: %llu lines written from the journal "
	    "since the failure%s; written directly again",
	    (unsigned long long)co->from_journal, co->lost > 0 ?
	    "" : ", none missing");
	if (co->lost > 0)
		log_warnx("output csv: %llu readings the journal had refused "
		    "meanwhile are missing from the CSV (their log lines have "
		    "them)", (unsigned long long)co->lost);
	co->from_journal = 0;
	co->lost = 0;
}

static int
csv_send(void *ctx, const struct journal_row *rows, int n)
{
	struct csv_out *co = ctx;
	char line[CSV_LINE_MAX];
	const char *e = NULL;
	int i;

	for (i = 0; i < n; i++) {
		/* A line that can never be written must not block the rest. */
		if (csv_format(line, sizeof(line), &rows[i].r,
		    &rows[i].when) == 0) {
			log_warnx("output csv: journal row %lld skipped: its "
			    "line is too long", (long long)rows[i].id);
			continue;
		}
		if (csv_write(co->c, &rows[i].r, &rows[i].when, &e) != 0)
			break;
		co->from_journal++;
	}
	if (i < n) {
		snprintf(co->last_err, sizeof(co->last_err), "write failed: %s",
		    e ? e : "unknown error");
		if (!co->failing)
			log_warnx("output csv: write failed: %s (journal rows "
			    "from %lld on wait for it; retried)", e ? e :
			    "unknown error", (long long)rows[i].id);
		co->failing = true;
		delivery_done(co->d, i, DELIVERY_RETRY, 0);
		return 0;
	}
	co->failing = false;
	co->last_err[0] = '\0';
	delivery_done(co->d, n, DELIVERY_OK, 0);
	/* Nothing queued, nothing committed unwritten: go direct again. */
	if (journal_queued(co->j) == 0 && delivery_backlog(co->d) == 0)
		csv_caught_up(co);
	return 0;
}

/* Behind, and the first reading the file lacks has its row: follow. */
static void
csv_follow(struct csv_out *co)
{
	int64_t id;

	if (co == NULL || !co->behind)
		return;
	if (!delivery_parked(co->d)) {
		/* Caught up without a row to write (the last was refused). */
		if (!co->failing && journal_queued(co->j) == 0 &&
		    delivery_backlog(co->d) == 0)
			csv_caught_up(co);
		return;
	}
	if ((id = journal_watched(co->j)) > 0)
		delivery_resume_at(co->d, id - 1);
}

/*
 * The dispatcher's CSV sink. The journal sink ran first: journal_seq()
 * says whether it took this reading. While the file writes, each line
 * goes out at once (as without a journal); when a write fails the file
 * falls behind: from then on it is written from the journal, starting
 * with this reading's row, and directly again once it has caught up.
 */
/*
 * A write of n lines failed: from the first of them on (watch, a
 * journal_seq) the file is written from the journal.
 */
static void
csv_fall_behind(struct csv_out *co, const char *e, uint64_t watch,
    uint64_t unjournaled)
{
	co->write_errors++;
	snprintf(co->last_err, sizeof(co->last_err), "write failed: %s", e);
	log_warnx("output csv: write failed: %s; that line and the next come "
	    "from the journal, in order, once the CSV can be written, then "
	    "directly again", e);
	co->lost += unjournaled;	/* in neither store */
	co->behind = true;
	co->failing = true;
	journal_watch(co->j, watch);
	csv_follow(co);		/* without the writer it has its row now */
}

static void
csv_write_held(struct csv_out *co)
{
	const char *e = NULL;

	if (co->held_len == 0)
		return;
	if (csv_write_lines(co->c, co->held, co->held_len, &e) == 0)
		gettimeofday(&co->last_write, NULL);
	else
		csv_fall_behind(co, e, co->held_seq, co->held_unjournaled);
	co->held_len = co->held_n = 0;
	co->held_unjournaled = 0;
}

static int
csv_sink_reading(void *ctx, const struct record *rec, const char **err)
{
	struct csv_out *co = ctx;
	uint64_t seq = journal_seq(co->j);
	bool journaled = seq != co->seq;
	char line[CSV_LINE_MAX];
	size_t n;

	co->seq = seq;
	if (co->holding && CSV_HOLD_MAX - co->held_len < CSV_LINE_MAX)
		csv_write_held(co);
	if (co->behind) {
		if (!journaled)
			co->lost++;		/* in neither store */
		return 0;
	}
	if (co->holding) {
		n = csv_format(co->held + co->held_len, CSV_LINE_MAX,
		    rec->reading, &rec->when);
		if (n == 0) {
			*err = "no local time for the reading";
			return -1;
		}
		if (co->held_n++ == 0)
			co->held_seq = journaled ? seq : seq + 1;
		co->held_len += n;
		co->held_unjournaled += !journaled;
		return 0;
	}
	if ((n = csv_format(line, sizeof(line), rec->reading,
	    &rec->when)) == 0) {
		*err = "no local time for the reading";
		return -1;
	}
	if (csv_write_lines(co->c, line, n, err) == 0) {
		gettimeofday(&co->last_write, NULL);
		return 0;
	}
	csv_fall_behind(co, *err, journaled ? seq : seq + 1, !journaled);
	return 0;
}

static int
sink_csv_hold(void *ctx, bool on, const char **err)
{
	struct csv_out *co = ctx;

	(void)err;
	if (!on) {
		co->holding = false;
		csv_write_held(co);
		return 0;
	}
	/* Without the memory, lines go out one by one, as before. */
	if (co->held == NULL && (co->held = malloc(CSV_HOLD_MAX)) == NULL)
		return 0;
	co->holding = true;
	return 0;
}

static int
sink_csv_reopen(void *ctx, const char **err)
{
	struct csv_out *co = ctx;

	csv_write_held(co);	/* taken before the signal: the old file's */
	return csv_reopen(co->c, err);
}

static void
sink_csv_close(void *ctx)
{
	struct csv_out *co = ctx;
	const char *e = NULL;

	/* The loop's turn ended before (program_run): normally none. */
	if (co->held_len > 0 &&
	    csv_write_lines(co->c, co->held, co->held_len, &e) != 0)
		log_warnx("output csv: write failed: %s (%zu lines)", e,
		    co->held_n);
	csv_close(co->c);
	free(co->held);
	free(co);
}

static void
csv_delivery_free(void *ctx)
{
	(void)ctx;	/* the sink's */
}

static const struct delivery_ops csv_ops = { csv_send, csv_delivery_free };

/*
 * Behind when the program stopped (its cursor in use): catch up from the
 * cursor. The cursor saved may lag the file by the lines written after
 * its last commit (a crash): go on after the row the file ends with, if
 * it is one of the next ones, so that none is written twice.
 */
#define CSV_RESUME_ROWS 100
static void
csv_resume(struct csv_out *co)
{
	struct journal_row *rows;
	char last[CSV_LINE_MAX], line[CSV_LINE_MAX];
	const char *e;
	int64_t pos;
	bool active;
	int n;

	if (journal_cursor_peek(co->j, "csv", &pos, &active, &e) != 1 ||
	    !active || pos >= journal_last_id(co->j, NULL))
		return;
	rows = calloc(CSV_RESUME_ROWS, sizeof(*rows));
	if (rows != NULL && csv_last_line(co->c, last, sizeof(last)) > 0 &&
	    journal_fetch(co->j, pos, NULL, rows, CSV_RESUME_ROWS, &n,
	    &e) == 0) {
		for (int i = n - 1; i >= 0; i--) {
			if (csv_format(line, sizeof(line), &rows[i].r,
			    &rows[i].when) > 0 && strcmp(line, last) == 0) {
				pos = rows[i].id;
				break;
			}
		}
	}
	free(rows);
	log_warnx("output csv: behind the journal at the last stop: writing "
	    "journal rows from %lld on first", (long long)pos + 1);
	co->behind = true;
	delivery_resume_at(co->d, pos);
}

static int
start_csv(struct outputs *o, struct outputs_remote *r,
    const struct config *cfg, struct event_base *base, char *err,
    size_t errlen)
{
	struct delivery_opts dopt = { .name = "csv", .batch = 500,
	    .parked = true, .backoff_min_ms = 250, .backoff_max_ms = 5000 };
	struct csv_out *co;
	struct sink sk;

	if ((co = calloc(1, sizeof(*co))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	co->j = r->j;
	if ((co->c = csv_open(cfg->csv, err, errlen)) == NULL) {
		free(co);
		return -1;
	}
	if (csv_repaired(co->c) > 0)
		log_warnx("%s: cut %zu bytes of a partial last line", cfg->csv,
		    csv_repaired(co->c));
	memset(&sk, 0, sizeof(sk));
	sk.name = "csv";
	sk.ctx = co;
	sk.reading = csv_sink_reading;
	sk.reopen = sink_csv_reopen;
	sk.hold = sink_csv_hold;
	sk.close = sink_csv_close;
	(void)outputs_add(o, &sk);	/* owns co from here */
	co->d = delivery_new(r->j, base, &dopt, &csv_ops, co, err, errlen);
	if (co->d == NULL)
		return -1;
	r->csv = co;
	r->d[r->nd++] = co->d;
	csv_resume(co);
	return 0;
}

static bool
any_remote(const struct config *cfg)
{
	for (int i = 0; output_drivers[i] != NULL; i++) {
		const struct output_driver *od = output_drivers[i];

		if (od->enabled(config_section_get(cfg, od->section)))
			return true;
	}
	return false;
}

static int
start_remote(struct outputs_remote *r, const struct config *cfg,
    struct event_base *base, char *err, size_t errlen)
{
	for (int i = 0; output_drivers[i] != NULL; i++) {
		const struct output_driver *od = output_drivers[i];
		const void *conf = config_section_get(cfg, od->section);
		int n;

		if (!od->enabled(conf))
			continue;
		if (od->start(r->j, base, conf, r->d + r->nd, REMOTE_MAX - r->nd,
		    &n, err, errlen) != 0)
			return -1;
		for (int k = 0; k < n; k++)
			r->drv[r->nd + k] = od;
		r->nd += n;
	}
	return 0;
}

/* "mqtt, postgresql": the remote deliveries this program runs. */
static void
remote_names(const struct outputs_remote *r, char *buf, size_t n)
{
	size_t len = 0;

	buf[0] = '\0';
	for (int i = r->first_remote; i < r->nd && len < n; i++)
		len += (size_t)snprintf(buf + len, n - len, "%s%s",
		    i > r->first_remote ? ", " : "", delivery_name(r->d[i]));
}

static void
stop_remote(struct outputs_remote *r)
{
	for (int i = r->first_remote; i < r->nd; i++)
		delivery_free(r->d[i]);
	r->nd = r->first_remote;
}

/*
 * The lock is ours: start the deliveries. Their cursors are read now,
 * where the last holder left them; what it sent after its last saved
 * cursor goes out again (at least once).
 */
static int
deliver(struct outputs_remote *r, char *err, size_t errlen)
{
	const char *e;

	/* Our own cursor moves, if we delivered before, are in first. */
	if (journal_sync(r->j, 2000, &e) != 0)
		log_warnx("journal: %s", e);
	if (start_remote(r, r->cfg, r->base, err, errlen) != 0) {
		stop_remote(r);
		return -1;
	}
	retire_cursors(r);
	return 0;
}

static void
on_lease(evutil_socket_t fd, short what, void *arg)
{
	struct outputs_remote *r = arg;
	char holder[96] = "", err[1024], names[256];
	bool had = r->nd > r->first_remote;
	int rc;

	(void)fd;
	(void)what;
	rc = lease_take(r->lease, holder, sizeof(holder), err, sizeof(err));
	if (rc < 0) {
		if (strcmp(err, r->lease_err) != 0)
			log_warnx("deliveries: %s (tried again every %d ms)", err,
			    LEASE_INTERVAL_MS);
		snprintf(r->lease_err, sizeof(r->lease_err), "%s", err);
		return;
	}
	r->lease_err[0] = '\0';
	if (rc == 1 && had) {
		/* Rows other programs committed: no news of ours for them. */
		for (int i = r->first_remote; i < r->nd; i++)
			delivery_kick(r->d[i]);
		return;
	}
	if (rc == 1) {
		if (deliver(r, err, sizeof(err)) != 0) {
			log_warnx("deliveries: cannot start them: %s (the lock "
			    "is left to the others; tried again)", err);
			lease_release(r->lease);
			return;
		}
		remote_names(r, names, sizeof(names));
		log_info("deliveries: taken over from %s: this %s (pid %ld) "
		    "runs them now (%s)", r->holder[0] ? r->holder :
		    "the program before", r->cfg->origin, (long)getpid(), names);
		r->holder[0] = '\0';
		return;
	}
	if (had) {
		/* Our lock file was replaced and another took the new one. */
		remote_names(r, names, sizeof(names));
		stop_remote(r);
		log_warnx("deliveries: %s was replaced and %s holds it now: "
		    "this %s stopped its deliveries (%s)",
		    lease_path(r->lease), holder, r->cfg->origin, names);
	} else if (strcmp(holder, r->holder) != 0) {
		log_info("deliveries: %s runs them; this %s stands by", holder,
		    r->cfg->origin);
	}
	snprintf(r->holder, sizeof(r->holder), "%s", holder);
}

/*
 * Remote outputs configured: deliver them if no other program on this
 * journal does, else stand by (and take over when it ends).
 */
static int
lease_setup(struct outputs_remote *r, const struct config *cfg,
    struct event_base *base, char *err, size_t errlen)
{
	struct timeval tv = { 0, LEASE_INTERVAL_MS * 1000 };
	char holder[96] = "", names[256];
	int rc;

	r->first_remote = r->nd;
	if (!any_remote(cfg))
		return 0;
	if ((r->cfg = malloc(sizeof(*r->cfg))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	*r->cfg = *cfg;
	if (r->cfg->origin[0] == '\0')
		snprintf(r->cfg->origin, sizeof(r->cfg->origin), "program");
	r->base = base;
	if ((r->lease = lease_open(cfg->db, r->cfg->origin, err,
	    errlen)) == NULL)
		return -1;
	rc = lease_take(r->lease, holder, sizeof(holder), err, errlen);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		if (deliver(r, err, errlen) != 0)
			return -1;
		remote_names(r, names, sizeof(names));
		log_info("deliveries: this %s (pid %ld) runs them (%s); other "
		    "programs on %s stand by", r->cfg->origin, (long)getpid(),
		    names, cfg->db);
	} else {
		log_info("deliveries: %s runs them; this %s stands by and takes "
		    "over within %d ms of its end", holder, r->cfg->origin,
		    LEASE_INTERVAL_MS);
		snprintf(r->holder, sizeof(r->holder), "%s", holder);
	}
	r->lease_ev = event_new(base, -1, EV_PERSIST, on_lease, r);
	if (r->lease_ev == NULL || event_add(r->lease_ev, &tv) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int
outputs_setup(struct outputs *o, const struct config *cfg,
    struct event_base *base, bool live, char *err, size_t errlen)
{
	struct journal_opts jo = { .retention_days = cfg->retention,
	    .sync_full = strcmp(cfg->synchronous, "normal") != 0,
	    .origin = cfg->origin, .dup_window = cfg->dup_window };
	struct timeval check_tv = { CHECK_INTERVAL_S, 0 };
	struct outputs_remote *r = NULL;
	struct journal *j = NULL;
	struct sink sk;
	char serr[256];

	outputs_init(o);
	o->live = live;
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
		/* The limits across readings survive a restart. */
		if (invstate_seed_db(journal_db(j), serr, sizeof(serr)) < 0)
			log_warnx("per-inverter limits start empty: %s", serr);
		journal_sink(j, &sk);
		(void)outputs_add(o, &sk);	/* first: commit before all */
	}
	/*
	 * Written directly without a journal (or a loop to follow it, or to
	 * standard output); else from the journal, see start_csv().
	 */
	if (cfg->csv[0] != '\0' && (j == NULL || base == NULL ||
	    strcmp(cfg->csv, "-") == 0)) {
		if (csv_sink_open(cfg->csv, o->live, &sk, err, errlen) != 0)
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
	r->dup_window = cfg->dup_window;
	o->remote = r;
	if (cfg->csv[0] != '\0' && base != NULL && strcmp(cfg->csv, "-") != 0 &&
	    start_csv(o, r, cfg, base, err, errlen) != 0)
		goto fail;
	if (lease_setup(r, cfg, base, err, errlen) != 0)
		goto fail;
	if (base != NULL) {
		/*
		 * Commits off the event loop (see journal_writer.c); the loop hears
		 * of each commit only if deliveries wait (or may come to).
		 */
		if (journal_writer_start(j, r->nd > 0 || r->lease != NULL, err,
		    errlen) != 0)
			goto fail;
		r->news = event_new(base, journal_writer_fd(j),
		    EV_READ | EV_PERSIST, on_news, r);
		if (r->news == NULL || event_add(r->news, NULL) != 0) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		r->check = event_new(base, -1, EV_PERSIST, on_check, r);
		if (r->check == NULL || event_add(r->check, &check_tv) != 0) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		o->reopen_hook = on_reopen;
		o->reopen_arg = r;
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
		if (r->check) {
			event_free(r->check);
			r->check = NULL;
		}
		if (r->lease_ev) {
			event_free(r->lease_ev);
			r->lease_ev = NULL;
		}
		o->reopen_hook = NULL;
		/* A journal deleted meanwhile: its queue goes to a new one. */
		check_journal(r);
		/* Queued readings first, with their errors in the log. */
		journal_writer_stop(r->j, &n);
		log_news(&n);
		/* Then a CSV behind gets every reading committed. */
		if (r->csv && r->csv->behind) {
			csv_follow(r->csv);
			(void)delivery_flush(r->csv->d, 1000000);
			if (r->csv->behind && !delivery_parked(r->csv->d))
				log_warnx("output csv: behind the journal at "
				    "exit by %lld readings: written at the next "
				    "start", (long long)delivery_backlog(
				    r->csv->d));
			else if (r->csv->behind)
				log_warnx("output csv: the readings since its "
				    "failed write reached neither the CSV nor "
				    "the journal; their log lines have them");
		}
		for (int i = 0; i < r->nd; i++)
			delivery_free(r->d[i]);
		/* Only now may another program start delivering. */
		lease_close(r->lease);
		if (journal_duplicates(r->j) > 0)
			log_info("journal: %llu readings were copies of readings "
			    "another program had stored: counted, not stored "
			    "again", (unsigned long long)journal_duplicates(r->j));
		free(r->cfg);
		if (r->prune)
			event_free(r->prune);
		if (r->news)
			event_free(r->news);
		free(r);
		o->remote = NULL;
	}
	/* Then the sinks, after the deliveries that read the journal. */
	for (int i = 0; i < o->n; i++) {
		if (o->sinks[i].close)
			o->sinks[i].close(o->sinks[i].ctx);
		o->sinks[i].ctx = NULL;
	}
	o->n = 0;
}

struct journal *
outputs_journal(const struct outputs *o)
{
	return o->remote != NULL ? o->remote->j : NULL;
}

int
outputs_status(struct outputs *o, struct output_status *st, int max)
{
	struct outputs_remote *r = o->remote;
	int n = 0;

	for (int i = 0; r != NULL && i < r->nd && n < max; i++, n++) {
		delivery_status(r->d[i], &st[n]);
		if (r->csv != NULL && r->d[i] == r->csv->d) {
			struct csv_out *co = r->csv;

			/* Written directly, the CSV owes nothing to the journal
			 * and its last success is its last direct write. */
			snprintf(st[n].last_error, sizeof(st[n].last_error),
			    "%s", co->last_err);
			if (timercmp(&co->last_write, &st[n].last_ok, >))
				st[n].last_ok = co->last_write;
			st[n].errors += co->write_errors;
		} else if (r->drv[i] != NULL && r->drv[i]->status != NULL) {
			r->drv[i]->status(delivery_ctx(r->d[i]), &st[n]);
		}
	}
	return n;
}
