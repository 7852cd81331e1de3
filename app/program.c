/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * program.c: the skeleton every omniklog program shares (program.h).
 *
 * The order of start-up is the point: whatever needs root (listeners,
 * captures, input files) is opened by the main before program_start;
 * then the program detaches, drops its privileges, and only then opens
 * its outputs, so that the CSV file belongs to the unprivileged user and
 * a SIGHUP reopen (logrotate) works with the rights the first open had.
 */
#include <signal.h>
#include <stdio.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "csv.h"
#include "daemon.h"
#include "http.h"
#include "log.h"
#include "notify.h"
#include "program.h"
#include "registry.h"
#include "setup.h"
#include "status.h"
#include "text.h"
#include "version.h"

enum {
	OPT_CSV = PROGRAM_OPT_COMMON, OPT_DB, OPT_PIDFILE, OPT_HTTP,
};

static const struct option common_longopts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "user", required_argument, NULL, 'u' },
	{ "foreground", no_argument, NULL, 'f' },
	{ "check", no_argument, NULL, 'n' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ "csv", required_argument, NULL, OPT_CSV },
	{ "db", required_argument, NULL, OPT_DB },
	{ "pidfile", required_argument, NULL, OPT_PIDFILE },
	{ "http", required_argument, NULL, OPT_HTTP },
};
#define COMMON_SHORTOPTS "c:u:fnvhV"
#define NCOMMON (sizeof(common_longopts) / sizeof(common_longopts[0]))
#define MAX_LONGOPTS 48

/* The outputs' config sections and the skeleton's own ([http]). */
#define SECTIONS_MAX 32
static const struct config_section *sections[SECTIONS_MAX + 2];

void
program_init(struct program *p, const struct program_ops *ops)
{
	size_t n = 0;

	memset(p, 0, sizeof(*p));
	p->ops = ops;
	log_init(ops->name, true, 0);
	for (size_t i = 0; output_sections[i] != NULL && n < SECTIONS_MAX; i++)
		sections[n++] = output_sections[i];
	sections[n++] = &http_section;
	sections[n] = NULL;
	/* Before the first config call. */
	config_register(sections);
}

void
program_override(struct program *p, const char *section, const char *key,
    const char *value)
{
	if (config_override(&p->ov, section, key, value) != 0) {
		fprintf(stderr, "%s: too many options\n", p->ops->name);
		exit(2);
	}
}

void
program_override_join(struct program *p, const char *section,
    const char *key, char *buf, size_t size, const char *value)
{
	if (strlen(buf) + strlen(value) + 2 > size)
		program_usage_error(p, "too many values given for", key);
	/* The override points at buf: later values extend the same text. */
	if (buf[0] == '\0')
		program_override(p, section, key, buf);
	else
		strcat(buf, " ");
	strcat(buf, value);
}

void
program_usage_error(const struct program *p, const char *msg,
    const char *arg)
{
	fprintf(stderr, "%s: %s%s%s\nTry '%s --help'.\n", p->ops->name, msg,
	    arg ? ": " : "", arg ? arg : "", p->ops->name);
	exit(2);
}

void
program_usage_common(FILE *fp)
{
	fputs(
"  -n, --check         check the configuration, print it with -v, and exit\n"
"  -h, --help          show this help and exit\n"
"  -V, --version       show the version and exit\n", fp);
}

