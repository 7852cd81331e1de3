/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_decode.c: every shared vector through the framer and decoder, fed
 * whole, byte by byte and in random splits; the absent-value rules; every
 * frame kind of PROTOCOL.md; encoder round trips.
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
#include "omnik.h"
#include "vectors.h"

static struct vector *vec;
static int nvec;

static int
setup(void **state)
{
	(void)state;
	nvec = vectors_load(vectors_path(), &vec);
	return nvec > 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	vectors_free(vec, nvec);
	return 0;
}

/*
 * Feed one vector through a fresh framer in pieces (split: 0 = whole,
 * 1 = byte by byte, otherwise random sizes from that seed) and check each
 * frame against its expected object, in order and complete.
 */
static void
check_vector(const struct vector *v, uint64_t split)
{
	struct framer fr;
	struct framer_frame f;
	enum framer_status st;
	size_t off = 0, idx = 0, nexp = json_array_size(v->expected);
	uint64_t seed = split;
	char why[256];

	framer_init(&fr);
	for (;;) {
		size_t n;

		if (off < v->len) {
			if (split == 0)
				n = v->len;
			else if (split == 1)
				n = 1;
			else
				n = 1 + test_rand(&seed) % 64;
			if (n > v->len - off)
				n = v->len - off;
			framer_input(&fr, v->bytes + off, n);
			off += n;
		} else {
			framer_finish(&fr);
		}
		while ((st = framer_next(&fr, &f)) != FRAMER_NEED_MORE) {
			const json_t *exp;
			struct omnik_msg m;
			enum omnik_err e;

			if (idx >= nexp)
				fail_msg("%s: extra frame (%s, %zu bytes)",
				    v->name, framer_strstatus(st), f.len);
			exp = json_array_get(v->expected, idx++);
			e = omnik_decode(f.data, f.len, &m);
			if (vector_expects_bad(exp)) {
				if (st != FRAMER_BAD_CHECKSUM ||
				    e != OMNIK_ERR_CHECKSUM)
					fail_msg("%s frame %zu: want bad checksum, "
					    "got %s / %s", v->name, idx,
					    framer_strstatus(st),
					    omnik_strerror(e));
				json_int_t want = json_integer_value(
				    json_object_get(exp, "length"));
				if ((json_int_t)f.len != want)
					fail_msg("%s frame %zu: length %zu, want "
					    "%lld", v->name, idx, f.len,
					    (long long)want);
				continue;
			}
			if (st != FRAMER_FRAME || e != OMNIK_OK)
				fail_msg("%s frame %zu: %s / %s", v->name, idx,
				    framer_strstatus(st), omnik_strerror(e));
			if (!vector_check(exp, &m, why, sizeof(why)))
				fail_msg("%s frame %zu (split %llu): %s",
				    v->name, idx, (unsigned long long)split,
				    why);
		}
		if (off >= v->len && fr.eof)
			break;
	}
	if (idx != nexp)
		fail_msg("%s: %zu frames, want %zu", v->name, idx, nexp);
	assert_int_equal(framer_buffered(&fr), 0);
	assert_int_equal(fr.st.bytes_in, fr.st.frame_bytes + fr.st.skipped +
	    fr.st.filler);
}

static void
test_vectors_whole(void **state)
{
	(void)state;
	for (int i = 0; i < nvec; i++)
		check_vector(&vec[i], 0);
}

static void
test_vectors_bytewise(void **state)
{
	(void)state;
	for (int i = 0; i < nvec; i++)
		check_vector(&vec[i], 1);
}

static void
test_vectors_random_splits(void **state)
{
	(void)state;
	for (int i = 0; i < nvec; i++)
		for (uint64_t seed = 2; seed < 202; seed++)
			check_vector(&vec[i], seed * 0x9E3779B97F4A7C15ULL);
}

