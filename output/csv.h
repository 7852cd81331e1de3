/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * csv.h: the seed script's CSV, kept column for column so that existing
 * spreadsheets keep working, with omniklog's own columns appended after.
 *
 * Crash safety: each line (or, held, each run of whole lines) goes out in
 * one write() on an O_APPEND file; a short write (disk full, file size
 * limit) is cut back off; and a file that ends in a partial line (power
 * cut mid-write) is trimmed back to its last whole line when opened.
 * Readers therefore only ever see whole lines.
 */
#ifndef CSV_H
#define CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/time.h>

#include "omnik.h"
#include "sink.h"

extern const char csv_header[];		/* ends in "\n" */

#define CSV_LINE_MAX 1024

/*
 * Format one line (ending in "\n") for a reading taken at `when`, in local
 * time. Returns its length, or 0 if it does not fit in n bytes.
 */
size_t csv_format(char *buf, size_t n, const struct omnik_reading *r,
    const struct timeval *when);

struct csv;

/* path "-" is standard output. NULL on failure, with a message in err. */
struct csv *csv_open(const char *path, char *err, size_t errlen);
int csv_write(struct csv *c, const struct omnik_reading *r,
    const struct timeval *when, const char **err);
/*
 * Whole lines csv_format made, in one write(). All or nothing: a write
 * that fails is cut back off, so the file is as it was (when even that
 * fails, the error says so and the next open trims the partial line).
 */
int csv_write_lines(struct csv *c, const char *lines, size_t len,
    const char **err);
/*
 * on: keep lines in memory (at most CSV_HOLD_MAX bytes, whole lines)
 * and write them in one write() when full or when called with off, which
 * is then the only write the caller waits for. A failed write is undone
 * and retried line by line, so the file holds exactly the lines that
 * writing each at once would have left. Close and reopen write what is
 * held first.
 */
#define CSV_HOLD_MAX (64u << 10)
int csv_hold(struct csv *c, bool on, const char **err);
/* Close and open the path again: a file moved away is created anew. */
int csv_reopen(struct csv *c, const char **err);
void csv_close(struct csv *c);
/* Bytes cut from a partial last line when the file was last opened. */
size_t csv_repaired(const struct csv *c);
/* The last line of the file (header or reading), "" if none: length. */
size_t csv_last_line(const struct csv *c, char *buf, size_t n);

/*
 * The CSV file as a sink for the dispatcher. live: a daemon's, whose loop
 * must never wait for a reader: standard output ("-") then goes through
 * a queue of CSV_QUEUE_MAX bytes written by a thread (outq.h), and lines
 * that do not fit while nothing reads are dropped and counted. Without
 * live (a replay) standard output is written directly, at the reader's
 * pace. A file is written directly either way.
 */
#define CSV_QUEUE_MAX (256u << 10)
int csv_sink_open(const char *path, bool live, struct sink *out, char *err,
    size_t errlen);

#endif /* CSV_H */
