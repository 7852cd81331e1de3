/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * framer.c: resynchronising frame splitter for the Omnik byte stream.
 *
 * Two paths. The fast one scans the caller's chunk directly and returns
 * frames that lie wholly inside it. When a frame candidate runs past the end
 * of a chunk, its bytes (at most OMNIK_FRAME_MAX - 1) move to the internal
 * buffer and the slow path tops the buffer up from later chunks, byte for
 * byte no more than the candidate needs. The buffer always holds the bytes
 * just before the current input pointer, so stream offsets stay exact.
 *
 * On the fast path one SIMD pass over a candidate gives both its checksum
 * and whether a 0x68 lies inside it (only then can a frame inside win),
 * and framer_next_many hands out the frames of a chunk many at a time.
 *
 * A candidate (0x68 at its start) is accepted when its end byte is 0x16 and
 * its checksum matches. On any failure only the 0x68 is dropped and the scan
 * goes on from the next byte. A checksum failure is also reported, once:
 * candidates starting inside an already reported frame are skipped silently.
 */
#include <stddef.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#elif defined(__ARM_NEON)
#include <arm_neon.h>
#endif

#include "framer.h"

void
framer_init(struct framer *f)
{
	/*
	 * All but buf, which is only ever read below buflen: the sniffer
	 * starts a framer for every segment, and the 269 bytes were half
	 * of that.
	 */
	_Static_assert(offsetof(struct framer, buf) == 0, "buf first");
	memset((char *)f + sizeof(f->buf), 0, sizeof(*f) - sizeof(f->buf));
}

size_t
framer_buffered(const struct framer *f)
{
	return f->buflen - f->consume + f->inlen;
}

int
framer_suspend(const struct framer *f, struct framer_suspended *out)
{
	if (f->inlen != 0)
		return -1;
	out->data = f->buf + f->consume;
	out->len = f->buflen - f->consume;
	out->offset = f->inpos - out->len;
	out->quiet_until = f->quiet_until;
	return 0;
}

void
framer_resume(struct framer *f, uint64_t offset, uint64_t quiet_until)
{
	f->inpos = offset;
	f->quiet_until = quiet_until;
}

void
framer_input(struct framer *f, const uint8_t *data, size_t len)
{
	f->in = data;
	f->inlen = len;
	f->st.bytes_in += len;
}

void
framer_finish(struct framer *f)
{
	f->eof = true;
}

const char *
framer_strstatus(enum framer_status st)
{
	switch (st) {
	case FRAMER_NEED_MORE:
		return "need more";
	case FRAMER_FRAME:
		return "frame";
	case FRAMER_BAD_CHECKSUM:
		return "bad checksum";
	case FRAMER_TRUNCATED:
		return "truncated frame";
	}
	return "?";
}

static void
count_skipped(struct framer *f, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == 0xFF)
			f->st.filler++;
		else
			f->st.skipped++;
	}
}

/* Drop n bytes from the front of the buffer. */
static void
buf_drop(struct framer *f, size_t n)
{
	f->buflen -= n;
	memmove(f->buf, f->buf + n, f->buflen);
}

static inline size_t
frame_size(const uint8_t *p)
{
	return (size_t)p[1] + OMNIK_OVERHEAD;
}

enum check { CHECK_OK, CHECK_GARBAGE, CHECK_BAD_SUM };

static inline enum check
check_candidate(const uint8_t *p, size_t n)
{
	if (p[n - 1] != OMNIK_END)
		return CHECK_GARBAGE;
	if (omnik_checksum(p, n) != p[n - 2])
		return CHECK_BAD_SUM;
	return CHECK_OK;
}

#if defined(__SSE2__) || defined(__ARM_NEON)
/* Loaded at offset r: 16 - r zero lanes, then r all-ones lanes. */
static const uint8_t tail_mask[32] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
	0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
};
#endif

/*
 * The candidate of n bytes at p, in one pass over bytes 1 .. n-3: their
 * sum modulo 256 (its checksum, as omnik_checksum) and whether any of
 * them is 0x68 (*has_start). Those are exactly the bytes where
 * inner_frame could find a frame starting, so without one it need not
 * run. Most candidates are whole frames and this is all the per-byte
 * work they cost. Only the sum modulo 256 matters, so bytes are added
 * lane by lane with wrapping byte adds (one cheap instruction per 16
 * bytes), the lanes summed once at the end; the last step overlaps the
 * one before, the overlap masked off, never a byte outside the
 * candidate.
 */
