/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * decode.c: one whole Omnik frame in, one message or a reason out.
 *
 * Inverter data frame (C2 = 0xB0), offsets from the frame start:
 *
 *   12  81 02 01            31 temp /10        33 35 37  VPV1..3 /10
 *   15  inverter serial     39 41 43 IPV1..3 /10  45 47 49 IAC1..3 /10
 *       (16 ASCII bytes)    51 53 55 VAC1..3 /10
 *   57 FAC1 /100  59 PAC1   61 FAC2  63 PAC2  65 FAC3  67 PAC3
 *   69 E today /100 kWh (2) 71 E total /10 kWh (4)  75 hours (4)
 *   79 run mode (2)         81..96 fault values, kept raw
 *   L = 0x7D:         firmware main at 97, slave at 117 (20 bytes each)
 *   L >= 0x81:        4 unknown bytes at 97, firmware at 101 and 121
 *
 * That is the Omnik layout. Other makes behind the same loggers send the
 * same framing with other bytes at 13..14 and other meanings past the
 * common fields: the variant table below says, per layout, which fields
 * exist and with what factor; a layout not in it decodes the common
 * fields only. Then the limits table says what a value can physically be.
 *
 * Every read goes through a bounds-checked accessor: a frame that is too
 * short for a field can never make the decoder read past its end.
 */
#include <stdio.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#elif defined(__ARM_NEON)
#include <arm_neon.h>
#endif

#include "omnik.h"

const struct omnik_field_info omnik_fields[OMNIK_NFIELDS] = {
	[OMNIK_TEMP]    = { "Temp",   "°C",  31, 2, 1 },
	[OMNIK_VPV1]    = { "VPV1",   "V",   33, 2, 1 },
	[OMNIK_VPV2]    = { "VPV2",   "V",   35, 2, 1 },
	[OMNIK_VPV3]    = { "VPV3",   "V",   37, 2, 1 },
	[OMNIK_IPV1]    = { "IPV1",   "A",   39, 2, 1 },
	[OMNIK_IPV2]    = { "IPV2",   "A",   41, 2, 1 },
	[OMNIK_IPV3]    = { "IPV3",   "A",   43, 2, 1 },
	[OMNIK_IAC1]    = { "IAC1",   "A",   45, 2, 1 },
	[OMNIK_IAC2]    = { "IAC2",   "A",   47, 2, 1 },
	[OMNIK_IAC3]    = { "IAC3",   "A",   49, 2, 1 },
	[OMNIK_VAC1]    = { "VAC1",   "V",   51, 2, 1 },
	[OMNIK_VAC2]    = { "VAC2",   "V",   53, 2, 1 },
	[OMNIK_VAC3]    = { "VAC3",   "V",   55, 2, 1 },
	[OMNIK_FAC1]    = { "FAC1",   "Hz",  57, 2, 2 },
	[OMNIK_PAC1]    = { "PAC1",   "W",   59, 2, 0 },
	[OMNIK_FAC2]    = { "FAC2",   "Hz",  61, 2, 2 },
	[OMNIK_PAC2]    = { "PAC2",   "W",   63, 2, 0 },
	[OMNIK_FAC3]    = { "FAC3",   "Hz",  65, 2, 2 },
	[OMNIK_PAC3]    = { "PAC3",   "W",   67, 2, 0 },
	[OMNIK_ETODAY]  = { "ETODAY", "kWh", 69, 2, 2 },
	[OMNIK_ETOTAL]  = { "ETOTAL", "kWh", 71, 4, 1 },
	[OMNIK_HTOTAL]  = { "HTOTAL", "h",   75, 4, 0 },
	[OMNIK_RUNMODE] = { "RunMode", "",   79, 2, 0 },
};

/*
 * The fields every layout seen shares, at the Omnik offsets: serial,
 * temperature, PV strings 1 and 2, AC phase 1, E today, E total.
 */
