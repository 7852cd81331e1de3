/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_framer.c: resynchronisation, filler, truncation, oversized frames,
 * the bounded buffer and chunking, on streams built from real frames.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "framer.h"
#include "framer_ref.h"
#include "omnik.h"
#include "vectors.h"

/* What came out of the framer, for comparing runs. */
struct event {
	enum framer_status st;
	uint64_t offset;
	size_t len;
};

struct run {
	struct event ev[4096];
	size_t n;
	struct framer_stats st;
	size_t max_buffered;
};

static void
collect(struct framer *fr, struct run *r)
{
	struct framer_frame f;
	enum framer_status st;

	while ((st = framer_next(fr, &f)) != FRAMER_NEED_MORE) {
		assert_true(r->n < sizeof(r->ev) / sizeof(r->ev[0]));
		/* Valid frames really are valid, wherever they came from. */
		if (st == FRAMER_FRAME) {
			struct omnik_msg m;
			enum omnik_err e = omnik_decode(f.data, f.len, &m);
			assert_true(e == OMNIK_OK || e == OMNIK_ERR_TRUNCATED ||
			    e == OMNIK_ERR_TYPE);
		}
		r->ev[r->n].st = st;
		r->ev[r->n].offset = f.offset;
		r->ev[r->n].len = f.len;
		r->n++;
	}
	if (framer_buffered(fr) > r->max_buffered)
		r->max_buffered = framer_buffered(fr);
	/* The invariant of framer.h, at every NEED_MORE. */
	assert_int_equal(fr->st.bytes_in, fr->st.frame_bytes + fr->st.skipped +
	    fr->st.filler + framer_buffered(fr));
}

/* Feed buf in chunks: chunk 0 = whole; else sizes 1..chunk from seed. */
static void
feed(const uint8_t *buf, size_t len, size_t chunk, uint64_t seed,
    struct run *r)
{
	struct framer fr;
	size_t off = 0;

	memset(r, 0, sizeof(*r));
	framer_init(&fr);
	while (off < len) {
		size_t n = chunk == 0 ? len : 1 + test_rand(&seed) % chunk;
		if (n > len - off)
			n = len - off;
		framer_input(&fr, buf + off, n);
		off += n;
		collect(&fr, r);
	}
	framer_finish(&fr);
	collect(&fr, r);
	assert_int_equal(framer_buffered(&fr), 0);
	r->st = fr.st;
}

static size_t
data_frame(uint8_t *out, uint32_t sn, uint8_t L)
{
	struct omnik_reading r;
	size_t len;

	omnik_reading_clear(&r);
	r.kit_sn = sn;
	strcpy(r.inverter_sn, "NLDN202013953027");
	r.value[OMNIK_VAC1] = 2300;
	r.value[OMNIK_FAC1] = 5000;
	r.value[OMNIK_PAC1] = sn % 3000;
	assert_int_equal(omnik_encode_data(&r, L, out, OMNIK_FRAME_MAX, &len),
	    OMNIK_OK);
	return len;
}

static size_t
ack_frame(uint8_t *out, uint32_t sn)
{
	size_t len;

	assert_int_equal(omnik_encode_text(sn, 0x41, "DATA SEND IS OK\r\n", out,
	    OMNIK_FRAME_MAX, &len), OMNIK_OK);
	return len;
}

static size_t
count(const struct run *r, enum framer_status st)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n; i++)
		n += r->ev[i].st == st;
	return n;
}

