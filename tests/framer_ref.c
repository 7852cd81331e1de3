/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * framer_ref.c: the framer as it was before its fast path was fused and
 * batched (proto/framer.c at the commit that added this file), kept
 * unchanged but for its names as the reference the property test
 * (test_framer.c) holds the real framer to: any stream, any chunking,
 * the same results and counters.
 */
#include <stddef.h>
#include <string.h>

#include "framer_ref.h"

void
ref_framer_init(struct ref_framer *f)
{
	/*
	 * All but buf, which is only ever read below buflen: the sniffer
	 * starts a framer for every segment, and the 269 bytes were half
	 * of that.
	 */
	_Static_assert(offsetof(struct ref_framer, buf) == 0, "buf first");
	memset((char *)f + sizeof(f->buf), 0, sizeof(*f) - sizeof(f->buf));
}

size_t
ref_framer_buffered(const struct ref_framer *f)
{
	return f->buflen - f->consume + f->inlen;
}

int
ref_framer_suspend(const struct ref_framer *f, struct framer_suspended *out)
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
ref_framer_resume(struct ref_framer *f, uint64_t offset, uint64_t quiet_until)
{
	f->inpos = offset;
	f->quiet_until = quiet_until;
}

void
ref_framer_input(struct ref_framer *f, const uint8_t *data, size_t len)
{
	f->in = data;
	f->inlen = len;
	f->st.bytes_in += len;
}

void
ref_framer_finish(struct ref_framer *f)
{
	f->eof = true;
}

static void
count_skipped(struct ref_framer *f, const uint8_t *p, size_t n)
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
buf_drop(struct ref_framer *f, size_t n)
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

/*
 * A checksum failure at stream offset pos: report it unless it starts inside
 * a frame already reported. Returns true if it is to be reported.
 */
static bool
report_bad(struct ref_framer *f, uint64_t pos, size_t n)
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
next_buffered(struct ref_framer *f, struct framer_frame *out, bool *again)
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

enum framer_status
ref_framer_next(struct ref_framer *f, struct framer_frame *out)
{
	const uint8_t *p;
	size_t n, avail, k;
	enum framer_status st;
	bool again;

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
			return ref_framer_next(f, out);
		}
		n = frame_size(p);
		if ((k = inner_frame(p, avail, n)) != 0) {
			count_skipped(f, p, k);
			f->in += k;
			f->inlen -= k;
			f->inpos += k;
			continue;
		}
		switch (check_candidate(p, n)) {
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
