/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * omnik-relay: the transparent relay. Its own options and its run loop;
 * the life of a daemon (options shared with the other programs, detach,
 * privilege drop, signals, outputs) is app/program.c, the relaying is
 * relay.c. The listeners are bound as root, before program_start.
 */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include <event2/event.h>

#include "config.h"
#include "http.h"
#include "log.h"
#include "program.h"
#include "relay.h"

#define PROG "omnik-relay"

static void
usage(FILE *fp)
{
	fprintf(fp,
"Usage: omnik-relay [-fnvhV] [-c FILE] [-l [ADDR:]PORT]...\n"
"                   [--upstream original|HOST:PORT|none] [--db PATH]\n"
"                   [--csv PATH] [-u USER] [--pidfile FILE]\n"
"                   [--allow-clients CIDR...] [--http ADDR:PORT]\n"
"\n"
"A transparent relay for Omnik WiFi kits. The kit's push connection to\n"
"its portal (TCP port 10004) reaches the relay through an iptables or\n"
"nftables REDIRECT/DNAT rule (see omniklog-rules). The relay forwards the\n"
"bytes unchanged, both ways, to where the kit was going, so the vendor\n"
"portal keeps working, and decodes a copy: every reading is committed\n"
"to the journal, then goes to the CSV, the log and the remote outputs\n"
"(see the README). When the portal refuses, stays silent, resets\n"
"or crawls, the kit is still read to its end and no reading is lost.\n"
"\n"
"Options (each overrides the same key of the config file):\n"
"  -c, --config FILE   read FILE (default " CONFIG_DEFAULT_PATH ",\n"
"                      used only if it exists); /dev/null: none\n"
"  -l, --listen [ADDR:]PORT\n"
"                      accept on this address (repeatable; IPv6 as\n"
"                      [ADDR]:PORT). Default 10004, on IPv4 and IPv6\n"
"                      [relay] listen\n"
"      --upstream MODE where to forward [relay] upstream:\n"
"                      original  the destination the kit meant, from\n"
"                                SO_ORIGINAL_DST (default). Connections\n"
"                                that were not redirected, or whose\n"
"                                destination is this host, are served\n"
"                                locally and never forwarded\n"
"                      HOST:PORT a fixed portal (kits pointed at the relay\n"
"                                by their \"remote server\" or by DNS)\n"
"                      none      local server only, nothing forwarded\n"
"      --db PATH       commit every reading to the SQLite journal PATH\n"
"                      first (default /var/lib/omniklog/omniklog.db; ''\n"
"                      for none); the remote outputs configured in the\n"
"                      config file deliver from it [omniklog] db\n"
"      --allow-clients 'CIDR ...'\n"
"                      networks kits may connect from [relay]\n"
"                      allow_clients (default: private, loopback,\n"
"                      link-local and ULA ones; 0.0.0.0/0 ::/0 for any)\n"
"      --csv PATH      append readings to PATH in the seed script's CSV\n"
"                      format; '-' is standard output [omniklog] csv\n"
"  -u, --user USER     run as USER once the listeners are bound\n"
"                      (default omniklog; started as root, a missing\n"
"                      USER is an error; '' or root keeps the current\n"
"                      user) [omniklog] user\n"
"  -f, --foreground    stay in the foreground and log to stderr; without\n"
"                      it the relay detaches, writes [omniklog] pidfile\n"
"                      and logs to syslog (facility daemon)\n"
"      --pidfile FILE  where to write the pid when detached\n"
"                      [omniklog] pidfile (default /run/omniklog/\n"
"                      omnik-relay.pid)\n"
"      --http ADDR:PORT  the status page and /metrics there [http] listen\n"
"  -v, --verbose       more logging: every frame, both directions, and\n"
"                      every connection (repeatable) [omniklog] verbose\n");
	program_usage_common(fp);
	fprintf(fp,
"\n"
"Config keys of [relay], besides the ones above: allow_upstream (CIDR\n"
"list; empty: any public address), portal_ports (original destination\n"
"ports forwarded, default 10004), connect_timeout, idle_timeout,\n"
"max_connections (0: from the open-files limit and the memory),\n"
"client_connections (per client address), max_buffer (bytes per\n"
"direction), client_buffer, max_buffer_total (all connections),\n"
"first_frame_grace, reading_burst and reading_rate (readings per\n"
"connection), drain_timeout. `omnik-relay -n -v` prints them all with\n"
"their meaning.\n"
"\n"
"Signals:\n"
"  TERM, INT  stop accepting, let open connections finish for at most\n"
"             drain_timeout seconds, log statistics and exit; a second\n"
"             signal ends them at once (their readings are kept)\n"
"  HUP        reopen the outputs (after logrotate moved them) and read\n"
"             the config file again; listen, user, csv and db need a\n"
"             restart\n"
"  USR1       log statistics: connections, bytes each way, frames,\n"
"             readings, errors\n"
"\n"
"Exit status: 0 after a signal, 1 if a listener, the config or an output\n"
"cannot be set up, 2 for a usage error.\n"
"\n"
"Example (router namespace, kit behind it):\n"
"  omnik-relay -f -u nobody --csv /var/lib/omniklog/omniklog.csv\n"
"\n"
"See omnik-relay(8) and omniklog.conf(5) for the whole of it.\n");
}

