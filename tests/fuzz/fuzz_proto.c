/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_proto.c: libFuzzer target for the protocol core (framer + decoder
 * + encoder + value formatter). It checks properties and abort()s on any
 * violation, so a run that "only" executes code proves nothing:
 *
 *   (a) the framer yields the same events (status, offset, length, bytes)
 *       whether the input is fed whole, one byte at a time, or in pieces
 *       whose sizes come from the input itself; framer_finish included.
 *       Every event's bytes are the input's bytes at its stream offset.
 *   (b) the counter invariant of framer.h holds at every FRAMER_NEED_MORE,
 *       and at the end every byte is accounted for: frame bytes plus the
 *       0xFF and other bytes outside frames, recounted here independently.
 *   (c) every FRAMER_FRAME decodes or gives a defined omnik_err; a
 *       FRAMER_BAD_CHECKSUM or FRAMER_TRUNCATED frame never decodes.
 *   (d) every decoded reading, re-encoded at its own payload length,
 *       decodes to the same reading; so does a reading built from the
 *       input, when its values fit (and only then does encoding succeed).
 *   (e) omnik_format_value never writes past its buffer, always
 *       terminates it, and its untruncated output parses back to the value.
 * The raw input also goes to omnik_decode directly, and omnik_checksum is
 * compared with a plain loop (short prefixes, every event, whole input).
 *
 * Built two ways: with clang -fsanitize=fuzzer (make fuzz), and with any
 * compiler linked to tests/fuzz/replay.c (make check replays the corpus).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framer.h"
#include "omnik.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond))							\
		violation(__LINE__, #cond);				\
} while (0)

static void
violation(int line, const char *what)
{
	fprintf(stderr, "fuzz_proto.c:%d: property violated: %s\n", line,
	    what);
	abort();
}

/* One framer event; its bytes are data[offset .. offset + len). */
struct event {
	enum framer_status st;
	uint64_t offset;
	size_t len;
};

struct events {
	struct event *ev;
	size_t n, cap;
	/* What the framer's counters should say about these events. */
	uint64_t frames, bad, trunc, frame_bytes;
};

static void
events_add(struct events *e, enum framer_status st, uint64_t offset,
    size_t len)
{
	if (e->n == e->cap) {
		size_t cap = e->cap ? 2 * e->cap : 64;
		struct event *ev = realloc(e->ev, cap * sizeof(*ev));

		if (ev == NULL)
			abort();
		e->ev = ev;
		e->cap = cap;
	}
	e->ev[e->n++] = (struct event){ st, offset, len };
	e->frames += st == FRAMER_FRAME;
	e->bad += st == FRAMER_BAD_CHECKSUM;
	e->trunc += st == FRAMER_TRUNCATED;
	if (st == FRAMER_FRAME)
		e->frame_bytes += len;
}

/* The checksum as PROTOCOL.md defines it, to check omnik_checksum. */
static uint8_t
ref_checksum(const uint8_t *p, size_t len)
{
	unsigned sum = 0;

	for (size_t i = 1; i + 2 < len; i++)
		sum += p[i];
	return (uint8_t)sum;
}

static const uint64_t max_fields[OMNIK_NFIELDS] = {
	[OMNIK_TEMP] = 0x7FFF,
	[OMNIK_ETOTAL] = 0xFFFFFFFE,
	[OMNIK_HTOTAL] = 0xFFFFFFFE,
};

static uint64_t
field_max(int i)
{
	return max_fields[i] ? max_fields[i] : 0xFFFE;
}

/* A decoded string: terminated within its field, printable ASCII only. */
static void
check_string(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	CHECK(n < cap);
	for (size_t i = 0; i < n; i++)
		CHECK(s[i] >= 0x20 && s[i] < 0x7f);
}

