/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * omnik-sniff: see the Omnik kit's pushes without changing any routing.
 *
 *   -r FILE...     pcap/pcapng replay ─┐
 *   -i IFACE       live libpcap       ─┼─> sniff (reassembly) ─> stream_feed
 *   --nfqueue N    inline, NFQUEUE    ─┘
 *   --stream FILE  a raw byte stream  ──────────────────────────> stream_feed
 *
 * Live and NFQUEUE captures run on a libevent loop (signals, a 1 s tick
 * for idle flows), so other event-driven parts can share it.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "config.h"
#include "csv.h"
#include "daemon.h"
#include "log.h"
#include "notify.h"
#include "nfqsrc.h"
#include "outputs.h"
#include "setup.h"
#include "pcapsrc.h"
#include "sniff.h"
#include "stream.h"
#include "text.h"
#include "version.h"

#define PROG "omnik-sniff"
#define MAX_FILES 64

static void
usage(FILE *fp)
{
	fprintf(fp,
"Usage: omnik-sniff [-fnpvhV] [-c FILE] [--csv PATH] [-u USER]\n"
"                   (-r FILE... | -i IFACE | --nfqueue N | --stream FILE)\n"
"                   [--port P]... [--filter EXPR] [-s SNAPLEN] [-B BYTES]\n"
"\n"
"Decode the readings an Omnik WiFi kit pushes to its portal (TCP port\n"
"10004) by watching the traffic, without changing any routing: on a Linux\n"
"bridge or a switch mirror port (-i), from a saved capture (-r), inline\n"
"on a router through NFQUEUE (--nfqueue), or from a raw byte stream\n"
"(--stream). TCP is reassembled per flow and direction: retransmitted\n"
"and reordered segments are put right, and bytes the capture lost are\n"
"skipped (counted) with decoding resuming at the next frame.\n"
"\n"
"Input (exactly one kind):\n"
"  -r, --read FILE     replay a pcap or pcapng file; '-' is standard\n"
"                      input; repeatable (files are read in order, as one\n"
"                      capture). Readings take the packets' timestamps, so\n"
"                      a replay gives the same output every time. Link\n"
"                      types: Ethernet (802.1Q tags too), Linux cooked\n"
"                      (v1, v2), raw IP; IPv4 and IPv6\n"
"  -i, --interface IFACE\n"
"                      capture live on IFACE (a bridge such as br0, a\n"
"                      mirror port, or 'any') [sniff] interface\n"
"      --nfqueue N     see packets inline on NFQUEUE N; each is given\n"
"                      back unchanged (ACCEPT) before it is decoded, the\n"
"                      queue fails open when full, and the rules from\n"
"                      scripts/omnik-sniff-nfqueue use queue-bypass so\n"
"                      traffic flows while omnik-sniff is not running\n"
"                      [sniff] nfqueue\n"
"      --stream FILE   decode the kit-to-portal bytes of one or more\n"
"                      pushes saved raw (e.g. nc -l 10004 > push.bin);\n"
"                      '-' is standard input; a raw stream holds no\n"
"                      times, so readings carry the time they are read\n"
"\n"
"Capture (-r, -i):\n"
"      --port P        TCP port the kits push to; repeatable (default\n"
"                      10004) [sniff] ports. Also tells which end of a\n"
"                      flow is the portal when its SYN was not seen\n"
"      --filter EXPR   BPF filter instead of the one built from the ports\n"
"                      (default: tcp port 10004 under up to four VLAN\n"
"                      tags, and IPv6 with extension headers)\n"
"                      [sniff] filter\n"
"  -p, --no-promisc    do not put the interface in promiscuous mode\n"
"                      [sniff] promisc\n"
"  -s, --snaplen N     bytes captured per packet (default 65535)\n"
"                      [sniff] snaplen\n"
"  -B, --buffer-size BYTES\n"
"                      kernel capture buffer (default 4 MiB)\n"
"                      [sniff] buffer_size\n"
"\n"
"Output (with none given, one readable line per reading on stdout in\n"
"the foreground, and a log line per reading when daemonised):\n"
"      --csv PATH      append readings to PATH in the seed script's CSV\n"
"                      format; '-' is standard output [omniklog] csv\n"
"      --db PATH       commit every reading to the SQLite journal PATH\n"
"                      first, and run the remote outputs of the config\n"
"                      ([postgresql], [mqtt], [pvoutput]) as cursors over\n"
"                      it [omniklog] db. Always on with -i and --nfqueue\n"
"                      (default /var/lib/omniklog/omniklog.db); with -r\n"
"                      and --stream only when given, and they get up\n"
"                      to --flush SECONDS (default 10) after the input;\n"
"                      what they miss waits in the journal\n"
"\n"
"Running:\n"
"  -c, --config FILE   read FILE (default " CONFIG_DEFAULT_PATH ",\n"
"                      used only if it exists; -r and --stream read a\n"
"                      config file only when -c names one); flags\n"
"                      override its keys. /dev/null: none\n"
"  -u, --user USER     run as USER once the capture or input is open\n"
"                      (default omniklog, which must exist for -i and\n"
"                      --nfqueue; -r and --stream use nobody without it;\n"
"                      '' or root keeps the current user); outputs are\n"
"                      opened as USER. With --nfqueue only CAP_NET_ADMIN\n"
"                      is kept, raised just for each verdict\n"
"                      [omniklog] user\n"
"  -f, --foreground    -i, --nfqueue: stay in the foreground and log to\n"
"                      stderr; without it omnik-sniff detaches, writes\n"
"                      [omniklog] pidfile and logs to syslog (facility\n"
"                      daemon). -r and --stream always run in the\n"
"                      foreground\n"
"  -n, --check         check the configuration, print it with -v, and exit\n"
"  -v, --verbose       more logging: every frame, gaps (repeatable)\n"
"                      [omniklog] verbose\n"
"  -h, --help          show this help and exit\n"
"  -V, --version       show the version and exit\n"
"\n"
"More [sniff] keys: max_flows (flows followed at once, the least recent\n"
"ends first), flow_timeout (seconds a silent flow is kept), max_held\n"
"(bytes of out-of-order segments held). `omnik-sniff -n -v` prints all.\n"
"\n"
"Signals (USR1 also with -r):\n"
"  TERM, INT  end every flow (its readings are written), log statistics\n"
"             and exit\n"
"  HUP        reopen the outputs (after logrotate moved them)\n"
"  USR1       log statistics: packets, flows, frames, readings, bytes\n"
"             skipped, gaps, kernel drops\n"
"Statistics are also logged at exit.\n"
"\n"
"Frames with a bad checksum, truncated frames and bytes that are not frames\n"
"are reported with the reason; decoding goes on after them.\n"
"Exit status: 0 on success, 1 if the input, the capture, the config or an\n"
"output cannot be opened or read, 2 for a usage error.\n"
"\n"
"Examples:\n"
"  omnik-sniff -r push.pcapng --csv -\n"
"  omnik-sniff -i br0 --csv /var/lib/omniklog/omniklog.csv\n"
"  omnik-sniff --nfqueue 10004 -f\n"
"\n"
"See omnik-sniff(8) and omniklog.conf(5) for the whole of it.\n");
}