/* Random garbage, 0x68 included, between good frames. */
static void
test_garbage_between_frames(void **state)
{
	static uint8_t buf[200000];
	size_t len = 0, frames = 0, frame_bytes = 0;
	uint64_t seed = 7;
	struct run *r = malloc(sizeof(*r));

	(void)state;
	while (len + 2 * OMNIK_FRAME_MAX + 64 < sizeof(buf)) {
		size_t g = test_rand(&seed) % 64;
		for (size_t i = 0; i < g; i++) {
			uint64_t x = test_rand(&seed);
			buf[len++] = x % 7 == 0 ? 0x68 : (uint8_t)(x >> 8);
		}
		size_t n = data_frame(buf + len, (uint32_t)frames, 0x7D);
		len += n;
		frame_bytes += n;
		frames++;
	}
	feed(buf, len, 0, 0, r);
	/* Garbage may, rarely, hold a valid frame by chance: never fewer. */
	assert_true(count(r, FRAMER_FRAME) >= frames);
	assert_true(r->st.frame_bytes >= frame_bytes);
	size_t got = 0;
	for (size_t i = 0; i < r->n; i++)
		if (r->ev[i].st == FRAMER_FRAME && r->ev[i].len == 139)
			got++;
	assert_int_equal(got, frames);
	free(r);
}

/* A stray 0x68 whose length runs past the good frame must not hide it. */
static void
test_stray_start_byte(void **state)
{
	uint8_t buf[1024];
	size_t len = 0, n;
	struct run *r = malloc(sizeof(*r));

	(void)state;
	/* 0x68 0xFF: a candidate of 269 bytes, longer than what follows. */
	buf[len++] = 0x00;
	buf[len++] = 0x68;
	buf[len++] = 0xFF;
	n = ack_frame(buf + len, 42);
	len += n;
	feed(buf, len, 0, 0, r);
	assert_int_equal(count(r, FRAMER_FRAME), 1);
	/* The bogus candidate holds a whole frame: dropped, not reported. */
	assert_int_equal(count(r, FRAMER_TRUNCATED), 0);
	assert_int_equal(r->ev[r->n - 1].st, FRAMER_FRAME);
	assert_int_equal(r->ev[r->n - 1].offset, 3);
	assert_int_equal(r->ev[r->n - 1].len, n);

	/* The same with enough bytes after it to fill the bogus candidate. */
	for (int i = 0; i < 3; i++)
		len += data_frame(buf + len, 43 + (uint32_t)i, 0x55);
	for (size_t chunk = 0; chunk < 300; chunk += 37) {
		feed(buf, len, chunk, chunk + 1, r);
		assert_int_equal(count(r, FRAMER_FRAME), 4);
		assert_int_equal(r->ev[0].st == FRAMER_FRAME ? r->ev[0].offset :
		    r->ev[1].offset, 3);
	}
	free(r);
}

/*
 * Feed buf in chunks without ending the stream: what a live connection
 * has delivered while it stays open.
 */
static void
feed_open(const uint8_t *buf, size_t len, size_t chunk, uint64_t seed,
    struct run *r, struct framer *fr)
{
	size_t off = 0;

	memset(r, 0, sizeof(*r));
	framer_init(fr);
	while (off < len) {
		size_t n = chunk == 0 ? len : 1 + test_rand(&seed) % chunk;
		if (n > len - off)
			n = len - off;
		framer_input(fr, buf + off, n);
		off += n;
		collect(fr, r);
	}
}

/*
 * "... data 68 ack": the stray 0x68 takes the ack's first byte for its
 * length (0x68: 118 bytes wanted). The ack lies whole inside the bogus
 * candidate: it must come at once, and the end of the stream must not
 * report a truncated frame.
 */
static void
test_stray_68_before_ack(void **state)
{
	uint8_t buf[512];
	size_t len, nd, na;
	struct run *r = malloc(sizeof(*r));
	struct framer fr;

	(void)state;
	nd = data_frame(buf, 7, 0x7D);
	len = nd;
	buf[len++] = 0x68;
	na = ack_frame(buf + len, 7);
	len += na;
	for (size_t chunk = 0; chunk < 200; chunk += 7) {
		feed_open(buf, len, chunk, chunk + 3, r, &fr);
		assert_int_equal(count(r, FRAMER_FRAME), 2);
		assert_int_equal(r->ev[1].offset, nd + 1);
		assert_int_equal(r->ev[1].len, na);
		framer_finish(&fr);
		collect(&fr, r);
		assert_int_equal(r->n, 2);
		assert_int_equal(count(r, FRAMER_TRUNCATED), 0);
		assert_int_equal(framer_buffered(&fr), 0);
		assert_int_equal(fr.st.skipped, 1);
	}
	free(r);
}

