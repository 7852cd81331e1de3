# SPDX-License-Identifier: GPL-2.0-or-later
# sniff/: omnik-sniff, the passive and inline captures.
INCLUDES += -Isniff
PROGRAMS += $(B)/omnik-sniff
SNIFF_LIBS := $(shell pkg-config --libs libpcap libnetfilter_queue libevent_core 2>/dev/null || echo -lpcap -lnetfilter_queue -lnfnetlink -levent_core)
# The pure part (packets, reassembly, the consumer): unit tests and tools
# link it without libpcap.
SNIFF_CORE_OBJ := $(B)/sniff/packet.o $(B)/sniff/tcpreasm.o $(B)/sniff/tcpflow.o $(B)/sniff/sniff.o \
                  $(B)/sniff/prefilter.o

$(B)/omnik-sniff: $(B)/sniff/omnik-sniff.o $(B)/sniff/pcapsrc.o \
                  $(B)/sniff/nfqsrc.o $(B)/sniff/source.o $(SNIFF_CORE_OBJ) $(LIB_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(LIB_LIBS) $(SNIFF_LIBS)

# make bench: replay throughput next to tcpdump, and memory with 100,000
# open flows (tests/bench-sniff.sh, with this build's directory filled in).
BENCHES += $(B)/tests/bench-sniff
$(B)/tests/bench-sniff: tests/bench-sniff.sh $(B)/tests/mkpcap $(B)/omnik-sniff
	@mkdir -p $(@D)
	sed 's|@B@|$(B)|' $< >$@ && chmod +x $@

