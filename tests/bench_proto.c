/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench_proto.c: framer and decoder throughput against real floors,
 * measured in the same run.
 *
 * The floors: the byte-sum every frame needs (the checksum), as SIMD
 * (SSE2 psadbw, NEON pairwise adds; a scalar loop elsewhere) and as the
 * plain scalar loop, over the same buffer; the same sum modulo 256 only,
 * by wrapping byte adds, as the framer itself computes it (shown, not the
 * target); and a plain read of a buffer larger than the last-level cache
 * (the memory's own rate).
 *
 * The long stream: for 99-, 139- and 183-byte inverter data frames, a
 * buffer of about 8 MiB of encoded frames (values, serials and strings
 * varying) fed to one framer in 64 KiB chunks, as a capture would
 * deliver it; framed only (a frame a framer_next call, and 64 a
 * framer_next_many call), and framed and decoded. The relay's path: a
 * fresh framer per connection, each connection 139 to 170 bytes (a data
 * frame, and a text frame after every other one), framed and decoded.
 *
 * ROUNDS rounds after a warm-up of every target, the order rotating per
 * round; ratios are taken within each round and printed as min / median
 * / max, as are the rates. Times are the thread's CPU time, so other
 * jobs on a shared machine weigh less. Target: the framer (framer_next_many)
 * on the long stream at >= 50 % of the SIMD byte-sum (the checksum is the only work
 * every byte needs; the decoder's is per frame). Exits non-zero only if
 * frames do not come back as they went in; a missed target is reported.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#elif defined(__ARM_NEON)
#include <arm_neon.h>
#endif

#include "framer.h"
#include "omnik.h"

#define BUF_BYTES (8u << 20)
#define CHUNK (64u << 10)
#define ROUNDS 5
#define MIN_SECONDS 0.05
#define TARGET_FRAMER 0.50

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

/* The scalar floor: every byte once, one at a time. */
static __attribute__((noinline)) uint64_t
sum_scalar(const uint8_t *p, size_t n)
{
	uint64_t s = 0;

	for (size_t i = 0; i < n; i++)
		s += p[i];
	return s;
}

/* The SIMD floor: the same sum, 16 bytes an instruction. */
static __attribute__((noinline)) uint64_t
sum_simd(const uint8_t *p, size_t n)
{
	uint64_t s = 0;
	size_t i = 0;
#if defined(__SSE2__)
	__m128i a0 = _mm_setzero_si128(), a1 = a0, z = a0;

	for (; i + 32 <= n; i += 32) {
		a0 = _mm_add_epi64(a0, _mm_sad_epu8(_mm_loadu_si128(
		    (const __m128i *)(const void *)(p + i)), z));
		a1 = _mm_add_epi64(a1, _mm_sad_epu8(_mm_loadu_si128(
		    (const __m128i *)(const void *)(p + i + 16)), z));
	}
	a0 = _mm_add_epi64(a0, a1);
	s = (uint64_t)_mm_cvtsi128_si64(a0) +
	    (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(a0, a0));
#elif defined(__ARM_NEON)
	uint64x2_t acc = vdupq_n_u64(0);

	for (; i + 16 <= n; i += 16)
		acc = vpadalq_u32(acc, vpaddlq_u16(vpaddlq_u8(vld1q_u8(p + i))));
	s = vgetq_lane_u64(acc, 0) + vgetq_lane_u64(acc, 1);
#endif
	for (; i < n; i++)
		s += p[i];
	return s;
}

/*
 * The checksum's own sum, modulo 256 only, as the framer computes it:
 * wrapping byte adds (cheaper per byte than the 64-bit sum above), the
 * lanes added once at the end. Shown beside the target so that a framer
 * faster per byte than the floor cannot pass for a fast framer.
 */
static __attribute__((noinline)) uint8_t
sum_mod256(const uint8_t *p, size_t n)
{
	unsigned s = 0;
	size_t i = 0;
#if defined(__SSE2__)
	__m128i a0 = _mm_setzero_si128(), a1 = a0;

	for (; i + 32 <= n; i += 32) {
		a0 = _mm_add_epi8(a0, _mm_loadu_si128((const __m128i *)
		    (const void *)(p + i)));
		a1 = _mm_add_epi8(a1, _mm_loadu_si128((const __m128i *)
		    (const void *)(p + i + 16)));
	}
	a0 = _mm_sad_epu8(_mm_add_epi8(a0, a1), _mm_setzero_si128());
	s = (unsigned)_mm_cvtsi128_si32(a0) +
	    (unsigned)_mm_cvtsi128_si32(_mm_unpackhi_epi64(a0, a0));
#elif defined(__ARM_NEON)
	uint8x16_t a0 = vdupq_n_u8(0), a1 = a0;

	for (; i + 32 <= n; i += 32) {
		a0 = vaddq_u8(a0, vld1q_u8(p + i));
		a1 = vaddq_u8(a1, vld1q_u8(p + i + 16));
	}
	s = vaddlvq_u8(vaddq_u8(a0, a1));
#endif
	for (; i < n; i++)
		s += p[i];
	return (uint8_t)s;
}

/* The long stream, framed only: returns the frames found. */
static __attribute__((noinline)) uint64_t
frame_only(const struct bench_buf *b)
{
	struct framer f;
	struct framer_frame fr;
	uint64_t ok = 0;
	size_t off, n;

	framer_init(&f);
	for (off = 0; off < b->len; off += n) {
		n = b->len - off < CHUNK ? b->len - off : CHUNK;
		framer_input(&f, b->data + off, n);
		while (framer_next(&f, &fr) == FRAMER_FRAME)
			ok++;
	}
	return ok;
}

/* The same, the frames taken BATCH at a time (framer_next_many). */
#define BATCH 64
static __attribute__((noinline)) uint64_t
frame_batched(const struct bench_buf *b)
{
	struct framer f;
	struct framer_frame fr[BATCH];
	uint64_t ok = 0;
	size_t off, n, k;

	framer_init(&f);
	for (off = 0; off < b->len; off += n) {
		n = b->len - off < CHUNK ? b->len - off : CHUNK;
		framer_input(&f, b->data + off, n);
		while ((k = framer_next_many(&f, fr, BATCH)) > 0)
			for (size_t i = 0; i < k; i++)
				ok += fr[i].status == FRAMER_FRAME;
	}
	return ok;
}

/* One framer's worth of bytes, decoded; frames and PAC1 sum added up. */
static int
drain(struct framer *f, uint64_t *ok, uint64_t *pac)
{
	struct framer_frame fr;
	struct omnik_msg m;
	enum framer_status st;
	int bad = 0;

	while ((st = framer_next(f, &fr)) != FRAMER_NEED_MORE) {
		if (st != FRAMER_FRAME ||
		    omnik_decode(fr.data, fr.len, &m) != OMNIK_OK) {
			bad = 1;
			continue;
		}
		if (m.kind != OMNIK_MSG_DATA)
			continue;
		++*ok;
		if (m.reading.value[OMNIK_PAC1] != OMNIK_ABSENT)
			*pac += (uint64_t)m.reading.value[OMNIK_PAC1];
	}
	return bad;
}

/* The long stream, framed and decoded; 0 if every frame came back. */
static __attribute__((noinline)) int
frame_and_decode(const struct bench_buf *b)
{
	struct framer f;
	uint64_t ok = 0, pac = 0;
	size_t off, n;
	int bad = 0;

	framer_init(&f);
	for (off = 0; off < b->len; off += n) {
		n = b->len - off < CHUNK ? b->len - off : CHUNK;
		framer_input(&f, b->data + off, n);
		bad |= drain(&f, &ok, &pac);
	}
	framer_finish(&f);
	bad |= drain(&f, &ok, &pac);
	if (bad || ok != b->frames || pac != b->pac_sum ||
	    f.st.skipped != 0 || f.st.filler != 0)
		return -1;
	return 0;
}

/* The relay's path: connections of 139 to 170 bytes, a framer each. */
struct conns {
	uint8_t *data;
	size_t len;
	uint32_t *end;		/* where each connection's bytes end */
	size_t n;
	uint64_t frames, pac_sum;
};

static int
conns_make(struct conns *c)
{
	struct omnik_reading r;
	size_t cap = BUF_BYTES, n1, n2;

	memset(c, 0, sizeof(*c));
	c->data = malloc(cap);
	c->end = malloc(cap / 139 * sizeof(*c->end));
	if (c->data == NULL || c->end == NULL)
		return -1;
	while (c->len + 170 <= cap) {
		random_reading(&r);
		if (omnik_encode_data(&r, 0x7D, c->data + c->len, 170, &n1) !=
		    OMNIK_OK)
			return -1;
		c->len += n1;
		if (r.value[OMNIK_PAC1] != OMNIK_ABSENT)
			c->pac_sum += (uint64_t)r.value[OMNIK_PAC1];
		c->frames++;
		if (c->n % 2 == 1) {
			if (omnik_encode_text(r.kit_sn, 0x41, "DATA SEND IS OK",
			    c->data + c->len, 31, &n2) != OMNIK_OK)
				return -1;
			c->len += n2;
		}
		c->end[c->n++] = (uint32_t)c->len;
	}
	return 0;
}

static __attribute__((noinline)) int
conns_decode(const struct conns *c)
{
	struct framer f;
	uint64_t ok = 0, pac = 0;
	size_t from = 0;
	int bad = 0;

	for (size_t i = 0; i < c->n; i++) {
		framer_init(&f);
		framer_input(&f, c->data + from, c->end[i] - from);
		bad |= drain(&f, &ok, &pac);
		framer_finish(&f);
		bad |= drain(&f, &ok, &pac);
		from = c->end[i];
	}
	return bad || ok != c->frames || pac != c->pac_sum ? -1 : 0;
}

enum target { T_SIMD, T_SUM8, T_SCALAR, T_FRAMER, T_BATCH, T_DECODE, T_CONNS,
    T_MEM, NT };
static const char *const target_name[NT] = {
	"byte-sum, SIMD", "byte-sum mod 256, SIMD byte adds",
	"byte-sum, scalar", "framer only (framer_next)",
	"framer only (framer_next_many, 64)",
	"framer + decoder", "relay path (a framer per connection)",
	"memory read (> LLC)",
};

struct work {
	const struct bench_buf *b;
	const struct conns *c;
	const uint8_t *big;
	size_t big_len;
	int failed;
};

static volatile uint64_t sink;

static void
run_once(struct work *w, enum target t)
{
	switch (t) {
	case T_SIMD:
		sink += sum_simd(w->b->data, w->b->len);
		break;
	case T_SUM8:
		sink += sum_mod256(w->b->data, w->b->len);
		break;
	case T_SCALAR:
		sink += sum_scalar(w->b->data, w->b->len);
		break;
	case T_FRAMER:
		if (frame_only(w->b) != w->b->frames)
			w->failed = 1;
		break;
	case T_BATCH:
		if (frame_batched(w->b) != w->b->frames)
			w->failed = 1;
		break;
	case T_DECODE:
		if (frame_and_decode(w->b) != 0)
			w->failed = 1;
		break;
	case T_CONNS:
		if (conns_decode(w->c) != 0)
			w->failed = 1;
		break;
	case T_MEM:
		sink += sum_simd(w->big, w->big_len);
		break;
	case NT:
		break;
	}
}

static size_t
bytes_of(const struct work *w, enum target t)
{
	return t == T_CONNS ? w->c->len : t == T_MEM ? w->big_len : w->b->len;
}

/* MB/s (10^6 bytes a CPU second), passes repeated for MIN_SECONDS. */
static double
rate(struct work *w, enum target t)
{
	double t0 = now(), dt;
	unsigned passes = 0;

	do {
		run_once(w, t);
		passes++;
		dt = now() - t0;
	} while (dt < MIN_SECONDS);
	return (double)bytes_of(w, t) * passes / dt / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* "min / median / max" of n values, each times scale, prec decimals. */
static void
print_mmm(int prec, const double *v, int n, double scale)
{
	double s[ROUNDS];

	memcpy(s, v, sizeof(double) * (size_t)n);
	qsort(s, (size_t)n, sizeof(double), cmp_double);
	printf("%.*f / %.*f / %.*f", prec, s[0] * scale, prec,
	    s[n / 2] * scale, prec, s[n - 1] * scale);
}

static double
median(const double *v, int n)
{
	double s[ROUNDS];

	memcpy(s, v, sizeof(double) * (size_t)n);
	qsort(s, (size_t)n, sizeof(double), cmp_double);
	return s[n / 2];
}

/* Larger than the last-level cache: twice it, 64 MiB to 1 GiB. */
static size_t
big_size(void)
{
	long llc = 0;
#ifdef _SC_LEVEL3_CACHE_SIZE
	llc = sysconf(_SC_LEVEL3_CACHE_SIZE);
	if (llc <= 0)
		llc = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
	size_t n = llc > 0 ? 2 * (size_t)llc : 0;

	if (n < (64u << 20))
		n = 64u << 20;
	if (n > (1u << 30))
		n = 1u << 30;
	return n;
}

int
main(void)
{
	static const uint8_t lens[] = { 0x55, 0x7D, 0xA9 };
	struct conns c;
	struct work w;
	int missed = 0;

	memset(&w, 0, sizeof(w));
	w.big_len = big_size();
	w.big = malloc(w.big_len);
	if (w.big == NULL || conns_make(&c) != 0) {
		fprintf(stderr, "bench_proto: out of memory\n");
		return 1;
	}
	memset((void *)w.big, 0x5a, w.big_len);
	w.c = &c;
	printf("framer and decoder against floors, %u MiB buffers (%u KiB "
	    "chunks), memory read over %zu MiB; %d rounds, rotated; MB/s a "
	    "CPU second, min / median / max\n", BUF_BYTES >> 20, CHUNK >> 10,
	    w.big_len >> 20, ROUNDS);
#if defined(__SSE2__)
	printf("SIMD: SSE2\n");
#elif defined(__ARM_NEON)
	printf("SIMD: NEON\n");
#else
	printf("SIMD: none on this target (scalar)\n");
#endif
	for (size_t k = 0; k < sizeof(lens); k++) {
		struct bench_buf b;
		double r[NT][ROUNDS], q[6][ROUNDS];
		size_t flen = (size_t)lens[k] + OMNIK_OVERHEAD;
		int nt = k == 0 ? NT : T_CONNS;	/* path and memory once */

		if (bench_buf_make(&b, lens[k]) != 0) {
			fprintf(stderr, "bench_proto: cannot build frames\n");
			return 1;
		}
		w.b = &b;
		if (frame_and_decode(&b) != 0 || conns_decode(&c) != 0) {
			fprintf(stderr, "bench_proto: %zu-byte frames do not "
			    "decode as encoded\n", flen);
			return 1;
		}
		for (int t = 0; t < nt; t++)	/* warm-up, every target */
			run_once(&w, (enum target)t);
		for (int i = 0; i < ROUNDS; i++) {
			for (int j = 0; j < nt; j++) {
				int t = (i + j) % nt;

				r[t][i] = rate(&w, (enum target)t);
			}
			q[0][i] = r[T_BATCH][i] / r[T_SIMD][i];
			q[4][i] = r[T_FRAMER][i] / r[T_SIMD][i];
			q[5][i] = r[T_BATCH][i] / r[T_SUM8][i];
			q[1][i] = r[T_DECODE][i] / r[T_SIMD][i];
			q[2][i] = r[T_DECODE][i] / r[T_SCALAR][i];
			if (nt == NT) {
				q[3][i] = r[T_CONNS][i] / r[T_SIMD][i];
			}
		}
		printf("%zu-byte frames, long stream:\n", flen);
		for (int t = 0; t < nt; t++) {
			printf("  %-38s ", target_name[t]);
			print_mmm(0, r[t], ROUNDS, 1);
			printf(" MB/s");
			if (t == T_DECODE || t == T_FRAMER || t == T_BATCH)
				printf(", "), print_mmm(2, r[t], ROUNDS,
				    1.0 / (double)flen);
			if (t == T_DECODE || t == T_FRAMER || t == T_BATCH)
				printf(" M frames/s");
			if (t == T_CONNS)
				printf(", "), print_mmm(2, r[t], ROUNDS,
				    (double)c.n / (double)c.len);
			if (t == T_CONNS)
				printf(" M connections/s");
			printf("\n");
		}
		printf("  framer_next / SIMD byte-sum:         ");
		print_mmm(0, q[4], ROUNDS, 100);
		printf(" %%\n  framer_next_many / SIMD byte-sum:    ");
		print_mmm(0, q[0], ROUNDS, 100);
		printf(" %%: %s (>= %.0f %%, median)\n",
		    median(q[0], ROUNDS) >= TARGET_FRAMER ? "target met" :
		    "TARGET MISSED", 100 * TARGET_FRAMER);
		if (median(q[0], ROUNDS) < TARGET_FRAMER)
			missed = 1;
		printf("  framer_next_many / byte adds sum:    ");
		print_mmm(0, q[5], ROUNDS, 100);
		printf(" %%\n");
		printf("  framer + decoder / SIMD byte-sum:    ");
		print_mmm(0, q[1], ROUNDS, 100);
		printf(" %%\n  framer + decoder / scalar byte-sum:  ");
		print_mmm(0, q[2], ROUNDS, 100);
		printf(" %%\n");
		if (nt == NT) {
			printf("  relay path / SIMD byte-sum:          ");
			print_mmm(0, q[3], ROUNDS, 100);
			printf(" %%\n  memory read / SIMD byte-sum in cache: ");
			for (int i = 0; i < ROUNDS; i++)
				q[3][i] = r[T_MEM][i] / r[T_SIMD][i];
			print_mmm(0, q[3], ROUNDS, 100);
			printf(" %%\n");
		}
		free(b.data);
	}
	printf("target, framer at >= %.0f %% of the SIMD byte-sum: %s\n",
	    100 * TARGET_FRAMER, missed ? "MISSED" : "met");
	free((void *)w.big);
	free(c.data);
	free(c.end);
	if (w.failed) {
		fprintf(stderr, "bench_proto: frames lost or misdecoded\n");
		return 1;
	}
	return 0;
}
