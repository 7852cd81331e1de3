/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench_journal.c: how fast the journal commits readings, next to a
 * baseline doing the same work in the same run, rounds interleaved.
 *
 * The baseline is C on SQLite directly: the journal's own schema (its
 * tables and index, copied from a journal created here), the same
 * pragmas, one prepared INSERT with the same columns and values bound,
 * and nothing else. The disk's write + fdatasync rate bounds any
 * durable commit.
 *
 *   peak, 1 reading a commit (FULL)   journal_add / commit in the loop
 *   peak, 10000 a commit (FULL)       fleet ingest, replays
 *   peak, the writer thread (FULL)    as the programs run it: queued as
 *                                     they come, each commit takes all
 *                                     that queued meanwhile
 *   real site: 20 readings/s paced, each committed alone (the writer
 *                thread as the programs run it, waiting for each commit):
 *                CPU per reading and time to commit, against the
 *                baseline committing each one itself
 *
 * ROUNDS rounds after a warm-up of every target, the order rotating per
 * round; ratios taken within each round, printed as min / median / max.
 * Targets: >= 5,000 single commits/s, >= 100,000 batched readings/s
 * (median). Reported, not failed: they depend on the disk.
 *
 *   bench_journal [DIR]     (default: $TMPDIR or /tmp)
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "journal_int.h"	/* journal_begin, journal_commit */
#include "omnik.h"

#define ROUNDS 5
#define SINGLE_N 400		/* fsync-bound: few, or the run drags */
#define BATCH_N 50000
#define BATCH_TX 10000		/* readings per transaction */
#define WRITER_N 50000
#define PACED_N 30		/* at PACED_HZ: 1.5 s a target a round */
#define PACED_HZ 20

