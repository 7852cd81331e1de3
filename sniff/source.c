/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * source.c: the sniffer's inputs behind one interface (source.h). Each
 * kind is a row of operations; what the kinds share (the reassembler, the
 * counters) is done once here.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "nfqsrc.h"
#include "pcapsrc.h"
#include "sniff.h"
#include "source.h"
#include "stream.h"

#define MAX_FILES 64

struct source_ops {
	bool live;
	int (*open)(struct source *src, char *err, size_t errlen);
	int (*start)(struct source *src, char *err, size_t errlen);
	/* The source's own counters, for sniff_log_stats ("" for none). */
	void (*counters)(struct source *src, char *buf, size_t n);
	void (*close)(struct source *src);
};

struct source {
	const struct source_ops *ops;
	enum source_kind kind;
	const struct config *cfg;
	struct outputs *out;
	struct event_base *base;
	struct sniff sn;
	bool sniffing;			/* sn is initialised */
	const char *paths[MAX_FILES];
	FILE *fps[MAX_FILES];		/* -r: opened before the drop */
	int npaths;
	int fd;				/* --stream: opened before the drop */
	struct pcapsrc *live;
	struct nfqsrc *nfq;
	struct event *tick;
	char name[CONFIG_STR + 32];
};

int
source_reasm_config(const struct config *c, struct tcpreasm_config *rc,
    char *err, size_t errlen)
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

static int
sniff_open(struct source *src, char *err, size_t errlen)
{
	struct tcpreasm_config rc;

	if (source_reasm_config(src->cfg, &rc, err, errlen) != 0)
		return -1;
	if (sniff_init(&src->sn, &rc, src->out) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	src->sniffing = true;
	return 0;
}

static void
no_counters(struct source *src, char *buf, size_t n)
{
	(void)src;
	(void)n;
	buf[0] = '\0';
}

/* ------------------------------------------------------------------ */
/* --stream: the bytes themselves, no packets */

static int
raw_open(struct source *src, char *err, size_t errlen)
{
	const char *path = src->paths[0];

	if (strcmp(path, "-") == 0) {
		src->fd = STDIN_FILENO;
	} else if ((src->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path,
		    strerror(errno));
		return -1;
	}
	snprintf(src->name, sizeof(src->name), "%s",
	    strcmp(path, "-") ? path : "stdin");
	return 0;
}

static int
raw_run(struct source *src, char *err, size_t errlen)
{
	struct stream s;
	struct timeval now;
	uint8_t buf[65536];
	ssize_t n;

	(void)err;
	(void)errlen;
	/* Raw bytes carry no time: the only one there is, is now. */
	log_info("%s: readings are stamped with the time they are read",
	    src->name);
	stream_init(&s, src->out, STREAM_FROM_KIT, src->name);
	for (;;) {
		n = read(src->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_warn("cannot read %s", src->paths[0]);
			break;
		}
		gettimeofday(&now, NULL);
		if (n == 0)
			break;
		stream_feed(&s, buf, (size_t)n, &now);
		/* One loop round per chunk: commits the journal's group. */
		if (src->base != NULL)
			(void)event_base_loop(src->base, EVLOOP_NONBLOCK);
	}
	gettimeofday(&now, NULL);
	stream_end(&s, &now);
	log_info("%s: %llu bytes, %llu frames, %llu readings, %llu rejected, "
	    "%llu bytes skipped", s.source,
	    (unsigned long long)s.fr.st.bytes_in,
	    (unsigned long long)s.st.frames,
	    (unsigned long long)s.st.readings,
	    (unsigned long long)s.st.rejects,
	    (unsigned long long)s.fr.st.skipped);
	return n < 0 ? -1 : 0;
}

static void
raw_close(struct source *src)
{
	if (src->fd > STDIN_FILENO)
		close(src->fd);
}

/* ------------------------------------------------------------------ */
/* -r: replay, in file order, as one capture */

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
	struct source *src = arg;

	if (usr1_seen) {
		usr1_seen = 0;
		source_stats(src);
	}
}