enum { OPT_UPSTREAM = 256, OPT_ALLOW_CLIENTS };

static const struct option longopts[] = {
	{ "listen", required_argument, NULL, 'l' },
	{ "upstream", required_argument, NULL, OPT_UPSTREAM },
	{ "allow-clients", required_argument, NULL, OPT_ALLOW_CLIENTS },
	{ NULL, 0, NULL, 0 },
};

static struct {
	struct program p;
	char listen[CONFIG_STR];	/* -l values joined */
	struct relay_settings set;
	struct relay relay;
	struct event *drain_timer;
	int stops;			/* TERM/INT received */
} M;

static void
main_option(struct program *p, int ch, const char *arg)
{
	switch (ch) {
	case 'l':
		program_override_join(p, "relay", "listen", M.listen,
		    sizeof(M.listen), arg);
		break;
	case OPT_UPSTREAM:
		program_override(p, "relay", "upstream", arg);
		break;
	case OPT_ALLOW_CLIENTS:
		program_override(p, "relay", "allow_clients", arg);
		break;
	}
}

/* The [http] server's descriptors: its clients and its listener. */
static int
http_fds(const struct config *c)
{
	const struct http_conf *h = config_section_get(c, &http_section);

	return h != NULL && h->listen[0] != '\0' ? h->max_connections + 1 : 0;
}

static int
main_check(struct program *p, char *err, size_t errlen)
{
	return relay_settings_from_config(&M.set, &p->cfg, http_fds(&p->cfg),
	    err, errlen);
}

/* ------------------------------------------------------------------ */
/* Signals */

static void
drained(struct relay *r)
{
	(void)r;
	event_base_loopexit(M.p.base, NULL);
}

static void
drain_expired(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	log_info("drain_timeout reached: closing %d connections",
	    M.relay.nsessions);
	relay_close_all(&M.relay, "shutting down");
	event_base_loopexit(M.p.base, NULL);
}

static void
main_stop(struct program *p, int sig)
{
	struct timeval tv = { p->cfg.drain_timeout, 0 };

	if (M.stops++ > 0) {
		log_info("signal %d again: closing now", sig);
		drain_expired(-1, 0, NULL);
		return;
	}
	log_info("signal %d: no new connections; waiting up to %d s for %d "
	    "open ones", sig, p->cfg.drain_timeout, M.relay.nsessions);
	relay_drain(&M.relay, drained);
	if (M.stops > 0 && M.drain_timer != NULL)
		evtimer_add(M.drain_timer, &tv);
}

