/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * config.c: table-driven INI settings, parsed with libinih.
 *
 * inih does not tell its handler the line number, so the file is fed to it
 * through ini_parse_stream() with our own line reader, which counts lines:
 * inih calls the handler for a line before it reads the next one.
 */
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"

enum ctype { CT_STR, CT_LIST, CT_INT, CT_BOOL };

/* A check beyond the type: 0, or -1 with a message (without the key). */
typedef int (*check_fn)(const char *value, char *err, size_t errlen);

struct ckey {
	const char *section;
	const char *name;
	enum ctype type;
	size_t offset;
	size_t size;		/* CT_STR, CT_LIST: buffer size */
	long min, max;		/* CT_INT */
	const char *def;	/* default, as it would be written in the file */
	const char *help;
	check_fn check;		/* optional */
};

#define S(sec, name, field, def, help) \
	{ sec, name, CT_STR, offsetof(struct config, field), \
	  sizeof(((struct config *)0)->field), 0, 0, def, help, NULL }
#define L(sec, name, field, def, help) \
	{ sec, name, CT_LIST, offsetof(struct config, field), \
	  sizeof(((struct config *)0)->field), 0, 0, def, help, NULL }
#define I(sec, name, field, lo, hi, def, help) \
	{ sec, name, CT_INT, offsetof(struct config, field), 0, lo, hi, def, help, \
	  NULL }
#define B(sec, name, field, def, help) \
	{ sec, name, CT_BOOL, offsetof(struct config, field), 0, 0, 0, def, help, NULL }
/* A string with a check (a choice, a list of pairs...). */
#define SC(sec, name, field, def, check, help) \
	{ sec, name, CT_STR, offsetof(struct config, field), \
	  sizeof(((struct config *)0)->field), 0, 0, def, help, check }
#define LC(sec, name, field, def, check, help) \
	{ sec, name, CT_LIST, offsetof(struct config, field), \
	  sizeof(((struct config *)0)->field), 0, 0, def, help, check }

static int
one_of(const char *value, const char *const *choices, char *err,
    size_t errlen)
{
	size_t len = 0;

	for (const char *const *c = choices; *c; c++)
		if (strcmp(value, *c) == 0)
			return 0;
	len = (size_t)snprintf(err, errlen, "'%s' is not one of", value);
	for (const char *const *c = choices; *c && len < errlen; c++)
		len += (size_t)snprintf(err + len, errlen - len, " %s", *c);
	return -1;
}

static int
check_synchronous(const char *value, char *err, size_t errlen)
{
	static const char *const c[] = { "full", "normal", NULL };

	return one_of(value, c, err, errlen);
}

static int
check_energy(const char *value, char *err, size_t errlen)
{
	static const char *const c[] = { "today", "lifetime", NULL };

	return one_of(value, c, err, errlen);
}

/* "INVERTER_SERIAL=SYSTEM_ID ...": serials printable, ids 1..99999999. */
static int
check_systems(const char *value, char *err, size_t errlen)
{
	const char *p = value;

	while (*p) {
		const char *w = p, *eq = NULL;
		size_t len;
		char *end;
		long id;

		while (*p && *p != ' ') {
			if (*p == '=' && eq == NULL)
				eq = p;
			p++;
		}
		len = (size_t)(p - w);
		while (*p == ' ')
			p++;
		if (len == 0)
			continue;
		if (eq == NULL || eq == w || eq - w > 16) {
			snprintf(err, errlen, "'%.*s' is not INVERTER_SERIAL="
			    "SYSTEM_ID", (int)len, w);
			return -1;
		}
		id = strtol(eq + 1, &end, 10);
		if (end != w + len || id < 1 || id > 99999999) {
			snprintf(err, errlen, "'%.*s': the system id is not a "
			    "number from 1 to 99999999", (int)len, w);
			return -1;
		}
	}
	return 0;
}

static int
check_url(const char *value, char *err, size_t errlen)
{
	if (strncmp(value, "https://", 8) == 0 ||
	    strncmp(value, "http://", 7) == 0)
		return 0;
	snprintf(err, errlen, "'%s' is not an http:// or https:// URL", value);
	return -1;
}

