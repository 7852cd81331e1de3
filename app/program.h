/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * program.h: the skeleton every omniklog program shares, so that a main
 * holds only its own options and its run loop.
 *
 *   program_options(p, argc, argv)   the shared options and the main's own
 *   program_configure(p)             config file + flags; -n checks, exits
 *   ... open what needs root (listeners, captures, input files) ...
 *   program_start(p, policy, caps)   detach, drop privileges, open the
 *                                    outputs, watch the signals
 *   ... attach the main's own events ...
 *   program_ready(p)                 listeners and outputs are up
 *   program_run(p)                   the event loop, until TERM/INT
 *   program_exit(p)                  outputs closed, pid file removed
 *
 * program_start also opens [http] (status.h) when it has a listen.
 * A one-shot run (a replay) calls program_drop, program_outputs_open and
 * program_flush instead of program_start and program_run.
 *
 * This is program code, not library code: on a failure that ends the
 * program it logs and exits (1, or 2 for a usage error), as a main would.
 */
#ifndef PROGRAM_H
#define PROGRAM_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "config.h"
#include "outputs.h"

struct event;
struct event_base;
struct program;
struct status;

/*
 * A program's counters since it started, for /metrics and the status
 * page (the same the USR1 log line has). A way in leaves what it has
 * not at 0 and says which it has.
 */
struct program_counters {
	uint64_t connections;		/* accepted (relay), TCP flows (sniffer) */
	uint64_t refused;		/* connections refused (relay) */
	uint64_t frames;		/* whole frames, kit to portal */
	uint64_t readings;
	uint64_t rejects;		/* frames kept raw with a reason */
	uint64_t bytes_from_kit;	/* stream bytes, kit to portal */
	uint64_t bytes_to_kit;		/* portal to kit */
	uint64_t upstream_failures;	/* relay: the portal not reached */
	bool relay;			/* refused and upstream_failures count */
};

/* The main's own part. Every hook may be NULL. */
struct program_ops {
	const char *name;		/* "omnik-relay" */
	void (*usage)(FILE *fp);
	const char *shortopts;		/* the main's own short options */
	const struct option *longopts;	/* its own, a zero entry at the end;
					 * long-only values below
					 * PROGRAM_OPT_COMMON */
	/* One of the main's own options (program_usage_error on a bad one). */
	void (*option)(struct program *p, int ch, const char *arg);
	/* The options are parsed: overrides that depend on several. */
	void (*prepare)(struct program *p);
	/* The config is read: check the main's own keys. 0, or -1 with err. */
	int (*check)(struct program *p, char *err, size_t errlen);
	/* TERM, INT (default: log and leave the loop). */
	void (*stop)(struct program *p, int sig);
	/*
	 * HUP, before the outputs reopen: what the main holds back for
	 * them goes out now, to the files logrotate moved.
	 */
	void (*flush)(struct program *p);
	/* HUP, after the outputs were reopened. */
	void (*reload)(struct program *p);
	/* USR1: log the counters. */
	void (*stats)(struct program *p, const char *why);
	/* The counters, for [http] (zeroed before the call). */
	void (*counters)(struct program *p, struct program_counters *c);
};

/* Values of the shared long-only options; the main's own stay below. */
#define PROGRAM_OPT_COMMON 0x1000

/*
 * The output policy: which sinks a program opens, and why.
 *
 * PROGRAM_OUTPUTS_SERVICE_LOG (the relay): the journal ([omniklog] db),
 *   the CSV and the remote outputs over the journal, and a log line per
 *   reading always, CSV or not: a relay is a service, and its log shows
 *   each reading next to the connection that brought it.
 * PROGRAM_OUTPUTS_SERVICE (omnik-sniff -i, --nfqueue): the same journal,
 *   CSV and remote outputs; with no CSV the readings are also written as
 *   text (a log line when detached, standard output in the foreground),
 *   so that a sniffer started by hand shows what it sees.
 * PROGRAM_OUTPUTS_ONESHOT (a replay, a raw stream): by default only the
 *   text on standard output, because a one-shot decode is a tool and not
 *   the service: the service's journal and CSV are not appended to. --db
 *   makes it the service's (journal, CSV, remote outputs, and the text
 *   when there is no CSV); --csv alone writes only that CSV.
 */
enum program_outputs {
	PROGRAM_OUTPUTS_SERVICE_LOG,
	PROGRAM_OUTPUTS_SERVICE,
	PROGRAM_OUTPUTS_ONESHOT,
};

struct program {
	const struct program_ops *ops;
	const char *config_path;	/* NULL: the default, if it exists;
					 * "": none */
	struct config_overrides ov;
	struct config cfg;
	struct outputs out;
	struct event_base *base;	/* program_base() makes it */
	int verbose_flags;		/* -v given */
	bool foreground;		/* -f */
	bool check;			/* -n */
	bool db_given;			/* --db */
	bool detached;
	const char *user;		/* program_drop made us this one */
	struct event *sigs[4];
	struct status *status;		/* [http]: the status page, or NULL */
	struct event *turn_ev;		/* program_run: outputs_turn_end */
};

void program_init(struct program *p, const struct program_ops *ops);
/* Record a flag as a config key (exits 2 when there are too many). */
void program_override(struct program *p, const char *section,
    const char *key, const char *value);
/*
 * A repeatable flag (-l, -k): value appended to buf (space separated),
 * which becomes section.key's override on the first call; buf must live
 * as long as p. Exits 2 when buf is full.
 */
void program_override_join(struct program *p, const char *section,
    const char *key, char *buf, size_t size, const char *value);
/* "name: msg[: arg]" and a hint on stderr, exit 2. */
void program_usage_error(const struct program *p, const char *msg,
    const char *arg) __attribute__((noreturn));
/* The help lines of the shared options that read the same everywhere. */
void program_usage_common(FILE *fp);

/* Parse argv: -h and -V exit 0, a usage error exits 2. */
void program_options(struct program *p, int argc, char **argv);
/*
 * Build p->cfg (defaults, file, flags), run ops->check, set the log
 * verbosity. A bad config exits 1; -n prints "configuration OK" (the
 * config too with -v) and exits 0.
 */
void program_configure(struct program *p);

/* The event loop, made on first use. */
struct event_base *program_base(struct program *p);
/* Detach unless -f: pid file ([omniklog] pidfile), syslog. */
void program_detach(struct program *p);
/*
 * Become [omniklog] user (when root). oneshot: a missing default user
 * means nobody, and root with -u '' stays root quietly. keep_net_admin:
 * keep CAP_NET_ADMIN in the permitted set (daemon.h). Exits 1 on failure.
 */
void program_drop(struct program *p, bool oneshot, bool keep_net_admin);
/* The sinks of the policy, opened as the user that will write them. */
void program_outputs_open(struct program *p, enum program_outputs policy);
/* Detach, drop, open the outputs, watch TERM/INT/HUP/USR1. */
void program_start(struct program *p, enum program_outputs policy,
    bool keep_net_admin);
/*
 * Listeners (or captures) and outputs are up: release the parent that
 * waits in daemon_detach. Anything a service manager is told about being
 * ready belongs here.
 */
void program_ready(struct program *p);
/* The event loop until a stop. */
void program_run(struct program *p);
/*
 * After a one-shot input: commit the journal and give the remote outputs
 * up to seconds to deliver; what they miss waits in the journal.
 */
void program_flush(struct program *p, int seconds);
/* Outputs closed, signal events and the loop freed, pid file removed. */
void program_exit(struct program *p);

#endif /* PROGRAM_H */