enum {
	OPT_STREAM = 256, OPT_CSV, OPT_DB, OPT_FLUSH, OPT_NFQUEUE, OPT_PORT, OPT_FILTER,
};

static const struct option longopts[] = {
	{ "read", required_argument, NULL, 'r' },
	{ "interface", required_argument, NULL, 'i' },
	{ "nfqueue", required_argument, NULL, OPT_NFQUEUE },
	{ "stream", required_argument, NULL, OPT_STREAM },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "filter", required_argument, NULL, OPT_FILTER },
	{ "no-promisc", no_argument, NULL, 'p' },
	{ "snaplen", required_argument, NULL, 's' },
	{ "buffer-size", required_argument, NULL, 'B' },
	{ "csv", required_argument, NULL, OPT_CSV },
	{ "db", required_argument, NULL, OPT_DB },
	{ "flush", required_argument, NULL, OPT_FLUSH },
	{ "config", required_argument, NULL, 'c' },
	{ "user", required_argument, NULL, 'u' },
	{ "foreground", no_argument, NULL, 'f' },
	{ "check", no_argument, NULL, 'n' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static struct {
	const char *config_path;
	struct config_overrides ov;
	char ports[CONFIG_STR];
	const char *files[MAX_FILES];
	FILE *fps[MAX_FILES];		/* -r: opened before the drop */
	int nfiles;
	const char *stream_path;
	int stream_fd;			/* --stream: opened before the drop */
	int verbose_flags;
	bool foreground;
	bool cli_iface, cli_nfqueue;	/* inputs given as flags */
	bool journal;			/* --db: journal and remote outputs */
	int flush_s;

	struct config cfg;
	struct outputs out;
	struct sniff sn;
	struct event_base *base;
	struct pcapsrc *live;
	struct nfqsrc *nfq;
} M;

static void
override(const char *section, const char *key, const char *value)
{
	if (config_override(&M.ov, section, key, value) != 0) {
		fprintf(stderr, PROG ": too many options\n");
		exit(2);
	}
}

/* The reassembler's settings from the config. 0, or -1 with err. */
static int
reasm_config(const struct config *c, struct tcpreasm_config *rc, char *err,
    size_t errlen)
{
	char msg[256];
	int n;

	tcpreasm_config_defaults(rc);
	rc->max_flows = (uint32_t)c->max_flows;
	rc->idle_timeout = (uint32_t)c->flow_timeout;
	rc->max_held = (size_t)c->max_held;
	n = config_ports(c->ports, rc->server_ports, TCPREASM_MAX_PORTS, msg,
	    sizeof(msg));
	if (n < 0) {
		snprintf(err, errlen, "[sniff] ports: %s", msg);
		return -1;
	}
	rc->nports = n;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Outputs */

static int
outputs_open(bool daemonised, char *err, size_t errlen)
{
	struct sink sk;

	outputs_init(&M.out);
	if (M.journal) {
		/* Journal first, then CSV, then the remote outputs. */
		if (M.base == NULL && (M.base = event_base_new()) == NULL) {
			snprintf(err, errlen, "cannot start the event loop");
			return -1;
		}
		if (outputs_setup(&M.out, &M.cfg, M.base, err, errlen) != 0)
			return -1;
		if (M.cfg.csv[0] != '\0')
			return 0;
	} else if (M.cfg.csv[0] != '\0') {
		if (csv_sink_open(M.cfg.csv, &sk, err, errlen) != 0)
			return -1;
		outputs_add(&M.out, &sk);
		return 0;
	}
	if (daemonised) {
		text_log_sink(&sk);
	} else {
		text_sink(stdout, &sk);
	}
	outputs_add(&M.out, &sk);
	return 0;
}

/* After -r or --stream: give remote outputs a bounded time to deliver. */
static void
on_flush_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (outputs_backlog(&M.out) == 0)
		event_base_loopbreak(M.base);
}

static void
outputs_flush(void)
{
	struct timeval tick = { 0, 100000 }, limit = { M.flush_s, 0 };
	struct event *ev;
	const char *e;

	/* The replay's readings committed first: delivered in full batches. */
	if (outputs_sync(&M.out, (M.flush_s > 86400 ? 86400 : M.flush_s) * 1000,
	    &e) != 0)
		log_warnx("journal: %s", e);
	if (M.base == NULL || outputs_backlog(&M.out) == 0)
		return;
	if ((ev = event_new(M.base, -1, EV_PERSIST, on_flush_tick, NULL)) ==
	    NULL)
		return;
	event_add(ev, &tick);
	event_base_loopexit(M.base, &limit);
	event_base_dispatch(M.base);
	event_free(ev);
	if (outputs_backlog(&M.out) > 0)
		log_warnx("%lld readings not yet delivered; they wait in the "
		    "journal for the next run",
		    (long long)outputs_backlog(&M.out));
}

/* ------------------------------------------------------------------ */
/* --stream: unchanged from the first version */

static int
run_stream(const char *path, int fd, struct outputs *out)
{
	struct stream s;
	struct timeval now;
	uint8_t buf[65536];
	ssize_t n;

	/* Raw bytes carry no time: the only one there is, is now. */
	log_info("%s: readings are stamped with the time they are read",
	    strcmp(path, "-") ? path : "stdin");
	stream_init(&s, out, STREAM_TO_CLOUD, strcmp(path, "-") ? path : "stdin");
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_warn("cannot read %s", path);
			break;
		}
		gettimeofday(&now, NULL);
		if (n == 0)
			break;
		stream_feed(&s, buf, (size_t)n, &now);
		/* One loop round per chunk: commits the journal's group. */
		if (M.base != NULL)
			(void)event_base_loop(M.base, EVLOOP_NONBLOCK);
	}
	gettimeofday(&now, NULL);
	stream_end(&s, &now);
	if (fd != STDIN_FILENO)
		close(fd);
	log_info("%s: %llu bytes, %llu frames, %llu readings, %llu rejected, "
	    "%llu bytes skipped", s.source,
	    (unsigned long long)s.fr.st.bytes_in,
	    (unsigned long long)s.st.frames,
	    (unsigned long long)s.st.readings,
	    (unsigned long long)s.st.rejects,
	    (unsigned long long)s.fr.st.skipped);
	return n < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* -r: replay */

