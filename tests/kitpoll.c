/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kitpoll: a kit to be polled, for omnik-poll's end-to-end tests. One
 * client at a time, as a real kit serves them.
 *
 *   kitpoll --tcp ADDR:PORT --serial N [--mode MODE] [--inverters N]
 *   kitpoll --http ADDR:PORT --page KIND [--auth USER:PASS]
 *
 * --tcp answers the 16-byte poll request (40 30) for kit N:
 *   answer    a data frame per inverter, "DATA SEND IS OK", 68 x 0xFF
 *   filler    the data frames and the filler, no text
 *   nodata    "NO INVERTER DATA"
 *   silent    reads the request, never answers
 *   midframe  half a data frame, then closes
 * A request that is not a valid 40 30 frame for kit N gets no answer
 * ("bad request" on stdout). Answer k (0-based) carries E total
 * 10000 + k, so every answer is a distinct reading.
 *
 * --http serves one status page KIND at its path, 404 elsewhere:
 *   js (/js/status.js, webData), array (/js/status.js, myDeviceArray),
 *   json (/status.json), html (/status.html), xxx, equal, novalue
 *   (/js/status.js, the known garbage), huge (/js/status.js, 1 MiB);
 *   none: every page 404. With --auth the page wants Basic auth: 401
 *   without it or with other credentials.
 *
 * --save DIR (with --tcp): each answer's frames, without the filler, also
 * go to DIR/answer-K.bin, the push the kit would send of the same sample
 * (for the tests of a poller and a relay on one journal).
 *
 * Every request is logged on stdout, one line each, flushed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "omnik.h"

static uint32_t serial;
static const char *mode = "answer";
static const char *page;
static char auth_b64[256];
static int inverters = 1;
static long answers;
static const char *save_dir;

static int
listen_on(const char *spec)
{
	char host[128], *colon;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICHOST | AI_PASSIVE };
	struct addrinfo *ai;
	int fd, one = 1;

	snprintf(host, sizeof(host), "%s", spec);
	if ((colon = strrchr(host, ':')) == NULL)
		return -1;
	*colon = '\0';
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
		return -1;
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
	    listen(fd, 4) != 0) {
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static void
put(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w <= 0)
			return;
		c += w;
		n -= (size_t)w;
	}
}

static size_t
data_frames(uint8_t *out, size_t cap, long k)
{
	size_t len = 0, fl;

	for (int i = 0; i < inverters; i++) {
		struct omnik_reading r;

		omnik_reading_clear(&r);
		r.kit_sn = serial;
		r.ctrl1 = 0x41;
		/* One kit's inverters, apart from every other kit's. */
		snprintf(r.inverter_sn, sizeof(r.inverter_sn), "NL%010lu%04d",
		    (unsigned long)serial, (i + 1) % 10000);
		r.value[OMNIK_TEMP] = 310;
		r.value[OMNIK_VPV1] = 2500;
		r.value[OMNIK_IPV1] = 30;
		r.value[OMNIK_IAC1] = 25;
		r.value[OMNIK_VAC1] = 2310;
		r.value[OMNIK_FAC1] = 5001;
		r.value[OMNIK_PAC1] = 500 + k;
		r.value[OMNIK_ETODAY] = 100 + k;
		r.value[OMNIK_ETOTAL] = 10000 + k;
		r.value[OMNIK_HTOTAL] = 1000 + k;
		r.value[OMNIK_RUNMODE] = 1;
		if (omnik_encode_data(&r, 0x7D, out + len, cap - len, &fl) !=
		    OMNIK_OK)
			exit(1);
		len += fl;
	}
	return len;
}

