/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * registry.c: the remote outputs linked in. Adding one is one line in
 * OUTPUTS (and its files and tests; see docs/DESIGN.md): NAME_driver and
 * NAME_section, declared in NAME.h, over a struct NAME_conf.
 */
#include "config.h"
#include "influx.h"
#include "mqtt.h"
#include "pgsql.h"
#include "pvoutput.h"
#include "registry.h"

/* In the order they are started and dumped. */
#define OUTPUTS(X) X(pgsql) X(mqtt) X(pvoutput) X(influx)

#define DRIVER(name) &name##_driver,
#define SECTION(name) &name##_section,
#define SIZE(name) + (sizeof(struct name##_conf) + CONFIG_MODULE_ALIGN - 1) / \
	CONFIG_MODULE_ALIGN * CONFIG_MODULE_ALIGN

const struct output_driver *const output_drivers[] = { OUTPUTS(DRIVER) NULL };
const struct config_section *const output_sections[] = {
	OUTPUTS(SECTION) NULL
};

_Static_assert(0 OUTPUTS(SIZE) <= CONFIG_MODULES_SIZE,
    "the outputs' settings outgrew CONFIG_MODULES_SIZE (config.h)");
