# SPDX-License-Identifier: GPL-2.0-or-later
# app/: the skeleton both programs run on (options, config, daemon,
# signals, output policy): above the outputs, below relay/ and sniff/.
APP_SRC += app/program.c
# Everything below it, not the programs above.
$(B)/app/%.o: INCLUDES = -Iproto -Icommon -Ioutput -Iapp
# [http]: the status page and /metrics. evhttp is in libevent_extra,
# which is not linked: app/http.c loads it with dlopen() when [http] is
# on (output/dynlib.h), so that a program without a status page does not
# carry it (~100 KiB of an idle relay). Its -dev headers are needed.
APP_SRC += app/http.c app/status.c app/status_page.c
LIBEVENT_EXTRA_SONAME  ?= libevent_extra-2.1.so.7
LIBEVENT_EXTRA_PACKAGE ?= libevent-extra-2.1-7
$(B)/app/http.o: ALL_CFLAGS += \
    -DOMNIK_LIBEVENT_EXTRA_SONAME='"$(LIBEVENT_EXTRA_SONAME)"' \
    -DOMNIK_LIBEVENT_EXTRA_PACKAGE='"$(LIBEVENT_EXTRA_PACKAGE)"'
