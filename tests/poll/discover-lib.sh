# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for the discovery tests (sourced, bash): namespaces named
# dc$$-*, a watchdog, cleanup on exit. A "host" namespace runs the tool;
# LAN namespaces hold the kits (tests/poll/kitlan.py), joined to the host
# by one veth each.
set -u
: "${B:=build}"
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
B=$(cd "$TOP" && cd "$B" && pwd)
DISCOVER="$B/omnik-poll"
KITLAN="$TOP/tests/poll/kitlan.py"
PFX="dc$$"
NS_H="$PFX-host"
TEST_LIMIT=${TEST_LIMIT:-150}
T=$(mktemp -d /tmp/dc-test.XXXXXX)
# The stand-ins are killed with signals: not the tool's leaks.
_pids=()
_nslist=()
_n=0
_fail=0

cleanup() {
	local p ns
	exec 2>/dev/null	# no "Killed" notices for the stand-ins
	for p in "${_pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	for ns in "${_nslist[@]}"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	[ -n "${KEEP:-}" ] && echo "kept $T" >&2 || rm -rf "$T"
}
trap cleanup EXIT
trap 'echo "not ok - interrupted"; exit 1' INT TERM

mkfifo "$T/watchdog"
( read -r -t "$TEST_LIMIT" <>"$T/watchdog"
  echo "not ok - $0 ran past ${TEST_LIMIT}s" >&2
  kill -TERM $$ 2>/dev/null ) &
_pids+=("$!")

ok() { _n=$((_n + 1)); echo "ok $_n - $*"; }
not_ok() { _n=$((_n + 1)); _fail=$((_fail + 1)); echo "not ok $_n - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }
finish() { echo "1..$_n"; [ "$_fail" -eq 0 ]; }

ns_new() {	# NAME
	ip netns add "$1" || { echo "1..0 # SKIP cannot create namespaces"; exit 0; }
	_nslist+=("$1")
	ip -n "$1" link set lo up
}

# host_up: the host namespace (needs root).
host_up() {
	[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP needs root for network namespaces"; exit 0; }
	command -v python3 >/dev/null || { echo "1..0 # SKIP needs python3"; exit 0; }
	ns_new "$NS_H"
}

# lan_up NS HOSTIF HOSTADDR/LEN LANIF ADDR/LEN...: a LAN behind HOSTIF.
lan_up() {
	local ns=$1 hif=$2 haddr=$3 lif=$4 a
	shift 4
	ns_new "$ns"
	ip link add "$hif" netns "$NS_H" type veth peer name "$lif" netns "$ns"
	ip -n "$NS_H" addr add "$haddr" brd + dev "$hif"
	for a in "$@"; do ip -n "$ns" addr add "$a" brd + dev "$lif"; done
	ip -n "$NS_H" link set "$hif" up
	ip -n "$ns" link set "$lif" up
}

# kitlan_start NS CONFIG LOG: the kits of one LAN; waits for "ready".
kitlan_start() {
	ip netns exec "$1" python3 "$KITLAN" "$2" "$3" 2>"$3.err" &
	_pids+=("$!")
	for _ in $(seq 100); do
		grep -q '^ready' "$3" 2>/dev/null && return 0
		sleep 0.1
	done
	cat "$3.err" >&2
	return 1
}

# discover ARGS...: the tool in the host namespace; out/err/rc in $T.
discover() {
	ip netns exec "$NS_H" "$DISCOVER" "$@" >"$T/out" 2>"$T/err"
	echo $? >"$T/rc"
}
