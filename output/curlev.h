/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * curlev.h: HTTP(S) requests from the program's event loop, curl's multi
 * interface driven by libevent (the scheme of curl's hiperfifo example):
 * curl says which sockets to watch and when to call it back; nothing
 * blocks. For every output that speaks HTTP (PVOutput today).
 *
 *   curlev_load(who)          libcurl, loaded at run time (dynlib.h) the
 *                             first time an output needs it; its error
 *                             names `who` ("PVOutput output: cannot
 *                             load libcurl.so.4: ... (install libcurl4)")
 *   curlev_new(base, done)    one multi handle on the loop
 *   curlev_add(m, easy)       start a request set up with curl_easy_*;
 *                             done(arg, easy, result) is called on the
 *                             loop when it ends (CURLOPT_PRIVATE is free
 *                             for the caller)
 *   curlev_remove(m, easy)    stop it (before curl_easy_cleanup)
 *   curlev_free(m)
 *   curlev_body_write         CURLOPT_WRITEFUNCTION into a caller's
 *                             buffer (struct curlev_body), bounded
 *
 * The curl_* names below are the loaded library's: a file that includes
 * this header calls them as usual, once curlev_load() succeeded.
 */
#ifndef CURLEV_H
#define CURLEV_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "dynlib.h"

struct event_base;
struct curlev;

/*
 * curl.h makes the *_setopt/getinfo names macros (gcc's option type
 * checks): those checks go, as they do in every non-gcc build.
 */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_multi_setopt
#define CURLEV_SYMBOLS(X) \
	X(curl_easy_cleanup) X(curl_easy_getinfo) X(curl_easy_init) \
	X(curl_easy_perform) X(curl_easy_setopt) X(curl_easy_strerror) X(curl_global_init) \
	X(curl_multi_add_handle) X(curl_multi_assign) X(curl_multi_cleanup) \
	X(curl_multi_info_read) X(curl_multi_init) \
	X(curl_multi_remove_handle) X(curl_multi_setopt) \
	X(curl_multi_socket_action) X(curl_slist_append) \
	X(curl_slist_free_all)

struct curlev_api { CURLEV_SYMBOLS(DYNLIB_MEMBER) };
extern struct curlev_api curlev_curl;


/* 0, or -1 with a message in err. Loads (and initialises) libcurl once. */
int curlev_load(const char *who, char *err, size_t errlen);
/* NULL when out of memory. Call curlev_load() first. */
struct curlev *curlev_new(struct event_base *base,
    void (*done)(void *arg, CURL *easy, CURLcode result), void *arg);
/* 0, or -1 (the request was not started). */
int curlev_add(struct curlev *m, CURL *easy);
void curlev_remove(struct curlev *m, CURL *easy);
void curlev_free(struct curlev *m);

/*
 * A reply body kept in buf (size bytes, the caller's). A body larger than
 * the buffer sets cut, and then either ends the transfer (a page that is
 * too long is not a page: the poller) or, with keep_prefix, keeps what
 * fits and takes the rest unread (a reason is at the start of an error
 * reply: the outputs); with keep_prefix buf stays NUL-terminated.
 * CURLOPT_WRITEDATA is the struct.
 */
struct curlev_body {
	char *buf;
	size_t size, len;
	bool keep_prefix;
	bool cut;
};
size_t curlev_body_write(char *data, size_t size, size_t nmemb, void *body);
/* Empty it for the next request. */
void curlev_body_reset(struct curlev_body *b);

#endif /* CURLEV_H */

/* The names, after the header (curlev.c builds its table without them). */
#if !defined(CURLEV_NO_NAMES) && !defined(CURLEV_NAMES)
#define CURLEV_NAMES
#define curl_easy_cleanup curlev_curl.curl_easy_cleanup
#define curl_easy_getinfo curlev_curl.curl_easy_getinfo
#define curl_easy_init curlev_curl.curl_easy_init
#define curl_easy_perform curlev_curl.curl_easy_perform
#define curl_easy_setopt curlev_curl.curl_easy_setopt
#define curl_easy_strerror curlev_curl.curl_easy_strerror
#define curl_global_init curlev_curl.curl_global_init
#define curl_multi_add_handle curlev_curl.curl_multi_add_handle
#define curl_multi_assign curlev_curl.curl_multi_assign
#define curl_multi_cleanup curlev_curl.curl_multi_cleanup
#define curl_multi_info_read curlev_curl.curl_multi_info_read
#define curl_multi_init curlev_curl.curl_multi_init
#define curl_multi_remove_handle curlev_curl.curl_multi_remove_handle
#define curl_multi_setopt curlev_curl.curl_multi_setopt
#define curl_multi_socket_action curlev_curl.curl_multi_socket_action
#define curl_slist_append curlev_curl.curl_slist_append
#define curl_slist_free_all curlev_curl.curl_slist_free_all
#endif
