#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Limits: 2,000 idle connections do not keep a new kit out, with room to
# spare and at max_connections (the connection idle longest makes room);
# the idle timeout ends silent connections.
. "$(dirname "$0")/lib.sh"

netns_up outsider
redirect_up
data_dir "$T/data"
CSV="$T/data/relay.csv"
start_portal - --quiet
# One address holds them all here: client_connections is raised to let it.
printf '[relay]\ndrain_timeout = 1\nclient_connections = 5000\n' >"$T/drain.conf"
start_relay "$T/relay.log" -c "$T/drain.conf" --csv "$CSV" ||
	{ not_ok "relay starts"; cat "$T/relay.log"; finish; exit; }

idle() {	# idle N [NS]: N silent redirected connections, in the background
	ip netns exec "${2:-$NS_KIT}" "$KITSIM" --idle "$1" "$PORTAL_IP:$PORT" \
	    >"$T/idle.out" 2>&1 &
	IDLE_PID=$!
	_pids+=("$IDLE_PID")
	wait_for "grep -q 'idle $1' $T/idle.out" 20
}
sessions() { in_router ss -Htn state established "( sport = :$PORT )" | wc -l; }

check "2000 idle connections open" idle 2000
check "... and the relay holds them all" wait_for '[ "$(sessions)" -ge 2000 ]' 10
t0=$(date +%s%N)
check "a new kit is served meanwhile" in_kit "$KITSIM" -i 2 "$PORTAL_IP:$PORT"
ms=$((($(date +%s%N) - t0) / 1000000))
check "... in under a second (${ms} ms)" [ "$ms" -lt 1000 ]
check "... its 2 readings are in the CSV" csv_has "$CSV" 2
t0=$SECONDS
stop_relay TERM
check "SIGTERM with 2000 connections open: exit 0 after drain_timeout (1 s) ($((SECONDS - t0)) s)" \
	[ "$RELAY_RC" -eq 0 -a $((SECONDS - t0)) -le 3 ]
kill "$IDLE_PID"; wait "$IDLE_PID" 2>/dev/null

# Hostile clients: eight connections flood garbage as fast as they can; the
# kits are still served at once. The relay shares its core with a busy loop
# and the floods have the other one, so its reads find the sockets full
# again and again: the loop must still look at the listen queue between them
# (with no limit on the callbacks a pass runs, pushes timed out).
start_relay "$T/relay-flood.log" --csv "$CSV" ||
	{ not_ok "relay starts"; finish; exit; }