static const struct ckey keys[] = {
	S("omniklog", "user", user, "omniklog",
	    "unprivileged user to run as after opening sockets"),
	S("omniklog", "pidfile", pidfile, "/run/omniklog/%s.pid",
	    "pid file when daemonised (%s: program name)"),
	S("omniklog", "csv", csv, "",
	    "append readings to this CSV file (seed format); empty: off"),
	S("omniklog", "db", db, "/var/lib/omniklog/omniklog.db",
	    "the SQLite journal every reading is committed to first"),
	I("omniklog", "verbose", verbose, 0, 2, "0",
	    "1 also logs every frame (debug)"),

	L("relay", "listen", listen, "10004",
	    "[ADDR:]PORT to accept redirected connections on; repeatable"),
	S("relay", "upstream", upstream, "original",
	    "original (SO_ORIGINAL_DST), HOST:PORT, or none"),
	L("relay", "allow_upstream", allow_upstream, "",
	    "networks the relay may forward to (CIDR); empty: any"),
	L("relay", "allow_clients", allow_clients, "",
	    "networks kits may connect from (CIDR); empty: any"),
	I("relay", "connect_timeout", connect_timeout, 1, 600, "10",
	    "seconds to wait for the upstream to accept"),
	I("relay", "idle_timeout", idle_timeout, 1, 86400, "120",
	    "seconds a connection may stay silent"),
	I("relay", "max_connections", max_connections, 0, 1000000, "0",
	    "concurrent connections; 0: derived from the open-files limit"),
	I("relay", "max_buffer", max_buffer, 4096, 16777216, "65536",
	    "bytes buffered per direction before reading pauses"),
	I("relay", "drain_timeout", drain_timeout, 0, 600, "5",
	    "seconds open connections get to finish on SIGTERM"),

	S("sniff", "interface", interface, "",
	    "capture on this interface (a bridge or mirror port)"),
	L("sniff", "ports", ports, "10004",
	    "TCP ports the kits push to; repeatable"),
	S("sniff", "filter", filter, "",
	    "BPF filter replacing the one built from ports"),
	B("sniff", "promisc", promisc, "yes",
	    "put the interface in promiscuous mode"),
	I("sniff", "snaplen", snaplen, 64, 262144, "65535",
	    "bytes captured per packet"),
	I("sniff", "buffer_size", buffer_size, 65536, 1073741824, "4194304",
	    "kernel capture buffer in bytes"),
	I("sniff", "nfqueue", nfqueue, -1, 65535, "-1",
	    "NFQUEUE number to see packets inline; -1: off"),
	I("sniff", "max_flows", max_flows, 16, 10000000, "100000",
	    "TCP flows followed at once; past it the least recent ends"),
	I("sniff", "flow_timeout", flow_timeout, 5, 86400, "300",
	    "seconds a silent flow is kept (packet time on replay)"),
	I("sniff", "max_held", max_held, 65536, 1073741824, "8388608",
	    "bytes of out-of-order segments held, all flows together"),

	I("journal", "retention", retention, 0, 36500, "0",
	    "days readings and rejects are kept (never before every output "
	    "has delivered them); 0: forever"),
	SC("journal", "synchronous", synchronous, "full", check_synchronous,
	    "full: every reading survives a power cut; normal: a crash"),

	/* A list, so that a long TLS conninfo goes on indented lines. */
	L("postgresql", "conninfo", pg_conninfo, "",
	    "libpq connection string (host, dbname, user, sslmode...), "
	    "continued on indented lines; empty: off"),
	S("postgresql", "table", pg_table, "omniklog_readings",
	    "table the readings go to (created if missing)"),
	I("postgresql", "batch", pg_batch, 1, 1000, "200",
	    "readings per INSERT"),

	S("mqtt", "host", mqtt_host, "",
	    "MQTT broker host name or address; empty: off"),
	I("mqtt", "port", mqtt_port, 1, 65535, "1883",
	    "broker port (8883 is usual with tls)"),
	S("mqtt", "username", mqtt_username, "", "user name; empty: none"),
	S("mqtt", "password", mqtt_password, "", "password"),
	S("mqtt", "client_id", mqtt_client_id, "",
	    "MQTT client id; empty: omniklog-HOSTNAME"),
	S("mqtt", "prefix", mqtt_prefix, "omniklog",
	    "state goes to PREFIX/INVERTER_SERIAL/state"),
	B("mqtt", "discovery", mqtt_discovery, "yes",
	    "publish Home Assistant discovery configs"),
	S("mqtt", "discovery_prefix", mqtt_discovery_prefix, "homeassistant",
	    "Home Assistant's discovery prefix"),
	I("mqtt", "keepalive", mqtt_keepalive, 5, 3600, "60",
	    "seconds between keep-alive pings"),
	B("mqtt", "tls", mqtt_tls, "no", "connect with TLS"),
	S("mqtt", "cafile", mqtt_cafile, "",
	    "CA certificates for tls; empty: the system's"),
	S("mqtt", "certfile", mqtt_certfile, "", "client certificate (tls)"),
	S("mqtt", "keyfile", mqtt_keyfile, "", "client key (tls)"),

	S("pvoutput", "api_key", pv_api_key, "",
	    "PVOutput API key (sent in a header, never logged); empty: off"),
	LC("pvoutput", "systems", pv_systems, "", check_systems,
	    "INVERTER_SERIAL=SYSTEM_ID pairs, one system per inverter"),
	SC("pvoutput", "url", pv_url, "https://pvoutput.org", check_url,
	    "PVOutput's base URL"),
	S("pvoutput", "cafile", pv_cafile, "",
	    "CA certificates for an https url (a self-hosted proxy); empty: "
	    "the system's"),
	B("pvoutput", "donor", pv_donor, "no",
	    "donor account: 100 statuses per request, 90 days of backfill"),
	SC("pvoutput", "energy", pv_energy, "today", check_energy,
	    "v1: today (energy today) or lifetime (total, sent with c1=1)"),
	B("pvoutput", "temperature", pv_temperature, "yes",
	    "send the inverter temperature as v5"),
	B("pvoutput", "voltage", pv_voltage, "yes",
	    "send the AC voltage as v6"),
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const struct ckey *
find_key(const char *section, const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].section, section) == 0 &&
		    strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static bool
