#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The relay's figures under attack, in the test namespaces (tests/relay/
# lib.sh), with a plain build (B=build by default):
#
# 1. slowloris: 4 LAN hosts hold 10,100 connections (max_connections
#    10100, client_connections raised so that they can), dripping a byte
#    a second; a kit pushes 20 times meanwhile: pushes forwarded, readings
#    in the journal, latency p50/p99.
# 2. connection flood: 4 hosts open and close connections as fast as they
#    can for 30 s while a kit pushes once a second: kit pushes forwarded
#    or served locally, TIME_WAIT sockets on the router, what the relay
#    forwarded and refused.
# 3. 1,000,000 valid frames over one connection: seconds, readings stored,
#    bytes at the portal.
#
# Usage: tests/bench-dos.sh [BUILD_DIR]   (as root; about two minutes)
# ONLY1=1 stops after the first.
B=${1:-${B:-build}}
TEST_LIMIT=400
. "$(dirname "$0")/relay/lib.sh"
HOLD="$TOP/tests/relay/hold.py"

netns_up
redirect_up
SRC=
for i in 10 11 12 13; do
	ip -n "$NS_KIT" addr add "198.51.100.$i/24" dev k0
	SRC="${SRC:+$SRC,}198.51.100.$i"
done
start_portal "$T/portal" --quiet
usr1() {
	local before
	before=$(grep -c 'stats (SIGUSR1)' "$1")
	kill -USR1 "$RELAY_PID"
	wait_for "[ \$(grep -c 'stats (SIGUSR1)' $1) -gt $before ]" 5
	sleep 0.3
	grep 'stats (SIGUSR1)' "$1" | tail -n 4 | sed 's/^/#   /'
}
forwarded() {	# forwarded DIR: how many of the pushes saved in DIR the portal has
	local f n=0 all
	all=$(hashes "$T/portal"/conn-*.bin)
	for f in "$1"/push-*.bin; do
		grep -q "$(sha256sum <"$f" | cut -c1-64)" <<<"$all" && n=$((n + 1))
	done
	echo "$n"
}

# 1. Slowloris at 10,100 connections (20,200 descriptors and some: the
# relay clamps max_connections to what the open-files limit allows). The
# attackers go to a second portal address, whose portal keeps nothing:
# the first one saves every connection to a file and would run out of
# descriptors itself.
ip -n "$NS_P" addr add 203.0.113.70/24 dev p0
in_router iptables -t nat -A PREROUTING -p tcp -d 203.0.113.70 \
    --dport "$PORT" -j REDIRECT --to-ports "$PORT"
ip netns exec "$NS_P" "$PORTAL" 203.0.113.70:$PORT >"$T/p2.log" 2>&1 &
_pids+=("$!")
wait_for "grep -qs listening $T/p2.log" 5
printf '[relay]\nmax_connections = 10100\nclient_connections = 10100\n' >"$T/r1.conf"
start_relay "$T/r1.log" -c "$T/r1.conf" --csv '' || { cat "$T/r1.log"; exit 1; }
ip netns exec "$NS_KIT" python3 "$HOLD" "203.0.113.70:$PORT" "$SRC" 2600 60 \
    --drip 1 >"$T/hold1.out" 2>&1 &
H=$!
_pids+=("$H")
wait_for "grep -q 'opened 10400' $T/hold1.out" 40
sleep 7
j0=$(journal_count)
echo "# 1. slowloris: $(tail -n 1 "$T/hold1.out"), relay holds:"
usr1 "$T/r1.log" | head -n 1
stats=$(in_kit "$KITSIM" -c 20 -r 2 -t 5 --stats --save "$T/k1" "$PORTAL_IP:$PORT")
sleep 1
echo "#   kit: $stats"
echo "#   pushes at the portal: $(forwarded "$T/k1") of 20; readings in the journal: $(($(journal_count) - j0))"
echo "#   relay RSS $(awk '/^VmRSS/ { print int($2 / 1024) }' /proc/$RELAY_PID/status) MiB"
kill "$H" 2>/dev/null; wait "$H" 2>/dev/null
stop_relay TERM

# 2. Connection flood.
[ -n "${ONLY1:-}" ] && exit 0
start_relay "$T/r2.log" --csv '' || { cat "$T/r2.log"; exit 1; }
ip netns exec "$NS_KIT" python3 "$HOLD" "$PORTAL_IP:$PORT" "$SRC" 64 30 \
    --churn --attempts 1000000 >"$T/hold2.out" 2>&1 &
H=$!
_pids+=("$H")
sleep 2
stats=$(in_kit "$KITSIM" -c 26 -r 1 -t 5 --stats --save "$T/k2" "$PORTAL_IP:$PORT")
tw=$(in_router ss -Htan state time-wait | wc -l)
wait "$H"
echo "# 2. connection flood: $(tail -n 1 "$T/hold2.out") in 30 s"
echo "#   kit: $stats"
echo "#   pushes at the portal: $(forwarded "$T/k2") of 26; TIME_WAIT on the router: $tw"
usr1 "$T/r2.log" | head -n 2
stop_relay TERM

# 3. 1,000,000 frames on one connection.
data_dir "$T/d3"
start_relay "$T/r3.log" --csv "$T/d3/r3.csv" || { cat "$T/r3.log"; exit 1; }
in_kit "$KITSIM" -s 77 --save "$T/one" "$PORTAL_IP:$PORT" >/dev/null
python3 - "$T/one/push-0.bin" "$T/flood.bin" 1000000 <<'PY'
import sys
push = open(sys.argv[1], "rb").read()
frame = push[:14 + push[1]]
open(sys.argv[2], "wb").write(frame * int(sys.argv[3]))
PY
j0=$(journal_count)
t0=$(date +%s%N)
in_kit timeout 300 nc -N -q 5 "$PORTAL_IP" "$PORT" <"$T/flood.bin"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
sleep 1
last=$(ls -t "$T/portal"/conn-*.bin | head -n 1)
echo "# 3. 1,000,000 frames ($(stat -c %s "$T/flood.bin") bytes) in $ms ms:" \
    "$(($(journal_count) - j0)) readings stored, CSV $(csv_count "$T/d3/r3.csv") rows," \
    "portal got $(stat -c %s "$last") bytes ($(cmp -s "$last" "$T/flood.bin" && echo identical || echo DIFFERENT))"
usr1 "$T/r3.log" | sed -n 2p
echo "#   log lines: $(wc -l <"$T/r3.log")"
stop_relay TERM
