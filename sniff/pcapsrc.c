/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pcapsrc.c: replay and live capture through libpcap (see pcapsrc.h).
 */
#include <errno.h>
#include <event2/event.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "pcapsrc.h"
#include "prefilter.h"
#include "tcpreasm.h"

struct pcapsrc {
	pcap_t *p;
	struct sniff *s;
	enum packet_link link;
	struct event *ev;
	struct bpf_program prog;	/* a replay's filter */
	bool user_filter;
	bool prefilter;		/* the default filter on Ethernet: pf first */
	struct prefilter pf;
};

int
pcapsrc_filter_for_ports(const char *ports, bool vlan, char *buf, size_t n,
    char *err, size_t errlen)
{
	char one[512], list[256];
	uint16_t port[TCPREASM_MAX_PORTS];
	size_t used = 0, w;
	int count;

	count = config_ports(ports, port, TCPREASM_MAX_PORTS, err, errlen);
	if (count < 0)
		return -1;
	list[0] = '\0';
	for (int i = 0; i < count; i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used,
		    "%s%u", i ? " or " : "", port[i]);
	/*
	 * BPF cannot walk IPv6 extension headers to the TCP ports (libpcap's
	 * protochain runs outside the kernel): IPv6 packets that start with
	 * one pass whole, and the parser checks their ports.
	 */
	snprintf(one, sizeof(one), "(tcp port %s%s%s or (ip6 and (ip6[6] == 0 "
	    "or ip6[6] == 43 or ip6[6] == 60)))", count > 1 ? "(" : "", list,
	    count > 1 ? ")" : "");
	/*
	 * Each `vlan` shifts the offsets for the rest of the expression, so
	 * "E or (vlan and (E or (vlan and E)))" reads E past 0, 1 and 2
	 * tags: nested as deep as the parser takes tags (QinQ and more).
	 * Nested, an untagged packet E refused is refused at once.
	 */
	w = (size_t)snprintf(buf, n, "%s", one);
	for (int i = 0; vlan && i < PACKET_MAX_VLAN_TAGS && w < n; i++)
		w += (size_t)snprintf(buf + w, n - w, " or (vlan and (%s", one);
	for (int i = 0; vlan && i < PACKET_MAX_VLAN_TAGS && w < n; i++)
		w += (size_t)snprintf(buf + w, n - w, "))");
	if (w >= n) {
		snprintf(err, errlen, "filter too long");
		return -1;
	}
	return 0;
}

static void
on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
	struct pcapsrc *ps = (struct pcapsrc *)user;

	/*
	 * A replay filters here, the same program the kernel would run;
	 * the default one's verdict on plain frames is known without it.
	 */
	if (ps->user_filter) {
		enum prefilter_verdict v = ps->prefilter ?
		    prefilter_verdict(&ps->pf, bytes, h->caplen) :
		    PREFILTER_UNSURE;

		if (v == PREFILTER_LEAVE || (v == PREFILTER_UNSURE &&
		    pcap_offline_filter(&ps->prog, h, bytes) == 0)) {
			ps->s->st.filtered++;
			return;
		}
	}
	sniff_packet(ps->s, ps->link, bytes, h->caplen, h->len, &h->ts);
}

/*
 * Compile the filter (the default one if none is given) into ps->prog.
 * A live capture hands it to the kernel; a replay keeps it and filters
 * in on_packet, which lets it count what the filter leaves out.
 */
static int
set_filter(struct pcapsrc *ps, const char *filter, const char *ports,
    bool live, char *err, size_t errlen)
{
	char built[4096];
	uint16_t port[TCPREASM_MAX_PORTS];
	int nports;

	if (filter == NULL || filter[0] == '\0') {
		if (pcapsrc_filter_for_ports(ports,
		    pcap_datalink(ps->p) == DLT_EN10MB, built, sizeof(built),
		    err, errlen) != 0)
			return -1;
		filter = built;
		ps->s->match_ports = true;
		nports = config_ports(ports, port, TCPREASM_MAX_PORTS, err,
		    errlen);
		if (!live && nports > 0 && pcap_datalink(ps->p) == DLT_EN10MB) {
			prefilter_init(&ps->pf, port, nports);
			ps->prefilter = true;
		}
	}
	if (pcap_compile(ps->p, &ps->prog, filter, 1, PCAP_NETMASK_UNKNOWN)
	    != 0) {
		snprintf(err, errlen, "filter '%s': %s", filter,
		    pcap_geterr(ps->p));
		return -1;
	}
	if (!live) {
		ps->user_filter = true;
		ps->s->filter_in_user = true;
		return 0;
	}
	if (pcap_setfilter(ps->p, &ps->prog) != 0) {
		snprintf(err, errlen, "filter '%s': %s", filter,
		    pcap_geterr(ps->p));
		pcap_freecode(&ps->prog);
		return -1;
	}
	pcap_freecode(&ps->prog);
	return 0;
}

#define REPLAY_BUFFER (256u << 10)