void
program_options(struct program *p, int argc, char **argv)
{
	const struct program_ops *ops = p->ops;
	struct option lo[MAX_LONGOPTS];
	char so[128];
	size_t n = 0;
	int ch;

	/* The main's own options first, then the shared ones. */
	for (const struct option *o = ops->longopts; o && o->name; o++)
		if (n < MAX_LONGOPTS - NCOMMON - 1)
			lo[n++] = *o;
	memcpy(lo + n, common_longopts, sizeof(common_longopts));
	memset(lo + n + NCOMMON, 0, sizeof(lo[0]));
	snprintf(so, sizeof(so), "%s" COMMON_SHORTOPTS,
	    ops->shortopts ? ops->shortopts : "");

	while ((ch = getopt_long(argc, argv, so, lo, NULL)) != -1) {
		switch (ch) {
		case 'c':
			p->config_path = optarg;
			break;
		case 'u':
			program_override(p, "omniklog", "user", optarg);
			break;
		case 'f':
			p->foreground = true;
			break;
		case 'n':
			p->check = true;
			break;
		case 'v':
			p->verbose_flags++;
			break;
		case OPT_CSV:
			program_override(p, "omniklog", "csv", optarg);
			break;
		case OPT_DB:
			program_override(p, "omniklog", "db", optarg);
			p->db_given = true;
			break;
		case OPT_PIDFILE:
			program_override(p, "omniklog", "pidfile", optarg);
			break;
		case OPT_HTTP:
			program_override(p, "http", "listen", optarg);
			break;
		case 'h':
			ops->usage(stdout);
			exit(0);
		case 'V':
			printf("%s %s\n", ops->name, OMNIKLOG_VERSION);
			exit(0);
		case '?':
			fprintf(stderr, "Try '%s --help'.\n", ops->name);
			exit(2);
		default:
			ops->option(p, ch, optarg);
			break;
		}
	}
	if (optind < argc)
		program_usage_error(p, "unexpected argument", argv[optind]);
	if (ops->prepare != NULL)
		ops->prepare(p);
}

