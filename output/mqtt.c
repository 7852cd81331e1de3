/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mqtt.c: the MQTT output.
 *
 *   DOWN --send--> RESOLVING --> CONNECTING --CONNACK 0--> UP: "online",
 *    ^                 |              |          discovery, state messages
 *    +---- error / disconnect (batch retried) ---+          (QoS 1)
 *
 * libmosquitto is used without its thread: mosquitto_connect_async opens
 * a non-blocking socket, and libevent calls mosquitto_loop_read when it
 * is readable, mosquitto_loop_write when the client has bytes queued
 * (mosquitto_want_write) and mosquitto_loop_misc every second for
 * keep-alive and retries. Reconnection is ours (delivery back-off), so
 * the batch in flight is published again on the new connection.
 *
 * RESOLVING: mosquitto_connect_async looks the broker's name up with a
 * blocking getaddrinfo. Resolving it ourselves and passing the address
 * would break TLS, whose certificate check uses the name passed. So the
 * whole call runs in a worker thread (resolve.h) on a fresh client that
 * nothing else touches until the thread reports back: libmosquitto is
 * thread safe for that (mosquitto.h: all but mosquitto_lib_init), and
 * connect_async calls none of our callbacks (the CONNECT packet waits
 * for the socket to connect). Name, TLS and everything else stay exactly
 * libmosquitto's; a client whose call timed out is destroyed by its
 * thread.
 *
 * libmosquitto itself is loaded by mqtt_start (dynlib.h), not linked.
 */
#include <errno.h>
#include <event2/event.h>
#include <mosquitto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "delivery.h"
#include "dynlib.h"
#include "journal.h"
#include "log.h"
#include "mqtt.h"
#include "mqtt_int.h"
#include "resolve.h"

/* libmosquitto, loaded at run time: every function this file calls. */
#define MOSQ_SYMBOLS(X) \
	X(mosquitto_connack_string) X(mosquitto_connect_async) \
	X(mosquitto_connect_callback_set) X(mosquitto_destroy) \
	X(mosquitto_disconnect) X(mosquitto_disconnect_callback_set) \
	X(mosquitto_lib_init) X(mosquitto_log_callback_set) \
	X(mosquitto_loop_misc) X(mosquitto_loop_read) \
	X(mosquitto_loop_write) X(mosquitto_new) X(mosquitto_publish) \
	X(mosquitto_publish_callback_set) X(mosquitto_socket) \
	X(mosquitto_strerror) X(mosquitto_tls_set) \
	X(mosquitto_user_data_set) X(mosquitto_username_pw_set) \
	X(mosquitto_want_write) \
	X(mosquitto_will_set)

static struct mosq_api { MOSQ_SYMBOLS(DYNLIB_MEMBER) } mosq;
#define MOSQ_ENTRY(sym) DYNLIB_ENTRY(struct mosq_api, sym)
static const struct dynlib_sym mosq_syms[] = { MOSQ_SYMBOLS(MOSQ_ENTRY) };
static struct dynlib mosq_lib = DYNLIB("MQTT output",
    OMNIK_LIBMOSQUITTO_SONAME, OMNIK_LIBMOSQUITTO_PACKAGE, mosq_syms, &mosq);

#define mosquitto_connack_string mosq.mosquitto_connack_string
#define mosquitto_connect_async mosq.mosquitto_connect_async
#define mosquitto_connect_callback_set mosq.mosquitto_connect_callback_set
#define mosquitto_destroy mosq.mosquitto_destroy
#define mosquitto_disconnect mosq.mosquitto_disconnect
#define mosquitto_disconnect_callback_set \
	mosq.mosquitto_disconnect_callback_set
#define mosquitto_lib_init mosq.mosquitto_lib_init
#define mosquitto_log_callback_set mosq.mosquitto_log_callback_set
#define mosquitto_loop_misc mosq.mosquitto_loop_misc
#define mosquitto_loop_read mosq.mosquitto_loop_read
#define mosquitto_loop_write mosq.mosquitto_loop_write
#define mosquitto_new mosq.mosquitto_new
#define mosquitto_publish mosq.mosquitto_publish
#define mosquitto_publish_callback_set mosq.mosquitto_publish_callback_set
#define mosquitto_socket mosq.mosquitto_socket
#define mosquitto_strerror mosq.mosquitto_strerror
#define mosquitto_tls_set mosq.mosquitto_tls_set
#define mosquitto_user_data_set mosq.mosquitto_user_data_set
#define mosquitto_username_pw_set mosq.mosquitto_username_pw_set
#define mosquitto_want_write mosq.mosquitto_want_write
#define mosquitto_will_set mosq.mosquitto_will_set