#define COMMON \
	[OMNIK_TEMP] = 1, [OMNIK_VPV1] = 1, [OMNIK_VPV2] = 1, \
	[OMNIK_IPV1] = 1, [OMNIK_IPV2] = 1, [OMNIK_IAC1] = 1, \
	[OMNIK_VAC1] = 1, [OMNIK_PAC1] = 1, [OMNIK_ETODAY] = 1, \
	[OMNIK_ETOTAL] = 1

const struct omnik_variant_info omnik_variants[OMNIK_NVARIANTS] = {
	/* Omnik, three-phase, and single-phase with 0xFFFF phases 2, 3. */
	[OMNIK_VARIANT_OMNIK] = { "omnik", { 0x02, 0x01 }, 0x45, 0xFF, 3,
	    true, true, { COMMON, [OMNIK_FAC1] = 1, [OMNIK_VPV3] = 1,
	    [OMNIK_IPV3] = 1, [OMNIK_IAC2] = 1, [OMNIK_IAC3] = 1,
	    [OMNIK_VAC2] = 1, [OMNIK_VAC3] = 1, [OMNIK_FAC2] = 1,
	    [OMNIK_PAC2] = 1, [OMNIK_FAC3] = 1, [OMNIK_PAC3] = 1,
	    [OMNIK_HTOTAL] = 1, [OMNIK_RUNMODE] = 1 } },
	/*
	 * Single-phase, another make (103 bytes): 65..68 are not phase 3
	 * (67..68 is yesterday's energy x100) and 79..80 is not the run
	 * mode (it said "offline" while generating); hours unknown.
	 */
	[OMNIK_VARIANT_810105] = { "810105", { 0x01, 0x05 }, 0x59, 0x59, 1,
	    false, false, { COMMON, [OMNIK_FAC1] = 1 } },
	/* 99 bytes, frequency in 0.1 Hz (raw 500 is 50.0 Hz). */
	[OMNIK_VARIANT_810304] = { "810304", { 0x03, 0x04 }, 0x55, 0x55, 1,
	    false, false, { COMMON, [OMNIK_FAC1] = 10 } },
	/* Anything else: the common fields, phase 1 frequency in 0.01 Hz
	 * (a wrong factor there breaks the frequency limit). */
	[OMNIK_VARIANT_UNKNOWN] = { "unknown", { 0, 0 }, 0x45, 0xFF, 1,
	    false, false, { COMMON, [OMNIK_FAC1] = 1 } },
};

/*
 * What a value can physically be, generous for any home inverter (the
 * largest Omnik is 20 kW three-phase; other makes' single-phase models go
 * to 10 kW): a frame outside them is garbage, a misread layout or a
 * forgery, and is not a reading. In each field's fixed point.
 */
const struct omnik_limit omnik_limits[OMNIK_NFIELDS] = {
	[OMNIK_TEMP]    = { -400, 1000, false, false },	/* -40.0 .. 100.0 C */
	[OMNIK_VPV1]    = { 0, 10000, false, false },	/* 1000.0 V */
	[OMNIK_VPV2]    = { 0, 10000, false, false },
	[OMNIK_VPV3]    = { 0, 10000, false, false },
	[OMNIK_IPV1]    = { 0, 400, false, false },	/* 40.0 A */
	[OMNIK_IPV2]    = { 0, 400, false, false },
	[OMNIK_IPV3]    = { 0, 400, false, false },
	[OMNIK_IAC1]    = { 0, 600, false, false },	/* 60.0 A */
	[OMNIK_IAC2]    = { 0, 600, false, false },
	[OMNIK_IAC3]    = { 0, 600, false, false },
	[OMNIK_VAC1]    = { 1000, 3000, true, false },	/* 0, 100.0 .. 300.0 V */
	[OMNIK_VAC2]    = { 1000, 3000, true, false },
	[OMNIK_VAC3]    = { 1000, 3000, true, false },
	[OMNIK_FAC1]    = { 4500, 6500, true, false },	/* 0, 45.00 .. 65.00 Hz */
	[OMNIK_PAC1]    = { 0, 12000, false, false },	/* 12 kW per phase */
	[OMNIK_FAC2]    = { 4500, 6500, true, false },
	[OMNIK_PAC2]    = { 0, 12000, false, false },
	[OMNIK_FAC3]    = { 4500, 6500, true, false },
	[OMNIK_PAC3]    = { 0, 12000, false, false },
	[OMNIK_ETODAY]  = { 0, 10000, false, true },	/* 100 kWh a phase */
	[OMNIK_ETOTAL]  = { 0, 100000000, false, false },	/* 10 GWh */
	[OMNIK_HTOTAL]  = { 0, 300000, false, false },	/* 34 years */
	[OMNIK_RUNMODE] = { 0, 15, false, false },
};

