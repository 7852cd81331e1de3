/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * notify.h: tell a service manager (systemd, Type=notify) where the
 * program is in its life: ready, reloading, stopping. Speaks the
 * documented datagram protocol of sd_notify(3) on $NOTIFY_SOCKET itself,
 * so the programs need no libsystemd. Without $NOTIFY_SOCKET every call
 * does nothing and returns 0.
 */
#ifndef NOTIFY_H
#define NOTIFY_H

struct event_base;

/*
 * Send one state message such as "READY=1" (lines separated by '\n').
 * Returns 0 when sent or when there is no manager to tell, -1 with errno.
 */
int notify_send(const char *state);

/*
 * Listeners and outputs are up: READY=1 with our pid. base is the loop
 * notify_reloading() schedules its READY=1 on (may be NULL).
 */
int notify_ready(struct event_base *base);
/*
 * Called first thing in the SIGHUP handler: RELOADING=1 now, READY=1 once
 * the handler has returned (from the next turn of the loop), whichever way
 * the reload went, so the manager never stays in "reloading".
 */
int notify_reloading(void);
/* Called first thing in the SIGTERM/SIGINT handler: STOPPING=1. */
int notify_stopping(void);

#endif /* NOTIFY_H */
