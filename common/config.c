/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * config.c: table-driven INI settings, parsed with libinih.
 *
 * inih does not tell its handler the line number, so the file is fed to it
 * through ini_parse_stream() with our own line reader, which counts lines:
 * inih calls the handler for a line before it reads the next one.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"


/*
 * Where a section's struct is: the shared ones are struct config itself,
 * a module's is its slot in c->modules, in config_register() order.
 */
struct sect {
	const struct config_section *s;
	size_t base;		/* offset of its struct in struct config */
	size_t first;		/* index of its first key, over all sections */
};

#define SECTIONS_MAX 32

/*
 * The modules' sections, as the program registered them: config/ sits
 * below the outputs and does not know them; whoever links them in hands
 * their table over before the first config call.
 */
static const struct config_section *const no_modules[] = { NULL };
static const struct config_section *const *modules = no_modules;

void
config_register(const struct config_section *const *table)
{
	modules = table != NULL ? table : no_modules;
}

/* Every section, shared first; returns how many. */
static size_t
sections(struct sect *out)
{
	size_t n = 0, off = 0, first = 0;

	for (size_t i = 0; config_shared[i] != NULL && n < SECTIONS_MAX;
	    i++) {
		out[n].s = config_shared[i];
		out[n].base = 0;
		out[n++].first = first;
		first += config_shared[i]->nkeys;
	}
	for (size_t i = 0; modules[i] != NULL && n < SECTIONS_MAX; i++) {
		const struct config_section *m = modules[i];

		/* The registry checks at build time that they fit. */
		if (off + m->size > CONFIG_MODULES_SIZE)
			break;
		out[n].s = m;
		out[n].base = offsetof(struct config, modules) + off;
		out[n++].first = first;
		first += m->nkeys;
		off += (m->size + CONFIG_MODULE_ALIGN - 1) /
		    CONFIG_MODULE_ALIGN * CONFIG_MODULE_ALIGN;
	}
	return n;
}

static size_t
total_keys(const struct sect *sc, size_t n)
{
	return n == 0 ? 0 : sc[n - 1].first + sc[n - 1].s->nkeys;
}

static const struct sect *
find_section(const struct sect *sc, size_t n, const char *section)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(sc[i].s->name, section) == 0)
			return &sc[i];
	return NULL;
}

static const struct config_key *
find_key(const struct sect *sc, const char *name)
{
	for (size_t i = 0; sc && i < sc->s->nkeys; i++)
		if (strcmp(sc->s->keys[i].name, name) == 0)
			return &sc->s->keys[i];
	return NULL;
}

const void *
config_section_get(const struct config *c, const struct config_section *s)
{
	struct sect sc[SECTIONS_MAX];
	size_t n = sections(sc);

	for (size_t i = 0; i < n; i++)
		if (sc[i].s == s && sc[i].base != 0)
			return (const char *)c + sc[i].base;
	return NULL;
}

static int
parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "1", "yes", "true", "on" };
	static const char *const no[] = { "0", "no", "false", "off" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

/* Set the value, then let the section parse it. */
static int set_value(struct config *c, const struct sect *sc,
    const struct config_key *k, const char *value, bool append, char *err,
    size_t errlen);

static int
set_key(struct config *c, const struct sect *sc, const struct config_key *k,
    const char *value, bool append, char *err, size_t errlen)
{
	char msg[200];

	if (k->check && k->check(value, err, errlen) != 0) {
		snprintf(msg, sizeof(msg), "%s", err);
		snprintf(err, errlen, "[%s] %s: %s", sc->s->name, k->name, msg);
		return -1;
	}
	if (set_value(c, sc, k, value, append, err, errlen) != 0)
		return -1;
	if (k->parse && k->parse((char *)c + sc->base, err, errlen) != 0) {
		snprintf(msg, sizeof(msg), "%s", err);
		snprintf(err, errlen, "[%s] %s: %s", sc->s->name, k->name, msg);
		return -1;
	}
	return 0;
}

static int
set_value(struct config *c, const struct sect *sc, const struct config_key *k,
    const char *value, bool append, char *err, size_t errlen)
{
	const char *section = sc->s->name;
	char *p = (char *)c + sc->base + k->offset;
	char *end;
	long n;
	size_t cur;

	switch (k->type) {
	case CONFIG_T_LIST:
		cur = append ? strlen(p) : 0;
		if (cur + 1 + strlen(value) + 1 > k->size) {
			snprintf(err, errlen, "[%s] %s: list too long (max %zu "
			    "bytes)", section, k->name, k->size - 1);
			return -1;
		}
		if (cur > 0 && value[0] != '\0')
			p[cur++] = ' ';
		strcpy(p + cur, value);
		return 0;
	case CONFIG_T_STR:
		if (strlen(value) >= k->size) {
			snprintf(err, errlen, "[%s] %s: value too long (max %zu "
			    "bytes)", section, k->name, k->size - 1);
			return -1;
		}
		strcpy(p, value);
		return 0;
	case CONFIG_T_INT:
		errno = 0;
		n = strtol(value, &end, 10);
		if (errno != 0 || end == value || *end != '\0' ||
		    n < k->min || n > k->max) {
			snprintf(err, errlen, "[%s] %s: '%s' is not a whole "
			    "number from %ld to %ld", section, k->name,
			    value, k->min, k->max);
			return -1;
		}
		*(int *)(void *)p = (int)n;
		return 0;
	case CONFIG_T_BOOL:
		if (parse_bool(value, (bool *)(void *)p) != 0) {
			snprintf(err, errlen, "[%s] %s: '%s' is not yes or no",
			    section, k->name, value);
			return -1;
		}
		return 0;
	}
	return -1;
}

void
config_defaults(struct config *c)
{
	struct sect sc[SECTIONS_MAX];
	size_t n = sections(sc);
	char err[256];

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < sc[i].s->nkeys; k++)
			(void)set_key(c, &sc[i], &sc[i].s->keys[k],
			    sc[i].s->keys[k].def, false, err, sizeof(err));
}

