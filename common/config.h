/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * config.h: the one INI file both programs read (default
 * /etc/omniklog/omniklog.conf), and the settings it holds. Command-line
 * flags override the file through config_set(), so a flag and a key are
 * checked by the same code.
 *
 * Every key is described once, in a table of its section: name, type,
 * range, default, a line of help, and whether it is a secret (left out
 * of dumps). The shared sections ([omniklog], [relay], [sniff],
 * [journal]) are in config.c and their fields in struct config below;
 * every other section belongs to the module that uses it (an output),
 * which brings its own struct and key table as a struct config_section
 * in a table the program registers with config_register() (the outputs'
 * is output_sections[], output/registry.c) and reads its settings with
 * config_section_get(). Unknown sections and keys are errors with their
 * line number; `-n` loads, reports and exits.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define CONFIG_DEFAULT_PATH SYSCONFDIR "/omniklog/omniklog.conf"

#define CONFIG_STR 256
/* A config file holds a few dozen lines: past this it is not one. */
#define CONFIG_MAX_SIZE (1 << 20)
/* Room for the modules' sections (output/registry.c checks it), each
 * rounded up to CONFIG_MODULE_ALIGN bytes. */
#define CONFIG_MODULES_SIZE 16384
#define CONFIG_MODULE_ALIGN 16

struct config {
	/* [omniklog]: shared by every program */
	char user[64];		/* drop privileges to this user */
	char pidfile[CONFIG_STR];
	char csv[CONFIG_STR];	/* "" = no CSV */
	char db[CONFIG_STR];	/* the SQLite journal */
	int verbose;

	/* [relay] */
	char listen[CONFIG_STR];	/* "[ADDR:]PORT" list */
	char upstream[CONFIG_STR];	/* original | HOST:PORT | none */
	char allow_upstream[CONFIG_STR * 4];	/* networks; "" = any */
	char allow_clients[CONFIG_STR * 4];	/* networks; "" = private */
	char portal_ports[CONFIG_STR];	/* forwarded original dst ports */
	int connect_timeout;	/* seconds */
	int idle_timeout;	/* seconds */
	int max_connections;	/* 0 = from RLIMIT_NOFILE and memory */
	int max_buffer;		/* bytes buffered per direction */
	int max_buffer_total;	/* bytes buffered, all sessions */
	int client_connections;	/* sessions per client address */
	int client_buffer;	/* bytes buffered per client address */
	int first_frame_grace;	/* seconds before "no valid frame" counts */
	int reading_burst;	/* readings per connection at once */
	int reading_rate;	/* readings per connection per minute */
	int drain_timeout;	/* seconds to finish sessions on SIGTERM */

	/* [sniff] */
	char interface[64];
	char ports[CONFIG_STR];	/* TCP ports, space separated */
	char filter[CONFIG_STR];	/* BPF expression; "" = from ports */
	bool promisc;
	int snaplen;
	int buffer_size;	/* kernel capture buffer, bytes */
	int nfqueue;		/* -1 = off */
	int max_flows;		/* TCP flows tracked at once */
	int flow_timeout;	/* seconds a silent flow is kept */
	int max_held;		/* out-of-order bytes held, all flows */

	/* [poll] */
	char kits[CONFIG_STR * 4];	/* HOST[:PORT]/SERIAL list (kitaddr.h) */
	int poll_interval;	/* seconds between polls of a kit */
	int poll_timeout;	/* seconds one poll may take */
	char poll_method[8];	/* auto | tcp | http */
	char http_user[64];	/* the status page's Basic auth */
	char http_password[128];

	/* [journal] */
	int retention;		/* days; 0 = keep everything */
	char synchronous[16];	/* full | normal */
	int dup_window;		/* seconds; 0: no duplicate check */

	/* Not a key: the program's name, set by the program skeleton; the
	 * journal's origin of the rows it stores. */
	char origin[32];

	/* The modules' sections, each its own struct (config_section_get):
	 * kept inside, so that a struct config still copies by value. */
	_Alignas(CONFIG_MODULE_ALIGN) unsigned char modules[CONFIG_MODULES_SIZE];
};

enum config_type { CONFIG_T_STR, CONFIG_T_LIST, CONFIG_T_INT, CONFIG_T_BOOL };

/*
 * One key of a section, over a field of the section's struct. A list is
 * a string that every further line of the key in the file extends.
 */
struct config_key {
	const char *name;
	enum config_type type;
	size_t offset;		/* of the field in the section's struct */
	size_t size;		/* CONFIG_T_STR, CONFIG_T_LIST: its buffer */
	long min, max;		/* CONFIG_T_INT */
	const char *def;	/* default, as it would be written in the file */
	const char *help;
	bool secret;		/* dumped as "(hidden)" */
	bool conninfo;		/* a libpq conninfo: its passwords are
				 * masked in dumps */
	/* Beyond the type: 0, or -1 with a message (without the key). */
	int (*check)(const char *value, char *err, size_t errlen);
	/* Once set, the whole section (a list against itself; a value
	 * parsed once for its user): 0, or -1 with a message. */
	int (*parse)(void *section, char *err, size_t errlen);
};

