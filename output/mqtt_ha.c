/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mqtt_ha.c: what the MQTT output shows Home Assistant: the sensor
 * table, the sensors of each inverter variant, the discovery configs and
 * the state message, and the inverters remembered (mqtt_int.h).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "journal.h"
#include "mqtt.h"
#include "mqtt_int.h"


/* What a sensor shows besides an omnik field. */
enum {
	SV_PAC = -1,		/* the sum of PAC1..3 */
	SV_TIME = -2,		/* the reading's time (timestamp) */
	SV_RUN = -3,		/* run mode as a binary sensor */
	SV_FAULT = -4,		/* the raw fault bytes, hex */
};

struct sensor {
	const char *name;	/* HA entity name, under the device name */
	const char *key;	/* JSON key in the state message */
	int field;		/* omnik field, or SV_* */
	const char *unit, *device_class, *state_class;
	bool expires;		/* a live value: unavailable when stale */
	bool base;		/* every variant has it (see variant_sensors) */
};

static const struct sensor sensors[] = {
	{ "Power", "pac", SV_PAC, "W", "power", "measurement", true, true },
	{ "Energy today", "etoday", OMNIK_ETODAY, "kWh", "energy",
	    "total_increasing", false, true },
	{ "Energy total", "etotal", OMNIK_ETOTAL, "kWh", "energy",
	    "total_increasing", false, true },
	{ "Temperature", "temp", OMNIK_TEMP, "°C", "temperature",
	    "measurement", true, true },
	{ "PV1 voltage", "vpv1", OMNIK_VPV1, "V", "voltage", "measurement",
	    true, true },
	{ "PV2 voltage", "vpv2", OMNIK_VPV2, "V", "voltage", "measurement",
	    true, true },
	{ "PV3 voltage", "vpv3", OMNIK_VPV3, "V", "voltage", "measurement",
	    true, false },
	{ "PV1 current", "ipv1", OMNIK_IPV1, "A", "current", "measurement",
	    true, true },
	{ "PV2 current", "ipv2", OMNIK_IPV2, "A", "current", "measurement",
	    true, true },
	{ "PV3 current", "ipv3", OMNIK_IPV3, "A", "current", "measurement",
	    true, false },
	{ "AC1 voltage", "vac1", OMNIK_VAC1, "V", "voltage", "measurement",
	    true, true },
	{ "AC2 voltage", "vac2", OMNIK_VAC2, "V", "voltage", "measurement",
	    true, false },
	{ "AC3 voltage", "vac3", OMNIK_VAC3, "V", "voltage", "measurement",
	    true, false },
	{ "AC1 current", "iac1", OMNIK_IAC1, "A", "current", "measurement",
	    true, true },
	{ "AC2 current", "iac2", OMNIK_IAC2, "A", "current", "measurement",
	    true, false },
	{ "AC3 current", "iac3", OMNIK_IAC3, "A", "current", "measurement",
	    true, false },
	{ "AC1 frequency", "fac1", OMNIK_FAC1, "Hz", "frequency",
	    "measurement", true, true },
	{ "AC2 frequency", "fac2", OMNIK_FAC2, "Hz", "frequency",
	    "measurement", true, false },
	{ "AC3 frequency", "fac3", OMNIK_FAC3, "Hz", "frequency",
	    "measurement", true, false },
	{ "AC1 power", "pac1", OMNIK_PAC1, "W", "power", "measurement", true,
	    true },
	{ "AC2 power", "pac2", OMNIK_PAC2, "W", "power", "measurement", true,
	    false },
	{ "AC3 power", "pac3", OMNIK_PAC3, "W", "power", "measurement", true,
	    false },
	{ "Operating hours", "htotal", OMNIK_HTOTAL, "h", "duration",
	    "total_increasing", false, true },
	{ "Generating", "generating", SV_RUN, NULL, "running", NULL, true,
	    true },
	{ "Last reading", "time", SV_TIME, NULL, "timestamp", NULL, false,
	    true },
	{ "Fault bytes", "fault", SV_FAULT, NULL, NULL, NULL, false, true },
};

#define NSENSORS ((int)(sizeof(sensors) / sizeof(sensors[0])))

int
mqtt_sensor_count(void)
{
	return NSENSORS;
}

