/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * source.h: the sniffer's four inputs behind one interface, so that its
 * main never asks which one it has.
 *
 *   SOURCE_REPLAY   -r FILE...     pcap/pcapng, packet times (pcapsrc.c)
 *   SOURCE_LIVE     -i IFACE       libpcap on the loop      (pcapsrc.c)
 *   SOURCE_NFQUEUE  --nfqueue N    inline on the loop       (nfqsrc.c)
 *   SOURCE_STREAM   --stream FILE  raw kit-to-portal bytes, no packets
 *
 *   source_open    what needs privileges: files, the capture, the queue
 *   source_start   a live source attaches to the loop and returns; a
 *                  one-shot one reads its input to the end here
 *   source_stats   log the counters (SIGUSR1)
 *   source_close   end the flows still open, log the counters, free
 *
 * Program code of omnik-sniff: it logs what it reads and skips.
 */
#ifndef SOURCE_H
#define SOURCE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "outputs.h"
#include "sniff.h"
#include "tcpreasm.h"

struct event_base;
struct source;

enum source_kind {
	SOURCE_REPLAY,
	SOURCE_STREAM,
	SOURCE_LIVE,
	SOURCE_NFQUEUE,
};

/* The reassembler's settings from the config. 0, or -1 with err. */
int source_reasm_config(const struct config *c, struct tcpreasm_config *rc,
    char *err, size_t errlen);

/*
 * Open the input of this kind: paths[npaths] for a replay (one for a
 * stream; '-' is standard input), [sniff] of cfg for the live ones.
 * cfg and out must outlive the source. NULL with a message in err.
 */
struct source *source_open(enum source_kind kind, const char *const *paths,
    int npaths, const struct config *cfg, struct outputs *out, char *err,
    size_t errlen);
/* Runs on the event loop until stopped (a daemon's input)? */
bool source_live(const struct source *src);
/* Needs CAP_NET_ADMIN after the privilege drop (NFQUEUE verdicts)? */
bool source_needs_net_admin(const struct source *src);
/* "capturing on br0", "NFQUEUE 10004", ... for the start-up line. */
const char *source_name(const struct source *src);
/*
 * Live: watch the input from base. One-shot: read it all, base (may be
 * NULL) getting a round per chunk. 0, or -1 with a message in err (a
 * one-shot input's read errors are logged and counted there).
 */
int source_start(struct source *src, struct event_base *base, char *err,
    size_t errlen);
void source_stats(struct source *src);
/* The capture's counters (/metrics), NULL for a raw stream. */
const struct sniff *source_sniff(const struct source *src);
void source_close(struct source *src);

#endif /* SOURCE_H */