/* All vectors back to back in one stream, as a busy connection would be. */
static void
test_vectors_concatenated(void **state)
{
	struct framer fr;
	struct framer_frame f;
	uint8_t *all = NULL;
	size_t len = 0, want = 0, got = 0, bad = 0, wantbad = 0;

	(void)state;
	for (int i = 0; i < nvec; i++) {
		all = realloc(all, len + vec[i].len);
		memcpy(all + len, vec[i].bytes, vec[i].len);
		len += vec[i].len;
		for (size_t j = 0; j < json_array_size(vec[i].expected); j++) {
			if (vector_expects_bad(json_array_get(vec[i].expected,
			    j)))
				wantbad++;
			else
				want++;
		}
	}
	framer_init(&fr);
	framer_input(&fr, all, len);
	framer_finish(&fr);
	for (enum framer_status st; (st = framer_next(&fr, &f)) !=
	    FRAMER_NEED_MORE;) {
		if (st == FRAMER_FRAME)
			got++;
		else
			bad++;
	}
	assert_int_equal(got, want);
	assert_int_equal(bad, wantbad);
	/* A01's 0xFF padding is filler, not garbage. */
	assert_true(fr.st.filler >= 68);
	free(all);
}

static void
test_poll_request(void **state)
{
	uint8_t buf[32];
	size_t len;
	struct omnik_msg m;
	static const uint8_t want[16] = {
		0x68, 0x02, 0x40, 0x30, 0xa6, 0x68, 0xe6, 0x23,
		0xa6, 0x68, 0xe6, 0x23, 0x01, 0x00, 0xa1, 0x16 };

	(void)state;
	assert_int_equal(omnik_encode_request(602302630, buf, sizeof(buf),
	    &len), OMNIK_OK);
	assert_int_equal(len, 16);
	assert_memory_equal(buf, want, 16);

	/* Serials below 0x10000000: packed, not built from hex digits. */
	const uint32_t low[] = { 0, 1, 0x0FFFFFFF, 0x00ABCDEF, 0xFFFFFFFF };
	for (size_t i = 0; i < sizeof(low) / sizeof(low[0]); i++) {
		unsigned sum = 0;

		assert_int_equal(omnik_encode_request(low[i], buf, sizeof(buf),
		    &len), OMNIK_OK);
		for (int b = 0; b < 4; b++)
			sum += (low[i] >> (8 * b)) & 0xFF;
		assert_int_equal(buf[14], (0x73 + 2 * sum) & 0xFF);
		assert_int_equal(omnik_decode(buf, len, &m), OMNIK_OK);
		assert_int_equal(m.kind, OMNIK_MSG_REQUEST);
		assert_int_equal(m.kit_sn, low[i]);
	}
	assert_int_equal(omnik_encode_request(1, buf, 15, &len),
	    OMNIK_ERR_SPACE);
}

static void
make_reading(struct omnik_reading *r, uint64_t *seed)
{
	omnik_reading_clear(r);
	r->kit_sn = (uint32_t)test_rand(seed);
	r->ctrl1 = test_rand(seed) & 1 ? 0x41 : 0x51;
	for (int i = 0; i < OMNIK_SERIAL_LEN; i++)
		r->inverter_sn[i] = (char)('A' + test_rand(seed) % 26);
	r->inverter_sn[test_rand(seed) % (OMNIK_SERIAL_LEN + 1)] = '\0';
	for (int i = 0; i < OMNIK_NFIELDS; i++) {
		uint64_t x = test_rand(seed);
		uint32_t max = omnik_fields[i].size == 4 ? 0xFFFFFFFEu :
		    i == OMNIK_TEMP ? 0x7FFF : 0xFFFE;

		r->value[i] = x % 5 == 0 ? OMNIK_ABSENT :
		    (int64_t)((x >> 8) % ((uint64_t)max + 1));
	}
	snprintf(r->fw_main, sizeof(r->fw_main), "NL1-V1.0-%04u-4",
	    (unsigned)(test_rand(seed) % 10000));
	snprintf(r->fw_slave, sizeof(r->fw_slave), "V2.0-%04u",
	    (unsigned)(test_rand(seed) % 10000));
	r->has_fault = true;
	for (int i = 0; i < OMNIK_FAULT_LEN; i++)
		r->fault[i] = (uint8_t)test_rand(seed);
}

