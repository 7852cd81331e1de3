/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * setup.h: the one call a program makes to get its outputs.
 *
 *   outputs_setup(o, cfg, base)   journal first (a loop round's readings
 *                                 commit together at its end, before any
 *                                 remote output sees them; SIGHUP and
 *                                 teardown commit what is pending),
 *                                 then the CSV file, then a delivery per
 *                                 configured remote output, driven by base
 *   ... stream_feed() ... event_base_dispatch(base) ...
 *   outputs_backlog(o)            readings some remote output still owes
 *                                 (commits the pending group first)
 *   outputs_teardown(o)           stops the deliveries, closes the sinks
 *
 * Sinks the program adds itself (a text sink on a terminal) go after.
 */
#ifndef SETUP_H
#define SETUP_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "outputs.h"

struct event_base;
struct journal;
struct output_status;

/*
 * Initialises o. cfg->db "" means no journal and no remote outputs (an
 * error if one is configured). base may be NULL when no remote output is
 * configured. live: a daemon's outputs, whose loop never waits for standard
 * output's reader (csv_sink_open). Returns 0, or -1 with a message in err
 * and o left empty.
 */
int outputs_setup(struct outputs *o, const struct config *cfg,
    struct event_base *base, bool live, char *err, size_t errlen);
int outputs_sync(struct outputs *o, int timeout_ms, const char **err);
int64_t outputs_backlog(struct outputs *o);
void outputs_teardown(struct outputs *o);
/* The journal the outputs follow (NULL: none), for readers on the loop. */
struct journal *outputs_journal(const struct outputs *o);
/* Up to max deliveries' status (delivery.h), in start order: how many. */
int outputs_status(struct outputs *o, struct output_status *st, int max);

#endif /* SETUP_H */
