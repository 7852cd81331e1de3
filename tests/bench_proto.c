/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench_proto.c: framer + decoder throughput against a plain byte-sum loop
 * over the same buffer, measured in the same run.
 *
 * For 99-, 139- and 183-byte inverter data frames: a buffer of about 8 MiB
 * of encoded frames (values, serials and strings varying from frame to
 * frame) is fed to the framer in 64 KiB chunks, as a socket or a capture
 * file would deliver it, so frames also straddle chunks; every frame is
 * decoded. The byte-sum loop reads the same buffer once. Each measurement
 * repeats passes for at least MIN_SECONDS; the best of RUNS is kept, the
 * two kinds alternating so both see the same machine load. Times are the
 * thread's CPU time, so other jobs on a shared machine weigh less.
 *
 * Prints frames/s, MB/s (10^6 bytes), the byte-sum MB/s and the ratio, and
 * whether the targets are met: framer+decoder at >= 25% of the byte-sum
 * loop, and >= 10 million 139-byte frames/s. Exits non-zero only if the
 * frames do not come back as they went in; a missed target is reported,
 * not failed, because the figure depends on the machine and its load.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "framer.h"
#include "omnik.h"

#define BUF_BYTES (8u << 20)
#define CHUNK (64u << 10)
#define RUNS 7
#define MIN_SECONDS 0.15

#define TARGET_RATIO 0.25
#define TARGET_FPS_139 10e6

