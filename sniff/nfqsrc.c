/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nfqsrc.c: NFQUEUE through libnetfilter_queue (see nfqsrc.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "daemon.h"
#include "nfqsrc.h"

#define NFQ_COPY 65535
#define NFQ_RCVBUF (8u << 20)
#define NFQ_MAXLEN 4096

struct nfqsrc {
	struct nfq_handle *h;
	struct nfq_q_handle *qh;
	struct sniff *s;
	struct event *ev;
	int num;
	uint64_t packets, verdict_errors, enobufs;
	uint8_t copy[NFQ_COPY];
	uint8_t rbuf[NFQ_COPY + 4096];
};

static int
on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa,
    void *arg)
{
	struct nfqsrc *q = arg;
	struct nfqnl_msg_packet_hdr *ph;
	unsigned char *data;
	struct timeval tv;
	int len, wire;
	uint32_t id;

	(void)msg;
	ph = nfq_get_msg_packet_hdr(nfa);
	if (ph == NULL)
		return 0;
	id = ntohl(ph->packet_id);
	len = wire = nfq_get_payload(nfa, &data);
	if (len > 0) {
		if ((size_t)len > sizeof(q->copy))
			len = (int)sizeof(q->copy);
		memcpy(q->copy, data, (size_t)len);
	}
	/*
	 * The packet goes on, unchanged, before we look at it. The kernel
	 * takes a verdict only from a sender with CAP_NET_ADMIN: raised for
	 * this call alone (daemon.h), so the parsing below runs without it.
	 */
	if (daemon_net_admin(true) != 0 ||
	    nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL) < 0)
		q->verdict_errors++;
	(void)daemon_net_admin(false);
	q->packets++;
	if (len <= 0)
		return 0;
	if (nfq_get_timestamp(nfa, &tv) != 0)
		gettimeofday(&tv, NULL);
	sniff_packet(q->s, PACKET_LINK_RAW, q->copy, (size_t)len, (size_t)wire,
	    &tv);
	return 0;
}

struct nfqsrc *
nfqsrc_open(int num, struct sniff *s, char *err, size_t errlen)
{
	struct nfqsrc *q;

	q = calloc(1, sizeof(*q));
	if (q == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	q->s = s;
	q->num = num;
	q->h = nfq_open();
	if (q->h == NULL) {
		snprintf(err, errlen, "NFQUEUE: cannot open netlink: %s",
		    strerror(errno));
		free(q);
		return NULL;
	}
	q->qh = nfq_create_queue(q->h, (uint16_t)num, on_packet, q);
	if (q->qh == NULL) {
		snprintf(err, errlen, "NFQUEUE %d: cannot bind (already in use, "
		    "or no CAP_NET_ADMIN): %s", num, strerror(errno));
		goto fail;
	}
	if (nfq_set_mode(q->qh, NFQNL_COPY_PACKET, NFQ_COPY) < 0) {
		snprintf(err, errlen, "NFQUEUE %d: cannot set copy mode", num);
		goto fail;
	}
	/* Full queue: the kernel lets packets through instead of dropping. */
	if (nfq_set_queue_flags(q->qh, NFQA_CFG_F_FAIL_OPEN,
	    NFQA_CFG_F_FAIL_OPEN) < 0) {
		snprintf(err, errlen, "NFQUEUE %d: this kernel cannot fail "
		    "open", num);
		goto fail;
	}
	(void)nfq_set_queue_maxlen(q->qh, NFQ_MAXLEN);
	/* Large receive buffer: bursts wait in the socket, not dropped. */
	(void)nfnl_rcvbufsiz(nfq_nfnlh(q->h), NFQ_RCVBUF);
	return q;
fail:
	nfqsrc_close(q);
	return NULL;
}

static void
on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct nfqsrc *q = arg;

	(void)what;
	for (int i = 0; i < 256; i++) {
		ssize_t n = recv(fd, q->rbuf, sizeof(q->rbuf), MSG_DONTWAIT);

		if (n < 0) {
			if (errno == ENOBUFS) {
				/* Messages lost (fail-open passed them). */
				q->enobufs++;
				continue;
			}
			break;
		}
		if (n == 0)
			break;
		nfq_handle_packet(q->h, (char *)q->rbuf, (int)n);
	}
}

int
nfqsrc_attach(struct nfqsrc *q, struct event_base *base, char *err,
    size_t errlen)
{
	q->ev = event_new(base, nfq_fd(q->h), EV_READ | EV_PERSIST,
	    on_readable, q);
	if (q->ev == NULL || event_add(q->ev, NULL) != 0) {
		snprintf(err, errlen, "cannot watch NFQUEUE %d", q->num);
		return -1;
	}
	return 0;
}

void
nfqsrc_stats(struct nfqsrc *q, char *buf, size_t n)
{
	snprintf(buf, n, "NFQUEUE %d: %llu packets accepted, %llu verdict "
	    "errors, %llu receive overruns", q->num,
	    (unsigned long long)q->packets,
	    (unsigned long long)q->verdict_errors,
	    (unsigned long long)q->enobufs);
}

void
nfqsrc_close(struct nfqsrc *q)
{
	if (q == NULL)
		return;
	if (q->ev)
		event_free(q->ev);
	if (q->qh) {
		/* Unbinding is a netlink request too. */
		(void)daemon_net_admin(true);
		nfq_destroy_queue(q->qh);
		(void)daemon_net_admin(false);
	}
	if (q->h)
		nfq_close(q->h);
	free(q);
}
