/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * outputs.c: fan a record out to every sink. Errors are logged at most once
 * per sink and per distinct message in a row, so a full disk does not flood
 * syslog with one line per reading.
 */
#include <string.h>

#include "log.h"
#include "outputs.h"

void
outputs_init(struct outputs *o)
{
	memset(o, 0, sizeof(*o));
}

int
outputs_add(struct outputs *o, const struct sink *s)
{
	if (o->n >= OUTPUTS_MAX)
		return -1;
	o->sinks[o->n++] = *s;
	return 0;
}

static void
sink_failed(struct outputs *o, int i, const char *what, const char *err)
{
	/* Log the first failure and then every 100th while it lasts. */
	if (o->errors[i]++ % 100 == 0)
		log_warnx("output %s: %s failed: %s (%llu errors so far)",
		    o->sinks[i].name, what, err ? err : "unknown error",
		    (unsigned long long)o->errors[i]);
}

static void
turn_start(struct outputs *o)
{
	if (o->turn_arm == NULL || o->turn_held)
		return;
	o->turn_held = true;
	outputs_hold(o, true);
	log_hold(true);
	o->turn_arm(o->turn_arg);
}

void
outputs_turn_end(struct outputs *o)
{
	if (!o->turn_held)
		return;
	o->turn_held = false;
	outputs_hold(o, false);
	log_hold(false);
}

void
outputs_set_turn(struct outputs *o, void (*arm)(void *), void *arg)
{
	outputs_turn_end(o);
	o->turn_arm = arm;
	o->turn_arg = arg;
}

void
outputs_reading(struct outputs *o, const struct record *rec)
{
	turn_start(o);
	for (int i = 0; i < o->n; i++) {
		const char *err = NULL;

		if (o->sinks[i].reading &&
		    o->sinks[i].reading(o->sinks[i].ctx, rec, &err) != 0)
			sink_failed(o, i, "write", err);
	}
}

void
outputs_reject(struct outputs *o, const struct reject *rej)
{
	turn_start(o);
	for (int i = 0; i < o->n; i++) {
		const char *err = NULL;

		if (o->sinks[i].reject &&
		    o->sinks[i].reject(o->sinks[i].ctx, rej, &err) != 0)
			sink_failed(o, i, "store rejected frame", err);
	}
}

void
outputs_reopen(struct outputs *o)
{
	for (int i = 0; i < o->n; i++) {
		const char *err = NULL;

		if (o->sinks[i].reopen &&
		    o->sinks[i].reopen(o->sinks[i].ctx, &err) != 0)
			sink_failed(o, i, "reopen", err);
	}
	if (o->reopen_hook)
		o->reopen_hook(o->reopen_arg);
}

void
outputs_hold(struct outputs *o, bool on)
{
	for (int i = 0; i < o->n; i++) {
		const char *err = NULL;

		if (o->sinks[i].hold &&
		    o->sinks[i].hold(o->sinks[i].ctx, on, &err) != 0)
			sink_failed(o, i, "write", err);
	}
}

uint64_t
outputs_errors(const struct outputs *o)
{
	uint64_t sum = 0;

	for (int i = 0; i < o->n; i++)
		sum += o->errors[i];
	return sum;
}