static int
replay_open(struct source *src, char *err, size_t errlen)
{
	for (int i = 0; i < src->npaths; i++) {
		src->fps[i] = strcmp(src->paths[i], "-") == 0 ? stdin :
		    fopen(src->paths[i], "rbe");
		if (src->fps[i] == NULL) {
			snprintf(err, errlen, "cannot open %s: %s",
			    src->paths[i], strerror(errno));
			while (i-- > 0)
				if (src->fps[i] != stdin)
					fclose(src->fps[i]);
			return -1;
		}
	}
	snprintf(src->name, sizeof(src->name), "replay");
	return sniff_open(src, err, errlen);
}

static int
replay_run(struct source *src, char *err, size_t errlen)
{
	struct sniff *sn = &src->sn;
	struct timeval end = { 0, 0 };
	int rcode = 0;

	/* No loop runs a replay: USR1 is looked at between packets. */
	signal(SIGUSR1, on_usr1_replay);
	for (int i = 0; i < src->npaths; i++) {
		if (pcapsrc_replay(sn, src->fps[i], src->paths[i],
		    src->cfg->filter, src->cfg->ports, replay_between, src, err,
		    errlen) != 0) {
			log_warnx("%s", err);
			rcode = -1;
		}
		src->fps[i] = NULL;	/* pcapsrc_replay closed it */
	}
	/* Flows still open at the end of the capture end at its last time. */
	if (sn->r.newest != NULL) {
		end.tv_sec = (time_t)(sn->r.newest->last_us / 1000000);
		end.tv_usec = (suseconds_t)(sn->r.newest->last_us % 1000000);
	}
	sniff_finish(sn, &end);
	src->sniffing = false;
	sniff_log_stats(sn, NULL);
	return rcode;
}

static void
replay_close(struct source *src)
{
	for (int i = 0; i < src->npaths; i++)
		if (src->fps[i] != NULL && src->fps[i] != stdin)
			fclose(src->fps[i]);
}

/* ------------------------------------------------------------------ */
/* -i and --nfqueue: on the loop, with a 1 s tick for idle flows */

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct source *src = arg;
	struct timeval now;

	(void)fd;
	(void)what;
	/* The kernel may hold a partly filled block: collect it. */
	if (src->live)
		pcapsrc_live_poll(src->live);
	gettimeofday(&now, NULL);
	sniff_tick(&src->sn, &now);
}

static int
tick_start(struct source *src, char *err, size_t errlen)
{
	struct timeval one = { 1, 0 };

	src->tick = event_new(src->base, -1, EV_PERSIST, on_tick, src);
	if (src->tick == NULL || evtimer_add(src->tick, &one) != 0) {
		snprintf(err, errlen, "cannot start the timer");
		return -1;
	}
	return 0;
}

static int
live_open(struct source *src, char *err, size_t errlen)
{
	const struct config *c = src->cfg;
	struct pcapsrc_live_config lc;

	if (sniff_open(src, err, errlen) != 0)
		return -1;
	memset(&lc, 0, sizeof(lc));
	lc.interface = c->interface;
	lc.filter = c->filter;
	lc.ports = c->ports;
	lc.promisc = c->promisc;
	lc.snaplen = c->snaplen;
	lc.buffer_size = c->buffer_size;
	if ((src->live = pcapsrc_live_open(&lc, &src->sn, err, errlen)) ==
	    NULL)
		return -1;
	snprintf(src->name, sizeof(src->name), "capturing on %s",
	    c->interface);
	return 0;
}

static int
live_start(struct source *src, char *err, size_t errlen)
{
	if (pcapsrc_live_attach(src->live, src->base, err, errlen) != 0)
		return -1;
	return tick_start(src, err, errlen);
}

static void
live_counters(struct source *src, char *buf, size_t n)
{
	pcapsrc_live_stats(src->live, buf, n);
}

static void
live_close(struct source *src)
{
	pcapsrc_live_close(src->live);
}

