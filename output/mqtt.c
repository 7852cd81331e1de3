/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mqtt.c: the MQTT output.
 *
 *   DOWN --send--> RESOLVING --> CONNECTING --CONNACK 0--> UP: "online",
 *    ^                 |              |          discovery, state messages
 *    +---- error / disconnect (batch retried) ---+          (QoS 1)
 *
 * libmosquitto is used without its thread: mosquitto_connect_async opens
 * a non-blocking socket, and libevent calls mosquitto_loop_read when it
 * is readable, mosquitto_loop_write when the client has bytes queued
 * (mosquitto_want_write) and mosquitto_loop_misc every second for
 * keep-alive and retries. Reconnection is ours (delivery back-off), so
 * the batch in flight is published again on the new connection.
 *
 * RESOLVING: mosquitto_connect_async looks the broker's name up with a
 * blocking getaddrinfo. Resolving it ourselves and passing the address
 * would break TLS, whose certificate check uses the name passed. So the
 * whole call runs in a worker thread (resolve.h) on a fresh client that
 * nothing else touches until the thread reports back: libmosquitto is
 * thread safe for that (mosquitto.h: all but mosquitto_lib_init), and
 * connect_async calls none of our callbacks (the CONNECT packet waits
 * for the socket to connect). Name, TLS and everything else stay exactly
 * libmosquitto's; a client whose call timed out is destroyed by its
 * thread.
 *
 * libmosquitto itself is loaded by mqtt_start (dynlib.h), not linked.
 */
#include <errno.h>
#include <event2/event.h>
#include <mosquitto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "delivery.h"
#include "dynlib.h"
#include "journal.h"
#include "log.h"
#include "mqtt.h"
#include "resolve.h"

/* libmosquitto, loaded at run time: every function this file calls. */
#define MOSQ_SYMBOLS(X) \
	X(mosquitto_connack_string) X(mosquitto_connect_async) \
	X(mosquitto_connect_callback_set) X(mosquitto_destroy) \
	X(mosquitto_disconnect) X(mosquitto_disconnect_callback_set) \
	X(mosquitto_lib_init) X(mosquitto_log_callback_set) \
	X(mosquitto_loop_misc) X(mosquitto_loop_read) \
	X(mosquitto_loop_write) X(mosquitto_new) X(mosquitto_publish) \
	X(mosquitto_publish_callback_set) X(mosquitto_socket) \
	X(mosquitto_strerror) X(mosquitto_tls_set) \
	X(mosquitto_user_data_set) X(mosquitto_username_pw_set) \
	X(mosquitto_want_write) \
	X(mosquitto_will_set)

static struct mosq_api { MOSQ_SYMBOLS(DYNLIB_MEMBER) } mosq;
#define MOSQ_ENTRY(sym) DYNLIB_ENTRY(struct mosq_api, sym)
static const struct dynlib_sym mosq_syms[] = { MOSQ_SYMBOLS(MOSQ_ENTRY) };
static struct dynlib mosq_lib = DYNLIB("MQTT output",
    OMNIK_LIBMOSQUITTO_SONAME, OMNIK_LIBMOSQUITTO_PACKAGE, mosq_syms, &mosq);

#define mosquitto_connack_string mosq.mosquitto_connack_string
#define mosquitto_connect_async mosq.mosquitto_connect_async
#define mosquitto_connect_callback_set mosq.mosquitto_connect_callback_set
#define mosquitto_destroy mosq.mosquitto_destroy
#define mosquitto_disconnect mosq.mosquitto_disconnect
#define mosquitto_disconnect_callback_set \
	mosq.mosquitto_disconnect_callback_set
#define mosquitto_lib_init mosq.mosquitto_lib_init
#define mosquitto_log_callback_set mosq.mosquitto_log_callback_set
#define mosquitto_loop_misc mosq.mosquitto_loop_misc
#define mosquitto_loop_read mosq.mosquitto_loop_read
#define mosquitto_loop_write mosq.mosquitto_loop_write
#define mosquitto_new mosq.mosquitto_new
#define mosquitto_publish mosq.mosquitto_publish
#define mosquitto_publish_callback_set mosq.mosquitto_publish_callback_set
#define mosquitto_socket mosq.mosquitto_socket
#define mosquitto_strerror mosq.mosquitto_strerror
#define mosquitto_tls_set mosq.mosquitto_tls_set
#define mosquitto_user_data_set mosq.mosquitto_user_data_set
#define mosquitto_username_pw_set mosq.mosquitto_username_pw_set
#define mosquitto_want_write mosq.mosquitto_want_write
#define mosquitto_will_set mosq.mosquitto_will_set

