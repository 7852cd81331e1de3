# SPDX-License-Identifier: GPL-2.0-or-later
# app/: the skeleton both programs run on (options, config, daemon,
# signals, output policy): above the outputs, below relay/ and sniff/.
APP_SRC += app/program.c
# Everything below it, not the programs above.
$(B)/app/%.o: INCLUDES = -Iproto -Icommon -Ioutput -Iapp
# [http]: the status page and /metrics (evhttp is in libevent_extra).
APP_SRC += app/http.c app/status.c app/status_page.c
LIB_LIBS += $(shell pkg-config --libs libevent_extra 2>/dev/null || echo -levent_extra)
