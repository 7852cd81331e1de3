/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kitsim: push like an Omnik WiFi kit. Connect to ADDR:PORT, send one data
 * frame per inverter and then the kit's "DATA SEND IS OK" text frame,
 * close the sending side and wait for the server to close. Used by the
 * relay's end-to-end tests, the demo and the benchmark.
 *
 *   kitsim [options] ADDR:PORT
 *
 * Session k (0-based) carries values derived from k (energy total 10000+k,
 * hours k, ...), so every push is different and a test can tell them
 * apart by hash. Exit status 0 when every session completed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "omnik.h"

#define PUSH_MAX 65536

struct opts {
	long count;
	long first;		/* number of the first session */
	int concurrency;
	double rate;		/* sessions started per second, 0: no limit */
	int inverters;
	int payload_len;
	size_t split;		/* write in pieces of this many bytes */
	int delay_ms;		/* between pieces */
	uint32_t serial;
	const char *raw;	/* send this file's bytes instead */
	const char *save;	/* directory for push-N.bin / reply-N.bin */
	long idle;		/* open this many silent connections */
	int hold;		/* seconds to keep idle connections */
	int timeout;		/* seconds per session */
	int nowait;		/* close after sending, do not wait for EOF */
	int stats;
	struct sockaddr_storage to;
	socklen_t tolen;
};

struct sess {
	struct sim *sim;
	long k;
	struct bufferevent *bev;
	struct event *tick;	/* next piece, when split with a delay */
	uint8_t *data;
	size_t len, sent;
	struct timespec t0;
	size_t got;
	FILE *reply;
};

struct sim {
	struct opts o;
	struct event_base *base;
	struct event *pace;
	long started, done, ok, failed, active, idle_open, idle_total;
	double *lat;		/* seconds, one per completed session */
	struct timespec t0;
	uint8_t raw[PUSH_MAX];
	size_t rawlen;
};

static double
elapsed(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a->tv_sec) +
	    (double)(b.tv_nsec - a->tv_nsec) / 1e9;
}

static void
usage(FILE *fp)
{
	fprintf(fp,
"Usage: kitsim [options] ADDR:PORT\n"
"Push like an Omnik WiFi kit: data frame(s), \"DATA SEND IS OK\", close.\n"
"  -c, --count N        pushes in all (default 1)\n"
"      --first K        number the pushes from K (default 0): runs with\n"
"                       different K push different readings\n"
"  -j, --concurrency N  pushes at the same time (default 1)\n"
"  -r, --rate R         start at most R pushes a second (default: no limit)\n"
"  -i, --inverters N    data frames per push (default 1)\n"
"  -L, --payload-len L  data frame payload length: 85, 125 (default), 129,\n"
"                       169 (0x55, 0x7D, 0x81, 0xA9)\n"
"  -s, --serial SN      kit serial (default 602302630)\n"
"      --split N        write each push in pieces of N bytes\n"
"      --delay MS       wait MS milliseconds between pieces\n"
"      --raw FILE       push FILE's bytes instead of generated frames\n"
"      --save DIR       save each push as DIR/push-K.bin and what the\n"
"                       server sent back as DIR/reply-K.bin\n"
"      --no-wait        close right after sending (do not wait for EOF)\n"
"      --idle N         open N silent connections, print \"idle N\" when\n"
"                       all are open, keep them --hold S seconds (default\n"
"                       until killed), then exit\n"
"      --hold S\n"
"  -t, --timeout S      give up on a push after S seconds (default 10)\n"
"      --stats          print a summary: pushes/s, latency p50/p99\n"
"  -h, --help\n");
}