static void
test_roundtrip_random(void **state)
{
	static const uint8_t lens[] = { 0x55, 0x7D, 0x81, 0xA9, 0x45, 0x60,
	    0x7E, 0xFF };
	uint64_t seed = 42;
	uint8_t buf[OMNIK_FRAME_MAX];
	size_t len;

	(void)state;
	for (int n = 0; n < 20000; n++) {
		struct omnik_reading r;
		struct omnik_msg m;
		uint8_t L = lens[n % sizeof(lens)];
		size_t fw = omnik_fw_offset(L);

		make_reading(&r, &seed);
		assert_int_equal(omnik_encode_data(&r, L, buf, sizeof(buf),
		    &len), OMNIK_OK);
		assert_int_equal(len, (size_t)L + 14);
		assert_int_equal(omnik_decode(buf, len, &m), OMNIK_OK);
		assert_int_equal(m.kind, OMNIK_MSG_DATA);
		assert_int_equal(m.reading.kit_sn, r.kit_sn);
		assert_int_equal(m.reading.ctrl1, r.ctrl1);
		assert_string_equal(m.reading.inverter_sn, r.inverter_sn);
		for (int i = 0; i < OMNIK_NFIELDS; i++)
			if (m.reading.value[i] != r.value[i])
				fail_msg("frame %d field %s: %lld, want %lld", n,
				    omnik_fields[i].name,
				    (long long)m.reading.value[i],
				    (long long)r.value[i]);
		assert_int_equal(m.reading.has_fault, L >= 0x55);
		if (m.reading.has_fault)
			assert_memory_equal(m.reading.fault, r.fault,
			    OMNIK_FAULT_LEN);
		assert_int_equal(m.reading.has_fw, fw != 0);
		if (fw != 0) {
			assert_string_equal(m.reading.fw_main, r.fw_main);
			assert_string_equal(m.reading.fw_slave, r.fw_slave);
		}
	}
}

static void
test_encoder_rejects(void **state)
{
	struct omnik_reading r;
	uint8_t buf[OMNIK_FRAME_MAX];
	size_t len;

	(void)state;
	omnik_reading_clear(&r);
	r.value[OMNIK_TEMP] = 0x8000;	/* would read back as absent */
	assert_int_equal(omnik_encode_data(&r, 0x7D, buf, sizeof(buf), &len),
	    OMNIK_ERR_RANGE);
	omnik_reading_clear(&r);
	r.value[OMNIK_PAC1] = 0xFFFF;	/* would read back as absent */
	assert_int_equal(omnik_encode_data(&r, 0x7D, buf, sizeof(buf), &len),
	    OMNIK_ERR_RANGE);
	r.value[OMNIK_PAC1] = -1;
	assert_int_equal(omnik_encode_data(&r, 0x7D, buf, sizeof(buf), &len),
	    OMNIK_ERR_RANGE);
	omnik_reading_clear(&r);
	assert_int_equal(omnik_encode_data(&r, 0x7D, buf, 100, &len),
	    OMNIK_ERR_SPACE);
	assert_int_equal(omnik_encode_data(&r, 0x20, buf, sizeof(buf), &len),
	    OMNIK_ERR_TRUNCATED);
}

/* Patch a 16-bit big-endian value into an encoded frame, fix its sum. */
static void
patch16(uint8_t *f, size_t len, size_t off, uint16_t v)
{
	f[off] = (uint8_t)(v >> 8);
	f[off + 1] = (uint8_t)v;
	f[len - 2] = omnik_checksum(f, len);
}

static void
test_absent_values(void **state)
{
	struct omnik_reading r;
	struct omnik_msg m;
	uint8_t f[OMNIK_FRAME_MAX];
	size_t len;

	(void)state;
	omnik_reading_clear(&r);
	for (int i = 0; i < OMNIK_NFIELDS; i++)
		r.value[i] = 1;
	assert_int_equal(omnik_encode_data(&r, 0x7D, f, sizeof(f), &len),
	    OMNIK_OK);

	const struct { uint16_t raw; int64_t want; } temps[] = {
		{ 0xFF2E, OMNIK_ABSENT }, { 0x8000, OMNIK_ABSENT },
		{ 0xFFFF, OMNIK_ABSENT }, { 0x7FFF, 0x7FFF }, { 0, 0 },
		{ 431, 431 },
	};
	for (size_t i = 0; i < sizeof(temps) / sizeof(temps[0]); i++) {
		patch16(f, len, 31, temps[i].raw);
		assert_int_equal(omnik_decode(f, len, &m), OMNIK_OK);
		assert_true(m.reading.value[OMNIK_TEMP] == temps[i].want);
	}
	/* 0xFFFF is "no such channel"; 0xFFFE is a value. */
	patch16(f, len, 59, 0xFFFF);
	patch16(f, len, 35, 0xFFFE);
	assert_int_equal(omnik_decode(f, len, &m), OMNIK_OK);
	assert_true(m.reading.value[OMNIK_PAC1] == OMNIK_ABSENT);
	assert_true(m.reading.value[OMNIK_VPV2] == 0xFFFE);
	/* Four-byte fields: all ones is absent. */
	patch16(f, len, 71, 0xFFFF);
	patch16(f, len, 73, 0xFFFF);
	assert_int_equal(omnik_decode(f, len, &m), OMNIK_OK);
	assert_true(m.reading.value[OMNIK_ETOTAL] == OMNIK_ABSENT);
	patch16(f, len, 73, 0xFFFE);
	assert_int_equal(omnik_decode(f, len, &m), OMNIK_OK);
	assert_true(m.reading.value[OMNIK_ETOTAL] == 0xFFFFFFFE);
}

