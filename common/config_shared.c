/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * config_shared.c: the sections every program shares, [omniklog],
 * [relay], [sniff] and [journal], over the fields of struct config, and
 * the checks of their values.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "kitaddr.h"

/* The shared sections' keys, over struct config itself. */
#define S(n, f, d, h, ...) CONFIG_KEY_STR(struct config, n, f, d, h, __VA_ARGS__)
#define L(n, f, d, h, ...) CONFIG_KEY_LIST(struct config, n, f, d, h, __VA_ARGS__)
#define I(n, f, lo, hi, d, h, ...) \
	CONFIG_KEY_INT(struct config, n, f, lo, hi, d, h, __VA_ARGS__)
#define B(n, f, d, h, ...) CONFIG_KEY_BOOL(struct config, n, f, d, h, __VA_ARGS__)

int
config_one_of(const char *value, const char *const *choices, char *err,
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

	return config_one_of(value, c, err, errlen);
}

/* A file the program will need: there and readable now, not at the
 * first connection hours later. Empty: not used. */
int
config_check_file(const char *value, char *err, size_t errlen)
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

static const struct config_key omniklog_keys[] = {
	S("user", user, "omniklog",
	    "unprivileged user to run as after opening sockets (must "
	    "exist; root or empty: stay as started)"),
	S("pidfile", pidfile, "/run/omniklog/%s.pid",
	    "pid file when daemonised (%s: program name)"),
	S("csv", csv, "",
	    "append readings to this CSV file (seed format); empty: off"),
	S("db", db, "/var/lib/omniklog/omniklog.db",
	    "the SQLite journal every reading is committed to first"),
	I("verbose", verbose, 0, 2, "0",
	    "1 also logs every frame (debug)"),
};

static const struct config_key relay_keys[] = {
	L("listen", listen, "10004",
	    "[ADDR:]PORT to accept redirected connections on; repeatable",
	    .check = check_listen),
	S("upstream", upstream, "original",
	    "original (SO_ORIGINAL_DST), HOST:PORT, or none",
	    .check = check_upstream),
	L("allow_upstream", allow_upstream, "",
	    "networks the relay may forward to (CIDR); empty: any public "
	    "address (private ones only with upstream = HOST:PORT)"),
	L("allow_clients", allow_clients, "",
	    "networks kits may connect from (CIDR); empty: private, loopback, "
	    "link-local and ULA ones; 0.0.0.0/0 ::/0 for any"),
	L("portal_ports", portal_ports, "10004",
	    "original destination ports forwarded (upstream = original)"),
	I("connect_timeout", connect_timeout, 1, 600, "10",
	    "seconds to wait for the upstream to accept"),
	I("idle_timeout", idle_timeout, 1, 86400, "120",
	    "seconds a connection may stay silent"),
	I("max_connections", max_connections, 0, 1000000, "0",
	    "concurrent connections; 0: derived from the open-files limit "
	    "and memory"),
	I("max_buffer", max_buffer, 4096, 16777216, "65536",
	    "bytes buffered per direction before reading pauses"),
	I("max_buffer_total", max_buffer_total, 65536, 1073741824,
	    "33554432", "bytes buffered by all connections together; past "
	    "it connections pause, unproven ones are cut"),
	I("client_connections", client_connections, 1, 1000000,
	    "32", "connections one client address (IPv6: /64) may hold"),
	I("client_buffer", client_buffer, 4096, 1073741824,
	    "1048576", "bytes buffered for one client address before its "
	    "connections pause"),
	I("first_frame_grace", first_frame_grace, 1, 3600, "5",
	    "seconds a connection may go without a valid frame before it is "
	    "the first to be evicted"),
	I("reading_burst", reading_burst, 1, 100000000, "1000",
	    "readings one connection may send at once before the rate applies"),
	I("reading_rate", reading_rate, 1, 100000000, "600",
	    "readings per minute one connection may send after its burst"),
	I("drain_timeout", drain_timeout, 0, 600, "5",
	    "seconds open connections get to finish on SIGTERM"),
};