static void
hold(struct sniff *s, bool on)
{
	if (s->out != NULL)
		outputs_hold(s->out, on);
}

/*
 * A classic pcap file (version 2.4, a regular file) is read here, not
 * by libpcap: libpcap reads each record with two freads through stdio,
 * which with the kernel's copy was as much as everything else tcpdump
 * does. Records are taken from a large buffer filled with pread; each
 * is handed on exactly as libpcap would (its byte order, nanoseconds
 * cut to microseconds). The first record libpcap treats in a way of its
 * own (longer than the snapshot, cut off by the end of the file), and
 * the end, are libpcap's again: the FILE is set to that record and the
 * caller's pcap_dispatch goes on from there, with libpcap's errors.
 */
#define DIRECT_BUFFER (1u << 20)
#define PCAP_FILE_HDR 24
#define PCAP_REC_HDR 16

static uint32_t
get32(const uint8_t *p, bool swapped)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return swapped ? __builtin_bswap32(v) : v;
}

static int
replay_direct(struct pcapsrc *ps, FILE *fp, void (*between)(void *),
    void *arg, char *err, size_t errlen)
{
	static const uint32_t usec = 0xa1b2c3d4u, nsec = 0xa1b23c4du;
	int fd = fileno(fp);
	uint8_t magic[4], *buf;
	uint32_t m, snap;
	bool swapped, in_ns;
	size_t have = 0, at = 0;
	off_t off = PCAP_FILE_HDR, base = 0;
	unsigned batch = 0;
	struct stat st;

	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    pread(fd, magic, 4, 0) != 4 || pcap_major_version(ps->p) != 2 ||
	    pcap_minor_version(ps->p) != 4 || pcap_snapshot(ps->p) <= 0)
		return 0;
	memcpy(&m, magic, 4);
	if (m == usec || m == nsec)
		swapped = false;
	else if (__builtin_bswap32(m) == usec || __builtin_bswap32(m) == nsec)
		swapped = true;
	else
		return 0;		/* pcapng, or a variant libpcap knows */
	in_ns = (swapped ? __builtin_bswap32(m) : m) == nsec;
	snap = (uint32_t)pcap_snapshot(ps->p);
	if ((buf = malloc(DIRECT_BUFFER)) == NULL)
		return 0;
	hold(ps->s, true);
	for (;;) {
		struct pcap_pkthdr h;
		uint32_t caplen, sec, frac;
		ssize_t r;

		/* The next record's header and bytes in buf, or libpcap's. */
		if (have - at < PCAP_REC_HDR ||
		    have - at < PCAP_REC_HDR + (size_t)get32(buf + at + 8,
		    swapped)) {
			base = off;
			at = 0;
			do
				r = pread(fd, buf, DIRECT_BUFFER, base);
			while (r < 0 && errno == EINTR);
			have = r > 0 ? (size_t)r : 0;
			if (have < PCAP_REC_HDR)
				break;
		}
		caplen = get32(buf + at + 8, swapped);
		sec = get32(buf + at, swapped);
		frac = get32(buf + at + 4, swapped);
		/* Times past 2038 are libpcap's to read, signed or not. */
		if (caplen > snap || caplen > have - at - PCAP_REC_HDR ||
		    sec > INT32_MAX || frac > INT32_MAX)
			break;
		h.ts.tv_sec = (time_t)sec;
		h.ts.tv_usec = (suseconds_t)(in_ns ? frac / 1000 : frac);
		h.caplen = caplen;
		h.len = get32(buf + at + 12, swapped);
		on_packet((u_char *)ps, &h, buf + at + PCAP_REC_HDR);
		at += PCAP_REC_HDR + caplen;
		off = base + (off_t)at;
		/* Batches as pcap_dispatch's below. */
		if (++batch == 4096) {
			batch = 0;
			hold(ps->s, false);
			if (between)
				between(arg);
			hold(ps->s, true);
		}
	}
	hold(ps->s, false);
	free(buf);
	if (fseeko(fp, off, SEEK_SET) != 0) {
		snprintf(err, errlen, "cannot seek in the capture: %s",
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
pcapsrc_replay(struct sniff *s, FILE *fp, const char *path,
    const char *filter, const char *ports, void (*between)(void *),
    void *arg, char *err, size_t errlen)
{
	char ebuf[PCAP_ERRBUF_SIZE];
	struct pcapsrc ps;
	char *iobuf;
	int r;

	memset(&ps, 0, sizeof(ps));
	ps.s = s;
	/*
	 * libpcap reads a record at a time through stdio: with the default
	 * 4 KiB buffer that was a read() per 40 packets. Best effort: the
	 * default buffer serves too. Freed after fclose (pcap_close).
	 */
	iobuf = malloc(REPLAY_BUFFER);
	if (iobuf != NULL && setvbuf(fp, iobuf, _IOFBF, REPLAY_BUFFER) != 0) {
		free(iobuf);
		iobuf = NULL;
	}
	ps.p = pcap_fopen_offline(fp, ebuf);
	if (ps.p == NULL) {
		snprintf(err, errlen, "%s: %s", path, ebuf);
		fclose(fp);
		free(iobuf);
		return -1;
	}
	ps.link = packet_link_from_dlt(pcap_datalink(ps.p));
	if (ps.link == PACKET_LINK_UNKNOWN) {
		snprintf(err, errlen, "%s: link type %s is not supported", path,
		    pcap_datalink_val_to_name(pcap_datalink(ps.p)));
		pcap_close(ps.p);
		free(iobuf);
		return -1;
	}
	if (set_filter(&ps, filter, ports, false, err, errlen) != 0) {
		pcap_close(ps.p);
		free(iobuf);
		return -1;
	}
	if (replay_direct(&ps, fp, between, arg, err, errlen) != 0) {
		pcap_freecode(&ps.prog);
		pcap_close(ps.p);
		free(iobuf);
		return -1;
	}
	/* The CSV lines of each batch of packets go out in one write. */
	for (;;) {
		hold(s, true);
		r = pcap_dispatch(ps.p, 4096, on_packet, (u_char *)&ps);
		hold(s, false);
		if (r <= 0)
			break;
		if (between)
			between(arg);
	}
	if (r == PCAP_ERROR)
		snprintf(err, errlen, "%s: %s", path, pcap_geterr(ps.p));
	pcap_freecode(&ps.prog);
	pcap_close(ps.p);
	free(iobuf);
	return r == PCAP_ERROR ? -1 : 0;
}

struct pcapsrc *
pcapsrc_live_open(const struct pcapsrc_live_config *c, struct sniff *s,
    char *err, size_t errlen)
{
	char ebuf[PCAP_ERRBUF_SIZE];
	struct pcapsrc *ps;
	int r;

	ps = calloc(1, sizeof(*ps));
	if (ps == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ps->s = s;
	ps->p = pcap_create(c->interface, ebuf);
	if (ps->p == NULL) {
		snprintf(err, errlen, "%s: %s", c->interface, ebuf);
		free(ps);
		return NULL;
	}
	pcap_set_snaplen(ps->p, c->snaplen);
	pcap_set_promisc(ps->p, c->promisc);
	pcap_set_buffer_size(ps->p, c->buffer_size);
	/* Batches for throughput, but readings no later than 100 ms. */
	pcap_set_timeout(ps->p, 100);
	r = pcap_activate(ps->p);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", c->interface,
		    r == PCAP_ERROR ? pcap_geterr(ps->p) : pcap_statustostr(r));
		goto fail;
	}
	ps->link = packet_link_from_dlt(pcap_datalink(ps->p));
	if (ps->link == PACKET_LINK_UNKNOWN) {
		snprintf(err, errlen, "%s: link type %s is not supported",
		    c->interface,
		    pcap_datalink_val_to_name(pcap_datalink(ps->p)));
		goto fail;
	}
	if (set_filter(ps, c->filter, c->ports, true, err, errlen) != 0)
		goto fail;
	if (pcap_setnonblock(ps->p, 1, ebuf) != 0) {
		snprintf(err, errlen, "%s: %s", c->interface, ebuf);
		goto fail;
	}
	return ps;
fail:
	pcap_close(ps->p);
	free(ps);
	return NULL;
}

void
pcapsrc_live_poll(struct pcapsrc *ps)
{
	/* Bounded: other events (signals, outputs) get their turn. */
	hold(ps->s, true);
	for (int i = 0; i < 64; i++)
		if (pcap_dispatch(ps->p, 256, on_packet, (u_char *)ps) <= 0)
			break;
	hold(ps->s, false);
}

static void
on_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pcapsrc_live_poll(arg);
}

