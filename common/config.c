/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * config.c: table-driven INI settings, parsed with libinih.
 *
 * inih does not tell its handler the line number, so the file is fed to it
 * through ini_parse_stream() with our own line reader, which counts lines:
 * inih calls the handler for a line before it reads the next one.
 */
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
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

/*
 * "INVERTER_SERIAL=SYSTEM_ID" (one inverter) or "SYSTEM_ID:SN1+SN2..."
 * (several inverters summed into one system), space separated: serials
 * at most 16 bytes, at most 8 per system, ids 1..99999999.
 */
static int
check_system_id(const char *w, size_t len, const char *id, size_t idlen,
    char *err, size_t errlen)
{
	char *end;
	long n;

	n = idlen > 0 && id[0] >= '0' && id[0] <= '9' ? strtol(id, &end, 10) :
	    0;
	if (n < 1 || n > 99999999 || end != id + idlen) {
		snprintf(err, errlen, "'%.*s': the system id is not a number "
		    "from 1 to 99999999", (int)len, w);
		return -1;
	}
	return 0;
}

static int
check_systems(const char *value, char *err, size_t errlen)
{
	const char *p = value;

	while (*p) {
		const char *w = p, *eq, *colon;
		size_t len;

		len = strcspn(p, " ");
		p += len;
		while (*p == ' ')
			p++;
		if (len == 0)
			continue;
		eq = memchr(w, '=', len);
		colon = memchr(w, ':', len);
		if (eq && !colon && eq > w && eq - w <= 16) {
			if (check_system_id(w, len, eq + 1,
			    len - (size_t)(eq - w) - 1, err, errlen) != 0)
				return -1;
			continue;
		}
		if (colon && !eq && w[0] >= '0' && w[0] <= '9') {
			const char *m = colon + 1, *end = w + len;
			int nm = 0;

			if (check_system_id(w, len, w, (size_t)(colon - w), err,
			    errlen) != 0)
				return -1;
			for (;;) {
				size_t ml = strcspn(m, "+ ");

				if (m + ml > end)
					ml = (size_t)(end - m);
				if (ml == 0 || ml > 16 || ++nm > 8) {
					snprintf(err, errlen, "'%.*s' is not "
					    "SYSTEM_ID:SERIAL+SERIAL... (at "
					    "most 8 serials of 16 bytes)",
					    (int)len, w);
					return -1;
				}
				m += ml;
				if (m >= end)
					break;
				m++;	/* '+' */
			}
			continue;
		}
		snprintf(err, errlen, "'%.*s' is not INVERTER_SERIAL=SYSTEM_ID "
		    "or SYSTEM_ID:SERIAL+SERIAL", (int)len, w);
		return -1;
	}
	return 0;
}

/*
 * The same inverter in two systems, or a system listed twice: two
 * cursors would deliver into one system and overwrite each other's
 * statuses. Several inverters in one system is the SID:SN1+SN2 form.
 */
static int
systems_duplicate(const char *value, char *err, size_t errlen)
{
	char sn[64][17], sid[32][12];
	int nsn = 0, nsid = 0;
	const char *p = value;

	while (*p) {
		const char *w = p, *eq, *colon, *m, *end;
		size_t len = strcspn(p, " ");

		p += len;
		while (*p == ' ')
			p++;
		if (len == 0)
			continue;
		end = w + len;
		eq = memchr(w, '=', len);
		colon = memchr(w, ':', len);
		if ((eq == NULL) == (colon == NULL))
			continue;	/* reported by check_systems */
		{
			const char *id = eq ? eq + 1 : w;
			size_t il = eq ? (size_t)(end - id) :
			    (size_t)(colon - w);

			for (int i = 0; i < nsid; i++)
				if (strlen(sid[i]) == il &&
				    memcmp(sid[i], id, il) == 0) {
					snprintf(err, errlen, "system %.*s is "
					    "listed twice (to sum several "
					    "inverters into it: %.*s:SN1+SN2)",
					    (int)il, id, (int)il, id);
					return -1;
				}
			if (nsid < 32 && il < sizeof(sid[0]))
				snprintf(sid[nsid++], sizeof(sid[0]), "%.*s",
				    (int)il, id);
		}
		m = eq ? w : colon + 1;
		while (m < end) {
			size_t ml = strcspn(m, eq ? "=" : "+ ");

			if (m + ml > end)
				ml = (size_t)(end - m);
			for (int i = 0; i < nsn; i++)
				if (strlen(sn[i]) == ml &&
				    memcmp(sn[i], m, ml) == 0) {
					snprintf(err, errlen, "inverter %.*s "
					    "is mapped twice (one inverter "
					    "goes to one system)", (int)ml, m);
					return -1;
				}
			if (nsn < 64 && ml < sizeof(sn[0]))
				snprintf(sn[nsn++], sizeof(sn[0]), "%.*s",
				    (int)ml, m);
			if (eq)
				break;
			m += ml + 1;
		}
	}
	return 0;
}

