/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * journal_writer.c: the journal's writer thread, with its own connection.
 *
 * The programs start it (journal_writer_start) because a commit costs a
 * WAL append and, with synchronous = full, an fsync: 0.3-3 ms that, on
 * the event loop, stalled the forwarding of every open connection:
 *
 *   event loop thread                       writer thread (own connection)
 *   journal_add ----> [ queue, bounded ] ---> BEGIN; INSERT all queued;
 *   journal_add_reject                        COMMIT (one fsync for all)
 *   journal_cursor_set                          |
 *   journal_prune                               | eventfd: "committed"
 *   journal_writer_poll <-----------------------+
 *     -> notify (wakes the deliveries), counts, errors to log
 *   journal_fetch / journal_last_id: the loop's connection, which sees
 *     only committed rows (WAL snapshot), so a delivery never sends a
 *     row a crash could take back.
 *
 * Group commit falls out of it: whatever queued while a commit ran goes
 * in the next one. The queue holds JOURNAL_QUEUE_MAX entries. When it is
 * full and the writer is healthy the caller waits for room (the disk is
 * merely slower than the input: back-pressure, as a synchronous write
 * would be); when the writer is failing (disk full, I/O errors, a lock
 * held elsewhere) it keeps what it holds, retries with a growing pause
 * (1 s .. 60 s), and new entries beyond the bound are refused with an
 * error (the reading still reaches the CSV and the log). An entry SQLite
 * refuses for itself (a constraint, too big) is dropped and reported so
 * that it cannot block the ones behind it. On close the writer commits
 * what is queued; if that fails the rest is counted as dropped.
 *
 * The library never logs: journal_writer_poll() hands the program the
 * counts and the latest error.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "journal_int.h"

struct jwriter {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t work;		/* to the writer: queued, or stop */
	pthread_cond_t room;		/* to producers: the queue shrank */
	pthread_cond_t done;		/* to journal_sync: a batch ended */
	struct jentry *head, **tail;
	int queued;			/* entries queued or being written */
	int readings;			/* of which readings */
	bool busy, failing, stop;
	bool idle;			/* waiting for work: signal it */
	bool moved;			/* the path names another file: paused */
	bool flush;			/* journal_sync waits: no batching */
	int64_t first_ns;		/* when the oldest queued entry came */
	bool tell_commits;		/* wake the loop after every commit */
	uint64_t recoveries;		/* from failing to committing */
	uint64_t told_error, told_dropped, told_recoveries;
	uint64_t committed, dropped;	/* readings, since the start */
	uint64_t duplicates;		/* readings another origin had */
	int64_t pruned;
	char error[512];
	uint64_t error_seq;
	int wake_fd;			/* eventfd, readable after a batch */
	struct jconn c;
};

/* Sets w->error (under the lock) when it differs from the last one. */
static void
writer_error(struct jwriter *w, const char *msg)
{
	pthread_mutex_lock(&w->mu);
	if (strcmp(w->error, msg) != 0 || !w->failing) {
		snprintf(w->error, sizeof(w->error), "%s", msg);
		w->error_seq++;
	}
	pthread_mutex_unlock(&w->mu);
}

/*
 * One transaction for the whole list. 0: committed (entries refused for
 * themselves are marked skip); -1: nothing committed, retry later.
 */