/*
 * A stray "68 ff" before a push wants 269 bytes; the push (a data frame
 * and the ack, 170 bytes) is shorter. Its reading must not wait for the
 * connection to close.
 */
static void
test_stray_68ff_before_push(void **state)
{
	uint8_t buf[512];
	size_t len = 0, nd, na;
	struct run *r = malloc(sizeof(*r));
	struct framer fr;

	(void)state;
	buf[len++] = 0x68;
	buf[len++] = 0xFF;
	nd = data_frame(buf + len, 9, 0x7D);
	len += nd;
	na = ack_frame(buf + len, 9);
	len += na;
	for (size_t chunk = 0; chunk < 200; chunk += 11) {
		feed_open(buf, len, chunk, chunk + 5, r, &fr);
		assert_int_equal(count(r, FRAMER_FRAME), 2);
		assert_int_equal(r->ev[0].offset, 2);
		assert_int_equal(r->ev[0].len, nd);
		assert_int_equal(r->ev[1].offset, 2 + nd);
		assert_int_equal(framer_buffered(&fr), 0);
		framer_finish(&fr);
		collect(&fr, r);
		assert_int_equal(r->n, 2);
		assert_int_equal(fr.st.skipped, 1);
		assert_int_equal(fr.st.filler, 1);
	}
	free(r);
}

static void
test_filler_counted(void **state)
{
	uint8_t buf[512];
	size_t len = 0;
	struct run *r = malloc(sizeof(*r));

	(void)state;
	len += ack_frame(buf, 1);
	memset(buf + len, 0xFF, 68);
	len += 68;
	len += ack_frame(buf + len, 2);
	buf[len++] = 0x00;
	buf[len++] = 0x11;
	feed(buf, len, 5, 3, r);
	assert_int_equal(count(r, FRAMER_FRAME), 2);
	assert_int_equal(r->st.filler, 68);
	assert_int_equal(r->st.skipped, 2);
	free(r);
}

static void
test_truncated_at_end(void **state)
{
	uint8_t buf[512];
	size_t len = 0;
	struct run *r = malloc(sizeof(*r));

	(void)state;
	len += data_frame(buf, 1, 0x7D);
	len += data_frame(buf + len, 2, 0x7D) - 20;	/* cut short */
	for (size_t chunk = 0; chunk < 200; chunk += 19) {
		feed(buf, len, chunk, chunk, r);
		assert_int_equal(count(r, FRAMER_FRAME), 1);
		assert_int_equal(count(r, FRAMER_TRUNCATED), 1);
		assert_int_equal(r->ev[1].offset, 139);
		assert_int_equal(r->ev[1].len, 119);
		assert_int_equal(r->st.truncated, 1);
	}
	free(r);
}

/*
 * Oversized: bytes inserted inside a frame (its length byte now too
 * small) make its end byte miss. It is skipped; the next frame decodes.
 */
static void
test_oversized_frame(void **state)
{
	uint8_t buf[1024], tmp[OMNIK_FRAME_MAX];
	size_t len = 0, n;
	struct run *r = malloc(sizeof(*r));

	(void)state;
	n = data_frame(tmp, 1, 0x55);
	memcpy(buf, tmp, 50);
	memset(buf + 50, 0x00, 30);		/* 30 extra bytes */
	memcpy(buf + 80, tmp + 50, n - 50);
	len = n + 30;
	len += data_frame(buf + len, 2, 0x55);
	feed(buf, len, 0, 0, r);
	assert_int_equal(count(r, FRAMER_FRAME), 1);
	assert_int_equal(r->ev[r->n - 1].offset, n + 30);
	assert_int_equal(count(r, FRAMER_BAD_CHECKSUM), 0);
	free(r);
}