static int
parse_target(const char *spec, struct opts *o)
{
	char host[256];
	const char *colon = strrchr(spec, ':'), *h = spec;
	struct addrinfo hints, *res;
	size_t hl;

	if (colon == NULL)
		return -1;
	hl = (size_t)(colon - spec);
	if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']') {
		h = spec + 1;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
		return -1;
	memcpy(&o->to, res->ai_addr, res->ai_addrlen);
	o->tolen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* The bytes of push k: one data frame per inverter, then the ack text. */
static size_t
build_push(const struct opts *o, long k, uint8_t *out, size_t cap)
{
	struct omnik_reading r;
	char sn[64];
	size_t len = 0, n;

	for (int i = 0; i < o->inverters; i++) {
		omnik_reading_clear(&r);
		r.kit_sn = o->serial;
		snprintf(sn, sizeof(sn), "NLDN%06ld%06d", k % 1000000,
		    i % 1000000);
		memcpy(r.inverter_sn, sn, OMNIK_SERIAL_LEN);
		r.inverter_sn[OMNIK_SERIAL_LEN] = '\0';
		r.value[OMNIK_TEMP] = 200 + (k + i) % 300;
		r.value[OMNIK_VPV1] = 2000 + k % 1500;
		r.value[OMNIK_VPV2] = 1900 + i;
		r.value[OMNIK_IPV1] = 10 + k % 90;
		r.value[OMNIK_IPV2] = 5 + i % 50;
		r.value[OMNIK_IAC1] = 12 + k % 80;
		r.value[OMNIK_VAC1] = 2300 + k % 100;
		r.value[OMNIK_FAC1] = 4990 + k % 20;
		r.value[OMNIK_PAC1] = k % 4000;
		r.value[OMNIK_ETODAY] = k % 3000;
		r.value[OMNIK_ETOTAL] = 10000 + k;
		r.value[OMNIK_HTOTAL] = k + i;
		r.value[OMNIK_RUNMODE] = 1;
		snprintf(r.fw_main, sizeof(r.fw_main), "NL1-V1.0-0043-4");
		snprintf(r.fw_slave, sizeof(r.fw_slave), "V1.6-0018");
		r.has_fw = true;
		if (omnik_encode_data(&r, (uint8_t)o->payload_len, out + len,
		    cap - len, &n) != OMNIK_OK)
			return 0;
		len += n;
	}
	if (omnik_encode_text(o->serial, 0x41, "DATA SEND IS OK\r\n", out + len,
	    cap - len, &n) != OMNIK_OK)
		return 0;
	return len + n;
}

static void start_more(struct sim *);

static void
sess_end(struct sess *s, bool ok)
{
	struct sim *sim = s->sim;

	if (ok) {
		sim->lat[sim->ok] = elapsed(&s->t0);
		sim->ok++;
	} else {
		sim->failed++;
	}
	sim->done++;
	sim->active--;
	if (s->tick)
		event_free(s->tick);
	if (s->bev)
		bufferevent_free(s->bev);
	if (s->reply)
		fclose(s->reply);
	free(s->data);
	free(s);
	if (sim->done >= sim->o.count)
		event_base_loopexit(sim->base, NULL);
	else
		start_more(sim);
}

static void
save_push(const struct sess *s)
{
	char path[4096];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/push-%ld.bin", s->sim->o.save, s->k);
	if ((fp = fopen(path, "wb")) == NULL) {
		perror(path);
		return;
	}
	fwrite(s->data, 1, s->len, fp);
	fclose(fp);
}

/* Queue the next piece; when all is queued, write_done finishes. */
static void
send_piece(struct sess *s)
{
	size_t n = s->len - s->sent;

	if (s->sim->o.split > 0 && n > s->sim->o.split)
		n = s->sim->o.split;
	bufferevent_write(s->bev, s->data + s->sent, n);
	s->sent += n;
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sess *s = arg;

	(void)fd;
	(void)what;
	send_piece(s);
}

static void
write_done(struct bufferevent *bev, void *arg)
{
	struct sess *s = arg;
	struct timeval tv;

	if (s->sent < s->len) {
		if (s->sim->o.delay_ms > 0) {
			tv.tv_sec = s->sim->o.delay_ms / 1000;
			tv.tv_usec = (s->sim->o.delay_ms % 1000) * 1000;
			evtimer_add(s->tick, &tv);
		} else
			send_piece(s);
		return;
	}
	if (s->sim->o.nowait) {
		sess_end(s, true);
		return;
	}
	(void)shutdown(bufferevent_getfd(bev), SHUT_WR);
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct sess *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char path[4096];
	size_t n = evbuffer_get_length(in);

	if (s->sim->o.save != NULL && s->reply == NULL) {
		snprintf(path, sizeof(path), "%s/reply-%ld.bin",
		    s->sim->o.save, s->k);
		s->reply = fopen(path, "wb");
	}
	if (s->reply != NULL)
		evbuffer_write(in, fileno(s->reply));
	s->got += n;
	evbuffer_drain(in, evbuffer_get_length(in));
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct sess *s = arg;

	if (what & BEV_EVENT_CONNECTED) {
		if (s->sim->o.idle > 0) {
			s->sim->idle_open++;
			/* Once all have connected, even if some ended since. */
			if (++s->sim->idle_total == s->sim->o.idle) {
				printf("idle %ld\n", s->sim->idle_total);
				fflush(stdout);
			}
			return;
		}
		send_piece(s);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		if (s->sim->o.idle > 0) {
			s->sim->idle_open--;
			sess_end(s, false);
			return;
		}
		sess_end(s, s->sent == s->len);
		return;
	}
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		int e = EVUTIL_SOCKET_ERROR();

		if (s->sim->failed < 5)
			fprintf(stderr, "kitsim: push %ld: %s\n", s->k,
			    (what & BEV_EVENT_TIMEOUT) ? "timed out" :
			    strerror(e));
		(void)bev;
		if (s->sim->o.idle > 0 && s->sim->idle_open > 0 &&
		    !(what & BEV_EVENT_TIMEOUT))
			s->sim->idle_open--;
		sess_end(s, false);
	}
}

