# SPDX-License-Identifier: GPL-2.0-or-later
# common/: logging, configuration, daemon helpers, notifications.
COMMON_SRC += common/log.c common/config.c common/config_shared.c \
              common/daemon.c common/kitaddr.c
LIB_LIBS   += -linih
# The service manager's notifications (Type=notify).
COMMON_SRC += common/notify.c
# Standard output and error written off a daemon's loop (log.c, csv.c,
# text.c).
COMMON_SRC += common/outq.c

$(B)/tests/test_log: $(B)/tests/test_log.o $(B)/common/log.o \
                     $(B)/common/outq.o
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS) -pthread

$(B)/tests/test_notify: $(B)/tests/test_notify.o $(B)/common/notify.o
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS) -levent_core

# Below the outputs: the protocol core and itself only.
$(B)/common/%.o: INCLUDES = -Iproto -Icommon
$(B)/tests/sysconf-obj/common/%.o: INCLUDES = -Iproto -Icommon

$(B)/tests/test_kitaddr: $(B)/tests/test_kitaddr.o $(B)/common/kitaddr.o
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS)