struct config_section {
	const char *name;
	const struct config_key *keys;
	size_t nkeys;
	size_t size;		/* of its struct (a module's) */
	/* Keys that only make sense together, once the file is read: 0, or
	 * -1 with a message (naming the section). */
	int (*check)(const void *section, char *err, size_t errlen);
};

/* Key-table entries over a field of struct T; more designated
 * initialisers may follow (.secret = true, .check = ..., .parse = ...). */
#define CONFIG_KEY_STR(T, n, field, d, h, ...) \
	{ .name = (n), .type = CONFIG_T_STR, .offset = offsetof(T, field), \
	  .size = sizeof(((T *)0)->field), .def = (d), .help = (h), __VA_ARGS__ }
#define CONFIG_KEY_LIST(T, n, field, d, h, ...) \
	{ .name = (n), .type = CONFIG_T_LIST, .offset = offsetof(T, field), \
	  .size = sizeof(((T *)0)->field), .def = (d), .help = (h), __VA_ARGS__ }
#define CONFIG_KEY_INT(T, n, field, lo, hi, d, h, ...) \
	{ .name = (n), .type = CONFIG_T_INT, .offset = offsetof(T, field), \
	  .size = sizeof(int), .min = (lo), .max = (hi), .def = (d), \
	  .help = (h), __VA_ARGS__ }
#define CONFIG_KEY_BOOL(T, n, field, d, h, ...) \
	{ .name = (n), .type = CONFIG_T_BOOL, .offset = offsetof(T, field), \
	  .size = sizeof(bool), .def = (d), .help = (h), __VA_ARGS__ }
#define CONFIG_SECTION(n, T, table, ...) \
	{ .name = (n), .keys = (table), \
	  .nkeys = sizeof(table) / sizeof((table)[0]), .size = sizeof(T), \
	  __VA_ARGS__ }

/*
 * The modules' sections, NULL-terminated, in the order they are dumped
 * after the shared ones: defined by the modules linked in (the output
 * registry) and registered once, before config_defaults() and any other
 * config call; their structs together take at most CONFIG_MODULES_SIZE
 * bytes. Without it only the shared sections exist. The table is kept,
 * not copied.
 */
void config_register(const struct config_section *const *table);
/* The shared sections (config_shared.c), over struct config itself. */
extern const struct config_section *const config_shared[];

/* A module's settings in c (s one of the registered sections); NULL if not. */
const void *config_section_get(const struct config *c,
    const struct config_section *s);

/* Checks a module's key may use: a choice (NULL-terminated), a file
 * readable now (empty: not used). 0, or -1 with a message. */
int config_one_of(const char *value, const char *const *choices, char *err,
    size_t errlen);
int config_check_file(const char *value, char *err, size_t errlen);

void config_defaults(struct config *c);
/*
 * Read path into c (on top of what c holds). path must be a regular file
 * of at most CONFIG_MAX_SIZE bytes, or the null device (/dev/null: no
 * settings); a directory, a FIFO or another device is refused. Returns
 * 0, or -1 with every problem found as "path:line: message" lines in err.
 */
int config_load(struct config *c, const char *path, char *err, size_t errlen);
/* Set one key, as the file would. Returns 0 or -1 with a message in err. */
int config_set(struct config *c, const char *section, const char *key,
    const char *value, char *err, size_t errlen);
/*
 * Command-line flags, kept as key settings so they can be applied again on
 * top of the file when SIGHUP re-reads it. The strings are not copied:
 * they must outlive the struct (argv, or the program's own buffers).
 */
#define CONFIG_MAX_OVERRIDES 32

struct config_overrides {
	struct {
		const char *section, *key, *value;
	} ov[CONFIG_MAX_OVERRIDES];
	int n;
};

/* Record a flag; -1 when there are too many. */
int config_override(struct config_overrides *o, const char *section,
    const char *key, const char *value);
/*
 * Defaults, then the file, then the overrides. path NULL reads
 * CONFIG_DEFAULT_PATH if it exists; path "" reads no file at all. 0, or
 * -1 with every problem in err.
 */
int config_build(struct config *c, const char *path,
    const struct config_overrides *o, char *err, size_t errlen);

/*
 * Parse a list of TCP ports ("10004 8899" or "10004,8899") into ports[max].
 * Returns how many (at least one), or -1 with a message naming the list.
 */
int config_ports(const char *list, uint16_t *ports, int max, char *err,
    size_t errlen);

/* Write the effective configuration, as an INI file. */
void config_dump(const struct config *c, FILE *fp);

#endif /* CONFIG_H */
