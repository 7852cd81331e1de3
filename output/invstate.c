/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * invstate.c: the per-inverter table behind invstate.h.
 *
 * Open addressing over INVSTATE_SLOTS slots, an inverter's serial hashed
 * (FNV-1a) to a window of PROBE slots: a lookup touches at most PROBE
 * entries whatever the input, and a new inverter in a full window takes
 * the place of the one used longest ago.
 */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "invstate.h"

#define PROBE 8
#define RECENT 8		/* times an inverter's readings last got */
#define PHASE_W 12000		/* what one phase can carry, W */

struct inv {
	bool used;
	uint32_t hash;		/* of sn: compared before it */
	char sn[OMNIK_SERIAL_LEN + 1];
	uint64_t use;		/* when last used, for eviction */
	bool has_last;
	int64_t last_recv;	/* us: receive time of the last reading */
	int64_t etoday, etotal, htotal;	/* last seen, or OMNIK_ABSENT */
	int64_t recent[RECENT];	/* us: times given out; 0 = none */
	int nrecent;
	double tokens;		/* rate limit: readings it may send now */
	int64_t refill;		/* us: tokens counted up to here */
};

static struct {
	struct inv slot[INVSTATE_SLOTS];
	uint64_t clock;
	struct invstate_stats st;
	int64_t kept_since, logged_at;	/* monotonic us */
	uint64_t kept, excess;
	bool logged;
} T;

static int64_t
us_of(const struct timeval *tv)
{
	return (int64_t)tv->tv_sec * 1000000 + tv->tv_usec;
}

static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint32_t
hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static struct inv *
lookup(const char *sn)
{
	uint32_t h = hash(sn);
	struct inv *free_slot = NULL, *oldest = NULL;

	for (int k = 0; k < PROBE; k++) {
		struct inv *e = &T.slot[(h + (uint32_t)k) % INVSTATE_SLOTS];

		if (e->used && e->hash == h && strcmp(e->sn, sn) == 0) {
			e->use = ++T.clock;
			return e;
		}
		if (!e->used && free_slot == NULL)
			free_slot = e;
		if (e->used && (oldest == NULL || e->use < oldest->use))
			oldest = e;
	}
	if (free_slot == NULL) {
		free_slot = oldest;
		T.st.forgotten++;
	} else {
		T.st.inverters++;
	}
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->used = true;
	free_slot->hash = h;
	/* Not snprintf: with more inverters than slots this is per reading. */
	memcpy(free_slot->sn, sn, strnlen(sn, sizeof(free_slot->sn) - 1));
	free_slot->use = ++T.clock;
	free_slot->etoday = free_slot->etotal = free_slot->htotal =
	    OMNIK_ABSENT;
	free_slot->tokens = INVSTATE_BURST;
	return free_slot;
}

static bool
recent_has(const struct inv *e, int64_t t)
{
	for (int i = 0; i < RECENT; i++)
		if (e->recent[i] == t)
			return true;
	return false;
}

/* Token bucket on receive times; a time before the last restarts it. */
static bool
rate_take(struct inv *e, int64_t recv)
{
	if (e->refill == 0 || recv < e->refill) {
		e->refill = recv;
	} else {
		e->tokens += (double)(recv - e->refill) /
		    (INVSTATE_RATE_S * 1e6);
		if (e->tokens > INVSTATE_BURST)
			e->tokens = INVSTATE_BURST;
		e->refill = recv;
	}
	if (e->tokens < 1)
		return false;
	e->tokens -= 1;
	return true;
}

static enum invstate_verdict
rate_excess(const struct omnik_reading *r, struct invstate_result *res)
{
	int64_t now = mono_us();

	T.st.rate_excess++;
	T.excess++;
	if (now - T.kept_since >= INVSTATE_INTERVAL_S * 1000000LL) {
		T.kept_since = now;
		T.kept = 0;
	}
	res->keep = T.kept < INVSTATE_KEPT_MAX;
	if (res->keep) {
		T.kept++;
		T.st.rate_kept++;
	}
	res->log = !T.logged ||
	    now - T.logged_at >= INVSTATE_INTERVAL_S * 1000000LL;
	if (res->log) {
		T.logged = true;
		T.logged_at = now;
		res->excess = T.excess;
		T.excess = 0;
	}
	snprintf(res->why, sizeof(res->why), "rate limit: inverter %s sent "
	    "more than %d readings at once or one per %d s",
	    r->inverter_sn, INVSTATE_BURST, INVSTATE_RATE_S);
	return INVSTATE_RATE;
}

