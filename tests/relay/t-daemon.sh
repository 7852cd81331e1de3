#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The daemon's start-up contract with init scripts: the parent's exit
# status says whether the daemon really came up, and the pid file never
# outlives the daemon (a stale one would make a later "stop" signal an
# unrelated process).
set -u
. "$(dirname "$0")/../tap.sh"
RELAY=$B/omnik-relay
T=$(mktemp -d)
chmod 755 "$T"
mkdir -m 777 "$T/db"
PORT=$((20000 + $$ % 20000))
trap '[ -s "$T/ok/relay.pid" ] && kill "$(cat "$T/ok/relay.pid")" 2>/dev/null; rm -rf "$T"' EXIT

"$RELAY" -c /dev/null -u '' -l "127.0.0.1:$PORT" --pidfile "$T/bad/relay.pid" \
	--db /proc/nonexistent/omniklog.db 2>"$T/err"; rc=$?
if [ $rc -eq 1 ] && [ ! -e "$T/bad/relay.pid" ]; then
	ok "journal cannot be opened: the parent exits 1 and no pid file is left"
else not_ok "failing daemon" "rc=$rc $(ls -la "$T/bad" 2>&1)"; fi

"$RELAY" -c /dev/null -u nobody -l "127.0.0.1:$PORT" --pidfile "$T/ok/relay.pid" \
	--db "$T/db/omniklog.db" 2>"$T/err"; rc=$?
pid=$(cat "$T/ok/relay.pid" 2>/dev/null)
if [ $rc -eq 0 ] && [ -n "$pid" ] && [ "$(ps -o user= -p "$pid" | tr -d ' ')" = nobody ]; then
	ok "daemon up: the parent exits 0 once it runs as nobody with its outputs open"
else not_ok "daemon up" "rc=$rc pid=$pid $(cat "$T/err")"; fi
check "it serves a push" "$B/tests/kitsim" -t 5 "127.0.0.1:$PORT"
kill -TERM "$pid" 2>/dev/null
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if ! kill -0 "$pid" 2>/dev/null && [ ! -e "$T/ok/relay.pid" ] &&
   [ "$(sqlite3 "$T/db/omniklog.db" 'SELECT count(*) FROM readings')" = 1 ]; then
	ok "SIGTERM: it exits, removes its pid file as nobody, the reading is in the journal"
else not_ok "SIGTERM" "$(ls -la "$T/ok" 2>&1)"; fi
finish