/* A bad checksum is reported once, and the frame after it still comes. */
static void
test_bad_checksum_then_good(void **state)
{
	uint8_t buf[1024];
	size_t len = 0, n;
	struct run *r = malloc(sizeof(*r));

	(void)state;
	n = data_frame(buf, 1, 0x7D);
	buf[40] ^= 0x10;
	len = n;
	len += ack_frame(buf + len, 1);
	for (size_t chunk = 0; chunk < 200; chunk += 13) {
		feed(buf, len, chunk, chunk, r);
		assert_int_equal(r->n, 2);
		assert_int_equal(r->ev[0].st, FRAMER_BAD_CHECKSUM);
		assert_int_equal(r->ev[0].len, n);
		assert_int_equal(r->ev[1].st, FRAMER_FRAME);
		assert_int_equal(r->ev[1].offset, n);
		assert_int_equal(r->st.bad_checksums, 1);
	}
	free(r);
}

/* Hostile input: start bytes everywhere. Memory stays within one frame. */
static void
test_bounded_buffer(void **state)
{
	static uint8_t buf[1 << 20];
	struct run *r = malloc(sizeof(*r));

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (i % 3 == 0) ? 0x68 : (i % 3 == 1 ? 0xFE : 0x41);
	feed(buf, sizeof(buf), 65536, 9, r);
	assert_int_equal(count(r, FRAMER_FRAME), 0);
	assert_true(r->max_buffered < OMNIK_FRAME_MAX);
	assert_int_equal(sizeof(((struct framer *)0)->buf), OMNIK_FRAME_MAX);
	assert_int_equal(r->st.skipped + r->st.filler, sizeof(buf));
	free(r);
}

/* Any chunking, 1 byte to 64 KiB, gives exactly the same events. */
static void
test_chunking_equivalence(void **state)
{
	static uint8_t buf[300000];
	static const uint8_t lens[] = { 0x55, 0x7D, 0x81, 0xA9 };
	size_t len = 0;
	uint64_t seed = 99;
	struct run *whole = malloc(sizeof(*whole));
	struct run *r = malloc(sizeof(*r));
	static const size_t chunks[] = { 1, 2, 3, 16, 139, 270, 4096, 65536 };

	(void)state;
	for (uint32_t i = 0; len + 2 * OMNIK_FRAME_MAX + 80 < sizeof(buf) &&
	    i < 3000; i++) {
		switch (test_rand(&seed) % 6) {
		case 0:
			memset(buf + len, 0xFF, 68);
			len += 68;
			break;
		case 1:
			buf[len++] = 0x68;
			break;
		case 2:
			len += ack_frame(buf + len, i);
			buf[len - 3] ^= 1;	/* bad checksum */
			break;
		default:
			len += data_frame(buf + len, i, lens[i % 4]);
			break;
		}
	}
	feed(buf, len, 0, 0, whole);
	assert_true(whole->n > 1000);
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		feed(buf, len, chunks[c], c + 1, r);
		assert_int_equal(r->n, whole->n);
		assert_memory_equal(r->ev, whole->ev,
		    whole->n * sizeof(whole->ev[0]));
		assert_memory_equal(&r->st, &whole->st, sizeof(r->st));
	}
	free(whole);
	free(r);
}

/*
 * Suspending after every chunk and resuming in a fresh framer from only the
 * held bytes gives the same frames, at the same stream offsets.
 */
