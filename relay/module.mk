# relay/: omnik-relay, the transparent relay (libevent).
PROGRAMS += $(B)/omnik-relay
RELAY_SRC := relay/main.c relay/relay.c relay/origdst.c relay/addr.c \
             relay/acl.c
RELAY_LIBS := $(shell pkg-config --libs libevent 2>/dev/null || echo -levent)

$(B)/omnik-relay: $(RELAY_SRC:%.c=$(B)/%.o) $(LIB_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(LIB_LIBS) $(RELAY_LIBS)
