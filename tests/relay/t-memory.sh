#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Memory in total: the portal black-holed (its namespace DROPs port
# 10004, so every upstream connect waits connect_timeout), 16 LAN hosts
# open 250 connections each (4,000) and send 64 KiB on every one. Each
# session may buffer max_buffer (64 KiB), but all of them together hold
# no more than max_buffer_total (32 MiB) plus a read each: the relay
# counts what it holds (SIGUSR1) and its RSS stays bounded. A kit's push
# meanwhile is still read and logged (served locally once the connect
# times out). RSS_MAX (MiB) is the bound checked: generous here because
# of the sanitizers; tests/bench-relay.sh measures a plain build.
. "$(dirname "$0")/lib.sh"

HOLD="$TOP/tests/relay/hold.py"
RSS_MAX=${RSS_MAX:-128}
command -v python3 >/dev/null || skip_all "no python3"
netns_up
redirect_up
ATTACKERS=()
for i in $(seq 10 25); do
	ip -n "$NS_KIT" addr add "198.51.100.$i/24" dev k0
	ATTACKERS+=("198.51.100.$i")
done
SRC=$(IFS=,; echo "${ATTACKERS[*]}")
in_portal iptables -A INPUT -p tcp --dport "$PORT" -j DROP
data_dir "$T/data"
CSV="$T/data/relay.csv"
cat >"$T/relay.conf" <<CONF
[omniklog]
csv = $CSV
[relay]
max_connections = 5000
client_connections = 250
CONF
# Freed memory goes back at once: the sanitizers' quarantine would hold it.
ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=0:malloc_context_size=2" \
	start_relay "$T/relay.log" -c "$T/relay.conf" ||
	{ not_ok "relay starts"; cat "$T/relay.log"; finish; exit; }
rss() { awk '/^VmRSS/ { print int($2 / 1024) }' "/proc/$RELAY_PID/status"; }
hwm() { awk '/^VmHWM/ { print int($2 / 1024) }' "/proc/$RELAY_PID/status"; }
stats() {
	local before
	before=$(grep -c 'stats (SIGUSR1)' "$T/relay.log")
	kill -USR1 "$RELAY_PID"
	wait_for "[ \$(grep -c 'stats (SIGUSR1)' $T/relay.log) -gt $before ]" 5
	sleep 0.2
	grep 'stats (SIGUSR1)' "$T/relay.log" | tail -n 4
}
rss0=$(rss)
ip netns exec "$NS_KIT" python3 "$HOLD" "$PORTAL_IP:$PORT" "$SRC" 250 9 \
    --bulk 65536 --attempts 250 >"$T/hold.out" 2>&1 &
HOLD_PID=$!
_pids+=("$HOLD_PID")
check "4,000 connections opened" wait_for "grep -q 'opened 4000' $T/hold.out" 10
in_kit "$KITSIM" -t 20 "$PORTAL_IP:$PORT" >"$T/kit.out" 2>&1 &
KIT=$!
sleep 6
peak=$(hwm)
st=$(stats)
acc=$(sed -n 's/.* open, \([0-9]*\) accepted.*/\1/p' <<<"$st")
check "... and accepted by the relay ($acc)" [ "${acc:-0}" -ge 4000 ]
buffered=$(sed -n 's/.*: \([0-9]*\) bytes buffered.*/\1/p' <<<"$st")
check "buffers in all within max_buffer_total plus a read each (${buffered:-?} bytes)" \
	[ "${buffered:-999999999}" -le $((33554432 + 4000 * 4096)) ]
check "RSS with 4,000 sessions to a black hole: peak ${peak} MiB (${rss0} MiB idle) <= $RSS_MAX MiB" \
	[ "$peak" -le "$RSS_MAX" ]
check "the budget paused or cut sessions" eval '! grep -q " 0 budget pauses, 0 budget cuts" <<<"$st"'
check "the kit's push meanwhile completes" wait "$KIT"
check "... and its reading is in the journal" wait_for '[ "$(journal_count)" -eq 1 ]' 5
kill "$HOLD_PID" 2>/dev/null; wait "$HOLD_PID" 2>/dev/null
echo "# RSS: ${rss0} MiB idle, peak ${peak} MiB under 4,000 black-holed sessions; buffered ${buffered:-?}"
stop_relay TERM
check "the relay exits 0" [ "$RELAY_RC" -eq 0 ]
check "no sanitizer report" eval '! grep -q Sanitizer "$T/relay.log"'
finish
