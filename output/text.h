/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * text.h: one human-readable line per reading, for a terminal.
 */
#ifndef TEXT_H
#define TEXT_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/time.h>

#include "omnik.h"
#include "sink.h"

/* Returns the length written, like snprintf (truncated to fit n). */
size_t text_format(char *buf, size_t n, const struct omnik_reading *r,
    const struct timeval *when);

/*
 * A sink that prints text_format lines to fp (not closed by the sink).
 * live: a daemon's, whose loop must never wait for the reader: the lines
 * go through a queue written by a thread (outq.h), and those that do not
 * fit while nothing reads are dropped and counted.
 */
#define TEXT_QUEUE_MAX (64u << 10)
void text_sink(FILE *fp, bool live, struct sink *out);
/* A sink that logs each reading as a text_format line (log_info). */
void text_log_sink(struct sink *out);

#endif /* TEXT_H */
