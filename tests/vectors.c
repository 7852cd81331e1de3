/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vectors.c: load vectors.tsv (name TAB hex TAB JSON [TAB source]) with
 * jansson (also real-frames.tsv) and
 * compare decoded messages with the expected JSON objects.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vectors.h"

const char *
vectors_path(void)
{
	const char *p = getenv("OMNIK_VECTORS");

	return p && *p ? p : "tests/data/vectors.tsv";
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
vectors_load(const char *path, struct vector **out)
{
	FILE *fp = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	struct vector *v = NULL;
	int n = 0;

	if (fp == NULL) {
		perror(path);
		return -1;
	}
	while (getline(&line, &cap, fp) > 0) {
		char *name, *hex, *js, *save = NULL;
		json_error_t jerr;
		struct vector *nv;
		size_t hl;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		name = strtok_r(line, "\t", &save);
		hex = strtok_r(NULL, "\t", &save);
		/* A fourth column (real-frames.tsv: where it was published)
		 * is not part of the JSON. */
		js = strtok_r(NULL, "\t\n", &save);
		if (!name || !hex || !js) {
			fprintf(stderr, "%s: malformed line\n", path);
			goto fail;
		}
		nv = realloc(v, sizeof(*v) * (size_t)(n + 1));
		if (nv == NULL)
			goto fail;
		v = nv;
		memset(&v[n], 0, sizeof(v[n]));
		snprintf(v[n].name, sizeof(v[n].name), "%s", name);
		hl = strlen(hex);
		v[n].len = hl / 2;
		v[n].bytes = malloc(v[n].len + 1);
		for (size_t i = 0; i < v[n].len; i++) {
			int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
			if (hi < 0 || lo < 0) {
				fprintf(stderr, "%s: %s: bad hex\n", path, name);
				n++;
				goto fail;
			}
			v[n].bytes[i] = (uint8_t)(hi << 4 | lo);
		}
		v[n].expected = json_loads(js, 0, &jerr);
		if (v[n].expected == NULL || !json_is_array(v[n].expected)) {
			fprintf(stderr, "%s: %s: bad JSON: %s\n", path, name,
			    jerr.text);
			n++;
			goto fail;
		}
		n++;
	}
	free(line);
	fclose(fp);
	*out = v;
	return n;
fail:
	free(line);
	fclose(fp);
	vectors_free(v, n);
	return -1;
}

void
vectors_free(struct vector *v, int n)
{
	for (int i = 0; i < n; i++) {
		free(v[i].bytes);
		json_decref(v[i].expected);
	}
	free(v);
}

bool
vector_expects_bad(const json_t *exp)
{
	const char *c = json_string_value(json_object_get(exp, "checksum"));

	return c != NULL && strcmp(c, "bad") == 0;
}

static const char *
kind_name(enum omnik_kind k)
{
	switch (k) {
	case OMNIK_MSG_DATA:
		return "data";
	case OMNIK_MSG_TEXT:
		return "text";
	case OMNIK_MSG_LOGGER_INFO:
		return "logger";
	case OMNIK_MSG_REQUEST:
		return "request";
	}
	return "?";
}

static int
field_by_name(const char *key)
{
	for (int i = 0; i < OMNIK_NFIELDS; i++)
		if (strcmp(omnik_fields[i].name, key) == 0)
			return i;
	return -1;
}

bool
vector_check(const json_t *exp, const struct omnik_msg *m, char *why,
    size_t n)
{
	const char *key;
	json_t *val;
	char ctrl[8];
	const struct omnik_reading *r = &m->reading;
	int seen_fields = 0;

	snprintf(ctrl, sizeof(ctrl), "%02X%02X", m->ctrl1, m->ctrl2);
	json_object_foreach((json_t *)exp, key, val) {
		int f;

		if (strcmp(key, "kit_sn") == 0) {
			if ((json_int_t)m->kit_sn != json_integer_value(val)) {
				snprintf(why, n, "kit_sn %lu, want %lld",
				    (unsigned long)m->kit_sn,
				    (long long)json_integer_value(val));
				return false;
			}
		} else if (strcmp(key, "ctrl") == 0) {
			if (strcmp(ctrl, json_string_value(val)) != 0) {
				snprintf(why, n, "ctrl %s, want %s", ctrl,
				    json_string_value(val));
				return false;
			}
		} else if (strcmp(key, "type") == 0) {
			if (strcmp(kind_name(m->kind),
			    json_string_value(val)) != 0) {
				snprintf(why, n, "type %s, want %s",
				    kind_name(m->kind), json_string_value(val));
				return false;
			}
		} else if (strcmp(key, "text") == 0) {
			if (strcmp(m->text, json_string_value(val)) != 0) {
				snprintf(why, n, "text '%s', want '%s'",
				    m->text, json_string_value(val));
				return false;
			}
		} else if (strcmp(key, "Id") == 0) {
			if (strcmp(r->inverter_sn, json_string_value(val))) {
				snprintf(why, n, "Id '%s', want '%s'",
				    r->inverter_sn, json_string_value(val));
				return false;
			}
		} else if (strcmp(key, "FW_MAIN") == 0 ||
		    strcmp(key, "FW_SLAVE") == 0) {
			const char *got = key[3] == 'M' ? r->fw_main :
			    r->fw_slave;
			if (!r->has_fw ||
			    strcmp(got, json_string_value(val)) != 0) {
				snprintf(why, n, "%s '%s'%s, want '%s'", key,
				    got, r->has_fw ? "" : " (none)",
				    json_string_value(val));
				return false;
			}
		} else if ((f = field_by_name(key)) >= 0) {
			int64_t v = r->value[f];
			double scale = pow(10, omnik_fields[f].decimals);

			seen_fields++;
			if (json_is_null(val)) {
				if (v != OMNIK_ABSENT) {
					snprintf(why, n, "%s %lld, want null",
					    key, (long long)v);
					return false;
				}
			} else if (v == OMNIK_ABSENT ||
			    fabs((double)v / scale - json_number_value(val)) >
			    1e-9) {
				snprintf(why, n, "%s %s%g, want %g", key,
				    v == OMNIK_ABSENT ? "absent " : "",
				    v == OMNIK_ABSENT ? 0.0 : (double)v / scale,
				    json_number_value(val));
				return false;
			}
		} else {
			snprintf(why, n, "unknown expected key '%s'", key);
			return false;
		}
	}
	if (m->kind == OMNIK_MSG_DATA) {
		/* Every measured field is listed (all but RunMode). */
		if (seen_fields != OMNIK_NFIELDS - 1) {
			snprintf(why, n, "expected %d fields, vector lists %d",
			    OMNIK_NFIELDS - 1, seen_fields);
			return false;
		}
		if (r->has_fw && json_object_get(exp, "FW_MAIN") == NULL) {
			snprintf(why, n, "firmware '%s' decoded where the "
			    "frame has none", r->fw_main);
			return false;
		}
	}
	return true;
}

size_t
vector_make_frame(uint8_t *buf, uint8_t c1, uint8_t c2, uint32_t sn,
    const uint8_t *payload, uint8_t plen)
{
	size_t len = (size_t)plen + OMNIK_OVERHEAD;

	buf[0] = 0x68;
	buf[1] = plen;
	buf[2] = c1;
	buf[3] = c2;
	for (int i = 0; i < 4; i++)
		buf[4 + i] = buf[8 + i] = (uint8_t)(sn >> (8 * i));
	if (plen)
		memcpy(buf + 12, payload, plen);
	buf[len - 2] = omnik_checksum(buf, len);
	buf[len - 1] = 0x16;
	return len;
}

uint64_t
test_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}
