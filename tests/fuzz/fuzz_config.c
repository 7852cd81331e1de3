/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_config.c: libFuzzer target for the config loader (common/config.c
 * with libinih), fed through a real file so that the file checks run too.
 * It checks properties and abort()s on any violation:
 *
 *   (a) config_load returns 0 or -1; the message is terminated inside its
 *       buffer, and a failure always says something that names the file.
 *   (b) a loaded config survives being written out and read back: when
 *       config_dump's lines fit the parser's line limit, the dump loads
 *       without error and dumps to the same text (a setting that the
 *       loader accepts but cannot read back, or reads back differently,
 *       is a bug).
 *   (c) config_build with the same file and a few overrides agrees with
 *       config_load on success or failure.
 *
 * Built two ways: with clang -fsanitize=fuzzer (make fuzz), and with any
 * compiler linked to tests/fuzz/replay.c (make check replays the corpus,
 * tests/fuzz/corpus-config).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond))							\
		violation(__LINE__, #cond);				\
} while (0)

/* inih's line limit, as config.c's syntax error message states. */
#define LINE_LIMIT 200

static void
violation(int line, const char *what)
{
	fprintf(stderr, "fuzz_config.c:%d: property violated: %s\n", line,
	    what);
	abort();
}

/* A file holding data, as /proc/self/fd/N; its descriptor in *fd. */
static void
make_file(const uint8_t *data, size_t size, int *fd, char *path, size_t n)
{
	size_t off = 0;

	*fd = memfd_create("fuzz-config", MFD_CLOEXEC);
	if (*fd < 0) {
		perror("memfd_create");
		abort();
	}
	while (off < size) {
		ssize_t w = write(*fd, data + off, size - off);

		if (w <= 0) {
			perror("write");
			abort();
		}
		off += (size_t)w;
	}
	snprintf(path, n, "/proc/self/fd/%d", *fd);
}

static char *
dump(const struct config *c, size_t *len)
{
	char *buf = NULL;
	FILE *fp = open_memstream(&buf, len);

	if (fp == NULL)
		abort();
	config_dump(c, fp);
	if (fclose(fp) != 0)
		abort();
	return buf;
}

static int
longest_line(const char *s)
{
	int best = 0, cur = 0;

	for (; *s; s++) {
		if (*s == '\n') {
			cur = 0;
			continue;
		}
		if (++cur > best)
			best = cur;
	}
	return best;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config c, c2, c3;
	static char err[4096], err2[4096];
	struct config_overrides ov;
	char path[64], path2[64];
	char *d1, *d2;
	size_t l1, l2;
	int fd, fd2, r, r3;

	/* As the programs do (idempotent): the outputs' sections. */
	config_register(output_sections);
	make_file(data, size, &fd, path, sizeof(path));

	/* (a) */
	config_defaults(&c);
	memset(err, 'X', sizeof(err));
	r = config_load(&c, path, err, sizeof(err));
	CHECK(r == 0 || r == -1);
	CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	if (r != 0)
		CHECK(err[0] != '\0' && strstr(err, path) != NULL);

	/* (c) the same through config_build, with flags on top */
	memset(&ov, 0, sizeof(ov));
	CHECK(config_override(&ov, "omniklog", "verbose", "1") == 0);
	CHECK(config_override(&ov, "relay", "listen", "10004") == 0);
	r3 = config_build(&c3, path, &ov, err2, sizeof(err2));
	CHECK(memchr(err2, '\0', sizeof(err2)) != NULL);
	CHECK((r == 0) == (r3 == 0));
	if (r3 == 0)
		CHECK(c3.verbose == 1 && strcmp(c3.listen, "10004") == 0);

	/* (b) */
	if (r == 0) {
		d1 = dump(&c, &l1);
		if (longest_line(d1) < LINE_LIMIT - 1) {
			make_file((const uint8_t *)d1, l1, &fd2, path2,
			    sizeof(path2));
			config_defaults(&c2);
			if (config_load(&c2, path2, err2, sizeof(err2)) != 0) {
				fprintf(stderr, "reload failed: %s\n", err2);
				violation(__LINE__, "a dump loads again");
			}
			d2 = dump(&c2, &l2);
			if (l1 != l2 || memcmp(d1, d2, l1) != 0) {
				fprintf(stderr, "first dump:\n%s\nsecond "
				    "dump:\n%s\n", d1, d2);
				violation(__LINE__, "a dump reads back the same");
			}
			free(d2);
			close(fd2);
		}
		free(d1);
	}
	close(fd);
	return 0;
}
