# SPDX-License-Identifier: GPL-2.0-or-later
# relay/: omnik-relay, the transparent relay (libevent).
INCLUDES += -Irelay
PROGRAMS += $(B)/omnik-relay
RELAY_SRC := relay/main.c relay/relay.c relay/admit.c relay/session.c \
             relay/upstream.c relay/io.c relay/origdst.c relay/addr.c \
             relay/acl.c relay/defer.c
RELAY_LIBS := $(shell pkg-config --libs libevent_core 2>/dev/null || echo -levent_core)

# The code an idle relay runs (relay/idle.order, made by
# tests/idle-order.sh) first, in a section of its own: ~30 KiB of the
# 160 KiB, where the link order would spread it over every 64 KiB window
# of the file that the kernel maps around a fault, so an idle relay had
# the whole of its code resident. Each function is a section of its own
# (-ffunction-sections, Makefile) for the script to place.
$(B)/relay/idle.ld: relay/idle.order relay/module.mk
	@mkdir -p $(@D)
	awk 'BEGIN { print "SECTIONS\n{\n  .text.idle : {" } \
	    /^[^#]/ { n = $$1; if (sub(/\.cold$$/, "", n)) \
	        print "    *(.text.unlikely." n ")"; \
	    else print "    *(.text." n " .text.startup." n " .text.hot." n ")" } \
	    END { print "  }\n}\nINSERT BEFORE .text;" }' $< >$@

$(B)/omnik-relay: $(RELAY_SRC:%.c=$(B)/%.o) $(LIB_OBJ) $(B)/relay/idle.ld
	$(CC) -o $@ $(filter %.o,$^) $(ALL_LDFLAGS) \
	    -Wl,-T,$(B)/relay/idle.ld $(LIB_LIBS) $(RELAY_LIBS)

$(B)/tests/test_relay_acl: $(B)/tests/test_relay_acl.o $(B)/relay/acl.o \
                           $(B)/relay/addr.o
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS)

$(B)/tests/test_relay_defer: $(B)/tests/test_relay_defer.o $(B)/relay/defer.o
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS) $(RELAY_LIBS)
