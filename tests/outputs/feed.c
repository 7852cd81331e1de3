/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * feed.c: omk-feed, a stand-in for a capture program in the output tests.
 *
 * It runs what omnik-relay and omnik-sniff run: outputs_setup() from a
 * config file, frames encoded as a kit sends them fed through
 * stream_feed() (framer, decoder, journal, CSV), and a libevent loop that
 * drives the remote outputs. Unlike --stream it stamps each reading with
 * a time of the test's choosing, and it can feed while the loop runs (one
 * reading per --interval ms), as a live capture does.
 *
 *   omk-feed -c CONF [--count N] [--start EPOCH] [--step S] [--interval MS]
 *            [--inverters K] [--bad I] [--flush S] [--first I]
 *            [--night-from I] [--offline-from I] [--stay]
 *            [--serial SN] [--firmware FW] [--etoday-step N]
 *
 * Reading i (from --first, default 0) is stamped start + i * step, and
 * its values follow from i (ETOTAL = 10000 kWh + i / 10, PAC1 = 100 + i W
 * ...), so a test can tell every reading apart at the far end. ETODAY is
 * 0.1 kWh per reading since the first one of its local day, as an
 * inverter's restarts each morning (the decoder's limits hold it to the
 * time of day).
 *
 * --offline-from I: readings from I on are offline frames, as a kit sends
 * them at dusk: temperature absent, 0 hours, 0 everywhere but the energy
 * counters. --stay: run until SIGTERM (or --flush seconds), even when
 * everything is delivered: a program running through the night.
 *
 * Exit: 0 when every remote output has delivered everything, 3 when the
 * --flush time ran out first, 1 on a setup error.
 */
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "omnik.h"
#include "registry.h"
#include "setup.h"
#include "stream.h"

#define KITS_MAX 16

struct feed {
	struct event_base *base;
	struct outputs out;
	struct stream streams[KITS_MAX];
	int count, inverters, bad, fed, first, night, offline;
	bool stay;
	time_t start;
	int step;
	struct event *feeder, *check;
	struct timeval deadline;
	double flush_s;
	bool feeding_done;
	struct timeval last_tick;
	long max_gap_ms;		/* how late the feeder ran, worst case */
};

/* The first reading on the local day of reading i (stamped start + i * step). */
static int
day_first(time_t start, int step, int i)
{
	time_t t = start + (time_t)i * step, mid;
	struct tm tm;

	localtime_r(&t, &tm);
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1;
	mid = mktime(&tm);
	if (mid <= start)
		return 0;
	return (int)((mid - start + step - 1) / step);
}

/* --serial, --firmware: hostile strings for the status page's tests. */
static const char *serial_opt, *fw_opt;
/*
 * --etoday-step: E today's growth a reading, in 10 Wh (0.1 kWh by
 * default). Readings closer than 30 s need less to stay within what one
 * phase can make (invstate refuses more).
 */
static int etoday_step = 10;

