# SPDX-License-Identifier: GPL-2.0-or-later
# poll/: omnik-poll, the poller (TCP 8899 and the kit's status page), and
# its discovery mode (omnik-poll --discover: discover*.c, probe*.c).
INCLUDES += -Ipoll
PROGRAMS += $(B)/omnik-poll
DISCOVER_SRC := poll/discover.c poll/discover_reply.c poll/probe.c \
                poll/probe_page.c
DISCOVER_OBJ := $(DISCOVER_SRC:%.c=$(B)/%.o)
POLL_SRC := poll/main.c poll/poll.c poll/tcp.c poll/http.c
POLL_LIBS := $(shell pkg-config --libs libevent_core 2>/dev/null || echo -levent_core)

$(B)/omnik-poll: $(POLL_SRC:%.c=$(B)/%.o) $(DISCOVER_OBJ) $(LIB_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(LIB_LIBS) $(POLL_LIBS)
$(B)/tests/test_discover: $(B)/tests/test_discover.o \
    $(B)/poll/discover_reply.o $(B)/poll/probe_page.o
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS)
