/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vectors.h: the shared test vectors (tests/data/vectors.tsv, a copy of
 * ../shared/vectors.tsv) and how to check a decoded frame against them.
 */
#ifndef VECTORS_H
#define VECTORS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "omnik.h"

struct vector {
	char name[96];
	uint8_t *bytes;
	size_t len;
	json_t *expected;	/* array: one object per frame, in order */
};

/* $OMNIK_VECTORS, or tests/data/vectors.tsv. */
const char *vectors_path(void);
/* Load every vector; returns the count, or -1 with a message on stderr. */
int vectors_load(const char *path, struct vector **out);
void vectors_free(struct vector *v, int n);

/* Is this expected object a frame that must be rejected for its checksum? */
bool vector_expects_bad(const json_t *exp);

/*
 * Compare a decoded message with one expected object. Returns true if every
 * key matches; otherwise false with the first mismatch described in why.
 */
bool vector_check(const json_t *exp, const struct omnik_msg *m, char *why,
    size_t n);

/* Fill buf with a frame: 0x68, L, c1, c2, serial twice, payload, sum, 0x16. */
size_t vector_make_frame(uint8_t *buf, uint8_t c1, uint8_t c2, uint32_t sn,
    const uint8_t *payload, uint8_t plen);

/* Deterministic PRNG for tests (xorshift64*). */
uint64_t test_rand(uint64_t *state);

#endif /* VECTORS_H */
