/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * outq.h: a stream the event loop hands whole lines to and never waits
 * for: standard output, read by a pipeline's next program, the journal's
 * socket or a terminal, any of which can stop reading.
 *
 * A thread of its own does the blocking writes; the loop only copies the
 * lines into a queue of at most `max` bytes. A reader that stops fills
 * the queue; lines that then come are dropped whole and counted until
 * the reader has taken half of it, and the stream goes on from there. A program with nothing to keep going (a replay of a capture)
 * writes directly instead, and waits for a slow reader.
 *
 *	q = outq_new(STDOUT_FILENO, 256 << 10);
 *	if (outq_put(q, lines, len) != 0) ... dropped (outq_error: failed)
 *	outq_free(q, 2000);	(waits up to 2 s for the queue to drain)
 *
 * The thread starts with the first line, so a program may fork (detach)
 * after outq_new. One thread puts lines; outq_put is not for several.
 */
#ifndef OUTQ_H
#define OUTQ_H

#include <stddef.h>
#include <stdint.h>

struct outq;

/* NULL if out of memory. The fd stays the caller's (never closed). */
struct outq *outq_new(int fd, size_t max);
/*
 * Queues n bytes (whole lines: the count of dropped lines is their
 * newlines) to be written in order. 0 when queued; -1 when they did not
 * fit (dropped, counted), or the stream has failed (outq_error()), or
 * the thread cannot start.
 */
int outq_put(struct outq *q, const char *p, size_t n);
/*
 * outq_put for a sink that reports to the log (csv.c, text.c): 0 when
 * queued; 1 when queued after *dropped lines were not (the caller says
 * how many and zeroes it); -1 when not, with why in err ("standard
 * output: 3 lines dropped, ..." or the write's error), *dropped grown.
 */
int outq_put_sink(struct outq *q, const char *p, size_t n,
    uint64_t *dropped, char *err, size_t errlen);
/* Lines dropped since the last call. */
uint64_t outq_take_dropped(struct outq *q);
/* The errno of the write that failed (the stream then takes no more),
 * or of the thread's start; 0 while none has. */
int outq_error(struct outq *q);
/* Bytes queued and not yet written. */
size_t outq_pending(struct outq *q);
/*
 * Waits up to ms milliseconds for the queue to be written, then ends the
 * thread and frees q. A thread still blocked in write() then (a reader
 * that is not coming back, as the program ends) is left to it, and frees
 * q itself if the write returns. NULL is fine.
 */
void outq_free(struct outq *q, int ms);

#endif /* OUTQ_H */