/* Firmware offsets by length, PROTOCOL.md: 97 for 0x7D, 101 for 0x81+. */
static void
test_firmware_offsets(void **state)
{
	struct omnik_reading r;
	struct omnik_msg m;
	uint8_t f[OMNIK_FRAME_MAX];
	size_t len;

	(void)state;
	omnik_reading_clear(&r);
	strcpy(r.fw_main, "MAIN-FW");
	strcpy(r.fw_slave, "SLAVE-FW");
	assert_int_equal(omnik_encode_data(&r, 0x7D, f, sizeof(f), &len),
	    OMNIK_OK);
	assert_memory_equal(f + 97, "MAIN-FW", 7);
	assert_memory_equal(f + 117, "SLAVE-FW", 8);
	assert_int_equal(omnik_encode_data(&r, 0x81, f, sizeof(f), &len),
	    OMNIK_OK);
	assert_int_equal(len, 143);
	assert_memory_equal(f + 101, "MAIN-FW", 7);
	assert_memory_equal(f + 121, "SLAVE-FW", 8);
	/* Unknown bytes at 97..100 must not leak into the firmware string. */
	memcpy(f + 97, "\x01\x02\x03\x04", 4);
	f[len - 2] = omnik_checksum(f, len);
	assert_int_equal(omnik_decode(f, len, &m), OMNIK_OK);
	assert_string_equal(m.reading.fw_main, "MAIN-FW");
	assert_string_equal(m.reading.fw_slave, "SLAVE-FW");
	assert_int_equal(omnik_encode_data(&r, 0xA9, f, sizeof(f), &len),
	    OMNIK_OK);
	assert_int_equal(len, 183);
	assert_int_equal(omnik_decode(f, len, &m), OMNIK_OK);
	assert_string_equal(m.reading.fw_main, "MAIN-FW");
	/* 99 bytes: no firmware at all. */
	assert_int_equal(omnik_encode_data(&r, 0x55, f, sizeof(f), &len),
	    OMNIK_OK);
	assert_int_equal(omnik_decode(f, len, &m), OMNIK_OK);
	assert_false(m.reading.has_fw);
}

static void
test_text_and_info_frames(void **state)
{
	uint8_t f[OMNIK_FRAME_MAX];
	struct omnik_msg m;
	size_t len;
	uint8_t info[0x29] = { 0x80, 0x01 };

	(void)state;
	len = vector_make_frame(f, 0x51, 0xF0, 1601299688,
	    (const uint8_t *)"NO INVERTER DATA\r\n", 18);
	assert_int_equal(len, 32);
	assert_int_equal(omnik_decode(f, len, &m), OMNIK_OK);
	assert_int_equal(m.kind, OMNIK_MSG_TEXT);
	assert_string_equal(m.text, "NO INVERTER DATA");

	memcpy(info + 2, "H4.01.51Y4.0.02W1.0.57(GL17-07-261-D)", 37);
	len = vector_make_frame(f, 0x51, 0xB1, 504123456, info, 0x29);
	assert_int_equal(len, 55);
	assert_int_equal(omnik_decode(f, len, &m), OMNIK_OK);
	assert_int_equal(m.kind, OMNIK_MSG_LOGGER_INFO);
	assert_string_equal(m.text, "H4.01.51Y4.0.02W1.0.57(GL17-07-261-D)");
	assert_int_equal(m.kit_sn, 504123456);

	/* Unprintable bytes never reach CSV, JSON or MQTT topics. */
	len = vector_make_frame(f, 0x41, 0xF0, 1, (const uint8_t *)"A\x01,\xff", 4);
	assert_int_equal(omnik_decode(f, len, &m), OMNIK_OK);
	assert_string_equal(m.text, "A?,?");

	assert_int_equal(omnik_encode_text(7, 0x41, "DATA SEND IS OK", f,
	    sizeof(f), &len), OMNIK_OK);
	assert_int_equal(len, 29);
	assert_int_equal(omnik_decode(f, len, &m), OMNIK_OK);
	assert_string_equal(m.text, "DATA SEND IS OK");
}