static void
test_suspend_resume(void **state)
{
	static uint8_t buf[60000];
	size_t len = 0, off = 0, n = 0;
	uint64_t seed = 3;
	struct run *whole = malloc(sizeof(*whole));
	uint8_t held[OMNIK_FRAME_MAX];
	struct framer_suspended sus = { 0 };
	uint64_t hoff = 0, hquiet = 0;
	size_t hlen = 0;

	(void)state;
	while (len + OMNIK_FRAME_MAX + 70 < sizeof(buf)) {
		len += data_frame(buf + len, (uint32_t)len, 0x7D);
		len += ack_frame(buf + len, 1);
		buf[len - 5] ^= (uint8_t)(test_rand(&seed) % 3 == 0);
		memset(buf + len, 0xFF, 7);
		len += 7;
	}
	feed(buf, len, 0, 0, whole);
	while (off < len) {
		struct framer fr;
		struct framer_frame f;
		enum framer_status st;
		size_t c = 1 + test_rand(&seed) % 300;

		if (c > len - off)
			c = len - off;
		framer_init(&fr);
		framer_resume(&fr, hoff, hquiet);
		framer_input(&fr, held, hlen);
		while ((st = framer_next(&fr, &f)) != FRAMER_NEED_MORE)
			fail_msg("a frame out of held bytes alone");
		framer_input(&fr, buf + off, c);
		off += c;
		if (off == len)
			framer_finish(&fr);
		while ((st = framer_next(&fr, &f)) != FRAMER_NEED_MORE) {
			assert_true(n < whole->n);
			assert_int_equal(st, whole->ev[n].st);
			assert_int_equal(f.offset, whole->ev[n].offset);
			assert_int_equal(f.len, whole->ev[n].len);
			n++;
		}
		assert_int_equal(framer_suspend(&fr, &sus), 0);
		assert_true(sus.len < OMNIK_FRAME_MAX);
		memcpy(held, sus.data, sus.len);
		hlen = sus.len;
		hoff = sus.offset;
		hquiet = sus.quiet_until;
	}
	assert_int_equal(n, whole->n);
	assert_int_equal(hlen, 0);
	free(whole);
}

/*
 * The property the fast path must keep: for any stream and any chunking,
 * framer_next and framer_next_many (any batch size) give exactly the
 * results, bytes and counters of the framer before it (framer_ref.c).
 * Streams are hostile on purpose: 0x68, 0x16 and 0xFF everywhere, frames
 * of every length with the sum, the end byte or the doubled serial wrong,
 * frames inside frames, cut frames. Each chunk is a copy of exactly its
 * bytes on the heap, so a read past it is an ASan error.
 */
struct pevent {
	enum framer_status st;
	uint64_t offset;
	size_t len;
};

struct prun {
	struct pevent *ev;
	size_t n, cap;
	struct framer_stats st;
};

static void
prun_add(struct prun *r, const uint8_t *stream, size_t slen,
    const struct framer_frame *f, enum framer_status st)
{
	assert_true(st != FRAMER_NEED_MORE);
	/* The bytes handed out are the stream's, wherever they are kept. */
	assert_true(f->offset + f->len <= slen);
	assert_memory_equal(f->data, stream + f->offset, f->len);
	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 256;
		r->ev = realloc(r->ev, r->cap * sizeof(*r->ev));
		assert_non_null(r->ev);
	}
	r->ev[r->n].st = st;
	r->ev[r->n].offset = f->offset;
	r->ev[r->n].len = f->len;
	r->n++;
}

static uint8_t
hostile_byte(uint64_t *seed)
{
	static const uint8_t special[] = { 0x68, 0x16, 0xFF, 0x00 };
	uint64_t x = test_rand(seed);

	return x % 4 == 0 ? special[(x >> 8) % 4] : (uint8_t)(x >> 16);
}

/* A frame of n = L + 14 bytes at out, valid unless flaws say otherwise. */
enum { FLAW_SUM = 1, FLAW_END = 2, FLAW_SERIAL = 4 };

static size_t
hostile_frame(uint8_t *out, uint8_t L, unsigned flaws, uint64_t *seed)
{
	size_t n = (size_t)L + OMNIK_OVERHEAD;

	out[0] = OMNIK_START;
	out[1] = L;
	for (size_t i = 2; i < n - 2; i++)
		out[i] = hostile_byte(seed);
	memcpy(out + 8, out + 4, 4);
	if (flaws & FLAW_SERIAL)
		out[8 + test_rand(seed) % 4] ^= 1;
	out[n - 1] = flaws & FLAW_END ? 0x17 : OMNIK_END;
	out[n - 2] = (uint8_t)(omnik_checksum(out, n) + !!(flaws & FLAW_SUM));
	return n;
}

