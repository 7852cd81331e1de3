#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Relay benchmark (make bench): omnik-relay as shipped (decoding, every
# reading committed to the journal, the CSV, a log line on stderr read by
# another process, as systemd reads it) against haproxy in TCP mode (one
# thread), in rounds whose order changes every round, each target warmed
# up before it is measured. A figure is the ratio of the two taken within
# one round; min/median/max over the rounds are printed.
#
#   push sessions/s (a kit connects, sends 170 bytes, the portal answers
#   with the kit's text frame once the push came, the kit closes and waits
#   for the close), 1, 10, 100 and 1,000 kits at once:
#     loopback  kit, relay, portal on 127.0.0.1 in one namespace (the
#               relay with a fixed upstream)
#     routed    kit 198.51.100.2 -> router (REDIRECT to the relay, which
#               forwards to the original destination; haproxy gets its own
#               redirected port and a fixed server) -> portal 203.0.113.69
#   paced: 20 pushes/s one at a time on the routed path: the kit's median
#     added latency (against going straight to a portal) and CPU per
#     reading (all threads), on both cores and with the relay and haproxy
#     pinned to one (taskset; kit and portal on the other)
#   system calls per session (strace -c -f, 10 kits at once, loopback)
#   memory: RSS idle, and per connection with many open
#
#   tests/bench-relay.sh [BUILD_DIR]
#   BENCH_ROUNDS (5), BENCH_SESSIONS (2000 a run), BENCH_PACED (100 a run),
#   BENCH_IDLE (10000), BENCH_IDLE_FWD (9000)
set -u
B=${1:-${B:-build}}
B=$(cd "$B" && pwd)
ROUNDS=${BENCH_ROUNDS:-5}
SESSIONS=${BENCH_SESSIONS:-2000}
PACED=${BENCH_PACED:-100}
IDLE=${BENCH_IDLE:-10000}
IDLE_FWD=${BENCH_IDLE_FWD:-9000}
PFX="pr$$"
NS_L="$PFX-lo" NS_K="$PFX-kit" NS_R="$PFX-router" NS_P="$PFX-portal"
KIT_IP=198.51.100.2 R_KIT_IP=198.51.100.1 R_P_IP=203.0.113.1
PORTAL_IP=203.0.113.69
# The kit's own "DATA SEND IS OK" text frame: what the portal answers.
REPLY=680f41f0f485d523f485d523444154412053454e44204953204f4bfc16
T=$(mktemp -d /tmp/omk-relay-bench.XXXXXX)
pids=()
nslist=()

cleanup() {
	local p ns
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	for ns in "${nslist[@]}"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT

if [ "$(id -u)" -ne 0 ] || ! ip netns add "$NS_L" 2>/dev/null; then
	echo "bench-relay: needs root (network namespaces); skipped"
	exit 0
fi
nslist+=("$NS_L")
if ! command -v haproxy >/dev/null 2>&1; then
	echo "bench-relay: haproxy is not installed; skipped"
	exit 0
fi
ulimit -n "$(ulimit -Hn)"
ncpu=$(nproc)
ip -n "$NS_L" link set lo up
for ns in "$NS_K" "$NS_R" "$NS_P"; do
	ip netns add "$ns" && nslist+=("$ns")
	ip -n "$ns" link set lo up
done
ip link add k0 netns "$NS_K" type veth peer name rk netns "$NS_R"
ip link add p0 netns "$NS_P" type veth peer name rp netns "$NS_R"
ip -n "$NS_K" addr add "$KIT_IP/24" dev k0
ip -n "$NS_R" addr add "$R_KIT_IP/24" dev rk
ip -n "$NS_R" addr add "$R_P_IP/24" dev rp
ip -n "$NS_P" addr add "$PORTAL_IP/24" dev p0
for l in "$NS_K k0" "$NS_R rk" "$NS_R rp" "$NS_P p0"; do
	ip -n ${l% *} link set ${l#* } up
done
ip -n "$NS_K" route add default via "$R_KIT_IP"
ip -n "$NS_P" route add default via "$R_P_IP"
ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1
# Tens of thousands of sessions a round from one address to one port:
# the whole port range, and TIME_WAIT ports reused, in every namespace
# (else connects stall on a full port space and the figures measure that).
for ns in "$NS_L" "$NS_K" "$NS_R" "$NS_P"; do
	ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="1024 65535" \
	    net.ipv4.tcp_tw_reuse=1
done
# 10004 to the relay, 10005 to haproxy; 10006 goes through to a portal.
for p in 10004 10005; do
	ip netns exec "$NS_R" iptables -t nat -A PREROUTING -p tcp \
	    -d "$PORTAL_IP" --dport $p -j REDIRECT --to-ports $p
done

rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
# CPU time of every thread of a process, in ns.
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s }'; }
wait_port() {	# wait_port NS PORT
	local i
	for i in $(seq 200); do
		ip netns exec "$1" ss -Hltn "( sport = :$2 )" | grep -q . && return 0
		sleep 0.05
	done
	echo "bench-relay: nothing listens on $2 in $1" >&2
	exit 1
}
# field NAME LINE: the value after NAME in a kitsim --stats line
field() { echo "$2" | sed -n "s/.* $1 \([0-9.]*\).*/\1/p"; }
# min/median/max of the numbers on stdin
mmm() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "-"; exit }
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.2f / %.2f / %.2f", v[1], m, v[NR] }'
}
mmm_int() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "-"; exit }
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%d / %d / %d", v[1], m, v[NR] }'
}

