# SPDX-License-Identifier: GPL-2.0-or-later
# omniklog: one GNU Makefile for the programs, tests, fuzzers and benchmarks.
#
#   make               build every program into build/
#   make check         ASan+UBSan build in build/check/, run every test
#   make run           the main job on embedded defaults (see README)
#   make bench         benchmarks, -O2, no sanitizers
#   make fuzz          libFuzzer (clang) on the protocol core, FUZZ_TIME s
#   make install       PREFIX=/usr/local DESTDIR= (make uninstall undoes it)
#   make cross ARCH=arm64|armhf   cross build in build/ARCH/ (+ its tests)
#
# Switches: CC=clang, WERROR=1 (CI), SANITIZE=1 (what check uses).
# CPPFLAGS, CFLAGS and LDFLAGS from the environment or the command line
# (as dpkg-buildflags sets them) are used on top of the warnings below;
# CFLAGS replaces only the default -O2 -g.

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
MANDIR   ?= $(PREFIX)/share/man
INSTALL_SUBST = sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SBINDIR@|$(SBINDIR)|g' \
                   -e 's|@DOCDIR@|$(DOCDIR)|g' -e 's|@ETCDIR@|$(ETCDIR)|g'
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
# Everything sees everything (relay/, sniff/, tests/ and benches, each
# program's module.mk adds its folder); the shared folders narrow this to
# the layers below them in their module.mk, so that an include against
# the layering fails to build: proto < common < output < app.
INCLUDES := -Iproto -Ioutput -Icommon -Iapp
# CROSS_CPPFLAGS/CROSS_LDFLAGS: the foreign -dev files of `make cross`.
# 64-bit file offsets on 32-bit targets too (armhf): a CSV past 2 GiB, and
# readdir/stat on file systems with 64-bit inode numbers and cookies.
# Each function in a section of its own: the link can then place what
# an idle program runs together (relay/module.mk).
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 $(INCLUDES) \
             $(CROSS_CPPFLAGS) \
             $(CPPFLAGS) $(WARN) $(CFLAGS) $(SANFLAGS) -ffunction-sections \
             -MMD -MP
ALL_LDFLAGS = $(CROSS_LDFLAGS) $(LDFLAGS) $(SANFLAGS) $(RELR_LDFLAGS)
# Relative relocations packed (DT_RELR, binutils 2.38 and glibc 2.36 on):
# a PIE's 18 KB of .rela.dyn become 0.2 KB, ~20 KiB of an idle relay's
# RSS. Used where the toolchain links with it.
# (Linked without a word: Debian 12's aarch64 ld says "ignored", exit 0.)
RELR_LDFLAGS := $(shell out=$$(printf 'int main(void){return 0;}' | \
    $(CC) -x c -o /dev/null -Wl,-z,pack-relative-relocs - 2>&1) && \
    [ -z "$$out" ] && echo -Wl,-z,pack-relative-relocs)

# The pipeline, folder by folder (see DESIGN.md): ways in (relay/, sniff/)
# -> protocol core (proto/) -> stream entry, dispatcher and outputs
# (output/), with common/ below the outputs (log, config, daemon) and the
# program skeleton (app/) above them.
# Each folder's module.mk appends to these lists.
PROTO_SRC  :=
OUTPUT_SRC :=
COMMON_SRC :=
APP_SRC    :=
LIB_LIBS   :=
PROGRAMS   :=
UNIT_TESTS :=
TEST_TOOLS :=
BENCHES    :=

# The shared code first: its object lists must be complete before the
# programs' rules (prerequisites are expanded when a rule is read).
SHARED_MK  := proto/module.mk common/module.mk output/module.mk app/module.mk
include $(SHARED_MK)

PROTO_OBJ  := $(PROTO_SRC:%.c=$(B)/%.o)
OUTPUT_OBJ := $(OUTPUT_SRC:%.c=$(B)/%.o)
COMMON_OBJ := $(COMMON_SRC:%.c=$(B)/%.o)
APP_OBJ    := $(APP_SRC:%.c=$(B)/%.o)
LIB_OBJ    := $(PROTO_OBJ) $(OUTPUT_OBJ) $(COMMON_OBJ) $(APP_OBJ)

include $(filter-out $(SHARED_MK), $(sort $(wildcard */module.mk)))

# Everything that compiles: CI holds all of it to -Werror with gcc and clang.
world: all test-programs $(BENCHES)

.PHONY: world all check test-programs run bench fuzz install uninstall clean deps \
        man cross run-deps

all: $(PROGRAMS)