static size_t
hostile_stream(uint8_t *buf, size_t cap, uint64_t *seed)
{
	size_t len = 0, n, m, at;
	uint8_t L;

	while (len + 2 * OMNIK_FRAME_MAX < cap) {
		uint64_t x = test_rand(seed);

		L = x % 3 == 0 ? (uint8_t)(x >> 8) : (uint8_t)((x >> 8) % 64);
		switch (x % 11) {
		case 0:
			buf[len++] = hostile_byte(seed);
			break;
		case 1:
			buf[len++] = OMNIK_START;
			buf[len++] = (uint8_t)(x >> 16);
			break;
		case 2:
			memset(buf + len, 0xFF, x >> 20 & 31);
			len += x >> 20 & 31;
			break;
		case 3:
			len += hostile_frame(buf + len, L, 1u << (x >> 16) % 3,
			    seed);
			break;
		case 4:
			/* Cut short, then the stream goes on. */
			n = hostile_frame(buf + len, L, 0, seed);
			len += 1 + (x >> 24) % n;
			break;
		case 5:
			/*
			 * A valid frame inside another, which is valid too or
			 * not; the inner one anywhere, or ending right at or
			 * just before the outer's checksum (its end byte then
			 * takes the checksum's place).
			 */
			n = (size_t)(L | 0x40) + OMNIK_OVERHEAD;
			hostile_frame(buf + len, (uint8_t)(L | 0x40),
			    (unsigned)(x >> 16) % 2, seed);
			m = (size_t)(x >> 32) % 16 + OMNIK_OVERHEAD;
			if ((x >> 44) % 2)
				at = n - 1 - m - (x >> 46) % 3;
			else
				at = 1 + (x >> 24) % (n - m - 1);
			hostile_frame(buf + len + at, (uint8_t)(m -
			    OMNIK_OVERHEAD), 0, seed);
			if (at + m < n - 1 && (x >> 48) % 3 != 0)
				buf[len + n - 2] = omnik_checksum(buf + len, n);
			len += n;
			break;
		case 6:
			len += ack_frame(buf + len, (uint32_t)x);
			break;
		default:
			len += data_frame(buf + len, (uint32_t)x,
			    (uint8_t[]){ 0x55, 0x7D, 0x81, 0xA9 }[x >> 16 & 3]);
			/* Some carry a stray 0x68, a doubled serial after it. */
			if ((x >> 20) % 4 == 0) {
				n = len - 20 - (x >> 24) % 40;
				buf[n] = OMNIK_START;
				memcpy(buf + n + 8, buf + n + 4, 4);
			}
			break;
		}
	}
	/* Half the streams end inside a frame. */
	if (test_rand(seed) % 2) {
		n = hostile_frame(buf + len, (uint8_t)test_rand(seed), 0, seed);
		len += 1 + test_rand(seed) % (n - 1);
	}
	return len;
}

/*
 * Feed stream in chunks (chunk 0: random sizes up to 300 from seed) to
 * the reference (batch 0) or to the framer with framer_next (batch 1,
 * via next) or framer_next_many (batch > 1, or 1 via many).
 */
static void
prun_feed(const uint8_t *stream, size_t slen, size_t chunk, uint64_t seed,
    int impl, size_t batch, struct prun *r)
{
	struct ref_framer rf;
	struct framer fr;
	struct framer_frame out[64], f;
	enum framer_status st;
	size_t off = 0, c, k;

	r->n = 0;
	ref_framer_init(&rf);
	framer_init(&fr);
	for (int last = 0; !last;) {
		uint8_t *copy = NULL;

		c = chunk ? chunk : 1 + test_rand(&seed) % 300;
		if (c > slen - off)
			c = slen - off;
		if (c > 0) {
			copy = malloc(c);
			assert_non_null(copy);
			memcpy(copy, stream + off, c);
		}
		off += c;
		last = off == slen;
		if (impl == 0) {
			ref_framer_input(&rf, copy, c);
			if (last)
				ref_framer_finish(&rf);
			while ((st = ref_framer_next(&rf, &f)) !=
			    FRAMER_NEED_MORE)
				prun_add(r, stream, slen, &f, st);
		} else {
			framer_input(&fr, copy, c);
			if (last)
				framer_finish(&fr);
			if (impl == 1) {
				while ((st = framer_next(&fr, &f)) !=
				    FRAMER_NEED_MORE) {
					assert_int_equal(f.status, st);
					prun_add(r, stream, slen, &f, st);
				}
			} else {
				while ((k = framer_next_many(&fr, out,
				    batch)) > 0) {
					assert_true(k <= batch);
					for (size_t i = 0; i < k; i++)
						prun_add(r, stream, slen,
						    &out[i], out[i].status);
				}
			}
			assert_int_equal(fr.st.bytes_in, fr.st.frame_bytes +
			    fr.st.skipped + fr.st.filler +
			    framer_buffered(&fr));
		}
		free(copy);
	}
	if (impl == 0) {
		assert_int_equal(ref_framer_buffered(&rf), 0);
		r->st = rf.st;
	} else {
		assert_int_equal(framer_buffered(&fr), 0);
		r->st = fr.st;
	}
}

