/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * omnik-sniff: see the Omnik kit's pushes without changing any routing.
 *
 *   -r FILE...     pcap/pcapng replay ─┐
 *   -i IFACE       live libpcap       ─┼─> sniff (reassembly) ─> stream_feed
 *   --nfqueue N    inline, NFQUEUE    ─┘
 *   --stream FILE  a raw byte stream  ──────────────────────────> stream_feed
 *
 * The inputs are behind one interface (source.h); the life of a daemon
 * (shared options, detach, privilege drop, signals, outputs) is
 * app/program.c. Live and NFQUEUE captures run on its libevent loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "program.h"
#include "source.h"

#define PROG "omnik-sniff"
#define MAX_FILES 64

static void
usage(FILE *fp)
{
	fprintf(fp,
"Usage: omnik-sniff [-fnpvhV] [-c FILE] [--csv PATH] [--db PATH] [-u USER]\n"
"                   [--pidfile FILE] [--flush SECONDS] [--http ADDR:PORT]\n"
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
"      --pidfile FILE  where to write the pid when detached\n"
"                      [omniklog] pidfile (default /run/omniklog/\n"
"                      omnik-sniff.pid)\n"
"      --http ADDR:PORT  with -i or --nfqueue: the status page and /metrics\n"
"                      there [http] listen\n"
"  -v, --verbose       more logging: every frame, gaps (repeatable)\n"
"                      [omniklog] verbose\n");
	program_usage_common(fp);
	fprintf(fp,
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
	OPT_STREAM = 256, OPT_FLUSH, OPT_NFQUEUE, OPT_PORT, OPT_FILTER,
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
	{ "flush", required_argument, NULL, OPT_FLUSH },
	{ NULL, 0, NULL, 0 },
};

static struct {
	struct program p;
	char ports[CONFIG_STR];
	const char *files[MAX_FILES];
	int nfiles;
	const char *stream_path;
	bool cli_iface, cli_nfqueue;	/* inputs given as flags */
	int flush_s;
	struct source *src;
} M;

static void
main_option(struct program *p, int ch, const char *arg)
{
	size_t l;

	switch (ch) {
	case 'r':
		if (M.nfiles == MAX_FILES)
			program_usage_error(p, "too many files", NULL);
		M.files[M.nfiles++] = arg;
		break;
	case 'i':
		program_override(p, "sniff", "interface", arg);
		M.cli_iface = true;
		break;
	case OPT_NFQUEUE:
		program_override(p, "sniff", "nfqueue", arg);
		M.cli_nfqueue = true;
		break;
	case OPT_STREAM:
		M.stream_path = arg;
		break;
	case OPT_PORT:
		l = strlen(M.ports);
		if (l + strlen(arg) + 2 > sizeof(M.ports))
			program_usage_error(p, "too many ports", NULL);
		snprintf(M.ports + l, sizeof(M.ports) - l, "%s%s",
		    l ? " " : "", arg);
		break;
	case OPT_FILTER:
		program_override(p, "sniff", "filter", arg);
		break;
	case 'p':
		program_override(p, "sniff", "promisc", "no");
		break;
	case 's':
		program_override(p, "sniff", "snaplen", arg);
		break;
	case 'B':
		program_override(p, "sniff", "buffer_size", arg);
		break;
	case OPT_FLUSH:
		M.flush_s = atoi(arg);
		break;
	}
}

static void
main_prepare(struct program *p)
{
	if (M.ports[0] != '\0')
		program_override(p, "sniff", "ports", M.ports);
	/*
	 * An input given as a flag replaces the inputs of the config file:
	 * `-r FILE` works with the service's config, whose [sniff] names an
	 * interface or a queue.
	 */
	if (M.nfiles > 0 || M.stream_path != NULL || M.cli_iface ||
	    M.cli_nfqueue) {
		if (!M.cli_iface)
			program_override(p, "sniff", "interface", "");
		if (!M.cli_nfqueue)
			program_override(p, "sniff", "nfqueue", "-1");
	}
	/*
	 * A replay or a stream decode is not the service: the installed
	 * config's CSV and journal are the service's, and it would append
	 * to them. Without -c they read no config file at all: flags only.
	 */
	if ((M.nfiles > 0 || M.stream_path != NULL) && p->config_path == NULL)
		p->config_path = "";
}

static int
main_check(struct program *p, char *err, size_t errlen)
{
	struct tcpreasm_config tc;

	return source_reasm_config(&p->cfg, &tc, err, errlen);
}

static void
main_stats(struct program *p, const char *why)
{
	(void)p;
	(void)why;
	source_stats(M.src);
}

static void
main_counters(struct program *p, struct program_counters *c)
{
	const struct sniff *sn = source_sniff(M.src);

	(void)p;
	if (sn == NULL)
		return;
	c->connections = sn->r.st.flows;
	c->frames = sn->st.frames;
	c->readings = sn->st.readings;
	c->rejects = sn->st.rejects;
	c->bytes_from_kit = sn->st.bytes_to_server;
	c->bytes_to_kit = sn->st.bytes_to_client;
}

/* The one kind of input of the flags or the config; exits if not one. */
static enum source_kind
input_kind(struct program *p)
{
	const struct config *c = &p->cfg;
	int kinds = (M.nfiles > 0) + (M.stream_path != NULL) +
	    (c->nfqueue >= 0) + (c->interface[0] != '\0');

	if (kinds == 0)
		program_usage_error(p, "no input given: use -r FILE, -i IFACE, "
		    "--nfqueue N or --stream FILE", NULL);
	if (kinds > 1 && !(M.nfiles || M.stream_path || M.cli_iface ||
	    M.cli_nfqueue)) {
		log_warnx("the config file sets both [sniff] interface and "
		    "nfqueue: choose one");
		exit(1);
	}
	if (kinds > 1)
		program_usage_error(p, "give one kind of input (-r, -i, "
		    "--nfqueue or --stream)", NULL);
	return M.nfiles > 0 ? SOURCE_REPLAY : M.stream_path ? SOURCE_STREAM :
	    c->nfqueue >= 0 ? SOURCE_NFQUEUE : SOURCE_LIVE;
}

static const struct program_ops sniff_program = {
	.name = PROG,
	.usage = usage,
	.shortopts = "r:i:ps:B:",
	.longopts = longopts,
	.option = main_option,
	.prepare = main_prepare,
	.check = main_check,
	.stats = main_stats,
	.counters = main_counters,
};

int
main(int argc, char **argv)
{
	struct program *p = &M.p;
	const struct config *c = &p->cfg;
	enum source_kind kind;
	char err[2048];
	int rc;

	program_init(p, &sniff_program);
	M.flush_s = 10;
	program_options(p, argc, argv);
	program_configure(p);
	kind = input_kind(p);

	/* Open what needs privileges first. */
	M.src = source_open(kind, kind == SOURCE_STREAM ? &M.stream_path :
	    M.files, kind == SOURCE_STREAM ? 1 : M.nfiles, c, &p->out, err,
	    sizeof(err));
	if (M.src == NULL && kind != SOURCE_LIVE && kind != SOURCE_NFQUEUE) {
		log_warnx("%s", err);
		return 1;
	}
	if (M.src == NULL)
		fatalx("%s", err);

	if (!source_live(M.src)) {
		/* The input is open: what parses it need not be root. */
		program_drop(p, true, false);
		program_outputs_open(p, PROGRAM_OUTPUTS_ONESHOT);
		rc = source_start(M.src, p->base, err, sizeof(err));
		program_flush(p, M.flush_s);
		source_close(M.src);
		program_exit(p);
		return rc == 0 ? 0 : 1;
	}

	/* A live capture is a daemon's job: its journal is always on. */
	program_start(p, PROGRAM_OUTPUTS_SERVICE,
	    source_needs_net_admin(M.src));
	if (source_start(M.src, p->base, err, sizeof(err)) != 0)
		fatalx("%s", err);
	log_info("started: %s, ports %s, CSV %s", source_name(M.src),
	    c->ports, c->csv[0] ? c->csv : "off");
	program_ready(p);
	program_run(p);

	source_close(M.src);
	program_exit(p);
	return 0;
}