/* (e) Format into every buffer size up to the full length plus one. */
static void
check_format(enum omnik_field fld, int64_t v)
{
	char full[64], buf[64 + 8];
	size_t len, n, r;

	memset(full, 'X', sizeof(full));
	len = omnik_format_value(fld, v, full, sizeof(full));
	CHECK(len < sizeof(full));
	CHECK(full[len] == '\0' && strlen(full) == len);

	if (v == OMNIK_ABSENT || (unsigned)fld >= OMNIK_NFIELDS) {
		CHECK(len == 0);
	} else {
		/* Parse it back: [-]digits[.digits], at most `decimals`. */
		unsigned d = omnik_fields[fld].decimals, fd = 0;
		const char *p = full;
		uint64_t mag = 0;
		int64_t back;
		bool neg = false;

		if (*p == '-') {
			neg = true;
			p++;
		}
		CHECK(*p >= '0' && *p <= '9');
		while (*p >= '0' && *p <= '9')
			mag = mag * 10 + (uint64_t)(*p++ - '0');
		if (d > 0) {
			CHECK(*p == '.');
			p++;
			CHECK(*p >= '0' && *p <= '9');
			while (*p >= '0' && *p <= '9') {
				mag = mag * 10 + (uint64_t)(*p++ - '0');
				fd++;
			}
			CHECK(fd <= d);
			CHECK(fd == 1 || p[-1] != '0');
			for (; fd < d; fd++)
				mag *= 10;
		}
		CHECK(*p == '\0');
		back = neg ? (int64_t)(0 - mag) : (int64_t)mag;
		CHECK(back == v);
		CHECK(!neg || v < 0);
	}

	for (n = 0; n <= len + 1; n++) {
		memset(buf, 0x5A, sizeof(buf));
		r = omnik_format_value(fld, v, buf, n);
		for (size_t i = n; i < sizeof(buf); i++)
			CHECK(buf[i] == 0x5A);
		if (n == 0) {
			CHECK(r == 0);
			continue;
		}
		CHECK(r < n && r <= len);
		CHECK(buf[r] == '\0');
		CHECK(memcmp(buf, full, r) == 0);
		CHECK(r == (len < n ? len : n - 1));
	}
}

static void
check_reading_equal(const struct omnik_reading *a,
    const struct omnik_reading *b)
{
	CHECK(a->kit_sn == b->kit_sn);
	CHECK(a->ctrl1 == b->ctrl1);
	CHECK(a->frame_len == b->frame_len);
	CHECK(strcmp(a->inverter_sn, b->inverter_sn) == 0);
	for (int i = 0; i < OMNIK_NFIELDS; i++)
		CHECK(a->value[i] == b->value[i]);
	CHECK(a->has_fault == b->has_fault);
	CHECK(memcmp(a->fault, b->fault, sizeof(a->fault)) == 0);
	CHECK(a->has_fw == b->has_fw);
	CHECK(a->variant == b->variant && a->historical == b->historical);
	CHECK(strcmp(a->fw_main, b->fw_main) == 0);
	CHECK(strcmp(a->fw_slave, b->fw_slave) == 0);
}

/* What the encoder takes: the layout's fields, signed temperature. */
static bool
reading_fits(const struct omnik_reading *r)
{
	const struct omnik_variant_info *vi = &omnik_variants[r->variant];

	for (int i = 0; i < OMNIK_NFIELDS; i++) {
		int64_t v = r->value[i];

		if (v == OMNIK_ABSENT)
			continue;
		if (vi->mult[i] == 0 || v % vi->mult[i] != 0)
			return false;
		v /= vi->mult[i];
		if (i == OMNIK_TEMP) {
			if (v < -32768 || v > 32767 || v == -1 || v == -210)
				return false;
		} else if (v < 0 || (uint64_t)v > field_max(i)) {
			return false;
		}
	}
	return true;
}

/*
 * The limits, checked again independently of omnik_check: no reading
 * that decodes OK may hold a value outside them (issue 10).
 */
static void
check_limits(const struct omnik_reading *r)
{
	const struct omnik_variant_info *vi;
	const int64_t *v = r->value;

	CHECK(r->variant < OMNIK_NVARIANTS);
	vi = &omnik_variants[r->variant];
	CHECK(r->phases >= 1 && r->phases <= vi->phases);
	CHECK(r->inverter_sn[0] != '\0' && r->inverter_sn[0] != ' ');
	CHECK(r->inverter_sn[strlen(r->inverter_sn) - 1] != ' ');
	for (int i = 0; i < OMNIK_NFIELDS; i++) {
		const struct omnik_limit *l = &omnik_limits[i];
		int64_t max = l->max * (l->max_per_phase ? r->phases : 1);

		if (vi->mult[i] == 0)
			CHECK(v[i] == OMNIK_ABSENT);
		if (v[i] == OMNIK_ABSENT || (v[i] == 0 && l->zero_ok))
			continue;
		CHECK(v[i] >= l->min && v[i] <= max);
	}
	for (int p = 0; p < 3; p++)
		if (v[OMNIK_VAC1 + p] == OMNIK_ABSENT)
			CHECK((v[OMNIK_IAC1 + p] == OMNIK_ABSENT ||
			    v[OMNIK_IAC1 + p] == 0) &&
			    (v[OMNIK_FAC1 + 2 * p] == OMNIK_ABSENT ||
			    v[OMNIK_FAC1 + 2 * p] == 0) &&
			    (v[OMNIK_PAC1 + 2 * p] == OMNIK_ABSENT ||
			    v[OMNIK_PAC1 + 2 * p] == 0));
	if (v[OMNIK_ETODAY] != OMNIK_ABSENT && v[OMNIK_ETOTAL] != OMNIK_ABSENT)
		CHECK(v[OMNIK_ETODAY] <= v[OMNIK_ETOTAL] * 10 + 10);
}