static void
prun_same(const struct prun *a, const struct prun *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		assert_int_equal(a->ev[i].st, b->ev[i].st);
		assert_int_equal(a->ev[i].offset, b->ev[i].offset);
		assert_int_equal(a->ev[i].len, b->ev[i].len);
	}
	assert_memory_equal(&a->st, &b->st, sizeof(a->st));
}

static void
test_same_as_reference(void **state)
{
	static uint8_t buf[12000];
	static const size_t batches[] = { 1, 2, 3, 7, 64 };
	struct prun ref = { 0 }, r = { 0 };
	uint64_t seed = 0x5eed;
	size_t len, kinds[4] = { 0 };

	(void)state;
	for (int s = 0; s < 60; s++) {
		len = hostile_stream(buf, s % 10 == 0 ? sizeof(buf) : 2500,
		    &seed);
		prun_feed(buf, len, len, 0, 0, 0, &ref);
		for (size_t i = 0; i < ref.n; i++)
			kinds[ref.ev[i].st]++;
		/* Whole, every chunk size from 1 to 300 (on some streams),
		 * and random chunkings. */
		for (size_t c = 0; c <= 300; c += s % 6 == 0 ? 1 : 37) {
			uint64_t cs = seed + c;

			prun_feed(buf, len, c ? c : len, 0, 0, 0, &ref);
			for (int impl = 1; impl <= 2; impl++)
				for (size_t b = 0; b < 5; b++) {
					if (impl == 1 && b > 0)
						break;
					prun_feed(buf, len, c ? c : len, 0,
					    impl, batches[b], &r);
					prun_same(&ref, &r);
				}
			prun_feed(buf, len, 0, cs, 0, 0, &ref);
			prun_feed(buf, len, 0, cs, 1, 1, &r);
			prun_same(&ref, &r);
			prun_feed(buf, len, 0, cs, 2, batches[c % 5], &r);
			prun_same(&ref, &r);
		}
	}
	/* The streams did exercise every kind of result. */
	assert_true(kinds[FRAMER_FRAME] > 1000);
	assert_true(kinds[FRAMER_BAD_CHECKSUM] > 100);
	assert_true(kinds[FRAMER_TRUNCATED] > 10);
	free(ref.ev);
	free(r.ev);
}

/*
 * Where the fast path's one-pass scan has its edges (16-byte steps, the
 * masked last step, the last byte a frame inside can start at), every
 * case: outer frames of 1 to 99 bytes of payload, a valid frame of 14,
 * 15 or 19 bytes inside at every position it fits, the outer sum right
 * or wrong, whole and 64 at a time, against the reference.
 */