printf "[relay]\nclient_connections = 100000\n" \
	>"$T/relay.conf"
# The portals (loopback; routed, behind the relay and haproxy and direct).
ip netns exec "$NS_L" "$B/tests/portal" --quiet --reply "$REPLY" \
	--reply-on-data 127.0.0.1:20000 >/dev/null 2>&1 &
pids+=($!)
for p in 10004 10006; do
	ip netns exec "$NS_P" "$B/tests/portal" --quiet --reply "$REPLY" \
		--reply-on-data "$PORTAL_IP:$p" >/dev/null 2>&1 &
	pids+=($!)
done
# The relays, their log lines read by another process (as journald does).
ip netns exec "$NS_L" "$B/omnik-relay" -f -u '' -c "$T/relay.conf" \
	-l 127.0.0.1:20001 --upstream 127.0.0.1:20000 --db "$T/lo.db" \
	--csv "$T/lo.csv" 2> >(cat >"$T/lo.log") &
relay_lo=$!
pids+=($relay_lo)
ip netns exec "$NS_R" "$B/omnik-relay" -f -u '' -c "$T/relay.conf" \
	-l 0.0.0.0:10004 --upstream original --allow-clients 198.51.100.0/24 \
	--db "$T/rt.db" --csv "$T/rt.csv" 2> >(cat >"$T/rt.log") &
relay_rt=$!
pids+=($relay_rt)
haproxy_cfg() {	# haproxy_cfg BIND SERVER
	cat <<EOF
global
    maxconn 9000
    nbthread 1
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend kits
    bind $1
    default_backend portal
backend portal
    server portal $2
EOF
}
haproxy_cfg 127.0.0.1:20002 127.0.0.1:20000 >"$T/h-lo.cfg"
haproxy_cfg 0.0.0.0:10005 "$PORTAL_IP:10004" >"$T/h-rt.cfg"
ip netns exec "$NS_L" haproxy -db -f "$T/h-lo.cfg" >/dev/null 2>&1 &
haproxy_lo=$!
pids+=($haproxy_lo)
ip netns exec "$NS_R" haproxy -db -f "$T/h-rt.cfg" >/dev/null 2>&1 &
haproxy_rt=$!
pids+=($haproxy_rt)
wait_port "$NS_L" 20000
wait_port "$NS_L" 20001
wait_port "$NS_L" 20002
wait_port "$NS_P" 10004
wait_port "$NS_P" 10006
wait_port "$NS_R" 10004
wait_port "$NS_R" 10005
sleep 0.3
rss_idle=$(rss_kb "$relay_lo")
rss_haproxy=$(rss_kb "$haproxy_lo")
rollup() { awk -v k="$2" '$1 == k":" { s += $2 } END { print s + 0 }' \
    "/proc/$1/smaps_rollup"; }
