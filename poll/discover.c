/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * discover.c: omnik-poll --discover. Broadcast the discovery queries,
 * keep the replies that are believable (discover_reply.c), probe every kit
 * found (probe.c) and print what to do: one line per kit, or with
 * --config the [poll] lines to paste.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "discover.h"
#include "probe.h"

#define WAIT_DEFAULT 3
#define WAIT_MAX 60
/* Per probe: a kit on the LAN answers in well under a second. */
#define PROBE_TIMEOUT_MS 4000
#define MAX_BCAST 16

struct opts {
	const char *iface;
	int wait;
	bool config;
};

struct kit_report {
	struct discover_kit kit;
	struct probe_poll_result poll;
	struct probe_http_result page[PROBE_NPAGES];
	bool pages_probed[PROBE_NPAGES];
};

/* A network the queries go to: its broadcast address and netmask. */
struct bcast {
	struct in_addr addr, mask;
};

struct collect {
	struct kit_report *kits;	/* DISCOVER_MAX_KITS of them */
	size_t nkits;
	unsigned replies, malformed, spoofed, contradicting, over_cap,
	    outside;
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: omnik-poll --discover [-i IFACE] [--wait S] [--config]\n"
"\n"
"Find the Omnik kits on the LAN (UDP broadcast to port 48899) and probe\n"
"each one, read-only: does it answer a poll on TCP 8899, which status\n"
"page does it serve, where does it push to. Sends no AT command and no\n"
"password.\n"
"\n"
"  -i, --interface IFACE  broadcast on IFACE only (default: every IPv4\n"
"                         interface with a broadcast address)\n"
"  -w, --wait S           collect replies for S seconds (1..%d, default %d)\n"
"      --config           print the [poll] lines for omniklog.conf instead\n"
"                         of the table\n"
"  -h, --help             this text\n", WAIT_MAX, WAIT_DEFAULT);
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 0, 2 on a usage error (said on stderr), -1 after -h. */
static int
opts_parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "discover", no_argument, NULL, 'D' },
		{ "interface", required_argument, NULL, 'i' },
		{ "wait", required_argument, NULL, 'w' },
		{ "config", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	long v;
	int ch;

	o->iface = NULL;
	o->wait = WAIT_DEFAULT;
	o->config = false;
	optind = 1;
	opterr = 1;
	while ((ch = getopt_long(argc, argv, "i:w:h", lo, NULL)) != -1) {
		switch (ch) {
		case 'D':
			break;
		case 'i':
			if (optarg[0] == '\0' || strlen(optarg) >= IFNAMSIZ) {
				fprintf(stderr, "omnik-poll: --discover: no "
				    "interface name \"%s\"\n", optarg);
				return 2;
			}
			o->iface = optarg;
			break;
		case 'w':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    v < 1 || v > WAIT_MAX) {
				fprintf(stderr, "omnik-poll: --wait: \"%s\" is "
				    "not a number of seconds 1..%d\n", optarg,
				    WAIT_MAX);
				return 2;
			}
			o->wait = (int)v;
			break;
		case 'C':
			o->config = true;
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "omnik-poll: --discover: unexpected \"%s\"\n",
		    argv[optind]);
		usage(stderr);
		return 2;
	}
	return 0;
}

/*
 * The broadcast address and netmask of every IPv4 interface that has one
 * (or of IFACE only). Returns how many, or -1 with a message on stderr.
 */
