#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The daemon's start-up contract with init scripts: the parent's exit
# status says whether the daemon really came up, and the pid file never
# outlives the daemon (a stale one would make a later "stop" signal an
# unrelated process). And the pid file is no way for the service user to
# make root write or chown a file of its choosing (issue 9 item 1): root
# never writes into a directory that user can write.
set -u
. "$(dirname "$0")/../tap.sh"
RELAY=$B/omnik-relay
T=$(mktemp -d)
chmod 755 "$T"
mkdir -m 777 "$T/db"
PORT=$((20000 + $$ % 20000))
trap 'for f in "$T"/*/relay.pid; do [ -s "$f" ] && [ ! -L "$f" ] && kill "$(cat "$f")" 2>/dev/null; done; rm -rf "$T"' EXIT

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
if ! kill -0 "$pid" 2>/dev/null && [ ! -s "$T/ok/relay.pid" ] &&
   [ "$(sqlite3 "$T/db/omniklog.db" 'SELECT count(*) FROM readings')" = 1 ]; then
	ok "SIGTERM: it exits, its pid file (root's) emptied as nobody, the reading is in the journal"
else not_ok "SIGTERM" "$(ls -la "$T/ok" 2>&1)"; fi

# --- The pid file as an attack on root -------------------------------
# The service user is nobody; the secret is a root-only file it wants.
secret() { printf 'root only\n' >"$T/secret"; chmod 600 "$T/secret"; }
untouched() {	# the secret kept owner, mode and content
	[ "$(stat -c '%U %a' "$T/secret")" = "root 600" ] &&
	[ "$(cat "$T/secret")" = "root only" ]
}
as_nobody() { setpriv --reuid nobody --regid nogroup --clear-groups -- "$@"; }
stop_relay() {	# pid: TERM, wait until it is gone
	kill -TERM "$1" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
}
start() {	# pid file; the relay as nobody, detached
	"$RELAY" -c /dev/null -u nobody -l "127.0.0.1:$PORT" --pidfile "$1" \
		--db "$T/db/omniklog.db" 2>"$T/err"
}

# 1. A detached start leaves no directory the service user can write in
#    the pid file's path, and no pid file it owns.
secret
start "$T/run/relay.pid"; rc=$?
pid=$(cat "$T/run/relay.pid" 2>/dev/null)
if [ $rc -eq 0 ] && [ -n "$pid" ] &&
   [ "$(stat -c %U "$T/run" "$T/run/relay.pid" | sort -u)" = root ] &&
   ! as_nobody ln -s "$T/secret" "$T/run/planted" 2>/dev/null; then
	ok "pid directory and pid file stay root's: the service user cannot plant a link"
else not_ok "pid directory owned by root" "rc=$rc $(ls -la "$T/run" 2>&1) $(cat "$T/err")"; fi
stop_relay "$pid"
if ! kill -0 "$pid" 2>/dev/null && [ ! -s "$T/run/relay.pid" ]; then
	ok "after SIGTERM the pid file names no process (empty or gone)"
else not_ok "pid file after stop" "$(ls -la "$T/run" 2>&1)"; fi

# 2. A symlink in the pid file's place (left by an older version, whose
#    directory the user owned): refused, the target untouched.
ln -sf "$T/secret" "$T/run/relay.pid"
start "$T/run/relay.pid"; rc=$?
if [ $rc -ne 0 ] && untouched && grep -q "relay.pid" "$T/err"; then
	ok "a symlink as the pid file: refused, the target untouched"
else not_ok "symlink pid file" "rc=$rc $(ls -la "$T/secret") $(cat "$T/secret") $(cat "$T/err")"; fi
[ -s "$T/run/relay.pid" ] && [ ! -L "$T/run/relay.pid" ] && stop_relay "$(cat "$T/run/relay.pid")"
rm -f "$T/run/relay.pid"; secret

# 3. A pid directory the service user owns (as the old code made it):
#    the user plants the link itself. Refused, the target untouched.
mkdir -p "$T/userrun" && chown nobody:nogroup "$T/userrun"
as_nobody ln -s "$T/secret" "$T/userrun/relay.pid"
start "$T/userrun/relay.pid"; rc=$?
if [ $rc -ne 0 ] && untouched && grep -q "$T/userrun" "$T/err"; then
	ok "a pid directory the service user owns: refused, the target untouched"
else not_ok "user-owned pid directory" "rc=$rc $(ls -la "$T/secret") $(cat "$T/err")"; fi
p=$(cat "$T/secret" 2>/dev/null); [ "$p" -gt 0 ] 2>/dev/null && stop_relay "$p"
secret

# 4. ... and one the user can write through its group or as anyone.
rm -rf "$T/userrun"; mkdir -m 777 "$T/userrun"
start "$T/userrun/relay.pid"; rc=$?
if [ $rc -ne 0 ] && grep -q "writable" "$T/err"; then
	ok "a world-writable pid directory: refused"
else not_ok "world-writable pid directory" "rc=$rc $(cat "$T/err")"; fi
[ -s "$T/userrun/relay.pid" ] && stop_relay "$(cat "$T/userrun/relay.pid")"

# 5. Two daemons on one pid file: the second is refused, the first's
#    pid stays in the file.
start "$T/run/relay.pid"; pid=$(cat "$T/run/relay.pid" 2>/dev/null)
"$RELAY" -c /dev/null -u nobody -l "127.0.0.1:$((PORT + 1))" \
	--pidfile "$T/run/relay.pid" --db '' 2>"$T/err"; rc=$?
if [ $rc -ne 0 ] && [ "$(cat "$T/run/relay.pid")" = "$pid" ] && kill -0 "$pid"; then
	ok "a second daemon on the same pid file is refused"
else not_ok "second daemon" "rc=$rc $(cat "$T/err")"; fi
stop_relay "$pid"
finish
