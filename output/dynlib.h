/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dynlib.h: a shared library loaded at run time, by the output that
 * needs it, and only when that output is configured.
 *
 * The remote outputs' client libraries (libpq, libmosquitto, libcurl) and
 * their crypto stacks made up most of an idle relay's memory although
 * most users configure none of them; libevent_extra (evhttp, for
 * [http]) likewise. The programs still build against
 * the real headers; each output lists the symbols it calls and reaches
 * them through a table filled by dlsym():
 *
 *   #include <libpq-fe.h>
 *   #define PQ_SYMBOLS(X) X(PQconnectStart) X(PQfinish) ...
 *   static struct pq_api { PQ_SYMBOLS(DYNLIB_MEMBER) } pq;   <- typed
 *   #define PQ_ENTRY(s) DYNLIB_ENTRY(struct pq_api, s)
 *   static const struct dynlib_sym pq_syms[] = { PQ_SYMBOLS(PQ_ENTRY) };
 *   static struct dynlib pq_lib = DYNLIB("PostgreSQL output",
 *       OMNIK_LIBPQ_SONAME, OMNIK_LIBPQ_PACKAGE, pq_syms, &pq);
 *   #define PQfinish pq.PQfinish        <- the body stays unchanged
 *
 *   dynlib_load(&pq_lib, err, n)   at the output's start:
 *     0, the table filled (loaded once per process, never unloaded), or
 *     -1 and "PostgreSQL output: cannot load libpq.so.5: <why> (install
 *     the libpq5 package)" in err.
 *
 * Not thread-safe: outputs are started from the main thread.
 */
#ifndef OMNIK_DYNLIB_H
#define OMNIK_DYNLIB_H

#include <stdbool.h>
#include <stddef.h>

struct dynlib_sym {
	const char *name;
	size_t offset;		/* of its pointer in the library's table */
};

struct dynlib {
	const char *what;	/* who needs it, for messages */
	const char *soname;
	const char *package;	/* where it comes from, for messages */
	const struct dynlib_sym *syms;
	size_t nsyms;
	void *table;		/* the struct of typed function pointers */
	bool loaded;
};

/* A member of the table: a pointer of the symbol's own type. */
#define DYNLIB_MEMBER(sym) __typeof__(&sym) sym;
#define DYNLIB_ENTRY(type, sym) { #sym, offsetof(type, sym) },
#define DYNLIB(what, soname, package, syms, table) \
	{ (what), (soname), (package), (syms), \
	  sizeof(syms) / sizeof((syms)[0]), (table), false }

/*
 * The sonames (and the Debian packages named in the error) can be
 * changed at build time: make LIBCURL_SONAME=libcurl-gnutls.so.4
 * LIBCURL_PACKAGE=libcurl3-gnutls (output/module.mk passes them as -D).
 */
#ifndef OMNIK_LIBPQ_SONAME
#define OMNIK_LIBPQ_SONAME "libpq.so.5"
#endif
#ifndef OMNIK_LIBPQ_PACKAGE
#define OMNIK_LIBPQ_PACKAGE "libpq5"
#endif
#ifndef OMNIK_LIBMOSQUITTO_SONAME
#define OMNIK_LIBMOSQUITTO_SONAME "libmosquitto.so.1"
#endif
#ifndef OMNIK_LIBMOSQUITTO_PACKAGE
#define OMNIK_LIBMOSQUITTO_PACKAGE "libmosquitto1"
#endif
#ifndef OMNIK_LIBCURL_SONAME
#define OMNIK_LIBCURL_SONAME "libcurl.so.4"
#endif
#ifndef OMNIK_LIBCURL_PACKAGE
#define OMNIK_LIBCURL_PACKAGE "libcurl4"
#endif

#ifndef OMNIK_LIBEVENT_EXTRA_SONAME
#define OMNIK_LIBEVENT_EXTRA_SONAME "libevent_extra-2.1.so.7"
#endif
#ifndef OMNIK_LIBEVENT_EXTRA_PACKAGE
#define OMNIK_LIBEVENT_EXTRA_PACKAGE "libevent-extra-2.1-7"
#endif

int dynlib_load(struct dynlib *lib, char *err, size_t errlen);

#endif
