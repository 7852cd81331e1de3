# SPDX-License-Identifier: GPL-2.0-or-later
# output/: the dispatcher, the sinks, the journal and the remote outputs
# (each a cursor over the journal, driven by the program's event loop).
OUTPUT_SRC += output/outputs.c output/csv.c output/text.c output/journal.c \
              output/delivery.c output/setup.c output/pgsql.c output/mqtt.c \
              output/pgsql_conninfo.c \
              output/mqtt_ha.c output/mqtt_conf.c \
              output/pvoutput.c output/dynlib.c \
              output/curlev.c output/registry.c output/pvoutput_conf.c
# InfluxDB: the driver, its [influxdb] section, the line protocol.
OUTPUT_SRC += output/influx.c output/influx_conf.c output/influx_line.c
OUTPUT_SRC += output/resolve.c
# The deliveries' lock beside the journal: one program of those sharing
# it delivers (output/lease.h).
OUTPUT_SRC += output/lease.c
# The stream entry point: bytes -> framer -> decoder -> the dispatcher.
OUTPUT_SRC += output/stream.c
# The journal in four files (output/journal_int.h): the public API and
# sink, the readers, the writer thread, the SQL on one connection.
# journal.c is listed above; the tests link these objects alone.
OUTPUT_SRC  += output/journal_read.c output/journal_writer.c \
               output/journal_sql.c
JOURNAL_OBJ := $(B)/output/journal.o $(B)/output/journal_read.o \
               $(B)/output/journal_writer.o $(B)/output/journal_sql.o
# The per-inverter limits and rate across readings (output/stream.c).
OUTPUT_SRC += output/invstate.c
# libpq, libmosquitto and libcurl are not linked: each remote output
# loads its library with dlopen() when it is configured (output/dynlib.h),
# so a relay without them carries neither them nor their TLS stacks. The
# -dev headers are still needed to build. dlopen() lives in libc since
# glibc 2.34, in libdl before: link libdl only where it is needed.
# libevent_core, not libevent: nothing here uses evdns/evhttp/evrpc
# (libevent_extra), and the whole library costs an idle relay ~100 KiB.
LIB_LIBS   += -lsqlite3 -levent_core -lm -Wl,--as-needed -ldl \
              -Wl,--no-as-needed
# Name lookups run in worker threads (output/resolve.c).
LIB_LIBS   += -pthread

# The sonames loaded, and the Debian packages the error names when one
# is missing: e.g. make LIBCURL_SONAME=libcurl-gnutls.so.4
# LIBCURL_PACKAGE=libcurl3-gnutls (then make clean, or touch the .c).
LIBPQ_SONAME         ?= libpq.so.5
LIBPQ_PACKAGE        ?= libpq5
LIBMOSQUITTO_SONAME  ?= libmosquitto.so.1
LIBMOSQUITTO_PACKAGE ?= libmosquitto1
LIBCURL_SONAME       ?= libcurl.so.4
LIBCURL_PACKAGE      ?= libcurl4
$(B)/output/pgsql.o: ALL_CFLAGS += -DOMNIK_LIBPQ_SONAME='"$(LIBPQ_SONAME)"' \
    -DOMNIK_LIBPQ_PACKAGE='"$(LIBPQ_PACKAGE)"'
$(B)/output/mqtt.o: ALL_CFLAGS += \
    -DOMNIK_LIBMOSQUITTO_SONAME='"$(LIBMOSQUITTO_SONAME)"' \
    -DOMNIK_LIBMOSQUITTO_PACKAGE='"$(LIBMOSQUITTO_PACKAGE)"'
$(B)/output/curlev.o: ALL_CFLAGS += \
    -DOMNIK_LIBCURL_SONAME='"$(LIBCURL_SONAME)"' \
    -DOMNIK_LIBCURL_PACKAGE='"$(LIBCURL_PACKAGE)"'

# libpq's header lives in its own directory on Debian.
PQ_CFLAGS  := $(shell pkg-config --cflags libpq 2>/dev/null || echo -I/usr/include/postgresql)
$(B)/output/pgsql.o $(B)/output/pgsql_conninfo.o: ALL_CFLAGS += $(PQ_CFLAGS)

# Above common/, below the program skeleton (app/) and the programs.
$(B)/output/%.o: INCLUDES = -Iproto -Icommon -Ioutput
