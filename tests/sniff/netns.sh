# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for the network-namespace tests of omnik-sniff (sourced).
# Namespaces are named omk-sniff-$$-*, and removed on exit with every
# process started in them.
set -u
B=${B:-build}
top=$(cd "$(dirname "$0")/../.." && pwd)
SNIFF="$B/omnik-sniff"
MK="$B/tests/mkpcap"
VEC="$top/tests/data/vectors.tsv"
export TZ=Europe/Amsterdam
P="omk-sniff-$$"
tmp=$(mktemp -d /tmp/omk-sniff-e2e.XXXXXX)
n=0
NSLIST=""
PIDS=""

ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); echo "not ok $n - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else notok "$what"; fi; }

cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	sleep 0.2
	for ns in $NSLIST; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

need_root() {
	if [ "$(id -u)" -ne 0 ] || ! ip netns add "$P-probe" 2>/dev/null; then
		echo "1..0 # SKIP needs root and network namespaces"
		exit 0
	fi
	ip netns del "$P-probe"
}

ns_add() { ip netns add "$P-$1"; NSLIST="$NSLIST $P-$1"; ip -n "$P-$1" link set lo up; }
in_ns() { local ns=$1; shift; ip netns exec "$P-$ns" "$@"; }

# veth between two namespaces: link NS1 IF1 NS2 IF2
link() {
	ip -n "$P-$1" link add "$2" type veth peer name "$4" netns "$P-$3"
	ip -n "$P-$1" link set "$2" up
	ip -n "$P-$3" link set "$4" up
}

# One file per vectors.tsv line, as a kit would push it; all.bin holds
# them in order; want.rows the expected CSV rows without their time.
make_pushes() {
	mkdir -p "$tmp/push"
	local i=0
	while IFS=$'\t' read -r name hex rest; do
		case "$name" in '#'*|'') continue ;; esac
		i=$((i + 1))
		printf '%s' "$hex" | perl -ne 'print pack("H*", $_)' \
		    >"$tmp/push/$(printf %02d $i).bin"
	done <"$VEC"
	cat "$tmp"/push/*.bin >"$tmp/all.bin"
	"$MK" -o "$tmp/vec.pcap" --expect "$tmp/vec.want" --vectors "$VEC" 2>/dev/null
	cut -d, -f2- "$tmp/vec.want" >"$tmp/want.rows"
}

# Start a portal stand-in: everything received goes to FILE.
portal_listen() {	# NS FILE
	ip netns exec "$P-$1" nc -dlk 10004 >>"$2" 2>/dev/null &
	PIDS="$PIDS $!"
	for _ in $(seq 50); do
		in_ns "$1" ss -ltn 2>/dev/null | grep -q ':10004 ' && return 0
		sleep 0.1
	done
	return 1
}

# Push every vector file from the kit namespace, one connection each.
push_all() {	# NS ADDR
	for f in "$tmp"/push/*.bin; do
		in_ns "$1" timeout 10 nc -N -w 3 "$2" 10004 <"$f" >/dev/null 2>&1 ||
			return 1
	done
}

# Start omnik-sniff in a namespace; waits for its "started" line.
sniff_start() {	# NS LOG ARGS...
	local ns=$1 log=$2; shift 2
	ip netns exec "$P-$ns" "$SNIFF" -f -u '' "$@" 2>"$log" &
	SNIFF_PID=$!
	PIDS="$PIDS $SNIFF_PID"
	for _ in $(seq 100); do
		grep -q 'started' "$log" && return 0
		kill -0 "$SNIFF_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# Wait until FILE has N lines (header included), at most 10 s.
wait_lines() {
	for _ in $(seq 100); do
		[ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

sniff_stop() {
	kill -TERM "$SNIFF_PID" 2>/dev/null
	wait "$SNIFF_PID"
}