static int
bcast_list(const char *iface, struct bcast *out, int max)
{
	struct ifaddrs *ifa, *i;
	bool seen = false;
	int n = 0;

	if (getifaddrs(&ifa) != 0) {
		fprintf(stderr, "omnik-poll: cannot list the interfaces: %s\n",
		    strerror(errno));
		return -1;
	}
	for (i = ifa; i != NULL && n < max; i = i->ifa_next) {
		struct in_addr b, m = { 0 };
		int k;

		if (iface != NULL && strcmp(i->ifa_name, iface) != 0)
			continue;
		seen = true;
		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET ||
		    !(i->ifa_flags & IFF_UP) ||
		    !(i->ifa_flags & IFF_BROADCAST) ||
		    (i->ifa_flags & IFF_LOOPBACK) ||
		    i->ifa_broadaddr == NULL)
			continue;
		b = ((struct sockaddr_in *)(void *)i->ifa_broadaddr)->sin_addr;
		if (i->ifa_netmask != NULL &&
		    i->ifa_netmask->sa_family == AF_INET)
			m = ((struct sockaddr_in *)(void *)
			    i->ifa_netmask)->sin_addr;
		for (k = 0; k < n; k++)
			if (out[k].addr.s_addr == b.s_addr &&
			    out[k].mask.s_addr == m.s_addr)
				break;
		if (k == n) {
			out[n].addr = b;
			out[n].mask = m;
			n++;
		}
	}
	freeifaddrs(ifa);
	if (n == 0) {
		if (iface != NULL && !seen)
			fprintf(stderr, "omnik-poll: no interface %s\n", iface);
		else if (iface != NULL)
			fprintf(stderr, "omnik-poll: %s has no IPv4 broadcast "
			    "address\n", iface);
		else
			fprintf(stderr, "omnik-poll: no interface has an IPv4 "
			    "broadcast address\n");
		return -1;
	}
	return n;
}

static void
queries_send(int fd, const struct bcast *bc, int nbc)
{
	for (int b = 0; b < nbc; b++) {
		struct sockaddr_in to;

		memset(&to, 0, sizeof(to));
		to.sin_family = AF_INET;
		to.sin_port = htons(DISCOVER_PORT);
		to.sin_addr = bc[b].addr;
		for (size_t q = 0; q < 2; q++)
			if (sendto(fd, discover_queries[q],
			    strlen(discover_queries[q]), 0,
			    (struct sockaddr *)&to, sizeof(to)) < 0) {
				char a[INET_ADDRSTRLEN];

				inet_ntop(AF_INET, &bc[b].addr, a, sizeof(a));
				fprintf(stderr, "omnik-poll: cannot send to "
				    "%s: %s\n", a, strerror(errno));
			}
	}
}

/*
 * Whether src is a host of a network the queries went to: anything else
 * (a neighbour's address of its choice, a spoofed source, the broadcast
 * address itself) was not asked, and a probe of it could leave the LAN.
 */
static bool
src_asked(struct in_addr src, const struct bcast *bc, int nbc)
{
	for (int b = 0; b < nbc; b++) {
		uint32_t m = bc[b].mask.s_addr;

		if (m != 0 && (src.s_addr & m) == (bc[b].addr.s_addr & m) &&
		    src.s_addr != bc[b].addr.s_addr)
			return true;
	}
	return false;
}

static void
reply_take(struct collect *c, const char *buf, size_t len,
    struct in_addr src, const struct bcast *bc, int nbc)
{
	struct discover_kit k;
	size_t i;

	c->replies++;
	if (!src_asked(src, bc, nbc)) {
		c->outside++;
		return;
	}
	switch (discover_parse_reply(buf, len, src, &k)) {
	case DISCOVER_REPLY_MALFORMED:
		c->malformed++;
		return;
	case DISCOVER_REPLY_SPOOFED:
		c->spoofed++;
		return;
	case DISCOVER_REPLY_OK:
		break;
	}
	/* Each kit answers both queries, and maybe twice: one entry. */
	for (i = 0; i < c->nkits; i++) {
		struct discover_kit *o = &c->kits[i].kit;

		if (o->addr.s_addr != k.addr.s_addr)
			continue;
		if (o->serial != k.serial || strcmp(o->mac, k.mac) != 0)
			c->contradicting++;
		return;
	}
	if (c->nkits == DISCOVER_MAX_KITS) {
		if (c->over_cap++ == 0)
			fprintf(stderr, "omnik-poll: more than %d kits "
			    "answered; the others are not listed\n",
			    DISCOVER_MAX_KITS);
		return;
	}
	c->kits[c->nkits++].kit = k;
}