static inline __attribute__((always_inline)) uint8_t
scan_candidate(const uint8_t *p, size_t n, bool *has_start)
{
	const uint8_t *q = p + 1;
	size_t m = n - 3, i = 0;
#if defined(__SSE2__)
#define LOADU(x) _mm_loadu_si128((const __m128i *)(const void *)(x))
	if (m >= 16) {
		__m128i a0 = _mm_setzero_si128(), a1 = a0, hit = a0, v, w;
		__m128i start = _mm_set1_epi8((char)OMNIK_START);

		for (; i + 64 <= m; i += 64) {
			__m128i x, y;

			v = LOADU(q + i);
			w = LOADU(q + i + 16);
			x = LOADU(q + i + 32);
			y = LOADU(q + i + 48);
			a0 = _mm_add_epi8(a0, _mm_add_epi8(v, x));
			a1 = _mm_add_epi8(a1, _mm_add_epi8(w, y));
			hit = _mm_or_si128(hit, _mm_or_si128(_mm_or_si128(
			    _mm_cmpeq_epi8(v, start), _mm_cmpeq_epi8(w, start)),
			    _mm_or_si128(_mm_cmpeq_epi8(x, start),
			    _mm_cmpeq_epi8(y, start))));
		}
		if (i + 32 <= m) {
			v = LOADU(q + i);
			w = LOADU(q + i + 16);
			a0 = _mm_add_epi8(a0, v);
			a1 = _mm_add_epi8(a1, w);
			hit = _mm_or_si128(hit, _mm_or_si128(
			    _mm_cmpeq_epi8(v, start), _mm_cmpeq_epi8(w, start)));
			i += 32;
		}
		if (i + 16 <= m) {
			v = LOADU(q + i);
			a0 = _mm_add_epi8(a0, v);
			hit = _mm_or_si128(hit, _mm_cmpeq_epi8(v, start));
			i += 16;
		}
		/* Masked lanes are 0: they add nothing and are no 0x68. */
		v = _mm_and_si128(LOADU(q + m - 16), LOADU(tail_mask + (m - i)));
		a1 = _mm_add_epi8(a1, v);
		hit = _mm_or_si128(hit, _mm_cmpeq_epi8(v, start));
		*has_start = _mm_movemask_epi8(hit) != 0;
		a0 = _mm_sad_epu8(_mm_add_epi8(a0, a1), _mm_setzero_si128());
		return (uint8_t)(_mm_cvtsi128_si32(a0) +
		    _mm_cvtsi128_si32(_mm_unpackhi_epi64(a0, a0)));
	}
#undef LOADU
#elif defined(__ARM_NEON)
	if (m >= 16) {
		uint8x16_t a0 = vdupq_n_u8(0), a1 = a0, hit = a0, v, w;
		uint8x16_t start = vdupq_n_u8(OMNIK_START);

		for (; i + 32 <= m; i += 32) {
			v = vld1q_u8(q + i);
			w = vld1q_u8(q + i + 16);
			a0 = vaddq_u8(a0, v);
			a1 = vaddq_u8(a1, w);
			hit = vorrq_u8(hit, vorrq_u8(vceqq_u8(v, start),
			    vceqq_u8(w, start)));
		}
		if (i + 16 <= m) {
			v = vld1q_u8(q + i);
			a0 = vaddq_u8(a0, v);
			hit = vorrq_u8(hit, vceqq_u8(v, start));
			i += 16;
		}
		v = vandq_u8(vld1q_u8(q + m - 16), vld1q_u8(tail_mask +
		    (m - i)));
		a1 = vaddq_u8(a1, v);
		hit = vorrq_u8(hit, vceqq_u8(v, start));
		*has_start = vmaxvq_u8(hit) != 0;
		/* Widening adds: the lane sum, then modulo 256. */
		return (uint8_t)vaddlvq_u8(vaddq_u8(a0, a1));
	}
#endif
	*has_start = memchr(q, OMNIK_START, m) != NULL;
	return omnik_checksum(p, n);
}

