/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * resolve.h: a blocking call (a name lookup, above all) run off the event
 * loop, in a worker thread, so capture never waits for a DNS server.
 *
 *   loop                                  worker thread (detached)
 *   resolve_start(work, discard, job) --> work(job)   getaddrinfo etc.
 *        event on an eventfd         <--- "finished"
 *   done(arg, job, 0): job is the caller's again
 *
 *   timeout, or resolve_free, first: done(arg, NULL, ETIMEDOUT) (timeout
 *   only); the job now belongs to the thread, which calls discard(job)
 *   once work() returns. Nothing leaks and nothing touches freed memory,
 *   whatever finishes first.
 *
 * Why threads and not libevent's evdns: getaddrinfo honours nsswitch.conf
 * (/etc/hosts, mDNS names such as homeassistant.local, LDAP...), which is
 * how home users name their database or broker; evdns knows only DNS.
 *
 * Bounded: one call per struct resolve (one per output). A call that
 * timed out keeps the slot until its thread ends (glibc gives up after
 * resolv.conf's timeout x attempts), so a dead DNS server never piles up
 * threads: resolve_start says EBUSY meanwhile and the output backs off.
 *
 * work() runs in another thread: it may touch only its job.
 */
#ifndef RESOLVE_H
#define RESOLVE_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct resolve;

/*
 * done(arg, job, err) runs on the loop: err 0 with the finished job
 * (the caller owns it again), or ETIMEDOUT with job NULL.
 */
struct resolve *resolve_new(struct event_base *base,
    void (*done)(void *arg, void *job, int err), void *arg);
/* Abandons a call in flight (its thread discards the job); no done. */
void resolve_free(struct resolve *r);

/*
 * Run work(job) in a worker thread; done follows within timeout_ms.
 * Returns 0, or -1 with errno EBUSY (a call still running), ENOMEM or
 * EAGAIN (no thread); then the job stays the caller's.
 */
int resolve_start(struct resolve *r, void (*work)(void *job),
    void (*discard)(void *job), void *job, int timeout_ms);
/* A call is in flight (done not yet called). */
bool resolve_pending(const struct resolve *r);

/* HOST is an IPv4 or IPv6 address, which needs no lookup. */
bool resolve_is_numeric(const char *host);

/*
 * For a work function: the addresses of HOST, numeric, comma-separated,
 * at most `max` of them, into buf. Returns 0 or a getaddrinfo error
 * (EAI_*, see gai_strerror); EAI_OVERFLOW if none fitted.
 */
int resolve_addresses(const char *host, int max, char *buf, size_t n);

#endif /* RESOLVE_H */