void
program_configure(struct program *p)
{
	char err[4096];

	if (config_build(&p->cfg, p->config_path, &p->ov, err,
	    sizeof(err)) != 0 || http_conf_check(config_section_get(&p->cfg,
	    &http_section), err, sizeof(err)) != 0 ||
	    (p->ops->check != NULL &&
	    p->ops->check(p, err, sizeof(err)) != 0)) {
		/* Every problem, one per line, as the config file has them. */
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	log_set_verbosity(p->cfg.verbose + p->verbose_flags);
	if (p->check) {
		if (p->verbose_flags > 0)
			config_dump(&p->cfg, stdout);
		printf("%s: configuration OK\n", p->ops->name);
		exit(0);
	}
}

/*
 * Callbacks run before the loop looks for new events again. A connection
 * with more to read makes itself active once more (edge-triggered), and
 * libevent runs what became active in the same pass: without a limit, two
 * peers that always have a full read waiting (a flood of garbage) would
 * take turns forever and nothing else (a kit's connection in the listen
 * queue, a timer) would be seen until they pause.
 */
#define CALLBACKS_PER_POLL 16

struct event_base *
program_base(struct program *p)
{
	struct event_config *cfg;

	if (p->base != NULL)
		return p->base;
	if ((cfg = event_config_new()) == NULL ||
	    event_config_set_max_dispatch_interval(cfg, NULL,
	    CALLBACKS_PER_POLL, 0) != 0 ||
	    (p->base = event_base_new_with_config(cfg)) == NULL)
		fatalx("cannot start the event loop");
	event_config_free(cfg);
	return p->base;
}

/* [omniklog] pidfile with %s standing for the program's name. */
static void
pidfile_path(const struct program *p, char *out, size_t n)
{
	const char *tmpl = p->cfg.pidfile, *pct = strstr(tmpl, "%s");

	if (pct == NULL)
		snprintf(out, n, "%s", tmpl);
	else
		snprintf(out, n, "%.*s%s%s", (int)(pct - tmpl), tmpl,
		    p->ops->name, pct + 2);
}

void
program_detach(struct program *p)
{
	char err[1024], pidfile[CONFIG_STR + 32];

	if (p->foreground)
		return;
	pidfile_path(p, pidfile, sizeof(pidfile));
	if (daemon_detach(pidfile, err, sizeof(err)) != 0)
		fatalx("%s", err);
	p->detached = true;
	log_init(p->ops->name, false, p->cfg.verbose + p->verbose_flags);
	if (p->base != NULL && event_reinit(p->base) != 0)
		fatalx("cannot restart the event loop after fork");
}

void
program_drop(struct program *p, bool oneshot, bool keep_net_admin)
{
	const char *user = p->cfg.user;
	char err[1024];

	p->user = user;
	if (geteuid() != 0) {
		if (user[0] != '\0')
			log_debug("not root: staying the current user");
		return;
	}
	if (oneshot) {
		if (user[0] == '\0')
			return;
		/* A one-shot decode needs no user of its own. */
		if (!daemon_user_exists(user) &&
		    strcmp(user, DAEMON_DEFAULT_USER) == 0)
			user = "nobody";
	}
	p->user = user;
	if (daemon_drop_privileges(user, keep_net_admin, err,
	    sizeof(err)) != 0)
		fatalx("%s", err);
	if (!oneshot && geteuid() == 0)
		log_info("running as root, as asked (user = '%s')", user);
}

/* The policy of program.h, in code. */
void
program_outputs_open(struct program *p, enum program_outputs policy)
{
	const struct config *c = &p->cfg;
	bool journal = policy != PROGRAM_OUTPUTS_ONESHOT || p->db_given;
	/* A daemon's loop never waits for standard output's reader. */
	bool live = policy != PROGRAM_OUTPUTS_ONESHOT;
	struct sink sk;
	char err[4096];

	outputs_init(&p->out);
	p->out.live = live;
	/* Whose rows these are, when programs share the journal. */
	snprintf(p->cfg.origin, sizeof(p->cfg.origin), "%s", p->ops->name);
	if (journal) {
		/* Journal first, then CSV, then the remote outputs. */
		if (outputs_setup(&p->out, c, program_base(p), live, err,
		    sizeof(err)) != 0)
			goto fail;
		if (c->csv[0] != '\0' && policy != PROGRAM_OUTPUTS_SERVICE_LOG)
			return;
	} else if (c->csv[0] != '\0') {
		if (csv_sink_open(c->csv, live, &sk, err,
		    sizeof(err)) != 0)
			goto fail;
		outputs_add(&p->out, &sk);
		return;
	}
	if (p->detached || policy == PROGRAM_OUTPUTS_SERVICE_LOG)
		text_log_sink(&sk);
	else
		text_sink(stdout, live, &sk);
	outputs_add(&p->out, &sk);
	return;
fail:
	if (policy == PROGRAM_OUTPUTS_ONESHOT && geteuid() != 0 &&
	    p->user != NULL && p->user[0] != '\0')
		fatalx("%s (outputs are opened as %s, once the input is open; "
		    "-u '' stays root)", err, p->user);
	fatalx("%s", err);
}

/* ------------------------------------------------------------------ */
/* Signals on the loop */

static void
on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct program *p = arg;

	(void)what;
	notify_stopping();
	if (p->ops->stop != NULL) {
		p->ops->stop(p, (int)sig);
		return;
	}
	log_info("signal %d: stopping", (int)sig);
	event_base_loopbreak(p->base);
}

static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct program *p = arg;

	(void)sig;
	(void)what;
	notify_reloading();	/* READY=1 follows on the loop's next turn */
	log_info("SIGHUP: reopening the outputs%s", p->ops->reload ?
	    " and reading the config again" : "");
	if (p->ops->flush != NULL)
		p->ops->flush(p);
	outputs_reopen(&p->out);
	if (p->ops->reload != NULL)
		p->ops->reload(p);
}

static void
on_usr1(evutil_socket_t sig, short what, void *arg)
{
	struct program *p = arg;

	(void)sig;
	(void)what;
	if (p->ops->stats != NULL)
		p->ops->stats(p, "SIGUSR1");
}