#define MQTT_CONNECT_TIMEOUT_S 15
#define MQTT_RETRY_MIN_MS 500
#define MQTT_RETRY_MAX_MS 30000

/* A worker thread's job: connect_async on a client only it holds. */
struct mq_job {
	struct mosquitto *m;
	char host[CONFIG_STR];
	int port, keepalive;
	int rc, err;		/* MOSQ_ERR_*, errno */
	char tls_err[96];	/* OpenSSL's reason, if the handshake ended here */
};

static void mq_down(struct mqtt *q, const char *why);
static void publish_batch(struct mqtt *q);
static void republish(struct mqtt *q);

/*
 * libmosquitto's own return code for any TLS failure says only "A TLS
 * error occurred"; OpenSSL's reason (certificate verify failed...) comes
 * through its log callback. Keep it for the log line. A handshake can
 * end inside mosquitto_connect_async, in the lookup thread: there the
 * client's user data and log callback are the job's (on_job_log).
 */
static void
keep_tls_reason(char *buf, size_t n, int level, const char *str)
{
	const char *reason = strstr(str, "::");

	if (level == MOSQ_LOG_ERR && strncmp(str, "OpenSSL Error", 13) == 0 &&
	    buf[0] == '\0')
		snprintf(buf, n, "%s", reason ? reason + 2 : str);
}

static void
on_log(struct mosquitto *m, void *arg, int level, const char *str)
{
	struct mqtt *q = arg;

	(void)m;
	keep_tls_reason(q->tls_err, sizeof(q->tls_err), level, str);
}

/* The same in the lookup thread, where the client's user data is the job. */
static void
on_job_log(struct mosquitto *m, void *arg, int level, const char *str)
{
	struct mq_job *job = arg;

	(void)m;
	keep_tls_reason(job->tls_err, sizeof(job->tls_err), level, str);
}

/*
 * Why the link failed, for the log. A TLS alert from the broker (no
 * client certificate) comes back as a socket error: OpenSSL's reason,
 * when there is one, is the better answer.
 */
static const char *
fail_reason(struct mqtt *q, int rc, const char *errno_text)
{
	if (rc == MOSQ_ERR_TLS || (rc == MOSQ_ERR_ERRNO && q->tls_err[0])) {
		snprintf(q->last_err, sizeof(q->last_err), "TLS: %s (check "
		    "[mqtt] cafile, certfile and host)",
		    q->tls_err[0] ? q->tls_err : "no reason given");
		return q->last_err;
	}
	return rc == MOSQ_ERR_ERRNO ? errno_text : mosquitto_strerror(rc);
}

static void
update_write(struct mqtt *q)
{
	if (q->ev_write && q->m && mosquitto_want_write(q->m))
		event_add(q->ev_write, NULL);
}

static void
on_read(evutil_socket_t fd, short what, void *arg)
{
	struct mqtt *q = arg;
	int rc;

	(void)fd;
	(void)what;
	rc = mosquitto_loop_read(q->m, 16);
	if (rc != MOSQ_ERR_SUCCESS && q->state != MQ_DOWN) {
		mq_down(q, fail_reason(q, rc, "connection lost"));
		return;
	}
	update_write(q);
}

static void
on_write(evutil_socket_t fd, short what, void *arg)
{
	struct mqtt *q = arg;
	int rc;

	(void)fd;
	(void)what;
	rc = mosquitto_loop_write(q->m, 16);
	if (rc != MOSQ_ERR_SUCCESS && q->state != MQ_DOWN) {
		mq_down(q, fail_reason(q, rc, "cannot connect"));
		return;
	}
	update_write(q);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct mqtt *q = arg;

	(void)fd;
	(void)what;
	if (q->state == MQ_DOWN || q->state == MQ_RESOLVING)
		return;		/* the lookup has a timeout of its own */
	if (q->state == MQ_CONNECTING &&
	    time(NULL) - q->connect_started > MQTT_CONNECT_TIMEOUT_S) {
		mq_down(q, "no CONNACK from the broker");
		return;
	}
	if (mosquitto_loop_misc(q->m) != MOSQ_ERR_SUCCESS) {
		mq_down(q, "keep-alive failed");
		return;
	}
	update_write(q);
}

