/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kitaddr.h: the kits omnik-poll reads, as [poll] kits lists them:
 * "HOST[:PORT]/SERIAL" words, space or comma separated. HOST is a name,
 * an IPv4 address or a bracketed IPv6 one; PORT defaults to 8899; SERIAL
 * is the kit's serial (the number on its label and in its poll request),
 * decimal, 1 .. 4294967295. The config checks each line with it (so an
 * error names its file:line) and the poller parses the whole list once.
 */
#ifndef KITADDR_H
#define KITADDR_H

#include <stddef.h>
#include <stdint.h>

#define KITADDR_PORT 8899
#define KITADDR_HOST_MAX 255
/* Kits one poller reads: each is polled one connection at a time. */
#define KITADDR_MAX 32

struct kitaddr {
	char host[KITADDR_HOST_MAX + 1];	/* without brackets */
	uint16_t port;
	uint32_t serial;
};

/*
 * Parse the list into out[max]: how many (0 for an empty list), or -1
 * with a message naming the word. A kit listed twice is an error: two
 * polls of one kit at once are what it cannot serve.
 */
int kitaddr_parse(const char *list, struct kitaddr *out, int max, char *err,
    size_t errlen);

#endif /* KITADDR_H */