known_section(const char *section)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].section, section) == 0)
			return true;
	return false;
}

static int
parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "1", "yes", "true", "on" };
	static const char *const no[] = { "0", "no", "false", "off" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

static int
set_key(struct config *c, const struct ckey *k, const char *value, bool append,
    char *err, size_t errlen)
{
	char *p = (char *)c + k->offset;
	char *end;
	long n;
	size_t cur;

	if (k->check && k->check(value, err, errlen) != 0) {
		char msg[200];

		snprintf(msg, sizeof(msg), "%s", err);
		snprintf(err, errlen, "[%s] %s: %s", k->section, k->name, msg);
		return -1;
	}
	switch (k->type) {
	case CT_LIST:
		cur = append ? strlen(p) : 0;
		if (cur + 1 + strlen(value) + 1 > k->size) {
			snprintf(err, errlen, "[%s] %s: list too long (max %zu "
			    "bytes)", k->section, k->name, k->size - 1);
			return -1;
		}
		if (cur > 0 && value[0] != '\0')
			p[cur++] = ' ';
		strcpy(p + cur, value);
		return 0;
	case CT_STR:
		if (strlen(value) >= k->size) {
			snprintf(err, errlen, "[%s] %s: value too long (max %zu "
			    "bytes)", k->section, k->name, k->size - 1);
			return -1;
		}
		strcpy(p, value);
		return 0;
	case CT_INT:
		errno = 0;
		n = strtol(value, &end, 10);
		if (errno != 0 || end == value || *end != '\0' ||
		    n < k->min || n > k->max) {
			snprintf(err, errlen, "[%s] %s: '%s' is not a whole "
			    "number from %ld to %ld", k->section, k->name,
			    value, k->min, k->max);
			return -1;
		}
		*(int *)(void *)p = (int)n;
		return 0;
	case CT_BOOL:
		if (parse_bool(value, (bool *)(void *)p) != 0) {
			snprintf(err, errlen, "[%s] %s: '%s' is not yes or no",
			    k->section, k->name, value);
			return -1;
		}
		return 0;
	}
	return -1;
}

void
config_defaults(struct config *c)
{
	char err[256];

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < NKEYS; i++)
		(void)set_key(c, &keys[i], keys[i].def, false, err,
		    sizeof(err));
}

