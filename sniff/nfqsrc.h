/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nfqsrc.h: NFQUEUE as a packet source (--nfqueue N), for a router where
 * the kit's packets pass through iptables/nftables.
 *
 * Every packet is copied and given back with an unchanged ACCEPT verdict
 * before any decoding or output work, so a slow output never delays the
 * kit. The queue is fail-open (the kernel accepts packets when the queue
 * is full) and the rules use queue-bypass (packets flow when nobody
 * listens): omnik-sniff can never stop the traffic it watches.
 */
#ifndef NFQSRC_H
#define NFQSRC_H

#include <stddef.h>

#include "sniff.h"

struct event_base;
struct nfqsrc;

/* Bind queue `num` (needs CAP_NET_ADMIN, kept afterwards). */
struct nfqsrc *nfqsrc_open(int num, struct sniff *s, char *err,
    size_t errlen);
int nfqsrc_attach(struct nfqsrc *q, struct event_base *base, char *err,
    size_t errlen);
void nfqsrc_stats(struct nfqsrc *q, char *buf, size_t n);
void nfqsrc_close(struct nfqsrc *q);

#endif /* NFQSRC_H */
