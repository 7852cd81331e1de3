/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_csv.c: the seed's CSV, byte for byte (golden file), and its crash
 * safety: only whole lines, whatever happens to the writer.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "csv.h"
#include "framer.h"
#include "omnik.h"
#include "text.h"
#include "vectors.h"

static char dir[] = "/tmp/omniklog-csv-XXXXXX";

static int
setup(void **state)
{
	(void)state;
	/* Golden times are local times in this zone. */
	setenv("TZ", "Europe/Amsterdam", 1);
	tzset();
	return mkdtemp(dir) ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	if (len)
		*len = (size_t)n;
	return buf;
}

static void
sample(struct omnik_reading *r)
{
	omnik_reading_clear(r);
	r->kit_sn = 602302630;
	strcpy(r->inverter_sn, "NLDN202013953027");
	r->value[OMNIK_TEMP] = 297;
	r->value[OMNIK_PAC1] = 35;
	r->value[OMNIK_ETOTAL] = 928;
}

static void
test_header(void **state)
{
	(void)state;
	/* The seed's 24 columns exactly, then ours. */
	assert_int_equal(strncmp(csv_header,
	    "dateTime,Id,Temp,VPV1,VPV2,VPV3,IPV1,IPV2,IPV3,IAC1,IAC2,IAC3,"
	    "VAC1,VAC2,VAC3,FAC1,PAC1,FAC2,PAC2,FAC3,PAC3,ETODAY,ETOTAL,HTOTAL,",
	    strlen("dateTime,Id,Temp,VPV1,VPV2,VPV3,IPV1,IPV2,IPV3,IAC1,IAC2,"
	    "IAC3,VAC1,VAC2,VAC3,FAC1,PAC1,FAC2,PAC2,FAC3,PAC3,ETODAY,ETOTAL,"
	    "HTOTAL,")), 0);
	assert_string_equal(strchr(csv_header, '\n'), "\n");
}

/* Every data vector, formatted at a fixed time: tests/data/vectors.csv. */
static void
test_golden(void **state)
{
	struct vector *v;
	int n = vectors_load(vectors_path(), &v);
	struct timeval when = { .tv_sec = 1719835200 }; /* 2024-07-01 14:00 CEST */
	char *out = malloc(65536), *golden;
	size_t len = 0;

	(void)state;
	assert_true(n > 0);
	memcpy(out, csv_header, strlen(csv_header));
	len = strlen(csv_header);
	for (int i = 0; i < n; i++) {
		struct framer fr;
		struct framer_frame f;
		struct omnik_msg m;

		framer_init(&fr);
		framer_input(&fr, v[i].bytes, v[i].len);
		framer_finish(&fr);
		while (framer_next(&fr, &f) != FRAMER_NEED_MORE) {
			if (omnik_decode(f.data, f.len, &m) != OMNIK_OK ||
			    m.kind != OMNIK_MSG_DATA)
				continue;
			size_t l = csv_format(out + len, 65536 - len,
			    &m.reading, &when);
			assert_true(l > 0);
			len += l;
			when.tv_sec += 300;
		}
	}
	golden = slurp("tests/data/vectors.csv", NULL);
	out[len] = '\0';
	assert_string_equal(out, golden);
	free(golden);
	free(out);
	vectors_free(v, n);
}

static void
test_absent_and_quoting(void **state)
{
	struct omnik_reading r;
	struct timeval when = { .tv_sec = 1700000000 };
	char line[CSV_LINE_MAX];

	(void)state;
	sample(&r);
	strcpy(r.inverter_sn, "A,B\"C");
	assert_true(csv_format(line, sizeof(line), &r, &when) > 0);
	assert_string_equal(line, "2023-11-14 23:13:20,\"A,B\"\"C\",29.7,,,,,,,"
	    ",,,,,,,35,,,,,,92.8,,,602302630,,,omnik\n");
	/* The last column names the layout, the bytes of an unknown one. */
	r.variant = OMNIK_VARIANT_UNKNOWN;
	memcpy(r.marker, "\x81\x04\x06", 3);
	assert_true(csv_format(line, sizeof(line), &r, &when) > 0);
	assert_non_null(strstr(line, ",602302630,,,unknown-810406\n"));
	r.variant = OMNIK_VARIANT_OMNIK;
	/* Too small a buffer fails cleanly, never writes past it. */
	assert_int_equal(csv_format(line, 40, &r, &when), 0);
}

