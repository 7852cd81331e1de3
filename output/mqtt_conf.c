/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mqtt_conf.c: the [mqtt] section.
 */
#include <stdio.h>

#include "config.h"
#include "mqtt.h"

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
