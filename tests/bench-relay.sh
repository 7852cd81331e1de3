#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Relay benchmark (make bench): push sessions per second (a kit connects,
# sends 170 bytes, closes, waits for the close) straight to a local portal,
# through omnik-relay (decoding; every reading committed to the journal,
# SQLite in WAL mode, synchronous full, the default: one commit and fsync
# per event-loop turn for the readings of that turn; the CSV; a log
# line), and through haproxy in TCP mode (one thread, like the relay), in
# one run; latency
# p50/p99 with one push at a time; the relay's RSS idle and with 10,000
# open kit connections (upstream none: one descriptor each; with
# forwarding each holds two, and the open-files limit here, 20,000, allows
# about 9,000 of them, measured too). All on loopback inside a network
# namespace of its own. Prints the figures and the ratios.
#
#   tests/bench-relay.sh [BUILD_DIR]     (BENCH_PUSHES=N to change the load)
set -u
B=${1:-${B:-build}}
B=$(cd "$B" && pwd)
PUSHES=${BENCH_PUSHES:-20000}
LAT_PUSHES=${BENCH_LAT_PUSHES:-2000}
IDLE=${BENCH_IDLE:-10000}
IDLE_FWD=${BENCH_IDLE_FWD:-9000}
NS="omk-relay-bench-$$"
T=$(mktemp -d /tmp/omk-relay-bench.XXXXXX)
pids=()