/*
 * An offline frame sends 0 for H total (and every other value but the
 * energy counters: docs/PROTOCOL.md): a placeholder, neither compared nor
 * remembered. Offline: run mode 0, or no run mode and no AC voltage.
 */
static bool
htotal_placeholder(const int64_t *v)
{
	if (v[OMNIK_HTOTAL] != 0)
		return false;
	if (v[OMNIK_RUNMODE] != OMNIK_ABSENT)
		return v[OMNIK_RUNMODE] == 0;
	return v[OMNIK_VAC1] == OMNIK_ABSENT || v[OMNIK_VAC1] == 0;
}

/* The rules across readings; false with res->why set if one breaks. */
static bool
compare(const struct inv *e, const struct omnik_reading *r, int64_t when,
    struct invstate_result *res)
{
	const int64_t *v = r->value;
	char a[32], b[32];

	/* E total in 0.1 kWh: one unit of rounding either way. */
	if (v[OMNIK_ETOTAL] != OMNIK_ABSENT && e->etotal != OMNIK_ABSENT &&
	    v[OMNIK_ETOTAL] < e->etotal - 1) {
		omnik_format_value(OMNIK_ETOTAL, v[OMNIK_ETOTAL], a, sizeof(a));
		omnik_format_value(OMNIK_ETOTAL, e->etotal, b, sizeof(b));
		snprintf(res->why, sizeof(res->why), "ETOTAL %s kWh below the "
		    "%s kWh of inverter %s's last reading", a, b, e->sn);
		return false;
	}
	if (v[OMNIK_HTOTAL] != OMNIK_ABSENT && e->htotal != OMNIK_ABSENT &&
	    !htotal_placeholder(v) && v[OMNIK_HTOTAL] < e->htotal) {
		snprintf(res->why, sizeof(res->why), "HTOTAL %lld h below the "
		    "%lld h of inverter %s's last reading",
		    (long long)v[OMNIK_HTOTAL], (long long)e->htotal, e->sn);
		return false;
	}
	/*
	 * E today restarts with the first reading of the morning, so a
	 * value carried over from yesterday is fine until then; one that
	 * grew must fit the hours since midnight.
	 */
	if (v[OMNIK_ETODAY] != OMNIK_ABSENT && (e->etoday == OMNIK_ABSENT ||
	    v[OMNIK_ETODAY] > e->etoday)) {
		time_t t = (time_t)(when / 1000000);
		struct tm tm;
		int64_t since, max;
		int phases = r->phases < 1 ? 1 : r->phases;

		if (localtime_r(&t, &tm) == NULL)
			return true;
		since = tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
		/* 0.01 kWh is 10 Wh; 0.1 kWh of rounding. */
		max = (int64_t)phases * PHASE_W * since / 36000 + 10;
		if (v[OMNIK_ETODAY] > max) {
			omnik_format_value(OMNIK_ETODAY, v[OMNIK_ETODAY], a,
			    sizeof(a));
			snprintf(res->why, sizeof(res->why), "ETODAY %s kWh at "
			    "%02d:%02d local time: more than %d phase(s) can "
			    "make since midnight", a, tm.tm_hour, tm.tm_min,
			    phases);
			return false;
		}
	}
	return true;
}