static volatile sig_atomic_t usr1_seen;

static void
on_usr1_replay(int sig)
{
	(void)sig;
	usr1_seen = 1;
}

static void
replay_between(void *arg)
{
	(void)arg;
	if (usr1_seen) {
		usr1_seen = 0;
		sniff_log_stats(&M.sn, NULL);
	}
}

static int
run_replay(void)
{
	struct tcpreasm_config rc;
	struct timeval end = { 0, 0 };
	char err[512];
	int rcode = 0;

	if (reasm_config(&M.cfg, &rc, err, sizeof(err)) != 0 ||
	    sniff_init(&M.sn, &rc, &M.out) != 0) {
		log_warnx("%s", err);
		return -1;
	}
	signal(SIGUSR1, on_usr1_replay);
	for (int i = 0; i < M.nfiles; i++) {
		if (pcapsrc_replay(&M.sn, M.fps[i], M.files[i], M.cfg.filter,
		    M.cfg.ports, replay_between, NULL, err, sizeof(err)) != 0) {
			log_warnx("%s", err);
			rcode = -1;
		}
	}
	/* Flows still open at the end of the capture end at its last time. */
	if (M.sn.r.newest != NULL) {
		end.tv_sec = (time_t)(M.sn.r.newest->last_us / 1000000);
		end.tv_usec = (suseconds_t)(M.sn.r.newest->last_us % 1000000);
	}
	sniff_finish(&M.sn, &end);
	sniff_log_stats(&M.sn, NULL);
	return rcode;
}

