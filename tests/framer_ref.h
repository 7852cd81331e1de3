/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * framer_ref.h: the reference framer of framer_ref.c, for tests only.
 * Same statuses, frames and counters as framer.h.
 */
#ifndef FRAMER_REF_H
#define FRAMER_REF_H

#include "framer.h"

struct ref_framer {
	uint8_t buf[OMNIK_FRAME_MAX];
	size_t buflen;
	size_t consume;
	const uint8_t *in;
	size_t inlen;
	uint64_t inpos;
	uint64_t quiet_until;
	bool eof;
	struct framer_stats st;
};

void ref_framer_init(struct ref_framer *f);
void ref_framer_input(struct ref_framer *f, const uint8_t *data, size_t len);
enum framer_status ref_framer_next(struct ref_framer *f,
    struct framer_frame *out);
void ref_framer_finish(struct ref_framer *f);
size_t ref_framer_buffered(const struct ref_framer *f);
int ref_framer_suspend(const struct ref_framer *f,
    struct framer_suspended *out);
void ref_framer_resume(struct ref_framer *f, uint64_t offset,
    uint64_t quiet_until);

#endif /* FRAMER_REF_H */
