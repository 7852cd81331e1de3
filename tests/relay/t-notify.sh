#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Under systemd (Type=notify): omnik-relay and omnik-sniff say READY=1 on
# $NOTIFY_SOCKET only once they listen / capture, RELOADING=1 then READY=1
# on SIGHUP, STOPPING=1 on SIGTERM; a stand-in manager (a datagram socket)
# receives what systemd would. When stderr is the journal stream named by
# $JOURNAL_STREAM, log lines carry "<N>" priorities and no program name.
. "$(dirname "$0")/lib.sh"
command -v nc >/dev/null || skip_all "needs netcat-openbsd"

netns_up
SOCK="$T/notify.sock"
OUT="$T/notify.out"
# A manager stand-in: netcat receiving datagrams on a path socket.
nc -lkuU "$SOCK" >"$OUT" 2>/dev/null &
_pids+=("$!")
wait_for "[ -S $SOCK ]" 5 || { not_ok "manager socket"; finish; exit; }
chmod 666 "$SOCK"
count() { grep -ao "$1" "$OUT" | wc -l; }

mkdir -p "$T/journal"
chown nobody "$T/journal"
: >"$T/relay.err"
# JOURNAL_STREAM names the relay's stderr: the file it is redirected to.
JS=$(stat -c '%d:%i' "$T/relay.err")
ASAN_OPTIONS="${ASAN_OPTIONS%:detect_leaks=0}:detect_leaks=1" \
NOTIFY_SOCKET="$SOCK" JOURNAL_STREAM="$JS" \
    ip netns exec "$NS_R" "$RELAY" -f -u nobody -c /dev/null \
    --db "$T/journal/omniklog.db" --upstream none \
    ${RELAY_CLIENTS:+--allow-clients "$RELAY_CLIENTS"} 2>>"$T/relay.err" &
RELAY_PID=$!
_pids+=("$RELAY_PID")
check "relay: READY=1 sent" wait_for '[ "$(count READY=1)" -eq 1 ]' 10
check "relay: READY=1 carries its pid" grep -q "MAINPID=$RELAY_PID" "$OUT"
# READY means listening: a kit's push is read at once, no retry.
check "relay: listening when it said ready" in_kit "$KITSIM" "$R_KIT_IP:$PORT"
kill -HUP "$RELAY_PID"
check "relay: RELOADING=1 on SIGHUP" wait_for '[ "$(count RELOADING=1)" -eq 1 ]' 10
check "relay: READY=1 again after the reload" wait_for '[ "$(count READY=1)" -eq 2 ]' 10
check "relay: the reload ran before READY" grep -q 'SIGHUP: reopening' "$T/relay.err"
kill -TERM "$RELAY_PID"
check "relay: STOPPING=1 on SIGTERM" wait_for '[ "$(count STOPPING=1)" -eq 1 ]' 10
wait "$RELAY_PID"
check "relay: exit 0 after SIGTERM" [ $? -eq 0 ]
check "journal stream: info lines are <6>, without the program name" \
	grep -q '^<6>started: upstream none' "$T/relay.err"
check "journal stream: SIGHUP logged as <6>" grep -q '^<6>SIGHUP' "$T/relay.err"
check "journal stream: no line names the program" \
	eval '! grep -q "omnik-relay:" "$T/relay.err"'
check "journal stream: every line has a priority" \
	eval '! grep -qv "^<[0-7]>" "$T/relay.err"'

# The same relay with stderr somewhere else than the stream named: the
# usual format (a child inheriting a stale JOURNAL_STREAM).
: >"$T/relay2.err"
NOTIFY_SOCKET= JOURNAL_STREAM="$JS" \
    ip netns exec "$NS_R" "$RELAY" -f -u nobody -c /dev/null \
    --db '' --upstream none 2>>"$T/relay2.err" &
RELAY_PID=$!
_pids+=("$RELAY_PID")
wait_for "grep -qs 'started:' $T/relay2.err" 10
kill -TERM "$RELAY_PID"
wait "$RELAY_PID"
check "other stderr: lines name the program, no priority" \
	grep -q '^omnik-relay: started: upstream none' "$T/relay2.err"

# omnik-sniff: READY once the capture is open and it runs as its user.
# netcat keeps its offset: the truncated file starts with NULs (grep -a).
: >"$OUT"
NOTIFY_SOCKET="$SOCK" ip netns exec "$NS_R" "$SNIFF" -f -u nobody \
    -c /dev/null -i rk --csv '' --db '' 2>"$T/sniff.err" &
SNIFF_PID=$!
_pids+=("$SNIFF_PID")
check "sniff: READY=1 sent" wait_for '[ "$(count READY=1)" -eq 1 ]' 10
check "sniff: READY=1 after the capture opened" grep -q 'started: capturing on rk' "$T/sniff.err"
kill -HUP "$SNIFF_PID"
check "sniff: RELOADING=1 then READY=1 on SIGHUP" \
	wait_for '[ "$(count RELOADING=1)" -eq 1 ] && [ "$(count READY=1)" -eq 2 ]' 10
kill -TERM "$SNIFF_PID"
check "sniff: STOPPING=1 on SIGTERM" wait_for '[ "$(count STOPPING=1)" -eq 1 ]' 10
wait "$SNIFF_PID"
check "sniff: exit 0 after SIGTERM" [ $? -eq 0 ]
finish