pss_idle=$(rollup "$relay_lo" Pss)
uss_idle=$(( $(rollup "$relay_lo" Private_Clean) + $(rollup "$relay_lo" Private_Dirty) ))

# push PATH TARGET CONCURRENCY COUNT [kitsim options]: a kitsim --stats line
push() {
	local ns addr
	case $1:$2 in
	lo:relay) ns=$NS_L addr=127.0.0.1:20001 ;;
	lo:haproxy) ns=$NS_L addr=127.0.0.1:20002 ;;
	lo:direct) ns=$NS_L addr=127.0.0.1:20000 ;;
	rt:relay) ns=$NS_K addr=$PORTAL_IP:10004 ;;
	rt:haproxy) ns=$NS_K addr=$PORTAL_IP:10005 ;;
	rt:direct) ns=$NS_K addr=$PORTAL_IP:10006 ;;
	esac
	local path=$1 conc=$3 count=$4
	shift 4
	ip netns exec "$ns" ${PIN_LOAD:+taskset -c "$PIN_LOAD"} \
		"$B/tests/kitsim" --stats -t 30 -c "$count" -j "$conc" "$@" \
		"$addr" 2>/dev/null
}
pid_of() {	# pid_of PATH TARGET
	case $1:$2 in
	lo:relay) echo "$relay_lo" ;; lo:haproxy) echo "$haproxy_lo" ;;
	rt:relay) echo "$relay_rt" ;; rt:haproxy) echo "$haproxy_rt" ;;
	esac
}
# The order of this round's targets: rotated, and reversed every other.
order() {	# order ROUND ITEM...
	local r=$1; shift
	local a=("$@") n=$# i out=()
	for ((i = 0; i < n; i++)); do out+=("${a[$(((i + r) % n))]}"); done
	if [ $((r % 2)) -eq 1 ]; then
		for ((i = n - 1; i >= 0; i--)); do echo "${out[$i]}"; done
	else
		printf '%s\n' "${out[@]}"
	fi
}
count_for() {	# sessions a run at this concurrency: about a second each
	case $1 in 1) echo $((SESSIONS / 4)) ;; 1000) echo $((SESSIONS * 2)) ;;
	*) echo "$SESSIONS" ;; esac
}

echo "bench-relay: $ROUNDS rounds, order rotated each round, $ncpu cores (shared: figures are ratios within a round)"
declare -A R
fails=0
for ((round = 0; round < ROUNDS; round++)); do
	for path in $(order $round lo rt); do
		for conc in $(order $round 1 10 100 1000); do
			n=$(count_for "$conc")
			for t in $(order $round relay haproxy); do
				push "$path" "$t" "$conc" $((n / 5 + 10)) >/dev/null	# warm-up
				line=$(push "$path" "$t" "$conc" "$n")
				R[$round:$path:$conc:$t]=$(field rate "$line")
				[ "$(field failed "$line")" = 0 ] || fails=$((fails + 1))
			done
		done
	done
	printf '  round %d:' $((round + 1))
	for path in lo rt; do
		for conc in 1 10 100 1000; do
			awk -v a="${R[$round:$path:$conc:relay]:-0}" \
			    -v b="${R[$round:$path:$conc:haproxy]:-0}" \
			    -v l="$path/$conc" 'BEGIN { printf " %s %.2f", l, (b > 0 ? a / b : 0) }'
		done
	done
	echo
done
echo "relay/haproxy session rate (min / median / max over $ROUNDS rounds; target >= 1.00):"
for path in lo rt; do
	for conc in 1 10 100 1000; do
		ratios=$(for ((round = 0; round < ROUNDS; round++)); do
			awk -v a="${R[$round:$path:$conc:relay]:-0}" \
			    -v b="${R[$round:$path:$conc:haproxy]:-0}" \
			    'BEGIN { if (b > 0) printf "%.4f\n", a / b }'
		done | mmm)
		rates=$(for ((round = 0; round < ROUNDS; round++)); do
			echo "${R[$round:$path:$conc:relay]:-0}"; done | mmm_int)
		hrates=$(for ((round = 0; round < ROUNDS; round++)); do
			echo "${R[$round:$path:$conc:haproxy]:-0}"; done | mmm_int)
		printf '  %-8s %4d at once: %s   (relay %s/s, haproxy %s/s)\n' \
		    "$([ $path = lo ] && echo loopback || echo routed)" "$conc" \
		    "$ratios" "$rates" "$hrates"
	done