/*
 * The sensors of an inverter, from the layout its frame was decoded with
 * (the variant table in proto/decode.c, docs/PROTOCOL.md). This is the
 * one place that knows it; the sensors announced and the model name
 * follow from it.
 *
 * A base sensor is announced for every layout that carries its field,
 * whatever the first reading's values (an offline frame has no
 * temperature: its entity is announced all the same). Channels a
 * single-phase, two-string Omnik does not have read 0xFFFF and are
 * announced once a reading carries them (the 183-byte frames write 0
 * there instead, so they get all three). Run mode and the fault bytes
 * only where the layout has them. The model says the layout and the
 * frame size; no source maps frames or serials to a commercial model.
 */
static uint32_t
variant_sensors(const struct omnik_reading *r, char *model, size_t n)
{
	const struct omnik_variant_info *vi = &omnik_variants[
	    r->variant < OMNIK_NVARIANTS ? r->variant : OMNIK_VARIANT_UNKNOWN];
	uint32_t set = 0;

	for (int i = 0; i < NSENSORS; i++) {
		const struct sensor *s = &sensors[i];
		bool has;

		if (s->field >= 0)
			has = vi->mult[s->field] != 0 && (s->base ||
			    r->value[s->field] != OMNIK_ABSENT);
		else if (s->field == SV_RUN)
			has = vi->mult[OMNIK_RUNMODE] != 0;
		else if (s->field == SV_FAULT)
			has = vi->fault;
		else
			has = true;	/* the power sum, the reading's time */
		if (has)
			set |= 1u << i;
	}
	if (model) {
		char lab[OMNIK_VARIANT_LABEL];

		if (r->variant == OMNIK_VARIANT_OMNIK)
			snprintf(model, n, "Omnik inverter (V4 data frame, "
			    "%u bytes%s)", (unsigned)r->frame_len +
			    OMNIK_OVERHEAD, r->ctrl1 == 0x51 ?
			    ", external logger" : "");
		else
			snprintf(model, n, "Inverter (%s layout, %u-byte "
			    "frame)", omnik_variant_label(r, lab),
			    (unsigned)r->frame_len + OMNIK_OVERHEAD);
	}
	return set;
}

static void
lower(const char *s, char *buf, size_t n)
{
	size_t k;

	for (k = 0; s[k] && k + 1 < n; k++)
		buf[k] = (char)(s[k] >= 'A' && s[k] <= 'Z' ? s[k] + 32 : s[k]);
	buf[k] = '\0';
}

/* Serials go into topics and ids: keep [A-Za-z0-9_-] only. */
void
mq_safe_id(const char *s, char *buf, size_t n)
{
	size_t k = 0;

	for (; *s && k + 1 < n; s++) {
		char c = *s;

		buf[k++] = ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-') ? c : '_';
	}
	buf[k] = '\0';
}