static int
nfq_open(struct source *src, char *err, size_t errlen)
{
	if (sniff_open(src, err, errlen) != 0)
		return -1;
	src->nfq = nfqsrc_open(src->cfg->nfqueue, &src->sn, err, errlen);
	if (src->nfq == NULL)
		return -1;
	snprintf(src->name, sizeof(src->name), "NFQUEUE %d",
	    src->cfg->nfqueue);
	return 0;
}

static int
nfq_start(struct source *src, char *err, size_t errlen)
{
	if (nfqsrc_attach(src->nfq, src->base, err, errlen) != 0)
		return -1;
	return tick_start(src, err, errlen);
}

static void
nfq_counters(struct source *src, char *buf, size_t n)
{
	nfqsrc_stats(src->nfq, buf, n);
}

static void
nfq_close(struct source *src)
{
	nfqsrc_close(src->nfq);
}

/* ------------------------------------------------------------------ */

static const struct source_ops source_kinds[] = {
	[SOURCE_REPLAY] = { false, replay_open, replay_run, no_counters,
	    replay_close },
	[SOURCE_STREAM] = { false, raw_open, raw_run,
	    no_counters, raw_close },
	[SOURCE_LIVE] = { true, live_open, live_start, live_counters,
	    live_close },
	[SOURCE_NFQUEUE] = { true, nfq_open, nfq_start, nfq_counters,
	    nfq_close },
};

struct source *
source_open(enum source_kind kind, const char *const *paths, int npaths,
    const struct config *cfg, struct outputs *out, char *err, size_t errlen)
{
	struct source *src;

	if ((unsigned)kind >= sizeof(source_kinds) / sizeof(source_kinds[0]) ||
	    npaths < 0 || npaths > MAX_FILES) {
		snprintf(err, errlen, "bad input");
		return NULL;
	}
	if ((src = calloc(1, sizeof(*src))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	src->ops = &source_kinds[kind];
	src->kind = kind;
	src->cfg = cfg;
	src->out = out;
	src->fd = -1;
	for (int i = 0; i < npaths; i++)
		src->paths[i] = paths[i];
	src->npaths = npaths;
	if (src->ops->open(src, err, errlen) != 0) {
		source_close(src);
		return NULL;
	}
	return src;
}

bool
source_live(const struct source *src)
{
	return src->ops->live;
}

bool
source_needs_net_admin(const struct source *src)
{
	/*
	 * NFQUEUE: every verdict is a netlink message, and the kernel
	 * (nfnetlink) takes one only from a sender holding CAP_NET_ADMIN.
	 * It stays in the permitted set alone and is raised just around
	 * the verdict (nfqsrc.c): the parsing runs without it.
	 */
	return src->kind == SOURCE_NFQUEUE;
}

const char *
source_name(const struct source *src)
{
	return src->name;
}

int
source_start(struct source *src, struct event_base *base, char *err,
    size_t errlen)
{
	src->base = base;
	return src->ops->start(src, err, errlen);
}

void
source_stats(struct source *src)
{
	char extra[256];

	if (!src->sniffing)
		return;
	src->ops->counters(src, extra, sizeof(extra));
	sniff_log_stats(&src->sn, src->ops->live ? extra : NULL);
}

void
source_close(struct source *src)
{
	struct timeval now;
	char extra[256];

	if (src == NULL)
		return;
	if (src->sniffing) {
		/* Live: what the kernel holds, then every flow ends now. */
		if (src->live)
			pcapsrc_live_poll(src->live);
		src->ops->counters(src, extra, sizeof(extra));
		gettimeofday(&now, NULL);
		sniff_finish(&src->sn, &now);
		src->sniffing = false;
		if (src->base != NULL)
			sniff_log_stats(&src->sn, extra);
	}
	if (src->tick != NULL)
		event_free(src->tick);
	src->ops->close(src);
	free(src);
}

const struct sniff *
source_sniff(const struct source *src)
{
	return src != NULL && src->sniffing ? &src->sn : NULL;
}
