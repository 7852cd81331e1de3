/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * portal: a stand-in vendor portal for the relay's tests and benchmark.
 * Accepts on ADDR:PORT, keeps what each connection sends (DIR/conn-N.bin),
 * and closes after the peer's FIN. Misbehaviours on demand:
 *
 *   portal [--save DIR] [--reply HEX [--reply-on-data]] [--rst-after N]
 *          [--slow] ADDR:PORT
 *
 *   --reply HEX     send these bytes as soon as a connection is accepted
 *   --reply-on-data ... or once its first bytes came (the real portal
 *                   answers a push with its text frame)
 *   --rst-after N   reset the connection (RST) once N bytes have arrived
 *   --slow          read one byte a second (small receive buffer)
 *   --quiet         no line per connection on stdout
 *
 * One line per closed connection on stdout: "conn N BYTES". SIGTERM ends.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

struct conn {
	struct event *ev;
	int fd, out;
	long n;
	size_t bytes;
	bool replied;
};

static const char *save_dir;
static uint8_t reply[4096];
static size_t reply_len;
static long rst_after = -1;
static int slow, quiet, reply_on_data;
static long nconn;
static struct event_base *base;

static void
conn_close(struct conn *c, bool rst)
{
	struct linger lg = { 1, 0 };

	if (rst)
		(void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	if (!quiet) {
		printf("conn %ld %zu%s\n", c->n, c->bytes, rst ? " rst" : "");
		fflush(stdout);
	}
	event_free(c->ev);
	close(c->fd);
	if (c->out >= 0)
		close(c->out);
	free(c);
}

static void
conn_read(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	uint8_t buf[65536];
	size_t want = slow ? 1 : sizeof(buf);
	ssize_t n;

	(void)what;
	if (rst_after >= 0 && (size_t)rst_after - c->bytes < want)
		want = (size_t)rst_after - c->bytes;
	n = recv(fd, buf, want, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c, false);
		return;
	}
	if (c->out >= 0 && write(c->out, buf, (size_t)n) != n)
		perror("portal: write");
	c->bytes += (size_t)n;
	if (reply_on_data && !c->replied && reply_len > 0) {
		c->replied = true;
		if (send(fd, reply, reply_len, 0) < 0)
			perror("portal: send");
	}
	if (rst_after >= 0 && c->bytes >= (size_t)rst_after)
		conn_close(c, true);
}

static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct conn *c = calloc(1, sizeof(*c));
	struct timeval sec = { 1, 0 };
	char path[4096];

	(void)l;
	(void)sa;
	(void)salen;
	(void)arg;
	if (c == NULL) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->n = nconn++;
	c->out = -1;
	if (save_dir != NULL) {
		snprintf(path, sizeof(path), "%s/conn-%ld.bin", save_dir, c->n);
		c->out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0644);
		if (c->out < 0)
			perror(path);
	}
	if (reply_len > 0 && !reply_on_data && send(fd, reply, reply_len, 0) < 0)
		perror("portal: send");
	if (rst_after == 0) {
		conn_close(c, true);
		return;
	}
	/* Slow: a timer on the socket, one byte per tick. */
	c->ev = event_new(base, fd, slow ? EV_PERSIST : EV_READ | EV_PERSIST,
	    conn_read, c);
	event_add(c->ev, slow ? &sec : NULL);
}

static void
on_term(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	event_base_loopexit(base, NULL);
}

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int
main(int argc, char **argv)
{
	struct addrinfo hints, *res;
	struct evconnlistener *lis;
	struct event *term, *intr;
	struct rlimit rl;
	char host[256], *colon;
	int i, fd, one = 1, small = 1;

	for (i = 1; i < argc - 1; i++) {
		if (strcmp(argv[i], "--save") == 0)
			save_dir = argv[++i];
		else if (strcmp(argv[i], "--reply") == 0) {
			const char *h = argv[++i];

			for (; h[0] && h[1] && reply_len < sizeof(reply); h += 2)
				reply[reply_len++] = (uint8_t)(hexval(h[0]) *
				    16 + hexval(h[1]));
		} else if (strcmp(argv[i], "--rst-after") == 0)
			rst_after = atol(argv[++i]);
		else if (strcmp(argv[i], "--reply-on-data") == 0)
			reply_on_data = 1;
		else if (strcmp(argv[i], "--slow") == 0)
			slow = 1;
		else if (strcmp(argv[i], "--quiet") == 0)
			quiet = 1;
		else
			break;
	}
	if (i != argc - 1 || (colon = strrchr(argv[i], ':')) == NULL ||
	    (size_t)(colon - argv[i]) >= sizeof(host)) {
		fprintf(stderr, "usage: portal [--save DIR] [--reply HEX] "
		    "[--rst-after N] [--slow] [--quiet] ADDR:PORT\n");
		return 2;
	}
	memcpy(host, argv[i], (size_t)(colon - argv[i]));
	host[colon - argv[i]] = '\0';
	if (host[0] == '[' && colon > argv[i] + 1 && colon[-1] == ']') {
		/* [IPv6]:PORT */
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if (getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &res) != 0) {
		fprintf(stderr, "portal: bad address %s\n", argv[i]);
		return 2;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (slow)	/* the kernel rounds it up to its minimum */
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small,
		    sizeof(small));
	if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
		perror("portal: bind");
		return 1;
	}
	freeaddrinfo(res);
	base = event_base_new();
	lis = evconnlistener_new(base, accept_cb, NULL, LEV_OPT_CLOSE_ON_FREE,
	    1024, fd);
	if (lis == NULL) {
		perror("portal: listen");
		return 1;
	}
	term = evsignal_new(base, SIGTERM, on_term, NULL);
	intr = evsignal_new(base, SIGINT, on_term, NULL);
	evsignal_add(term, NULL);
	evsignal_add(intr, NULL);
	printf("listening\n");
	fflush(stdout);
	event_base_dispatch(base);
	evconnlistener_free(lis);
	event_free(term);
	event_free(intr);
	event_base_free(base);
	return 0;
}
