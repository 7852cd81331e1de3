/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * omnik-relay: the transparent relay. Options and config, daemon life
 * (detach, privilege drop, signals), outputs; the relaying is relay.c.
 *
 * Start-up order matters: bind the listeners as root, detach, drop
 * privileges, and only then open the outputs, so that the CSV file belongs
 * to the unprivileged user and a SIGHUP reopen (logrotate) works with the
 * same rights the first open had.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "csv.h"
#include "daemon.h"
#include "log.h"
#include "notify.h"
#include "outputs.h"
#include "relay.h"
#include "setup.h"
#include "text.h"
#include "version.h"

#define PROG "omnik-relay"

static void
usage(FILE *fp)
{
	fprintf(fp,
"Usage: omnik-relay [-fnvhV] [-c FILE] [-l [ADDR:]PORT]...\n"
"                   [--upstream original|HOST:PORT|none] [--db PATH]\n"
"                   [--csv PATH] [-u USER] [--pidfile FILE]\n"
"                   [--allow-clients CIDR...]\n"
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
"  -n, --check         check the configuration, print it with -v, and exit\n"
"  -v, --verbose       more logging: every frame, both directions, and\n"
"                      every connection (repeatable) [omniklog] verbose\n"
"  -h, --help          show this help and exit\n"
"  -V, --version       show the version and exit\n"
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

static const struct option longopts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "listen", required_argument, NULL, 'l' },
	{ "upstream", required_argument, NULL, 'U' },
	{ "csv", required_argument, NULL, 'C' },
	{ "user", required_argument, NULL, 'u' },
	{ "foreground", no_argument, NULL, 'f' },
	{ "pidfile", required_argument, NULL, 'P' },
	{ "db", required_argument, NULL, 'D' },
	{ "allow-clients", required_argument, NULL, 'A' },
	{ "check", no_argument, NULL, 'n' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

struct main_state {
	const char *config_path;	/* NULL: the default, if it exists */
	struct config_overrides ov;
	char listen[CONFIG_STR];	/* -l values joined */
	int verbose_flags;
	struct config cfg;
	struct outputs out;
	struct relay relay;
	struct event_base *base;
	struct event *drain_timer;
	int stops;			/* TERM/INT received */
};

static struct main_state M;

static void
add_override(const char *section, const char *key, const char *value)
{
	if (config_override(&M.ov, section, key, value) != 0) {
		fprintf(stderr, PROG ": too many options\n");
		exit(2);
	}
}

/* ------------------------------------------------------------------ */
/* Outputs: a log line per reading, and the CSV if configured. */

/*
 * The journal first (a reading is committed before anything else sees
 * it), then the CSV and the remote outputs (setup.h), then a log line.
 */
static int
outputs_open(char *err, size_t errlen)
{
	struct sink sk;

	if (outputs_setup(&M.out, &M.cfg, M.base, err, errlen) != 0)
		return -1;
	text_log_sink(&sk);
	outputs_add(&M.out, &sk);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Signals */

static void
drained(struct relay *r)
{
	(void)r;
	event_base_loopexit(M.base, NULL);
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
	event_base_loopexit(M.base, NULL);
}

static void
on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct timeval tv = { M.cfg.drain_timeout, 0 };

	(void)what;
	(void)arg;
	notify_stopping();
	if (M.stops++ > 0) {
		log_info("signal %d again: closing now", (int)sig);
		drain_expired(-1, 0, NULL);
		return;
	}
	log_info("signal %d: no new connections; waiting up to %d s for %d "
	    "open ones", (int)sig, M.cfg.drain_timeout, M.relay.nsessions);
	relay_drain(&M.relay, drained);
	if (M.stops > 0 && M.drain_timer != NULL)
		evtimer_add(M.drain_timer, &tv);
}

static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct config nc;
	struct relay_settings set;
	char err[2048];

	(void)sig;
	(void)what;
	(void)arg;
	notify_reloading();
	log_info("SIGHUP: reopening outputs and reading the config again");
	outputs_reopen(&M.out);
	addr_local_flush();
	if (config_build(&nc, M.config_path, &M.ov, err, sizeof(err)) != 0 ||
	    relay_settings_from_config(&set, &nc, err, sizeof(err)) != 0) {
		log_warnx("config not reloaded, the old one stays: %s", err);
		return;
	}
	/* Outputs hold open files and deliveries: they change on restart. */
	if (strcmp(nc.listen, M.cfg.listen) != 0 ||
	    strcmp(nc.user, M.cfg.user) != 0 ||
	    strcmp(nc.csv, M.cfg.csv) != 0 || strcmp(nc.db, M.cfg.db) != 0)
		log_warnx("listen, user, csv and db changes take effect on "
		    "restart");
	log_set_verbosity(nc.verbose + M.verbose_flags);
	relay_apply(&M.relay, &set);
	M.cfg.verbose = nc.verbose;
	M.cfg.drain_timeout = nc.drain_timeout;
}

static void
on_usr1(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	relay_log_stats(&M.relay, "SIGUSR1");
	log_info("stats (SIGUSR1): %llu output errors",
	    (unsigned long long)outputs_errors(&M.out));
}

/* ------------------------------------------------------------------ */

static void
pidfile_path(const char *tmpl, char *out, size_t n)
{
	const char *p = strstr(tmpl, "%s");

	if (p == NULL)
		snprintf(out, n, "%s", tmpl);
	else
		snprintf(out, n, "%.*s%s%s", (int)(p - tmpl), tmpl, PROG,
		    p + 2);
}

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

int
main(int argc, char **argv)
{
	struct relay_settings set;
	struct event *sigs[4];
	char err[4096], pidfile[CONFIG_STR + 32];
	bool foreground = false, check = false;
	int ch;

	log_init(PROG, true, 0);
	while ((ch = getopt_long(argc, argv, "c:l:u:fnvhV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			M.config_path = optarg;
			break;
		case 'l':
			if (strlen(M.listen) + strlen(optarg) + 2 >
			    sizeof(M.listen)) {
				fprintf(stderr, PROG ": too many -l\n");
				return 2;
			}
			if (M.listen[0] == '\0')
				add_override("relay", "listen", M.listen);
			else
				strcat(M.listen, " ");
			strcat(M.listen, optarg);
			break;
		case 'U':
			add_override("relay", "upstream", optarg);
			break;
		case 'C':
			add_override("omniklog", "csv", optarg);
			break;
		case 'u':
			add_override("omniklog", "user", optarg);
			break;
		case 'f':
			foreground = true;
			break;
		case 'P':
			add_override("omniklog", "pidfile", optarg);
			break;
		case 'D':
			add_override("omniklog", "db", optarg);
			break;
		case 'A':
			add_override("relay", "allow_clients", optarg);
			break;
		case 'n':
			check = true;
			break;
		case 'v':
			M.verbose_flags++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf(PROG " %s\n", OMNIKLOG_VERSION);
			return 0;
		default:
			fprintf(stderr, "Try '" PROG " --help'.\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument '%s'\n"
		    "Try '" PROG " --help'.\n", argv[optind]);
		return 2;
	}

	raise_nofile();
	if (config_build(&M.cfg, M.config_path, &M.ov, err, sizeof(err)) != 0 ||
	    relay_settings_from_config(&set, &M.cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	log_set_verbosity(M.cfg.verbose + M.verbose_flags);
	if (check) {
		if (M.verbose_flags > 0)
			config_dump(&M.cfg, stdout);
		printf(PROG ": configuration OK\n");
		return 0;
	}

	signal(SIGPIPE, SIG_IGN);
	if ((M.base = event_base_new()) == NULL)
		fatalx("cannot start the event loop");
	relay_init(&M.relay, M.base, &M.out);
	relay_apply(&M.relay, &set);
	if (relay_listen(&M.relay, M.cfg.listen, err, sizeof(err)) != 0)
		fatalx("%s", err);

	if (!foreground) {
		pidfile_path(M.cfg.pidfile, pidfile, sizeof(pidfile));
		if (daemon_detach(pidfile, err, sizeof(err)) != 0)
			fatalx("%s", err);
		log_init(PROG, false, M.cfg.verbose + M.verbose_flags);
		if (event_reinit(M.base) != 0)
			fatalx("cannot restart the event loop after fork");
	}

	if (geteuid() != 0 && M.cfg.user[0] != '\0') {
		log_debug("not root: staying the current user");
	} else {
		if (daemon_drop_privileges(M.cfg.user, false, err,
		    sizeof(err)) != 0)
			fatalx("%s", err);
		if (geteuid() == 0)
			log_info("running as root, as asked (user = '%s')",
			    M.cfg.user);
	}

	if (outputs_open(err, sizeof(err)) != 0)
		fatalx("%s", err);

	M.drain_timer = evtimer_new(M.base, drain_expired, NULL);
	sigs[0] = evsignal_new(M.base, SIGTERM, on_stop, NULL);
	sigs[1] = evsignal_new(M.base, SIGINT, on_stop, NULL);
	sigs[2] = evsignal_new(M.base, SIGHUP, on_hup, NULL);
	sigs[3] = evsignal_new(M.base, SIGUSR1, on_usr1, NULL);
	for (int i = 0; i < 4; i++)
		if (sigs[i] == NULL || evsignal_add(sigs[i], NULL) != 0)
			fatalx("cannot watch signals");
	if (M.drain_timer == NULL)
		fatalx("out of memory");

	log_info("started: upstream %s, max_connections %d, journal %s, "
	    "CSV %s", M.cfg.upstream, set.max_connections,
	    M.cfg.db[0] ? M.cfg.db : "off", M.cfg.csv[0] ? M.cfg.csv : "off");
	log_info("clients accepted from %s", M.cfg.allow_clients[0] ?
	    M.cfg.allow_clients : "private, loopback, link-local and ULA "
	    "networks and this host only (allow_clients is empty)");
	daemon_ready();
	notify_ready(M.base);
	event_base_dispatch(M.base);

	relay_free(&M.relay);
	relay_log_stats(&M.relay, "exit");
	log_info("stats (exit): %llu output errors",
	    (unsigned long long)outputs_errors(&M.out));
	outputs_teardown(&M.out);
	for (int i = 0; i < 4; i++)
		event_free(sigs[i]);
	event_free(M.drain_timer);
	event_base_free(M.base);
	if (!foreground)
		daemon_remove_pidfile();
	return 0;
}