/* ------------------------------------------------------------------ */
/* -i, --nfqueue: the event loop */

static void
source_stats(char *buf, size_t n)
{
	buf[0] = '\0';
	if (M.live)
		pcapsrc_live_stats(M.live, buf, n);
	else if (M.nfq)
		nfqsrc_stats(M.nfq, buf, n);
}

static void
on_stop(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	notify_stopping();
	log_info("signal %d: stopping", (int)sig);
	event_base_loopbreak(M.base);
}

static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	notify_reloading();
	log_info("SIGHUP: reopening the outputs");
	outputs_reopen(&M.out);
}

static void
on_usr1(evutil_socket_t sig, short what, void *arg)
{
	char extra[256];

	(void)sig;
	(void)what;
	(void)arg;
	source_stats(extra, sizeof(extra));
	sniff_log_stats(&M.sn, extra);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct timeval now;

	(void)fd;
	(void)what;
	(void)arg;
	/* The kernel may hold a partly filled block: collect it. */
	if (M.live)
		pcapsrc_live_poll(M.live);
	gettimeofday(&now, NULL);
	sniff_tick(&M.sn, &now);
}

static void
pidfile_path(const char *pattern, char *buf, size_t n)
{
	const char *pct = strstr(pattern, "%s");

	if (pct == NULL)
		snprintf(buf, n, "%s", pattern);
	else
		snprintf(buf, n, "%.*s%s%s", (int)(pct - pattern), pattern,
		    PROG, pct + 2);
}

