# output/: the dispatcher, the sinks, the journal and the remote outputs
# (each a cursor over the journal, driven by the program's event loop).
OUTPUT_SRC += output/outputs.c output/csv.c output/text.c output/journal.c
LIB_LIBS   += -lsqlite3 -lm

# Unit tests of this folder (tests/test_*.c are found by tests/module.mk;
# their link rules live here, next to what they test).
$(B)/tests/test_journal: $(B)/tests/test_journal.o $(B)/output/journal.o \
                         $(PROTO_SRC:%.c=$(B)/%.o)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS) -lsqlite3 -lm
