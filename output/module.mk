# output/: the dispatcher, the sinks, the journal and the remote outputs
# (each a cursor over the journal, driven by the program's event loop).
OUTPUT_SRC += output/outputs.c output/csv.c output/text.c output/journal.c \
              output/delivery.c output/setup.c output/pgsql.c output/mqtt.c \
              output/pvoutput.c
OUTPUT_SRC += output/resolve.c
LIB_LIBS   += -lsqlite3 -lpq -lmosquitto -lcurl -levent -lm
# Name lookups run in worker threads (output/resolve.c).
LIB_LIBS   += -pthread

# libpq's header lives in its own directory on Debian.
PQ_CFLAGS  := $(shell pkg-config --cflags libpq 2>/dev/null || echo -I/usr/include/postgresql)
$(B)/output/pgsql.o: ALL_CFLAGS += $(PQ_CFLAGS)