static int
run_live(void)
{
	struct tcpreasm_config rc;
	struct pcapsrc_live_config lc;
	struct event *sigs[5], *tick;
	struct timeval one = { 1, 0 }, now;
	char err[512], pidfile[CONFIG_STR + 32], extra[256];

	if (reasm_config(&M.cfg, &rc, err, sizeof(err)) != 0)
		fatalx("%s", err);
	/* A live capture is a daemon's job: its journal is always on. */
	M.journal = true;
	if (sniff_init(&M.sn, &rc, &M.out) != 0)
		fatalx("out of memory");
	signal(SIGPIPE, SIG_IGN);

	/* Open what needs privileges first. */
	if (M.cfg.nfqueue >= 0) {
		M.nfq = nfqsrc_open(M.cfg.nfqueue, &M.sn, err, sizeof(err));
		if (M.nfq == NULL)
			fatalx("%s", err);
	} else {
		memset(&lc, 0, sizeof(lc));
		lc.interface = M.cfg.interface;
		lc.filter = M.cfg.filter;
		lc.ports = M.cfg.ports;
		lc.promisc = M.cfg.promisc;
		lc.snaplen = M.cfg.snaplen;
		lc.buffer_size = M.cfg.buffer_size;
		M.live = pcapsrc_live_open(&lc, &M.sn, err, sizeof(err));
		if (M.live == NULL)
			fatalx("%s", err);
	}

	if (!M.foreground) {
		pidfile_path(M.cfg.pidfile, pidfile, sizeof(pidfile));
		if (daemon_detach(pidfile, err, sizeof(err)) != 0)
			fatalx("%s", err);
		log_init(PROG, false, M.cfg.verbose + M.verbose_flags);
	}
	if (geteuid() != 0) {
		log_debug("not root: staying the current user");
	} else {
		/*
		 * NFQUEUE: every verdict is a netlink message, and the kernel
		 * (nfnetlink) takes one only from a sender holding
		 * CAP_NET_ADMIN. It stays in the permitted set alone and is
		 * raised just around the verdict (nfqsrc.c): the parsing of
		 * what the packet holds runs without it.
		 */
		if (daemon_drop_privileges(M.cfg.user, M.nfq != NULL, err,
		    sizeof(err)) != 0)
			fatalx("%s", err);
		if (geteuid() == 0)
			log_info("running as root, as asked (user = '%s')",
			    M.cfg.user);
	}
	/* Outputs are opened as the user that will write them. */
	if (outputs_open(!M.foreground, err, sizeof(err)) != 0)
		fatalx("%s", err);

	if (M.base == NULL && (M.base = event_base_new()) == NULL)
		fatalx("cannot start the event loop");
	if (M.nfq ? nfqsrc_attach(M.nfq, M.base, err, sizeof(err)) :
	    pcapsrc_live_attach(M.live, M.base, err, sizeof(err)))
		fatalx("%s", err);
	sigs[0] = evsignal_new(M.base, SIGTERM, on_stop, NULL);
	sigs[1] = evsignal_new(M.base, SIGINT, on_stop, NULL);
	sigs[2] = evsignal_new(M.base, SIGHUP, on_hup, NULL);
	sigs[3] = evsignal_new(M.base, SIGUSR1, on_usr1, NULL);
	sigs[4] = event_new(M.base, -1, EV_PERSIST, on_tick, NULL);
	for (int i = 0; i < 4; i++)
		if (sigs[i] == NULL || evsignal_add(sigs[i], NULL) != 0)
			fatalx("cannot watch signals");
	tick = sigs[4];
	if (tick == NULL || evtimer_add(tick, &one) != 0)
		fatalx("cannot start the timer");

	if (M.nfq)
		log_info("started: NFQUEUE %d, ports %s, CSV %s",
		    M.cfg.nfqueue, M.cfg.ports, M.cfg.csv[0] ? M.cfg.csv : "off");
	else
		log_info("started: capturing on %s, ports %s, CSV %s",
		    M.cfg.interface, M.cfg.ports,
		    M.cfg.csv[0] ? M.cfg.csv : "off");
	daemon_ready();
	notify_ready(M.base);
	event_base_dispatch(M.base);

	if (M.live)
		pcapsrc_live_poll(M.live);
	source_stats(extra, sizeof(extra));
	gettimeofday(&now, NULL);
	sniff_finish(&M.sn, &now);
	sniff_log_stats(&M.sn, extra);
	outputs_teardown(&M.out);
	for (int i = 0; i < 5; i++)
		event_free(sigs[i]);
	pcapsrc_live_close(M.live);
	nfqsrc_close(M.nfq);
	event_base_free(M.base);
	if (!M.foreground)
		daemon_remove_pidfile();
	return 0;
}