static double
now_s(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* CPU seconds (user + system) of this process, or of its children. */
static double
cpu_s(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double cpu_used;		/* by the last run */

static void
remove_db(const char *path)
{
	char p[600];

	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

struct sample {
	struct omnik_msg m;
	uint8_t frame[OMNIK_FRAME_MAX];
	size_t len;
};

static void
sample_init(struct sample *s)
{
	struct omnik_reading r;

	omnik_reading_clear(&r);
	r.kit_sn = 1601299688u;
	r.ctrl1 = 0x41;
	snprintf(r.inverter_sn, sizeof(r.inverter_sn), "NLDN3020131A0123");
	/* Within the decoder's limits. */
	for (int i = 0; i < OMNIK_NFIELDS; i++)
		r.value[i] = omnik_limits[i].min + 100 + i;
	r.value[OMNIK_TEMP] = 200;
	r.value[OMNIK_RUNMODE] = 1;
	r.has_fw = true;
	snprintf(r.fw_main, sizeof(r.fw_main), "V5.07Build230");
	snprintf(r.fw_slave, sizeof(r.fw_slave), "V4.13Build253");
	if (omnik_encode_data(&r, 0x7D, s->frame, sizeof(s->frame),
	    &s->len) != OMNIK_OK || omnik_decode(s->frame, s->len, &s->m) !=
	    OMNIK_OK) {
		fprintf(stderr, "bench_journal: cannot build a sample\n");
		exit(1);
	}
}

static double
run_journal(const char *path, bool full, int n, int per_tx,
    const struct sample *s)
{
	struct journal_opts o = { .retention_days = 0, .sync_full = full };
	char err[512];
	const char *e;
	struct journal *j;
	struct record rec = { .reading = &s->m.reading, .source = "bench",
	    .frame = s->frame, .frame_len = s->len };
	double t0, t, c0;

	remove_db(path);
	if ((j = journal_open(path, &o, err, sizeof(err))) == NULL) {
		fprintf(stderr, "bench_journal: %s\n", err);
		exit(1);
	}
	t0 = now_s();
	c0 = cpu_s(RUSAGE_SELF);
	for (int i = 0; i < n; i++) {
		rec.when.tv_sec = 1764000000 + i;
		if (per_tx > 1 && i % per_tx == 0 && journal_begin(j, &e) != 0)
			goto fail;
		if (journal_add(j, &rec, &e) != 0)
			goto fail;
		if (per_tx > 1 && (i % per_tx == per_tx - 1 || i == n - 1) &&
		    journal_commit(j, &e) != 0)
			goto fail;
	}
	t = now_s() - t0;
	cpu_used = cpu_s(RUSAGE_SELF) - c0;
	journal_close(j);
	remove_db(path);
	return t;
fail:
	fprintf(stderr, "bench_journal: %s\n", e);
	exit(1);
}

/*
 * The writer thread as the programs run it: the loop queues readings as
 * they arrive (here: as fast as it can, a busy relay or a replay) and the
 * thread commits whatever queued meanwhile in one transaction.
 */
static double
run_writer(const char *path, bool full, int n, const struct sample *s)
{
	struct journal_opts o = { .retention_days = 0, .sync_full = full };
	char err[512];
	const char *e;
	struct journal *j;
	struct record rec = { .reading = &s->m.reading, .source = "bench",
	    .frame = s->frame, .frame_len = s->len };
	double t0, t, c0;

	remove_db(path);
	if ((j = journal_open(path, &o, err, sizeof(err))) == NULL ||
	    journal_writer_start(j, false, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_journal: %s\n", err);
		exit(1);
	}
	t0 = now_s();
	c0 = cpu_s(RUSAGE_SELF);
	for (int i = 0; i < n; i++) {
		rec.when.tv_sec = 1764000000 + i;
		if (journal_add(j, &rec, &e) != 0)
			goto fail;
	}
	if (journal_sync(j, 600000, &e) != 0)
		goto fail;
	t = now_s() - t0;
	cpu_used = cpu_s(RUSAGE_SELF) - c0;
	journal_close(j);
	remove_db(path);
	return t;
fail:
	fprintf(stderr, "bench_journal: %s\n", e);
	exit(1);
}

/*
 * What the disk allows: a 4 KiB write and fdatasync, in a loop, on the
 * same file system. A durable commit needs at least one such flush, so
 * this bounds single commits under synchronous = FULL on this machine.
 * The writes go round a file written once beforehand, as the WAL's do
 * once it has been checkpointed and restarts (so no flush has to update
 * the file's size: appending costs a journal commit of the file system
 * per flush, and is slower than SQLite itself).
 */
#define FSYNC_RING (4 << 20)
static double
run_fdatasync(const char *dir, int n)
{
	char p[600], page[4096];
	double t0, t, c0;
	int fd;

	snprintf(p, sizeof(p), "%s/omk-bench-fsync-%d", dir, (int)getpid());
	if ((fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0) {
		perror(p);
		return -1;
	}
	memset(page, 0x68, sizeof(page));
	for (int off = 0; off < FSYNC_RING; off += (int)sizeof(page))
		if (write(fd, page, sizeof(page)) != (ssize_t)sizeof(page))
			goto fail;
	if (fsync(fd) != 0)
		goto fail;
	t0 = now_s();
	c0 = cpu_s(RUSAGE_SELF);
	for (int i = 0; i < n; i++) {
		off_t off = (off_t)i * (off_t)sizeof(page) % FSYNC_RING;

		if (pwrite(fd, page, sizeof(page), off) !=
		    (ssize_t)sizeof(page) || fdatasync(fd) != 0)
			goto fail;
	}
	t = now_s() - t0;
	cpu_used = cpu_s(RUSAGE_SELF) - c0;
	close(fd);
	unlink(p);
	return t;
fail:
	perror(p);
	close(fd);
	unlink(p);
	return -1;
}

/*
 * The baseline: the journal's schema, copied from a journal made here,
 * in a database of its own; the same pragmas; one prepared INSERT of
 * the journal's columns with the same values bound. per_tx readings a
 * transaction; with hz > 0 paced, lat[] (n) the seconds each took.
 */
struct baseline {
	sqlite3 *db;
	sqlite3_stmt *ins;
};

static void
die_db(sqlite3 *db, const char *what)
{
	fprintf(stderr, "bench_journal: baseline: %s: %s\n", what,
	    db ? sqlite3_errmsg(db) : "out of memory");
	exit(1);
}

static void
baseline_open(struct baseline *b, const char *path, const char *from)
{
	sqlite3 *src = NULL;
	sqlite3_stmt *st = NULL;
	char sql[1024], col[16];
	size_t len;

	remove_db(path);
	if (sqlite3_open(path, &b->db) != SQLITE_OK)
		die_db(b->db, "open");
	if (sqlite3_exec(b->db, "PRAGMA journal_mode = WAL; PRAGMA "
	    "synchronous = FULL; PRAGMA cache_size = -1024", NULL, NULL,
	    NULL) != SQLITE_OK)
		die_db(b->db, "pragmas");
	if (sqlite3_open_v2(from, &src, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK || sqlite3_prepare_v2(src, "SELECT sql FROM "
	    "sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
	    "ORDER BY type DESC", -1, &st, NULL) != SQLITE_OK)
		die_db(src, "reading the journal's schema");
	while (sqlite3_step(st) == SQLITE_ROW)
		if (sqlite3_exec(b->db, (const char *)sqlite3_column_text(st,
		    0), NULL, NULL, NULL) != SQLITE_OK)
			die_db(b->db, "copying the schema");
	sqlite3_finalize(st);
	sqlite3_close(src);
	len = (size_t)snprintf(sql, sizeof(sql), "INSERT INTO readings (time, "
	    "usec, kit_sn, inverter_sn, ctrl, source, frame, fault, fw_main, "
	    "fw_slave");
	for (int i = 0; i < OMNIK_NFIELDS; i++) {
		size_t k;

		for (k = 0; omnik_fields[i].name[k] && k < sizeof(col) - 1; k++)
			col[k] = (char)(omnik_fields[i].name[k] |
			    (omnik_fields[i].name[k] >= 'A' &&
			    omnik_fields[i].name[k] <= 'Z' ? 0x20 : 0));
		col[k] = '\0';
		len += (size_t)snprintf(sql + len, sizeof(sql) - len, ", %s",
		    col);
	}
	len += (size_t)snprintf(sql + len, sizeof(sql) - len,
	    ", variant, historical) VALUES (?,?,?,?,?,?,?,?,?,?,?,?");
	for (int i = 0; i < OMNIK_NFIELDS; i++)
		len += (size_t)snprintf(sql + len, sizeof(sql) - len, ",?");
	snprintf(sql + len, sizeof(sql) - len, ")");
	if (sqlite3_prepare_v2(b->db, sql, -1, &b->ins, NULL) != SQLITE_OK)
		die_db(b->db, "preparing the INSERT");
}

static void
baseline_add(struct baseline *b, const struct sample *s, int64_t usec)
{
	static const double p10[] = { 1, 10, 100, 1000, 10000 };
	const struct omnik_reading *r = &s->m.reading;
	sqlite3_stmt *st = b->ins;
	struct timeval tv = { (time_t)(usec / 1000000), 0 };
	struct tm tm;
	char t[40], lab[OMNIK_VARIANT_LABEL];
	size_t len;

	/* The values the journal binds, made the way it makes them. */
	gmtime_r(&tv.tv_sec, &tm);
	len = strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(t + len, sizeof(t) - len, ".%06uZ", 0u);
	sqlite3_bind_text(st, 1, t, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, usec);
	sqlite3_bind_int64(st, 3, r->kit_sn);
	sqlite3_bind_text(st, 4, r->inverter_sn, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, r->ctrl1);
	sqlite3_bind_text(st, 6, "bench", -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 7, s->frame, (int)s->len, SQLITE_STATIC);
	sqlite3_bind_null(st, 8);
	sqlite3_bind_text(st, 9, r->fw_main, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, r->fw_slave, -1, SQLITE_STATIC);
	for (int i = 0; i < OMNIK_NFIELDS; i++) {
		if (r->value[i] == OMNIK_ABSENT)
			sqlite3_bind_null(st, 11 + i);
		else if (omnik_fields[i].decimals == 0)
			sqlite3_bind_int64(st, 11 + i, r->value[i]);
		else
			sqlite3_bind_double(st, 11 + i, (double)r->value[i] /
			    p10[omnik_fields[i].decimals]);
	}
	sqlite3_bind_text(st, 11 + OMNIK_NFIELDS, omnik_variant_label(r, lab),
	    -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 12 + OMNIK_NFIELDS, r->historical);
	if (sqlite3_step(st) != SQLITE_DONE)
		die_db(b->db, "INSERT");
	sqlite3_reset(st);
}

static void
baseline_exec(struct baseline *b, const char *sql)
{
	if (sqlite3_exec(b->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		die_db(b->db, sql);
}

/* Sleep until t0 + i / hz. */
static void
pace(double t0, int i, int hz)
{
	double due = t0 + (double)i / hz, d = due - now_s();

	if (d > 0) {
		struct timespec ts = { (time_t)d, (long)((d - (time_t)d) * 1e9) };

		nanosleep(&ts, NULL);
	}
}

static double
run_baseline(const char *path, const char *schema, int n, int per_tx,
    int hz, double *lat, const struct sample *s)
{
	struct baseline b;
	double t0, t, c0, l0;

	baseline_open(&b, path, schema);
	t0 = now_s();
	c0 = cpu_s(RUSAGE_SELF);
	for (int i = 0; i < n; i++) {
		if (hz > 0)
			pace(t0, i, hz);
		l0 = now_s();
		if (per_tx > 1 && i % per_tx == 0)
			baseline_exec(&b, "BEGIN");
		baseline_add(&b, s, (1764000000LL + i) * 1000000);
		if (per_tx > 1 && (i % per_tx == per_tx - 1 || i == n - 1))
			baseline_exec(&b, "COMMIT");
		if (lat)
			lat[i] = now_s() - l0;
	}
	t = now_s() - t0;
	cpu_used = cpu_s(RUSAGE_SELF) - c0;
	sqlite3_finalize(b.ins);
	sqlite3_close(b.db);
	remove_db(path);
	return t;
}

/*
 * A real site: readings one at a time, paced, through the writer thread
 * as the programs run it; each reading's time is until journal_sync()
 * says it is committed.
 */
static double
run_writer_paced(const char *path, int n, int hz, double *lat,
    const struct sample *s)
{
	struct journal_opts o = { .retention_days = 0, .sync_full = true };
	struct record rec = { .reading = &s->m.reading, .source = "bench",
	    .frame = s->frame, .frame_len = s->len };
	char err[512];
	const char *e;
	struct journal *j;
	double t0, t, c0, l0;

	remove_db(path);
	if ((j = journal_open(path, &o, err, sizeof(err))) == NULL ||
	    journal_writer_start(j, false, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_journal: %s\n", err);
		exit(1);
	}
	t0 = now_s();
	c0 = cpu_s(RUSAGE_SELF);
	for (int i = 0; i < n; i++) {
		pace(t0, i, hz);
		l0 = now_s();
		rec.when.tv_sec = 1764000000 + i;
		if (journal_add(j, &rec, &e) != 0 ||
		    journal_sync(j, 10000, &e) != 0) {
			fprintf(stderr, "bench_journal: %s\n", e);
			exit(1);
		}
		lat[i] = now_s() - l0;
	}
	t = now_s() - t0;
	cpu_used = cpu_s(RUSAGE_SELF) - c0;
	journal_close(j);
	remove_db(path);
	return t;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median_of(const double *v, int n)
{
	double c[256];

	if (n > 256)
		n = 256;
	memcpy(c, v, sizeof(double) * (size_t)n);
	qsort(c, (size_t)n, sizeof(double), cmp_double);
	return c[n / 2];
}

/* "min / median / max" over the rounds, scaled, prec decimals. */
static void
mmm(const char *what, const double *v, double scale, int prec,
    const char *unit)
{
	double c[ROUNDS];

	memcpy(c, v, sizeof(c));
	qsort(c, ROUNDS, sizeof(double), cmp_double);
	printf("  %-52s %.*f / %.*f / %.*f%s\n", what, prec, c[0] * scale,
	    prec, c[ROUNDS / 2] * scale, prec, c[ROUNDS - 1] * scale, unit);
}

enum target {
	T_DISK, T_J1, T_B1, T_JB, T_BB, T_JW, T_JP, T_BP, NT
};

int
main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : getenv("TMPDIR") ?
	    getenv("TMPDIR") : "/tmp";
	char path[512], schema[512];
	struct sample s;
	double rate[NT][ROUNDS], cpu[NT][ROUNDS], lat50[NT][ROUNDS];
	double q[ROUNDS], lat[PACED_N];
	struct journal *j;
	struct journal_opts o = { .retention_days = 0, .sync_full = true };
	char err[512];

	snprintf(path, sizeof(path), "%s/omk-bench-journal-%d.db", dir,
	    (int)getpid());
	snprintf(schema, sizeof(schema), "%s/omk-bench-schema-%d.db", dir,
	    (int)getpid());
	sample_init(&s);
	/* A journal made only for its schema, which the baseline copies. */
	remove_db(schema);
	if ((j = journal_open(schema, &o, err, sizeof(err))) == NULL) {
		fprintf(stderr, "bench_journal: %s\n", err);
		return 1;
	}
	journal_close(j);
	printf("journal benchmark on %s (SQLite %s), WAL synchronous=FULL; "
	    "%d rounds, rotated, after warm-ups; min / median / max\n", dir,
	    sqlite3_libversion(), ROUNDS);
	for (int round = -1; round < ROUNDS; round++) {
		/* round -1: the warm-up, every target once, not counted. */
		int i = round < 0 ? 0 : round;

		for (int k = 0; k < NT; k++) {
			int t = (k + i) % NT;
			int n = 0;
			double tt = 0, *l = NULL;

			switch (t) {
			case T_DISK:
				n = SINGLE_N;
				tt = run_fdatasync(dir, n);
				break;
			case T_J1:
				n = SINGLE_N;
				tt = run_journal(path, true, n, 1, &s);
				break;
			case T_B1:
				n = SINGLE_N;
				tt = run_baseline(path, schema, n, 1, 0, NULL,
				    &s);
				break;
			case T_JB:
				n = BATCH_N;
				tt = run_journal(path, true, n, BATCH_TX, &s);
				break;
			case T_BB:
				n = BATCH_N;
				tt = run_baseline(path, schema, n, BATCH_TX, 0,
				    NULL, &s);
				break;
			case T_JW:
				n = WRITER_N;
				tt = run_writer(path, true, n, &s);
				break;
			case T_JP:
				n = PACED_N;
				l = lat;
				tt = run_writer_paced(path, n, PACED_HZ, lat,
				    &s);
				break;
			case T_BP:
				n = PACED_N;
				l = lat;
				tt = run_baseline(path, schema, n, 1, PACED_HZ,
				    lat, &s);
				break;
			}
			if (round < 0)
				continue;
			rate[t][i] = tt > 0 ? n / tt : 0;
			cpu[t][i] = cpu_used / n;
			lat50[t][i] = l ? median_of(l, n) : 0;
		}
	}
	remove_db(schema);
	printf("peak, 1 reading a commit (%d a round):\n", SINGLE_N);
	mmm("disk: 4 KiB write + fdatasync (the ceiling)", rate[T_DISK], 1,
	    0, " /s");
	mmm("baseline: C, sqlite3 directly", rate[T_B1], 1, 0, " /s");
	mmm("journal", rate[T_J1], 1, 0, " /s");
	for (int i = 0; i < ROUNDS; i++)
		q[i] = rate[T_J1][i] / rate[T_B1][i];
	mmm("journal / baseline", q, 1, 2, "");
	for (int i = 0; i < ROUNDS; i++)
		q[i] = rate[T_J1][i] / rate[T_DISK][i];
	mmm("journal / disk", q, 1, 2, "");
	printf("    target >= 5,000 /s: %s\n", median_of(rate[T_J1], ROUNDS) >=
	    5000 ? "met" : "MISSED");
	printf("peak, %d readings a commit (%d a round):\n", BATCH_TX, BATCH_N);
	mmm("baseline: C, sqlite3 directly", rate[T_BB], 1, 0, " /s");
	mmm("journal", rate[T_JB], 1, 0, " /s");
	for (int i = 0; i < ROUNDS; i++)
		q[i] = rate[T_JB][i] / rate[T_BB][i];
	mmm("journal / baseline", q, 1, 2, "");
	printf("    target >= 100,000 /s: %s\n", median_of(rate[T_JB],
	    ROUNDS) >= 100000 ? "met" : "MISSED");
	printf("peak, the writer thread, readings as fast as they come "
	    "(%d a round):\n", WRITER_N);
	mmm("journal writer", rate[T_JW], 1, 0, " /s");
	for (int i = 0; i < ROUNDS; i++)
		q[i] = rate[T_JW][i] / rate[T_BB][i];
	mmm("journal writer / baseline at 10000 a commit", q, 1, 2, "");
	printf("real site: %d readings/s, each committed alone (%d a round):\n",
	    PACED_HZ, PACED_N);
	mmm("baseline: CPU per reading", cpu[T_BP], 1e6, 0, " us");
	mmm("journal (writer thread): CPU per reading", cpu[T_JP], 1e6, 0,
	    " us");
	for (int i = 0; i < ROUNDS; i++)
		q[i] = cpu[T_JP][i] / cpu[T_BP][i];
	mmm("journal / baseline, CPU per reading", q, 1, 2, "");
	mmm("baseline: time to commit, median of the round", lat50[T_BP],
	    1e6, 0, " us");
	mmm("journal: time to commit, median of the round", lat50[T_JP],
	    1e6, 0, " us");
	return 0;
}