static void
remember(struct inv *e, const struct omnik_reading *r, int64_t recv,
    int64_t when)
{
	if (!e->has_last || recv >= e->last_recv) {
		e->has_last = true;
		e->last_recv = recv;
		if (r->value[OMNIK_ETODAY] != OMNIK_ABSENT)
			e->etoday = r->value[OMNIK_ETODAY];
		if (r->value[OMNIK_ETOTAL] != OMNIK_ABSENT)
			e->etotal = r->value[OMNIK_ETOTAL];
		if (r->value[OMNIK_HTOTAL] != OMNIK_ABSENT &&
		    !htotal_placeholder(r->value))
			e->htotal = r->value[OMNIK_HTOTAL];
	}
	e->recent[e->nrecent] = when;
	e->nrecent = (e->nrecent + 1) % RECENT;
}

enum invstate_verdict
invstate_check(const struct omnik_reading *r, const struct timeval *recv,
    struct invstate_result *res)
{
	struct inv *e = lookup(r->inverter_sn);
	int64_t rt = us_of(recv), when = rt;

	memset(res, 0, sizeof(*res));
	if (!rate_take(e, rt))
		return rate_excess(r, res);

	if (r->historical)
		when -= INVSTATE_HISTORICAL_S * 1000000LL;
	if (e->has_last && rt >= e->last_recv && !compare(e, r, when, res)) {
		T.st.implausible++;
		return INVSTATE_IMPLAUSIBLE;
	}
	while (recent_has(e, when))
		when++;
	remember(e, r, rt, when);
	res->when.tv_sec = (time_t)(when / 1000000);
	res->when.tv_usec = (suseconds_t)(when % 1000000);
	if (res->when.tv_usec < 0) {
		res->when.tv_sec--;
		res->when.tv_usec += 1000000;
	}
	return INVSTATE_OK;
}

static int64_t
column_scaled(sqlite3_stmt *st, int col, int decimals)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return OMNIK_ABSENT;
	return (int64_t)llround(sqlite3_column_double(st, col) *
	    pow(10, decimals));
}

int
invstate_seed_db(sqlite3 *db, char *err, size_t errlen)
{
	/* The index on (inverter_sn, id) answers this without the rows. */
	/* H total: the last one that was not an offline frame's 0. */
	static const char sql[] = "SELECT inverter_sn, usec, etoday, etotal, "
	    "(SELECT h.htotal FROM readings h WHERE h.inverter_sn = "
	    "readings.inverter_sn AND h.htotal > 0 ORDER BY h.id DESC LIMIT 1) "
	    "FROM readings WHERE id IN (SELECT max(id) FROM readings "
	    "GROUP BY inverter_sn) ORDER BY id DESC LIMIT ?";
	sqlite3_stmt *st = NULL;
	int n = 0, rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", sqlite3_db_filename(db, "main"),
		    sqlite3_errmsg(db));
		return -1;
	}
	sqlite3_bind_int(st, 1, INVSTATE_SLOTS);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *sn = sqlite3_column_text(st, 0);
		struct inv *e;
		int64_t t;

		if (sn == NULL || sn[0] == '\0')
			continue;
		e = lookup((const char *)sn);
		t = sqlite3_column_int64(st, 1);
		e->has_last = true;
		e->last_recv = t;
		e->refill = t;
		e->recent[0] = t;
		e->nrecent = 1;
		e->etoday = column_scaled(st, 2, omnik_fields[OMNIK_ETODAY]
		    .decimals);
		e->etotal = column_scaled(st, 3, omnik_fields[OMNIK_ETOTAL]
		    .decimals);
		e->htotal = column_scaled(st, 4, 0);
		n++;
	}
	if (rc != SQLITE_DONE)
		snprintf(err, errlen, "%s: %s", sqlite3_db_filename(db, "main"),
		    sqlite3_errmsg(db));
	sqlite3_finalize(st);
	T.st.seeded += (uint64_t)n;
	return rc == SQLITE_DONE ? n : -1;
}

int
invstate_seed(const char *path, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	int n;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) :
		    "out of memory");
		sqlite3_close(db);
		return -1;
	}
	n = invstate_seed_db(db, err, errlen);
	sqlite3_close(db);
	return n;
}

void
invstate_stats(struct invstate_stats *out)
{
	*out = T.st;
}

void
invstate_reset(void)
{
	memset(&T, 0, sizeof(T));
}