static void
test_malformed_frames(void **state)
{
	uint8_t f[OMNIK_FRAME_MAX] = { 0 };
	struct omnik_msg m;
	size_t len;
	uint8_t payload[0x40] = { 0x81, 0x02, 0x01 };

	(void)state;
	assert_int_equal(omnik_decode(f, 0, &m), OMNIK_ERR_SHORT);
	assert_int_equal(omnik_decode(f, 13, &m), OMNIK_ERR_SHORT);
	len = vector_make_frame(f, 0x41, 0xF0, 1, (const uint8_t *)"x", 1);
	f[0] = 0x69;
	assert_int_equal(omnik_decode(f, len, &m), OMNIK_ERR_START);
	f[0] = 0x68;
	assert_int_equal(omnik_decode(f, len - 1, &m), OMNIK_ERR_LENGTH);
	f[len - 1] = 0x17;
	assert_int_equal(omnik_decode(f, len, &m), OMNIK_ERR_END);
	f[len - 1] = 0x16;
	f[len - 2] ^= 1;
	assert_int_equal(omnik_decode(f, len, &m), OMNIK_ERR_CHECKSUM);
	/* A data frame too short for the common fields is not a reading. */
	len = vector_make_frame(f, 0x41, 0xB0, 1, payload, sizeof(payload));
	assert_int_equal(omnik_decode(f, len, &m), OMNIK_ERR_TRUNCATED);
	len = vector_make_frame(f, 0x41, 0x99, 1, payload, 4);
	assert_int_equal(omnik_decode(f, len, &m), OMNIK_ERR_TYPE);
	assert_string_not_equal(omnik_strerror(OMNIK_ERR_CHECKSUM), "");
	assert_string_equal(omnik_strerror((enum omnik_err)999),
	    "unknown error");
}

static void
test_format_value(void **state)
{
	const struct { enum omnik_field f; int64_t v; const char *want; } c[] = {
		{ OMNIK_TEMP, 431, "43.1" }, { OMNIK_TEMP, 0, "0.0" },
		{ OMNIK_FAC1, 5006, "50.06" }, { OMNIK_FAC1, 5000, "50.0" },
		{ OMNIK_ETODAY, 740, "7.4" }, { OMNIK_ETODAY, 1016, "10.16" },
		{ OMNIK_ETODAY, 5, "0.05" }, { OMNIK_ETODAY, 100, "1.0" },
		{ OMNIK_PAC1, 2615, "2615" }, { OMNIK_PAC1, 0, "0" },
		{ OMNIK_ETOTAL, 654321, "65432.1" },
		{ OMNIK_ETOTAL, 4294967294LL, "429496729.4" },
		{ OMNIK_HTOTAL, 54321, "54321" },
		{ OMNIK_TEMP, -5, "-0.5" }, { OMNIK_TEMP, OMNIK_ABSENT, "" },
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		size_t n = omnik_format_value(c[i].f, c[i].v, buf, sizeof(buf));
		assert_string_equal(buf, c[i].want);
		assert_int_equal(n, strlen(c[i].want));
	}
	/* Never past the buffer. */
	omnik_format_value(OMNIK_ETOTAL, 654321, buf, 4);
	assert_string_equal(buf, "654");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors_whole),
		cmocka_unit_test(test_vectors_bytewise),
		cmocka_unit_test(test_vectors_random_splits),
		cmocka_unit_test(test_vectors_concatenated),
		cmocka_unit_test(test_poll_request),
		cmocka_unit_test(test_roundtrip_random),
		cmocka_unit_test(test_encoder_rejects),
		cmocka_unit_test(test_absent_values),
		cmocka_unit_test(test_firmware_offsets),
		cmocka_unit_test(test_text_and_info_frames),
		cmocka_unit_test(test_malformed_frames),
		cmocka_unit_test(test_format_value),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