/* ------------------------------------------------------------------ */

/* -r and --stream: open every input first, while we may. 0, or -1. */
static int
open_inputs(void)
{
	if (M.stream_path != NULL) {
		if (strcmp(M.stream_path, "-") == 0) {
			M.stream_fd = STDIN_FILENO;
		} else if ((M.stream_fd = open(M.stream_path, O_RDONLY |
		    O_CLOEXEC)) < 0) {
			log_warn("cannot open %s", M.stream_path);
			return -1;
		}
		return 0;
	}
	for (int i = 0; i < M.nfiles; i++) {
		M.fps[i] = strcmp(M.files[i], "-") == 0 ? stdin :
		    fopen(M.files[i], "rbe");
		if (M.fps[i] == NULL) {
			log_warn("cannot open %s", M.files[i]);
			while (i-- > 0)
				if (M.fps[i] != stdin)
					fclose(M.fps[i]);
			return -1;
		}
	}
	return 0;
}

static void
usage_error(const char *msg, const char *arg)
{
	fprintf(stderr, PROG ": %s%s%s\nTry 'omnik-sniff --help'.\n", msg,
	    arg ? ": " : "", arg ? arg : "");
	exit(2);
}

int
main(int argc, char **argv)
{
	char err[2048];
	int ch, kinds, rc;
	bool check = false;

	log_init(PROG, true, 0);
	M.flush_s = 10;
	while ((ch = getopt_long(argc, argv, "r:i:ps:B:c:u:fnvhV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'r':
			if (M.nfiles == MAX_FILES)
				usage_error("too many files", NULL);
			M.files[M.nfiles++] = optarg;
			break;
		case 'i':
			override("sniff", "interface", optarg);
			M.cli_iface = true;
			break;
		case OPT_NFQUEUE:
			override("sniff", "nfqueue", optarg);
			M.cli_nfqueue = true;
			break;
		case OPT_STREAM:
			M.stream_path = optarg;
			break;
		case OPT_PORT: {
			size_t l = strlen(M.ports);

			if (l + strlen(optarg) + 2 > sizeof(M.ports))
				usage_error("too many ports", NULL);
			snprintf(M.ports + l, sizeof(M.ports) - l, "%s%s",
			    l ? " " : "", optarg);
			break;
		}
		case OPT_FILTER:
			override("sniff", "filter", optarg);
			break;
		case 'p':
			override("sniff", "promisc", "no");
			break;
		case 's':
			override("sniff", "snaplen", optarg);
			break;
		case 'B':
			override("sniff", "buffer_size", optarg);
			break;
		case OPT_CSV:
			override("omniklog", "csv", optarg);
			break;
		case OPT_DB:
			override("omniklog", "db", optarg);
			M.journal = true;
			break;
		case OPT_FLUSH:
			M.flush_s = atoi(optarg);
			break;
		case 'c':
			M.config_path = optarg;
			break;
		case 'u':
			override("omniklog", "user", optarg);
			break;
		case 'f':
			M.foreground = true;
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
			fprintf(stderr, "Try 'omnik-sniff --help'.\n");
			return 2;
		}
	}
	if (optind < argc)
		usage_error("unexpected argument", argv[optind]);
	if (M.ports[0] != '\0')
		override("sniff", "ports", M.ports);
	/*
	 * An input given as a flag replaces the inputs of the config file:
	 * `-r FILE` works with the service's config, whose [sniff] names an
	 * interface or a queue.
	 */
	if (M.nfiles > 0 || M.stream_path != NULL || M.cli_iface ||
	    M.cli_nfqueue) {
		if (!M.cli_iface)
			override("sniff", "interface", "");
		if (!M.cli_nfqueue)
			override("sniff", "nfqueue", "-1");
	}

	/*
	 * A replay or a stream decode is not the service: the installed
	 * config's CSV and journal are the service's, and it would append
	 * to them. Without -c they read no config file at all: flags only.
	 */
	if ((M.nfiles > 0 || M.stream_path != NULL) && M.config_path == NULL)
		M.config_path = "";
	if (config_build(&M.cfg, M.config_path, &M.ov, err, sizeof(err)) != 0) {
		log_warnx("%s", err);
		return 1;
	}
	{
		struct tcpreasm_config tc;

		if (reasm_config(&M.cfg, &tc, err, sizeof(err)) != 0) {
			log_warnx("%s", err);
			return 1;
		}
	}
	log_set_verbosity(M.cfg.verbose + M.verbose_flags);
	if (check) {
		if (M.verbose_flags > 0)
			config_dump(&M.cfg, stdout);
		printf(PROG ": configuration OK\n");
		return 0;
	}

	kinds = (M.nfiles > 0) + (M.stream_path != NULL) +
	    (M.cfg.nfqueue >= 0) + (M.cfg.interface[0] != '\0');
	if (kinds == 0)
		usage_error("no input given: use -r FILE, -i IFACE, "
		    "--nfqueue N or --stream FILE", NULL);
	if (kinds > 1 && !(M.nfiles || M.stream_path || M.cli_iface ||
	    M.cli_nfqueue)) {
		log_warnx("the config file sets both [sniff] interface and "
		    "nfqueue: choose one");
		return 1;
	}
	if (kinds > 1)
		usage_error("give one kind of input (-r, -i, --nfqueue or "
		    "--stream)", NULL);

	if (M.nfiles > 0 || M.stream_path != NULL) {
		const char *user = M.cfg.user;

		if (open_inputs() != 0)
			return 1;
		/*
		 * The input is open: what parses it need not be root. The
		 * service user if there is one, else nobody (a one-shot
		 * decode needs no user of its own); -u '' stays root.
		 */
		if (geteuid() == 0 && user[0] != '\0') {
			if (!daemon_user_exists(user) &&
			    strcmp(user, DAEMON_DEFAULT_USER) == 0)
				user = "nobody";
			if (daemon_drop_privileges(user, false, err,
			    sizeof(err)) != 0) {
				log_warnx("%s", err);
				return 1;
			}
		}
		if (outputs_open(false, err, sizeof(err)) != 0) {
			log_warnx("%s%s%s%s", err, geteuid() != 0 &&
			    user[0] != '\0' ? " (outputs are opened as " : "",
			    geteuid() != 0 && user[0] != '\0' ? user : "",
			    geteuid() != 0 && user[0] != '\0' ?
			    ", once the input is open; -u '' stays root)" : "");
			return 1;
		}
		rc = M.stream_path ? run_stream(M.stream_path, M.stream_fd,
		    &M.out) : run_replay();
		outputs_flush();
		outputs_teardown(&M.out);
		if (M.base)
			event_base_free(M.base);
		return rc == 0 ? 0 : 1;
	}
	return run_live();
}