/*
 * https only: the API key travels in a header. Plain http is for a
 * stand-in on this machine (tests, a local proxy), never over a network.
 */
static int
check_url(const char *value, char *err, size_t errlen)
{
	static const char *const local[] = { "127.0.0.1", "localhost",
	    "[::1]", NULL };
	const char *h = value + 7;

	if (strncmp(value, "https://", 8) == 0)
		return 0;
	if (strncmp(value, "http://", 7) != 0) {
		snprintf(err, errlen, "'%s' is not an https:// URL", value);
		return -1;
	}
	for (const char *const *l = local; *l; l++) {
		size_t n = strlen(*l);

		if (strncmp(h, *l, n) == 0 && strchr(":/", h[n]) != NULL)
			return 0;
	}
	snprintf(err, errlen, "'%s': plain http would send the API key in "
	    "clear text; use https:// (http:// only to 127.0.0.1 or "
	    "localhost)", value);
	return -1;
}

/* A file the program will need: there and readable now, not at the
 * first connection hours later. Empty: not used. */
static int
check_file(const char *value, char *err, size_t errlen)
{
	if (value[0] == '\0' || access(value, R_OK) == 0)
		return 0;
	snprintf(err, errlen, "cannot read '%s': %s", value, strerror(errno));
	return -1;
}

/* A port number, 1 .. 65535, that ends the string. */
static bool
is_port(const char *s)
{
	char *end;
	long n;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	n = strtol(s, &end, 10);
	return errno == 0 && *end == '\0' && n >= 1 && n <= 65535;
}

/* "HOST:PORT", "[V6]:PORT"; with passive, a bare "PORT" too. */
static bool
is_host_port(const char *s, bool passive)
{
	const char *colon;

	if (passive && is_port(s))
		return true;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		return close && close > s + 1 && close[1] == ':' &&
		    is_port(close + 2);
	}
	colon = strrchr(s, ':');
	return colon && colon > s && memchr(s, ':', (size_t)(colon - s)) ==
	    NULL && is_port(colon + 1);
}

/* The relay's syntax, checked here for file:line (names resolve later). */
static int
check_upstream(const char *value, char *err, size_t errlen)
{
	if (strcmp(value, "original") == 0 || strcmp(value, "none") == 0 ||
	    is_host_port(value, false))
		return 0;
	snprintf(err, errlen, "'%s' is not HOST:PORT (nor original or none)",
	    value);
	return -1;
}

static int
check_listen(const char *value, char *err, size_t errlen)
{
	char spec[CONFIG_STR];
	const char *p = value;
	size_t len;

	for (;;) {
		p += strspn(p, " \t,");
		if (*p == '\0')
			return 0;
		len = strcspn(p, " \t,");
		if (len >= sizeof(spec)) {
			snprintf(err, errlen, "entry too long");
			return -1;
		}
		memcpy(spec, p, len);
		spec[len] = '\0';
		p += len;
		if (!is_host_port(spec, true)) {
			snprintf(err, errlen, "'%s' is not [ADDR:]PORT", spec);
			return -1;
		}
	}
}

/* [SCHEMA.]TABLE: PostgreSQL names are at most 63 bytes. */
static int
check_pg_table(const char *value, char *err, size_t errlen)
{
	const char *dot = strchr(value, '.');
	size_t a = dot ? (size_t)(dot - value) : strlen(value);
	size_t b = dot ? strlen(dot + 1) : 1;

	if (a == 0 || b == 0 || a > 63 || b > 63 || (dot &&
	    strchr(dot + 1, '.'))) {
		snprintf(err, errlen, "'%s' is not TABLE or SCHEMA.TABLE "
		    "(each at most 63 bytes)", value);
		return -1;
	}
	return 0;
}