/*
 * After scan_candidate saw a 0x68, whether inner_frame could accept it
 * (false only if it surely cannot): a frame inside starts with 0x68 at
 * some at in 1 .. n-15 (it is 14 bytes or more and ends before byte
 * n-1) and, as inner_frame requires, repeats its kit serial, so
 * b[at + 4] == b[at + 8]. One frame in ten of random readings has a 0x68
 * somewhere; this test lets one in a hundred through to inner_frame,
 * whose scan costs many times this one.
 */
static bool
start_may_be_inner(const uint8_t *p, size_t n)
{
#if defined(__SSE2__) || defined(__ARM_NEON)
	const uint8_t *q = p + 1;
	size_t md = n - 15, i;	/* starts at q + 0 .. md - 1 */

	if (n < 31)
		return true;
#if defined(__SSE2__)
#define LOADU(x) _mm_loadu_si128((const __m128i *)(const void *)(x))
#define STARTS(x) _mm_and_si128(_mm_cmpeq_epi8(LOADU(x), start), \
	    _mm_cmpeq_epi8(LOADU((x) + 4), LOADU((x) + 8)))
	__m128i start = _mm_set1_epi8((char)OMNIK_START), hit;

	/* The last step overlaps; a start seen twice is still one. */
	hit = STARTS(q + md - 16);
	for (i = 0; i + 16 < md; i += 16)
		hit = _mm_or_si128(hit, STARTS(q + i));
	return _mm_movemask_epi8(hit) != 0;
#undef STARTS
#undef LOADU
#else
#define STARTS(x) vandq_u8(vceqq_u8(vld1q_u8(x), start), \
	    vceqq_u8(vld1q_u8((x) + 4), vld1q_u8((x) + 8)))
	uint8x16_t start = vdupq_n_u8(OMNIK_START), hit;

	hit = STARTS(q + md - 16);
	for (i = 0; i + 16 < md; i += 16)
		hit = vorrq_u8(hit, STARTS(q + i));
	return vmaxvq_u8(hit) != 0;
#undef STARTS
#endif
#else
	(void)p;
	(void)n;
	return true;
#endif
}

/*
 * A checksum failure at stream offset pos: report it unless it starts inside
 * a frame already reported. Returns true if it is to be reported.
 */
static bool
report_bad(struct framer *f, uint64_t pos, size_t n)
{
	if (pos < f->quiet_until)
		return false;
	f->quiet_until = pos + n;
	return true;
}

/*
 * A candidate must not hold back a frame that lies whole inside it: a
 * stray 0x68 takes a later byte for its length ("68 ff" wants 269 bytes)
 * and would sit on the push behind it until the connection closes. So a
 * valid frame that starts inside the candidate b (need bytes, avail of
 * them here) and ends before it does wins, the one ending first; the
 * candidate's 0x68 is then garbage. The rule depends only on the bytes,
 * not on how they were chunked. The inner frame must also carry its
 * serial twice, as every kit frame does: with its end byte and checksum
 * that leaves a real frame split by chance one time in 2^48.
 * Returns the inner frame's offset in b, or 0.
 */
static size_t
inner_frame(const uint8_t *b, size_t avail, size_t need)
{
	size_t lim = avail < need ? avail : need - 1, best = 0, best_end = 0;
	const uint8_t *p = b + 1;

	while (lim > 1 && (size_t)(p - b) < lim &&
	    (p = memchr(p, OMNIK_START, lim - (size_t)(p - b))) != NULL) {
		size_t at = (size_t)(p - b), end;

		p++;
		if (at + 2 > lim)
			break;
		end = at + frame_size(b + at);
		if (end > lim || (best != 0 && end >= best_end))
			continue;
		if (b[end - 1] != OMNIK_END ||
		    memcmp(b + at + 4, b + at + 8, 4) != 0 ||
		    omnik_checksum(b + at, end - at) != b[end - 2])
			continue;
		best = at;
		best_end = end;
	}
	return best;
}

