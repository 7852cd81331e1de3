/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * replay.c: a main() for libFuzzer targets, so that any compiler can build
 * them as plain programs and the test run replays their corpus under the
 * sanitizers.
 *
 *   fuzz_proto_replay DIR|FILE ...
 *
 * Every regular file of each DIR (in name order), or the FILE itself, goes
 * to LLVMFuzzerTestOneInput in a buffer of exactly its size, so a read one
 * byte past the input is an ASan error. Prints TAP, one line per argument:
 * "ok N - DIR: replayed K inputs", "not ok" for an empty or unreadable
 * one. A property the target checks aborts the run; the file being replayed
 * is named on stderr first.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs above this are not corpus files: refuse rather than guess. */
#define REPLAY_MAX_INPUT (16u << 20)

static const char *current;

static void
on_abort(int sig)
{
	static const char msg[] = "replay: aborted while replaying ";

	(void)sig;
	if (current != NULL) {
		if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0 ||
		    write(STDERR_FILENO, current, strlen(current)) < 0 ||
		    write(STDERR_FILENO, "\n", 1) < 0)
			_exit(134);
	}
	signal(SIGABRT, SIG_DFL);
	raise(SIGABRT);
}

/* Replay one file; false (with a message) if it cannot be read. */
static int
replay_file(const char *path)
{
	FILE *fp;
	struct stat sb;
	uint8_t *buf;
	size_t n;

	fp = fopen(path, "rb");
	if (fp == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return 0;
	}
	if (fstat(fileno(fp), &sb) == -1 || sb.st_size < 0 ||
	    (uintmax_t)sb.st_size > REPLAY_MAX_INPUT) {
		fprintf(stderr, "replay: %s: unusable size\n", path);
		fclose(fp);
		return 0;
	}
	n = (size_t)sb.st_size;
	buf = malloc(n ? n : 1);
	if (buf == NULL || fread(buf, 1, n, fp) != n) {
		fprintf(stderr, "replay: %s: read error\n", path);
		free(buf);
		fclose(fp);
		return 0;
	}
	fclose(fp);
	current = path;
	LLVMFuzzerTestOneInput(buf, n);
	current = NULL;
	free(buf);
	return 1;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replay every regular file in dir; returns the count, -1 on error. */
static long
replay_dir(const char *dir)
{
	DIR *d;
	struct dirent *de;
	char **names = NULL, **tmp, path[4096];
	size_t n = 0, cap = 0, i;
	long done = 0;
	struct stat sb;

	d = opendir(dir);
	if (d == NULL) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			tmp = realloc(names, cap * sizeof(*names));
			if (tmp == NULL)
				abort();
			names = tmp;
		}
		names[n] = strdup(de->d_name);
		if (names[n] == NULL)
			abort();
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), name_cmp);

	for (i = 0; i < n; i++) {
		if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >=
		    (int)sizeof(path)) {
			fprintf(stderr, "replay: %s/%s: path too long\n", dir,
			    names[i]);
			done = -1;
		} else if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
			if (!replay_file(path))
				done = -1;
			else if (done >= 0)
				done++;
		}
		free(names[i]);
	}
	free(names);
	return done;
}

int
main(int argc, char **argv)
{
	struct stat sb;
	long k;
	int i, failed = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR|FILE ...\n", argv[0]);
		return 2;
	}
	signal(SIGABRT, on_abort);
	printf("1..%d\n", argc - 1);
	fflush(stdout);
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &sb) == 0 && S_ISDIR(sb.st_mode))
			k = replay_dir(argv[i]);
		else
			k = replay_file(argv[i]) ? 1 : -1;
		if (k > 0) {
			printf("ok %d - %s: replayed %ld inputs\n", i, argv[i],
			    k);
		} else {
			printf("not ok %d - %s: %s\n", i, argv[i],
			    k == 0 ? "no inputs" : "unreadable");
			failed = 1;
		}
		fflush(stdout);
	}
	return failed;
}
