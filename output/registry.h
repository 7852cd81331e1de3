/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * registry.h: the remote outputs, one driver each, in one table.
 *
 * A driver brings its config section (its own struct and key table, see
 * config.h), says whether that section turns it on, and starts its
 * deliveries: cursors over the journal, driven by the program's loop.
 * outputs_setup() walks output_drivers[]; the config loader walks the
 * same outputs' sections (output_sections[], which the program hands to
 * config_register() before it loads a config). Both tables are made from
 * the one list in registry.c.
 */
#ifndef REGISTRY_H
#define REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

struct config_section;
struct delivery;
struct event_base;
struct journal;
struct output_status;

struct output_driver {
	const char *name;
	const struct config_section *section;
	/* Whether its settings (its section's struct) turn it on. */
	bool (*enabled)(const void *conf);
	/*
	 * One delivery or more (PVOutput: one per system) into out[0 ..
	 * *n - 1], at most max. 0, or -1 with a message in err and none
	 * left running.
	 */
	int (*start)(struct journal *j, struct event_base *base,
	    const void *conf, struct delivery **out, int max, int *n,
	    char *err, size_t errlen);
	/*
	 * Optional: what the status page and /metrics show beyond the
	 * cursor (delivery_status fills that part first): the last error in
	 * the output's words. ctx is the delivery's (delivery_ctx).
	 */
	void (*status)(void *ctx, struct output_status *st);
};

/* NULL-terminated. */
extern const struct output_driver *const output_drivers[];
extern const struct config_section *const output_sections[];

#endif /* REGISTRY_H */
