# SPDX-License-Identifier: GPL-2.0-or-later
# tests/: cmocka unit tests (each links only what it needs), the fuzz
# target's corpus replayer, and the protocol benchmark.
TEST_LIBS  := $(shell pkg-config --libs cmocka jansson 2>/dev/null || echo -lcmocka -ljansson) -lm
TEST_HELPERS := $(B)/tests/vectors.o
# Every tests/test_*.c is a unit test program; its link rule says what it needs.
UNIT_TESTS += $(patsubst tests/%.c,$(B)/tests/%,$(wildcard tests/test_*.c))
FUZZ_REPLAY := $(if $(wildcard tests/fuzz/fuzz_proto.c),$(B)/tests/fuzz_proto_replay)
BENCHES    += $(if $(wildcard tests/bench_proto.c),$(B)/tests/bench_proto)

$(B)/tests/test_framer: $(B)/tests/test_framer.o $(TEST_HELPERS) $(PROTO_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS)

$(B)/tests/test_decode: $(B)/tests/test_decode.o $(TEST_HELPERS) $(PROTO_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS)

$(B)/tests/test_csv: $(B)/tests/test_csv.o $(TEST_HELPERS) $(PROTO_OBJ) \
                     $(B)/output/csv.o $(B)/output/text.o $(B)/common/log.o
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS)

$(B)/tests/test_config: $(B)/tests/test_config.o $(B)/common/config.o
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS) -linih

# The fuzz target, linked with a main() that replays a corpus: gcc can
# build it, and check runs it under the sanitizers.
$(FUZZ_REPLAY): $(B)/tests/fuzz/fuzz_proto.o $(B)/tests/fuzz/replay.o \
                $(PROTO_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS)

$(B)/tests/bench_proto: $(B)/tests/bench_proto.o $(PROTO_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS)

$(B)/tests/test_tcpreasm: $(B)/tests/test_tcpreasm.o $(B)/sniff/tcpreasm.o
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS)

# mkpcap: the pcap fixtures of tests/sniff/ and the sniffer benchmark.
TEST_TOOLS += $(B)/tests/mkpcap
$(B)/tests/mkpcap: $(B)/tests/mkpcap.o $(PROTO_OBJ) $(B)/output/csv.o \
                   $(B)/common/log.o
	$(CC) -o $@ $^ $(ALL_LDFLAGS)

$(B)/tests/test_packet: $(B)/tests/test_packet.o $(B)/sniff/packet.o
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS)

# The journal and the remote outputs (output/).
$(B)/tests/test_journal: $(B)/tests/test_journal.o $(B)/output/journal.o \
                         $(PROTO_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS) -lsqlite3 -lm

# omk-feed: a capture stand-in for the output tests (tests/outputs/),
# linked with everything a program links.
TEST_TOOLS += $(B)/tests/omk-feed
$(B)/tests/omk-feed: $(B)/tests/outputs/feed.o $(LIB_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(LIB_LIBS)

# A local PVOutput stand-in (plain HTTP) for tests/outputs/t-pvoutput.sh.
TEST_TOOLS += $(B)/tests/pvoutput-server
$(B)/tests/pvoutput-server: $(B)/tests/outputs/pvoutput-server.o
	$(CC) -o $@ $^ $(ALL_LDFLAGS) -levent

$(B)/tests/test_pvoutput: $(B)/tests/test_pvoutput.o $(LIB_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS) $(LIB_LIBS)

$(B)/tests/test_group: $(B)/tests/test_group.o $(LIB_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS) $(LIB_LIBS)

BENCHES    += $(B)/tests/bench_journal
$(B)/tests/bench_journal: $(B)/tests/bench_journal.o $(B)/output/journal.o \
                          $(PROTO_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) -lsqlite3 -lm

$(B)/tests/test_delivery: $(B)/tests/test_delivery.o $(B)/output/delivery.o \
                          $(B)/output/journal.o $(B)/common/log.o $(PROTO_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS) -levent -lsqlite3 -lm

# The relay's end-to-end helpers: a kit simulator and a stand-in portal,
# used by tests/relay/ and by the relay benchmark (which runs on build/).
RELAY_TEST_PROGS := $(B)/tests/kitsim $(B)/tests/portal
TEST_TOOLS += $(RELAY_TEST_PROGS)
BENCHES += tests/bench-relay.sh
bench: $(RELAY_TEST_PROGS)
$(RELAY_TEST_PROGS): $(B)/tests/%: $(B)/tests/%.o $(PROTO_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(shell pkg-config --libs libevent 2>/dev/null || echo -levent)

# The worker-thread calls of the remote outputs (output/resolve.c).
$(B)/tests/test_resolve: $(B)/tests/test_resolve.o $(B)/output/resolve.o
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS) -levent -pthread

# The PostgreSQL output's connection string after name lookups.
$(B)/tests/test_pgsql.o: ALL_CFLAGS += $(PQ_CFLAGS)
# It reads the result back with libpq's parser: linked here, while the
# output itself loads libpq at run time.
$(B)/tests/test_pgsql: $(B)/tests/test_pgsql.o $(LIB_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS) $(LIB_LIBS) -lpq