/* 0, or -1 with a message on stderr. */
static int
collect_replies(const struct opts *o, struct collect *c)
{
	struct bcast bc[MAX_BCAST];
	long long start, deadline;
	bool resent = false;
	int nbc, fd, on = 1;

	nbc = bcast_list(o->iface, bc, MAX_BCAST);
	if (nbc < 0)
		return -1;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &on,
	    sizeof(on)) != 0) {
		fprintf(stderr, "omnik-poll: UDP socket: %s\n",
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	start = now_ms();
	deadline = start + (long long)o->wait * 1000;
	queries_send(fd, bc, nbc);
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		char buf[DISCOVER_REPLY_MAX + 1];
		long long now = now_ms();
		ssize_t n;

		if (now >= deadline)
			break;
		/* Datagrams get lost: ask once more half way. */
		if (!resent && now >= start + (deadline - start) / 2) {
			queries_send(fd, bc, nbc);
			resent = true;
		}
		if (poll(&pfd, 1, (int)((resent ? deadline :
		    start + (deadline - start) / 2) - now)) <= 0)
			continue;
		n = recvfrom(fd, buf, sizeof(buf), MSG_TRUNC,
		    (struct sockaddr *)&from, &fl);
		if (n < 0 || fl < sizeof(from) || from.sin_family != AF_INET)
			continue;
		/* MSG_TRUNC: n is the datagram's length, longer is bad. */
		reply_take(c, buf, (size_t)n, from.sin_addr, bc, nbc);
	}
	close(fd);
	return 0;
}

static int
kit_cmp(const void *a, const void *b)
{
	uint32_t x = ntohl(((const struct kit_report *)a)->kit.addr.s_addr);
	uint32_t y = ntohl(((const struct kit_report *)b)->kit.addr.s_addr);

	return x < y ? -1 : x > y;
}

static void
kit_probe(struct kit_report *r)
{
	probe_poll(r->kit.addr, PROBE_POLL_PORT, r->kit.serial,
	    PROBE_TIMEOUT_MS, &r->poll);
	for (int p = 0; p < PROBE_NPAGES; p++) {
		probe_http(r->kit.addr, PROBE_HTTP_PORT, (enum probe_page)p,
		    PROBE_TIMEOUT_MS, &r->page[p]);
		r->pages_probed[p] = true;
		/* No server, or no libcurl: the other pages say the same. */
		if (r->page[p].status == PROBE_HTTP_NOSERVER ||
		    r->page[p].status == PROBE_HTTP_NOCURL)
			break;
	}
}

/* Its data came for another kit: omnik-poll takes none of it (tcp.c). */
static bool
kit_answers_as_other(const struct kit_report *r)
{
	return r->poll.status == PROBE_POLL_DATA &&
	    r->poll.reply_sn != r->kit.serial;
}

static bool
kit_tcp_works(const struct kit_report *r)
{
	return (r->poll.status == PROBE_POLL_DATA ||
	    r->poll.status == PROBE_POLL_NODATA) && !kit_answers_as_other(r);
}

/* The first page that was understood, or -1. */
static int
kit_page(const struct kit_report *r, enum probe_http_status st)
{
	for (int p = 0; p < PROBE_NPAGES; p++)
		if (r->pages_probed[p] && r->page[p].status == st)
			return p;
	return -1;
}

/* The pages with status st, as "status.js, status.html". */
static void
pages_list(const struct kit_report *r, enum probe_http_status st,
    char *buf, size_t n)
{
	size_t l = 0;

	buf[0] = '\0';
	for (int p = 0; p < PROBE_NPAGES && l < n; p++)
		if (r->pages_probed[p] && r->page[p].status == st)
			l += (size_t)snprintf(buf + l, n - l, "%s%s",
			    l ? ", " : "", probe_page_name[p]);
}