static const char *const errstr[] = {
	[OMNIK_OK] = "ok",
	[OMNIK_ERR_SHORT] = "shorter than the 14-byte minimum frame",
	[OMNIK_ERR_START] = "does not start with 0x68",
	[OMNIK_ERR_LENGTH] = "size does not match its length byte",
	[OMNIK_ERR_END] = "does not end with 0x16",
	[OMNIK_ERR_CHECKSUM] = "bad checksum",
	[OMNIK_ERR_TYPE] = "unknown control code",
	[OMNIK_ERR_TRUNCATED] = "data frame too short for the inverter fields",
	[OMNIK_ERR_SPACE] = "output buffer too small",
	[OMNIK_ERR_RANGE] = "value out of range for its field",
	[OMNIK_ERR_IMPLAUSIBLE] = "implausible value",
};

const char *
omnik_strerror(enum omnik_err err)
{
	if ((unsigned)err < sizeof(errstr) / sizeof(errstr[0]) && errstr[err])
		return errstr[err];
	return "unknown error";
}

uint8_t
omnik_checksum(const uint8_t *frame, size_t len)
{
	/*
	 * Most of the per-frame cost, the framer's and the decoder's both.
	 * With SIMD, 16 bytes a step (SSE2 psadbw sums them into two 64-bit
	 * lanes; NEON's pairwise adds widen them); without it eight bytes a
	 * step by hand: even and odd bytes into four 16-bit lanes, which
	 * 128 words (at most 510 each) cannot overflow, folded every 128
	 * words. Only the sum modulo 256 is kept, so lane order is free.
	 */
	const uint8_t *p;
	size_t n;
	unsigned sum = 0;

	if (len < 3)
		return 0;
	p = frame + 1;
	n = len - 3;
#if defined(__SSE2__)
	__m128i acc = _mm_setzero_si128(), zero = _mm_setzero_si128();

	for (; n >= 16; n -= 16, p += 16)
		acc = _mm_add_epi64(acc, _mm_sad_epu8(_mm_loadu_si128(
		    (const __m128i *)(const void *)p), zero));
	sum = (unsigned)_mm_cvtsi128_si32(acc) +
	    (unsigned)_mm_cvtsi128_si32(_mm_unpackhi_epi64(acc, acc));
#elif defined(__ARM_NEON)
	uint16x8_t acc = vdupq_n_u16(0);

	/* A 16-bit lane may wrap: that keeps the sum modulo 256. */
	for (; n >= 16; n -= 16, p += 16)
		acc = vpadalq_u8(acc, vld1q_u8(p));
	{
		uint32x4_t a4 = vpaddlq_u16(acc);
		uint64x2_t a2 = vpaddlq_u32(a4);

		sum = (unsigned)(vgetq_lane_u64(a2, 0) + vgetq_lane_u64(a2, 1));
	}
#else
	const uint64_t even = 0x00FF00FF00FF00FFu;
	uint64_t acc, w;
	size_t k;

	while (n >= 8) {
		k = n / 8 < 128 ? n / 8 : 128;
		n -= k * 8;
		for (acc = 0; k > 0; k--, p += 8) {
			memcpy(&w, p, sizeof(w));
			acc += (w & even) + ((w >> 8) & even);
		}
		sum += (unsigned)((acc & 0xFFFF) + (acc >> 16 & 0xFFFF) +
		    (acc >> 32 & 0xFFFF) + (acc >> 48));
	}
#endif
	while (n-- > 0)
		sum += *p++;
	return (uint8_t)sum;
}

