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

# The module.mk files below define rules before `all`: keep it the default.
.DEFAULT_GOAL := all

CC       ?= cc
PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
SBINDIR  ?= $(PREFIX)/sbin
ETCDIR   ?= /etc
UNITDIR  ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
DOCDIR   ?= $(PREFIX)/share/doc/omniklog
INSTALL_SUBST = sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SBINDIR@|$(SBINDIR)|g' \
                   -e 's|@DOCDIR@|$(DOCDIR)|g'
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
# -> protocol core (proto/) -> dispatcher and outputs (output/), with
# common/ holding what the programs share (log, config, the stream entry).
# Each folder's module.mk appends to these lists.
PROTO_SRC  :=
OUTPUT_SRC :=
COMMON_SRC :=
LIB_LIBS   :=
PROGRAMS   :=
UNIT_TESTS :=
TEST_TOOLS :=
BENCHES    :=

# The shared code first: its object lists must be complete before the
# programs' rules (prerequisites are expanded when a rule is read).
include proto/module.mk output/module.mk common/module.mk

PROTO_OBJ  := $(PROTO_SRC:%.c=$(B)/%.o)
OUTPUT_OBJ := $(OUTPUT_SRC:%.c=$(B)/%.o)
COMMON_OBJ := $(COMMON_SRC:%.c=$(B)/%.o)
LIB_OBJ    := $(PROTO_OBJ) $(OUTPUT_OBJ) $(COMMON_OBJ)

include $(filter-out proto/module.mk output/module.mk common/module.mk, \
          $(sort $(wildcard */module.mk)))

# Everything that compiles: CI holds all of it to -Werror with gcc and clang.
world: all test-programs $(BENCHES)

.PHONY: world all check test-programs run bench fuzz install uninstall clean deps

all: $(PROGRAMS)

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

test-programs: $(PROGRAMS) $(UNIT_TESTS) $(TEST_TOOLS) $(FUZZ_REPLAY)

deps:
	@scripts/install-deps --if-missing

check: deps
	$(MAKE) SANITIZE=1 test-programs
	tests/run-tests build/check

# The relay on its built-in defaults (-c /dev/null: no config file): port
# 10004, IPv4 and IPv6, forwarding to each connection's original
# destination, readings to the journal data/omniklog.db, data/omniklog.csv
# and stderr, as the user who runs it (-u ''; without it root would need
# the omniklog user). Ctrl-C stops.
run: deps all
	@mkdir -p data
	@echo "omnik-relay: port 10004, upstream original, journal data/omniklog.db, CSV data/omniklog.csv (Ctrl-C stops)"
	$(B)/omnik-relay -f -c /dev/null -u '' --db data/omniklog.db --csv data/omniklog.csv

bench: all $(BENCHES)
	@for b in $(BENCHES); do echo "== $$b"; $$b || exit 1; done

# libFuzzer needs clang; the corpus under tests/fuzz/corpus is only read,
# new inputs go to build/fuzz/corpus, crashing ones to build/fuzz/crash-*
# (add them to tests/fuzz/corpus once fixed). One process, one core.
fuzz:
	$(MAKE) B=build/fuzz CC=clang SANFLAGS= $(PROTO_OBJ:$(B)/%=build/fuzz/%) \
	    CFLAGS="-O1 -g -fsanitize=fuzzer-no-link,address,undefined"
	@mkdir -p build/fuzz/corpus
	clang -std=c11 -D_GNU_SOURCE $(INCLUDES) $(WARN) -O1 -g \
	    -fsanitize=fuzzer,address,undefined -o build/fuzz/fuzz_proto \
	    tests/fuzz/fuzz_proto.c $(PROTO_SRC:%.c=build/fuzz/%.o)
	build/fuzz/fuzz_proto -max_total_time=$(FUZZ_TIME) -print_final_stats=1 \
	    -artifact_prefix=build/fuzz/ build/fuzz/corpus tests/fuzz/corpus
	$(MAKE) B=build/fuzz CC=clang SANFLAGS= $(FUZZ_SNIFF_OBJ:$(B)/%=build/fuzz/%) \
	    CFLAGS="-O1 -g -fsanitize=fuzzer-no-link,address,undefined"
	@mkdir -p build/fuzz/corpus-sniff
	clang -std=c11 -D_GNU_SOURCE $(INCLUDES) $(WARN) -O1 -g \
	    -fsanitize=fuzzer,address,undefined -o build/fuzz/fuzz_sniff \
	    tests/fuzz/fuzz_sniff.c $(FUZZ_SNIFF_OBJ:$(B)/%=build/fuzz/%) -lsqlite3 -lm
	build/fuzz/fuzz_sniff -max_total_time=$(FUZZ_TIME) -print_final_stats=1 \
	    -artifact_prefix=build/fuzz/sniff- build/fuzz/corpus-sniff \
	    tests/fuzz/corpus-sniff

install: all
	install -d $(DESTDIR)$(BINDIR)
	install -m 755 $(PROGRAMS) $(DESTDIR)$(BINDIR)/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(PROGRAMS)))

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