int
pcapsrc_live_attach(struct pcapsrc *ps, struct event_base *base, char *err,
    size_t errlen)
{
	int fd = pcap_get_selectable_fd(ps->p);

	if (fd < 0) {
		snprintf(err, errlen, "the capture cannot be polled");
		return -1;
	}
	ps->ev = event_new(base, fd, EV_READ | EV_PERSIST, on_readable, ps);
	if (ps->ev == NULL || event_add(ps->ev, NULL) != 0) {
		snprintf(err, errlen, "cannot watch the capture");
		return -1;
	}
	return 0;
}

void
pcapsrc_live_stats(struct pcapsrc *ps, char *buf, size_t n)
{
	struct pcap_stat st;

	if (pcap_stats(ps->p, &st) != 0) {
		snprintf(buf, n, "kernel statistics unavailable");
		return;
	}
	/*
	 * Linux counts the packets its filter passed (received) and those
	 * it then had no room for (dropped); those the filter turned away
	 * it does not count at all.
	 */
	snprintf(buf, n, "kernel: %u received, %u dropped, %u dropped by "
	    "the interface", st.ps_recv, st.ps_drop, st.ps_ifdrop);
}

void
pcapsrc_live_close(struct pcapsrc *ps)
{
	if (ps == NULL)
		return;
	if (ps->ev)
		event_free(ps->ev);
	pcap_close(ps->p);
	free(ps);
}