/* Bounds-checked big-endian reads: false if the field is past the end. */
static inline bool
get_be16(const uint8_t *p, size_t len, size_t off, uint32_t *v)
{
	if (off + 2 > len)
		return false;
	*v = (uint32_t)p[off] << 8 | p[off + 1];
	return true;
}

static inline bool
get_be32(const uint8_t *p, size_t len, size_t off, uint32_t *v)
{
	if (off + 4 > len)
		return false;
	*v = (uint32_t)p[off] << 24 | (uint32_t)p[off + 1] << 16 |
	    (uint32_t)p[off + 2] << 8 | p[off + 3];
	return true;
}

static inline uint32_t
get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

/*
 * Where the first byte of s[0 .. n) that is not a visible ASCII character
 * (0x21 .. 0x7E) is, or n. Eight bytes a step: the serial and the
 * firmware strings nearly always are visible characters up to NUL
 * padding, and then the copies below are one memcpy, not a byte loop
 * with three tests a byte. Per byte exact (no borrow crosses bytes):
 * below 0x21 if (x | 0x80) - 0x21 and x both lack bit 7; above 0x7E if
 * x has bit 7 or (x & 0x7F) + 1 carries into it.
 */
static size_t
first_not_visible(const uint8_t *s, size_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	const uint64_t H = 0x8080808080808080u, L = 0x0101010101010101u;
	uint64_t w, bad;
	size_t off;

	if (n < 8)
		return 0;	/* not worth it: the byte loop decides */
	for (off = 0;; off += 8) {
		if (off + 8 > n) {
			if (off == n)
				return n;
			/* The last 8 bytes, the ones already seen shifted out. */
			memcpy(&w, s + n - 8, 8);
			bad = ((~((w | H) - 0x21 * L) & ~w) |
			    ((w & ~H) + L) | w) & H;
			bad >>= 8 * (off - (n - 8));
			return bad ? off + (size_t)__builtin_ctzll(bad) / 8 : n;
		}
		memcpy(&w, s + off, 8);
		bad = ((~((w | H) - 0x21 * L) & ~w) | ((w & ~H) + L) | w) & H;
		if (bad)
			return off + (size_t)__builtin_ctzll(bad) / 8;
	}
#else
	(void)s;
	(void)n;
	return 0;
#endif
}

/*
 * Copy an ASCII field: stop at the first NUL, drop trailing spaces, replace
 * anything unprintable by '?' so that CSV, JSON and MQTT topics stay sane.
 */
static void
copy_ascii(char *dst, const uint8_t *src, size_t n)
{
	size_t i, end = 0, z = first_not_visible(src, n);

	/* Visible characters up to the end or a NUL: nothing to change. */
	if (z == n || (z > 0 && src[z] == 0)) {
		memcpy(dst, src, z);
		dst[z] = '\0';
		return;
	}

	for (i = 0; i < n && src[i] != 0; i++) {
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? (char)src[i] : '?';
		if (src[i] != ' ')
			end = i + 1;
	}
	dst[end] = '\0';
}

/*
 * The inverter serial, the one place it is cleaned before anything keys
 * on it (CSV Id, journal, MQTT topics, PVOutput systems, the per-inverter
 * limits): stop at the first NUL, drop leading and trailing spaces and
 * control bytes (seen: "  S2821590450130"), and replace what is left
 * unprintable inside by '?'. May leave it empty: omnik_check refuses that.
 */
