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

#include "config.h"

struct delivery;
struct event_base;
struct journal;
struct journal_row;

struct delivery *mqtt_start(struct journal *j, struct event_base *base,
    const struct config *cfg, char *err, size_t errlen);

/* How many kinds of entity a Home Assistant device can get. */
int mqtt_sensor_count(void);

#endif /* MQTT_H */
