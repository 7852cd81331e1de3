/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VERSION_H
#define VERSION_H
#define OMNIKLOG_VERSION "0.1.0"
#endif