static void
print_poll(FILE *f, const struct kit_report *r)
{
	const struct probe_poll_result *p = &r->poll;

	switch (p->status) {
	case PROBE_POLL_DATA:
		fprintf(f, "poll OK (inverter %s", p->inverter_sn);
		if (p->has_power)
			fprintf(f, ", %lld W", (long long)p->power);
		if (p->readings > 1)
			fprintf(f, ", %u inverters", p->readings);
		if (p->reply_sn != r->kit.serial)
			fprintf(f, ", answered as kit %u",
			    (unsigned)p->reply_sn);
		fputc(')', f);
		break;
	case PROBE_POLL_NODATA:
		fputs("poll OK, no inverter data (the inverter sleeps)", f);
		break;
	case PROBE_POLL_REFUSED:
		fputs("no poll service (8899 refused)", f);
		break;
	case PROBE_POLL_UNREACHABLE:
		fprintf(f, "8899 unreachable (%s)", p->why);
		break;
	case PROBE_POLL_SILENT:
		fputs("8899 accepts but does not answer polls", f);
		break;
	case PROBE_POLL_CLOSED:
		fputs("8899 closes without answering", f);
		break;
	case PROBE_POLL_BAD:
		fprintf(f, "8899 answers, no valid reading (%s)", p->why);
		break;
	}
}

static void
print_push(FILE *f, const struct kit_report *r)
{
	for (int p = 0; p < PROBE_NPAGES; p++) {
		const struct probe_page_info *in = &r->page[p].info;

		if (!r->pages_probed[p] || r->page[p].status != PROBE_HTTP_OK ||
		    (!in->push[0].shown && !in->push[1].shown))
			continue;
		fputs("push goes to ", f);
		if (in->push[0].shown)
			fprintf(f, "%s:%u", in->push[0].host,
			    (unsigned)in->push[0].port);
		if (in->push[1].shown)
			fprintf(f, "%s%s:%u (server B)", in->push[0].shown ?
			    " and " : "", in->push[1].host,
			    (unsigned)in->push[1].port);
		return;
	}
	fputs("push target not shown", f);
}

static void
print_pages(FILE *f, const struct kit_report *r)
{
	char list[64];
	int ok = kit_page(r, PROBE_HTTP_OK);
	bool any = false;

	if (r->pages_probed[0] && r->page[0].status == PROBE_HTTP_NOCURL) {
		fprintf(f, "status pages not probed (%s)", r->page[0].why);
		return;
	}
	if (r->pages_probed[0] && r->page[0].status == PROBE_HTTP_NOSERVER) {
		fputs("no web server", f);
		return;
	}
	pages_list(r, PROBE_HTTP_OK, list, sizeof(list));
	if (list[0] != '\0') {
		const struct probe_page_info *in = &r->page[ok].info;

		fprintf(f, "status page %s", list);
		/* What the page reads, when the poll did not. */
		if (!kit_tcp_works(r) && (in->inverter_sn[0] || in->has_power)) {
			fprintf(f, " (inverter %s", in->inverter_sn[0] ?
			    in->inverter_sn : "serial not shown");
			if (in->has_power)
				fprintf(f, ", %ld W", in->power);
			fputc(')', f);
		}
		any = true;
	}
	pages_list(r, PROBE_HTTP_AUTH, list, sizeof(list));
	if (list[0] != '\0') {
		fprintf(f, "%sstatus page %s needs the kit's password",
		    any ? ", " : "", list);
		any = true;
	}
	pages_list(r, PROBE_HTTP_UNKNOWN, list, sizeof(list));
	if (list[0] != '\0') {
		fprintf(f, "%s%s not understood", any ? ", " : "", list);
		any = true;
	}
	if (!any)
		fputs("no status page", f);
}

/* "tcp", "http", or NULL when neither works. */
static const char *
kit_method(const struct kit_report *r)
{
	if (kit_tcp_works(r))
		return "tcp";
	if (kit_page(r, PROBE_HTTP_OK) >= 0 || kit_page(r, PROBE_HTTP_AUTH) >= 0)
		return "http";
	return NULL;
}