static int
writer_commit(struct journal *j, struct jentry *list, int64_t *pruned)
{
	struct jwriter *w = j->w;
	struct jconn *c = &w->c;
	char msg[600];
	int rc;

	/*
	 * Not into a file the path no longer names: the loop opens a new
	 * journal (journal_reopen) and resumes us.
	 */
	if (!journal_same_file(j))
		return -2;
	/*
	 * Opened with the first write, not at start: an idle relay keeps
	 * one connection (~200 KiB less); the caller's connection has
	 * opened and migrated the same file already.
	 */
	if (c->db == NULL && jconn_open(c, j->path, &j->opts, true) != 0) {
		writer_error(w, c->err);
		jconn_close(c);
		return -1;
	}
again:
	*pruned = 0;
	if (jconn_exec(c, "BEGIN IMMEDIATE", "starting a commit") != 0) {
		writer_error(w, c->err);
		return -1;
	}
	for (struct jentry *e = list; e != NULL; e = e->next) {
		if (e->skip)
			continue;
		if ((rc = jconn_apply(c, e,
		    j->opts.retention_days, pruned)) == SQLITE_OK)
			continue;
		snprintf(msg, sizeof(msg), "%s: %s: %s", c->path, jentry_what(e),
		    sqlite3_errmsg(c->db));
		if (jentry_fault(rc)) {
			e->skip = true;
			writer_error(w, msg);
			/*
			 * It took the whole transaction with it: start over
			 * without it (each round skips one more entry).
			 */
			if (sqlite3_get_autocommit(c->db))
				goto again;
			continue;
		}
		(void)sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		writer_error(w, msg);
		return -1;
	}
	if (jconn_exec(c, "COMMIT", "committing") != 0) {
		(void)sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		writer_error(w, c->err);
		return -1;
	}
	return 0;
}

static void
writer_wake(struct jwriter *w)
{
	uint64_t one = 1;

	/* Only fails if the counter would overflow: it is readable then. */
	(void)!write(w->wake_fd, &one, sizeof(one));
}

/* Frees a finished list; counts it. Called with the lock held. */
static void
writer_retire(struct jwriter *w, struct jentry *list, bool committed)
{
	while (list != NULL) {
		struct jentry *next = list->next;

		if (list->op == JOP_READING) {
			w->readings--;
			if (committed && list->dup)
				w->duplicates++;
			else if (committed && !list->skip)
				w->committed++;
			else
				w->dropped++;
		}
		w->queued--;
		free(list);
		list = next;
	}
}

