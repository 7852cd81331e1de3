/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * omnik.h: the Omnik WiFi-kit protocol (V4, 0x68 ... 0x16).
 *
 *   off  size
 *   0    1   0x68 start
 *   1    1   L: payload length (bytes 12 .. 11+L)
 *   2    1   C1: 0x40 request, 0x41 Omnik kit, 0x51 external logger
 *   3    1   C2: 0x30/0xB1 request, 0xB0 inverter data, 0xF0 text,
 *                0xB1 logger info (with a payload longer than 2)
 *   4    4   kit serial, little-endian
 *   8    4   kit serial again
 *   12   L   payload (numbers inside are big-endian)
 *   12+L 1   checksum: sum of bytes 1 .. 11+L, mod 256
 *   13+L 1   0x16 end
 *
 * This module promises pure code: no I/O, no allocation, no global state.
 * Every function works on caller-owned memory and is safe on any input.
 */
#ifndef OMNIK_H
#define OMNIK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OMNIK_START 0x68
#define OMNIK_END 0x16
#define OMNIK_HEADER_LEN 12		/* start .. second serial */
#define OMNIK_OVERHEAD 14		/* header + checksum + end */
#define OMNIK_FRAME_MIN OMNIK_OVERHEAD	/* L = 0 */
#define OMNIK_FRAME_MAX (255 + OMNIK_OVERHEAD)

/* A value that the frame does not carry (0xFFFF, offline temperature). */
#define OMNIK_ABSENT INT64_MIN

/*
 * The measured fields, in the column order of the seed script's CSV.
 * Values are kept as scaled integers (fixed point): value / 10^decimals.
 */
enum omnik_field {
	OMNIK_TEMP,
	OMNIK_VPV1, OMNIK_VPV2, OMNIK_VPV3,
	OMNIK_IPV1, OMNIK_IPV2, OMNIK_IPV3,
	OMNIK_IAC1, OMNIK_IAC2, OMNIK_IAC3,
	OMNIK_VAC1, OMNIK_VAC2, OMNIK_VAC3,
	OMNIK_FAC1, OMNIK_PAC1,
	OMNIK_FAC2, OMNIK_PAC2,
	OMNIK_FAC3, OMNIK_PAC3,
	OMNIK_ETODAY, OMNIK_ETOTAL, OMNIK_HTOTAL,
	OMNIK_RUNMODE,
	OMNIK_NFIELDS
};

struct omnik_field_info {
	const char *name;	/* seed CSV column name, e.g. "VPV1" */
	const char *unit;	/* "V", "A", "Hz", "W", "kWh", "h", "°C", "" */
	uint8_t offset;		/* from the frame start */
	uint8_t size;		/* 2 or 4 bytes, big-endian */
	uint8_t decimals;	/* value = raw / 10^decimals */
};

extern const struct omnik_field_info omnik_fields[OMNIK_NFIELDS];

#define OMNIK_SERIAL_LEN 16
#define OMNIK_FW_LEN 20
#define OMNIK_FAULT_OFFSET 81
#define OMNIK_FAULT_LEN 16

/*
 * Layouts of the data frame, told apart by payload bytes 13..14 (frame
 * offsets 13, 14) and the length L; byte 12 is 0x81 for a current record
 * and 0x80 for a buffered one. See the variant table in decode.c and
 * docs/PROTOCOL.md. OMNIK_VARIANT_OMNIK is 0, so a cleared reading
 * encodes as the Omnik layout.
 */
enum omnik_variant {
	OMNIK_VARIANT_OMNIK,		/* 81 02 01, any L: Omnik 1- and 3-phase */
	OMNIK_VARIANT_810105,		/* 81 01 05, L 0x59: single-phase, other make */
	OMNIK_VARIANT_810304,		/* 81 03 04, L 0x55: frequency /10 */
	OMNIK_VARIANT_UNKNOWN,		/* anything else: common fields only */
	OMNIK_NVARIANTS,
	/*
	 * Not a frame layout: a reading read from the kit's web status page
	 * (omnik_status_parse). It has no entry in omnik_variants[] and no
	 * frame; its label is "http".
	 */
	OMNIK_VARIANT_HTTP = OMNIK_NVARIANTS
};

struct omnik_variant_info {
	const char *name;	/* what the CSV and the journal say */
	uint8_t marker[2];	/* frame bytes 13, 14 */
	uint8_t len_min, len_max;	/* L this layout is known with */
	uint8_t phases;		/* AC phases the layout can carry */
	bool fault, fw;		/* fault block at 81, firmware by length */
	/*
	 * Per field: 0 = not in this layout (reported absent), otherwise
	 * the factor from the raw value to the field's fixed point
	 * (omnik_fields[].decimals): 10 for a frequency sent in 0.1 Hz.
	 */
	uint8_t mult[OMNIK_NFIELDS];
};