int
config_set(struct config *c, const char *section, const char *key,
    const char *value, char *err, size_t errlen)
{
	const struct ckey *k = find_key(section, key);

	if (k == NULL) {
		snprintf(err, errlen, "unknown key '%s' in section [%s]", key,
		    section);
		return -1;
	}
	return set_key(c, k, value, false, err, errlen);
}

struct load {
	struct config *c;
	FILE *fp;
	const char *path;
	int line;
	int nerr;
	char *err;
	size_t errlen, errused;
	/* Lists: the first occurrence in the file replaces the default. */
	bool seen[NKEYS];
};

static void __attribute__((format(printf, 2, 3)))
add_error(struct load *ld, const char *fmt, ...)
{
	va_list ap;
	int n;

	ld->nerr++;
	if (ld->errused + 1 >= ld->errlen)
		return;
	n = snprintf(ld->err + ld->errused, ld->errlen - ld->errused,
	    "%s%s:%d: ", ld->errused ? "\n" : "", ld->path, ld->line);
	if (n > 0)
		ld->errused += (size_t)n;
	if (ld->errused + 1 >= ld->errlen) {
		ld->errused = ld->errlen - 1;
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(ld->err + ld->errused, ld->errlen - ld->errused, fmt, ap);
	va_end(ap);
	if (n > 0)
		ld->errused += (size_t)n;
	if (ld->errused >= ld->errlen)
		ld->errused = ld->errlen - 1;
}

static char *
read_line(char *str, int num, void *stream)
{
	struct load *ld = stream;
	char *r = fgets(str, num, ld->fp);

	if (r != NULL)
		ld->line++;
	return r;
}

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct load *ld = user;
	const struct ckey *k;
	char msg[300];
	size_t idx;

	if (section[0] == '\0') {
		add_error(ld, "'%s' is outside any section (start with "
		    "[omniklog])", name);
		return 1;
	}
	if (!known_section(section)) {
		add_error(ld, "unknown section [%s]", section);
		return 1;
	}
	k = find_key(section, name);
	if (k == NULL) {
		add_error(ld, "unknown key '%s' in section [%s]", name,
		    section);
		return 1;
	}
	idx = (size_t)(k - keys);
	if (set_key(ld->c, k, value, ld->seen[idx], msg, sizeof(msg)) != 0)
		add_error(ld, "%s", msg);
	ld->seen[idx] = true;
	/* Always go on: report every problem in one run. */
	return 1;
}

/* Settings that only make sense together, checked once the file is read. */
static void
cross_check(struct load *ld)
{
	const struct config *c = ld->c;

	if (c->pv_api_key[0] != '\0' && c->pv_systems[0] == '\0')
		add_error(ld, "[pvoutput] api_key is set but systems is empty "
		    "(INVERTER_SERIAL=SYSTEM_ID)");
	if (c->pv_api_key[0] == '\0' && c->pv_systems[0] != '\0')
		add_error(ld, "[pvoutput] systems is set but api_key is empty");
	if ((c->mqtt_certfile[0] == '\0') != (c->mqtt_keyfile[0] == '\0'))
		add_error(ld, "[mqtt] certfile and keyfile go together");
}