void
program_start(struct program *p, enum program_outputs policy,
    bool keep_net_admin)
{
	static const int signo[4] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	event_callback_fn fn[4] = { on_stop, on_stop, on_hup, on_usr1 };

	/* A peer that goes away is an error return, not a killed process. */
	signal(SIGPIPE, SIG_IGN);
	/* Bound while root may (a low port), failing on the terminal. */
	p->status = status_open(p);
	program_detach(p);
	/* While still root: stderr reopened non-blocking (log.h). */
	if (policy != PROGRAM_OUTPUTS_ONESHOT)
		log_live();
	program_drop(p, false, keep_net_admin);
	/* Outputs are opened as the user that will write them. */
	program_outputs_open(p, policy);
	status_attach(p->status);
	for (int i = 0; i < 4; i++) {
		p->sigs[i] = evsignal_new(program_base(p), signo[i], fn[i], p);
		if (p->sigs[i] == NULL || evsignal_add(p->sigs[i], NULL) != 0)
			fatalx("cannot watch signals");
	}
}

void
program_ready(struct program *p)
{
#ifdef __GLIBC__
	/*
	 * Set up: what start-up freed (the config's text, SQLite's parse of
	 * the schema and of every statement, the migration) lies between
	 * blocks that stay, so free() kept its pages; an idle program's
	 * RSS is ~30 KiB less without them.
	 */
	(void)malloc_trim(0);
#endif
	daemon_ready();
	notify_ready(program_base(p));
}

/* The end of a loop turn with readings in it: write them out. */
static void
on_turn_end(evutil_socket_t fd, short what, void *arg)
{
	struct program *p = arg;

	(void)fd;
	(void)what;
	outputs_turn_end(&p->out);
}

/*
 * An event made active goes to the back of the loop's queue of active
 * events: it runs in this turn, after the callbacks the sockets' readiness
 * queued already (the forwarding of the bytes the reading came in).
 */
static void
arm_turn_end(void *arg)
{
	struct program *p = arg;

	event_active(p->turn_ev, EV_TIMEOUT, 1);
}

void
program_run(struct program *p)
{
	struct event_base *base = program_base(p);

	p->turn_ev = event_new(base, -1, 0, on_turn_end, p);
	if (p->turn_ev != NULL)
		outputs_set_turn(&p->out, arm_turn_end, p);
	event_base_dispatch(base);
	outputs_set_turn(&p->out, NULL, NULL);
	if (p->turn_ev != NULL)
		event_free(p->turn_ev);
	p->turn_ev = NULL;
}

/* ------------------------------------------------------------------ */

static void
on_flush_tick(evutil_socket_t fd, short what, void *arg)
{
	struct program *p = arg;

	(void)fd;
	(void)what;
	if (outputs_backlog(&p->out) == 0)
		event_base_loopbreak(p->base);
}

void
program_flush(struct program *p, int seconds)
{
	struct timeval tick = { 0, 100000 }, limit = { seconds, 0 };
	struct event *ev;
	const char *e;

	/* The replay's readings committed first: delivered in full batches. */
	if (outputs_sync(&p->out, (seconds > 86400 ? 86400 : seconds) * 1000,
	    &e) != 0)
		log_warnx("journal: %s", e);
	if (p->base == NULL || outputs_backlog(&p->out) == 0)
		return;
	if ((ev = event_new(p->base, -1, EV_PERSIST, on_flush_tick, p)) ==
	    NULL)
		return;
	event_add(ev, &tick);
	event_base_loopexit(p->base, &limit);
	event_base_dispatch(p->base);
	event_free(ev);
	if (outputs_backlog(&p->out) > 0)
		log_warnx("%lld readings not yet delivered; they wait in the "
		    "journal for the next run",
		    (long long)outputs_backlog(&p->out));
}

void
program_exit(struct program *p)
{
	/* The pages read the outputs: gone first. */
	status_free(p->status);
	p->status = NULL;
	outputs_teardown(&p->out);
	for (int i = 0; i < 4; i++)
		if (p->sigs[i] != NULL)
			event_free(p->sigs[i]);
	if (p->base != NULL)
		event_base_free(p->base);
	p->base = NULL;
	if (p->detached)
		daemon_remove_pidfile();
}
