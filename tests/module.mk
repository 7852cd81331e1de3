# SPDX-License-Identifier: GPL-2.0-or-later
# tests/: cmocka unit tests (each links only what it needs), the fuzz
# target's corpus replayer, and the protocol benchmark.
TEST_LIBS  := $(shell pkg-config --libs cmocka jansson 2>/dev/null || echo -lcmocka -ljansson) -lm
TEST_HELPERS := $(B)/tests/vectors.o
# Every tests/test_*.c is a unit test program; its link rule says what it needs.
UNIT_TESTS += $(patsubst tests/%.c,$(B)/tests/%,$(wildcard tests/test_*.c))
FUZZ_REPLAY := $(if $(wildcard tests/fuzz/fuzz_proto.c),$(B)/tests/fuzz_proto_replay)
BENCHES    += $(if $(wildcard tests/bench_proto.c),$(B)/tests/bench_proto)

$(B)/tests/test_framer: $(B)/tests/test_framer.o $(B)/tests/framer_ref.o \
                     $(TEST_HELPERS) $(PROTO_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS)

$(B)/tests/test_decode: $(B)/tests/test_decode.o $(TEST_HELPERS) $(PROTO_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS)

$(B)/tests/test_csv: $(B)/tests/test_csv.o $(TEST_HELPERS) $(PROTO_OBJ) \
                     $(B)/output/csv.o $(B)/output/text.o \
                     $(B)/common/log.o $(B)/common/outq.o
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS) -pthread

# The config with every output's section: the whole library.
$(B)/tests/test_config: $(B)/tests/test_config.o $(LIB_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS) $(LIB_LIBS)

# The fuzz target, linked with a main() that replays a corpus: gcc can
# build it, and check runs it under the sanitizers.
$(FUZZ_REPLAY): $(B)/tests/fuzz/fuzz_proto.o $(B)/tests/fuzz/replay.o \
                $(PROTO_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS)

$(B)/tests/bench_proto: $(B)/tests/bench_proto.o $(PROTO_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS)

$(B)/tests/test_tcpreasm: $(B)/tests/test_tcpreasm.o $(B)/sniff/tcpreasm.o $(B)/sniff/tcpflow.o
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS)

# mkpcap: the pcap fixtures of tests/sniff/ and the sniffer benchmark.
TEST_TOOLS += $(B)/tests/mkpcap
$(B)/tests/mkpcap: $(B)/tests/mkpcap.o $(PROTO_OBJ) $(B)/output/csv.o \
                   $(B)/common/log.o $(B)/common/outq.o
	$(CC) -o $@ $^ $(ALL_LDFLAGS) -pthread

$(B)/tests/test_packet: $(B)/tests/test_packet.o $(B)/sniff/packet.o
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS)

# The replay's shortcut past BPF, against libpcap's compiled filter.
$(B)/tests/test_prefilter: $(B)/tests/test_prefilter.o $(B)/sniff/pcapsrc.o \
                           $(SNIFF_CORE_OBJ) $(LIB_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS) $(LIB_LIBS) $(SNIFF_LIBS)

# The journal and the remote outputs (output/).
$(B)/tests/test_journal: $(B)/tests/test_journal.o $(JOURNAL_OBJ) \
                         $(PROTO_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS) -lsqlite3 -lm

# Two programs on one journal: the copies rule and the deliveries' lock.
$(B)/tests/test_twoprog: $(B)/tests/test_twoprog.o $(JOURNAL_OBJ) \
                         $(B)/output/lease.o $(PROTO_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS) -lsqlite3 -lm -pthread

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

# The InfluxDB line of a reading: the formatter and the protocol core.
$(B)/tests/test_influx: $(B)/tests/test_influx.o $(B)/output/influx_line.o \
                        $(PROTO_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS)

$(B)/tests/test_group: $(B)/tests/test_group.o $(LIB_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS) $(LIB_LIBS)

BENCHES    += $(B)/tests/bench_journal
$(B)/tests/bench_journal: $(B)/tests/bench_journal.o $(JOURNAL_OBJ) \
                          $(PROTO_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) -lsqlite3 -lm

$(B)/tests/test_delivery: $(B)/tests/test_delivery.o $(B)/output/delivery.o \
                          $(JOURNAL_OBJ) $(B)/common/log.o $(B)/common/outq.o \
                          $(PROTO_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS) -levent -lsqlite3 -lm -pthread

# The relay's end-to-end helpers: a kit simulator and a stand-in portal,
# used by tests/relay/ and by the relay benchmark (which runs on build/).
RELAY_TEST_PROGS := $(B)/tests/kitsim $(B)/tests/portal
TEST_TOOLS += $(RELAY_TEST_PROGS)
BENCHES += tests/bench-relay.sh tests/bench-http.sh
bench: $(RELAY_TEST_PROGS) $(B)/tests/omk-feed
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

