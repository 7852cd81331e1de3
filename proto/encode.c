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

	if (len < OMNIK_DATA_MIN_SIZE)
		return OMNIK_ERR_TRUNCATED;
	if (cap < len)
		return OMNIK_ERR_SPACE;

	memset(out, 0, len);
	out[12] = 0x81;
	out[13] = 0x02;
	out[14] = 0x01;
	put_str(out + 15, r->inverter_sn, OMNIK_SERIAL_LEN);

	for (int i = 0; i < OMNIK_NFIELDS; i++) {
		const struct omnik_field_info *fi = &omnik_fields[i];
		uint32_t max = fi->size == 4 ? 0xFFFFFFFEu : 0xFFFEu;
		int64_t v = r->value[i];

		if (i == OMNIK_TEMP)
			max = 0x7FFF;
		if (v == OMNIK_ABSENT) {
			put_be(out + fi->offset, 0xFFFFFFFFu, fi->size);
			continue;
		}
		if (v < 0 || v > (int64_t)max)
			return OMNIK_ERR_RANGE;
		put_be(out + fi->offset, (uint32_t)v, fi->size);
	}
	if (r->has_fault && OMNIK_FAULT_OFFSET + OMNIK_FAULT_LEN <= len - 2)
		memcpy(out + OMNIK_FAULT_OFFSET, r->fault, OMNIK_FAULT_LEN);

	fw = omnik_fw_offset(payload_len);
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