static void
serial_copy(char *dst, const uint8_t *src, size_t n)
{
	size_t b = 0, e, i, k = 0, z = first_not_visible(src, n);

	/* Visible characters up to the end or a NUL: nothing to trim. */
	if (z == n || (z > 0 && src[z] == 0)) {
		memcpy(dst, src, z);
		dst[z] = '\0';
		return;
	}
	for (e = 0; e < n && src[e] != 0; e++)
		;
	while (b < e && (src[b] <= 0x20 || src[b] >= 0x7f))
		b++;
	while (e > b && (src[e - 1] <= 0x20 || src[e - 1] >= 0x7f))
		e--;
	for (i = b; i < e; i++)
		dst[k++] = (src[i] >= 0x20 && src[i] < 0x7f) ? (char)src[i] :
		    '?';
	dst[k] = '\0';
}

/* Text payloads: the same, plus CR and LF dropped from the end. */
static void
copy_text(char *dst, const uint8_t *src, size_t n)
{
	while (n > 0 && (src[n - 1] == '\n' || src[n - 1] == '\r' ||
	    src[n - 1] == 0 || src[n - 1] == ' '))
		n--;
	copy_ascii(dst, src, n);
}

size_t
omnik_fw_offset(uint8_t payload_len)
{
	if (payload_len >= 0x81)
		return 101;
	if (payload_len >= 0x7D)
		return 97;
	return 0;
}

bool
omnik_total_power(const struct omnik_reading *r, int64_t *sum)
{
	bool any = false;

	*sum = 0;
	for (int f = OMNIK_PAC1; f <= OMNIK_PAC3; f += 2) {
		if (r->value[f] != OMNIK_ABSENT) {
			*sum += r->value[f];
			any = true;
		}
	}
	return any;
}

void
omnik_reading_clear(struct omnik_reading *r)
{
	memset(r, 0, sizeof(*r));
	for (int i = 0; i < OMNIK_NFIELDS; i++)
		r->value[i] = OMNIK_ABSENT;
}

/* Which layout bytes 12..14 and the length name. */
static enum omnik_variant
variant_of(const uint8_t *f)
{
	if (f[12] != 0x81 && f[12] != 0x80)
		return OMNIK_VARIANT_UNKNOWN;
	for (int v = 0; v < OMNIK_VARIANT_UNKNOWN; v++) {
		const struct omnik_variant_info *vi = &omnik_variants[v];

		if (f[13] == vi->marker[0] && f[14] == vi->marker[1] &&
		    f[1] >= vi->len_min && f[1] <= vi->len_max)
			return (enum omnik_variant)v;
	}
	return OMNIK_VARIANT_UNKNOWN;
}

const char *
omnik_variant_label(const struct omnik_reading *r,
    char buf[OMNIK_VARIANT_LABEL])
{
	static const char hex[] = "0123456789abcdef";

	if (r->variant == OMNIK_VARIANT_HTTP)
		return "http";
	if (r->variant < OMNIK_VARIANT_UNKNOWN)
		return omnik_variants[r->variant].name;
	memcpy(buf, "unknown-", 8);
	for (int i = 0; i < 3; i++) {
		buf[8 + 2 * i] = hex[r->marker[i] >> 4];
		buf[9 + 2 * i] = hex[r->marker[i] & 15];
	}
	buf[14] = '\0';
	return buf;
}

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

bool
omnik_variant_parse(const char *label, bool historical,
    struct omnik_reading *r)
{
	uint8_t marker[3];
	int v;