done
[ "$fails" -eq 0 ] || echo "  ($fails runs had failed sessions)"

# Paced: 20 pushes/s, one at a time, routed. Per round and regime: the
# added median latency against direct, CPU per reading.
pin() {	# pin CPU PID...: every thread of each PID
	local c=$1 p; shift
	for p in "$@"; do taskset -a -cp "$c" "$p" >/dev/null; done
}
declare -A P
for regime in both pinned; do
	if [ $regime = pinned ]; then
		[ "$ncpu" -ge 2 ] || continue
		pin 0 "$relay_rt" "$haproxy_rt"
		PIN_LOAD=1
	else
		PIN_LOAD=
	fi
	for ((round = 0; round < ROUNDS; round++)); do
		for t in $(order $round relay haproxy direct); do
			push rt "$t" 1 10 -r 20 >/dev/null	# warm-up
			pid=$(pid_of rt "$t")
			c0=0
			[ -n "$pid" ] && c0=$(cpu_ns "$pid")
			line=$(push rt "$t" 1 "$PACED" -r 20)
			# A commit batched after the last push counts too.
			[ "$t" = relay ] && sleep 0.3
			c1=0
			[ -n "$pid" ] && c1=$(cpu_ns "$pid")
			P[$regime:$round:$t:p50]=$(field p50_us "$line")
			P[$regime:$round:$t:cpu]=$(( (c1 - c0) / 1000 / PACED ))
		done
	done
	PIN_LOAD=
	[ $regime = pinned ] && pin "0-$((ncpu - 1))" "$relay_rt" "$haproxy_rt"
	echo "paced, 20 pushes/s one at a time, routed, $([ $regime = pinned ] && echo "relay and haproxy pinned to core 0" || echo "all cores") ($PACED pushes a run; min / median / max):"
	for t in relay haproxy; do
		add=$(for ((round = 0; round < ROUNDS; round++)); do
			echo $(( ${P[$regime:$round:$t:p50]%.*} - ${P[$regime:$round:direct:p50]%.*} ))
		done | mmm_int)
		cpu=$(for ((round = 0; round < ROUNDS; round++)); do
			echo "${P[$regime:$round:$t:cpu]}"; done | mmm_int)
		printf '  %-8s added p50 latency %s us, CPU per reading %s us\n' \
		    "$t" "$add" "$cpu"
	done
	d=$(for ((round = 0; round < ROUNDS; round++)); do
		echo $(( ${P[$regime:$round:relay:p50]%.*} - ${P[$regime:$round:haproxy:p50]%.*} ))
	done | mmm_int)
	c=$(for ((round = 0; round < ROUNDS; round++)); do
		awk -v a="${P[$regime:$round:relay:cpu]}" -v b="${P[$regime:$round:haproxy:cpu]}" \
		    'BEGIN { if (b > 0) printf "%.4f\n", a / b }'
	done | mmm)
	printf '  relay - haproxy p50 %s us (target <= +50); relay/haproxy CPU per reading %s (target <= 2.00)\n' "$d" "$c"
done

# System calls per session, 10 kits at once, loopback (strace slows both
# alike; the counts are what matters). 10,000 sessions: the journal's WAL
# checkpoint (a page read and a page write for each page the WAL holds)
# comes about once in 2,500 sessions here, so a window of 2,000 held one
# or none, and its figure moved by 1.5 from run to run.
syscalls() {	# syscalls PID TARGET: "total top-calls" per session
	local n=10000
	strace -c -f -o "$T/strace.$2" -p "$1" 2>/dev/null &
	local sp=$!
	sleep 0.5
	push lo "$2" 10 "$n" >/dev/null
	sleep 0.5
	kill -INT "$sp" 2>/dev/null
	wait "$sp" 2>/dev/null
	awk -v n=$n '$1 ~ /^[0-9]+\.[0-9]+$/ && $NF != "total" { c[$NF] = $4 }
	    END { t = 0; for (k in c) t += c[k]
		printf "%.1f:", t / n
		for (k in c) if (c[k] / n >= 0.5) printf " %s %.1f", k, c[k] / n
		print "" }' "$T/strace.$2"
}
if command -v strace >/dev/null 2>&1; then
	echo "system calls per session (strace -c -f, 10000 sessions, 10 at once, loopback; target <= 18):"
	printf '  relay    %s\n' "$(syscalls "$relay_lo" relay)"
	printf '  haproxy  %s\n' "$(syscalls "$haproxy_lo" haproxy)"
