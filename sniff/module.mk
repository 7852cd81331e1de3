# sniff/: omnik-sniff, the passive and inline captures.
INCLUDES += -Isniff
PROGRAMS += $(B)/omnik-sniff

$(B)/omnik-sniff: $(B)/sniff/omnik-sniff.o $(LIB_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(LIB_LIBS)