static void
test_inner_every_position(void **state)
{
	uint8_t buf[2 * OMNIK_FRAME_MAX];
	static const uint8_t inner_L[] = { 0, 1, 5 };
	struct prun ref = { 0 }, r = { 0 };
	uint64_t seed = 7;
	size_t inner = 0;

	(void)state;
	for (unsigned L = 1; L < 100; L++)
		for (size_t k = 0; k < 3; k++)
			for (size_t at = 1; at + inner_L[k] + 14 <= L + 13;
			    at++)
				for (int good = 0; good < 2; good++) {
					size_t n = hostile_frame(buf, (uint8_t)L,
					    0, &seed), len;

					hostile_frame(buf + at, inner_L[k], 0,
					    &seed);
					if (good && at + inner_L[k] + 14 < n - 1)
						buf[n - 2] = omnik_checksum(buf,
						    n);
					/* A frame after it, as in a stream. */
					len = n + hostile_frame(buf + n, 0x10,
					    0, &seed);
					prun_feed(buf, len, len, 0, 0, 0, &ref);
					prun_feed(buf, len, len, 0, 2, 64, &r);
					prun_same(&ref, &r);
					prun_feed(buf, len, len, 0, 1, 1, &r);
					prun_same(&ref, &r);
					inner += ref.n > 0 &&
					    ref.ev[0].offset == at;
				}
	/* The inner frame won, as framer.c says, in most cases. */
	assert_true(inner > 10000);
	free(ref.ev);
	free(r.ev);
}

/*
 * framer_next_many takes a run of whole frames on their end byte and
 * checksum and only then looks inside those holding a 0x68. A valid
 * frame with a valid frame inside, after a run of 0 to 140 valid frames
 * (most with a stray 0x68: the run crosses the 64-frame steps) and
 * followed by more, must still lose to the frame inside, exactly as the reference says, at
 * every batch size.
 */
static void
test_inner_after_run(void **state)
{
	static uint8_t buf[160 * OMNIK_FRAME_MAX];
	static const size_t batches[] = { 1, 2, 7, 63, 64 };
	struct prun ref = { 0 }, r = { 0 };
	uint64_t seed = 0x1a2b;
	size_t won = 0;

	(void)state;
	for (size_t run = 0; run <= 140; run++) {
		size_t len = 0, at, n, m, outer_at, inner_at;

		for (size_t i = 0; i < run; i++)
			len += hostile_frame(buf + len,
			    (uint8_t)(20 + test_rand(&seed) % 200), 0, &seed);
		outer_at = len;
		n = hostile_frame(buf + len, (uint8_t)(60 + run % 100), 0,
		    &seed);
		at = 1 + test_rand(&seed) % (n - 40);
		m = hostile_frame(buf + len + at, 10, 0, &seed);
		assert_true(at + m < n - 1);
		buf[len + n - 2] = omnik_checksum(buf + len, n);
		inner_at = outer_at + at;
		len += n;
		/* Enough after it for the fast path to take it whole. */
		for (size_t i = 0; i < 12; i++)
			len += hostile_frame(buf + len, 0x10, 0, &seed);

		prun_feed(buf, len, len, 0, 0, 0, &ref);
		for (size_t b = 0; b < 5; b++) {
			prun_feed(buf, len, len, 0, 2, batches[b], &r);
			prun_same(&ref, &r);
		}
		prun_feed(buf, len, len, 0, 1, 1, &r);
		prun_same(&ref, &r);
		for (size_t i = 0; i < ref.n; i++) {
			assert_false(ref.ev[i].st == FRAMER_FRAME &&
			    ref.ev[i].offset == outer_at);
			won += ref.ev[i].st == FRAMER_FRAME &&
			    ref.ev[i].offset == inner_at;
		}
	}
	/* The inner frame won each time (unless the run's bytes made the
	 * outer frame's own start disappear into an earlier frame). */
	assert_true(won >= 130);
	free(ref.ev);
	free(r.ev);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_garbage_between_frames),
		cmocka_unit_test(test_stray_start_byte),
		cmocka_unit_test(test_stray_68_before_ack),
		cmocka_unit_test(test_stray_68ff_before_push),
		cmocka_unit_test(test_filler_counted),
		cmocka_unit_test(test_truncated_at_end),
		cmocka_unit_test(test_oversized_frame),
		cmocka_unit_test(test_bad_checksum_then_good),
		cmocka_unit_test(test_bounded_buffer),
		cmocka_unit_test(test_chunking_equivalence),
		cmocka_unit_test(test_suspend_resume),
		cmocka_unit_test(test_same_as_reference),
		cmocka_unit_test(test_inner_every_position),
		cmocka_unit_test(test_inner_after_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