/*
 * (d) Encode at payload length L; it succeeds exactly when the values fit,
 * and the result decodes to `expect`.
 */
static void
check_round_trip(const struct omnik_reading *r, uint8_t L,
    const struct omnik_reading *expect)
{
	uint8_t frame[OMNIK_FRAME_MAX + 1];
	struct omnik_msg m;
	size_t len = 0;
	enum omnik_err err;

	err = omnik_encode_data(r, L, frame, sizeof(frame), &len);
	if ((size_t)L + OMNIK_OVERHEAD < OMNIK_DATA_MIN_SIZE) {
		CHECK(err == OMNIK_ERR_TRUNCATED);
		return;
	}
	if (L < omnik_variants[r->variant].len_min ||
	    L > omnik_variants[r->variant].len_max || !reading_fits(r)) {
		CHECK(err == OMNIK_ERR_RANGE);
		return;
	}
	CHECK(err == OMNIK_OK);
	CHECK(len == (size_t)L + OMNIK_OVERHEAD);
	/* A buffer one byte short must be refused, not overrun. */
	CHECK(omnik_encode_data(r, L, frame, len - 1, &len) ==
	    OMNIK_ERR_SPACE);
	err = omnik_decode(frame, len, &m);
	CHECK(err == OMNIK_OK || err == OMNIK_ERR_IMPLAUSIBLE);
	CHECK(m.kind == OMNIK_MSG_DATA);
	CHECK((err == OMNIK_ERR_IMPLAUSIBLE) == (m.reason[0] != '\0'));
	if (err == OMNIK_OK)
		check_limits(&m.reading);
	check_reading_equal(&m.reading, expect);
}

/* What every successful decode must look like; also (d) and (e). */
static void
check_msg(const uint8_t *fr, size_t len, const struct omnik_msg *m)
{
	const struct omnik_reading *r = &m->reading;

	CHECK(len >= OMNIK_FRAME_MIN && len == (size_t)fr[1] + OMNIK_OVERHEAD);
	CHECK(fr[0] == OMNIK_START && fr[len - 1] == OMNIK_END);
	CHECK(omnik_checksum(fr, len) == fr[len - 2]);
	CHECK(m->frame_size == len);
	CHECK(m->ctrl1 == fr[2] && m->ctrl2 == fr[3]);
	CHECK(m->kit_sn == ((uint32_t)fr[4] | (uint32_t)fr[5] << 8 |
	    (uint32_t)fr[6] << 16 | (uint32_t)fr[7] << 24));
	check_string(m->text, sizeof(m->text));

	switch (m->kind) {
	case OMNIK_MSG_TEXT:
	case OMNIK_MSG_LOGGER_INFO:
	case OMNIK_MSG_REQUEST:
		return;
	case OMNIK_MSG_DATA:
		break;
	default:
		CHECK(!"unknown message kind");
	}

	CHECK(fr[3] == 0xB0 && len >= OMNIK_DATA_MIN_SIZE);
	CHECK(r->kit_sn == m->kit_sn && r->ctrl1 == fr[2]);
	CHECK(r->frame_len == fr[1]);
	check_string(r->inverter_sn, sizeof(r->inverter_sn));
	check_string(r->fw_main, sizeof(r->fw_main));
	check_string(r->fw_slave, sizeof(r->fw_slave));
	CHECK(r->has_fw || (r->fw_main[0] == '\0' && r->fw_slave[0] == '\0'));
	CHECK(m->reason[0] == '\0');
	CHECK(memcmp(r->marker, fr + 12, 3) == 0);
	CHECK(r->historical == (fr[12] == 0x80));
	check_limits(r);
	for (int i = 0; i < OMNIK_NFIELDS; i++)
		check_format((enum omnik_field)i, r->value[i]);

	/*
	 * Re-encoding writes ctrl1 0x41 for a reading without one: the only
	 * field that may legitimately change.
	 */
	struct omnik_reading expect = *r;
	if (expect.ctrl1 == 0)
		expect.ctrl1 = 0x41;
	check_round_trip(r, fr[1], &expect);
}

