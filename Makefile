# omniklog: one GNU Makefile for the programs, tests, fuzzers and benchmarks.
#
#   make               build every program into build/
#   make check         ASan+UBSan build in build/check/, run every test
#   make run           the main job on embedded defaults (see README)
#   make bench         benchmarks, -O2, no sanitizers
#   make fuzz          libFuzzer (clang) on the protocol core, FUZZ_TIME s
#   make install       PREFIX=/usr/local DESTDIR=
#
# Switches: CC=clang, WERROR=1 (CI), SANITIZE=1 (what check uses).

CC       ?= cc
PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
DESTDIR  ?=
FUZZ_TIME ?= 60

ifeq ($(SANITIZE),1)
B        ?= build/check
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
            -fno-omit-frame-pointer
else
B        ?= build
SANFLAGS :=
endif

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wformat=2 -Wpointer-arith -Wvla -Wundef -Wwrite-strings
ifeq ($(WERROR),1)
WARN     += -Werror
endif
CFLAGS   ?= -O2 -g
INCLUDES := -Iproto -Ioutput -Icommon
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(INCLUDES) $(WARN) $(CFLAGS) \
             $(SANFLAGS) -MMD -MP
ALL_LDFLAGS = $(LDFLAGS) $(SANFLAGS)

# The pipeline, folder by folder (see DESIGN.md): ways in (relay/, sniff/)
# -> protocol core (proto/) -> dispatcher and outputs (output/).
PROTO_SRC  := proto/framer.c proto/decode.c proto/encode.c
OUTPUT_SRC := output/outputs.c output/csv.c output/text.c
COMMON_SRC := common/log.c common/stream.c
SNIFF_SRC  := sniff/omnik-sniff.c

PROTO_OBJ  := $(PROTO_SRC:%.c=$(B)/%.o)
OUTPUT_OBJ := $(OUTPUT_SRC:%.c=$(B)/%.o)
COMMON_OBJ := $(COMMON_SRC:%.c=$(B)/%.o)
LIB_OBJ    := $(PROTO_OBJ) $(OUTPUT_OBJ) $(COMMON_OBJ)

PROGRAMS   := $(B)/omnik-sniff

# Unit tests link only the objects they need.
TEST_LIBS  := $(shell pkg-config --libs cmocka jansson 2>/dev/null || echo -lcmocka -ljansson)
UNIT_TESTS := $(B)/tests/test_framer $(B)/tests/test_decode \
              $(B)/tests/test_csv
TEST_HELPERS := $(B)/tests/vectors.o
FUZZ_REPLAY := $(B)/tests/fuzz_proto_replay

.PHONY: all check test-programs run bench fuzz install uninstall clean deps

all: $(PROGRAMS)

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/omnik-sniff: $(B)/sniff/omnik-sniff.o $(LIB_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS)

$(B)/tests/test_framer: $(B)/tests/test_framer.o $(TEST_HELPERS) $(PROTO_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS)

$(B)/tests/test_decode: $(B)/tests/test_decode.o $(TEST_HELPERS) $(PROTO_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS)

$(B)/tests/test_csv: $(B)/tests/test_csv.o $(TEST_HELPERS) $(PROTO_OBJ) \
                     $(B)/output/csv.o $(B)/output/text.o $(B)/common/log.o
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS)

# The fuzz target, linked with a main() that replays a corpus: gcc can
# build it, and check runs it under the sanitizers.
$(FUZZ_REPLAY): $(B)/tests/fuzz/fuzz_proto.o $(B)/tests/fuzz/replay.o \
                $(PROTO_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS)

$(B)/tests/bench_proto: $(B)/tests/bench_proto.o $(PROTO_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS)

test-programs: $(PROGRAMS) $(UNIT_TESTS) $(FUZZ_REPLAY)

deps:
	@scripts/install-deps --if-missing

check: deps
	$(MAKE) SANITIZE=1 test-programs
	tests/run-tests build/check

run: deps all
	@echo "omnik-sniff decoding the shared test vectors (tests/data/vectors.tsv):"
	@tests/vectors-to-stream tests/data/vectors.tsv | $(B)/omnik-sniff --stream -

bench: all $(B)/tests/bench_proto
	$(B)/tests/bench_proto

# libFuzzer needs clang; the corpus under tests/fuzz/corpus is only read,
# new inputs go to build/fuzz/corpus.
fuzz:
	$(MAKE) B=build/fuzz CC=clang SANFLAGS= $(PROTO_OBJ:$(B)/%=build/fuzz/%) \
	    CFLAGS="-O1 -g -fsanitize=fuzzer-no-link,address,undefined"
	@mkdir -p build/fuzz/corpus
	clang -std=c11 -D_GNU_SOURCE $(INCLUDES) -O1 -g \
	    -fsanitize=fuzzer,address,undefined -o build/fuzz/fuzz_proto \
	    tests/fuzz/fuzz_proto.c $(PROTO_SRC:%.c=build/fuzz/%.o)
	build/fuzz/fuzz_proto -max_total_time=$(FUZZ_TIME) -print_final_stats=1 \
	    build/fuzz/corpus tests/fuzz/corpus

install: all
	install -d $(DESTDIR)$(BINDIR)
	install -m 755 $(PROGRAMS) $(DESTDIR)$(BINDIR)/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/omnik-sniff

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
