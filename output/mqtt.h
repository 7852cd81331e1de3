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
 *                                       one HA sensor per field, retained;
 *                                       one HA device per inverter
 *
 * A row counts as delivered when the broker acknowledged its state
 * message (PUBACK).
 */
#ifndef MQTT_H
#define MQTT_H

#include <stddef.h>

#include "config.h"

struct delivery;
struct event_base;
struct journal;
struct journal_row;

struct delivery *mqtt_start(struct journal *j, struct event_base *base,
    const struct config *cfg, char *err, size_t errlen);

/* The state message for a row. Returns its length, 0 if it did not fit. */
size_t mqtt_state_json(const struct journal_row *row, char *buf, size_t n);
/*
 * The discovery config of sensor `i` (0 .. mqtt_sensor_count()-1) for a
 * row's inverter: topic and payload. Returns -1 if the row does not carry
 * that sensor's value (nothing to announce), 0 otherwise.
 */
int mqtt_discovery(const struct journal_row *row, int i, const char *prefix,
    const char *discovery_prefix, char *topic, size_t tn, char *payload,
    size_t pn);
int mqtt_sensor_count(void);

#endif /* MQTT_H */
