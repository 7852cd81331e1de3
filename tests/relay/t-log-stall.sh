#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Forwarding never waits for the log. Under systemd the relay's stderr is
# a socket to journald; a journald that stops reading (hung, restarting)
# must not stop the kits' pushes when the socket's buffer fills. Lines
# that find it full are dropped whole and counted, and the count is
# logged once the socket takes lines again.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	skip_all "needs root"
fi
command -v python3 >/dev/null || skip_all "needs python3"
netns_up
redirect_up
data_dir "$T/data"
CSV="$T/data/r.csv"
start_portal - --quiet
mkdir -p "$T/journal"
chown nobody "$T/journal"
# Nothing reads the relay's stderr for 20 s (up to 3,000 pushes' lines,
# well past what the socket buffers hold).
ip netns exec "$NS_R" python3 "$TOP/tests/relay/stall.py" "$T/relay.log" 20 \
    "$RELAY" -f -u nobody --db "$JOURNAL" --csv "$CSV" \
    --allow-clients "$RELAY_CLIENTS" >"$T/stall.out" 2>&1 &
_pids+=("$!")
wait_for "grep -qs '^pid ' $T/stall.out" 5
RELAY_PID=$(sed -n 's/^pid //p' "$T/stall.out")
_pids+=("$RELAY_PID")
wait_for "in_kit $KITSIM -t 2 --first 1 $PORTAL_IP:$PORT >/dev/null 2>&1" 10 ||
	{ not_ok "relay serves"; finish; exit; }

t0=$SECONDS
check "3000 pushes complete while nothing reads the relay's log" \
	in_kit timeout 15 "$KITSIM" -c 3000 -j 20 -t 5 --first 10 \
	    "$PORTAL_IP:$PORT"
check "... within 15 s ($((SECONDS - t0)) s)" [ $((SECONDS - t0)) -lt 15 ]
check "... every reading in the CSV" csv_has "$CSV" 3001
# Once the log is read again, the next lines say how many were lost.
wait_for "[ -s $T/relay.log ]" 30
in_kit "$KITSIM" --first 20000 "$PORTAL_IP:$PORT" >/dev/null 2>&1
kill -TERM "$RELAY_PID"
wait_for "! kill -0 $RELAY_PID 2>/dev/null" 10
check "the log says how many lines it dropped" \
	grep -Eq 'log: [0-9]+ lines? dropped' "$T/relay.log"
check "... and every line in it is whole" \
	eval '! grep -av "^omnik-relay: " "$T/relay.log" | grep -q .'
check "... the last push's reading among them" grep -q 'NLDN020000' "$T/relay.log"
finish
