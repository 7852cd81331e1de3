# SPDX-License-Identifier: GPL-2.0-or-later
# relay/: omnik-relay, the transparent relay (libevent).
INCLUDES += -Irelay
PROGRAMS += $(B)/omnik-relay
RELAY_SRC := relay/main.c relay/relay.c relay/admit.c relay/session.c \
             relay/upstream.c relay/io.c relay/origdst.c relay/addr.c \
             relay/acl.c
RELAY_LIBS := $(shell pkg-config --libs libevent_core 2>/dev/null || echo -levent_core)

$(B)/omnik-relay: $(RELAY_SRC:%.c=$(B)/%.o) $(LIB_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(LIB_LIBS) $(RELAY_LIBS)

$(B)/tests/test_relay_acl: $(B)/tests/test_relay_acl.o $(B)/relay/acl.o \
                           $(B)/relay/addr.o
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS)
