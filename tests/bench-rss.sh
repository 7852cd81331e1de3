#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# bench-rss: an idle omnik-relay's memory, over several starts, since
# one start varies by ±100 KiB (what the page cache lets the kernel map
# around each fault in the shared libraries).
#
# Each start is the relay as bench-relay.sh starts it: loopback in a
# namespace of its own, --db and --csv (a new journal each time), no
# [http]; measured 0.3 s after it listens. Printed: VmRSS, PSS and USS
# as min / median / max, the target (RSS median <= 4096 KiB), and where
# the median start's resident pages are, per mapping. Then as many starts
# on an existing journal (a relay's usual start: nothing to migrate), and
# one with --http, to show what the status page costs (libevent_extra is
# loaded only then).
#
#   tests/bench-rss.sh [BUILD_DIR]     BENCH_RSS_STARTS (11)
set -u
B=${1:-${B:-build}}
B=$(cd "$B" && pwd)
STARTS=${BENCH_RSS_STARTS:-11}
NS="rs$$-lo"
T=$(mktemp -d /tmp/omk-rss-bench.XXXXXX)
pid=

cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	wait 2>/dev/null
	ip netns pids "$NS" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

[ "$(id -u)" -eq 0 ] || { echo "bench-rss: needs root (a network namespace)"; exit 0; }
ip netns add "$NS" || { echo "bench-rss: cannot create a namespace"; exit 1; }
ip -n "$NS" link set lo up
printf "[relay]\nclient_connections = 100000\n" >"$T/relay.conf"

# min/median/max of the numbers on stdin
mmm() {
	sort -n | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "-"; exit }
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%d / %d / %d", v[1], m, v[NR] }'
}
rollup() { awk -v k="$2" '$1 == k":" { s += $2 } END { print s + 0 }' \
    "/proc/$1/smaps_rollup"; }
# Resident KiB per mapping name (the program, each library, heap, stack,
# anonymous), largest first.
per_mapping() {
	awk -v prog="$B/omnik-relay" '
	/^[0-9a-f]+-[0-9a-f]+ / { n = $6; if (n == "") n = "[anonymous]"
		else if (n == prog) n = "omnik-relay"
		else if (n ~ /\.db-shm$/) n = "journal -shm (WAL index)"
		else sub(/.*\//, "", n) }
	/^Rss:/ { s[n] += $2 }
	END { for (k in s) if (s[k] > 0) printf "%6d  %s\n", s[k], k }' \
	    "$1" | sort -rn
}
# start ARGS...: a relay that listens on 127.0.0.1:20100, on a new
# journal (KEEP_JOURNAL=1: the one of the start before); sets pid.
start() {
	local i
	rm -f "$T"/r.csv "$T"/r.log
	[ -n "${KEEP_JOURNAL:-}" ] || rm -f "$T"/r.db*
	ip netns exec "$NS" "$B/omnik-relay" -f -u '' -c "$T/relay.conf" \
		-l 127.0.0.1:20100 --upstream 127.0.0.1:20101 --db "$T/r.db" \
		--csv "$T/r.csv" "$@" 2>"$T/r.log" &
	pid=$!
	for i in $(seq 200); do
		ip netns exec "$NS" ss -Hltn "( sport = :20100 )" | grep -q . &&
			{ sleep 0.3; return 0; }
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	echo "bench-rss: the relay does not start:" >&2
	cat "$T/r.log" >&2
	exit 1
}
stop() {
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	pid=
}

: >"$T/runs"
for n in $(seq "$STARTS"); do
	start
	rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")
	echo "$rss $(rollup "$pid" Pss) $(( $(rollup "$pid" Private_Clean) + $(rollup "$pid" Private_Dirty) ))" >>"$T/runs"
	cp "/proc/$pid/smaps" "$T/smaps.$rss"
	stop
done
med=$(awk '{ print $1 }' "$T/runs" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
echo "omnik-relay idle, $STARTS starts (KiB, min / median / max):"
echo "  RSS  $(awk '{ print $1 }' "$T/runs" | mmm)"
echo "  PSS  $(awk '{ print $2 }' "$T/runs" | mmm)"
echo "  USS  $(awk '{ print $3 }' "$T/runs" | mmm)"
if [ "$med" -le 4096 ]; then
	echo "  RSS median $med KiB: target <= 4096 met"
else
	echo "  RSS median $med KiB: TARGET (<= 4096) MISSED"
fi
echo "  resident per mapping in the median start (KiB):"
per_mapping "$T/smaps.$med" | sed 's/^/    /'

# A relay's usual start: the journal exists (no migration to make).
: >"$T/kept"
for n in $(seq "$STARTS"); do
	KEEP_JOURNAL=1 start
	awk '/^VmRSS/ { print $2 }' "/proc/$pid/status" >>"$T/kept"
	stop
done
echo "on the journal of the start before (no migration): RSS $(mmm <"$T/kept") KiB"

start --http 127.0.0.1:20102
rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")
extra=$(grep -c libevent_extra "/proc/$pid/maps")
stop
echo "with --http: RSS $rss KiB (one start), libevent_extra mapped: $([ "$extra" -gt 0 ] && echo yes || echo no)"
