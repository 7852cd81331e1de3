/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * log.h: one logging interface for the programs: stderr in the foreground,
 * syslog when daemonised. Library code (proto/, the formatters) never logs;
 * it returns errors and the program decides.
 *
 * log_warn and fatal append strerror(errno); the ...x variants do not.
 */
#ifndef LOG_H
#define LOG_H

#include <stdbool.h>

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* A message is cut to LOG_MSG_MAX - 1 bytes. */
#define LOG_MSG_MAX 1024

void log_init(const char *ident, bool to_stderr, int verbosity);
void log_set_verbosity(int verbosity);
bool log_enabled(enum log_level lvl);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* log_info("%s", msg) without printf: for a line logged per reading. */
void log_info_msg(const char *msg);
/*
 * on: info and debug lines on stderr are kept (at most 16 KiB) until
 * log_hold(false), which writes them at once; warnings and errors go out
 * at once, after what was kept. For a loop that logs many lines a turn.
 */
void log_hold(bool on);
/*
 * A daemon whose loop must never wait for stderr (call it while still
 * root): a pipe or a terminal on it is from now on written without
 * waiting, through a description of its own opened anew with O_NONBLOCK
 * (or, where that open is refused, a pipe with RWF_NOWAIT, and else by a
 * thread of its own through a queue of 64 KiB, which at exit gets up to
 * 2 s); lines that do not fit while nothing reads are dropped whole and
 * counted, and the count is logged once lines go through again, as on
 * journald's socket, which is never waited for either. A file: nothing.
 */
void log_live(void);
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif /* LOG_H */