static const struct ckey keys[] = {
	S("omniklog", "user", user, "omniklog",
	    "unprivileged user to run as after opening sockets (must "
	    "exist; root or empty: stay as started)"),
	S("omniklog", "pidfile", pidfile, "/run/omniklog/%s.pid",
	    "pid file when daemonised (%s: program name)"),
	S("omniklog", "csv", csv, "",
	    "append readings to this CSV file (seed format); empty: off"),
	S("omniklog", "db", db, "/var/lib/omniklog/omniklog.db",
	    "the SQLite journal every reading is committed to first"),
	I("omniklog", "verbose", verbose, 0, 2, "0",
	    "1 also logs every frame (debug)"),

	LC("relay", "listen", listen, "10004", check_listen,
	    "[ADDR:]PORT to accept redirected connections on; repeatable"),
	SC("relay", "upstream", upstream, "original", check_upstream,
	    "original (SO_ORIGINAL_DST), HOST:PORT, or none"),
	L("relay", "allow_upstream", allow_upstream, "",
	    "networks the relay may forward to (CIDR); empty: any public "
	    "address (private ones only with upstream = HOST:PORT)"),
	L("relay", "allow_clients", allow_clients, "",
	    "networks kits may connect from (CIDR); empty: private, loopback, "
	    "link-local and ULA ones; 0.0.0.0/0 ::/0 for any"),
	L("relay", "portal_ports", portal_ports, "10004",
	    "original destination ports forwarded (upstream = original)"),
	I("relay", "connect_timeout", connect_timeout, 1, 600, "10",
	    "seconds to wait for the upstream to accept"),
	I("relay", "idle_timeout", idle_timeout, 1, 86400, "120",
	    "seconds a connection may stay silent"),
	I("relay", "max_connections", max_connections, 0, 1000000, "0",
	    "concurrent connections; 0: derived from the open-files limit "
	    "and memory"),
	I("relay", "max_buffer", max_buffer, 4096, 16777216, "65536",
	    "bytes buffered per direction before reading pauses"),
	I("relay", "max_buffer_total", max_buffer_total, 65536, 1073741824,
	    "33554432", "bytes buffered by all connections together; past "
	    "it connections pause, unproven ones are cut"),
	I("relay", "client_connections", client_connections, 1, 1000000,
	    "32", "connections one client address (IPv6: /64) may hold"),
	I("relay", "client_buffer", client_buffer, 4096, 1073741824,
	    "1048576", "bytes buffered for one client address before its "
	    "connections pause"),
	I("relay", "first_frame_grace", first_frame_grace, 1, 3600, "5",
	    "seconds a connection may go without a valid frame before it is "
	    "the first to be evicted"),
	I("relay", "reading_burst", reading_burst, 1, 100000000, "1000",
	    "readings one connection may send at once before the rate applies"),
	I("relay", "reading_rate", reading_rate, 1, 100000000, "600",
	    "readings per minute one connection may send after its burst"),
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
	SC("postgresql", "table", pg_table, "omniklog_readings",
	    check_pg_table, "[SCHEMA.]TABLE the readings go to (the table "
	    "is created if missing, the schema must exist)"),
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
	SC("mqtt", "cafile", mqtt_cafile, "", check_file,
	    "CA certificates for tls; empty: the system's"),
	SC("mqtt", "certfile", mqtt_certfile, "", check_file,
	    "client certificate (tls)"),
	SC("mqtt", "keyfile", mqtt_keyfile, "", check_file,
	    "client key (tls)"),
	I("mqtt", "expire_after", mqtt_expire_after, 0, 86400, "900",
	    "seconds after the last reading before Home Assistant shows the "
	    "live values unavailable (3 pushes of ~300 s); 0: never"),

	S("pvoutput", "api_key", pv_api_key, "",
	    "PVOutput API key (sent in a header, never logged); empty: off"),
	LC("pvoutput", "systems", pv_systems, "", check_systems,
	    "INVERTER_SERIAL=SYSTEM_ID pairs, or SYSTEM_ID:SN1+SN2 for "
	    "inverters summed into one system"),
	SC("pvoutput", "url", pv_url, "https://pvoutput.org", check_url,
	    "PVOutput's base URL (https; http only to 127.0.0.1/localhost)"),
	SC("pvoutput", "cafile", pv_cafile, "", check_file,
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
	char *text;		/* the whole file, NUL-terminated */
	size_t len, pos;	/* its length, what inih has had */
	const char *path;
	int line;
	int nerr;
	char *err;
	size_t errlen, errused;
	/* Lists: the first occurrence in the file replaces the default.
	 * Other keys: a second one is an error naming the first's line. */
	bool seen[NKEYS];
	int first_line[NKEYS];
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

/* inih reads lines through this: from the file's text, in memory. */
static char *
read_line(char *str, int num, void *stream)
{
	struct load *ld = stream;
	size_t n = 0;

	if (ld->pos >= ld->len || num < 2)
		return NULL;
	/* A line longer than num comes in pieces: count it once. */
	if (ld->pos == 0 || ld->text[ld->pos - 1] == '\n')
		ld->line++;
	while (n < (size_t)num - 1 && ld->pos < ld->len) {
		char ch = ld->text[ld->pos++];

		str[n++] = ch;
		if (ch == '\n')
			break;
	}
	str[n] = '\0';
	return str;
}

/*
 * Read path, a config file: a regular file of at most CONFIG_MAX_SIZE
 * bytes of text, or the null device (the documented empty config: *text
 * NULL, 0 returned). A directory would read as empty and a device or FIFO
 * could block or never end, so both are refused; so is a NUL byte, which
 * would hide the rest of its line from the parser. Returns 0 with the
 * text (malloc'd) in *text and *len, or -1 with a message in err.
 */
static int
config_read(const char *path, char **text, size_t *len, char *err,
    size_t errlen)
{
	struct stat st, null;
	char *buf = NULL, *nul;
	size_t have = 0;
	int fd;

	*text = NULL;
	*len = 0;
	/* O_NONBLOCK: a FIFO must not hold us before we can refuse it. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		snprintf(err, errlen, "cannot read %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	if (S_ISCHR(st.st_mode) && stat("/dev/null", &null) == 0 &&
	    S_ISCHR(null.st_mode) && st.st_rdev == null.st_rdev) {
		close(fd);
		return 0;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a config file (%s); give a "
		    "regular file, or /dev/null for none", path,
		    S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ?
		    "a FIFO" : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ?
		    "a device" : "not a regular file");
		goto fail;
	}
	if (st.st_size > CONFIG_MAX_SIZE) {
		snprintf(err, errlen, "%s: %lld bytes, larger than a config "
		    "file may be (%d)", path, (long long)st.st_size,
		    CONFIG_MAX_SIZE);
		goto fail;
	}
	/* One byte more than the cap: a file that grew is seen to. */
	if ((buf = malloc(CONFIG_MAX_SIZE + 2)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	for (;;) {
		ssize_t n = read(fd, buf + have, CONFIG_MAX_SIZE + 1 - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "cannot read %s: %s", path,
			    strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		have += (size_t)n;
		if (have > CONFIG_MAX_SIZE) {
			snprintf(err, errlen, "%s: grew past %d bytes while "
			    "being read", path, CONFIG_MAX_SIZE);
			goto fail;
		}
	}
	close(fd);
	buf[have] = '\0';
	if ((nul = memchr(buf, '\0', have)) != NULL) {
		int line = 1;

		for (const char *p = buf; p < nul; p++)
			line += *p == '\n';
		snprintf(err, errlen, "%s:%d: a NUL byte: not a text file",
		    path, line);
		free(buf);
		return -1;
	}
	*text = buf;
	*len = have;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	return -1;
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
	/*
	 * "key =;x" gives ";x", but written back as "key = ;x" it reads as
	 * a comment: a setting that cannot be written is a typo anyway.
	 */
	if (value[0] == ';') {
		add_error(ld, "[%s] %s: a value may not start with ';' (a "
		    "comment goes after a space)", section, name);
		return 1;
	}
	if (ld->seen[idx] && k->type != CT_LIST) {
		add_error(ld, "[%s] %s is set twice (first on line %d); a "
		    "second value would silently win", section, name,
		    ld->first_line[idx]);
		return 1;
	}
	if (!ld->seen[idx])
		ld->first_line[idx] = ld->line;
	if (set_key(ld->c, k, value, ld->seen[idx], msg, sizeof(msg)) != 0)
		add_error(ld, "%s", msg);
	else if (k->check == check_systems &&
	    systems_duplicate(ld->c->pv_systems, msg, sizeof(msg)) != 0)
		add_error(ld, "[pvoutput] systems: %s", msg);
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
	if (config_read(path, &ld.text, &ld.len, err, errlen) != 0)
		return -1;
	r = ld.text == NULL ? 0 : ini_parse_stream(read_line, &ld, handler,
	    &ld);
	free(ld.text);
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
	if (path != NULL && path[0] == '\0') {
		/* No file at all: defaults and flags. */
	} else if (path != NULL || access(p, F_OK) == 0) {
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
