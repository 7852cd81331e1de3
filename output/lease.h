/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lease.h: which of the programs sharing one journal runs the remote
 * deliveries (PostgreSQL, MQTT, PVOutput): the one holding an exclusive
 * lock (flock) on the file beside the journal, JOURNAL.lock.
 *
 * Why a lock and not a lease row in the journal: the kernel releases
 * the lock the moment its holder ends, by a clean exit or by kill -9,
 * so the holder renews nothing and no expiry has to be guessed: the
 * others take over at their next try (lease_take, every second). The
 * holder writes "PID NAME" into the file so that the others can say who
 * delivers. Library code: returns errors, never logs.
 */
#ifndef LEASE_H
#define LEASE_H

#include <stdbool.h>
#include <stddef.h>

struct lease;

/* Nothing is locked yet; who: the program's name, for the others. */
struct lease *lease_open(const char *journal_path, const char *who,
    char *err, size_t errlen);
/*
 * Take the lock, or keep it: 1 we hold it; 0 another program does (who,
 * "omnik-relay (pid 1234)", in holder); -1 error in err. A holder whose
 * file was deleted or replaced under the path loses the lock to the file
 * there now (1 again if no one else holds that one).
 */
int lease_take(struct lease *l, char *holder, size_t len, char *err,
    size_t errlen);
bool lease_held(const struct lease *l);
/* Let it go now (another may take it); lease_take() tries again. */
void lease_release(struct lease *l);
const char *lease_path(const struct lease *l);
void lease_close(struct lease *l);

#endif /* LEASE_H */