/* A JSON string's contents: printable ASCII, quotes and \ escaped. */
static void
json_str(const char *s, char *buf, size_t n)
{
	size_t k = 0;

	for (; *s && k + 3 < n; s++) {
		if (*s == '"' || *s == '\\')
			buf[k++] = '\\';
		buf[k++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	}
	buf[k] = '\0';
}

/*
 * A total for Home Assistant: total_increasing reads any drop as a new
 * meter cycle (and adds the whole lifetime again to the statistics), and
 * offline frames carry 0 hours. So a total below the last one published
 * is replaced by that last one: the meter did not go back, the frame
 * just does not say. Absent or 0: the last one too (null before any;
 * an offline frame's 0 hours is no reading of the meter).
 */
static int64_t
monotonic(int64_t v, int64_t *last)
{
	if (v != OMNIK_ABSENT && v > 0 && (*last == OMNIK_ABSENT || v >= *last))
		*last = v;
	return *last;
}

/*
 * The state message: every key of every sensor, null when the reading
 * does not carry it (a template on a missing key warns all night).
 */
size_t
mq_state_json(const struct journal_row *row, struct mq_inv *inv, char *buf,
    size_t n)
{
	const struct omnik_reading *r = &row->r;
	char t[32], v[32], name[16], sn[40], fw[64], fw2[64];
	struct tm tm;
	time_t s = row->when.tv_sec;
	size_t len;
	int64_t pac;

	gmtime_r(&s, &tm);
	strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_str(r->inverter_sn, sn, sizeof(sn));
	len = (size_t)snprintf(buf, n, "{\"time\":\"%s\",\"inverter_sn\":"
	    "\"%s\",\"kit_sn\":%lu,\"journal_id\":%lld", t, sn,
	    (unsigned long)r->kit_sn, (long long)row->id);
	if (len < n) {
		if (omnik_total_power(r, &pac))
			len += (size_t)snprintf(buf + len, n - len,
			    ",\"pac\":%lld", (long long)pac);
		else
			len += (size_t)snprintf(buf + len, n - len,
			    ",\"pac\":null");
	}
	for (int i = 0; i < OMNIK_NFIELDS && len < n; i++) {
		int64_t x = r->value[i];

		if (i == OMNIK_ETOTAL)
			x = monotonic(x, &inv->etotal);
		else if (i == OMNIK_HTOTAL)
			x = monotonic(x, &inv->htotal);
		lower(omnik_fields[i].name, name, sizeof(name));
		if (x == OMNIK_ABSENT)
			snprintf(v, sizeof(v), "null");
		else
			omnik_format_value((enum omnik_field)i, x, v,
			    sizeof(v));
		len += (size_t)snprintf(buf + len, n - len, ",\"%s\":%s", name,
		    v);
	}
	if (len < n)
		len += (size_t)snprintf(buf + len, n - len, ",\"generating\":%s",
		    r->value[OMNIK_RUNMODE] == OMNIK_ABSENT ? "null" :
		    r->value[OMNIK_RUNMODE] == 1 ? "\"ON\"" : "\"OFF\"");
	if (len < n) {
		len += (size_t)snprintf(buf + len, n - len, ",\"fault\":%s",
		    r->has_fault ? "\"" : "null");
		for (int i = 0; r->has_fault && i < OMNIK_FAULT_LEN && len < n;
		    i++)
			len += (size_t)snprintf(buf + len, n - len, "%02x",
			    r->fault[i]);
		if (r->has_fault && len < n)
			len += (size_t)snprintf(buf + len, n - len, "\"");
	}
	if (len < n) {
		if (r->has_fw) {
			json_str(r->fw_main, fw, sizeof(fw));
			json_str(r->fw_slave, fw2, sizeof(fw2));
			len += (size_t)snprintf(buf + len, n - len,
			    ",\"fw_main\":\"%s\",\"fw_slave\":\"%s\"", fw, fw2);
		} else {
			len += (size_t)snprintf(buf + len, n - len,
			    ",\"fw_main\":null,\"fw_slave\":null");
		}
	}
	if (len + 2 > n)
		return 0;
	buf[len++] = '}';
	buf[len] = '\0';
	return len;
}

/* The discovery config of sensors[i] for an inverter. */
int
mq_discovery_json(const struct mqtt *q, const struct mq_inv *inv, int i,
    char *topic, size_t tn, char *payload, size_t pn)
{
	const struct sensor *s = &sensors[i];
	const struct omnik_reading *r = &inv->last.r;
	char id[40], sn[40], fw[64], model[96], extra[256];
	bool binary = s->field == SV_RUN;
	size_t x = 0;
	int len;

	mq_safe_id(inv->sn, id, sizeof(id));
	json_str(inv->sn, sn, sizeof(sn));
	json_str(r->has_fw ? r->fw_main : "", fw, sizeof(fw));
	(void)variant_sensors(r, model, sizeof(model));
	extra[0] = '\0';
	if (s->unit)
		x += (size_t)snprintf(extra + x, sizeof(extra) - x,
		    "\"unit_of_measurement\":\"%s\",", s->unit);
	if (s->device_class && x < sizeof(extra))
		x += (size_t)snprintf(extra + x, sizeof(extra) - x,
		    "\"device_class\":\"%s\",", s->device_class);
	if (s->state_class && x < sizeof(extra))
		x += (size_t)snprintf(extra + x, sizeof(extra) - x,
		    "\"state_class\":\"%s\",", s->state_class);
	if (s->expires && q->expire_after > 0 && x < sizeof(extra))
		x += (size_t)snprintf(extra + x, sizeof(extra) - x,
		    "\"expire_after\":%d,", q->expire_after);
	if (binary && x < sizeof(extra))
		x += (size_t)snprintf(extra + x, sizeof(extra) - x,
		    "\"payload_on\":\"ON\",\"payload_off\":\"OFF\",");
	if ((s->field == SV_FAULT || s->field == SV_TIME) && x < sizeof(extra))
		x += (size_t)snprintf(extra + x, sizeof(extra) - x,
		    "\"entity_category\":\"diagnostic\",");
	if (x >= sizeof(extra))
		return -1;
	snprintf(topic, tn, "%s/%s/omniklog_%s/%s/config", q->disc_prefix,
	    binary ? "binary_sensor" : "sensor", id, s->key);
	len = snprintf(payload, pn, "{"
	    "\"name\":\"%s\","
	    "\"unique_id\":\"omniklog_%s_%s\","
	    "\"state_topic\":\"%s/%s/state\","
	    "\"value_template\":\"{{ value_json.%s }}\","
	    "%s"
	    "\"availability_topic\":\"%s/status\","
	    "\"payload_available\":\"online\","
	    "\"payload_not_available\":\"offline\","
	    "\"device\":{\"identifiers\":[\"omniklog_%s\"],"
	    "\"name\":\"Omnik inverter %s\",\"manufacturer\":\"Omnik\","
	    "\"model\":\"%s\",\"serial_number\":\"%s\"%s%s%s},"
	    "\"origin\":{\"name\":\"omniklog\"}"
	    "}",
	    s->name, id, s->key, q->prefix, id, s->key, extra, q->prefix, id,
	    sn, model, sn, fw[0] ? ",\"sw_version\":\"" : "", fw,
	    fw[0] ? "\"" : "");
	return len > 0 && (size_t)len < pn ? 0 : -1;
}

/* The inverter's entry, made (or the least recently heard one reused). */
struct mq_inv *
mq_inv_get(struct mqtt *q, const char *sn)
{
	struct mq_inv *v = NULL;

	for (int i = 0; i < q->ninv; i++)
		if (strcmp(q->inv[i].sn, sn) == 0) {
			v = &q->inv[i];
			goto found;
		}
	if (q->ninv < MQTT_INVERTERS_MAX) {
		v = &q->inv[q->ninv++];
	} else {
		v = &q->inv[0];
		for (int i = 1; i < q->ninv; i++)
			if (q->inv[i].used < v->used)
				v = &q->inv[i];
	}
	memset(v, 0, sizeof(*v));
	snprintf(v->sn, sizeof(v->sn), "%s", sn);
	v->etotal = v->htotal = OMNIK_ABSENT;
found:
	v->used = ++q->clock;
	return v;
}

void
mq_learn(struct mqtt *q, struct mq_inv *v, const struct journal_row *row)
{
	(void)q;
	v->last = *row;
	v->has_last = true;
	v->sensors |= variant_sensors(&row->r, NULL, 0);
}

/*
 * What Home Assistant was last shown, from the journal: each inverter's
 * latest row this output had delivered (its cursor; what comes after is
 * the delivery's backlog) and its last good totals.
 */
int
mq_load_known(struct mqtt *q, struct journal *j, char *err, size_t errlen)
{
	struct journal_inverter known[MQTT_INVERTERS_MAX];
	struct journal_row row;
	const char *e;
	int64_t upto;
	int n, got;

	if (journal_cursor_get(j, "mqtt", NULL, journal_last_id(j, NULL),
	    &upto, &e) != 0 ||
	    journal_inverters(j, upto, known, MQTT_INVERTERS_MAX, &n, &e) != 0)
		goto fail;
	/* Oldest first, so that the LRU order is the journal's. */
	for (int i = n - 1; i >= 0; i--) {
		struct mq_inv *v;

		if (journal_fetch(j, known[i].last_id - 1, known[i].sn, &row, 1,
		    &got, &e) != 0)
			goto fail;
		if (got != 1)
			continue;
		v = mq_inv_get(q, known[i].sn);
		mq_learn(q, v, &row);
		if (journal_last_positive(j, v->sn, OMNIK_ETOTAL, upto,
		    &v->etotal, &e) != 0 ||
		    journal_last_positive(j, v->sn, OMNIK_HTOTAL, upto,
		    &v->htotal, &e) != 0)
			goto fail;
	}
	return 0;
fail:
	snprintf(err, errlen, "%s", e);
	return -1;
}