/* Slow path: the buffer holds the start of a candidate. */
static enum framer_status
next_buffered(struct framer *f, struct framer_frame *out, bool *again)
{
	uint8_t *s;
	size_t need, take;
	uint64_t pos;

	*again = true;
	/* Line the buffer up on a 0x68. */
	s = memchr(f->buf, OMNIK_START, f->buflen);
	if (s == NULL) {
		count_skipped(f, f->buf, f->buflen);
		f->buflen = 0;
		return FRAMER_NEED_MORE;
	}
	if (s != f->buf) {
		count_skipped(f, f->buf, (size_t)(s - f->buf));
		buf_drop(f, (size_t)(s - f->buf));
	}

	/* Top up to the length byte, then to the whole candidate. */
	need = f->buflen >= 2 ? frame_size(f->buf) : 2;
	for (;;) {
		if (f->buflen < need) {
			take = need - f->buflen;
			if (take > f->inlen)
				take = f->inlen;
			memcpy(f->buf + f->buflen, f->in, take);
			f->buflen += take;
			f->in += take;
			f->inlen -= take;
			f->inpos += take;
		}
		if (f->buflen < need)
			break;
		if (need == 2) {
			need = frame_size(f->buf);
			continue;
		}
		break;
	}

	if (f->buflen >= 2) {
		size_t at = inner_frame(f->buf, f->buflen, need);

		if (at != 0) {
			/* Drop the candidate; the loop returns the frame now
			 * at the front. */
			count_skipped(f, f->buf, at);
			buf_drop(f, at);
			return FRAMER_NEED_MORE;
		}
	}
	pos = f->inpos - f->buflen;
	if (f->buflen < need) {
		/* Input used up inside the candidate. */
		if (!f->eof) {
			*again = false;
			return FRAMER_NEED_MORE;
		}
		if (report_bad(f, pos, f->buflen)) {
			f->st.truncated++;
			f->st.skipped++;
			f->consume = 1;
			out->data = f->buf;
			out->len = f->buflen;
			out->offset = pos;
			*again = false;
			return FRAMER_TRUNCATED;
		}
		f->st.skipped++;
		buf_drop(f, 1);
		return FRAMER_NEED_MORE;
	}

	switch (check_candidate(f->buf, need)) {
	case CHECK_OK:
		f->st.frames++;
		f->st.frame_bytes += need;
		f->consume = need;
		out->data = f->buf;
		out->len = need;
		out->offset = pos;
		*again = false;
		return FRAMER_FRAME;
	case CHECK_BAD_SUM:
		f->st.skipped++;
		if (report_bad(f, pos, need)) {
			f->st.bad_checksums++;
			f->consume = 1;
			out->data = f->buf;
			out->len = need;
			out->offset = pos;
			*again = false;
			return FRAMER_BAD_CHECKSUM;
		}
		buf_drop(f, 1);
		return FRAMER_NEED_MORE;
	case CHECK_GARBAGE:
	default:
		f->st.skipped++;
		buf_drop(f, 1);
		return FRAMER_NEED_MORE;
	}
}