extern const struct omnik_variant_info omnik_variants[OMNIK_NVARIANTS];

/*
 * Plausibility limits, one per field, in the field's fixed point: a value
 * outside [min, max] (and not 0 where zero_ok: an offline inverter sends
 * 0 V, 0 Hz) makes the frame implausible. max_per_phase: max is per AC
 * phase the reading carries (E today). Cross-field rules are in
 * omnik_check(); rules across readings live outside proto/ (invstate.h).
 */
struct omnik_limit {
	int64_t min, max;
	bool zero_ok;
	bool max_per_phase;
};

extern const struct omnik_limit omnik_limits[OMNIK_NFIELDS];

/* The longest variant label ("unknown-" and six hex digits) and NUL. */
#define OMNIK_VARIANT_LABEL 16

/* One inverter data frame (C2 = 0xB0), decoded. */
struct omnik_reading {
	uint32_t kit_sn;
	uint8_t ctrl1;			/* 0x41 or 0x51 */
	uint8_t frame_len;		/* L, the payload length */
	uint8_t variant;		/* enum omnik_variant */
	uint8_t marker[3];		/* frame bytes 12..14 as sent */
	uint8_t phases;			/* AC phases with a voltage, >= 1 */
	bool historical;		/* byte 12 0x80: a buffered record */
	/* Printable ASCII, leading and trailing blanks, NULs and control
	 * bytes trimmed (decode.c: serial_copy), never empty. */
	char inverter_sn[OMNIK_SERIAL_LEN + 1];
	int64_t value[OMNIK_NFIELDS];	/* scaled, or OMNIK_ABSENT */
	bool has_fault;
	uint8_t fault[OMNIK_FAULT_LEN];	/* raw bytes 81..96 */
	bool has_fw;
	char fw_main[OMNIK_FW_LEN + 1];	/* printable ASCII, trimmed */
	char fw_slave[OMNIK_FW_LEN + 1];
};

enum omnik_kind {
	OMNIK_MSG_DATA,		/* inverter data: msg.reading */
	OMNIK_MSG_TEXT,		/* "DATA SEND IS OK", "NO INVERTER DATA": msg.text */
	OMNIK_MSG_LOGGER_INFO,	/* 51 B1: logger firmware string in msg.text */
	OMNIK_MSG_REQUEST,	/* poll request 40 30 or 41 B1 */
};

struct omnik_msg {
	enum omnik_kind kind;
	uint32_t kit_sn;
	uint8_t ctrl1, ctrl2;
	uint16_t frame_size;	/* whole frame, L + 14 */
	char text[256];		/* printable ASCII, CR LF and NUL padding removed */
	char reason[96];	/* OMNIK_ERR_IMPLAUSIBLE: field, value, limit */
	struct omnik_reading reading;
};

/* Why a frame did not decode. */
enum omnik_err {
	OMNIK_OK = 0,
	OMNIK_ERR_SHORT,	/* fewer than 14 bytes */
	OMNIK_ERR_START,	/* first byte is not 0x68 */
	OMNIK_ERR_LENGTH,	/* size is not L + 14 */
	OMNIK_ERR_END,		/* last byte is not 0x16 */
	OMNIK_ERR_CHECKSUM,	/* checksum mismatch */
	OMNIK_ERR_TYPE,		/* unknown control code */
	OMNIK_ERR_TRUNCATED,	/* data frame too short for the common fields */
	OMNIK_ERR_SPACE,	/* encoder: output buffer too small */
	OMNIK_ERR_RANGE,	/* encoder: a value does not fit its field */
	OMNIK_ERR_IMPLAUSIBLE,	/* a value outside its limit: msg.reason */
};

const char *omnik_strerror(enum omnik_err err);

/* Sum of bytes 1 .. len-3 of a frame of len bytes, mod 256. */
uint8_t omnik_checksum(const uint8_t *frame, size_t len);

/*
 * Decode one whole frame (start byte to end byte). Checks length, end byte
 * and checksum first: a frame that fails any check never becomes a reading.
 * A data frame whose values break the limits (omnik_check) returns
 * OMNIK_ERR_IMPLAUSIBLE with out->reason set; out->reading then holds what
 * the frame says, for the message only: it is not a reading.
 */
enum omnik_err omnik_decode(const uint8_t *frame, size_t len,
    struct omnik_msg *out);

/*
 * The per-frame limits: every field against omnik_limits, E today against
 * E total, no current, frequency or power on a phase without a voltage, a
 * serial. OMNIK_OK, or OMNIK_ERR_IMPLAUSIBLE with the first broken rule
 * in why ("FAC1 335.00 Hz outside 45.00..65.00").
 */
enum omnik_err omnik_check(const struct omnik_reading *r, char *why,
    size_t n);