static void
drop_events(struct mqtt *q)
{
	if (q->ev_read) {
		event_free(q->ev_read);
		q->ev_read = NULL;
	}
	if (q->ev_write) {
		event_free(q->ev_write);
		q->ev_write = NULL;
	}
}

/* The next connection attempt, after a back-off that grows to 30 s. */
static void
arm_retry(struct mqtt *q)
{
	struct timeval tv;

	q->retry_ms = q->retry_ms == 0 ? MQTT_RETRY_MIN_MS : q->retry_ms * 2;
	if (q->retry_ms > MQTT_RETRY_MAX_MS)
		q->retry_ms = MQTT_RETRY_MAX_MS;
	tv.tv_sec = q->retry_ms / 1000;
	tv.tv_usec = (q->retry_ms % 1000) * 1000;
	evtimer_add(q->retry, &tv);
	log_debug("output mqtt: next try in %d ms", q->retry_ms);
}

static void
mq_down(struct mqtt *q, const char *why)
{
	snprintf(q->down_err, sizeof(q->down_err), "%s:%d: %s", q->host,
	    q->port, why);
	if (q->state != MQ_DOWN)
		log_warnx("output mqtt: %s", q->down_err);
	q->state = MQ_DOWN;
	drop_events(q);
	/*
	 * This may run inside a libmosquitto callback, so the client is
	 * destroyed at the next connect; the link is cut now. A fresh
	 * client per connection also drops the library's own queue of
	 * unacknowledged messages: the batch is published again by us,
	 * once, not a second time by the library.
	 */
	if (q->m && mosquitto_socket(q->m) >= 0)
		(void)shutdown(mosquitto_socket(q->m), SHUT_RDWR);
	/*
	 * The batch stays ours and goes again, acknowledged messages too,
	 * on the next connection: a broker without persistence that
	 * PUBACKed and then went down never passed them on. At least once,
	 * as QoS 1 promises; never lost. The reconnection is ours, not the
	 * delivery's: Home Assistant needs "online" and the last state at
	 * night too, when no reading comes to start a connection.
	 */
	q->published = false;
	if (!evtimer_pending(q->retry, NULL))
		arm_retry(q);
}

static void
on_connect(struct mosquitto *m, void *arg, int rc)
{
	struct mqtt *q = arg;

	(void)m;
	if (rc != 0) {
		snprintf(q->last_err, sizeof(q->last_err), "broker refused "
		    "the connection: %s", mosquitto_connack_string(rc));
		mq_down(q, q->last_err);
		return;
	}
	log_info("output mqtt: connected to %s:%d", q->host, q->port);
	q->state = MQ_UP;
	q->retry_ms = 0;
	(void)mosquitto_publish(q->m, NULL, q->status_topic, 6, "online", 1,
	    true);
	republish(q);
	if (q->nrows > 0)
		publish_batch(q);
	update_write(q);
}

static void
on_disconnect(struct mosquitto *m, void *arg, int rc)
{
	struct mqtt *q = arg;

	(void)m;
	if (q->state != MQ_DOWN)
		mq_down(q, rc == 0 ? "disconnected" :
		    fail_reason(q, MOSQ_ERR_ERRNO, "connection lost"));
}