static void
make_frame(int i, int k, int bad, int night, int offline, int day0,
    int nday0, int oday0, uint8_t *frame, size_t *len)
{
	struct omnik_reading r;

	omnik_reading_clear(&r);
	r.kit_sn = 1600000000u + (uint32_t)k;
	r.ctrl1 = 0x41;
	snprintf(r.inverter_sn, sizeof(r.inverter_sn), "NLDN30201300%04u",
	    (unsigned)k % 10000u);
	if (serial_opt != NULL && k == 0)
		snprintf(r.inverter_sn, sizeof(r.inverter_sn), "%s", serial_opt);
	r.value[OMNIK_TEMP] = 300 + i % 50;
	r.value[OMNIK_VPV1] = 3000 + i % 100;
	r.value[OMNIK_VPV2] = 2900;
	r.value[OMNIK_IPV1] = 20;
	r.value[OMNIK_IPV2] = 19;
	r.value[OMNIK_IAC1] = 10;
	r.value[OMNIK_VAC1] = 2300 + i % 10;
	r.value[OMNIK_FAC1] = 5000;
	r.value[OMNIK_PAC1] = 100 + i % 1000;
	r.value[OMNIK_ETODAY] = ((i - day0) * etoday_step) % 6000;
	r.value[OMNIK_ETOTAL] = 100000 + i;
	r.value[OMNIK_HTOTAL] = 1000 + i;
	r.value[OMNIK_RUNMODE] = 1;
	if (i == bad)	/* over the stand-in PVOutput's 10 kW system, yet
			 * within the decoder's 12 kW a phase */
		r.value[OMNIK_PAC1] = 11000;
	if (night >= 0 && i >= night) {	/* sun down: no power, no energy */
		r.value[OMNIK_PAC1] = 0;
		r.value[OMNIK_ETODAY] = ((night - nday0) * etoday_step) % 6000;
	}
	if (offline >= 0 && i >= offline) {
		for (int f = 0; f < OMNIK_NFIELDS; f++)
			if (f != OMNIK_ETODAY && f != OMNIK_ETOTAL &&
			    r.value[f] != OMNIK_ABSENT)
				r.value[f] = 0;
		r.value[OMNIK_TEMP] = OMNIK_ABSENT;
		r.value[OMNIK_ETODAY] = ((offline - oday0) * etoday_step) %
		    6000;
		r.value[OMNIK_ETOTAL] = 100000 + offline;
	}
	r.has_fw = true;
	snprintf(r.fw_main, sizeof(r.fw_main), "%s", fw_opt ? fw_opt :
	    "V5.07Build230");
	snprintf(r.fw_slave, sizeof(r.fw_slave), "V4.13Build253");
	if (omnik_encode_data(&r, 0x7D, frame, OMNIK_FRAME_MAX, len) !=
	    OMNIK_OK)
		fatalx("cannot encode reading %d", i);
}

static void
feed_one(struct feed *f)
{
	uint8_t frame[OMNIK_FRAME_MAX];
	size_t len;
	int i = f->first + f->fed;
	struct timeval when = { f->start + (time_t)i * f->step, 0 };

	for (int k = 0; k < f->inverters; k++) {
		make_frame(i, k, f->bad, f->night, f->offline,
		    day_first(f->start, f->step, i),
		    f->night >= 0 ? day_first(f->start, f->step, f->night) : 0,
		    f->offline >= 0 ?
		    day_first(f->start, f->step, f->offline) : 0,
		    frame, &len);
		stream_feed(&f->streams[k], frame, len, &when);
	}
	f->fed++;
}

static void
on_feeder(evutil_socket_t fd, short what, void *arg)
{
	struct feed *f = arg;
	struct timeval now;
	long gap;

	(void)fd;
	(void)what;
	gettimeofday(&now, NULL);
	if (f->last_tick.tv_sec) {
		gap = (now.tv_sec - f->last_tick.tv_sec) * 1000 +
		    (now.tv_usec - f->last_tick.tv_usec) / 1000;
		if (gap > f->max_gap_ms)
			f->max_gap_ms = gap;
	}
	f->last_tick = now;
	if (f->fed < f->count)
		feed_one(f);
	if (f->fed >= f->count && !f->feeding_done) {
		f->feeding_done = true;
		event_del(f->feeder);
		gettimeofday(&f->deadline, NULL);
		f->deadline.tv_sec += (time_t)f->flush_s;
		f->deadline.tv_usec += (suseconds_t)((f->flush_s -
		    (double)(time_t)f->flush_s) * 1e6);
	}
}

static void
on_check(evutil_socket_t fd, short what, void *arg)
{
	struct feed *f = arg;
	struct timeval now;

	(void)fd;
	(void)what;
	if (!f->feeding_done)
		return;
	gettimeofday(&now, NULL);
	if ((!f->stay && outputs_backlog(&f->out) == 0) || timercmp(&now, &f->deadline, >))
		event_base_loopbreak(f->base);
}