	/* A status page's reading: no frame, no marker, one phase. */
	if (strcmp(label, "http") == 0) {
		if (historical)
			return false;
		r->variant = OMNIK_VARIANT_HTTP;
		memset(r->marker, 0, sizeof(r->marker));
		r->historical = false;
		r->phases = 1;
		return true;
	}
	for (v = 0; v < OMNIK_VARIANT_UNKNOWN; v++)
		if (strcmp(label, omnik_variants[v].name) == 0)
			break;
	if (v < OMNIK_VARIANT_UNKNOWN) {
		marker[0] = historical ? 0x80 : 0x81;
		marker[1] = omnik_variants[v].marker[0];
		marker[2] = omnik_variants[v].marker[1];
	} else {
		if (strncmp(label, "unknown-", 8) != 0 || strlen(label) != 14)
			return false;
		for (int i = 0; i < 3; i++) {
			int hi = hex_digit(label[8 + 2 * i]);
			int lo = hex_digit(label[9 + 2 * i]);

			if (hi < 0 || lo < 0)
				return false;
			marker[i] = (uint8_t)(hi << 4 | lo);
		}
	}
	r->variant = (uint8_t)v;
	memcpy(r->marker, marker, sizeof(marker));
	r->historical = historical;
	r->phases = 1;
	for (int p = 1; p < omnik_variants[v].phases; p++)
		if (r->value[OMNIK_VAC1 + p] != OMNIK_ABSENT)
			r->phases = (uint8_t)(p + 1);
	return true;
}

static enum omnik_err
decode_data(const uint8_t *f, size_t len, struct omnik_msg *m)
{
	struct omnik_reading *r = &m->reading;
	const struct omnik_variant_info *vi;
	uint32_t raw;
	size_t fw;

	if (len < OMNIK_DATA_MIN_SIZE)
		return OMNIK_ERR_TRUNCATED;

	r->kit_sn = get_le32(f + 4);
	r->ctrl1 = f[2];
	r->frame_len = f[1];
	memcpy(r->marker, f + 12, 3);
	r->variant = (uint8_t)variant_of(f);
	r->historical = f[12] == 0x80;
	vi = &omnik_variants[r->variant];
	serial_copy(r->inverter_sn, f + 15, OMNIK_SERIAL_LEN);

	/*
	 * Unrolled, the table's offsets and sizes become constants and the
	 * bounds checks fold against the length check above.
	 */
#pragma GCC unroll 32
	for (int i = 0; i < OMNIK_NFIELDS; i++) {
		const struct omnik_field_info *fi = &omnik_fields[i];
		bool ok, absent;
		int64_t v;

		if (fi->size == 4) {
			ok = get_be32(f, len, fi->offset, &raw);
			absent = raw == 0xFFFFFFFFu;
			v = (int64_t)raw;
		} else {
			ok = get_be16(f, len, fi->offset, &raw);
			absent = raw == 0xFFFF;
			v = (int64_t)raw;
			if (i == OMNIK_TEMP) {
				/*
				 * Signed (two's complement) tenths of a degree:
				 * a winter morning is below zero. 0xFF2E is what
				 * every offline frame seen sends with nothing else
				 * measured (-21.0 C, from every inverter alike):
				 * no reading. Other values below -40.0 C break
				 * the limit, so the frame is refused, not read.
				 */
				absent = absent || raw == 0xFF2E;
				v = (int16_t)raw;
			}
		}
		if (!ok)
			return OMNIK_ERR_TRUNCATED;
		r->value[i] = absent || vi->mult[i] == 0 ? OMNIK_ABSENT :
		    v * vi->mult[i];
	}
	r->phases = 1;
	for (int p = 1; p < vi->phases; p++)
		if (r->value[OMNIK_VAC1 + p] != OMNIK_ABSENT)
			r->phases = (uint8_t)(p + 1);

	/* The checksum and end byte follow the payload: len - 2. */
	if (vi->fault && OMNIK_FAULT_OFFSET + OMNIK_FAULT_LEN <= len - 2) {
		r->has_fault = true;
		memcpy(r->fault, f + OMNIK_FAULT_OFFSET, OMNIK_FAULT_LEN);
	} else {
		r->has_fault = false;
		memset(r->fault, 0, sizeof(r->fault));
	}

	fw = vi->fw ? omnik_fw_offset(f[1]) : 0;
	if (fw != 0 && fw + 2 * OMNIK_FW_LEN <= len - 2) {
		r->has_fw = true;
		copy_ascii(r->fw_main, f + fw, OMNIK_FW_LEN);
		copy_ascii(r->fw_slave, f + fw + OMNIK_FW_LEN, OMNIK_FW_LEN);
	} else {
		r->has_fw = false;
		r->fw_main[0] = r->fw_slave[0] = '\0';
	}
	return omnik_check(r, m->reason, sizeof(m->reason));
}