static void
on_publish(struct mosquitto *m, void *arg, int mid)
{
	struct mqtt *q = arg;
	int n;

	(void)m;
	if (q->nrows == 0 || !q->published)
		return;
	for (int i = 0; i < q->nrows; i++) {
		if (q->mids[i] == mid && !q->acked[i]) {
			q->acked[i] = true;
			q->nacked++;
		}
	}
	if (q->nacked == q->nrows) {
		n = q->nrows;
		q->nrows = 0;
		delivery_done(q->d, n, DELIVERY_OK, 0);
	}
}
/* Discovery configs of the inverter's sensors not yet sent on this link. */
static void
announce(struct mqtt *q, struct mq_inv *v)
{
	char topic[256], payload[JSON_MAX];

	if (!q->discovery || !v->has_last)
		return;
	for (int i = 0; i < mqtt_sensor_count(); i++) {
		if (!(v->sensors & (1u << i)) || (v->announced & (1u << i)))
			continue;
		if (mq_discovery_json(q, v, i, topic, sizeof(topic), payload,
		    sizeof(payload)) != 0)
			continue;
		if (mosquitto_publish(q->m, NULL, topic, (int)strlen(payload),
		    payload, 1, true) == MOSQ_ERR_SUCCESS)
			v->announced |= 1u << i;
	}
}
/*
 * On every new connection: the discovery configs and the last state of
 * every inverter known, but for those whose newer rows are in the batch
 * about to go (the broker may have lost its retained messages; after a
 * restart at night this is all Home Assistant gets until sunrise).
 */
static void
republish(struct mqtt *q)
{
	char topic[160], id[40], json[JSON_MAX];
	size_t len;

	for (int i = 0; i < q->ninv; i++) {
		struct mq_inv *v = &q->inv[i];
		bool in_batch = false;

		v->announced = 0;
		if (!v->has_last)
			continue;
		announce(q, v);
		for (int k = 0; k < q->nrows && !in_batch; k++)
			in_batch = strcmp(q->rows[k].r.inverter_sn, v->sn) == 0;
		if (in_batch)
			continue;
		len = mq_state_json(&v->last, v, json, sizeof(json));
		mq_safe_id(v->sn, id, sizeof(id));
		snprintf(topic, sizeof(topic), "%s/%s/state", q->prefix, id);
		if (len > 0)
			(void)mosquitto_publish(q->m, NULL, topic, (int)len,
			    json, 1, true);
	}
}

static void
publish_batch(struct mqtt *q)
{
	char topic[160], id[40], json[JSON_MAX];
	int rc;

	q->nacked = 0;
	q->published = true;
	for (int i = 0; i < q->nrows; i++) {
		const struct journal_row *row = &q->rows[i];
		struct mq_inv *v = mq_inv_get(q, row->r.inverter_sn);
		size_t len;

		mq_learn(q, v, row);
		len = mq_state_json(row, v, json, sizeof(json));
		q->acked[i] = false;
		q->mids[i] = -1;
		announce(q, v);
		mq_safe_id(row->r.inverter_sn, id, sizeof(id));
		snprintf(topic, sizeof(topic), "%s/%s/state", q->prefix, id);
		rc = mosquitto_publish(q->m, &q->mids[i], topic, (int)len,
		    json, 1, true);
		if (rc != MOSQ_ERR_SUCCESS) {
			mq_down(q, mosquitto_strerror(rc));
			return;
		}
	}
	update_write(q);
}

static int
client_new(struct mqtt *q, char *err, size_t errlen)
{
	const struct mqtt_conf *cfg = &q->cfg;
	int rc;

	if (q->m)
		mosquitto_destroy(q->m);
	q->m = mosquitto_new(q->client_id, true, q);
	if (q->m == NULL) {
		snprintf(err, errlen, "cannot create an MQTT client");
		return -1;
	}
	mosquitto_connect_callback_set(q->m, on_connect);
	mosquitto_disconnect_callback_set(q->m, on_disconnect);
	mosquitto_publish_callback_set(q->m, on_publish);
	rc = mosquitto_will_set(q->m, q->status_topic, 7, "offline", 1, true);
	if (rc == MOSQ_ERR_SUCCESS && cfg->username[0])
		rc = mosquitto_username_pw_set(q->m, cfg->username,
		    cfg->password[0] ? cfg->password : NULL);
	if (rc == MOSQ_ERR_SUCCESS && cfg->tls)
		rc = mosquitto_tls_set(q->m,
		    cfg->cafile[0] ? cfg->cafile : NULL,
		    cfg->cafile[0] ? NULL : "/etc/ssl/certs",
		    cfg->certfile[0] ? cfg->certfile : NULL,
		    cfg->keyfile[0] ? cfg->keyfile : NULL, NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		snprintf(err, errlen, "[mqtt]: %s", mosquitto_strerror(rc));
		return -1;
	}
	return 0;
}