static int
count_lines(const char *buf, size_t len, int cols)
{
	int lines = 0;
	size_t start = 0;

	for (size_t i = 0; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		int commas = 0;
		for (size_t j = start; j < i; j++)
			commas += buf[j] == ',';
		if (commas != cols - 1)
			return -1;
		lines++;
		start = i + 1;
	}
	return start == len ? lines : -1;
}

#define NCOLS 29

/* A writer killed at random moments leaves only whole lines. */
static void
test_kill9_whole_lines(void **state)
{
	char path[256], *buf;
	size_t len;
	uint64_t seed = 5;
	int lines;

	(void)state;
	snprintf(path, sizeof(path), "%s/kill.csv", dir);
	for (int round = 0; round < 20; round++) {
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0) {
			struct omnik_reading r;
			struct timeval when = { .tv_sec = 1700000000 };
			char err[256];
			const char *e;
			struct csv *c = csv_open(path, err, sizeof(err));

			if (c == NULL)
				_exit(3);
			sample(&r);
			/* Bounded: at most 200000 lines per round. */
			for (int i = 0; i < 200000; i++) {
				when.tv_sec++;
				if (csv_write(c, &r, &when, &e) != 0)
					_exit(4);
			}
			_exit(0);
		}
		usleep(1000 + (useconds_t)(test_rand(&seed) % 20000));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	buf = slurp(path, &len);
	lines = count_lines(buf, len, NCOLS);
	assert_true(lines > 20);
	assert_int_equal(strncmp(buf, csv_header, strlen(csv_header)), 0);
	/* Exactly one header: the file existed for every later round. */
	assert_null(strstr(buf + 1, "dateTime"));
	free(buf);
}