static int
start_one(struct sim *sim)
{
	struct sess *s = calloc(1, sizeof(*s));
	struct timeval to = { sim->o.timeout, 0 };
	uint8_t buf[PUSH_MAX];

	if (s == NULL)
		return -1;
	s->sim = sim;
	s->k = sim->o.first + sim->started++;
	sim->active++;
	clock_gettime(CLOCK_MONOTONIC, &s->t0);
	if (sim->o.idle == 0) {
		if (sim->rawlen > 0) {
			s->len = sim->rawlen;
			memcpy(buf, sim->raw, sim->rawlen);
		} else
			s->len = build_push(&sim->o, s->k, buf, sizeof(buf));
		s->data = malloc(s->len ? s->len : 1);
		if (s->data == NULL || s->len == 0) {
			fprintf(stderr, "kitsim: cannot build push\n");
			exit(2);
		}
		memcpy(s->data, buf, s->len);
		if (sim->o.save != NULL)
			save_push(s);
	}
	s->bev = bufferevent_socket_new(sim->base, -1, BEV_OPT_CLOSE_ON_FREE);
	s->tick = evtimer_new(sim->base, tick_cb, s);
	if (s->bev == NULL || s->tick == NULL) {
		sess_end(s, false);
		return -1;
	}
	bufferevent_setcb(s->bev, read_cb, write_done, event_cb, s);
	if (sim->o.idle == 0)
		bufferevent_set_timeouts(s->bev, &to, &to);
	bufferevent_enable(s->bev, EV_READ);
	if (bufferevent_socket_connect(s->bev, (struct sockaddr *)&sim->o.to,
	    (int)sim->o.tolen) != 0) {
		sess_end(s, false);
		return -1;
	}
	return 0;
}

/* Start as many sessions as concurrency and rate allow. */
static void
start_more(struct sim *sim)
{
	long allowed = sim->o.count;

	if (sim->o.rate > 0) {
		allowed = (long)(elapsed(&sim->t0) * sim->o.rate) + 1;
		if (allowed > sim->o.count)
			allowed = sim->o.count;
	}
	while (sim->started < allowed && sim->active < sim->o.concurrency)
		if (start_one(sim) != 0)
			return;
	if (sim->started < sim->o.count && sim->o.rate > 0 &&
	    sim->started >= allowed) {
		struct timeval tv = { 0, (long)(1e6 / sim->o.rate) };

		if (tv.tv_usec > 999999)
			tv.tv_usec = 999999;
		if (!evtimer_pending(sim->pace, NULL))
			evtimer_add(sim->pace, &tv);
	}
}

static void
pace_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	start_more(arg);
}