# The first two CPUs this test may use (not always 0 and 1 in a container).
cpus=()
for r in $(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status |
    tr ',' ' '); do
	for ((c = ${r%-*}; c <= ${r#*-}; c++)); do cpus+=("$c"); done
done
if [ "${#cpus[@]}" -ge 2 ]; then
	taskset -pc "${cpus[0]}" "$RELAY_PID" >/dev/null
	taskset -c "${cpus[0]}" sh -c 'while :; do :; done' &
	busy=$!
	_pids+=("$busy")
	pin="taskset -c ${cpus[1]}"
fi
for i in 1 2 3 4 5 6 7 8; do
	ip netns exec "$NS_KIT" timeout 8 ${pin:-} nc -N "$PORTAL_IP" "$PORT" \
		</dev/zero >/dev/null 2>&1 &
	_pids+=("$!")
	floods+=("$!")
done
sleep 1
t0=$(date +%s%N)
check "while eight connections flood, 20 kits push" \
	in_kit "$KITSIM" -c 20 -j 5 -i 2 -t 5 "$PORTAL_IP:$PORT"
ms=$((($(date +%s%N) - t0) / 1000000))
check "... all within 1 s (${ms} ms)" [ "$ms" -lt 1000 ]
[ -n "${busy:-}" ] && kill "$busy" 2>/dev/null
check "... their 40 readings are in the CSV" csv_has "$CSV" 42
kill "${floods[@]}" 2>/dev/null
wait "${floods[@]}" 2>/dev/null
kill -USR1 "$RELAY_PID"
wait_for "grep -q 'stats (SIGUSR1)' $T/relay-flood.log" 5
flood=$(sed -n 's/.*: \([0-9]*\) bytes from kits.*/\1/p' "$T/relay-flood.log" | tail -n 1)
check "the floods did flow meanwhile ($((flood / 1048576)) MiB forwarded)" \
	[ "${flood:-0}" -gt 10000000 ]
stop_relay TERM

# At the limit: max_connections 300, 1200 idle ones from another LAN host
# (the rest wait in the listen backlog, where the new kit's connection
# queues behind them).
printf '[relay]\nmax_connections = 300\nidle_timeout = 30\nclient_connections = 2000\n' >"$T/limit.conf"
start_relay "$T/relay2.log" -c "$T/limit.conf" --csv "$CSV" \
	${RELAY_CLIENTS:+--allow-clients "$RELAY_CLIENTS 192.0.2.0/24"} ||
	{ not_ok "relay starts"; cat "$T/relay2.log"; finish; exit; }
check "1200 idle connections against max_connections 300" idle 1200 "$NS_O"
kill -USR1 "$RELAY_PID"
wait_for "grep -q 'stats (SIGUSR1)' $T/relay2.log" 5
open=$(sed -n 's/.*stats (SIGUSR1): \([0-9]*\) open.*/\1/p' "$T/relay2.log" | head -n 1)
check "the relay holds no more than 300 (${open:-?} open)" [ "${open:-999}" -le 300 ]
check "a new kit is still served (the idle ones make room)" \
	in_kit "$KITSIM" -i 2 -t 20 "$PORTAL_IP:$PORT"
check "... its readings are in the CSV" csv_has "$CSV" 44
check "... and the eviction is logged" grep -q "max_connections (300) reached" "$T/relay2.log"
kill "$IDLE_PID"; wait "$IDLE_PID" 2>/dev/null
stop_relay TERM

# Out of descriptors (EMFILE): accept pauses and resumes, no spinning.
printf '[relay]\nmax_connections = 1000\nclient_connections = 1000\n' >"$T/emfile.conf"
( ulimit -n 40; exec ip netns exec "$NS_R" "$RELAY" -f -u nobody --db "$JOURNAL" \
	${RELAY_CLIENTS:+--allow-clients "$RELAY_CLIENTS"} \
	-c "$T/emfile.conf" --csv "$CSV" ) >>"$T/relay4.log" 2>&1 &
RELAY_PID=$!
_pids+=("$RELAY_PID")
wait_for "grep -qs 'started:' $T/relay4.log" 10
check "open-files limit 40: 60 idle connections open" idle 60
check "the relay pauses accepting on EMFILE and says so" \
	wait_for "grep -q 'accept: Too many open files: pausing' $T/relay4.log" 5
cpu0=$(awk '{ print $14 + $15 }' "/proc/$RELAY_PID/stat")
sleep 1
cpu1=$(awk '{ print $14 + $15 }' "/proc/$RELAY_PID/stat")
check "... without spinning (CPU ticks in 1 s: $((cpu1 - cpu0)))" [ $((cpu1 - cpu0)) -le 20 ]
kill "$IDLE_PID"; wait "$IDLE_PID" 2>/dev/null
check "once descriptors are free again a kit is served" \
	in_kit "$KITSIM" -i 2 -t 10 "$PORTAL_IP:$PORT"
check "... its readings are in the CSV" csv_has "$CSV" 46
stop_relay TERM

# The [http] server's connections are descriptors too: max_connections
# leaves room for them, so kits and status-page clients together stay
# within the open-files limit (200: (200 - 64 - 60 - 1) / 2 = 37).
printf '[relay]\nmax_connections = 1000\nclient_connections = 1000\n[http]\nlisten = 127.0.0.1:8088\nmax_connections = 60\ntimeout = 60\n' \
    >"$T/httpfd.conf"
( ulimit -n 200; exec ip netns exec "$NS_R" "$RELAY" -f -u nobody --db "$JOURNAL" \
	${RELAY_CLIENTS:+--allow-clients "$RELAY_CLIENTS"} \
	-c "$T/httpfd.conf" --csv "$CSV" ) >>"$T/relay5.log" 2>&1 &
RELAY_PID=$!
_pids+=("$RELAY_PID")
wait_for "grep -qs 'started:' $T/relay5.log" 10
check "open-files limit 200 with [http] max_connections 60: 37 sessions" \
	grep -q "max_connections 1000 is more than the open-files limit allows: 37" "$T/relay5.log"
ip netns exec "$NS_R" python3 -c '
import socket, sys, time
s = [socket.create_connection(("127.0.0.1", 8088)) for _ in range(60)]
print("held", flush=True)
time.sleep(20)
' >"$T/httpheld.out" 2>&1 &
HTTP_HELD=$!
_pids+=("$HTTP_HELD")
wait_for "grep -q held $T/httpheld.out" 10
check "60 status-page clients, and 80 kits try to hold connections" idle 80
check "... the relay holds 37 and refuses the rest as full" \
	wait_for "grep -q 'max_connections (37) reached' $T/relay5.log" 5
check "... and never runs out of descriptors" \
	eval '! grep -q "Too many open files" "$T/relay5.log"'
kill "$IDLE_PID"; wait "$IDLE_PID" 2>/dev/null
check "once they are gone a kit is served" \
	in_kit "$KITSIM" -i 2 -t 20 "$PORTAL_IP:$PORT"
check "... its readings are in the CSV" csv_has "$CSV" 48
kill "$HTTP_HELD"; wait "$HTTP_HELD" 2>/dev/null
stop_relay TERM

# Idle timeout.
printf '[relay]\nidle_timeout = 1\nclient_connections = 100\n' >"$T/idle.conf"
start_relay "$T/relay3.log" -c "$T/idle.conf" ||
	{ not_ok "relay starts"; finish; exit; }
check "50 idle connections open" idle 50
check "the idle timeout (1 s) closes them all" wait_for '[ "$(sessions)" -eq 0 ]' 5
stop_relay TERM
check "the relay counted 50 idle timeouts" grep -q "50 idle timeouts" "$T/relay3.log"
finish