/* Until the peer closes, or 30 s. */
static void
drain(int fd)
{
	char buf[512];
	struct timeval tv = { 30, 0 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (read(fd, buf, sizeof(buf)) > 0)
		;
}


/* The answer as a push: DIR/answer-K.bin, written whole or not at all. */
static void
save_answer(const uint8_t *buf, size_t len, long k)
{
	char path[4096], tmp[4200];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/answer-%ld.bin", save_dir, k);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fp = fopen(tmp, "wb")) == NULL)
		return;
	if (fwrite(buf, 1, len, fp) != len || fclose(fp) != 0) {
		unlink(tmp);
		return;
	}
	rename(tmp, path);
}
static void
serve_tcp(int c)
{
	uint8_t req[64], out[4096];
	size_t got = 0, len, tl;
	struct omnik_msg m;
	struct timeval tv = { 10, 0 };

	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (got < 16) {
		ssize_t n = read(c, req + got, 16 - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got != 16 || omnik_decode(req, 16, &m) != OMNIK_OK ||
	    m.kind != OMNIK_MSG_REQUEST || m.ctrl2 != 0x30 ||
	    m.kit_sn != serial) {
		printf("bad request (%zu bytes):", got);
		for (size_t i = 0; i < got; i++)
			printf(" %02x", req[i]);
		printf("\n");
		fflush(stdout);
		return;
	}
	printf("request kit %lu checksum %02x\n", (unsigned long)m.kit_sn,
	    req[14]);
	fflush(stdout);
	if (strcmp(mode, "silent") == 0) {
		drain(c);
		return;
	}
	if (strcmp(mode, "nodata") == 0) {
		omnik_encode_text(serial, 0x41, "NO INVERTER DATA", out,
		    sizeof(out), &len);
		put(c, out, len);
		drain(c);
		return;
	}
	len = data_frames(out, sizeof(out) - 200, answers++);
	if (strcmp(mode, "midframe") == 0) {
		put(c, out, len / 2);
		return;
	}
	if (strcmp(mode, "answer") == 0) {
		omnik_encode_text(serial, 0x41, "DATA SEND IS OK\r\n",
		    out + len, sizeof(out) - len, &tl);
		len += tl;
	}
	if (save_dir != NULL)
		save_answer(out, len, answers - 1);
	memset(out + len, 0xFF, 68);
	len += 68;
	put(c, out, len);
	drain(c);
}

/* Base64 of USER:PASS, as the Authorization header carries it. */
static void
b64(const char *in, char *out, size_t cap)
{
	static const char t[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(in), o = 0;

	for (size_t i = 0; i < n && o + 5 < cap; i += 3) {
		unsigned v = (unsigned char)in[i] << 16;

		if (i + 1 < n)
			v |= (unsigned char)in[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)in[i + 2];
		out[o++] = t[v >> 18 & 63];
		out[o++] = t[v >> 12 & 63];
		out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? t[v & 63] : '=';
	}
	out[o] = '\0';
}

static void
respond(int c, const char *status, const char *extra, const char *body,
    size_t len)
{
	char head[512];
	int n = snprintf(head, sizeof(head), "HTTP/1.0 %s\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n%s\r\n", status, len,
	    extra);

	put(c, head, (size_t)n);
	put(c, body, len);
}

static void
serve_http(int c)
{
	char req[4096], path[256], body[1024], want[300];
	const char *page_path = "/js/status.js";
	size_t got = 0;
	long k;
	struct timeval tv = { 10, 0 };

	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (got < sizeof(req) - 1) {
		ssize_t n = read(c, req + got, sizeof(req) - 1 - got);

		if (n <= 0)
			break;
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	req[got] = '\0';
	if (sscanf(req, "GET %255s ", path) != 1)
		return;
	if (strcmp(page, "json") == 0)
		page_path = "/status.json?CMD=inv_query";
	else if (strcmp(page, "html") == 0)
		page_path = "/status.html";
	snprintf(want, sizeof(want), "Authorization: Basic %s\r\n", auth_b64);
	printf("GET %s%s\n", path, strstr(req, "Authorization:") ?
	    " (with credentials)" : "");
	fflush(stdout);
	if (strcmp(page, "none") == 0 || strcmp(path, page_path) != 0) {
		respond(c, "404 Not Found", "", "not found", 9);
		return;
	}
	if (auth_b64[0] && strstr(req, want) == NULL) {
		respond(c, "401 Unauthorized",
		    "WWW-Authenticate: Basic realm=\"USER LOGIN\"\r\n",
		    "401", 3);
		return;
	}
	k = answers++;
	if (strcmp(page, "js") == 0)
		snprintf(body, sizeof(body), "var version=\"H4.01\";\r\n"
		    "var webData=\"NLDN1020154F2031,V5.07Build230,"
		    "V4.13Build253,omnik2000tl ,2000,%ld,%ld,%ld,,1,\";\r\n",
		    1400 + k, 400 + k, 87556 + k);
	else if (strcmp(page, "array") == 0)
		snprintf(body, sizeof(body), "myDeviceArray[0]=\"AANN3020,"
		    "V5.04,V4.13,OMNIK3000TL,3000,%ld,%ld,%ld,,1,\";\r\n",
		    1200 + k, 1100 + k, 60958 + k);
	else if (strcmp(page, "json") == 0)
		snprintf(body, sizeof(body), "{\"g_sn\":%lu,\"i_sn\":"
		    "\"NLBN50201894N038\",\"i_ver_m\":\"V5.27\",\"i_ver_s\":"
		    "\"V5.43\",\"i_modle\":\"omnik5000tl2\",\"i_pow\":\"5000\","
		    "\"i_pow_n\":%ld,\"i_eday\":\"0.%02ld\",\"i_eall\":"
		    "\"143.%ld\",\"i_alarm\":\"\"}", (unsigned long)serial,
		    290 + k, 41 + k % 50, k % 10);
	else if (strcmp(page, "html") == 0)
		snprintf(body, sizeof(body), "<html><head><script>\n"
		    "var webData=\"NLBN1020157M6006,V5.07,V4.13,omnik3000tl,"
		    "3000,%ld,%ld,%ld,,1,\";\n</script></head><body>Status"
		    "</body></html>\n", 500 + k, 90 + k, 48739 + k);
	else if (strcmp(page, "xxx") == 0)
		snprintf(body, sizeof(body), "var webData=\"XXXXXXXXXXXXXXXX,"
		    ",,,,0,0,0,,\";\r\n");
	else if (strcmp(page, "equal") == 0)
		snprintf(body, sizeof(body), "var webData=\"NLDN1020154F2031,"
		    "a,b,m,2000,100,87556,87556,,\";\r\n");
	else if (strcmp(page, "novalue") == 0)
		snprintf(body, sizeof(body), "var webData=\"NLDN1020154F2031,"
		    "a,b,m,2000,4294967295,429,87556,,\";\r\n");
	else if (strcmp(page, "huge") == 0) {
		char *big = malloc(1 << 20);

		memset(big, 'a', 1 << 20);
		respond(c, "200 OK", "", big, 1 << 20);
		free(big);
		return;
	}
	respond(c, "200 OK", "Content-Type: text/javascript\r\n", body,
	    strlen(body));
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "tcp", required_argument, NULL, 't' },
		{ "http", required_argument, NULL, 'w' },
		{ "serial", required_argument, NULL, 's' },
		{ "mode", required_argument, NULL, 'm' },
		{ "page", required_argument, NULL, 'p' },
		{ "auth", required_argument, NULL, 'a' },
		{ "inverters", required_argument, NULL, 'i' },
		{ "save", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	const char *tcp = NULL, *http = NULL;
	int ch, fd;

	signal(SIGPIPE, SIG_IGN);
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 't': tcp = optarg; break;
		case 'w': http = optarg; break;
		case 's': serial = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'm': mode = optarg; break;
		case 'p': page = optarg; break;
		case 'a': b64(optarg, auth_b64, sizeof(auth_b64)); break;
		case 'i': inverters = atoi(optarg); break;
		case 'S': save_dir = optarg; break;
		default: return 2;
		}
	}
	if ((tcp == NULL) == (http == NULL) || (http && page == NULL) ||
	    inverters < 1 || inverters > 8) {
		fprintf(stderr, "usage: kitpoll --tcp ADDR:PORT --serial N "
		    "[--mode M] | --http ADDR:PORT --page KIND [--auth U:P]\n");
		return 2;
	}
	if ((fd = listen_on(tcp ? tcp : http)) < 0) {
		perror("kitpoll: listen");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	for (;;) {
		int c = accept(fd, NULL, NULL);

		if (c < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (tcp)
			serve_tcp(c);
		else
			serve_http(c);
		close(c);
	}
}
