/*
 * omnik-sniff: see the Omnik kit's pushes without changing any routing.
 *
 * This version decodes a raw byte stream (--stream); live capture, pcap
 * replay and NFQUEUE come next and end in the same stream_feed() call.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "config.h"
#include "csv.h"
#include "log.h"
#include "outputs.h"
#include "setup.h"
#include "stream.h"
#include "text.h"
#include "version.h"

static void
usage(FILE *fp)
{
	fprintf(fp,
"Usage: omnik-sniff [-v] [-c CONF] [--db PATH] [--csv PATH] --stream FILE\n"
"\n"
"Decode the readings an Omnik WiFi kit pushes to its portal (TCP port\n"
"10004) from a raw byte stream, such as one saved with\n"
"    nc -l 10004 > push.bin\n"
"\n"
"Input:\n"
"  --stream FILE  read the kit-to-portal bytes of one or more pushes from\n"
"                 FILE; '-' reads standard input. Readings are stamped\n"
"                 with the time they are read.\n"
"\n"
"Output (with none given, one readable line per reading on stdout):\n"
"  --csv PATH     append readings to PATH in the seed script's CSV format\n"
"                 (header written once per new file); '-' is stdout\n"
"  --db PATH      commit every reading to the SQLite journal PATH first\n"
"  -c CONF        read outputs from CONF ([omniklog] db and csv,\n"
"                 [postgresql], [mqtt], [pvoutput]); after the input ends,\n"
"                 remote outputs get up to --flush SECONDS (default 10)\n"
"                 to deliver; what they miss stays in the journal\n"
"\n"
"Other:\n"
"  -v, --verbose  also log every frame, including text frames (debug)\n"
"  -h, --help     show this help and exit\n"
"  -V, --version  show the version and exit\n"
"\n"
"Frames with a bad checksum, truncated frames and bytes that are not frames\n"
"are reported on stderr with the reason; decoding goes on after them.\n"
"Exit status: 0 on success, 1 if the input or an output cannot be opened\n"
"or read, 2 for a usage error.\n");
}

enum { OPT_STREAM = 256, OPT_CSV, OPT_DB, OPT_FLUSH };

static const struct option longopts[] = {
	{ "stream", required_argument, NULL, OPT_STREAM },
	{ "csv", required_argument, NULL, OPT_CSV },
	{ "db", required_argument, NULL, OPT_DB },
	{ "flush", required_argument, NULL, OPT_FLUSH },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static int
run_stream(const char *path, struct outputs *out)
{
	struct stream s;
	struct timeval now;
	uint8_t buf[65536];
	ssize_t n;
	int fd;

	if (strcmp(path, "-") == 0) {
		fd = STDIN_FILENO;
	} else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		log_warn("cannot open %s", path);
		return -1;
	}
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

/* After the input: give remote outputs a bounded time to catch up. */
struct flush {
	struct outputs *out;
	struct event_base *base;
};

static void
on_flush_tick(evutil_socket_t fd, short what, void *arg)
{
	struct flush *fl = arg;

	(void)fd;
	(void)what;
	if (outputs_backlog(fl->out) == 0)
		event_base_loopbreak(fl->base);
}

static void
flush_remote(struct outputs *out, struct event_base *base, int seconds)
{
	struct flush fl = { out, base };
	struct timeval tick = { 0, 100000 }, limit = { seconds, 0 };
	struct event *ev = event_new(base, -1, EV_PERSIST, on_flush_tick, &fl);

	if (ev == NULL)
		return;
	event_add(ev, &tick);
	event_base_loopexit(base, &limit);
	event_base_dispatch(base);
	event_free(ev);
	if (outputs_backlog(out) > 0)
		log_warnx("%lld readings not yet delivered; they stay in the "
		    "journal for the next run",
		    (long long)outputs_backlog(out));
}

int
main(int argc, char **argv)
{
	const char *stream_path = NULL, *csv_path = NULL, *db_path = NULL;
	const char *conf_path = NULL;
	struct event_base *base = NULL;
	struct config cfg;
	int flush_s = 10;
	struct outputs out;
	struct sink sk;
	char err[512];
	int ch, verbose = 0, rc;

	log_init("omnik-sniff", true, 0);
	while ((ch = getopt_long(argc, argv, "c:vhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			conf_path = optarg;
			break;
		case OPT_DB:
			db_path = optarg;
			break;
		case OPT_FLUSH:
			flush_s = atoi(optarg);
			break;
		case OPT_STREAM:
			stream_path = optarg;
			break;
		case OPT_CSV:
			csv_path = optarg;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("omnik-sniff %s\n", OMNIKLOG_VERSION);
			return 0;
		default:
			fprintf(stderr, "Try 'omnik-sniff --help'.\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "omnik-sniff: unexpected argument '%s'\n"
		    "Try 'omnik-sniff --help'.\n", argv[optind]);
		return 2;
	}
	if (stream_path == NULL) {
		fprintf(stderr, "omnik-sniff: no input given: use --stream FILE\n"
		    "Try 'omnik-sniff --help'.\n");
		return 2;
	}
	log_set_verbosity(verbose);

	if (conf_path != NULL || db_path != NULL) {
		/* The journal first, then CSV, then remote outputs. */
		config_defaults(&cfg);
		cfg.db[0] = '\0';
		if ((conf_path && config_load(&cfg, conf_path, err,
		    sizeof(err)) != 0) ||
		    (db_path && config_set(&cfg, "omniklog", "db", db_path,
		    err, sizeof(err)) != 0) ||
		    (csv_path && config_set(&cfg, "omniklog", "csv", csv_path,
		    err, sizeof(err)) != 0) ||
		    (base = event_base_new()) == NULL ||
		    outputs_setup(&out, &cfg, base, err, sizeof(err)) != 0) {
			log_warnx("%s", base ? err : "cannot set up");
			if (base)
				event_base_free(base);
			return 1;
		}
		if (cfg.csv[0] == '\0') {
			text_sink(stdout, &sk);
			outputs_add(&out, &sk);
		}
		rc = run_stream(stream_path, &out);
		flush_remote(&out, base, flush_s);
		outputs_teardown(&out);
		event_base_free(base);
		return rc == 0 ? 0 : 1;
	}
	outputs_init(&out);
	if (csv_path != NULL) {
		if (csv_sink_open(csv_path, &sk, err, sizeof(err)) != 0) {
			log_warnx("%s", err);
			return 1;
		}
	} else {
		text_sink(stdout, &sk);
	}
	outputs_add(&out, &sk);

	rc = run_stream(stream_path, &out);
	outputs_close(&out);
	return rc == 0 ? 0 : 1;
}
