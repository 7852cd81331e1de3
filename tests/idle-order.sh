#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# idle-order: the functions of omnik-relay that an idle relay runs (start
# on a new journal, then idle), for relay/idle.order. The link puts them
# together at the start of the program's code (relay/module.mk), so that
# the code a relay does not run at idle (sessions, the protocol, the
# outputs and pages not configured) lies in 64 KiB runs of its own: the
# kernel maps a file's pages around each fault in 64 KiB windows, and a
# window nothing runs in stays out of RSS.
#
# The relay is started as tests/bench-rss.sh starts it, under valgrind's
# lackey (needs valgrind, root for the namespace); every instruction
# address run until 2 s after it logs that it started is mapped to a function with nm.
# A list that goes stale costs only memory, never behaviour.
#
#   tests/idle-order.sh [BUILD_DIR] >relay/idle.order
set -u
B=${1:-build}
B=$(cd "$B" && pwd)
NS="rso$$-lo"
T=$(mktemp -d /tmp/omk-idle-order.XXXXXX)
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

command -v valgrind >/dev/null || { echo "idle-order: needs valgrind" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "idle-order: needs root (a network namespace)" >&2; exit 1; }
ip netns add "$NS" || exit 1
ip -n "$NS" link set lo up
printf "[relay]\nclient_connections = 100000\n" >"$T/relay.conf"

# Lackey prints "I  ADDR,SIZE" per instruction run: keep each 16-byte
# line of code once.
ip netns exec "$NS" valgrind --tool=lackey --trace-mem=yes --log-fd=9 \
	"$B/omnik-relay" -f -u '' -c "$T/relay.conf" -l 127.0.0.1:20100 \
	--upstream 127.0.0.1:20101 --db "$T/r.db" --csv "$T/r.csv" \
	2>"$T/r.log" 9> >(mawk '$1 == "I" { a = $2; sub(/,.*/, "", a)
	    a = substr(a, 1, length(a) - 1); if (!(a in s)) { s[a] = 1
	    print a } }' >"$T/lines"; : >"$T/done") &
pid=$!
for i in $(seq 600); do
	grep -q ": started:" "$T/r.log" && break
	kill -0 "$pid" 2>/dev/null || { cat "$T/r.log" >&2; exit 1; }
	sleep 0.1
done
sleep 2
# The program's mappings: where its file offset 0 is.
base=$(awk -v p="$B/omnik-relay" '$6 == p { split($1, a, "-")
	print a[1], $3 }' "/proc/$pid/maps")
kill -KILL "$pid"
wait "$pid" 2>/dev/null
pid=
for i in $(seq 100); do [ -e "$T/done" ] && break; sleep 0.1; done

# nm: function start and size (addresses relative to the file's start,
# a PIE); a function is kept if any line run falls in it.
nm -S -n "$B/omnik-relay" | awk '$3 ~ /^[tTwW]$/ && NF == 4' >"$T/syms"
echo "$base" | mawk -v syms="$T/syms" -v lines="$T/lines" '
	function hex(s,   i, c, v) { v = 0; s = tolower(s)
		for (i = 1; i <= length(s); i++) {
			c = index("0123456789abcdef", substr(s, i, 1)) - 1
			v = v * 16 + c }
		return v }
	# the first mapping is at file offset 0
	NR == 1 { b = hex($1) - hex($2) }
	END {
		n = 0
		while ((getline l < syms) > 0) { split(l, f, " ")
			n++; st[n] = hex(f[1]); sz[n] = hex(f[2]); nm[n] = f[4] }
		while ((getline l < lines) > 0) {
			x = hex(l) * 16 - b
			# binary search for the last function starting at or below x
			lo = 1; hi = n; k = 0
			while (lo <= hi) { m = int((lo + hi) / 2)
				if (st[m] <= x) { k = m; lo = m + 1 } else hi = m - 1 }
			if (k > 0 && x < st[k] + sz[k]) used[k] = 1
		}
		print "# What an idle omnik-relay runs (start-up on a new journal, then the idle"; print "# loop): placed first in its code (relay/module.mk). Made by"; print "# tests/idle-order.sh, in address order; a stale list costs memory only."
		for (k = 1; k <= n; k++) if (k in used) print nm[k]
	}'
