/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * omnik-poll: reads kits that cannot be redirected or sniffed, by asking
 * them: a poll on TCP 8899, or their web status page. Its own options and
 * run loop; the daemon's life is app/program.c, the kits are poll.c.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "config.h"
#include "discover.h"
#include "kitaddr.h"
#include "log.h"
#include "poller.h"
#include "program.h"

#define PROG "omnik-poll"
/* Polls closer than this starve the kit's own push to its portal. */
#define POLL_MIN_INTERVAL 60

static void
usage(FILE *fp)
{
	fprintf(fp,
"Usage: omnik-poll [-fnvhV] [-c FILE] [-k HOST[:PORT]/SERIAL]...\n"
"                  [--interval S] [--timeout S] [--method auto|tcp|http]\n"
"                  [--db PATH] [--csv PATH] [-u USER] [--pidfile FILE]\n"
"       omnik-poll --discover [-i IFACE] [--wait S] [--config]\n"
"\n"
"Reads Omnik WiFi kits by asking them, for a kit whose push cannot be\n"
"redirected to omnik-relay nor seen by omnik-sniff. Every interval each\n"
"kit is polled on TCP port 8899 (the 16-byte request with its serial;\n"
"the answer is decoded as a push is), or its web status page is read\n"
"(/js/status.js, /status.json, /status.html), one connection at a time\n"
"per kit. Every reading is committed to the journal, then goes to the\n"
"CSV, the log and the remote outputs, as the relay's do. A kit that\n"
"stops answering (at night it is off) is logged once, and once more\n"
"when it answers again, with the polls it missed.\n"
"\n"
"Options (each overrides the same key of the config file):\n"
"  -c, --config FILE   read FILE (default " CONFIG_DEFAULT_PATH ",\n"
"                      used only if it exists); /dev/null: none\n"
"  -k, --kit HOST[:PORT]/SERIAL\n"
"                      poll this kit (repeatable; replaces [poll] kits):\n"
"                      its address (IPv6 as [ADDR]), port 8899 unless\n"
"                      given, and the serial on its label, 1..4294967295\n"
"      --interval S    seconds between two polls of a kit (default 300;\n"
"                      below 60 it is 60, with a warning: faster polls\n"
"                      starve the kit's own push) [poll] interval\n"
"      --timeout S     seconds one poll may take (default 15)\n"
"                      [poll] timeout\n"
"      --method M      how to read [poll] method:\n"
"                      auto  port 8899 first, the status page when that\n"
"                            gives no reading; the one that worked is\n"
"                            tried first next time (default)\n"
"                      tcp   port 8899 only\n"
"                      http  the status page only\n"
"      --db PATH       commit every reading to the SQLite journal PATH\n"
"                      first (default /var/lib/omniklog/omniklog.db; ''\n"
"                      for none); the remote outputs configured in the\n"
"                      config file deliver from it [omniklog] db\n"
"      --csv PATH      append readings to PATH in the seed script's CSV\n"
"                      format; '-' is standard output [omniklog] csv\n"
"  -u, --user USER     run as USER (default omniklog; started as root, a\n"
"                      missing USER is an error; '' or root keeps the\n"
"                      current user) [omniklog] user\n"
"  -f, --foreground    stay in the foreground and log to stderr; without\n"
"                      it the poller detaches, writes [omniklog] pidfile\n"
"                      and logs to syslog (facility daemon)\n"
"      --pidfile FILE  where to write the pid when detached\n"
"                      [omniklog] pidfile (default /run/omniklog/\n"
"                      omnik-poll.pid)\n"
"  -v, --verbose       more logging: every poll and every frame\n"
"                      (repeatable) [omniklog] verbose\n");
	program_usage_common(fp);
	fprintf(fp,
"\n"
"\n"
"  --discover          find the kits on the LAN (UDP 48899 broadcast),\n"
"                      probe each read-only (a poll on 8899, its status\n"
"                      pages) and print a line per kit with the method\n"
"                      to use, then exit; only these go with it:\n"
"  -i, --interface IF  broadcast on IF only (default: every IPv4\n"
"                      interface that is up)\n"
"  -w, --wait S        collect replies for S seconds (1..60, default 3)\n"
"      --config        print the [poll] lines to paste instead\n"
"\n"
"Config keys of [poll], besides the ones above: http_user (default\n"
"admin) and http_password, the status page's HTTP Basic auth (the kits'\n"
"factory password is admin; it is never printed).\n"
"`omnik-poll -n -v` prints them all with their meaning.\n"
"\n"
"Signals:\n"
"  TERM, INT  end the polls running (their readings are kept), exit\n"
"  HUP        reopen the outputs (after logrotate moved them); [poll]\n"
"             changes need a restart\n"
"  USR1       log statistics: polls and readings per kit, and how\n"
"  USR2       poll every kit now, not waiting for the interval\n"
"\n"
"Exit status: 0 after a signal, 1 if the config or an output cannot be\n"
"set up, 2 for a usage error.\n"
"\n"
"Example:\n"
"  omnik-poll -f -u '' -k 192.168.1.50/602302630 --csv omnik.csv\n"
"\n"
"See omnik-poll(8) and omniklog.conf(5) for the whole of it.\n");
}

enum { OPT_INTERVAL = 256, OPT_TIMEOUT, OPT_METHOD };

static const struct option longopts[] = {
	{ "kit", required_argument, NULL, 'k' },
	{ "interval", required_argument, NULL, OPT_INTERVAL },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "method", required_argument, NULL, OPT_METHOD },
	{ NULL, 0, NULL, 0 },
};