int
config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	struct load ld;
	int r;

	memset(&ld, 0, sizeof(ld));
	ld.c = c;
	ld.path = path;
	ld.err = err;
	ld.errlen = errlen;
	if (errlen > 0)
		err[0] = '\0';
	ld.fp = fopen(path, "r");
	if (ld.fp == NULL) {
		snprintf(err, errlen, "cannot read %s: %s", path,
		    strerror(errno));
		return -1;
	}
	r = ini_parse_stream(read_line, &ld, handler, &ld);
	fclose(ld.fp);
	if (r > 0) {
		/* inih's own syntax error (our handler never fails). */
		ld.line = r;
		add_error(&ld, "syntax error (expected [section] or "
		    "key = value; lines are limited to 200 bytes, a long "
		    "conninfo goes on indented lines)");
	} else if (r < 0) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	cross_check(&ld);
	return ld.nerr == 0 ? 0 : -1;
}

/* A value, with any "password=..." inside it (a libpq conninfo) masked. */
static void
dump_value(FILE *fp, const char *name, const char *v)
{
	const char *pw = strstr(v, "password=");

	if (pw == NULL) {
		fprintf(fp, "%s = %s\n", name, v);
		return;
	}
	pw += strlen("password=");
	fprintf(fp, "%s = %.*s(hidden)%s\n", name, (int)(pw - v), v,
	    pw + strcspn(pw, " \t"));
}

void
config_dump(const struct config *c, FILE *fp)
{
	const char *section = "";

	for (size_t i = 0; i < NKEYS; i++) {
		const struct ckey *k = &keys[i];
		const char *p = (const char *)c + k->offset;

		if (strcmp(section, k->section) != 0) {
			fprintf(fp, "%s[%s]\n", i ? "\n" : "", k->section);
			section = k->section;
		}
		fprintf(fp, "; %s\n", k->help);
		/* Secrets stay out of dumps, which end up in bug reports. */
		if ((strcmp(k->name, "password") == 0 ||
		    strcmp(k->name, "api_key") == 0) && p[0] != '\0') {
			fprintf(fp, "%s = (hidden)\n", k->name);
			continue;
		}
		switch (k->type) {
		case CT_STR:
		case CT_LIST:
			dump_value(fp, k->name, p);
			break;
		case CT_INT:
			fprintf(fp, "%s = %d\n", k->name,
			    *(const int *)(const void *)p);
			break;
		case CT_BOOL:
			fprintf(fp, "%s = %s\n", k->name,
			    *(const bool *)(const void *)p ? "yes" : "no");
			break;
		}
	}
}

int
config_ports(const char *list, uint16_t *ports, int max, char *err,
    size_t errlen)
{
	const char *p = list;
	int n = 0;

	while (*p) {
		char *end;
		long port;

		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		errno = 0;
		port = strtol(p, &end, 10);
		if (end == p || errno != 0 || port < 1 || port > 65535 ||
		    (*end && *end != ' ' && *end != ',')) {
			snprintf(err, errlen, "'%s' is not a list of TCP ports",
			    list);
			return -1;
		}
		if (n == max) {
			snprintf(err, errlen, "too many ports in '%s' (at most "
			    "%d)", list, max);
			return -1;
		}
		ports[n++] = (uint16_t)port;
		p = end;
	}
	if (n == 0) {
		snprintf(err, errlen, "no TCP port given");
		return -1;
	}
	return n;
}

int
config_override(struct config_overrides *o, const char *section,
    const char *key, const char *value)
{
	if (o->n >= CONFIG_MAX_OVERRIDES)
		return -1;
	o->ov[o->n].section = section;
	o->ov[o->n].key = key;
	o->ov[o->n].value = value;
	o->n++;
	return 0;
}

int
config_build(struct config *c, const char *path,
    const struct config_overrides *o, char *err, size_t errlen)
{
	const char *p = path ? path : CONFIG_DEFAULT_PATH;
	char msg[256];

	config_defaults(c);
	if (path != NULL || access(p, F_OK) == 0) {
		if (config_load(c, p, err, errlen) != 0)
			return -1;
	}
	for (int i = 0; o != NULL && i < o->n; i++) {
		if (config_set(c, o->ov[i].section, o->ov[i].key,
		    o->ov[i].value, msg, sizeof(msg)) != 0) {
			snprintf(err, errlen, "option: %s", msg);
			return -1;
		}
	}
	return 0;
}