/* In a worker thread: the name lookup and the non-blocking connect. */
static void
job_work(void *arg)
{
	struct mq_job *job = arg;

	errno = 0;
	job->rc = mosquitto_connect_async(job->m, job->host, job->port,
	    job->keepalive);
	job->err = errno;
}

/* The loop gave up on the job (timeout, or the output freed). */
static void
job_discard(void *arg)
{
	struct mq_job *job = arg;

	mosquitto_destroy(job->m);	/* calls none of our callbacks */
	free(job);
}

static void
on_connected(void *arg, void *job_arg, int err)
{
	struct mqtt *q = arg;
	struct mq_job *job = job_arg;
	char why[160];
	int rc, fd;

	if (err != 0) {
		snprintf(why, sizeof(why), "name lookup: no answer for %d s",
		    MQTT_CONNECT_TIMEOUT_S);
		mq_down(q, why);
		return;
	}
	q->m = job->m;
	rc = job->rc;
	err = job->err;
	snprintf(q->tls_err, sizeof(q->tls_err), "%s", job->tls_err);
	free(job);
	/* The client is the loop's again: its callbacks get q. */
	mosquitto_user_data_set(q->m, q);
	mosquitto_log_callback_set(q->m, on_log);
	q->state = MQ_CONNECTING;
	q->connect_started = time(NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		if (rc == MOSQ_ERR_ERRNO && err != 0) {
			snprintf(why, sizeof(why), "cannot connect: %s",
			    strerror(err));
			mq_down(q, why);
		} else {
			mq_down(q, fail_reason(q, rc, "cannot connect"));
		}
		return;
	}
	fd = mosquitto_socket(q->m);
	q->ev_read = event_new(q->base, fd, EV_READ | EV_PERSIST, on_read, q);
	q->ev_write = event_new(q->base, fd, EV_WRITE, on_write, q);
	if (q->ev_read == NULL || q->ev_write == NULL ||
	    event_add(q->ev_read, NULL) != 0) {
		mq_down(q, "out of memory");
		return;
	}
	update_write(q);
}

static int
mq_connect(struct mqtt *q)
{
	struct mq_job *job;

	if (client_new(q, q->last_err, sizeof(q->last_err)) != 0) {
		q->state = MQ_CONNECTING;
		mq_down(q, q->last_err);
		return -1;
	}
	q->state = MQ_RESOLVING;
	job = calloc(1, sizeof(*job));
	if (job == NULL) {
		mq_down(q, "out of memory");
		return -1;
	}
	snprintf(job->host, sizeof(job->host), "%s", q->host);
	job->port = q->port;
	job->keepalive = q->keepalive;
	job->m = q->m;
	mosquitto_user_data_set(job->m, job);
	mosquitto_log_callback_set(job->m, on_job_log);
	if (resolve_start(q->res, job_work, job_discard, job,
	    MQTT_CONNECT_TIMEOUT_S * 1000) != 0) {
		snprintf(q->last_err, sizeof(q->last_err), "name lookup: %s",
		    errno == EBUSY ? "an earlier one is still running" :
		    strerror(errno));
		mosquitto_user_data_set(q->m, q);
		mosquitto_log_callback_set(q->m, on_log);
		free(job);
		mq_down(q, q->last_err);
		return -1;
	}
	q->m = NULL;		/* the thread's until on_connected */
	return 0;
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct mqtt *q = arg;

	(void)fd;
	(void)what;
	if (q->state == MQ_DOWN)
		(void)mq_connect(q);
}

static int
mq_send(void *ctx, const struct journal_row *rows, int n)
{
	struct mqtt *q = ctx;

	if (n > MQTT_BATCH)
		n = MQTT_BATCH;
	q->rows = rows;
	q->nrows = n;
	q->published = false;
	if (q->state == MQ_UP)
		publish_batch(q);
	/* Otherwise published on the next CONNACK (a try is due). */
	return 0;
}