static void
deadline_in(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

#define WRITER_RETRY_MIN_MS 1000
#define WRITER_RETRY_MAX_MS 60000
/*
 * The writer commits a batch WRITER_BATCH_NS after its first entry came
 * (at once when WRITER_BATCH_MAX are queued, on journal_sync and on
 * stop): a queued reading is durable within 500 ms plus the commit's own
 * time. A kit's session takes well under that, so the commit runs after
 * its bytes were forwarded rather than competing with them for the CPU,
 * and at a steady pace one commit and one fsync serve every reading of
 * the window (at 32 kits pushing at once, dozens: 7 us of CPU per reading
 * instead of 38). Remote outputs see readings only after the commit.
 */
#define WRITER_BATCH_NS 500000000L
#define WRITER_BATCH_MAX 256
/*
 * And it runs at the lowest priority (nice 19): on one core (a Pi Zero)
 * the loop forwarding a kit's bytes goes first. A writer that falls
 * behind fills its queue, and then the loop waits for room (above),
 * which gives the writer the CPU: nothing is lost to the lower priority.
 */
#define WRITER_NICE 19
/* A full queue with a healthy writer: how long a producer may wait. */
#define JOURNAL_FULL_WAIT_MS 2000

static int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Is there news the loop must hear? Called with the lock held. */
static bool
writer_news(struct jwriter *w, bool committed)
{
	bool tell = (committed && w->tell_commits) || w->failing || w->moved ||
	    w->error_seq != w->told_error || w->dropped != w->told_dropped ||
	    w->recoveries != w->told_recoveries;

	w->told_error = w->error_seq;
	w->told_dropped = w->dropped;
	w->told_recoveries = w->recoveries;
	return tell;
}

static void *
writer_main(void *arg)
{
	struct journal *j = arg;
	struct jwriter *w = j->w;
	struct jentry *list;
	struct timespec until;
	int64_t pruned;
	int pause_ms = 0, rc;
	bool committed;

	/* Best effort: at the loop's priority it works as before. */
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), WRITER_NICE);
	pthread_mutex_lock(&w->mu);
	for (;;) {
		w->idle = true;
		while ((w->head == NULL || w->moved) && !w->stop)
			pthread_cond_wait(&w->work, &w->mu);
		w->idle = false;
		if (w->head == NULL)
			break;
		if (w->queued < WRITER_BATCH_MAX && !w->stop && !w->flush) {
			int64_t due = w->first_ns + WRITER_BATCH_NS;
			struct timespec batch_end = {
				(time_t)(due / 1000000000),
				(long)(due % 1000000000) };

			/* Woken by stop, journal_sync, or a full batch. */
			while (w->queued < WRITER_BATCH_MAX && !w->stop &&
			    !w->flush && pthread_cond_timedwait(&w->work,
			    &w->mu, &batch_end) != ETIMEDOUT)
				;
		}
		w->flush = false;
		list = w->head;
		w->head = NULL;
		w->tail = &w->head;
		w->busy = true;
		pthread_mutex_unlock(&w->mu);

		rc = writer_commit(j, list, &pruned);

		pthread_mutex_lock(&w->mu);
		w->busy = false;
		committed = false;
		if (rc == 0) {
			w->pruned += pruned;
			for (struct jentry *e = list; e && j->watch_seq &&
			    j->watch_id == 0; e = e->next)
				if (e->op == JOP_READING && !e->skip &&
				    !e->dup && e->seq >= j->watch_seq)
					j->watch_id = e->id;
			for (struct jentry *e = list; e && !committed; e = e->next)
				committed = e->op == JOP_READING && !e->skip &&
				    !e->dup;
			writer_retire(w, list, true);
			if (w->failing)
				w->recoveries++;
			w->failing = false;
			pause_ms = 0;
		} else if (w->stop) {
			/* The last chance went by: count the rest as lost. */
			writer_retire(w, list, false);
			writer_retire(w, w->head, false);
			w->head = NULL;
			w->tail = &w->head;
			w->failing = false;	/* nothing is retried now */
		} else {
			/* Keep the order: the failed list goes back first. */
			if (rc == -2)
				w->moved = true;	/* until resumed */
			else
				w->failing = true;
			struct jentry **end = &list;

			while (*end != NULL)
				end = &(*end)->next;
			*end = w->head;
			if (w->head == NULL)
				w->tail = end;
			w->head = list;
		}
		pthread_cond_broadcast(&w->room);
		pthread_cond_broadcast(&w->done);
		if (writer_news(w, committed) || (rc == 0 && pruned > 0))
			writer_wake(w);
		if (rc == -1 && !w->stop) {
			pause_ms = pause_ms == 0 ? WRITER_RETRY_MIN_MS :
			    pause_ms * 2 > WRITER_RETRY_MAX_MS ?
			    WRITER_RETRY_MAX_MS : pause_ms * 2;
			deadline_in(&until, pause_ms);
			while (!w->stop && pthread_cond_timedwait(&w->work,
			    &w->mu, &until) != ETIMEDOUT)
				;
		}
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void
writer_free(struct jwriter *w)
{
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	jconn_close(&w->c);
	pthread_cond_destroy(&w->work);
	pthread_cond_destroy(&w->room);
	pthread_cond_destroy(&w->done);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

int
journal_writer_start(struct journal *j, bool tell_commits, char *err,
    size_t errlen)
{
	struct jwriter *w;
	pthread_condattr_t ca;
	sigset_t all, old;
	int e;

	if (j->w != NULL)
		return 0;
	if (j->tx != TX_NONE) {
		snprintf(err, errlen, "%s: a batch is open", j->path);
		return -1;
	}
	/* Two connections on two threads need a thread-safe SQLite. */
	if (!sqlite3_threadsafe()) {
		snprintf(err, errlen, "this SQLite library is built without "
		    "thread support; the journal needs it");
		return -1;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	w->tail = &w->head;
	w->wake_fd = -1;
	w->tell_commits = tell_commits;
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->work, &ca);
	pthread_cond_init(&w->room, &ca);
	pthread_cond_init(&w->done, &ca);
	pthread_condattr_destroy(&ca);
	if ((w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		writer_free(w);
		return -1;
	}
	/* Its connection opens with the first write (writer_commit). */
	j->w = w;
	/*
	 * The thread starts with every signal blocked, so the program's
	 * handlers (libevent's) always run on the loop's thread and no
	 * signal interrupts the writer's I/O.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&w->thread, NULL, writer_main, j);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		snprintf(err, errlen, "cannot start the journal writer: %s",
		    strerror(e));
		j->w = NULL;
		writer_free(w);
		return -1;
	}
	return 0;
}

/* Commits what is queued (one last try if failing), ends the thread. */
static void
writer_stop(struct journal *j)
{
	struct jwriter *w = j->w;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_broadcast(&w->work);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
}

void
jwriter_end(struct journal *j)
{
	if (j->w == NULL)
		return;
	writer_stop(j);
	writer_free(j->w);
	j->w = NULL;
}

void
jwriter_lock(struct jwriter *w)
{
	pthread_mutex_lock(&w->mu);
}

void
jwriter_unlock(struct jwriter *w)
{
	pthread_mutex_unlock(&w->mu);
}

int
journal_writer_fd(const struct journal *j)
{
	return j->w ? j->w->wake_fd : -1;
}

void
journal_writer_poll(struct journal *j, struct journal_news *n)
{
	struct jwriter *w = j->w;
	uint64_t count;

	memset(n, 0, sizeof(*n));
	if (w == NULL)
		return;
	(void)!read(w->wake_fd, &count, sizeof(count));
	pthread_mutex_lock(&w->mu);
	n->committed = w->committed - j->seen_committed;
	n->duplicates = w->duplicates - j->seen_duplicates;
	j->seen_duplicates = w->duplicates;
	n->dropped = w->dropped - j->seen_dropped;
	n->pruned = w->pruned - j->seen_pruned;
	n->queued = w->readings;
	n->failing = w->failing;
	n->moved = w->moved || j->lost;
	n->recovered = w->recoveries != j->seen_recoveries;
	j->seen_recoveries = w->recoveries;
	if (w->error_seq != j->seen_error)
		snprintf(n->error, sizeof(n->error), "%s", w->error);
	j->seen_committed = w->committed;
	j->seen_dropped = w->dropped;
	j->seen_pruned = w->pruned;
	j->seen_error = w->error_seq;
	pthread_mutex_unlock(&w->mu);
	n->refused = j->refused;
	n->refused_first = j->refused_first;
	n->refused_last = j->refused_last;
	j->refused = 0;
	if (n->committed > 0 && j->notify)
		j->notify(j->notify_arg);
}

int
journal_sync(struct journal *j, int timeout_ms, const char **err)
{
	struct jwriter *w = j->w;
	struct timespec until;
	int left;

	if (w == NULL)
		return 0;
	deadline_in(&until, timeout_ms);
	pthread_mutex_lock(&w->mu);
	if (w->head != NULL) {
		w->flush = true;	/* commit now, not at the batch's end */
		pthread_cond_broadcast(&w->work);
	}
	/* Not while failing: the next try may be a minute away. */
	while ((w->head != NULL || w->busy) && !w->failing && !w->moved &&
	    pthread_cond_timedwait(&w->done, &w->mu, &until) != ETIMEDOUT)
		;
	left = w->queued;
	if (left > 0 && w->moved)
		snprintf(j->err, sizeof(j->err), "%d writes not yet committed: "
		    "%s is no longer the journal's file", left, j->path);
	else if (left > 0 && w->failing)
		snprintf(j->err, sizeof(j->err), "%d writes not yet committed: "
		    "the journal is failing (%s)", left, w->error);
	else if (left > 0)
		snprintf(j->err, sizeof(j->err), "%d writes not yet committed "
		    "after %d ms", left, timeout_ms);
	pthread_mutex_unlock(&w->mu);
	if (left > 0 && err)
		*err = j->err;
	return left > 0 ? -1 : 0;
}

uint64_t
journal_duplicates(struct journal *j)
{
	uint64_t n = j->duplicates;

	if (j->w == NULL)
		return n;
	pthread_mutex_lock(&j->w->mu);
	n += j->w->duplicates;
	pthread_mutex_unlock(&j->w->mu);
	return n;
}

int
journal_queued(struct journal *j)
{
	int n;

	if (j->w == NULL)
		return 0;
	pthread_mutex_lock(&j->w->mu);
	n = j->w->readings;
	pthread_mutex_unlock(&j->w->mu);
	return n;
}

/* Hands e to the writer: waits for room while it is healthy. */
int
jwriter_enqueue(struct journal *j, struct jentry *e, const char **err)
{
	struct jwriter *w = j->w;

	pthread_mutex_lock(&w->mu);
	if (w->queued >= JOURNAL_QUEUE_MAX && !w->failing && !w->moved &&
	    !w->stop) {
		struct timespec until;

		/* Bounded: a stuck disk must not hold the loop for long. */
		deadline_in(&until, JOURNAL_FULL_WAIT_MS);
		while (w->queued >= JOURNAL_QUEUE_MAX && !w->failing &&
		    !w->moved && !w->stop && pthread_cond_timedwait(&w->room,
		    &w->mu, &until) != ETIMEDOUT)
			;
	}
	if (w->queued >= JOURNAL_QUEUE_MAX || w->stop) {
		snprintf(j->err, sizeof(j->err), "not journaled: %d writes "
		    "wait for a journal that %s%s", w->queued, w->moved ?
		    "is no longer at its path" : w->failing ?
		    "cannot be written: " : "is slow to commit",
		    w->failing && !w->moved ? w->error : "");
		pthread_mutex_unlock(&w->mu);
		if (e->op == JOP_READING) {
			if (j->refused++ == 0)
				j->refused_first = e->when;
			j->refused_last = e->when;
		}
		free(e);
		if (err)
			*err = j->err;
		return -1;
	}
	e->next = NULL;
	if (w->head == NULL)
		w->first_ns = mono_ns();
	*w->tail = e;
	w->tail = &e->next;
	w->queued++;
	if (e->op == JOP_READING)
		w->readings++;
	if (w->idle || w->queued == WRITER_BATCH_MAX)
		pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

void
journal_writer_stop(struct journal *j, struct journal_news *n)
{
	if (j->w == NULL) {
		memset(n, 0, sizeof(*n));
		return;
	}
	writer_stop(j);
	journal_writer_poll(j, n);
	j->duplicates += j->w->duplicates;	/* journal_duplicates() */
	writer_free(j->w);
	j->w = NULL;
}

/*
 * The writer takes no new batch while moved is set; the one it may be
 * committing ends first. Then its connection is the loop's to close.
 */
void
jwriter_pause(struct jwriter *w)
{
	pthread_mutex_lock(&w->mu);
	w->moved = true;
	while (w->busy)
		pthread_cond_wait(&w->done, &w->mu);
	pthread_mutex_unlock(&w->mu);
}

/*
 * The old file is closed (paused: the connection is ours to close), and
 * cursor moves queued for it mean nothing in a new one.
 */
void
jwriter_drop_file(struct jwriter *w)
{
	struct jentry **p = &w->head, *e;

	jconn_close(&w->c);
	pthread_mutex_lock(&w->mu);
	w->tail = &w->head;
	while ((e = *p) != NULL) {
		if (e->op == JOP_CURSOR || e->op == JOP_CURSTATE) {
			*p = e->next;
			w->queued--;
			free(e);
			continue;
		}
		w->tail = &e->next;
		p = &e->next;
	}
	pthread_mutex_unlock(&w->mu);
}

void
jwriter_resume(struct jwriter *w)
{
	pthread_mutex_lock(&w->mu);
	w->moved = false;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
}