/* "omnik", "810105", ..., "unknown-8104a1" (the bytes 12..14 seen). */
const char *omnik_variant_label(const struct omnik_reading *r,
    char buf[OMNIK_VARIANT_LABEL]);
/*
 * The reverse, for a reading read back from the journal: sets r->variant,
 * r->marker, r->historical and r->phases (from the voltages in r->value)
 * from a label omnik_variant_label wrote. False, and r unchanged, for a
 * label it did not write.
 */
bool omnik_variant_parse(const char *label, bool historical,
    struct omnik_reading *r);

/* Data frames shorter than this cannot hold the common fields. */
#define OMNIK_DATA_MIN_SIZE 83

/*
 * Encoders, for tests, the kit simulator and benchmarks. Each writes a whole
 * frame into out (cap bytes) and stores its size in *outlen.
 *
 * omnik_encode_data: payload_len is L (0x55, 0x7D, 0x81, 0xA9, or any value
 * >= OMNIK_DATA_MIN_SIZE - 14 for the Omnik layout; the variant's own L
 * for the others). r->variant picks the layout, r->historical the 0x80
 * marker; an unknown variant writes r->marker and the common fields.
 * Absent values, and fields the layout lacks, are written as all-ones
 * (0xFFFF / 0xFFFFFFFF); present values must fit their field (and be a
 * multiple of the layout's factor) or OMNIK_ERR_RANGE.
 */
enum omnik_err omnik_encode_data(const struct omnik_reading *r,
    uint8_t payload_len, uint8_t *out, size_t cap, size_t *outlen);
enum omnik_err omnik_encode_text(uint32_t kit_sn, uint8_t ctrl1,
    const char *text, uint8_t *out, size_t cap, size_t *outlen);
/* The 16-byte poll request (40 30) for a kit serial. */
enum omnik_err omnik_encode_request(uint32_t kit_sn, uint8_t *out,
    size_t cap, size_t *outlen);

/*
 * Format a scaled value the way the seed's Python wrote floats: the shortest
 * decimal with at least one digit after the point ("0.0", "7.4", "50.06"),
 * and plain integers for fields without decimals. Absent values give "".
 * Returns the length written (buf always NUL-terminated if n > 0).
 */
size_t omnik_format_value(enum omnik_field f, int64_t v, char *buf, size_t n);

/* Where the firmware strings start for a payload length L, 0 if none. */
size_t omnik_fw_offset(uint8_t payload_len);

/*
 * AC power of all phases together (W), in *sum; false if no phase carries
 * a value (then *sum is 0).
 */
bool omnik_total_power(const struct omnik_reading *r, int64_t *sum);

/* A reading with every value absent and empty strings. */
void omnik_reading_clear(struct omnik_reading *r);

/*
 * The kit's web status page (status.c), for kits that answer no poll on
 * TCP 8899. Three kinds:
 *
 *   OMNIK_PAGE_JS    /js/status.js: webData="..." or myDeviceArray[0]="..."
 *   OMNIK_PAGE_HTML  /status.html (Basic auth): the same variables inline
 *   OMNIK_PAGE_JSON  /status.json?CMD=inv_query: "i_sn", "i_pow_n", ...
 *
 * The comma list of webData is: inverter serial, main firmware, slave
 * firmware, model, rated power (W), current power (W), E today (0.01
 * kWh), E total (0.1 kWh), alarm, ... . The reading has variant
 * OMNIK_VARIANT_HTTP and only what the page carries: the inverter serial,
 * the firmware, PAC1 (the current power, all phases together), E today
 * and E total; every other field is absent. Known garbage is refused
 * with OMNIK_ERR_IMPLAUSIBLE and the reason: a serial of only 'X' (the
 * page of a kit without an inverter), E today equal to E total, the
 * 4294967295 "no value" in a field, no value at all, and whatever
 * omnik_check refuses. A page without the data is OMNIK_ERR_TYPE.
 */
enum omnik_page {
	OMNIK_PAGE_JS,
	OMNIK_PAGE_JSON,
	OMNIK_PAGE_HTML,
};

#define OMNIK_MODEL_LEN 31
#define OMNIK_ALARM_LEN 31

struct omnik_status {
	struct omnik_reading reading;	/* kit_sn: the page's or 0 */
	int64_t rated_power;		/* W, or OMNIK_ABSENT */
	char model[OMNIK_MODEL_LEN + 1];	/* printable ASCII, trimmed */
	char alarm[OMNIK_ALARM_LEN + 1];
	/* Where in the page the data was: what a journal keeps of it. */
	size_t raw_off, raw_len;
};

/* Parse len bytes of a page (any bytes; no NUL needed). */
enum omnik_err omnik_status_parse(enum omnik_page kind, const char *body,
    size_t len, struct omnik_status *out, char *why, size_t n);

#endif /* OMNIK_H */