# omnik-sniff with its default config file under the build directory
# instead of /etc: what a replay does on an installed system, tested
# without touching the real /etc (tests/cli/t-installed.sh).
TEST_SYSCONFDIR := $(abspath $(B))/tests/sysconf
TEST_TOOLS += $(B)/tests/omnik-sniff-sysconf
$(B)/tests/sysconf-obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -DSYSCONFDIR='"$(TEST_SYSCONFDIR)"' -c -o $@ $<
$(B)/tests/omnik-sniff-sysconf: $(B)/tests/sysconf-obj/sniff/omnik-sniff.o \
                $(B)/tests/sysconf-obj/common/config.o $(B)/sniff/pcapsrc.o \
                $(B)/sniff/nfqsrc.o $(B)/sniff/source.o $(SNIFF_CORE_OBJ) \
                $(filter-out $(B)/common/config.o,$(LIB_OBJ))
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(LIB_LIBS) $(SNIFF_LIBS)

# The config loader's fuzz target, replayed like fuzz_proto's (its corpus:
# tests/fuzz/corpus-config); `make fuzz` runs it with libFuzzer too.
FUZZ_CONFIG_REPLAY := $(B)/tests/fuzz_config_replay
test-programs: $(FUZZ_CONFIG_REPLAY)
$(FUZZ_CONFIG_REPLAY): $(B)/tests/fuzz/fuzz_config.o $(B)/tests/fuzz/replay.o \
                       $(LIB_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(LIB_LIBS)

.PHONY: fuzz-config
fuzz: fuzz-config
fuzz-config:
	$(MAKE) B=build/fuzz CC=clang SANFLAGS= $(LIB_OBJ:$(B)/%=build/fuzz/%) \
	    CFLAGS="-O1 -g -fsanitize=fuzzer-no-link,address,undefined"
	@mkdir -p build/fuzz/corpus-config
	clang -std=c11 -D_GNU_SOURCE $(INCLUDES) $(WARN) -O1 -g \
	    -fsanitize=fuzzer,address,undefined -o build/fuzz/fuzz_config \
	    tests/fuzz/fuzz_config.c $(LIB_OBJ:$(B)/%=build/fuzz/%) $(LIB_LIBS)
	build/fuzz/fuzz_config -max_total_time=$(FUZZ_TIME) -max_len=4096 \
	    -print_final_stats=1 -artifact_prefix=build/fuzz/config- \
	    build/fuzz/corpus-config tests/fuzz/corpus-config

# The packet parser + reassembly fuzz target (tests/fuzz/fuzz_sniff.c),
# replayed over tests/fuzz/corpus-sniff like fuzz_proto's corpus.
FUZZ_SNIFF_OBJ := $(SNIFF_CORE_OBJ) $(B)/output/stream.o $(B)/common/log.o \
                  $(B)/common/outq.o \
                  $(B)/output/outputs.o $(B)/output/invstate.o $(PROTO_OBJ)
FUZZ_REPLAY += $(if $(wildcard tests/fuzz/fuzz_sniff.c),$(B)/tests/fuzz_sniff_replay)
$(B)/tests/fuzz_sniff_replay: $(B)/tests/fuzz/fuzz_sniff.o $(B)/tests/fuzz/replay.o \
                              $(FUZZ_SNIFF_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) -lsqlite3 -lm -pthread

# The per-inverter rules across readings (output/invstate.c), seeded
# from a real journal.
$(B)/tests/test_invstate: $(B)/tests/test_invstate.o $(B)/output/invstate.o \
                          $(JOURNAL_OBJ) $(PROTO_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS) -lsqlite3 -lm

$(B)/tests/test_status: $(B)/tests/test_status.o $(PROTO_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS)

# kitpoll: a kit to be polled (TCP 8899, the status pages), for tests/poll/.
TEST_TOOLS += $(B)/tests/kitpoll
$(B)/tests/kitpoll: $(B)/tests/kitpoll.o $(PROTO_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS)

$(B)/tests/test_text: $(B)/tests/test_text.o $(PROTO_OBJ) $(B)/output/text.o \
                      $(B)/common/log.o $(B)/common/outq.o
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS) -pthread

# An idle relay's memory over several starts (issue 16: RSS <= 4 MiB).
BENCHES += tests/bench-rss.sh

# Standard output off the loop, on real pipes.
$(B)/tests/test_outq: $(B)/tests/test_outq.o $(B)/common/outq.o
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS) -pthread
