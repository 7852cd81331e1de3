# SPDX-License-Identifier: GPL-2.0-or-later
# poll/: omnik-poll, the poller (TCP 8899 and the kit's status page).
INCLUDES += -Ipoll
PROGRAMS += $(B)/omnik-poll
POLL_SRC := poll/main.c poll/poll.c poll/tcp.c poll/http.c
POLL_LIBS := $(shell pkg-config --libs libevent_core 2>/dev/null || echo -levent_core)

$(B)/omnik-poll: $(POLL_SRC:%.c=$(B)/%.o) $(LIB_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(LIB_LIBS) $(POLL_LIBS)