# Objects depend on the compiler and flags they were built with, kept in
# $(B)/.cflags and rewritten when they change: a new option (say
# -ffunction-sections, which the relay's link layout needs) rebuilds a
# tree from before it, not only a clean one.
CFLAGS_STAMP := $(B)/.cflags
ifneq ($(file <$(CFLAGS_STAMP)),$(CC) $(ALL_CFLAGS))
$(shell mkdir -p $(B))
$(file >$(CFLAGS_STAMP),$(CC) $(ALL_CFLAGS))
endif

$(B)/%.o: %.c $(CFLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

test-programs: $(PROGRAMS) $(UNIT_TESTS) $(TEST_TOOLS) $(FUZZ_REPLAY)

# check needs the test servers and tools; run only what building and
# running the relay needs.
deps:
	@scripts/install-deps --if-missing --build --run --test
run-deps:
	@scripts/install-deps --if-missing --build --run

check: deps
	$(MAKE) SANITIZE=1 test-programs
	tests/run-tests build/check

# The relay on its built-in defaults (-c /dev/null: no config file): port
# 10004, IPv4 and IPv6, forwarding to each connection's original
# destination, readings to the journal data/omniklog.db, data/omniklog.csv
# and stderr, as the user who runs it (-u ''; without it root would need
# the omniklog user), its status page on 127.0.0.1:8080. Ctrl-C stops.
run: run-deps all
	@mkdir -p data
	@echo "omnik-relay: port 10004, upstream original, journal data/omniklog.db, CSV data/omniklog.csv (Ctrl-C stops)"
	@echo "status page: http://127.0.0.1:8080/  (JSON: /status.json, Prometheus: /metrics)"
	$(B)/omnik-relay -f -c /dev/null -u '' --db data/omniklog.db --csv data/omniklog.csv --http 127.0.0.1:8080

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
	    tests/fuzz/fuzz_sniff.c $(FUZZ_SNIFF_OBJ:$(B)/%=build/fuzz/%) -lsqlite3 -lm \
	    -pthread
	build/fuzz/fuzz_sniff -max_total_time=$(FUZZ_TIME) -print_final_stats=1 \
	    -artifact_prefix=build/fuzz/sniff- build/fuzz/corpus-sniff \
	    tests/fuzz/corpus-sniff

# make install: the programs, the scripts, the units and their sysusers.d
# user, the SysV init script, the logrotate snippet, the man pages and the
# docs; the config only if there is none. Every directory it had to create
# is listed in $(DOCDIR)/installed-dirs so that make uninstall removes
# exactly those (when empty) and nothing it found in place.
MAN_PAGES  := $(B)/man/omnik-relay.8 $(B)/man/omnik-sniff.8 \
              $(B)/man/omniklog.conf.5 $(B)/man/omniklog-rules.8 \
              $(B)/man/omnik-sniff-nfqueue.8 $(B)/man/omnik-poll.8
INST_DIRS  := $(BINDIR) $(SBINDIR) $(UNITDIR) $(SYSUSERSDIR) \
              $(ETCDIR)/init.d $(ETCDIR)/logrotate.d $(ETCDIR)/omniklog \
              $(MANDIR)/man5 $(MANDIR)/man8 $(DOCDIR)/examples
INST_LIST  := $(DESTDIR)$(DOCDIR)/installed-dirs

man: $(MAN_PAGES)
$(B)/man/%: docs/man/%.scd
	@mkdir -p $(@D)
	scdoc <$< >$@.tmp && mv $@.tmp $@

install: all man
	@for d in $(INST_DIRS); do \
	    p=$$d; while [ "$$p" != / ] && [ ! -d "$(DESTDIR)$$p" ]; do \
	        echo "$$p"; p=$$(dirname "$$p"); done; \
	done >$(B)/installed-dirs.new
	install -d $(addprefix $(DESTDIR),$(INST_DIRS))
	cat $(B)/installed-dirs.new >>$(INST_LIST)
	install -m 755 $(PROGRAMS) $(DESTDIR)$(BINDIR)/
	install -m 755 scripts/omniklog-rules scripts/omnik-sniff-nfqueue \
	    $(DESTDIR)$(SBINDIR)/
	for f in omnik-relay.service omnik-sniff.service omnik-poll.service; do \
	    $(INSTALL_SUBST) scripts/$$f >$(DESTDIR)$(UNITDIR)/$$f && \
	    chmod 644 $(DESTDIR)$(UNITDIR)/$$f || exit 1; done
	install -m 644 scripts/omniklog.sysusers \
	    $(DESTDIR)$(SYSUSERSDIR)/omniklog.conf
	$(INSTALL_SUBST) scripts/omniklog >$(DESTDIR)$(ETCDIR)/init.d/omniklog
	chmod 755 $(DESTDIR)$(ETCDIR)/init.d/omniklog
	install -m 644 scripts/omniklog.logrotate \
	    $(DESTDIR)$(ETCDIR)/logrotate.d/omniklog
	install -m 644 $(filter %.8,$(MAN_PAGES)) $(DESTDIR)$(MANDIR)/man8/
	install -m 644 $(filter %.5,$(MAN_PAGES)) $(DESTDIR)$(MANDIR)/man5/
	install -m 644 README.md $(DESTDIR)$(DOCDIR)/
	install -m 644 scripts/omniklog.conf scripts/rsyslog-omniklog.conf \
	    $(DESTDIR)$(DOCDIR)/examples/
	# It may hold passwords: readable by the service's group only.
	test -e $(DESTDIR)$(ETCDIR)/omniklog/omniklog.conf || { \
	    install -m 640 scripts/omniklog.conf \
	        $(DESTDIR)$(ETCDIR)/omniklog/omniklog.conf && \
	    { chgrp omniklog $(DESTDIR)$(ETCDIR)/omniklog/omniklog.conf \
	        2>/dev/null || chmod 644 \
	        $(DESTDIR)$(ETCDIR)/omniklog/omniklog.conf; }; }

# The config goes only if it is the one install put there; rc links made
# by update-rc.d go with the init script (on the live system only).
uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(PROGRAMS))) \
	    $(DESTDIR)$(SBINDIR)/omniklog-rules \
	    $(DESTDIR)$(SBINDIR)/omnik-sniff-nfqueue \
	    $(DESTDIR)$(UNITDIR)/omnik-relay.service \
	    $(DESTDIR)$(UNITDIR)/omnik-sniff.service \
	    $(DESTDIR)$(UNITDIR)/omnik-poll.service \
	    $(DESTDIR)$(SYSUSERSDIR)/omniklog.conf \
	    $(DESTDIR)$(ETCDIR)/init.d/omniklog \
	    $(DESTDIR)$(ETCDIR)/logrotate.d/omniklog \
	    $(addprefix $(DESTDIR)$(MANDIR)/man8/,omnik-relay.8 omnik-sniff.8 \
	        omniklog-rules.8 omnik-sniff-nfqueue.8 omnik-poll.8) \
	    $(DESTDIR)$(MANDIR)/man5/omniklog.conf.5 \
	    $(DESTDIR)$(DOCDIR)/README.md \
	    $(DESTDIR)$(DOCDIR)/examples/omniklog.conf \
	    $(DESTDIR)$(DOCDIR)/examples/rsyslog-omniklog.conf
	if [ -z "$(DESTDIR)" ] && command -v update-rc.d >/dev/null; then \
	    update-rc.d omniklog remove >/dev/null; fi
	if cmp -s scripts/omniklog.conf \
	    $(DESTDIR)$(ETCDIR)/omniklog/omniklog.conf; then \
	    rm -f $(DESTDIR)$(ETCDIR)/omniklog/omniklog.conf; fi
	@if [ -f $(INST_LIST) ]; then \
	    dirs=$$(sort -ru $(INST_LIST)); rm -f $(INST_LIST); \
	    for d in $$dirs; do rmdir "$(DESTDIR)$$d" 2>/dev/null || \
	        { [ -d "$(DESTDIR)$$d" ] && echo "uninstall: kept $$d (not empty)"; }; \
	    done; fi; true