static void
hold_over(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopexit(arg, NULL);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

enum { O_SPLIT = 256, O_DELAY, O_RAW, O_SAVE, O_NOWAIT, O_IDLE, O_HOLD,
	O_STATS, O_FIRST };

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "count", required_argument, NULL, 'c' },
		{ "concurrency", required_argument, NULL, 'j' },
		{ "rate", required_argument, NULL, 'r' },
		{ "inverters", required_argument, NULL, 'i' },
		{ "payload-len", required_argument, NULL, 'L' },
		{ "serial", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "split", required_argument, NULL, O_SPLIT },
		{ "delay", required_argument, NULL, O_DELAY },
		{ "raw", required_argument, NULL, O_RAW },
		{ "save", required_argument, NULL, O_SAVE },
		{ "no-wait", no_argument, NULL, O_NOWAIT },
		{ "idle", required_argument, NULL, O_IDLE },
		{ "hold", required_argument, NULL, O_HOLD },
		{ "stats", no_argument, NULL, O_STATS },
		{ "first", required_argument, NULL, O_FIRST },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sim sim;
	struct opts *o = &sim.o;
	struct rlimit rl;
	struct event *hold = NULL;
	FILE *fp;
	int ch;

	memset(&sim, 0, sizeof(sim));
	o->count = 1;
	o->concurrency = 1;
	o->inverters = 1;
	o->payload_len = 0x7D;
	o->serial = 602302630;
	o->timeout = 10;
	while ((ch = getopt_long(argc, argv, "c:j:r:i:L:s:t:h", lo,
	    NULL)) != -1) {
		switch (ch) {
		case 'c': o->count = atol(optarg); break;
		case 'j': o->concurrency = atoi(optarg); break;
		case 'r': o->rate = atof(optarg); break;
		case 'i': o->inverters = atoi(optarg); break;
		case 'L': o->payload_len = atoi(optarg); break;
		case 's': o->serial = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 't': o->timeout = atoi(optarg); break;
		case O_SPLIT: o->split = (size_t)atol(optarg); break;
		case O_DELAY: o->delay_ms = atoi(optarg); break;
		case O_RAW: o->raw = optarg; break;
		case O_SAVE: o->save = optarg; break;
		case O_NOWAIT: o->nowait = 1; break;
		case O_IDLE: o->idle = atol(optarg); break;
		case O_HOLD: o->hold = atoi(optarg); break;
		case O_STATS: o->stats = 1; break;
		case O_FIRST: o->first = atol(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind + 1 != argc || parse_target(argv[optind], o) != 0 ||
	    o->count < 1 || o->first < 0 || o->concurrency < 1 || o->inverters < 1 ||
	    o->inverters * (o->payload_len + 14) + 31 > PUSH_MAX ||
	    o->timeout < 1) {
		usage(stderr);
		return 2;
	}
	if (o->raw != NULL) {
		if ((fp = fopen(o->raw, "rb")) == NULL) {
			perror(o->raw);
			return 2;
		}
		sim.rawlen = fread(sim.raw, 1, sizeof(sim.raw), fp);
		fclose(fp);
		if (sim.rawlen == 0) {
			fprintf(stderr, "kitsim: %s is empty\n", o->raw);
			return 2;
		}
	}
	if (o->idle > 0) {
		o->count = o->idle;
		o->concurrency = (int)o->idle;
		o->rate = 0;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (o->save != NULL && mkdir(o->save, 0755) != 0 && errno != EEXIST) {
		perror(o->save);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	sim.lat = calloc((size_t)o->count, sizeof(double));
	sim.base = event_base_new();
	sim.pace = evtimer_new(sim.base, pace_cb, &sim);
	if (sim.lat == NULL || sim.base == NULL || sim.pace == NULL)
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &sim.t0);
	start_more(&sim);
	if (o->idle > 0 && o->hold > 0) {
		struct timeval tv = { o->hold, 0 };

		hold = evtimer_new(sim.base, hold_over, sim.base);
		evtimer_add(hold, &tv);
	}
	if (sim.done < o->count)
		event_base_dispatch(sim.base);

	if (o->stats) {
		double t = elapsed(&sim.t0);

		qsort(sim.lat, (size_t)sim.ok, sizeof(double), cmp_double);
		printf("pushes %ld ok %ld failed %ld seconds %.3f rate %.1f "
		    "p50_us %.0f p99_us %.0f\n", sim.done, sim.ok, sim.failed,
		    t, t > 0 ? (double)sim.ok / t : 0,
		    sim.ok ? sim.lat[sim.ok / 2] * 1e6 : 0,
		    sim.ok ? sim.lat[(sim.ok * 99) / 100] * 1e6 : 0);
	}
	if (hold != NULL)
		event_free(hold);
	event_free(sim.pace);
	event_base_free(sim.base);
	free(sim.lat);
	if (o->idle > 0)
		return 0;
	if (sim.failed > 0 || sim.ok < o->count)
		fprintf(stderr, "kitsim: %ld of %ld pushes failed\n",
		    o->count - sim.ok, o->count);
	return sim.failed == 0 && sim.ok == o->count ? 0 : 1;
}
