/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * config.h: the one INI file both programs read (default
 * /etc/omniklog/omniklog.conf), and the settings it holds. Command-line
 * flags override the file through config_set(), so a flag and a key are
 * checked by the same code.
 *
 * Every key is described once in the table in config.c: name, type, range,
 * default and a line of help. Unknown sections and keys are errors with
 * their line number; `-n` loads, reports and exits.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define CONFIG_DEFAULT_PATH SYSCONFDIR "/omniklog/omniklog.conf"

#define CONFIG_STR 256
/* A config file holds a few dozen lines: past this it is not one. */
#define CONFIG_MAX_SIZE (1 << 20)

struct config {
	/* [omniklog]: shared by every program */
	char user[64];		/* drop privileges to this user */
	char pidfile[CONFIG_STR];
	char csv[CONFIG_STR];	/* "" = no CSV */
	char db[CONFIG_STR];	/* the SQLite journal */
	int verbose;

	/* [relay] */
	char listen[CONFIG_STR];	/* "[ADDR:]PORT" list */
	char upstream[CONFIG_STR];	/* original | HOST:PORT | none */
	char allow_upstream[CONFIG_STR * 4];	/* networks; "" = any */
	char allow_clients[CONFIG_STR * 4];	/* networks; "" = private */
	char portal_ports[CONFIG_STR];	/* forwarded original dst ports */
	int connect_timeout;	/* seconds */
	int idle_timeout;	/* seconds */
	int max_connections;	/* 0 = from RLIMIT_NOFILE and memory */
	int max_buffer;		/* bytes buffered per direction */
	int max_buffer_total;	/* bytes buffered, all sessions */
	int client_connections;	/* sessions per client address */
	int client_buffer;	/* bytes buffered per client address */
	int first_frame_grace;	/* seconds before "no valid frame" counts */
	int reading_burst;	/* readings per connection at once */
	int reading_rate;	/* readings per connection per minute */
	int drain_timeout;	/* seconds to finish sessions on SIGTERM */

	/* [sniff] */
	char interface[64];
	char ports[CONFIG_STR];	/* TCP ports, space separated */
	char filter[CONFIG_STR];	/* BPF expression; "" = from ports */
	bool promisc;
	int snaplen;
	int buffer_size;	/* kernel capture buffer, bytes */
	int nfqueue;		/* -1 = off */
	int max_flows;		/* TCP flows tracked at once */
	int flow_timeout;	/* seconds a silent flow is kept */
	int max_held;		/* out-of-order bytes held, all flows */

	/* [journal] */
	int retention;		/* days; 0 = keep everything */
	char synchronous[16];	/* full | normal */

	/* [postgresql] */
	char pg_conninfo[CONFIG_STR * 2];	/* "" = off */
	char pg_table[128];		/* [SCHEMA.]TABLE */
	int pg_batch;

	/* [mqtt] */
	char mqtt_host[CONFIG_STR];	/* "" = off */
	int mqtt_port;
	char mqtt_username[CONFIG_STR];
	char mqtt_password[CONFIG_STR];
	char mqtt_client_id[64];	/* "" = omniklog-<hostname> */
	char mqtt_prefix[64];
	bool mqtt_discovery;
	char mqtt_discovery_prefix[64];
	int mqtt_keepalive;
	bool mqtt_tls;
	char mqtt_cafile[CONFIG_STR];
	char mqtt_certfile[CONFIG_STR];
	char mqtt_keyfile[CONFIG_STR];
	int mqtt_expire_after;		/* seconds; 0 = never */

	/* [pvoutput] */
	char pv_api_key[128];		/* "" = off */
	char pv_systems[CONFIG_STR * 4];	/* "INVERTER=SYSTEMID ..." */
	char pv_url[CONFIG_STR];
	char pv_cafile[CONFIG_STR];	/* "" = the system's CA store */
	bool pv_donor;
	char pv_energy[16];		/* today | lifetime */
	bool pv_temperature;
	bool pv_voltage;
};

void config_defaults(struct config *c);
/*
 * Read path into c (on top of what c holds). path must be a regular file
 * of at most CONFIG_MAX_SIZE bytes, or the null device (/dev/null: no
 * settings); a directory, a FIFO or another device is refused. Returns
 * 0, or -1 with every problem found as "path:line: message" lines in err.
 */
int config_load(struct config *c, const char *path, char *err, size_t errlen);
/* Set one key, as the file would. Returns 0 or -1 with a message in err. */
int config_set(struct config *c, const char *section, const char *key,
    const char *value, char *err, size_t errlen);
/*
 * Command-line flags, kept as key settings so they can be applied again on
 * top of the file when SIGHUP re-reads it. The strings are not copied:
 * they must outlive the struct (argv, or the program's own buffers).
 */
#define CONFIG_MAX_OVERRIDES 32

struct config_overrides {
	struct {
		const char *section, *key, *value;
	} ov[CONFIG_MAX_OVERRIDES];
	int n;
};

/* Record a flag; -1 when there are too many. */
int config_override(struct config_overrides *o, const char *section,
    const char *key, const char *value);
/*
 * Defaults, then the file, then the overrides. path NULL reads
 * CONFIG_DEFAULT_PATH if it exists; path "" reads no file at all. 0, or
 * -1 with every problem in err.
 */
int config_build(struct config *c, const char *path,
    const struct config_overrides *o, char *err, size_t errlen);

/*
 * Parse a list of TCP ports ("10004 8899" or "10004,8899") into ports[max].
 * Returns how many (at least one), or -1 with a message naming the list.
 */
int config_ports(const char *list, uint16_t *ports, int max, char *err,
    size_t errlen);

/* Write the effective configuration, as an INI file. */
void config_dump(const struct config *c, FILE *fp);

#endif /* CONFIG_H */
