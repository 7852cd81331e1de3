# SPDX-License-Identifier: GPL-2.0-or-later
# poll/ discovery (omnik-poll --discover): self-contained, for omnik-poll
# to link; tests/discover-main runs it alone.
INCLUDES += -Ipoll
DISCOVER_SRC := poll/discover.c poll/discover_reply.c poll/probe.c \
                poll/probe_page.c
DISCOVER_OBJ := $(DISCOVER_SRC:%.c=$(B)/%.o)
$(B)/poll/probe.o: ALL_CFLAGS += \
    -DOMNIK_LIBCURL_SONAME='"$(LIBCURL_SONAME)"' \
    -DOMNIK_LIBCURL_PACKAGE='"$(LIBCURL_PACKAGE)"'
TEST_TOOLS += $(B)/tests/discover-main
$(B)/tests/discover-main: $(B)/tests/discover-main.o $(DISCOVER_OBJ) \
    $(PROTO_OBJ) $(B)/output/dynlib.o
	$(CC) -o $@ $^ $(ALL_LDFLAGS) -Wl,--as-needed -ldl -Wl,--no-as-needed
$(B)/tests/test_discover: $(B)/tests/test_discover.o \
    $(B)/poll/discover_reply.o $(B)/poll/probe_page.o
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS)
