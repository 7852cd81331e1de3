/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * status.h: what [http] shows (http.h serves it): per inverter its latest
 * reading, today's energy and today's power curve, read from the journal;
 * per output its cursor (backlog, last success, errors, last error); the
 * program's counters and its rejects by reason.
 *
 *   status_open(p)     before program_detach: binds [http] listen (exits
 *                      on failure); NULL when [http] is off
 *   status_attach(s)   once the outputs are open: counts rejects
 *   status_free(s)     before the outputs are torn down
 *
 * Every string from the journal (serials, firmware, a reject's reason)
 * is attacker bytes: status_page.c escapes each for where it goes.
 */
#ifndef STATUS_H
#define STATUS_H

struct program;
struct status;

struct status *status_open(struct program *p);
void status_attach(struct status *s);
void status_free(struct status *s);

#endif /* STATUS_H */