fi

# Memory: open connections, IDLE_FWD forwarded through the relay (each
# also holds one to the portal), then IDLE to a relay serving locally.
idle_rss() {	# idle_rss PID PORT N: "open RSS" with N silent connections
	local i out="$T/idle.$2.out"
	ip netns exec "$NS_L" "$B/tests/kitsim" --idle "$3" "127.0.0.1:$2" \
		>"$out" 2>&1 &
	local p=$!
	pids+=($p)
	for i in $(seq 600); do
		grep -q "idle $3" "$out" && break
		sleep 0.05
	done
	sleep 0.5
	echo "$(ip netns exec "$NS_L" ss -Htn state established "( dport = :$2 )" | wc -l) $(rss_kb "$1")"
	kill "$p" 2>/dev/null
	wait "$p" 2>/dev/null
}
# Fresh relays: the runs above leave the first ones' heaps grown.
ip netns exec "$NS_L" "$B/omnik-relay" -f -u '' -c "$T/relay.conf" \
	-l 127.0.0.1:20005 --upstream 127.0.0.1:20000 --db "$T/fwd.db" \
	2>/dev/null &
relay3=$!
pids+=($relay3)
wait_port "$NS_L" 20005
sleep 0.2
rss_before_fwd=$(rss_kb "$relay3")
read -r open_fwd rss_fwd < <(idle_rss "$relay3" 20005 "$IDLE_FWD")
printf '[relay]\nmax_connections = %d\nclient_connections = 100000\n' \
	$((IDLE + 100)) >"$T/local.conf"
ip netns exec "$NS_L" "$B/omnik-relay" -f -u '' -c "$T/local.conf" \
	-l 127.0.0.1:20003 --upstream none --db "$T/local.db" 2>/dev/null &
relay2=$!
pids+=($relay2)
wait_port "$NS_L" 20003
sleep 0.2
rss_idle2=$(rss_kb "$relay2")
read -r open rss_busy < <(idle_rss "$relay2" 20003 "$IDLE")
readings=$(( $(grep -vc '^dateTime' "$T/lo.csv") + $(grep -vc '^dateTime' "$T/rt.csv") ))
loglines=$(( $(grep -c ' kit [0-9]*:' "$T/lo.log") + $(grep -c ' kit [0-9]*:' "$T/rt.log") ))
awk -v idle="$rss_idle" -v pss="$pss_idle" -v uss="$uss_idle" \
    -v hrss="$rss_haproxy" -v open="$open" -v busy="$rss_busy" \
    -v idle2="$rss_idle2" -v open_fwd="$open_fwd" -v rss_fwd="$rss_fwd" \
    -v before_fwd="$rss_before_fwd" -v readings="$readings" \
    -v loglines="$loglines" 'BEGIN {
	printf "memory:\n"
	printf "  relay RSS idle %d KiB (target <= 4096), PSS %d KiB, USS %d KiB; haproxy RSS idle %d KiB\n", idle, pss, uss, hrss
	printf "  relay RSS with %d open kit connections (served locally) %d KiB: %.2f KiB per connection\n", open, busy, open ? (busy - idle2) / open : 0
	printf "  relay RSS with %d open forwarded connections (kit + portal side) %d KiB: %.2f KiB per connection\n", open_fwd, rss_fwd, open_fwd ? (rss_fwd - before_fwd) / open_fwd : 0
	printf "readings: %d in the CSVs, %d log lines\n", readings, loglines
}'