/* A file that ends in half a line (power cut) is trimmed on open. */
static void
test_torn_tail_repaired(void **state)
{
	char path[256], err[256], *buf;
	const char *e;
	struct csv *c;
	struct omnik_reading r;
	struct timeval when = { .tv_sec = 1700000000 };
	FILE *fp;
	size_t len;

	(void)state;
	snprintf(path, sizeof(path), "%s/torn.csv", dir);
	fp = fopen(path, "w");
	fputs(csv_header, fp);
	fputs("2023-11-14 23:13:20,X", fp);	/* half a line */
	fclose(fp);
	c = csv_open(path, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(csv_repaired(c), strlen("2023-11-14 23:13:20,X"));
	sample(&r);
	assert_int_equal(csv_write(c, &r, &when, &e), 0);
	csv_close(c);
	buf = slurp(path, &len);
	assert_int_equal(count_lines(buf, len, NCOLS), 2);
	free(buf);

	/* Nothing but a partial header: back to empty, header rewritten. */
	fp = fopen(path, "w");
	fputs("dateTime,Id,Te", fp);
	fclose(fp);
	c = csv_open(path, err, sizeof(err));
	assert_non_null(c);
	csv_close(c);
	buf = slurp(path, &len);
	assert_string_equal(buf, csv_header);
	free(buf);
}

/* Disk full / file too big: the line is refused and cut back off. */
static void
test_short_write_undone(void **state)
{
	char path[256];
	pid_t pid;
	int status;
	char *buf;
	size_t len;

	(void)state;
	snprintf(path, sizeof(path), "%s/full.csv", dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = { 4000, 4000 };
		struct omnik_reading r;
		struct timeval when = { .tv_sec = 1700000000 };
		char err[256];
		const char *e = NULL;
		struct csv *c;
		int ok = 0, failed = 0;

		signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
			_exit(3);
		c = csv_open(path, err, sizeof(err));
		if (c == NULL)
			_exit(4);
		sample(&r);
		for (int i = 0; i < 200; i++) {
			if (csv_write(c, &r, &when, &e) == 0)
				ok++;
			else
				failed++;
		}
		/* Some fit, the rest failed with a message. */
		int rc = ok > 10 && failed > 0 && e && strstr(e, "full.csv") ?
		    0 : 5;
		csv_close(c);
		_exit(rc);
	}
	waitpid(pid, &status, 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	buf = slurp(path, &len);
	assert_true(len <= 4000);
	assert_true(count_lines(buf, len, NCOLS) > 10);
	free(buf);
}

/* logrotate moves the file away; reopen (SIGHUP) starts a new one. */
static void
test_reopen_after_move(void **state)
{
	char path[256], moved[256], err[256], *buf;
	const char *e;
	struct csv *c;
	struct omnik_reading r;
	struct timeval when = { .tv_sec = 1700000000 };
	size_t len;

	(void)state;
	snprintf(path, sizeof(path), "%s/rot.csv", dir);
	snprintf(moved, sizeof(moved), "%s/rot.csv.1", dir);
	sample(&r);
	c = csv_open(path, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(csv_write(c, &r, &when, &e), 0);
	assert_int_equal(rename(path, moved), 0);
	assert_int_equal(csv_write(c, &r, &when, &e), 0); /* still old file */
	assert_int_equal(csv_reopen(c, &e), 0);
	assert_int_equal(csv_write(c, &r, &when, &e), 0);
	csv_close(c);
	buf = slurp(moved, &len);
	assert_int_equal(count_lines(buf, len, NCOLS), 3);
	free(buf);
	buf = slurp(path, &len);
	assert_int_equal(count_lines(buf, len, NCOLS), 2);
	assert_int_equal(strncmp(buf, csv_header, strlen(csv_header)), 0);
	free(buf);
}

/* Where a CSV followed from the journal stands: its last whole line. */
static void
test_last_line(void **state)
{
	char path[256], err[256], buf[CSV_LINE_MAX], want[CSV_LINE_MAX];
	const char *e;
	struct csv *c;
	struct omnik_reading r;
	struct timeval when = { .tv_sec = 1700000000 };

	(void)state;
	snprintf(path, sizeof(path), "%s/last.csv", dir);
	sample(&r);
	c = csv_open(path, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(csv_last_line(c, buf, sizeof(buf)),
	    strlen(csv_header));
	assert_string_equal(buf, csv_header);
	assert_int_equal(csv_write(c, &r, &when, &e), 0);
	r.value[OMNIK_PAC1] = 36;
	when.tv_sec += 300;
	assert_int_equal(csv_write(c, &r, &when, &e), 0);
	assert_true(csv_format(want, sizeof(want), &r, &when) > 0);
	assert_int_equal(csv_last_line(c, buf, sizeof(buf)), strlen(want));
	assert_string_equal(buf, want);
	/* Longer than the buffer: none rather than a piece. */
	assert_int_equal(csv_last_line(c, buf, 16), 0);
	csv_close(c);
}

static void
test_open_errors(void **state)
{
	char err[256], path[256];

	(void)state;
	assert_null(csv_open("/nonexistent-dir/x.csv", err, sizeof(err)));
	assert_non_null(strstr(err, "cannot open /nonexistent-dir/x.csv"));
	assert_null(csv_open(dir, err, sizeof(err)));	/* a directory */
	snprintf(path, sizeof(path), "%s", dir);
	assert_non_null(strstr(err, path));
}

static void
test_text_line(void **state)
{
	struct omnik_reading r;
	struct timeval when = { .tv_sec = 1719835200 };
	char line[512];

	(void)state;
	sample(&r);
	r.value[OMNIK_VAC1] = 2305;
	text_format(line, sizeof(line), &r, &when);
	assert_string_equal(line, "2024-07-01 14:00:00 NLDN202013953027 kit "
	    "602302630: 35 W, total 92.8 kWh, 29.7 °C, AC1 230.5 V 35 W");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_absent_and_quoting),
		cmocka_unit_test(test_kill9_whole_lines),
		cmocka_unit_test(test_torn_tail_repaired),
		cmocka_unit_test(test_short_write_undone),
		cmocka_unit_test(test_reopen_after_move),
		cmocka_unit_test(test_last_line),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_text_line),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