/* "FAC1 335.00 Hz outside 45.00..65.00" */
static void
why_field(char *why, size_t n, int f, int64_t v, const struct omnik_limit *l,
    int64_t max)
{
	char a[32], lo[32], hi[32];

	omnik_format_value((enum omnik_field)f, v, a, sizeof(a));
	omnik_format_value((enum omnik_field)f, l->min, lo, sizeof(lo));
	omnik_format_value((enum omnik_field)f, max, hi, sizeof(hi));
	snprintf(why, n, "%s %s%s%s outside %s%s..%s", omnik_fields[f].name,
	    a, omnik_fields[f].unit[0] ? " " : "", omnik_fields[f].unit,
	    l->zero_ok ? "0, " : "", lo, hi);
}

enum omnik_err
omnik_check(const struct omnik_reading *r, char *why, size_t n)
{
	int phases = r->phases < 1 ? 1 : r->phases > 3 ? 3 : r->phases;
	char a[32], b[32];

	if (r->inverter_sn[0] == '\0') {
		snprintf(why, n, "inverter serial empty");
		return OMNIK_ERR_IMPLAUSIBLE;
	}
	/*
	 * Every field tested without a branch, the first broken one
	 * reported: whether a field is absent or zero varies from frame to
	 * frame, and mispredicting that was a quarter of the decoder's time.
	 */
	uint32_t broken = 0;

#pragma GCC unroll 32
	for (int i = 0; i < OMNIK_NFIELDS; i++) {
		const struct omnik_limit *l = &omnik_limits[i];
		int64_t v = r->value[i];
		int64_t max = l->max_per_phase ? l->max * phases : l->max;
		bool skip = v == OMNIK_ABSENT || (v == 0 && l->zero_ok);

		broken |= (uint32_t)(!skip & (v < l->min || v > max)) << i;
	}
	if (broken != 0) {
		int i = __builtin_ctz(broken);
		const struct omnik_limit *l = &omnik_limits[i];

		why_field(why, n, i, r->value[i], l, l->max_per_phase ?
		    l->max * phases : l->max);
		return OMNIK_ERR_IMPLAUSIBLE;
	}
	/*
	 * A phase without a voltage carries no current, frequency, power;
	 * a status page has the power and never a voltage.
	 */
	for (int p = 0; p < 3 && r->variant != OMNIK_VARIANT_HTTP; p++) {
		static const int dep[3][3] = {
			{ OMNIK_IAC1, OMNIK_FAC1, OMNIK_PAC1 },
			{ OMNIK_IAC2, OMNIK_FAC2, OMNIK_PAC2 },
			{ OMNIK_IAC3, OMNIK_FAC3, OMNIK_PAC3 },
		};

		if (r->value[OMNIK_VAC1 + p] != OMNIK_ABSENT)
			continue;
		for (int k = 0; k < 3; k++) {
			int64_t v = r->value[dep[p][k]];

			if (v != OMNIK_ABSENT && v != 0) {
				omnik_format_value((enum omnik_field)dep[p][k],
				    v, a, sizeof(a));
				snprintf(why, n, "%s %s %s on a phase without "
				    "a voltage (VAC%d absent)",
				    omnik_fields[dep[p][k]].name, a,
				    omnik_fields[dep[p][k]].unit, p + 1);
				return OMNIK_ERR_IMPLAUSIBLE;
			}
		}
	}
	/* E today (0.01 kWh) within E total (0.1 kWh, rounded down). */
	if (r->value[OMNIK_ETODAY] != OMNIK_ABSENT &&
	    r->value[OMNIK_ETOTAL] != OMNIK_ABSENT &&
	    r->value[OMNIK_ETODAY] > r->value[OMNIK_ETOTAL] * 10 + 10) {
		omnik_format_value(OMNIK_ETODAY, r->value[OMNIK_ETODAY], a,
		    sizeof(a));
		omnik_format_value(OMNIK_ETOTAL, r->value[OMNIK_ETOTAL], b,
		    sizeof(b));
		snprintf(why, n, "ETODAY %s kWh more than ETOTAL %s kWh", a, b);
		return OMNIK_ERR_IMPLAUSIBLE;
	}
	if (n > 0)
		why[0] = '\0';
	return OMNIK_OK;
}