static void
print_table(const struct collect *c)
{
	for (size_t i = 0; i < c->nkits; i++) {
		const struct kit_report *r = &c->kits[i];
		const char *m = kit_method(r);
		char a[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &r->kit.addr, a, sizeof(a));
		printf("kit %u at %s (MAC %s): ", (unsigned)r->kit.serial, a,
		    r->kit.mac);
		print_poll(stdout, r);
		fputs("; ", stdout);
		print_push(stdout, r);
		fputs("; ", stdout);
		print_pages(stdout, r);
		if (m == NULL)
			fputs("; read it by its pushes (omnik-relay or "
			    "omnik-sniff)\n", stdout);
		else if (strcmp(m, "http") == 0 &&
		    kit_page(r, PROBE_HTTP_OK) < 0)
			fputs("; method http, with the kit's password\n",
			    stdout);
		else
			printf("; method %s\n", m);
	}
}

static void
print_config(const struct collect *c)
{
	size_t listed = 0, tcp = 0;
	char a[INET_ADDRSTRLEN];

	printf("# omnik-poll --discover: %zu kit%s found\n", c->nkits,
	    c->nkits == 1 ? "" : "s");
	for (size_t i = 0; i < c->nkits; i++) {
		const struct kit_report *r = &c->kits[i];
		const char *m = kit_method(r);

		inet_ntop(AF_INET, &r->kit.addr, a, sizeof(a));
		if (m == NULL && kit_answers_as_other(r))
			printf("# %s/%u: its poll answer is kit %u's: not "
			    "listed\n", a, (unsigned)r->kit.serial,
			    (unsigned)r->poll.reply_sn);
		else if (m == NULL)
			printf("# %s/%u answers neither a poll nor a status "
			    "page: not listed (read its pushes)\n", a,
			    (unsigned)r->kit.serial);
		else if (strcmp(m, "http") == 0 &&
		    kit_page(r, PROBE_HTTP_OK) < 0)
			printf("# %s/%u: its status page needs the kit's web "
			    "password\n", a, (unsigned)r->kit.serial);
	}
	for (size_t i = 0; i < c->nkits; i++) {
		const struct kit_report *r = &c->kits[i];
		const char *m = kit_method(r);

		if (m == NULL)
			continue;
		inet_ntop(AF_INET, &r->kit.addr, a, sizeof(a));
		printf("%s%s/%u", listed ? ", " : "[poll]\nkits = ", a,
		    (unsigned)r->kit.serial);
		listed++;
		if (strcmp(m, "tcp") == 0)
			tcp++;
	}
	if (listed == 0)
		return;
	/* One method for all: the one every kit has, or auto's fallback. */
	printf("\nmethod = %s\n", tcp == listed ? "tcp" : tcp == 0 ?
	    "http" : "auto");
}

int
discover_main(int argc, char **argv)
{
	struct collect c;
	struct opts o;
	int rc;

	rc = opts_parse(argc, argv, &o);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	memset(&c, 0, sizeof(c));
	c.kits = calloc(DISCOVER_MAX_KITS, sizeof(*c.kits));
	if (c.kits == NULL) {
		fprintf(stderr, "omnik-poll: out of memory\n");
		return 1;
	}
	if (collect_replies(&o, &c) != 0) {
		free(c.kits);
		return 1;
	}
	fprintf(stderr, "omnik-poll: %zu kit%s answered within %d s",
	    c.nkits, c.nkits == 1 ? "" : "s", o.wait);
	if (c.malformed + c.spoofed + c.contradicting + c.over_cap +
	    c.outside > 0)
		fprintf(stderr, "; replies ignored: %u malformed, %u naming "
		    "another address than their sender, %u contradicting an "
		    "earlier one, %u past the %d kits listed, %u from outside "
		    "the networks asked", c.malformed, c.spoofed,
		    c.contradicting, c.over_cap, DISCOVER_MAX_KITS, c.outside);
	fputc('\n', stderr);
	if (c.nkits == 0) {
		free(c.kits);
		return 1;
	}
	qsort(c.kits, c.nkits, sizeof(*c.kits), kit_cmp);
	for (size_t i = 0; i < c.nkits; i++)
		kit_probe(&c.kits[i]);
	if (o.config)
		print_config(&c);
	else
		print_table(&c);
	free(c.kits);
	return 0;
}
