/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mqtt_int.h: what the MQTT output's files share (mqtt.c: the connection
 * and delivery; mqtt_ha.c: Home Assistant's discovery and state
 * messages, the inverters remembered; mqtt_conf.c: the [mqtt] section).
 * Not for use outside them.
 */
#ifndef MQTT_INT_H
#define MQTT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "journal.h"
#include "mqtt.h"

struct delivery;
struct event;
struct event_base;
struct journal;
struct mosquitto;
struct resolve;

#define MQTT_BATCH 50
#define MQTT_INVERTERS_MAX 64		/* inverters remembered; LRU past it */
#define JSON_MAX 2048

enum mq_state { MQ_DOWN, MQ_RESOLVING, MQ_CONNECTING, MQ_UP };

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
	char down_err[320];		/* why it last went down (status) */
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

/* mqtt_ha.c */
void mq_safe_id(const char *s, char *buf, size_t n);
size_t mq_state_json(const struct journal_row *row, struct mq_inv *inv,
    char *buf, size_t n);
int mq_discovery_json(const struct mqtt *q, const struct mq_inv *inv, int i,
    char *topic, size_t tn, char *payload, size_t pn);
struct mq_inv *mq_inv_get(struct mqtt *q, const char *sn);
void mq_learn(struct mqtt *q, struct mq_inv *v, const struct journal_row *row);
int mq_load_known(struct mqtt *q, struct journal *j, char *err,
    size_t errlen);

#endif /* MQTT_INT_H */