/* SIGHUP, before the outputs reopen: what came before it, to the old files. */
static void
main_flush(struct program *p)
{
	(void)p;
	relay_flush(&M.relay);
}

/* SIGHUP, after the outputs reopened: the config file again. */
static void
main_reload(struct program *p)
{
	struct config nc;
	struct relay_settings set;
	char err[2048];

	addr_local_flush();
	if (config_build(&nc, p->config_path, &p->ov, err, sizeof(err)) != 0 ||
	    relay_settings_from_config(&set, &nc, http_fds(&nc), err,
	    sizeof(err)) != 0) {
		log_warnx("config not reloaded, the old one stays: %s", err);
		return;
	}
	/* Outputs hold open files and deliveries: they change on restart. */
	if (strcmp(nc.listen, p->cfg.listen) != 0 ||
	    strcmp(nc.user, p->cfg.user) != 0 ||
	    strcmp(nc.csv, p->cfg.csv) != 0 || strcmp(nc.db, p->cfg.db) != 0)
		log_warnx("listen, user, csv and db changes take effect on "
		    "restart");
	log_set_verbosity(nc.verbose + p->verbose_flags);
	relay_apply(&M.relay, &set);
	p->cfg.verbose = nc.verbose;
	p->cfg.drain_timeout = nc.drain_timeout;
}

static void
main_stats(struct program *p, const char *why)
{
	relay_log_stats(&M.relay, why);
	log_info("stats (%s): %llu output errors", why,
	    (unsigned long long)outputs_errors(&p->out));
}

static void
main_counters(struct program *p, struct program_counters *c)
{
	struct relay_stats st;

	(void)p;
	relay_stats(&M.relay, &st);
	c->relay = true;
	c->connections = st.accepted;
	c->refused = st.refused_client + st.refused_full + st.refused_loop +
	    st.refused_port + st.refused_per_client;
	c->frames = st.frames;
	c->readings = st.readings;
	c->rejects = st.rejects;
	c->bytes_from_kit = st.bytes_to_cloud;
	c->bytes_to_kit = st.bytes_from_cloud;
	c->upstream_failures = st.upstream_failed;
}

/* ------------------------------------------------------------------ */

/* Use the whole open-files allowance: each session needs two. */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static const struct program_ops relay_program = {
	.name = PROG,
	.usage = usage,
	.shortopts = "l:",
	.longopts = longopts,
	.option = main_option,
	.check = main_check,
	.stop = main_stop,
	.flush = main_flush,
	.reload = main_reload,
	.stats = main_stats,
	.counters = main_counters,
};

int
main(int argc, char **argv)
{
	struct program *p = &M.p;
	const struct config *c = &p->cfg;
	/* One listener's error; not more: every frame below it (the config
	 * check, SQLite's open and migration) runs this much deeper, and the
	 * stack's pages stay resident. */
	char err[1024];

	program_init(p, &relay_program);
	program_options(p, argc, argv);
	raise_nofile();
	program_configure(p);

	relay_init(&M.relay, program_base(p), &p->out);
	relay_apply(&M.relay, &M.set);
	if (relay_listen(&M.relay, c->listen, err, sizeof(err)) != 0)
		fatalx("%s", err);
	program_start(p, PROGRAM_OUTPUTS_SERVICE_LOG, false);
	if ((M.drain_timer = evtimer_new(p->base, drain_expired, NULL)) ==
	    NULL)
		fatalx("out of memory");

	log_info("started: upstream %s, max_connections %d, journal %s, "
	    "CSV %s", c->upstream, M.set.max_connections,
	    c->db[0] ? c->db : "off", c->csv[0] ? c->csv : "off");
	log_info("clients accepted from %s", c->allow_clients[0] ?
	    c->allow_clients : "private, loopback, link-local and ULA "
	    "networks and this host only (allow_clients is empty)");
	program_ready(p);
	program_run(p);

	relay_free(&M.relay);
	main_stats(p, "exit");
	event_free(M.drain_timer);
	program_exit(p);
	return 0;
}