int
config_set(struct config *c, const char *section, const char *key,
    const char *value, char *err, size_t errlen)
{
	struct sect sc[SECTIONS_MAX];
	size_t n = sections(sc);
	const struct sect *s = find_section(sc, n, section);
	const struct config_key *k = find_key(s, key);

	if (k == NULL) {
		snprintf(err, errlen, "unknown key '%s' in section [%s]", key,
		    section);
		return -1;
	}
	return set_key(c, s, k, value, false, err, errlen);
}

struct load {
	struct config *c;
	char *text;		/* the whole file, NUL-terminated */
	size_t len, pos;	/* its length, what inih has had */
	const char *path;
	int line;
	int nerr;
	char *err;
	size_t errlen, errused;
	struct sect sc[SECTIONS_MAX];
	size_t nsc;
	/* Lists: the first occurrence in the file replaces the default.
	 * Other keys: a second one is an error naming the first's line.
	 * One of each per key, over all sections. */
	bool *seen;
	int *first_line;
};

static void __attribute__((format(printf, 2, 3)))
add_error(struct load *ld, const char *fmt, ...)
{
	va_list ap;
	int n;

	ld->nerr++;
	if (ld->errused + 1 >= ld->errlen)
		return;
	n = snprintf(ld->err + ld->errused, ld->errlen - ld->errused,
	    "%s%s:%d: ", ld->errused ? "\n" : "", ld->path, ld->line);
	if (n > 0)
		ld->errused += (size_t)n;
	if (ld->errused + 1 >= ld->errlen) {
		ld->errused = ld->errlen - 1;
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(ld->err + ld->errused, ld->errlen - ld->errused, fmt, ap);
	va_end(ap);
	if (n > 0)
		ld->errused += (size_t)n;
	if (ld->errused >= ld->errlen)
		ld->errused = ld->errlen - 1;
}

/* inih reads lines through this: from the file's text, in memory. */
static char *
read_line(char *str, int num, void *stream)
{
	struct load *ld = stream;
	size_t n = 0;

	if (ld->pos >= ld->len || num < 2)
		return NULL;
	/* A line longer than num comes in pieces: count it once. */
	if (ld->pos == 0 || ld->text[ld->pos - 1] == '\n')
		ld->line++;
	while (n < (size_t)num - 1 && ld->pos < ld->len) {
		char ch = ld->text[ld->pos++];

		str[n++] = ch;
		if (ch == '\n')
			break;
	}
	str[n] = '\0';
	return str;
}

/*
 * Read path, a config file: a regular file of at most CONFIG_MAX_SIZE
 * bytes of text, or the null device (the documented empty config: *text
 * NULL, 0 returned). A directory would read as empty and a device or FIFO
 * could block or never end, so both are refused; so is a NUL byte, which
 * would hide the rest of its line from the parser. Returns 0 with the
 * text (malloc'd) in *text and *len, or -1 with a message in err.
 */
static int
config_read(const char *path, char **text, size_t *len, char *err,
    size_t errlen)
{
	struct stat st, null;
	char *buf = NULL, *nul;
	size_t have = 0, cap;
	int fd;

	*text = NULL;
	*len = 0;
	/* O_NONBLOCK: a FIFO must not hold us before we can refuse it. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		snprintf(err, errlen, "cannot read %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	if (S_ISCHR(st.st_mode) && stat("/dev/null", &null) == 0 &&
	    S_ISCHR(null.st_mode) && st.st_rdev == null.st_rdev) {
		close(fd);
		return 0;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a config file (%s); give a "
		    "regular file, or /dev/null for none", path,
		    S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ?
		    "a FIFO" : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ?
		    "a device" : "not a regular file");
		goto fail;
	}
	if (st.st_size > CONFIG_MAX_SIZE) {
		snprintf(err, errlen, "%s: %lld bytes, larger than a config "
		    "file may be (%d)", path, (long long)st.st_size,
		    CONFIG_MAX_SIZE);
		goto fail;
	}
	/*
	 * The file's size, a byte to see that it grew, the NUL; more only if
	 * it did grow, up to one byte past the cap. Not the cap at once: a
	 * freed 1 MiB block raises glibc's mmap threshold to its size, and
	 * from then on the outputs' large buffers come from the heap, all
	 * of their pages touched and kept (an idle relay's RSS).
	 */
	cap = (size_t)st.st_size + 2;
	if ((buf = malloc(cap)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	for (;;) {
		ssize_t n;

		if (have + 1 == cap) {
			size_t more = cap * 2 < CONFIG_MAX_SIZE + 2 ? cap * 2 :
			    CONFIG_MAX_SIZE + 2;
			char *p = realloc(buf, more);

			if (p == NULL) {
				snprintf(err, errlen, "%s: out of memory",
				    path);
				goto fail;
			}
			buf = p;
			cap = more;
		}
		n = read(fd, buf + have, cap - 1 - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "cannot read %s: %s", path,
			    strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		have += (size_t)n;
		if (have > CONFIG_MAX_SIZE) {
			snprintf(err, errlen, "%s: grew past %d bytes while "
			    "being read", path, CONFIG_MAX_SIZE);
			goto fail;
		}
	}
	close(fd);
	buf[have] = '\0';
	if ((nul = memchr(buf, '\0', have)) != NULL) {
		int line = 1;

		for (const char *p = buf; p < nul; p++)
			line += *p == '\n';
		snprintf(err, errlen, "%s:%d: a NUL byte: not a text file",
		    path, line);
		free(buf);
		return -1;
	}
	*text = buf;
	*len = have;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	return -1;
}

/*
 * inih takes "value ; comment" apart on a key's line, but hands a list's
 * continuation line over whole: cut the comment there too, so that one
 * means the same on either line (and a dump reads back the same).
 */
static const char *
cut_comment(const char *value, char *buf, size_t len)
{
	const char *p = value;
	size_t n;

	/* As inih does: a ';' after any white space (isspace). */
	while ((p = strchr(p, ';')) != NULL && p > value &&
	    !isspace((unsigned char)p[-1]))
		p++;
	if (p == NULL || p == value)
		return value;
	n = (size_t)(p - value);
	while (n > 0 && isspace((unsigned char)value[n - 1]))
		n--;
	if (n >= len)
		return value;	/* longer than a line: inih's limit saw to it */
	memcpy(buf, value, n);
	buf[n] = '\0';
	return buf;
}

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct load *ld = user;
	const struct sect *sc;
	const struct config_key *k;
	char msg[300], cut[512];
	size_t idx;

	if (section[0] == '\0') {
		add_error(ld, "'%s' is outside any section (start with "
		    "[omniklog])", name);
		return 1;
	}
	if ((sc = find_section(ld->sc, ld->nsc, section)) == NULL) {
		add_error(ld, "unknown section [%s]", section);
		return 1;
	}
	k = find_key(sc, name);
	if (k == NULL) {
		add_error(ld, "unknown key '%s' in section [%s]", name,
		    section);
		return 1;
	}
	idx = sc->first + (size_t)(k - sc->s->keys);
	/*
	 * "key =;x" gives ";x", but written back as "key = ;x" it reads as
	 * a comment: a setting that cannot be written is a typo anyway.
	 */
	if (value[0] == ';') {
		add_error(ld, "[%s] %s: a value may not start with ';' (a "
		    "comment goes after a space)", section, name);
		return 1;
	}
	if (ld->seen[idx] && k->type != CONFIG_T_LIST) {
		add_error(ld, "[%s] %s is set twice (first on line %d); a "
		    "second value would silently win", section, name,
		    ld->first_line[idx]);
		return 1;
	}
	if (!ld->seen[idx])
		ld->first_line[idx] = ld->line;
	value = cut_comment(value, cut, sizeof(cut));
	if (set_key(ld->c, sc, k, value, ld->seen[idx], msg, sizeof(msg)) != 0)
		add_error(ld, "%s", msg);
	ld->seen[idx] = true;
	/* Always go on: report every problem in one run. */
	return 1;
}

/* Settings that only make sense together, checked once the file is read. */
static void
cross_check(struct load *ld)
{
	char msg[300];

	for (size_t i = 0; i < ld->nsc; i++) {
		const struct config_section *s = ld->sc[i].s;

		if (s->check && s->check((const char *)ld->c + ld->sc[i].base,
		    msg, sizeof(msg)) != 0)
			add_error(ld, "%s", msg);
	}
}

int
config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	struct load ld;
	int r;

	memset(&ld, 0, sizeof(ld));
	ld.c = c;
	ld.path = path;
	ld.err = err;
	ld.errlen = errlen;
	if (errlen > 0)
		err[0] = '\0';
	ld.nsc = sections(ld.sc);
	ld.seen = calloc(total_keys(ld.sc, ld.nsc) + 1, sizeof(*ld.seen));
	ld.first_line = calloc(total_keys(ld.sc, ld.nsc) + 1,
	    sizeof(*ld.first_line));
	if (ld.seen == NULL || ld.first_line == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		free(ld.seen);
		free(ld.first_line);
		return -1;
	}
	if (config_read(path, &ld.text, &ld.len, err, errlen) != 0) {
		free(ld.seen);
		free(ld.first_line);
		return -1;
	}
	r = ld.text == NULL ? 0 : ini_parse_stream(read_line, &ld, handler,
	    &ld);
	free(ld.text);
	free(ld.seen);
	free(ld.first_line);
	if (r > 0) {
		/* inih's own syntax error (our handler never fails). */
		ld.line = r;
		add_error(&ld, "syntax error (expected [section] or "
		    "key = value; lines are limited to 200 bytes, a long "
		    "conninfo goes on indented lines)");
	} else if (r < 0) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	cross_check(&ld);
	return ld.nerr == 0 ? 0 : -1;
}

/*
 * A libpq URI, postgresql://[USER[:PASSWORD]@]HOST.../DB?K=V&...: the
 * password in the user info and a password parameter masked.
 */
static void
dump_conninfo_uri(FILE *fp, const char *v)
{
	const char *auth = strstr(v, "://") + 3, *q, *at = NULL;
	size_t alen = strcspn(auth, "/?");

	fwrite(v, 1, (size_t)(auth - v), fp);
	for (q = auth; q < auth + alen; q++)
		if (*q == '@')
			at = q;		/* the last: a password may hold one */
	if (at != NULL) {
		q = memchr(auth, ':', (size_t)(at - auth));
		if (q != NULL)
			fprintf(fp, "%.*s:(hidden)", (int)(q - auth), auth);
		else
			fwrite(auth, 1, (size_t)(at - auth), fp);
		auth = at;
	}
	q = auth + strcspn(auth, "?");
	fwrite(auth, 1, (size_t)(q - auth), fp);
	while (*q != '\0') {
		size_t n = strcspn(q + 1, "&");

		fputc(*q, fp);		/* '?' or '&' */
		if (strncasecmp(q + 1, "password=", 9) == 0)
			fputs("password=(hidden)", fp);
		else
			fwrite(q + 1, 1, n, fp);
		q += 1 + n;
	}
}

/*
 * KEY = VALUE pairs, a VALUE quoted '...' or not, backslash escapes in
 * both: every password's value masked, the rest as it was written. What
 * does not parse (libpq would refuse it) is hidden to its end, in case a
 * password is in it.
 */
static void
dump_conninfo_pairs(FILE *fp, const char *v)
{
	const char *p = v;

	while (*p != '\0') {
		const char *kw, *q;
		size_t n = strspn(p, " \t\n"), kl;
		bool bad = false, glued = false;

		fwrite(p, 1, n, fp);
		if (*(p += n) == '\0')
			break;
		kw = p;
		kl = strcspn(p, " \t\n=");
		q = p + kl;
		q += strspn(q, " \t\n");
		if (kl == 0 || *q != '=') {
			fputs("(hidden)", fp);
			return;
		}
		q++;
		q += strspn(q, " \t\n");
		if (*q == '\'') {
			for (q++; *q != '\0' && *q != '\''; q++)
				if (*q == '\\' && q[1] != '\0')
					q++;
			bad = *q != '\'';
			if (!bad)
				q++;
			/* 'value'next: libpq wants a space in between. */
			glued = !bad && *q != '\0' && !strchr(" \t\n", *q);
		} else {
			for (; *q != '\0' && !strchr(" \t\n", *q); q++)
				if (*q == '\\' && q[1] != '\0')
					q++;
		}
		if (kl == 8 && strncasecmp(kw, "password", 8) == 0)
			fputs("password=(hidden)", fp);
		else if (bad) {
			fprintf(fp, "%.*s=(hidden)", (int)kl, kw);
			return;
		} else
			fwrite(kw, 1, (size_t)(q - kw), fp);
		if (glued) {
			fputs(" (hidden)", fp);
			return;
		}
		p = q;
	}
}

/* A value; a conninfo's passwords masked. */
static void
dump_value(FILE *fp, const struct config_key *k, const char *v)
{
	fprintf(fp, "%s = ", k->name);
	if (!k->conninfo)
		fputs(v, fp);
	else if (strncmp(v, "postgresql://", 13) == 0 ||
	    strncmp(v, "postgres://", 11) == 0)
		dump_conninfo_uri(fp, v);
	else
		dump_conninfo_pairs(fp, v);
	fputc('\n', fp);
}

void
config_dump(const struct config *c, FILE *fp)
{
	struct sect sc[SECTIONS_MAX];
	size_t n = sections(sc);

	for (size_t i = 0; i < n; i++) {
		fprintf(fp, "%s[%s]\n", i ? "\n" : "", sc[i].s->name);
		for (size_t j = 0; j < sc[i].s->nkeys; j++) {
			const struct config_key *k = &sc[i].s->keys[j];
			const char *p = (const char *)c + sc[i].base + k->offset;

			fprintf(fp, "; %s\n", k->help);
			/* Secrets stay out of dumps, which end up in bug
			 * reports. */
			if (k->secret && p[0] != '\0') {
				fprintf(fp, "%s = (hidden)\n", k->name);
				continue;
			}
			switch (k->type) {
			case CONFIG_T_STR:
			case CONFIG_T_LIST:
				dump_value(fp, k, p);
				break;
			case CONFIG_T_INT:
				fprintf(fp, "%s = %d\n", k->name,
				    *(const int *)(const void *)p);
				break;
			case CONFIG_T_BOOL:
				fprintf(fp, "%s = %s\n", k->name,
				    *(const bool *)(const void *)p ? "yes" :
				    "no");
				break;
			}
		}
	}
}

int
config_ports(const char *list, uint16_t *ports, int max, char *err,
    size_t errlen)
{
	const char *p = list;
	int n = 0;

	while (*p) {
		char *end;
		long port;

		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		errno = 0;
		port = strtol(p, &end, 10);
		if (end == p || errno != 0 || port < 1 || port > 65535 ||
		    (*end && *end != ' ' && *end != ',')) {
			snprintf(err, errlen, "'%s' is not a list of TCP ports",
			    list);
			return -1;
		}
		if (n == max) {
			snprintf(err, errlen, "too many ports in '%s' (at most "
			    "%d)", list, max);
			return -1;
		}
		ports[n++] = (uint16_t)port;
		p = end;
	}
	if (n == 0) {
		snprintf(err, errlen, "no TCP port given");
		return -1;
	}
	return n;
}

int
config_override(struct config_overrides *o, const char *section,
    const char *key, const char *value)
{
	if (o->n >= CONFIG_MAX_OVERRIDES)
		return -1;
	o->ov[o->n].section = section;
	o->ov[o->n].key = key;
	o->ov[o->n].value = value;
	o->n++;
	return 0;
}

int
config_build(struct config *c, const char *path,
    const struct config_overrides *o, char *err, size_t errlen)
{
	const char *p = path ? path : CONFIG_DEFAULT_PATH;
	char msg[256];

	config_defaults(c);
	if (path != NULL && path[0] == '\0') {
		/* No file at all: defaults and flags. */
	} else if (path != NULL || access(p, F_OK) == 0) {
		if (config_load(c, p, err, errlen) != 0)
			return -1;
	}
	for (int i = 0; o != NULL && i < o->n; i++) {
		if (config_set(c, o->ov[i].section, o->ov[i].key,
		    o->ov[i].value, msg, sizeof(msg)) != 0) {
			snprintf(err, errlen, "option: %s", msg);
			return -1;
		}
	}
	return 0;
}
