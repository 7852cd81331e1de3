/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * prefilter.c: see prefilter.h.
 */
#include <string.h>

#include "prefilter.h"

void
prefilter_init(struct prefilter *pf, const uint16_t *ports, int nports)
{
	if (nports > TCPREASM_MAX_PORTS)
		nports = TCPREASM_MAX_PORTS;
	memset(pf, 0, sizeof(*pf));
	memcpy(pf->port, ports, (size_t)nports * sizeof(ports[0]));
	pf->nports = nports;
}
