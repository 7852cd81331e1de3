/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dynlib.c: load a library by soname and fill its symbol table (see
 * dynlib.h).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "dynlib.h"

/* dlerror() names the file first: once in the message is enough. */
static const char *
why(const char *soname)
{
	const char *e = dlerror();
	size_t n = strlen(soname);

	if (e == NULL)
		return "unknown error";
	if (strncmp(e, soname, n) == 0 && e[n] == ':' && e[n + 1] == ' ')
		return e + n + 2;
	return e;
}

int
dynlib_load(struct dynlib *lib, char *err, size_t errlen)
{
	void *h;

	if (lib->loaded)
		return 0;
	/*
	 * RTLD_NOW: a library missing a dependency or a symbol fails here,
	 * at start-up, not at the first delivery. Never closed: the
	 * libraries keep threads, atexit handlers and TLS keys of their own.
	 */
	h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		snprintf(err, errlen, "%s: cannot load %s: %s (install the %s "
		    "package)", lib->what, lib->soname, why(lib->soname),
		    lib->package);
		return -1;
	}
	for (size_t i = 0; i < lib->nsyms; i++) {
		void *p;

		(void)dlerror();
		p = dlsym(h, lib->syms[i].name);
		if (p == NULL) {
			snprintf(err, errlen, "%s: %s has no %s: too old? "
			    "(install a current %s package)", lib->what,
			    lib->soname, lib->syms[i].name, lib->package);
			return -1;
		}
		/* POSIX: a function pointer has a void *'s representation. */
		memcpy((char *)lib->table + lib->syms[i].offset, &p, sizeof(p));
	}
	lib->loaded = true;
	return 0;
}