static struct {
	struct program p;
	char kits[CONFIG_STR * 4];	/* -k values joined */
	struct kitaddr addr[KITADDR_MAX];
	int naddr;
	struct poller pl;
	struct event *usr2;
} M;

static void
main_option(struct program *p, int ch, const char *arg)
{
	switch (ch) {
	case 'k':
		program_override_join(p, "poll", "kits", M.kits,
		    sizeof(M.kits), arg);
		break;
	case OPT_INTERVAL:
		program_override(p, "poll", "interval", arg);
		break;
	case OPT_TIMEOUT:
		program_override(p, "poll", "timeout", arg);
		break;
	case OPT_METHOD:
		program_override(p, "poll", "method", arg);
		break;
	}
}

static int
main_check(struct program *p, char *err, size_t errlen)
{
	struct config *c = &p->cfg;

	M.naddr = kitaddr_parse(c->kits, M.addr, KITADDR_MAX, err, errlen);
	if (M.naddr < 0)
		return -1;
	if (M.naddr == 0) {
		snprintf(err, errlen, "no kit to poll: [poll] kits = "
		    "HOST[:PORT]/SERIAL, or -k");
		return -1;
	}
	if (c->poll_interval < POLL_MIN_INTERVAL) {
		log_warnx("[poll] interval %d s is below %d s: %d s it is "
		    "(polls that often starve the kit's push, and it serves "
		    "one client at a time)", c->poll_interval,
		    POLL_MIN_INTERVAL, POLL_MIN_INTERVAL);
		c->poll_interval = POLL_MIN_INTERVAL;
	}
	return 0;
}

static void
main_reload(struct program *p)
{
	struct config nc;
	char err[2048];

	if (config_build(&nc, p->config_path, &p->ov, err, sizeof(err)) != 0) {
		log_warnx("config not reloaded, the old one stays: %s", err);
		return;
	}
	if (strcmp(nc.kits, p->cfg.kits) != 0 ||
	    nc.poll_interval != p->cfg.poll_interval ||
	    nc.poll_timeout != p->cfg.poll_timeout ||
	    strcmp(nc.poll_method, p->cfg.poll_method) != 0 ||
	    strcmp(nc.http_user, p->cfg.http_user) != 0 ||
	    strcmp(nc.http_password, p->cfg.http_password) != 0)
		log_warnx("[poll] changes take effect on restart");
	log_set_verbosity(nc.verbose + p->verbose_flags);
	p->cfg.verbose = nc.verbose;
}

static void
main_stats(struct program *p, const char *why)
{
	poll_log_stats(&M.pl, why);
	log_info("stats (%s): %llu output errors", why,
	    (unsigned long long)outputs_errors(&p->out));
}

static void
on_usr2(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	log_debug("SIGUSR2: polling every kit now");
	poll_now(&M.pl);
}

/* For [http]: a poll counts as a connection, whichever method it used. */
static void
main_counters(struct program *p, struct program_counters *c)
{
	(void)p;
	for (int i = 0; i < M.pl.nkits; i++) {
		const struct poll_kit *k = &M.pl.kits[i];

		c->connections += k->polls;
		c->readings += k->readings;
		c->bytes_from_kit += k->bytes_total;
	}
}

static const struct program_ops poll_program = {
	.name = PROG,
	.usage = usage,
	.shortopts = "k:",
	.longopts = longopts,
	.option = main_option,
	.check = main_check,
	.reload = main_reload,
	.stats = main_stats,
	.counters = main_counters,
};

int
main(int argc, char **argv)
{
	struct program *p = &M.p;
	const struct config *c = &p->cfg;
	char err[1024];

	/*
	 * --discover is a tool of its own (discover.c), with its own
	 * options: it never reads the config or starts the daemon.
	 */
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--discover") == 0)
			return discover_main(argc, argv);
	program_init(p, &poll_program);
	program_options(p, argc, argv);
	program_configure(p);

	program_start(p, PROGRAM_OUTPUTS_SERVICE_LOG, false);
	if (poll_init(&M.pl, p->base, &p->out, M.addr, M.naddr, err,
	    sizeof(err)) != 0)
		fatalx("%s", err);
	M.pl.interval = c->poll_interval;
	M.pl.timeout = c->poll_timeout;
	M.pl.auto_method = strcmp(c->poll_method, "auto") == 0;
	M.pl.method = strcmp(c->poll_method, "http") == 0 ? POLL_HTTP :
	    POLL_TCP;
	snprintf(M.pl.user, sizeof(M.pl.user), "%s", c->http_user);
	snprintf(M.pl.password, sizeof(M.pl.password), "%s",
	    c->http_password);
	/* The status page needs libcurl: missing, say so now. */
	if (strcmp(c->poll_method, "tcp") != 0 &&
	    poll_http_setup(&M.pl, err, sizeof(err)) != 0) {
		if (!M.pl.auto_method)
			fatalx("%s", err);
		log_warnx("%s: the status page cannot be read, port 8899 only",
		    err);
		M.pl.auto_method = false;
		M.pl.method = POLL_TCP;
	}
	if ((M.usr2 = evsignal_new(p->base, SIGUSR2, on_usr2, NULL)) ==
	    NULL || evsignal_add(M.usr2, NULL) != 0)
		fatalx("cannot watch SIGUSR2");

	log_info("started: %d kit%s every %d s, method %s, journal %s, CSV %s",
	    M.naddr, M.naddr == 1 ? "" : "s", c->poll_interval,
	    c->poll_method, c->db[0] ? c->db : "off",
	    c->csv[0] ? c->csv : "off");
	poll_start(&M.pl);
	program_ready(p);
	program_run(p);

	poll_free(&M.pl);
	main_stats(p, "exit");
	event_free(M.usr2);
	program_exit(p);
	return 0;
}
