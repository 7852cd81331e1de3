/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sink.h: what every output receives, and the interface outputs implement.
 *
 * A record is one decoded reading with its time and origin. A reject is a
 * frame that did not become a reading, kept raw with the reason. Outputs
 * register a struct sink with the dispatcher (outputs.h); the dispatcher
 * hands every record to every sink and never stops for a sink's failure.
 */
#ifndef SINK_H
#define SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#include "omnik.h"

struct record {
	const struct omnik_reading *reading;
	struct timeval when;	/* receive time live, packet time on replay */
	const char *source;	/* e.g. "198.51.100.2:40000", or a file name */
	const uint8_t *frame;	/* the raw frame it was decoded from */
	size_t frame_len;
};

struct reject {
	const char *reason;
	struct timeval when;
	const char *source;
	const uint8_t *frame;
	size_t frame_len;
};

struct sink {
	const char *name;
	void *ctx;
	/* 0 on success, -1 with *err set (a static or ctx-owned string). */
	int (*reading)(void *ctx, const struct record *rec, const char **err);
	int (*reject)(void *ctx, const struct reject *rej, const char **err);
	int (*reopen)(void *ctx, const char **err);	/* SIGHUP */
	/*
	 * Optional. on: the sink may keep readings in (bounded) memory until
	 * it is called with off, which writes them. outputs_hold().
	 */
	int (*hold)(void *ctx, bool on, const char **err);
	void (*close)(void *ctx);
};

#endif /* SINK_H */
