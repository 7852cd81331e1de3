/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * encode.c: build valid frames from readings. Used by the tests, the kit
 * simulator and the benchmarks; the daemons themselves never send frames.
 */
#include <string.h>

#include "omnik.h"

static void
put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void
put_be(uint8_t *p, uint32_t v, unsigned size)
{
	for (unsigned i = 0; i < size; i++)
		p[i] = (uint8_t)(v >> (8 * (size - 1 - i)));
}

/* Header and trailer around a payload already written at out + 12. */
static void
frame_wrap(uint8_t *out, uint8_t payload_len, uint8_t c1, uint8_t c2,
    uint32_t kit_sn)
{
	size_t len = (size_t)payload_len + OMNIK_OVERHEAD;

	out[0] = OMNIK_START;
	out[1] = payload_len;
	out[2] = c1;
	out[3] = c2;
	put_le32(out + 4, kit_sn);
	put_le32(out + 8, kit_sn);
	out[len - 2] = omnik_checksum(out, len);
	out[len - 1] = OMNIK_END;
}

/* A string into a fixed NUL-padded field. */
static void
put_str(uint8_t *p, const char *s, size_t n)
{
	size_t l = strnlen(s, n);

	memset(p, 0, n);
	memcpy(p, s, l);
}

enum omnik_err
omnik_encode_data(const struct omnik_reading *r, uint8_t payload_len,
    uint8_t *out, size_t cap, size_t *outlen)
{
	size_t len = (size_t)payload_len + OMNIK_OVERHEAD, fw;
	const struct omnik_variant_info *vi;

	if (len < OMNIK_DATA_MIN_SIZE)
		return OMNIK_ERR_TRUNCATED;
	if (cap < len)
		return OMNIK_ERR_SPACE;
	if (r->variant >= OMNIK_NVARIANTS)
		return OMNIK_ERR_RANGE;
	vi = &omnik_variants[r->variant];
	/* Another length would read back as another layout. */
	if (payload_len < vi->len_min || payload_len > vi->len_max)
		return OMNIK_ERR_RANGE;

	memset(out, 0, len);
	if (r->variant == OMNIK_VARIANT_UNKNOWN) {
		memcpy(out + 12, r->marker, 3);
	} else {
		out[12] = r->historical ? 0x80 : 0x81;
		out[13] = vi->marker[0];
		out[14] = vi->marker[1];
	}
	put_str(out + 15, r->inverter_sn, OMNIK_SERIAL_LEN);

	for (int i = 0; i < OMNIK_NFIELDS; i++) {
		const struct omnik_field_info *fi = &omnik_fields[i];
		int64_t max = fi->size == 4 ? 0xFFFFFFFE : 0xFFFE, min = 0;
		int64_t v = r->value[i];
		unsigned mult = vi->mult[i];

		if (i == OMNIK_TEMP) {
			/* Signed; -0.1 (0xFFFF) and -21.0 (0xFF2E) read back
			 * as absent. */
			min = -32768;
			max = 32767;
			if (v == -1 || v == -210)
				return OMNIK_ERR_RANGE;
		}
		if (v == OMNIK_ABSENT || mult == 0) {
			if (v != OMNIK_ABSENT)
				return OMNIK_ERR_RANGE;	/* not in the layout */
			put_be(out + fi->offset, 0xFFFFFFFFu, fi->size);
			continue;
		}
		if (v % (int64_t)mult != 0)
			return OMNIK_ERR_RANGE;
		v /= (int64_t)mult;
		if (v < min || v > max)
			return OMNIK_ERR_RANGE;
		put_be(out + fi->offset, (uint32_t)v, fi->size);
	}
	if (vi->fault && r->has_fault &&
	    OMNIK_FAULT_OFFSET + OMNIK_FAULT_LEN <= len - 2)
		memcpy(out + OMNIK_FAULT_OFFSET, r->fault, OMNIK_FAULT_LEN);

	fw = vi->fw ? omnik_fw_offset(payload_len) : 0;
	if (fw != 0 && fw + 2 * OMNIK_FW_LEN <= len - 2) {
		put_str(out + fw, r->fw_main, OMNIK_FW_LEN);
		put_str(out + fw + OMNIK_FW_LEN, r->fw_slave, OMNIK_FW_LEN);
	}

	frame_wrap(out, payload_len, r->ctrl1 ? r->ctrl1 : 0x41, 0xB0,
	    r->kit_sn);
	*outlen = len;
	return OMNIK_OK;
}

enum omnik_err
omnik_encode_text(uint32_t kit_sn, uint8_t ctrl1, const char *text,
    uint8_t *out, size_t cap, size_t *outlen)
{
	size_t tl = strlen(text);

	if (tl > 255)
		return OMNIK_ERR_RANGE;
	if (cap < tl + OMNIK_OVERHEAD)
		return OMNIK_ERR_SPACE;
	memcpy(out + OMNIK_HEADER_LEN, text, tl);
	frame_wrap(out, (uint8_t)tl, ctrl1, 0xF0, kit_sn);
	*outlen = tl + OMNIK_OVERHEAD;
	return OMNIK_OK;
}

enum omnik_err
omnik_encode_request(uint32_t kit_sn, uint8_t *out, size_t cap,
    size_t *outlen)
{
	if (cap < 16)
		return OMNIK_ERR_SPACE;
	/* Pack the integer: building it from hex digits breaks low serials. */
	out[12] = 0x01;
	out[13] = 0x00;
	frame_wrap(out, 2, 0x40, 0x30, kit_sn);
	*outlen = 16;
	return OMNIK_OK;
}
