# relay/: omnik-relay, the transparent relay (libevent).
INCLUDES += -Irelay
PROGRAMS += $(B)/omnik-relay
RELAY_SRC := relay/main.c relay/relay.c relay/admit.c relay/session.c \
             relay/upstream.c relay/origdst.c relay/addr.c \
             relay/acl.c
RELAY_LIBS := $(shell pkg-config --libs libevent_core 2>/dev/null || echo -levent_core)

$(B)/omnik-relay: $(RELAY_SRC:%.c=$(B)/%.o) $(LIB_OBJ)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(LIB_LIBS) $(RELAY_LIBS)

# `make install` also puts the relay's scripts in place (PREFIX, DESTDIR):
# the redirect rules, the SysV init script, the systemd unit and its
# sysusers.d user, an example config (never over an existing one) and the
# rsyslog forwarding example.

.PHONY: install-relay uninstall-relay
install: install-relay
uninstall: uninstall-relay

install-relay: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(ETCDIR)/init.d \
	    $(DESTDIR)$(ETCDIR)/omniklog $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(DOCDIR)/examples
	install -m 755 scripts/omniklog-rules $(DESTDIR)$(SBINDIR)/omniklog-rules
	$(INSTALL_SUBST) scripts/omniklog >$(DESTDIR)$(ETCDIR)/init.d/omniklog
	chmod 755 $(DESTDIR)$(ETCDIR)/init.d/omniklog
	$(INSTALL_SUBST) scripts/omnik-relay.service \
	    >$(DESTDIR)$(UNITDIR)/omnik-relay.service
	chmod 644 $(DESTDIR)$(UNITDIR)/omnik-relay.service
	install -m 644 scripts/omniklog.sysusers \
	    $(DESTDIR)$(SYSUSERSDIR)/omniklog.conf
	install -m 644 scripts/omniklog.conf scripts/rsyslog-omniklog.conf \
	    $(DESTDIR)$(DOCDIR)/examples/
	$(if $(wildcard README.md),install -m 644 README.md $(DESTDIR)$(DOCDIR)/)
	test -e $(DESTDIR)$(ETCDIR)/omniklog/omniklog.conf || \
	    install -m 644 scripts/omniklog.conf \
	        $(DESTDIR)$(ETCDIR)/omniklog/omniklog.conf

uninstall-relay:
	rm -f $(DESTDIR)$(SBINDIR)/omniklog-rules \
	    $(DESTDIR)$(ETCDIR)/init.d/omniklog \
	    $(DESTDIR)$(UNITDIR)/omnik-relay.service \
	    $(DESTDIR)$(SYSUSERSDIR)/omniklog.conf \
	    $(DESTDIR)$(DOCDIR)/examples/omniklog.conf \
	    $(DESTDIR)$(DOCDIR)/examples/rsyslog-omniklog.conf \
	    $(DESTDIR)$(DOCDIR)/README.md

$(B)/tests/test_relay_acl: $(B)/tests/test_relay_acl.o $(B)/relay/acl.o \
                           $(B)/relay/addr.o
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS)