/* (c) Decode one framer event and check the outcome fits its status. */
static void
check_event_decode(enum framer_status st, const uint8_t *fr, size_t len)
{
	struct omnik_msg m;
	enum omnik_err err;

	memset(&m, 0xA5, sizeof(m));
	err = omnik_decode(fr, len, &m);
	CHECK(err <= OMNIK_ERR_IMPLAUSIBLE);
	CHECK(strcmp(omnik_strerror(err), "unknown error") != 0);
	switch (st) {
	case FRAMER_FRAME:
		CHECK(err == OMNIK_OK || err == OMNIK_ERR_TYPE ||
		    err == OMNIK_ERR_TRUNCATED || err == OMNIK_ERR_IMPLAUSIBLE);
		if (err == OMNIK_ERR_IMPLAUSIBLE) {
			/* Terminated; units may be UTF-8 ("°C"). */
			CHECK(m.kind == OMNIK_MSG_DATA && m.reason[0] != '\0');
			CHECK(strnlen(m.reason, sizeof(m.reason)) <
			    sizeof(m.reason));
		}
		if (err == OMNIK_OK)
			check_msg(fr, len, &m);
		break;
	case FRAMER_BAD_CHECKSUM:
		CHECK(err == OMNIK_ERR_CHECKSUM);
		break;
	case FRAMER_TRUNCATED:
		CHECK(err == OMNIK_ERR_SHORT || err == OMNIK_ERR_LENGTH);
		break;
	default:
		CHECK(!"unexpected framer status");
	}
}

struct run {
	struct framer f;
	struct events ev;
	const uint8_t *data;	/* the whole input, to compare bytes */
	size_t size;
	uint64_t fed;		/* bytes given to framer_input so far */
	bool decode;		/* check (c) on this run's events */
};

/* (b) framer.h's invariant, plus the counters against the events. */
static void
check_counters(const struct run *r)
{
	const struct framer_stats *s = &r->f.st;

	CHECK(s->bytes_in == r->fed);
	CHECK(s->bytes_in == s->frame_bytes + s->skipped + s->filler +
	    framer_buffered(&r->f));
	CHECK(framer_buffered(&r->f) < OMNIK_FRAME_MAX);
	CHECK(s->frames == r->ev.frames && s->bad_checksums == r->ev.bad);
	CHECK(s->truncated == r->ev.trunc &&
	    s->frame_bytes == r->ev.frame_bytes);
}

/* Take events until FRAMER_NEED_MORE, checking each against the input. */
static void
run_drain(struct run *r)
{
	struct framer_frame fr;
	enum framer_status st;
	size_t guard = 0;

	while ((st = framer_next(&r->f, &fr)) != FRAMER_NEED_MORE) {
		/* Each event moves past at least one byte. */
		CHECK(++guard <= r->size + 1);
		CHECK(st == FRAMER_FRAME || st == FRAMER_BAD_CHECKSUM ||
		    st == FRAMER_TRUNCATED);
		CHECK(fr.len > 0 && fr.len <= OMNIK_FRAME_MAX);
		CHECK(fr.offset <= r->fed && fr.len <= r->fed - fr.offset);
		CHECK(memcmp(fr.data, r->data + fr.offset, fr.len) == 0);
		CHECK(fr.data[0] == OMNIK_START);
		CHECK(omnik_checksum(fr.data, fr.len) ==
		    ref_checksum(fr.data, fr.len));
		if (st == FRAMER_TRUNCATED) {
			CHECK(r->f.eof);
			CHECK(fr.len < 2 ||
			    fr.len < (size_t)fr.data[1] + OMNIK_OVERHEAD);
		} else {
			CHECK(fr.len == (size_t)fr.data[1] + OMNIK_OVERHEAD);
			CHECK(fr.data[fr.len - 1] == OMNIK_END);
			CHECK((omnik_checksum(fr.data, fr.len) ==
			    fr.data[fr.len - 2]) == (st == FRAMER_FRAME));
		}
		if (r->decode)
			check_event_decode(st, fr.data, fr.len);
		events_add(&r->ev, st, fr.offset, fr.len);
	}
	check_counters(r);
}

