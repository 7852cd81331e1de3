/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * log.c: stderr or syslog. Verbosity 0 logs warnings and info, 1 (-v) adds
 * debug. Messages are formatted once and handed to one sink, so a line is
 * never interleaved with another.
 *
 * When stderr is the systemd journal (systemd sets $JOURNAL_STREAM to the
 * "device:inode" of the stream it connected, and it is still our fd 2: a
 * redirection by a shell or a test makes them differ), lines carry a "<N>"
 * syslog priority prefix, which journald strips and stores as the
 * priority, and no program name, which the journal records already.
 *
 * A socket on stderr (journald's is one) is written without waiting: a
 * journald that stops reading must not stop the loop, and with it the
 * kits' pushes. Lines that find the socket full are dropped whole and
 * counted (the rest of a line begun is kept, so every line stays whole),
 * and the count is logged once lines go through again. A daemon's pipe
 * or terminal (log_live) is written the same way: through a description
 * of its own, opened anew with O_NONBLOCK (set on the fd it was given,
 * the flag would be shared with whoever else holds it), or with
 * RWF_NOWAIT, the flag of one write, or by a thread of its own through a
 * bounded queue (outq.h), lines that find it full dropped and counted
 * alike. Files, and the pipes of programs
 * with nothing to keep going (a replay), are written as before.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "outq.h"

static const char *log_ident = "omniklog";
static bool log_stderr = true;
static bool log_journal;
static bool log_nowait;		/* never waited for: a socket, a pipe */
static bool log_pipe;		/* log_live: a pipe, written RWF_NOWAIT */
static bool log_own;		/* log_live: our own O_NONBLOCK description */
static struct outq *log_q;	/* log_live: a terminal, an older kernel */
static bool log_gone;		/* its queue ended at exit: no more lines */
static int log_verbosity;

static bool
stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char end;

	if (js == NULL || sscanf(js, "%llu:%llu%c", &dev, &ino, &end) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) != 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_init(const char *ident, bool to_stderr, int verbosity)
{
	struct stat st;

	log_ident = ident;
	log_stderr = to_stderr;
	log_verbosity = verbosity;
	log_journal = to_stderr && stderr_is_journal();
	log_nowait = to_stderr && fstat(STDERR_FILENO, &st) == 0 &&
	    S_ISSOCK(st.st_mode);
	if (!to_stderr)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_set_verbosity(int verbosity)
{
	log_verbosity = verbosity;
}

bool
log_enabled(enum log_level lvl)
{
	return lvl != LOG_LVL_DEBUG || log_verbosity > 0;
}

static const char *const log_tag[] = { "error: ", "warning: ", "", "debug: " };

/*
 * log_hold: info and debug lines on stderr wait here until the hold ends
 * (the end of the event loop's turn), so the readings of one turn reach
 * journald's pipe in one write, not one each. A warning or an error
 * writes what waits first and then itself at once; so does a line that
 * would not fit. Lines keep their order.
 */
#define LOG_HOLD_MAX 16384
static char log_held[LOG_HOLD_MAX];
static size_t log_held_len;
static bool log_holding;

/*
 * A socket's side: the rest of a line the socket took only part of, to
 * go before anything else; and the lines dropped since one went through.
 */
static char log_rest[LOG_MSG_MAX + 64];
static size_t log_rest_len;
static unsigned long long log_dropped;

static void log_start_queue(void);

/* As much of p[0..n) as stderr takes now; -1 if it takes nothing more. */
static ssize_t
log_write_some(const char *p, size_t n)
{
	struct iovec v = { .iov_base = (void *)(uintptr_t)p, .iov_len = n };
	ssize_t w;

	do
		w = log_pipe ? pwritev2(STDERR_FILENO, &v, 1, -1, RWF_NOWAIT) :
		    log_own ? write(STDERR_FILENO, p, n) :
		    log_nowait ? send(STDERR_FILENO, p, n,
		    MSG_DONTWAIT | MSG_NOSIGNAL) : write(STDERR_FILENO, p, n);
	while (w < 0 && errno == EINTR);
	/* A kernel whose pipes cannot be written without waiting: the
	 * thread writes them instead (log_out queues what comes). */
	if (w < 0 && log_pipe && errno == EOPNOTSUPP)
		log_start_queue();
	return w > 0 ? w : -1;
}

/* Whether the rest of a line begun went out (or there was none). */
static bool
log_send_rest(void)
{
	while (log_rest_len > 0) {
		ssize_t w = log_write_some(log_rest, log_rest_len);

		if (w < 0)
			return false;
		memmove(log_rest, log_rest + w, log_rest_len - (size_t)w);
		log_rest_len -= (size_t)w;
	}
	return true;
}

/* The notice that k lines were dropped, in line[0..size): its length. */
static size_t
log_notice(char *line, size_t size, unsigned long long k)
{
	int n;

	if (log_journal)	/* journald names the program itself */
		n = snprintf(line, size, "<4>warning: log: %llu line%s "
		    "dropped (stderr was not read)\n", k, k == 1 ? "" : "s");
	else
		n = snprintf(line, size, "%.48s: warning: log: %llu line%s "
		    "dropped (stderr was not read)\n", log_ident, k,
		    k == 1 ? "" : "s");
	return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

static unsigned long long
lines_in(const char *p, size_t n)
{
	unsigned long long k = 0;

	for (size_t i = 0; i < n; i++)
		k += p[i] == '\n';
	return k;
}

/*
 * As much of p[0..n) as stderr takes now: the bytes taken. A pipe gets
 * whole lines, at most PIPE_BUF a write, which it takes whole or not at
 * all; a socket may take part of a line.
 */
static size_t
log_try(const char *p, size_t n)
{
	size_t off = 0;

	while (off < n) {
		size_t k = n - off;
		const char *nl;
		ssize_t w;

		if ((log_pipe || log_own) && k > PIPE_BUF) {
			nl = memrchr(p + off, '\n', PIPE_BUF);
			k = nl != NULL ? (size_t)(nl - (p + off)) + 1 : PIPE_BUF;
		}
		if ((w = log_write_some(p + off, k)) < 0)
			break;
		off += (size_t)w;
	}
	return off;
}

/* The queue's side (log_live on a terminal or a named pipe). */
static void
log_queue_out(const char *p, size_t n)
{
	char line[128];
	size_t ln;

	if (log_dropped > 0 &&
	    (ln = log_notice(line, sizeof(line), log_dropped)) > 0) {
		if (outq_put(log_q, line, ln) != 0) {
			(void)outq_take_dropped(log_q);	/* the notice */
			log_dropped += lines_in(p, n);
			return;
		}
		log_dropped = 0;
	}
	if (outq_put(log_q, p, n) != 0)
		log_dropped += outq_take_dropped(log_q);
}

/* Keeps the rest of the line p[0..n) was cut in, at *off: moves *off. */
static void
log_keep_rest(const char *p, size_t n, size_t *off)
{
	const char *nl = memchr(p + *off, '\n', n - *off);
	size_t k = nl != NULL ? (size_t)(nl - (p + *off)) + 1 : n - *off;

	if (k > sizeof(log_rest))
		k = sizeof(log_rest);	/* longer than any line */
	memcpy(log_rest, p + *off, k);
	log_rest_len = k;
	*off += k;
}

/*
 * Whole lines p[0..n) to stderr. Blocking stderr: written, whatever it
 * takes (as fwrite would; what fails is lost). A socket or a pipe: what
 * it takes now; a line a socket took part of is finished first next
 * time, the lines after it are dropped and counted, and the count goes
 * out first once one goes through again.
 */
static void
log_out(const char *p, size_t n)
{
	size_t off = 0, w;

	if (log_gone)
		return;
	if (log_q != NULL) {
		log_queue_out(p, n);
		return;
	}
	if (!log_nowait) {
		while (off < n) {
			ssize_t k = log_write_some(p + off, n - off);

			if (k < 0)
				return;
			off += (size_t)k;
		}
		return;
	}
	if (!log_send_rest())
		goto drop;
	if (log_dropped > 0) {
		char line[128];
		size_t ln = log_notice(line, sizeof(line), log_dropped);

		w = log_try(line, ln);
		if (log_q != NULL && w == 0) {
			log_queue_out(p, n);	/* just switched */
			return;
		}
		if (w == 0)
			goto drop;	/* the count stands */
		log_dropped = 0;
		if (w < ln) {
			log_keep_rest(line, ln, &w);
			goto drop;
		}
	}
	w = log_try(p, n);
	if (log_q != NULL && w == 0 && log_rest_len == 0) {
		log_queue_out(p, n);	/* just switched */
		return;
	}
	off = w;
	if (off > 0 && off < n && p[off - 1] != '\n')
		log_keep_rest(p, n, &off);	/* part of a line went */
drop:
	log_dropped += lines_in(p + off, n - off);
}

static void
log_flush_held(void)
{
	log_out(log_held, log_held_len);
	log_held_len = 0;
}

static void
log_flush_at_exit(void)
{
	log_flush_held();
}

/* What the queue holds: up to 2 s more for stderr's reader. */
static void
log_queue_at_exit(void)
{
	struct outq *q = log_q;

	log_flush_held();
	log_q = NULL;
	/* A thread left blocked on it must not be joined by a blocking
	 * write of ours: what comes after this is not written. */
	log_gone = true;
	outq_free(q, 2000);
}

#define LOG_QUEUE_MAX (64u << 10)

/* From here on stderr is written by a thread (outq.h). */
static void
log_start_queue(void)
{
	log_pipe = log_own = log_nowait = false;
	if ((log_q = outq_new(STDERR_FILENO, LOG_QUEUE_MAX)) != NULL &&
	    atexit(log_queue_at_exit) != 0) {
		outq_free(log_q, 0);
		log_q = NULL;
	}
}

void
log_live(void)
{
	struct stat st;

	if (!log_stderr || log_nowait || log_q != NULL ||
	    fstat(STDERR_FILENO, &st) != 0)
		return;
	log_flush_held();
	fflush(stderr);
	if (!S_ISFIFO(st.st_mode) && !isatty(STDERR_FILENO))
		return;		/* a file: never waits long */
	/*
	 * A pipe or a terminal opened anew is a description of our own,
	 * so O_NONBLOCK on it is ours alone (set on fd 2 as it came, it
	 * would be the pipe's, shared with whoever else holds it): lines
	 * it will not take now are dropped and counted, as on a socket.
	 * That open needs /proc and the right to open the pipe or terminal
	 * (not given to a user we dropped to). Else a pipe is written with
	 * RWF_NOWAIT, a flag of the one write (anonymous pipes, on newer
	 * kernels); and else, or a terminal, by a thread of its own.
	 */
	int fd = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC);

	if (fd >= 0 && dup2(fd, STDERR_FILENO) == STDERR_FILENO) {
		close(fd);
		log_own = log_nowait = true;
		return;
	}
	if (fd >= 0)
		close(fd);
	if (S_ISFIFO(st.st_mode))
		log_pipe = log_nowait = true;
	else
		log_start_queue();
}

void
log_hold(bool on)
{
	static bool registered;
	int saved = errno;

	if (on && !registered)
		registered = atexit(log_flush_at_exit) == 0;
	log_holding = on && log_stderr;
	if (!on && log_held_len > 0)
		log_flush_held();
	errno = saved;
}

/* Queue a whole line, or write it now; true if it was taken. */
static bool
log_keep(enum log_level lvl, const char *line, size_t n)
{
	if (!log_holding)
		return false;
	if (lvl <= LOG_LVL_WARN || log_held_len + n > sizeof(log_held)) {
		log_flush_held();
		return false;
	}
	memcpy(log_held + log_held_len, line, n);
	log_held_len += n;
	return true;
}

/*
 * One line to its sink. On stderr it is put together here and written
 * with one fwrite: the same bytes fprintf wrote, one write(2) as before,
 * without a printf per line.
 */
static void
log_emit(enum log_level lvl, const char *msg, size_t len)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char line[LOG_MSG_MAX + 64];
	size_t n = 0, k;

	if (!log_stderr) {
		syslog(prio[lvl], "%s%.*s", log_tag[lvl], (int)len, msg);
		return;
	}
	if (log_journal) {
		line[n++] = '<';
		line[n++] = (char)('0' + prio[lvl]);
		line[n++] = '>';
	} else {
		if ((k = strlen(log_ident)) > 48) {
			log_flush_held();	/* what waits goes first */
			fprintf(stderr, "%s: %s%.*s\n", log_ident, log_tag[lvl],
			    (int)len, msg);
			return;
		}
		memcpy(line + n, log_ident, k);
		n += k;
		line[n++] = ':';
		line[n++] = ' ';
	}
	k = strlen(log_tag[lvl]);
	memcpy(line + n, log_tag[lvl], k);
	n += k;
	memcpy(line + n, msg, len);
	n += len;
	line[n++] = '\n';
	if (!log_keep(lvl, line, n))
		log_out(line, n);
}

static void __attribute__((format(printf, 3, 0)))
vlog(enum log_level lvl, int errnum, const char *fmt, va_list ap)
{
	char msg[LOG_MSG_MAX];
	int n;

	if (!log_enabled(lvl))
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	if (errnum != 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s",
		    strerror(errnum));
	log_emit(lvl, msg, strlen(msg));
}

void
log_info_msg(const char *msg)
{
	int saved = errno;

	if (log_enabled(LOG_LVL_INFO))
		log_emit(LOG_LVL_INFO, msg, strnlen(msg, LOG_MSG_MAX - 1));
	errno = saved;
}

#define LOG_FN(name, lvl, with_errno)				\
void								\
name(const char *fmt, ...)					\
{								\
	int saved = errno;					\
	va_list ap;						\
								\
	va_start(ap, fmt);					\
	vlog(lvl, with_errno ? saved : 0, fmt, ap);		\
	va_end(ap);						\
	errno = saved;						\
}

LOG_FN(log_warn, LOG_LVL_WARN, 1)
LOG_FN(log_warnx, LOG_LVL_WARN, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_debug, LOG_LVL_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERR, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