static void
mq_free(void *ctx)
{
	struct mqtt *q = ctx;

	if (q == NULL)
		return;
	resolve_free(q->res);	/* a client in a lookup: its thread's */
	drop_events(q);
	if (q->tick)
		event_free(q->tick);
	if (q->retry)
		event_free(q->retry);
	if (q->m) {
		if (q->state == MQ_UP) {
			/* Best effort: the will covers a crash, not this. */
			(void)mosquitto_publish(q->m, NULL, q->status_topic, 7,
			    "offline", 1, true);
			(void)mosquitto_loop_write(q->m, 4);
		}
		/* A stop, not a failure: on_disconnect has nothing to do. */
		q->state = MQ_DOWN;
		q->nrows = 0;
		mosquitto_disconnect(q->m);
		mosquitto_destroy(q->m);
	}
	free(q);
}

static const struct delivery_ops mq_ops = { mq_send, mq_free };
static struct delivery *
mqtt_start(struct journal *j, struct event_base *base,
    const struct mqtt_conf *cfg, char *err, size_t errlen)
{
	struct delivery_opts dopt = { .name = "mqtt", .batch = MQTT_BATCH,
	    .start_at_end = true };
	struct timeval sec = { 1, 0 }, zero = { 0, 0 };
	char host[64];
	struct mqtt *q;

	if (dynlib_load(&mosq_lib, err, errlen) != 0)
		return NULL;
	mosquitto_lib_init();
	q = calloc(1, sizeof(*q));
	if (q == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	q->base = base;
	q->cfg = *cfg;
	q->res = resolve_new(base, on_connected, q);
	if (q->res == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	snprintf(q->host, sizeof(q->host), "%s", cfg->host);
	q->port = cfg->port;
	q->expire_after = cfg->expire_after;
	q->keepalive = cfg->keepalive;
	snprintf(q->prefix, sizeof(q->prefix), "%s", cfg->prefix);
	snprintf(q->disc_prefix, sizeof(q->disc_prefix), "%s",
	    cfg->discovery_prefix);
	q->discovery = cfg->discovery;
	snprintf(q->status_topic, sizeof(q->status_topic), "%s/status",
	    q->prefix);
	if (cfg->client_id[0]) {
		snprintf(q->client_id, sizeof(q->client_id), "%s",
		    cfg->client_id);
	} else {
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "host");
		host[sizeof(host) - 1] = '\0';
		snprintf(q->client_id, sizeof(q->client_id), "omniklog-%s",
		    host);
	}
	/* The settings are checked now, on a client used for nothing else. */
	if (client_new(q, err, errlen) != 0)
		goto fail;
	q->tick = event_new(base, -1, EV_PERSIST, on_tick, q);
	if (q->tick == NULL || event_add(q->tick, &sec) != 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	q->retry = evtimer_new(base, on_retry, q);
	if (q->retry == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (mq_load_known(q, j, err, errlen) != 0)
		goto fail;
	q->d = delivery_new(j, base, &dopt, &mq_ops, q, err, errlen);
	if (q->d == NULL)
		goto fail;
	/* Connect now, not at the first reading: it may be night. */
	evtimer_add(q->retry, &zero);
	return q->d;
fail:
	mq_free(q);
	return NULL;
}

static bool
mqtt_enabled(const void *conf)
{
	const struct mqtt_conf *c = conf;

	return c->host[0] != '\0';
}

static int
mqtt_driver_start(struct journal *j, struct event_base *base,
    const void *conf, struct delivery **out, int max, int *n, char *err,
    size_t errlen)
{
	*n = 0;
	if (max < 1) {
		snprintf(err, errlen, "mqtt: too many outputs");
		return -1;
	}
	if ((out[0] = mqtt_start(j, base, conf, err, errlen)) == NULL)
		return -1;
	*n = 1;
	return 0;
}

static void
mqtt_status(void *ctx, struct output_status *st)
{
	const struct mqtt *q = ctx;

	snprintf(st->last_error, sizeof(st->last_error), "%.255s",
	    q->down_err);
}

const struct output_driver mqtt_driver = {
	.name = "mqtt",
	.section = &mqtt_section,
	.enabled = mqtt_enabled,
	.start = mqtt_driver_start,
	.status = mqtt_status,
};