#define MQTT_BATCH 50
#define MQTT_INVERTERS_MAX 64		/* inverters remembered; LRU past it */
#define MQTT_CONNECT_TIMEOUT_S 15
#define MQTT_RETRY_MIN_MS 500
#define MQTT_RETRY_MAX_MS 30000
#define JSON_MAX 2048

enum mq_state { MQ_DOWN, MQ_RESOLVING, MQ_CONNECTING, MQ_UP };

/* A worker thread's job: connect_async on a client only it holds. */
struct mq_job {
	struct mosquitto *m;
	char host[CONFIG_STR];
	int port, keepalive;
	int rc, err;		/* MOSQ_ERR_*, errno */
	char tls_err[96];	/* OpenSSL's reason, if the handshake ended here */
};

/*
 * What Home Assistant holds of one inverter: its sensors, its last state
 * (published again on every new connection: a broker that lost its
 * retained messages, or an omniklog restarted at night, still shows the
 * last reading) and the totals last published (never published lower).
 */
struct mq_inv {
	char sn[OMNIK_SERIAL_LEN + 1];
	uint32_t sensors;		/* bit i: sensors[i] applies */
	uint32_t announced;		/* of those, announced on this link */
	bool has_last;
	struct journal_row last;
	int64_t etotal, htotal;		/* last published, or OMNIK_ABSENT */
	uint64_t used;			/* LRU clock */
};