static void
run_init(struct run *r, const uint8_t *data, size_t size, bool decode)
{
	memset(r, 0, sizeof(*r));
	framer_init(&r->f);
	r->data = data;
	r->size = size;
	r->decode = decode;
}

/*
 * Feed one piece from its own exact-size allocation, freed (after being
 * scribbled over) once the framer says it is done with it: ASan then
 * catches any read past a chunk or any pointer kept into an old one.
 */
static void
run_feed(struct run *r, const uint8_t *p, size_t n)
{
	uint8_t *chunk = malloc(n ? n : 1);

	if (chunk == NULL)
		abort();
	if (n > 0)
		memcpy(chunk, p, n);
	framer_input(&r->f, chunk, n);
	r->fed += n;
	run_drain(r);
	memset(chunk, 0xEE, n);
	free(chunk);
}

/* The same, straight from the input: cheaper, for the byte-by-byte run. */
static void
run_feed_inplace(struct run *r, const uint8_t *p, size_t n)
{
	framer_input(&r->f, p, n);
	r->fed += n;
	run_drain(r);
}

static void
run_end(struct run *r)
{
	const struct event *prev_rep = NULL, *prev = NULL;
	uint64_t filler = 0, skipped = 0, pos = 0;

	framer_finish(&r->f);
	run_drain(r);
	CHECK(framer_buffered(&r->f) == 0);
	CHECK(r->fed == r->size);

	/*
	 * Event order: offsets strictly increase; nothing starts inside a
	 * frame; a bad or truncated candidate starting inside one already
	 * reported is not reported again; a truncated one ends the stream.
	 */
	for (size_t i = 0; i < r->ev.n; i++) {
		const struct event *e = &r->ev.ev[i];

		if (prev != NULL) {
			CHECK(e->offset > prev->offset);
			if (prev->st == FRAMER_FRAME)
				CHECK(e->offset >= prev->offset + prev->len);
		}
		if (e->st != FRAMER_FRAME) {
			if (prev_rep != NULL)
				CHECK(e->offset >= prev_rep->offset +
				    prev_rep->len);
			prev_rep = e;
		}
		if (e->st == FRAMER_TRUNCATED)
			CHECK(e->offset + e->len == r->size);
		prev = e;
	}

	/* Recount the bytes outside frames, filler apart. */
	for (size_t i = 0; i <= r->ev.n; i++) {
		uint64_t end = r->size;
		const struct event *e = i < r->ev.n ? &r->ev.ev[i] : NULL;

		if (e != NULL && e->st != FRAMER_FRAME)
			continue;
		if (e != NULL)
			end = e->offset;
		for (; pos < end; pos++) {
			if (r->data[pos] == 0xFF)
				filler++;
			else
				skipped++;
		}
		if (e != NULL)
			pos = e->offset + e->len;
	}
	CHECK(r->f.st.filler == filler && r->f.st.skipped == skipped);
}

static void
run_free(struct run *r)
{
	free(r->ev.ev);
	r->ev.ev = NULL;
}

static void
check_same_events(const struct run *a, const struct run *b)
{
	CHECK(a->ev.n == b->ev.n);
	for (size_t i = 0; i < a->ev.n; i++) {
		CHECK(a->ev.ev[i].st == b->ev.ev[i].st);
		CHECK(a->ev.ev[i].offset == b->ev.ev[i].offset);
		CHECK(a->ev.ev[i].len == b->ev.ev[i].len);
	}
	CHECK(memcmp(&a->f.st, &b->f.st, sizeof(a->f.st)) == 0);
}

/*
 * Piece sizes from the input: 1 byte first, then each size from the next
 * input byte (0 = an empty piece, high bytes = pieces larger than a frame),
 * so the fuzzer steers where the chunk boundaries fall.
 */
static size_t
piece_size(const uint8_t *data, size_t size, size_t k)
{
	uint8_t b;

	if (k == 0 || size == 0)
		return 1;
	b = data[(k * 7) % size];
	if (b >= 0xF0)
		return (size_t)(b - 0xF0) * 97 + 200;
	return b % 32;
}

