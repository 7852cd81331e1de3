/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mqtt.h: readings to an MQTT broker (libmosquitto), with Home Assistant
 * discovery. A cursor over the journal; the client's socket runs in the
 * program's event loop.
 *
 *   PREFIX/status                       "online" / "offline" (last will),
 *                                       retained
 *   PREFIX/<inverter serial>/state      JSON of the latest reading,
 *                                       retained, QoS 1
 *   DISCOVERY/sensor/omniklog_<serial>/<field>/config
 *   DISCOVERY/binary_sensor/omniklog_<serial>/generating/config
 *                                       one HA entity per sensor the
 *                                       inverter's variant has, retained;
 *                                       one HA device per inverter
 *
 * It connects at start and reconnects with back-off on its own; on every
 * connection it publishes "online", the discovery configs and the last
 * known state of each inverter (from the journal after a restart). The
 * state JSON has every key, null when absent, and totals that never go
 * down. A row counts as delivered when the broker acknowledged its state
 * message (PUBACK).
 */
#ifndef MQTT_H
#define MQTT_H

#include <stddef.h>

#include <stdbool.h>

#include "config.h"
#include "registry.h"

struct delivery;
struct event_base;
struct journal;
struct journal_row;

/* [mqtt] */
struct mqtt_conf {
	char host[CONFIG_STR];		/* "" = off */
	int port;
	char username[CONFIG_STR];
	char password[CONFIG_STR];
	char client_id[64];		/* "" = omniklog-<hostname> */
	char prefix[64];
	bool discovery;
	char discovery_prefix[64];
	int keepalive;
	bool tls;
	char cafile[CONFIG_STR];
	char certfile[CONFIG_STR];
	char keyfile[CONFIG_STR];
	int expire_after;		/* seconds; 0 = never */
};

extern const struct config_section mqtt_section;
extern const struct output_driver mqtt_driver;

/* How many kinds of entity a Home Assistant device can get. */
int mqtt_sensor_count(void);

#endif /* MQTT_H */