# make cross ARCH=arm64|armhf: a cross build with Debian's cross compiler
# and that architecture's multiarch -dev packages (scripts/install-deps
# --cross ARCH), then the unit tests and fuzz replays under qemu-user.
CROSS_TRIPLET_arm64 := aarch64-linux-gnu
CROSS_TRIPLET_armhf := arm-linux-gnueabihf
CROSS_ROOT ?= /var/cache/omniklog-cross/$(ARCH)
CROSS_TRIPLET = $(CROSS_TRIPLET_$(ARCH))
# The unpacked -dev packages that cannot be installed next to the native.
CROSS_FLAGS = CROSS_CPPFLAGS="-I$(CROSS_ROOT)/usr/include \
    -I$(CROSS_ROOT)/usr/include/postgresql" \
    CROSS_LDFLAGS="-L$(CROSS_ROOT)/usr/lib/$(CROSS_TRIPLET)"

cross:
	@test -n "$(CROSS_TRIPLET)" || { echo "make cross ARCH=arm64|armhf" >&2; exit 2; }
	@test -d $(CROSS_ROOT)/usr/include/event2 || { echo \
	    "missing the $(ARCH) -dev packages: scripts/install-deps --cross $(ARCH)" >&2; exit 1; }
	$(MAKE) B=build/$(ARCH) CC=$(CROSS_TRIPLET)-gcc SANITIZE= \
	    $(CROSS_FLAGS) all test-programs
	tests/run-cross $(ARCH) build/$(ARCH)

clean:
	rm -rf build

-include $(shell find $(sort build $(B)) -name '*.d' 2>/dev/null)