/* A reading built from the input (d): printable strings, any values. */
static void
check_built_reading(const uint8_t *data, size_t size)
{
	struct omnik_reading r, expect;
	uint8_t in[128 + 8];
	size_t i, n;

	if (size < 1)
		return;
	memset(in, 0, sizeof(in));
	memcpy(in, data, size < sizeof(in) ? size : sizeof(in));

	omnik_reading_clear(&r);
	r.kit_sn = (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 |
	    (uint32_t)in[2] << 8 | in[3];
	r.ctrl1 = in[4];
	for (i = 0; i < OMNIK_NFIELDS; i++) {
		uint8_t sel = in[5 + i];
		uint32_t raw = (uint32_t)in[28 + 2 * i] << 8 | in[29 + 2 * i];

		/* Mostly values that fit, some absent, some too large. */
		if (sel < 0x20)
			r.value[i] = OMNIK_ABSENT;
		else if (sel < 0x28)
			r.value[i] = (int64_t)field_max((int)i) + sel - 0x20;
		else if (sel < 0x30)
			r.value[i] = -(int64_t)(sel - 0x27);
		else if (omnik_fields[i].size == 4)
			r.value[i] = (int64_t)raw << 16 | in[74 + i];
		else
			r.value[i] = raw % (field_max((int)i) + 1);
	}
	/* Printable, no trailing space: strings that decode unchanged. */
	n = in[97] % (OMNIK_SERIAL_LEN + 1);
	for (i = 0; i < n; i++)
		r.inverter_sn[i] = (char)(0x21 + in[98 + i] % 94);
	r.has_fault = in[114] & 1;
	memcpy(r.fault, in + 115, OMNIK_FAULT_LEN);
	n = in[131] % (OMNIK_FW_LEN + 1);
	for (i = 0; i < n; i++)
		r.fw_main[i] = (char)(0x21 + (in[(132 + i) % sizeof(in)] % 94));
	for (i = 0; i < n / 2; i++)
		r.fw_slave[i] = (char)(0x21 + (in[(100 + i)] % 94));
	r.has_fw = true;
	/* Any layout, a buffered record or not (the unknown one with a
	 * marker no known layout has). */
	r.variant = in[96] % OMNIK_NVARIANTS;
	r.historical = in[96] & 0x80;
	r.marker[0] = r.historical ? 0x80 : 0x81;
	r.marker[1] = 0xEE;
	r.marker[2] = in[95];

	for (int k = 0; k < 2; k++) {
		uint8_t L = k == 0 ? in[4] : (uint8_t)(in[5] | 0x45);

		expect = r;
		expect.frame_len = L;
		if (expect.ctrl1 == 0)
			expect.ctrl1 = 0x41;
		/* What the decoder can see at this length. */
		if (!(OMNIK_FAULT_OFFSET + OMNIK_FAULT_LEN <=
		    (size_t)L + OMNIK_OVERHEAD - 2) || !r.has_fault) {
			expect.has_fault = OMNIK_FAULT_OFFSET + OMNIK_FAULT_LEN
			    <= (size_t)L + OMNIK_OVERHEAD - 2;
			memset(expect.fault, 0, sizeof(expect.fault));
		}
		if (!omnik_variants[r.variant].fault) {
			expect.has_fault = false;
			memset(expect.fault, 0, sizeof(expect.fault));
		}
		n = omnik_variants[r.variant].fw ? omnik_fw_offset(L) : 0;
		expect.has_fw = n != 0 &&
		    n + 2 * OMNIK_FW_LEN <= (size_t)L + OMNIK_OVERHEAD - 2;
		if (!expect.has_fw)
			expect.fw_main[0] = expect.fw_slave[0] = '\0';
		check_round_trip(&r, L, &expect);
	}

	/* (e) on arbitrary values and field numbers, out of range too. */
	if (size >= 9) {
		int64_t v;

		memcpy(&v, data + size - 8, sizeof(v));
		check_format((enum omnik_field)(data[size - 9] % 
		    (OMNIK_NFIELDS + 2)), v);
		check_format(OMNIK_FAC1, INT64_MIN + 1);
		check_format(OMNIK_ETOTAL, INT64_MAX);
		check_format(OMNIK_PAC1, v == INT64_MIN ? v : -v);
	}
}

/*
 * The input as a web status page of each kind (proto/status.c): a
 * reading has the page's fields only, within the limits, and its text
 * printable.
 */
static void
check_status_pages(const uint8_t *data, size_t size)
{
	static const enum omnik_page kinds[] = {
		OMNIK_PAGE_JS, OMNIK_PAGE_JSON, OMNIK_PAGE_HTML,
	};
	struct omnik_status st;
	char why[128];

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		enum omnik_err e = omnik_status_parse(kinds[k],
		    (const char *)data, size, &st, why, sizeof(why));

		CHECK(e == OMNIK_OK || e == OMNIK_ERR_TYPE ||
		    e == OMNIK_ERR_IMPLAUSIBLE);
		CHECK(strlen(why) < sizeof(why));
		if (e != OMNIK_OK)
			continue;
		CHECK(st.reading.variant == OMNIK_VARIANT_HTTP);
		CHECK(st.reading.inverter_sn[0] != '\0');
		check_string(st.reading.inverter_sn, sizeof(st.reading.inverter_sn));
		check_string(st.reading.fw_main, sizeof(st.reading.fw_main));
		check_string(st.reading.fw_slave, sizeof(st.reading.fw_slave));
		check_string(st.model, sizeof(st.model));
		check_string(st.alarm, sizeof(st.alarm));
		for (int i = 0; i < OMNIK_NFIELDS; i++)
			if (i != OMNIK_PAC1 && i != OMNIK_ETODAY &&
			    i != OMNIK_ETOTAL)
				CHECK(st.reading.value[i] == OMNIK_ABSENT);
		CHECK(omnik_check(&st.reading, why, sizeof(why)) == OMNIK_OK);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run whole, pieces, bytes;
	struct omnik_msg m;
	enum omnik_err err;
	size_t off, k, n;

	/*
	 * The checksum over short prefixes (every tail length of its word
	 * loop) and the whole input; frame-sized lengths are checked on
	 * every framer event.
	 */
	for (n = 0; n <= size && n <= 40; n++)
		CHECK(omnik_checksum(data, n) == ref_checksum(data, n));
	CHECK(omnik_checksum(data, size) == ref_checksum(data, size));

	check_status_pages(data, size);

	/* The raw input as one frame. */
	err = omnik_decode(data, size, &m);
	CHECK(err <= OMNIK_ERR_IMPLAUSIBLE);
	if (err == OMNIK_OK)
		check_msg(data, size, &m);

	/* (a)-(c): whole, in input-driven pieces, byte by byte. */
	run_init(&whole, data, size, true);
	if (size > 0)
		run_feed(&whole, data, size);
	run_end(&whole);

	run_init(&pieces, data, size, false);
	for (off = 0, k = 0, n = 1; off < size; off += n, k++) {
		/* Empty pieces, but never two in a row: always progress. */
		n = n == 0 ? 1 : piece_size(data, size, k);
		if (n > size - off)
			n = size - off;
		run_feed(&pieces, data + off, n);
	}
	run_end(&pieces);
	check_same_events(&whole, &pieces);

	run_init(&bytes, data, size, false);
	for (off = 0; off < size; off++)
		run_feed_inplace(&bytes, data + off, 1);
	run_end(&bytes);
	check_same_events(&whole, &bytes);

	/* A whole valid frame as input is one frame event and decodes. */
	if (size >= OMNIK_FRAME_MIN && data[0] == OMNIK_START &&
	    size == (size_t)data[1] + OMNIK_OVERHEAD &&
	    data[size - 1] == OMNIK_END &&
	    omnik_checksum(data, size) == data[size - 2]) {
		/* One frame event, unless a valid frame lies inside it and
		 * ends first (framer.c: inner frames win). */
		CHECK(whole.ev.n >= 1 && whole.ev.ev[0].st == FRAMER_FRAME);
		CHECK(whole.ev.n == 1 || memchr(data + 1, OMNIK_START,
		    size - 2) != NULL);
		CHECK(err == OMNIK_OK || err == OMNIK_ERR_TYPE ||
		    err == OMNIK_ERR_TRUNCATED || err == OMNIK_ERR_IMPLAUSIBLE);
	} else {
		CHECK(err != OMNIK_OK);
	}

	run_free(&whole);
	run_free(&pieces);
	run_free(&bytes);

	check_built_reading(data, size);
	return 0;
}