struct bench_buf {
	uint8_t *data;
	size_t len;
	uint64_t frames;
	uint64_t pac_sum;	/* sum of PAC1 over the frames: the check */
};

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t
rng_next(void)
{
	/* xorshift64: reproducible, no libc state. */
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void
random_reading(struct omnik_reading *r)
{
	omnik_reading_clear(r);
	r->kit_sn = (uint32_t)rng_next();
	r->ctrl1 = rng_next() & 1 ? 0x41 : 0x51;
	snprintf(r->inverter_sn, sizeof(r->inverter_sn), "NLDN%012llu",
	    (unsigned long long)(rng_next() % 1000000000000ull));
	/* Any values the decoder's limits allow (a reading, not a reject). */
	for (int i = 0; i < OMNIK_NFIELDS; i++) {
		uint64_t x = rng_next();
		int64_t lo = i == OMNIK_TEMP ? 0 : omnik_limits[i].min;
		int64_t hi = i == OMNIK_ETODAY ? 5000 : omnik_limits[i].max;

		if (x % 8 == 0 && (i < OMNIK_VAC1 || i > OMNIK_VAC3))
			continue;	/* absent */
		r->value[i] = lo + (int64_t)((x >> 8) % (uint64_t)(hi - lo + 1));
	}
	if (r->value[OMNIK_ETOTAL] != OMNIK_ABSENT)
		r->value[OMNIK_ETOTAL] += 1000;
	r->has_fault = true;
	snprintf(r->fw_main, sizeof(r->fw_main), "NL1-V1.0-%04u-4",
	    (unsigned)(rng_next() % 10000));
	snprintf(r->fw_slave, sizeof(r->fw_slave), "V2.0-%04u",
	    (unsigned)(rng_next() % 10000));
}

static int
bench_buf_make(struct bench_buf *b, uint8_t payload_len)
{
	struct omnik_reading r;
	size_t flen = (size_t)payload_len + OMNIK_OVERHEAD, n;

	b->frames = BUF_BYTES / flen;
	b->len = b->frames * flen;
	b->pac_sum = 0;
	b->data = malloc(b->len);
	if (b->data == NULL)
		return -1;
	for (uint64_t i = 0; i < b->frames; i++) {
		random_reading(&r);
		if (omnik_encode_data(&r, payload_len, b->data + i * flen, flen,
		    &n) != OMNIK_OK || n != flen)
			return -1;
		if (r.value[OMNIK_PAC1] != OMNIK_ABSENT)
			b->pac_sum += (uint64_t)r.value[OMNIK_PAC1];
	}
	return 0;
}

static double
now(void)
{
	struct timespec ts;

	/*
	 * CPU time of this thread, not wall time: the targets are per core,
	 * and on a shared machine other jobs' time slices are not ours.
	 */
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The baseline: touch every byte once, nothing more. */
static __attribute__((noinline)) uint64_t
byte_sum(const uint8_t *p, size_t n)
{
	uint64_t s = 0;

	for (size_t i = 0; i < n; i++)
		s += p[i];
	return s;
}

/* Frame and decode the whole buffer; returns 0 if every frame came back. */
static __attribute__((noinline)) int
frame_and_decode(const struct bench_buf *b)
{
	struct framer f;
	struct framer_frame fr;
	struct omnik_msg m;
	enum framer_status st;
	uint64_t ok = 0, pac = 0;
	size_t off, n;
	int bad = 0;

	framer_init(&f);
	for (off = 0; off < b->len; off += n) {
		n = b->len - off < CHUNK ? b->len - off : CHUNK;
		framer_input(&f, b->data + off, n);
		while ((st = framer_next(&f, &fr)) != FRAMER_NEED_MORE) {
			if (st != FRAMER_FRAME ||
			    omnik_decode(fr.data, fr.len, &m) != OMNIK_OK) {
				bad = 1;
				continue;
			}
			ok++;
			if (m.reading.value[OMNIK_PAC1] != OMNIK_ABSENT)
				pac += (uint64_t)m.reading.value[OMNIK_PAC1];
		}
	}
	framer_finish(&f);
	while (framer_next(&f, &fr) != FRAMER_NEED_MORE)
		bad = 1;
	if (bad || ok != b->frames || pac != b->pac_sum ||
	    f.st.skipped != 0 || f.st.filler != 0)
		return -1;
	return 0;
}

static volatile uint64_t sink;

/* Seconds per pass: passes repeated for at least MIN_SECONDS. */
static double
time_sum(const struct bench_buf *b)
{
	double t0 = now(), t;
	unsigned passes = 0;

	do {
		sink += byte_sum(b->data, b->len);
		passes++;
		t = now() - t0;
	} while (t < MIN_SECONDS);
	return t / passes;
}

static double
time_framer(const struct bench_buf *b, int *failed)
{
	double t0 = now(), t;
	unsigned passes = 0;

	do {
		if (frame_and_decode(b) != 0)
			*failed = 1;
		passes++;
		t = now() - t0;
	} while (t < MIN_SECONDS);
	return t / passes;
}

int
main(void)
{
	static const uint8_t lens[] = { 0x55, 0x7D, 0xA9 };
	int failed = 0, missed = 0;

	printf("framer + decoder vs byte-sum, %u MiB buffers, %u KiB chunks, "
	    "best of %d, per CPU second\n", BUF_BYTES >> 20, CHUNK >> 10, RUNS);
	printf("%6s %14s %10s %14s %7s\n", "frame", "frames/s", "MB/s",
	    "byte-sum MB/s", "ratio");
	for (size_t k = 0; k < sizeof(lens); k++) {
		struct bench_buf b;
		double tf = 1e9, ts = 1e9, t, fps, mbs, sum_mbs, ratio;
		size_t flen = (size_t)lens[k] + OMNIK_OVERHEAD;

		if (bench_buf_make(&b, lens[k]) != 0) {
			fprintf(stderr, "bench_proto: cannot build frames\n");
			return 1;
		}
		if (frame_and_decode(&b) != 0) {
			fprintf(stderr, "bench_proto: %zu-byte frames do not "
			    "decode as encoded\n", flen);
			return 1;
		}
		for (int i = 0; i < RUNS; i++) {
			if ((t = time_framer(&b, &failed)) < tf)
				tf = t;
			if ((t = time_sum(&b)) < ts)
				ts = t;
		}
		fps = (double)b.frames / tf;
		mbs = (double)b.len / tf / 1e6;
		sum_mbs = (double)b.len / ts / 1e6;
		ratio = ts / tf;
		printf("%6zu %14.0f %10.0f %14.0f %6.1f%%\n", flen, fps, mbs,
		    sum_mbs, 100 * ratio);
		if (ratio < TARGET_RATIO)
			missed |= 1;
		if (flen == 139 && fps < TARGET_FPS_139)
			missed |= 2;
		free(b.data);
	}
	printf("targets: >= %.0f%% of byte-sum: %s; >= %.0f M 139-byte "
	    "frames/s: %s\n", 100 * TARGET_RATIO, missed & 1 ? "MISSED" : "met",
	    TARGET_FPS_139 / 1e6, missed & 2 ? "MISSED" : "met");
	if (failed) {
		fprintf(stderr, "bench_proto: frames lost or misdecoded\n");
		return 1;
	}
	return 0;
}
