/* SPDX-License-Identifier: GPL-2.0-or-later */
/* discover-main: omnik-poll --discover alone, for tests/poll/t-discover*.sh. */
#include "discover.h"

int
main(int argc, char **argv)
{
	return discover_main(argc, argv);
}