static const struct config_key sniff_keys[] = {
	S("interface", interface, "",
	    "capture on this interface (a bridge or mirror port)"),
	L("ports", ports, "10004",
	    "TCP ports the kits push to; repeatable"),
	S("filter", filter, "",
	    "BPF filter replacing the one built from ports"),
	B("promisc", promisc, "yes",
	    "put the interface in promiscuous mode"),
	I("snaplen", snaplen, 64, 262144, "65535",
	    "bytes captured per packet"),
	I("buffer_size", buffer_size, 65536, 1073741824, "4194304",
	    "kernel capture buffer in bytes"),
	I("nfqueue", nfqueue, -1, 65535, "-1",
	    "NFQUEUE number to see packets inline; -1: off"),
	I("max_flows", max_flows, 16, 10000000, "100000",
	    "TCP flows followed at once; past it the least recent ends"),
	I("flow_timeout", flow_timeout, 5, 86400, "300",
	    "seconds a silent flow is kept (packet time on replay)"),
	I("max_held", max_held, 65536, 1073741824, "8388608",
	    "bytes of out-of-order segments held, all flows together"),
};

/* One line of kits: its words, for the line's file:line. */
static int
check_kits(const char *value, char *err, size_t errlen)
{
	struct kitaddr k[KITADDR_MAX];

	return kitaddr_parse(value, k, KITADDR_MAX, err, errlen) < 0 ? -1 : 0;
}

/* The whole list so far: a kit on two lines, too many kits. */
static int
parse_kits(void *section, char *err, size_t errlen)
{
	struct kitaddr k[KITADDR_MAX];

	return kitaddr_parse(((struct config *)section)->kits, k, KITADDR_MAX,
	    err, errlen) < 0 ? -1 : 0;
}

static int
check_method(const char *value, char *err, size_t errlen)
{
	static const char *const c[] = { "auto", "tcp", "http", NULL };

	return config_one_of(value, c, err, errlen);
}

static const struct config_key poll_keys[] = {
	L("kits", kits, "",
	    "kits to poll, HOST[:PORT]/SERIAL (port 8899 by default; the "
	    "serial from the kit's label); repeatable",
	    .check = check_kits, .parse = parse_kits),
	I("interval", poll_interval, 1, 86400, "300",
	    "seconds between two polls of a kit; below 60 is raised to 60 "
	    "(faster polls starve the kit's own push)"),
	I("timeout", poll_timeout, 1, 120, "15",
	    "seconds one poll (connect, request, answer) may take"),
	S("method", poll_method, "auto",
	    "tcp (poll on port 8899), http (the status page) or auto (tcp, "
	    "then the status page; what worked is kept)",
	    .check = check_method),
	S("http_user", http_user, "admin",
	    "user name for the status page's HTTP Basic auth"),
	S("http_password", http_password, "",
	    "password for the status page (the kits' factory one is admin)",
	    .secret = true),
};

static const struct config_key journal_keys[] = {
	I("retention", retention, 0, 36500, "0",
	    "days readings and rejects are kept (never before every output "
	    "has delivered them); 0: forever"),
	S("synchronous", synchronous, "full",
	    "full: every reading survives a power cut; normal: a crash",
	    .check = check_synchronous),
	I("duplicate_window", dup_window, 0, 3600, "300",
	    "seconds apart a reading another program on this journal stored "
	    "may be and still be this one (stored once); 0: store every one"),
};

static const struct config_section omniklog =
    CONFIG_SECTION("omniklog", struct config, omniklog_keys);
static const struct config_section relay =
    CONFIG_SECTION("relay", struct config, relay_keys);
static const struct config_section sniff =
    CONFIG_SECTION("sniff", struct config, sniff_keys);
static const struct config_section journal =
    CONFIG_SECTION("journal", struct config, journal_keys);
static const struct config_section poll =
    CONFIG_SECTION("poll", struct config, poll_keys);

const struct config_section *const config_shared[] = {
	&omniklog, &relay, &sniff, &poll, &journal, NULL
};