struct mqtt {
	struct delivery *d;
	struct event_base *base;
	struct mosquitto *m;
	struct resolve *res;
	struct event *ev_read, *ev_write, *tick, *retry;
	enum mq_state state;
	time_t connect_started;
	int retry_ms;
	char host[CONFIG_STR];
	int port, keepalive, expire_after;
	char prefix[64], disc_prefix[64];
	bool discovery;
	char status_topic[80];
	const struct journal_row *rows;
	int nrows, nacked;
	int mids[MQTT_BATCH];
	bool acked[MQTT_BATCH];
	bool published;			/* this batch went out on this link */
	struct mq_inv inv[MQTT_INVERTERS_MAX];
	int ninv;
	uint64_t clock;
	char last_err[256];
	char tls_err[96];		/* libmosquitto's reason for a TLS error */
	struct mqtt_conf cfg;		/* credentials and TLS, for new clients */
	char client_id[96];
};

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
static void
safe_id(const char *s, char *buf, size_t n)
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
static size_t
state_json(const struct journal_row *row, struct mq_inv *inv, char *buf,
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
static int
discovery_json(const struct mqtt *q, const struct mq_inv *inv, int i,
    char *topic, size_t tn, char *payload, size_t pn)
{
	const struct sensor *s = &sensors[i];
	const struct omnik_reading *r = &inv->last.r;
	char id[40], sn[40], fw[64], model[96], extra[256];
	bool binary = s->field == SV_RUN;
	size_t x = 0;
	int len;

	safe_id(inv->sn, id, sizeof(id));
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

static void mq_down(struct mqtt *q, const char *why);
static void publish_batch(struct mqtt *q);
static void republish(struct mqtt *q);

/*
 * libmosquitto's own return code for any TLS failure says only "A TLS
 * error occurred"; OpenSSL's reason (certificate verify failed...) comes
 * through its log callback. Keep it for the log line. A handshake can
 * end inside mosquitto_connect_async, in the lookup thread: there the
 * client's user data and log callback are the job's (on_job_log).
 */
static void
keep_tls_reason(char *buf, size_t n, int level, const char *str)
{
	const char *reason = strstr(str, "::");

	if (level == MOSQ_LOG_ERR && strncmp(str, "OpenSSL Error", 13) == 0 &&
	    buf[0] == '\0')
		snprintf(buf, n, "%s", reason ? reason + 2 : str);
}

static void
on_log(struct mosquitto *m, void *arg, int level, const char *str)
{
	struct mqtt *q = arg;

	(void)m;
	keep_tls_reason(q->tls_err, sizeof(q->tls_err), level, str);
}

/* The same in the lookup thread, where the client's user data is the job. */
static void
on_job_log(struct mosquitto *m, void *arg, int level, const char *str)
{
	struct mq_job *job = arg;

	(void)m;
	keep_tls_reason(job->tls_err, sizeof(job->tls_err), level, str);
}

/*
 * Why the link failed, for the log. A TLS alert from the broker (no
 * client certificate) comes back as a socket error: OpenSSL's reason,
 * when there is one, is the better answer.
 */
static const char *
fail_reason(struct mqtt *q, int rc, const char *errno_text)
{
	if (rc == MOSQ_ERR_TLS || (rc == MOSQ_ERR_ERRNO && q->tls_err[0])) {
		snprintf(q->last_err, sizeof(q->last_err), "TLS: %s (check "
		    "[mqtt] cafile, certfile and host)",
		    q->tls_err[0] ? q->tls_err : "no reason given");
		return q->last_err;
	}
	return rc == MOSQ_ERR_ERRNO ? errno_text : mosquitto_strerror(rc);
}

static void
update_write(struct mqtt *q)
{
	if (q->ev_write && q->m && mosquitto_want_write(q->m))
		event_add(q->ev_write, NULL);
}

static void
on_read(evutil_socket_t fd, short what, void *arg)
{
	struct mqtt *q = arg;
	int rc;

	(void)fd;
	(void)what;
	rc = mosquitto_loop_read(q->m, 16);
	if (rc != MOSQ_ERR_SUCCESS && q->state != MQ_DOWN) {
		mq_down(q, fail_reason(q, rc, "connection lost"));
		return;
	}
	update_write(q);
}

static void
on_write(evutil_socket_t fd, short what, void *arg)
{
	struct mqtt *q = arg;
	int rc;

	(void)fd;
	(void)what;
	rc = mosquitto_loop_write(q->m, 16);
	if (rc != MOSQ_ERR_SUCCESS && q->state != MQ_DOWN) {
		mq_down(q, fail_reason(q, rc, "cannot connect"));
		return;
	}
	update_write(q);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct mqtt *q = arg;

	(void)fd;
	(void)what;
	if (q->state == MQ_DOWN || q->state == MQ_RESOLVING)
		return;		/* the lookup has a timeout of its own */
	if (q->state == MQ_CONNECTING &&
	    time(NULL) - q->connect_started > MQTT_CONNECT_TIMEOUT_S) {
		mq_down(q, "no CONNACK from the broker");
		return;
	}
	if (mosquitto_loop_misc(q->m) != MOSQ_ERR_SUCCESS) {
		mq_down(q, "keep-alive failed");
		return;
	}
	update_write(q);
}

static void
drop_events(struct mqtt *q)
{
	if (q->ev_read) {
		event_free(q->ev_read);
		q->ev_read = NULL;
	}
	if (q->ev_write) {
		event_free(q->ev_write);
		q->ev_write = NULL;
	}
}

/* The next connection attempt, after a back-off that grows to 30 s. */
static void
arm_retry(struct mqtt *q)
{
	struct timeval tv;

	q->retry_ms = q->retry_ms == 0 ? MQTT_RETRY_MIN_MS : q->retry_ms * 2;
	if (q->retry_ms > MQTT_RETRY_MAX_MS)
		q->retry_ms = MQTT_RETRY_MAX_MS;
	tv.tv_sec = q->retry_ms / 1000;
	tv.tv_usec = (q->retry_ms % 1000) * 1000;
	evtimer_add(q->retry, &tv);
	log_debug("output mqtt: next try in %d ms", q->retry_ms);
}

static void
mq_down(struct mqtt *q, const char *why)
{
	if (q->state != MQ_DOWN)
		log_warnx("output mqtt: %s:%d: %s", q->host, q->port, why);
	q->state = MQ_DOWN;
	drop_events(q);
	/*
	 * This may run inside a libmosquitto callback, so the client is
	 * destroyed at the next connect; the link is cut now. A fresh
	 * client per connection also drops the library's own queue of
	 * unacknowledged messages: the batch is published again by us,
	 * once, not a second time by the library.
	 */
	if (q->m && mosquitto_socket(q->m) >= 0)
		(void)shutdown(mosquitto_socket(q->m), SHUT_RDWR);
	/*
	 * The batch stays ours and goes again, acknowledged messages too,
	 * on the next connection: a broker without persistence that
	 * PUBACKed and then went down never passed them on. At least once,
	 * as QoS 1 promises; never lost. The reconnection is ours, not the
	 * delivery's: Home Assistant needs "online" and the last state at
	 * night too, when no reading comes to start a connection.
	 */
	q->published = false;
	if (!evtimer_pending(q->retry, NULL))
		arm_retry(q);
}

static void
on_connect(struct mosquitto *m, void *arg, int rc)
{
	struct mqtt *q = arg;

	(void)m;
	if (rc != 0) {
		snprintf(q->last_err, sizeof(q->last_err), "broker refused "
		    "the connection: %s", mosquitto_connack_string(rc));
		mq_down(q, q->last_err);
		return;
	}
	log_info("output mqtt: connected to %s:%d", q->host, q->port);
	q->state = MQ_UP;
	q->retry_ms = 0;
	(void)mosquitto_publish(q->m, NULL, q->status_topic, 6, "online", 1,
	    true);
	republish(q);
	if (q->nrows > 0)
		publish_batch(q);
	update_write(q);
}

static void
on_disconnect(struct mosquitto *m, void *arg, int rc)
{
	struct mqtt *q = arg;

	(void)m;
	if (q->state != MQ_DOWN)
		mq_down(q, rc == 0 ? "disconnected" :
		    fail_reason(q, MOSQ_ERR_ERRNO, "connection lost"));
}

static void
on_publish(struct mosquitto *m, void *arg, int mid)
{
	struct mqtt *q = arg;
	int n;

	(void)m;
	if (q->nrows == 0 || !q->published)
		return;
	for (int i = 0; i < q->nrows; i++) {
		if (q->mids[i] == mid && !q->acked[i]) {
			q->acked[i] = true;
			q->nacked++;
		}
	}
	if (q->nacked == q->nrows) {
		n = q->nrows;
		q->nrows = 0;
		delivery_done(q->d, n, DELIVERY_OK, 0);
	}
}

/* The inverter's entry, made (or the least recently heard one reused). */
static struct mq_inv *
inv_get(struct mqtt *q, const char *sn)
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

/* Discovery configs of the inverter's sensors not yet sent on this link. */
static void
announce(struct mqtt *q, struct mq_inv *v)
{
	char topic[256], payload[JSON_MAX];

	if (!q->discovery || !v->has_last)
		return;
	for (int i = 0; i < NSENSORS; i++) {
		if (!(v->sensors & (1u << i)) || (v->announced & (1u << i)))
			continue;
		if (discovery_json(q, v, i, topic, sizeof(topic), payload,
		    sizeof(payload)) != 0)
			continue;
		if (mosquitto_publish(q->m, NULL, topic, (int)strlen(payload),
		    payload, 1, true) == MOSQ_ERR_SUCCESS)
			v->announced |= 1u << i;
	}
}

static void
learn(struct mqtt *q, struct mq_inv *v, const struct journal_row *row)
{
	(void)q;
	v->last = *row;
	v->has_last = true;
	v->sensors |= variant_sensors(&row->r, NULL, 0);
}

/*
 * On every new connection: the discovery configs and the last state of
 * every inverter known, but for those whose newer rows are in the batch
 * about to go (the broker may have lost its retained messages; after a
 * restart at night this is all Home Assistant gets until sunrise).
 */
static void
republish(struct mqtt *q)
{
	char topic[160], id[40], json[JSON_MAX];
	size_t len;

	for (int i = 0; i < q->ninv; i++) {
		struct mq_inv *v = &q->inv[i];
		bool in_batch = false;

		v->announced = 0;
		if (!v->has_last)
			continue;
		announce(q, v);
		for (int k = 0; k < q->nrows && !in_batch; k++)
			in_batch = strcmp(q->rows[k].r.inverter_sn, v->sn) == 0;
		if (in_batch)
			continue;
		len = state_json(&v->last, v, json, sizeof(json));
		safe_id(v->sn, id, sizeof(id));
		snprintf(topic, sizeof(topic), "%s/%s/state", q->prefix, id);
		if (len > 0)
			(void)mosquitto_publish(q->m, NULL, topic, (int)len,
			    json, 1, true);
	}
}

static void
publish_batch(struct mqtt *q)
{
	char topic[160], id[40], json[JSON_MAX];
	int rc;

	q->nacked = 0;
	q->published = true;
	for (int i = 0; i < q->nrows; i++) {
		const struct journal_row *row = &q->rows[i];
		struct mq_inv *v = inv_get(q, row->r.inverter_sn);
		size_t len;

		learn(q, v, row);
		len = state_json(row, v, json, sizeof(json));
		q->acked[i] = false;
		q->mids[i] = -1;
		announce(q, v);
		safe_id(row->r.inverter_sn, id, sizeof(id));
		snprintf(topic, sizeof(topic), "%s/%s/state", q->prefix, id);
		rc = mosquitto_publish(q->m, &q->mids[i], topic, (int)len,
		    json, 1, true);
		if (rc != MOSQ_ERR_SUCCESS) {
			mq_down(q, mosquitto_strerror(rc));
			return;
		}
	}
	update_write(q);
}

static int
client_new(struct mqtt *q, char *err, size_t errlen)
{
	const struct mqtt_conf *cfg = &q->cfg;
	int rc;

	if (q->m)
		mosquitto_destroy(q->m);
	q->m = mosquitto_new(q->client_id, true, q);
	if (q->m == NULL) {
		snprintf(err, errlen, "cannot create an MQTT client");
		return -1;
	}
	mosquitto_connect_callback_set(q->m, on_connect);
	mosquitto_disconnect_callback_set(q->m, on_disconnect);
	mosquitto_publish_callback_set(q->m, on_publish);
	rc = mosquitto_will_set(q->m, q->status_topic, 7, "offline", 1, true);
	if (rc == MOSQ_ERR_SUCCESS && cfg->username[0])
		rc = mosquitto_username_pw_set(q->m, cfg->username,
		    cfg->password[0] ? cfg->password : NULL);
	if (rc == MOSQ_ERR_SUCCESS && cfg->tls)
		rc = mosquitto_tls_set(q->m,
		    cfg->cafile[0] ? cfg->cafile : NULL,
		    cfg->cafile[0] ? NULL : "/etc/ssl/certs",
		    cfg->certfile[0] ? cfg->certfile : NULL,
		    cfg->keyfile[0] ? cfg->keyfile : NULL, NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		snprintf(err, errlen, "[mqtt]: %s", mosquitto_strerror(rc));
		return -1;
	}
	return 0;
}

/* In a worker thread: the name lookup and the non-blocking connect. */
static void
job_work(void *arg)
{
	struct mq_job *job = arg;

	errno = 0;
	job->rc = mosquitto_connect_async(job->m, job->host, job->port,
	    job->keepalive);
	job->err = errno;
}

/* The loop gave up on the job (timeout, or the output freed). */
static void
job_discard(void *arg)
{
	struct mq_job *job = arg;

	mosquitto_destroy(job->m);	/* calls none of our callbacks */
	free(job);
}

static void
on_connected(void *arg, void *job_arg, int err)
{
	struct mqtt *q = arg;
	struct mq_job *job = job_arg;
	char why[160];
	int rc, fd;

	if (err != 0) {
		snprintf(why, sizeof(why), "name lookup: no answer for %d s",
		    MQTT_CONNECT_TIMEOUT_S);
		mq_down(q, why);
		return;
	}
	q->m = job->m;
	rc = job->rc;
	err = job->err;
	snprintf(q->tls_err, sizeof(q->tls_err), "%s", job->tls_err);
	free(job);
	/* The client is the loop's again: its callbacks get q. */
	mosquitto_user_data_set(q->m, q);
	mosquitto_log_callback_set(q->m, on_log);
	q->state = MQ_CONNECTING;
	q->connect_started = time(NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		if (rc == MOSQ_ERR_ERRNO && err != 0) {
			snprintf(why, sizeof(why), "cannot connect: %s",
			    strerror(err));
			mq_down(q, why);
		} else {
			mq_down(q, fail_reason(q, rc, "cannot connect"));
		}
		return;
	}
	fd = mosquitto_socket(q->m);
	q->ev_read = event_new(q->base, fd, EV_READ | EV_PERSIST, on_read, q);
	q->ev_write = event_new(q->base, fd, EV_WRITE, on_write, q);
	if (q->ev_read == NULL || q->ev_write == NULL ||
	    event_add(q->ev_read, NULL) != 0) {
		mq_down(q, "out of memory");
		return;
	}
	update_write(q);
}

static int
mq_connect(struct mqtt *q)
{
	struct mq_job *job;

	if (client_new(q, q->last_err, sizeof(q->last_err)) != 0) {
		q->state = MQ_CONNECTING;
		mq_down(q, q->last_err);
		return -1;
	}
	q->state = MQ_RESOLVING;
	job = calloc(1, sizeof(*job));
	if (job == NULL) {
		mq_down(q, "out of memory");
		return -1;
	}
	snprintf(job->host, sizeof(job->host), "%s", q->host);
	job->port = q->port;
	job->keepalive = q->keepalive;
	job->m = q->m;
	mosquitto_user_data_set(job->m, job);
	mosquitto_log_callback_set(job->m, on_job_log);
	if (resolve_start(q->res, job_work, job_discard, job,
	    MQTT_CONNECT_TIMEOUT_S * 1000) != 0) {
		snprintf(q->last_err, sizeof(q->last_err), "name lookup: %s",
		    errno == EBUSY ? "an earlier one is still running" :
		    strerror(errno));
		mosquitto_user_data_set(q->m, q);
		mosquitto_log_callback_set(q->m, on_log);
		free(job);
		mq_down(q, q->last_err);
		return -1;
	}
	q->m = NULL;		/* the thread's until on_connected */
	return 0;
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct mqtt *q = arg;

	(void)fd;
	(void)what;
	if (q->state == MQ_DOWN)
		(void)mq_connect(q);
}

static int
mq_send(void *ctx, const struct journal_row *rows, int n)
{
	struct mqtt *q = ctx;

	if (n > MQTT_BATCH)
		n = MQTT_BATCH;
	q->rows = rows;
	q->nrows = n;
	q->published = false;
	if (q->state == MQ_UP)
		publish_batch(q);
	/* Otherwise published on the next CONNACK (a try is due). */
	return 0;
}

static void
mq_free(void *ctx)
{
	struct mqtt *q = ctx;

	if (q == NULL)
		return;
	resolve_free(q->res);	/* a client in a lookup: its thread's */
	drop_events(q);
	if (q->tick)
		event_free(q->tick);
	if (q->retry)
		event_free(q->retry);
	if (q->m) {
		if (q->state == MQ_UP) {
			/* Best effort: the will covers a crash, not this. */
			(void)mosquitto_publish(q->m, NULL, q->status_topic, 7,
			    "offline", 1, true);
			(void)mosquitto_loop_write(q->m, 4);
		}
		/* A stop, not a failure: on_disconnect has nothing to do. */
		q->state = MQ_DOWN;
		q->nrows = 0;
		mosquitto_disconnect(q->m);
		mosquitto_destroy(q->m);
	}
	free(q);
}

static const struct delivery_ops mq_ops = { mq_send, mq_free };

/*
 * What Home Assistant was last shown, from the journal: each inverter's
 * latest row this output had delivered (its cursor; what comes after is
 * the delivery's backlog) and its last good totals.
 */
static int
load_known(struct mqtt *q, struct journal *j, char *err, size_t errlen)
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
		v = inv_get(q, known[i].sn);
		learn(q, v, &row);
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

static struct delivery *
mqtt_start(struct journal *j, struct event_base *base,
    const struct mqtt_conf *cfg, char *err, size_t errlen)
{
	struct delivery_opts dopt = { .name = "mqtt", .batch = MQTT_BATCH,
	    .start_at_end = true };
	struct timeval sec = { 1, 0 }, zero = { 0, 0 };
	char host[64];
	struct mqtt *q;

	if (dynlib_load(&mosq_lib, err, errlen) != 0)
		return NULL;
	mosquitto_lib_init();
	q = calloc(1, sizeof(*q));
	if (q == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	q->base = base;
	q->cfg = *cfg;
	q->res = resolve_new(base, on_connected, q);
	if (q->res == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	snprintf(q->host, sizeof(q->host), "%s", cfg->host);
	q->port = cfg->port;
	q->expire_after = cfg->expire_after;
	q->keepalive = cfg->keepalive;
	snprintf(q->prefix, sizeof(q->prefix), "%s", cfg->prefix);
	snprintf(q->disc_prefix, sizeof(q->disc_prefix), "%s",
	    cfg->discovery_prefix);
	q->discovery = cfg->discovery;
	snprintf(q->status_topic, sizeof(q->status_topic), "%s/status",
	    q->prefix);
	if (cfg->client_id[0]) {
		snprintf(q->client_id, sizeof(q->client_id), "%s",
		    cfg->client_id);
	} else {
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "host");
		host[sizeof(host) - 1] = '\0';
		snprintf(q->client_id, sizeof(q->client_id), "omniklog-%s",
		    host);
	}
	/* The settings are checked now, on a client used for nothing else. */
	if (client_new(q, err, errlen) != 0)
		goto fail;
	q->tick = event_new(base, -1, EV_PERSIST, on_tick, q);
	if (q->tick == NULL || event_add(q->tick, &sec) != 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	q->retry = evtimer_new(base, on_retry, q);
	if (q->retry == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (load_known(q, j, err, errlen) != 0)
		goto fail;
	q->d = delivery_new(j, base, &dopt, &mq_ops, q, err, errlen);
	if (q->d == NULL)
		goto fail;
	/* Connect now, not at the first reading: it may be night. */
	evtimer_add(q->retry, &zero);
	return q->d;
fail:
	mq_free(q);
	return NULL;
}

/* --- the driver and its section -------------------------------------- */

#define K(kind, ...) CONFIG_KEY_##kind(struct mqtt_conf, __VA_ARGS__)
static const struct config_key keys[] = {
	K(STR, "host", host, "",
	    "MQTT broker host name or address; empty: off"),
	K(INT, "port", port, 1, 65535, "1883",
	    "broker port (8883 is usual with tls)"),
	K(STR, "username", username, "", "user name; empty: none"),
	K(STR, "password", password, "", "password", .secret = true),
	K(STR, "client_id", client_id, "",
	    "MQTT client id; empty: omniklog-HOSTNAME"),
	K(STR, "prefix", prefix, "omniklog",
	    "state goes to PREFIX/INVERTER_SERIAL/state"),
	K(BOOL, "discovery", discovery, "yes",
	    "publish Home Assistant discovery configs"),
	K(STR, "discovery_prefix", discovery_prefix, "homeassistant",
	    "Home Assistant's discovery prefix"),
	K(INT, "keepalive", keepalive, 5, 3600, "60",
	    "seconds between keep-alive pings"),
	K(BOOL, "tls", tls, "no", "connect with TLS"),
	K(STR, "cafile", cafile, "",
	    "CA certificates for tls; empty: the system's",
	    .check = config_check_file),
	K(STR, "certfile", certfile, "", "client certificate (tls)",
	    .check = config_check_file),
	K(STR, "keyfile", keyfile, "", "client key (tls)",
	    .check = config_check_file),
	K(INT, "expire_after", expire_after, 0, 86400, "900",
	    "seconds after the last reading before Home Assistant shows the "
	    "live values unavailable (3 pushes of ~300 s); 0: never"),
};
#undef K

static int
mqtt_check(const void *conf, char *err, size_t errlen)
{
	const struct mqtt_conf *c = conf;

	if ((c->certfile[0] == '\0') != (c->keyfile[0] == '\0')) {
		snprintf(err, errlen, "[mqtt] certfile and keyfile go "
		    "together");
		return -1;
	}
	return 0;
}

const struct config_section mqtt_section =
    CONFIG_SECTION("mqtt", struct mqtt_conf, keys, .check = mqtt_check);

static bool
mqtt_enabled(const void *conf)
{
	const struct mqtt_conf *c = conf;

	return c->host[0] != '\0';
}

static int
mqtt_driver_start(struct journal *j, struct event_base *base,
    const void *conf, struct delivery **out, int max, int *n, char *err,
    size_t errlen)
{
	*n = 0;
	if (max < 1) {
		snprintf(err, errlen, "mqtt: too many outputs");
		return -1;
	}
	if ((out[0] = mqtt_start(j, base, conf, err, errlen)) == NULL)
		return -1;
	*n = 1;
	return 0;
}

const struct output_driver mqtt_driver = {
	.name = "mqtt",
	.section = &mqtt_section,
	.enabled = mqtt_enabled,
	.start = mqtt_driver_start,
};