static enum framer_status
next_one(struct framer *f, struct framer_frame *out)
{
	const uint8_t *p;
	size_t n, avail, k;
	enum framer_status st;
	uint8_t sum;
	bool again, inside;

	if (f->consume > 0) {
		buf_drop(f, f->consume);
		f->consume = 0;
	}

	/* Slow path until the buffer is empty or starved. */
	while (f->buflen > 0) {
		st = next_buffered(f, out, &again);
		if (!again)
			return st;
	}

	/* Fast path: frames wholly inside the caller's chunk. */
	while (f->inlen > 0) {
		p = memchr(f->in, OMNIK_START, f->inlen);
		if (p == NULL) {
			count_skipped(f, f->in, f->inlen);
			f->inpos += f->inlen;
			f->in += f->inlen;
			f->inlen = 0;
			break;
		}
		if (p != f->in) {
			n = (size_t)(p - f->in);
			count_skipped(f, f->in, n);
			f->in = p;
			f->inlen -= n;
			f->inpos += n;
		}
		avail = f->inlen;
		if (avail < 2 || avail < frame_size(p)) {
			/* Runs past the chunk: keep it (< OMNIK_FRAME_MAX). */
			memcpy(f->buf, p, avail);
			f->buflen = avail;
			f->in += avail;
			f->inlen = 0;
			f->inpos += avail;
			/* The slow path also looks inside it for a whole frame. */
			return next_one(f, out);
		}
		n = frame_size(p);
		sum = scan_candidate(p, n, &inside);
		if (inside && start_may_be_inner(p, n) &&
		    (k = inner_frame(p, avail, n)) != 0) {
			count_skipped(f, p, k);
			f->in += k;
			f->inlen -= k;
			f->inpos += k;
			continue;
		}
		switch (p[n - 1] != OMNIK_END ? CHECK_GARBAGE :
		    sum != p[n - 2] ? CHECK_BAD_SUM : CHECK_OK) {
		case CHECK_OK:
			f->st.frames++;
			f->st.frame_bytes += n;
			out->data = p;
			out->len = n;
			out->offset = f->inpos;
			f->in += n;
			f->inlen -= n;
			f->inpos += n;
			return FRAMER_FRAME;
		case CHECK_BAD_SUM:
			if (report_bad(f, f->inpos, n)) {
				f->st.bad_checksums++;
				f->st.skipped++;
				out->data = p;
				out->len = n;
				out->offset = f->inpos;
				f->in++;
				f->inlen--;
				f->inpos++;
				return FRAMER_BAD_CHECKSUM;
			}
			/* FALLTHROUGH */
		case CHECK_GARBAGE:
		default:
			f->st.skipped++;
			f->in++;
			f->inlen--;
			f->inpos++;
			break;
		}
	}
	return FRAMER_NEED_MORE;
}

enum framer_status
framer_next(struct framer *f, struct framer_frame *out)
{
	return out->status = next_one(f, out);
}

size_t
framer_next_many(struct framer *f, struct framer_frame *out, size_t max)
{
	const uint8_t *in, *from;
	size_t n, k = 0, first, lim;
	enum framer_status st;
	uint64_t starts;
	bool has_start;
	uint8_t sum;

	while (k < max) {
		/*
		 * The common case inline: the buffer empty, a whole frame
		 * right at the input pointer, no frame inside it; exactly
		 * what next_one does there. With a whole frame of any size
		 * left in the chunk the length needs no check, and only the
		 * pointer moves: the counters follow from how far it went.
		 *
		 * Whether a frame holds a 0x68 (so that one inside it could
		 * win) is a coin toss on real readings, a branch no
		 * predictor guesses: so up to 64 frames are taken on their
		 * end byte and checksum alone, a bit noted for each with a
		 * 0x68, and only those are then looked into, in order. The
		 * first with a frame inside ends the run there, as if the
		 * loop had stopped at it. Anything else is left to next_one,
		 * one result at a time.
		 */
		if (f->consume == 0 && f->buflen == 0) {
			const uint8_t *end = f->in + f->inlen;
			uint64_t pos = f->inpos;

			in = from = f->in;
			first = k;
			lim = max - k > 64 ? k + 64 : max;
			starts = 0;
			while (k < lim && (size_t)(end - in) >=
			    OMNIK_FRAME_MAX && in[0] == OMNIK_START) {
				n = frame_size(in);
				sum = scan_candidate(in, n, &has_start);
				if (in[n - 1] != OMNIK_END || sum != in[n - 2])
					break;
				starts |= (uint64_t)has_start << (k - first);
				out[k].data = in;
				out[k].len = n;
				out[k].offset = pos + (size_t)(in - from);
				out[k].status = FRAMER_FRAME;
				k++;
				in += n;
			}
			for (; starts != 0; starts &= starts - 1) {
				size_t i = first + (size_t)__builtin_ctzll(starts);

				if (start_may_be_inner(out[i].data, out[i].len) &&
				    inner_frame(out[i].data, out[i].len,
				    out[i].len) != 0) {
					k = i;
					in = out[i].data;
					break;
				}
			}
			n = (size_t)(in - from);
			f->in = in;
			f->inlen -= n;
			f->inpos += n;
			f->st.frames += k - first;
			f->st.frame_bytes += n;
			if (k == max)
				break;
		}
		st = next_one(f, &out[k]);
		if (st == FRAMER_NEED_MORE)
			break;
		out[k++].status = st;
		/* A result in buf: the next call would overwrite it. */
		if (f->consume > 0)
			break;
	}
	return k;
}