cleanup() {
	local p
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	ip netns pids "$NS" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

if [ "$(id -u)" -ne 0 ] || ! ip netns add "$NS" 2>/dev/null; then
	echo "bench-relay: needs root (network namespace); skipped"
	exit 0
fi
ip -n "$NS" link set lo up
ulimit -n "$(ulimit -Hn)"
in_ns() { ip netns exec "$NS" "$@"; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
wait_port() {	# wait until something listens on 127.0.0.1:$1
	local i
	for i in $(seq 100); do
		in_ns ss -Hltn "( sport = :$1 )" | grep -q . && return 0
		sleep 0.05
	done
	echo "bench-relay: nothing listens on $1" >&2
	exit 1
}
# field NAME LINE: the value after NAME in a kitsim --stats line
field() { echo "$2" | sed -n "s/.* $1 \([0-9.]*\).*/\1/p"; }

ip netns exec "$NS" "$B/tests/portal" --quiet 127.0.0.1:20000 >/dev/null 2>&1 &
pids+=($!)
# Every connection comes from 127.0.0.1 here: one client address may hold
# them all.
printf '[relay]\nclient_connections = 100000\n' >"$T/bench.conf"
ip netns exec "$NS" "$B/omnik-relay" -f -u '' -c "$T/bench.conf" -l 127.0.0.1:20001 \
	--upstream 127.0.0.1:20000 --db "$T/bench.db" --csv "$T/bench.csv" \
	2>/dev/null &
relay=$!
pids+=($relay)
# The same without the journal: what the relay itself costs.
ip netns exec "$NS" "$B/omnik-relay" -f -u '' -c "$T/bench.conf" -l 127.0.0.1:20004 \
	--upstream 127.0.0.1:20000 --db '' --csv "$T/bench-nj.csv" 2>/dev/null &
relay_nj=$!
pids+=($relay_nj)
have_haproxy=0
if command -v haproxy >/dev/null 2>&1; then
	cat >"$T/haproxy.cfg" <<EOF
global
    maxconn 9000
    nbthread 1
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend kits
    bind 127.0.0.1:20002
    default_backend portal
backend portal
    server portal 127.0.0.1:20000
EOF
	ip netns exec "$NS" haproxy -db -f "$T/haproxy.cfg" >/dev/null 2>&1 &
	haproxy=$!
	pids+=($haproxy)
	have_haproxy=1
fi
wait_port 20000
wait_port 20001
wait_port 20004
[ $have_haproxy = 1 ] && wait_port 20002
sleep 0.2
rss_idle=$(rss_kb "$relay")
rss_idle_nj=$(rss_kb "$relay_nj")
rss_haproxy=0
[ $have_haproxy = 1 ] && rss_haproxy=$(rss_kb "$haproxy")
# Shared library pages are counted in RSS; PSS divides them among the
# processes that map them, USS (private pages) is what the relay alone
# costs.
rollup() { awk -v k="$2" '$1 == k":" { s += $2 } END { print s + 0 }' \
    "/proc/$1/smaps_rollup"; }
pss_idle=$(rollup "$relay" Pss)
uss_idle=$(( $(rollup "$relay" Private_Clean) + $(rollup "$relay" Private_Dirty) ))

run() {	# run PORT CONCURRENCY COUNT: one kitsim --stats line
	in_ns "$B/tests/kitsim" --stats -c "$3" -j "$2" "127.0.0.1:$1" 2>/dev/null
}

echo "push sessions (170 bytes each), $PUSHES per target, 32 at a time:"
declare -A rate p50 p99
targets="direct:20000 relay:20001 relay-nj:20004"
[ $have_haproxy = 1 ] && targets="$targets haproxy:20002"
run 20001 32 2000 >/dev/null	# warm-up
run 20004 32 2000 >/dev/null
for t in $targets; do
	name=${t%%:*} port=${t##*:}
	line=$(run "$port" 32 "$PUSHES")
	rate[$name]=$(field rate "$line")
	printf '  %-8s %8s pushes/s   (%s)\n' "$name" "${rate[$name]}" "$line"
done
echo "latency, one push at a time, $LAT_PUSHES pushes:"
for t in $targets; do
	name=${t%%:*} port=${t##*:}
	line=$(run "$port" 1 "$LAT_PUSHES")
	p50[$name]=$(field p50_us "$line")
	p99[$name]=$(field p99_us "$line")
	printf '  %-8s p50 %6s us   p99 %6s us\n' "$name" "${p50[$name]}" "${p99[$name]}"
done
readings=$(grep -vc '^dateTime' "$T/bench.csv")
readings_nj=$(grep -vc '^dateTime' "$T/bench-nj.csv")

# Open connections: IDLE_FWD forwarded through the relay (each also holds
# one to the portal), then IDLE to a relay serving locally.
idle_rss() {	# idle_rss PID PORT N: RSS of PID with N silent connections
	local i out="$T/idle.$2.out"
	ip netns exec "$NS" "$B/tests/kitsim" --idle "$3" "127.0.0.1:$2" \
		>"$out" 2>&1 &
	local p=$!
	pids+=($p)
	for i in $(seq 600); do
		grep -q "idle $3" "$out" && break
		sleep 0.05
	done
	sleep 0.5
	echo "$(in_ns ss -Htn state established "( dport = :$2 )" | wc -l) $(rss_kb "$1")"
	kill "$p" 2>/dev/null
	wait "$p" 2>/dev/null
}
read -r open_fwd rss_fwd < <(idle_rss "$relay" 20001 "$IDLE_FWD")
printf '[relay]\nmax_connections = %d\nclient_connections = 100000\n' \
	$((IDLE + 100)) >"$T/local.conf"
ip netns exec "$NS" "$B/omnik-relay" -f -u '' -c "$T/local.conf" \
	-l 127.0.0.1:20003 --upstream none --db "$T/local.db" 2>/dev/null &
relay2=$!
pids+=($relay2)
wait_port 20003
sleep 0.2
rss_idle2=$(rss_kb "$relay2")
read -r open rss_busy < <(idle_rss "$relay2" 20003 "$IDLE")

awk -v r="${rate[relay]}" -v d="${rate[direct]}" -v h="${rate[haproxy]:-0}" \
    -v rn="${rate[relay-nj]}" -v rnp50="${p50[relay-nj]}" -v rnp99="${p99[relay-nj]}" \
    -v idle_nj="$rss_idle_nj" -v readings_nj="$readings_nj" \
    -v rp50="${p50[relay]}" -v dp50="${p50[direct]}" \
    -v rp99="${p99[relay]}" -v dp99="${p99[direct]}" \
    -v hp50="${p50[haproxy]:-0}" -v hp99="${p99[haproxy]:-0}" \
    -v idle="$rss_idle" -v busy="$rss_busy" -v open="$open" \
    -v idle2="$rss_idle2" -v open_fwd="$open_fwd" -v rss_fwd="$rss_fwd" \
    -v readings="$readings" -v hrss="$rss_haproxy" -v pss="$pss_idle" \
    -v uss="$uss_idle" 'BEGIN {
	printf "summary (relay: journal + CSV + log; relay-nj: CSV + log, no journal):\n"
	printf "  relay/direct      session rate %.2f\n", r / d
	if (h > 0) printf "  relay/haproxy     session rate %.2f (target >= 0.70)\n", r / h
	if (h > 0) printf "  relay-nj/haproxy  session rate %.2f\n", rn / h
	printf "  added latency by the relay:    p50 %+d us, p99 %+d us (target p99 < 1000)\n", rp50 - dp50, rp99 - dp99
	printf "  added latency by relay-nj:     p50 %+d us, p99 %+d us\n", rnp50 - dp50, rnp99 - dp99
	if (h > 0) printf "  added latency by haproxy:       p50 %+d us, p99 %+d us\n", hp50 - dp50, hp99 - dp99
	printf "  relay RSS idle %d KiB, relay-nj %d KiB (target <= 4096)\n", idle, idle_nj
	printf "  relay idle PSS %d KiB, USS %d KiB\n", pss, uss
	if (hrss > 0) printf "  haproxy RSS idle %d KiB: relay/haproxy %.2f\n", hrss, idle / hrss
	printf "  relay RSS with %d open kit connections (served locally) %d KiB: %.2f KiB per connection (target <= 4)\n", open, busy, open ? (busy - idle2) / open : 0
	printf "  relay RSS with %d open forwarded connections (kit + portal side) %d KiB: %.2f KiB per connection\n", open_fwd, rss_fwd, open_fwd ? (rss_fwd - idle) / open_fwd : 0
	printf "  readings in the CSV: relay %d, relay-nj %d\n", readings, readings_nj
}'
