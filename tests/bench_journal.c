/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench_journal.c: how fast the journal commits readings.
 *
 *   single:  one transaction per reading, as the capture programs commit
 *            (WAL, synchronous=FULL: each commit is fsynced; and NORMAL)
 *   writer:  the capture programs' writer thread: readings queued as
 *            they come, each commit takes all that queued meanwhile
 *   batched: many readings per transaction (fleet ingest, replays)
 *
 * and, in the same run on the same disk, the same row shape inserted by
 * the plain sqlite3 shell, and the disk's own write + fdatasync rate
 * (no durable commit can beat it), for comparison. Targets: >= 5,000 single
 * commits/s, >= 100,000 batched readings/s.
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

#define SINGLE_N 5000
#define SINGLE_FULL_N 2000	/* fsync-bound: fewer, or the run drags */
#define BATCH_N 200000
#define BATCH_TX 10000		/* readings per transaction */
#define SHELL_SINGLE_N 1000
#define WRITER_N 100000
#define SHELL_BATCH_N 100000

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

/* The same rows through the sqlite3 shell, one INSERT statement each. */
static double
run_shell(const char *path, int n, bool batched)
{
	char cmd[700];
	FILE *p;
	double t0, t, c0 = cpu_s(RUSAGE_CHILDREN);

	remove_db(path);
	snprintf(cmd, sizeof(cmd), "sqlite3 '%s' >/dev/null", path);
	t0 = now_s();
	if ((p = popen(cmd, "w")) == NULL) {
		perror("sqlite3");
		return -1;
	}
	fprintf(p, "PRAGMA journal_mode = WAL;\nPRAGMA synchronous = FULL;\n"
	    "CREATE TABLE readings (id INTEGER PRIMARY KEY AUTOINCREMENT, "
	    "time TEXT, usec INTEGER, kit_sn INTEGER, inverter_sn TEXT, "
	    "temp REAL, vpv1 REAL, vpv2 REAL, vpv3 REAL, ipv1 REAL, "
	    "ipv2 REAL, ipv3 REAL, iac1 REAL, iac2 REAL, iac3 REAL, "
	    "vac1 REAL, vac2 REAL, vac3 REAL, fac1 REAL, pac1 INTEGER, "
	    "fac2 REAL, pac2 INTEGER, fac3 REAL, pac3 INTEGER, etoday REAL, "
	    "etotal REAL, htotal INTEGER, runmode INTEGER, frame BLOB);\n");
	if (batched)
		fprintf(p, "BEGIN;\n");
	for (int i = 0; i < n; i++) {
		fprintf(p, "INSERT INTO readings VALUES (NULL, "
		    "'2025-11-24T16:00:00.000000Z', %d, 1601299688, "
		    "'NLDN3020131A0123', 10.0, 10.1, 10.2, 10.3, 10.4, 10.5, "
		    "10.6, 10.7, 10.8, 10.9, 11.0, 11.1, 11.2, 1.13, 114, 1.15, "
		    "116, 1.17, 118, 1.19, 12.0, 121, 122, x'", i);
		for (int k = 0; k < 139; k++)
			fputs("68", p);
		fputs("');\n", p);
		if (batched && i % BATCH_TX == BATCH_TX - 1)
			fprintf(p, "COMMIT;\nBEGIN;\n");
	}
	if (batched)
		fprintf(p, "COMMIT;\n");
	if (pclose(p) != 0)
		return -1;
	t = now_s() - t0;
	cpu_used = cpu_s(RUSAGE_CHILDREN) - c0;
	remove_db(path);
	return t;
}

static void
report(const char *what, int n, double t, double target)
{
	/*
	 * Wall time is what a user gets; CPU time shows what the code costs
	 * when the disk and the cores are not shared (fsync waits are not
	 * CPU time).
	 */
	printf("%-50s %8.0f /s wall, %8.0f /s per CPU s  (%d in %.2f s)%s\n",
	    what, n / t, cpu_used > 0 ? n / cpu_used : 0.0, n, t,
	    target > 0 ? (n / t >= target ? "  target met" :
	    "  below target") : "");
}

int
main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : getenv("TMPDIR") ?
	    getenv("TMPDIR") : "/tmp";
	char path[512];
	struct sample s;
	double t, t_sync, t_full, t_shell;

	snprintf(path, sizeof(path), "%s/omk-bench-journal-%d.db", dir,
	    (int)getpid());
	sample_init(&s);
	printf("journal benchmark on %s (SQLite %s)\n", dir, sqlite3_libversion());
	if (argc > 2 && strcmp(argv[2], "batch") == 0) {
		t = run_journal(path, true, BATCH_N, BATCH_TX, &s);
		report("journal, 10000 readings per commit, FULL", BATCH_N, t,
		    100000);
		return 0;
	}
	t_sync = run_fdatasync(dir, SINGLE_FULL_N);
	if (t_sync > 0)
		report("disk: 4 KiB write + fdatasync (the FULL ceiling)",
		    SINGLE_FULL_N, t_sync, 0);
	t_full = run_journal(path, true, SINGLE_FULL_N, 1, &s);
	report("journal, 1 reading per commit, WAL synchronous=FULL",
	    SINGLE_FULL_N, t_full, 5000);
	t = run_journal(path, false, SINGLE_N, 1, &s);
	report("journal, 1 reading per commit, WAL synchronous=NORMAL",
	    SINGLE_N, t, 5000);
	t = run_writer(path, true, WRITER_N, &s);
	report("journal writer thread, readings as they come, FULL",
	    WRITER_N, t, 5000);
	t = run_journal(path, true, BATCH_N, BATCH_TX, &s);
	report("journal, 10000 readings per commit, FULL", BATCH_N, t, 100000);
	t_shell = run_shell(path, SHELL_SINGLE_N, false);
	if (t_shell > 0)
		report("sqlite3 shell, 1 INSERT per commit, WAL FULL",
		    SHELL_SINGLE_N, t_shell, 0);
	t = run_shell(path, SHELL_BATCH_N, true);
	if (t > 0)
		report("sqlite3 shell, 10000 INSERTs per commit, FULL",
		    SHELL_BATCH_N, t, 0);
	/* The single-commit figure against the baselines of this run. */
	if (t_sync > 0)
		printf("ratio: journal FULL single commits / disk fdatasync "
		    "rate = %.2f\n", (SINGLE_FULL_N / t_full) /
		    (SINGLE_FULL_N / t_sync));
	if (t_shell > 0)
		printf("ratio: journal FULL single commits / sqlite3 shell "
		    "= %.2f\n", (SINGLE_FULL_N / t_full) /
		    (SHELL_SINGLE_N / t_shell));
	return 0;
}