enum omnik_err
omnik_decode(const uint8_t *f, size_t len, struct omnik_msg *m)
{
	size_t plen;

	if (len < OMNIK_FRAME_MIN)
		return OMNIK_ERR_SHORT;
	if (f[0] != OMNIK_START)
		return OMNIK_ERR_START;
	if ((size_t)f[1] + OMNIK_OVERHEAD != len)
		return OMNIK_ERR_LENGTH;
	if (f[len - 1] != OMNIK_END)
		return OMNIK_ERR_END;
	if (omnik_checksum(f, len) != f[len - 2])
		return OMNIK_ERR_CHECKSUM;

	plen = f[1];
	m->kit_sn = get_le32(f + 4);
	m->ctrl1 = f[2];
	m->ctrl2 = f[3];
	m->frame_size = (uint16_t)len;
	m->text[0] = '\0';
	m->reason[0] = '\0';

	switch (f[3]) {
	case 0xB0:
		m->kind = OMNIK_MSG_DATA;
		return decode_data(f, len, m);
	case 0xF0:
		m->kind = OMNIK_MSG_TEXT;
		copy_text(m->text, f + OMNIK_HEADER_LEN, plen);
		return OMNIK_OK;
	case 0x30:
		m->kind = OMNIK_MSG_REQUEST;
		return OMNIK_OK;
	case 0xB1:
		/* 41 B1 with "01 00" is a poll; 51 B1 "80 01 <fw>" logger info. */
		if (plen <= 2) {
			m->kind = OMNIK_MSG_REQUEST;
			return OMNIK_OK;
		}
		m->kind = OMNIK_MSG_LOGGER_INFO;
		copy_text(m->text, f + OMNIK_HEADER_LEN + 2, plen - 2);
		return OMNIK_OK;
	default:
		return OMNIK_ERR_TYPE;
	}
}

size_t
omnik_format_value(enum omnik_field fld, int64_t v, char *buf, size_t n)
{
	char tmp[32];
	size_t len = 0, i;
	uint64_t mag, scale = 1;
	unsigned d;
	char digits[24];
	size_t nd = 0;

	if (n == 0)
		return 0;
	if (v == OMNIK_ABSENT || (unsigned)fld >= OMNIK_NFIELDS) {
		buf[0] = '\0';
		return 0;
	}
	d = omnik_fields[fld].decimals;
	for (i = 0; i < d; i++)
		scale *= 10;
	if (v < 0) {
		tmp[len++] = '-';
		mag = (uint64_t)(-(v + 1)) + 1;
	} else {
		mag = (uint64_t)v;
	}

	/* Integer part, digits collected in reverse. */
	uint64_t ip = mag / scale, fp = mag % scale;
	do {
		digits[nd++] = (char)('0' + ip % 10);
		ip /= 10;
	} while (ip != 0);
	while (nd > 0)
		tmp[len++] = digits[--nd];

	if (d > 0) {
		/* Fraction: d digits, trailing zeros dropped, at least one. */
		size_t start = len + 1;
		tmp[len++] = '.';
		for (i = 0; i < d; i++) {
			scale /= 10;
			tmp[len++] = (char)('0' + (fp / scale) % 10);
		}
		while (len > start + 1 && tmp[len - 1] == '0')
			len--;
	}
	if (len >= n)
		len = n - 1;
	memcpy(buf, tmp, len);
	buf[len] = '\0';
	return len;
}