static void
on_signal(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "start", required_argument, NULL, 's' },
		{ "step", required_argument, NULL, 't' },
		{ "interval", required_argument, NULL, 'i' },
		{ "inverters", required_argument, NULL, 'k' },
		{ "bad", required_argument, NULL, 'b' },
		{ "flush", required_argument, NULL, 'f' },
		{ "first", required_argument, NULL, 'F' },
		{ "night-from", required_argument, NULL, 'N' },
		{ "offline-from", required_argument, NULL, 'O' },
		{ "stay", no_argument, NULL, 'S' },
		{ "serial", required_argument, NULL, 'E' },
		{ "firmware", required_argument, NULL, 'W' },
		{ "etoday-step", required_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	struct feed f = { .count = 10, .inverters = 1, .bad = -1, .night = -1, .offline = -1,
	    .step = 300, .flush_s = 10 };
	struct config cfg;
	struct event *sig;
	struct timeval iv = { 0, 0 }, tick = { 0, 50000 };
	const char *conf = NULL;
	char err[2048];
	int ch, interval_ms = 0;
	int64_t backlog;

	log_init("omk-feed", true, 0);
	f.start = time(NULL) - 3600;
	while ((ch = getopt_long(argc, argv, "c:v", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': conf = optarg; break;
		case 'v': log_set_verbosity(1); break;
		case 'n': f.count = atoi(optarg); break;
		case 's': f.start = (time_t)atoll(optarg); break;
		case 't': f.step = atoi(optarg); break;
		case 'i': interval_ms = atoi(optarg); break;
		case 'k': f.inverters = atoi(optarg); break;
		case 'b': f.bad = atoi(optarg); break;
		case 'f': f.flush_s = atof(optarg); break;
		case 'F': f.first = atoi(optarg); break;
		case 'N': f.night = atoi(optarg); break;
		case 'O': f.offline = atoi(optarg); break;
		case 'S': f.stay = true; break;
		case 'E': serial_opt = optarg; break;
		case 'W': fw_opt = optarg; break;
		case 'D': etoday_step = atoi(optarg); break;
		default: return 2;
		}
	}
	if (conf == NULL || f.inverters < 1 || f.inverters > KITS_MAX) {
		fprintf(stderr, "usage: omk-feed -c CONF [options]\n");
		return 2;
	}
	config_register(output_sections);
	config_defaults(&cfg);
	if (config_load(&cfg, conf, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	f.base = event_base_new();
	if (f.base == NULL)
		fatalx("event_base_new failed");
	if (outputs_setup(&f.out, &cfg, f.base, false, err, sizeof(err)) != 0) {
		log_warnx("%s", err);
		event_base_free(f.base);
		return 1;
	}
	for (int k = 0; k < f.inverters; k++)
		stream_init(&f.streams[k], &f.out, STREAM_FROM_KIT, "omk-feed");
	iv.tv_sec = interval_ms / 1000;
	iv.tv_usec = (interval_ms % 1000) * 1000;
	f.feeder = event_new(f.base, -1, EV_PERSIST, on_feeder, &f);
	f.check = event_new(f.base, -1, EV_PERSIST, on_check, &f);
	sig = evsignal_new(f.base, SIGTERM, on_signal, f.base);
	if (f.feeder == NULL || f.check == NULL || sig == NULL)
		fatalx("out of memory");
	event_add(sig, NULL);
	if (interval_ms == 0) {
		const char *e;

		/* A burst, as a replay feeds it: committed as a whole. */
		while (f.fed < f.count)
			feed_one(&f);
		if (outputs_sync(&f.out, 10000, &e) != 0)
			log_warnx("journal: %s", e);
		on_feeder(-1, 0, &f);
	} else {
		event_add(f.feeder, &iv);
	}
	event_add(f.check, &tick);
	event_base_dispatch(f.base);

	backlog = outputs_backlog(&f.out);
	printf("fed %d readings per inverter, backlog %lld, feeder late by "
	    "at most %ld ms\n", f.fed, (long long)backlog,
	    interval_ms ? f.max_gap_ms - interval_ms : 0L);
	event_free(f.feeder);
	event_free(f.check);
	event_free(sig);
	outputs_teardown(&f.out);
	event_base_free(f.base);
	return backlog == 0 ? 0 : 3;
}
