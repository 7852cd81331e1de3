# SPDX-License-Identifier: GPL-2.0-or-later
# Shared helpers for omnik-poll's end-to-end tests (sourced, bash).
#
#   poller ns                          kits ns
#   198.51.100.1 ──── veth ──── 198.51.100.10, .11, ... (one kitpoll each)
#
# Names carry "pl$$" so parallel runs never clash; an EXIT trap kills what
# we started and deletes the namespaces; a watchdog ends a test that runs
# past TEST_LIMIT s. TAP output.
set -u
: "${B:=build}"
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
B=$(cd "$TOP" && cd "$B" && pwd)
POLL="$B/omnik-poll"
KITPOLL="$B/tests/kitpoll"
NS_P="pl$$-poller"
NS_K="pl$$-kits"
TEST_LIMIT=${TEST_LIMIT:-180}
T=$(mktemp -d /tmp/pl-test.XXXXXX)
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"

_pids=()
_n=0
_fail=0
_nslist=()

cleanup() {
	local p ns
	for p in "${_pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
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
check() {
	local what=$1; shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}
finish() {
	echo "1..$_n"
	[ "$_fail" -eq 0 ]
}
skip_all() {
	echo "1..0 # SKIP $*"
	exit 0
}

in_p() { ip netns exec "$NS_P" "$@"; }
in_k() { ip netns exec "$NS_K" "$@"; }

# netns_up N: the poller and a kits namespace with addresses .10 .. .(9+N).
netns_up() {
	[ "$(id -u)" -eq 0 ] || skip_all "needs root for network namespaces"
	local ns i
	for ns in "$NS_P" "$NS_K"; do
		ip netns add "$ns" || skip_all "cannot create namespaces"
		_nslist+=("$ns")
		ip -n "$ns" link set lo up
	done
	ip link add p0 netns "$NS_P" type veth peer name k0 netns "$NS_K"
	ip -n "$NS_P" addr add 198.51.100.1/24 dev p0
	for i in $(seq 10 $((9 + $1))); do
		ip -n "$NS_K" addr add "198.51.100.$i/24" dev k0
	done
	ip -n "$NS_P" link set p0 up
	ip -n "$NS_K" link set k0 up
}

# wait_for SECONDS COMMAND...: poll a condition every 0.1 s.
wait_for() {
	local limit=$(($1 * 10)) i=0; shift
	while ! "$@" 2>/dev/null; do
		i=$((i + 1))
		[ "$i" -ge "$limit" ] && return 1
		sleep 0.1
	done
}

# kit NAME ARGS...: a kitpoll in the kits namespace, log in $T/NAME.log.
kit() {
	local name=$1; shift
	ip netns exec "$NS_K" "$KITPOLL" "$@" >"$T/$name.log" 2>&1 &
	_pids+=("$!")
	eval "KIT_$name=$!"
	wait_for 10 grep -q listening "$T/$name.log"
}
kit_stop() {
	local v="KIT_$1"
	kill "${!v}" 2>/dev/null
	wait "${!v}" 2>/dev/null
}

# start_poll NAME ARGS...: omnik-poll in the poller namespace, in the
# foreground with debug lines, its journal and CSV in $T/NAME.*.
start_poll() {
	local name=$1; shift
	ip netns exec "$NS_P" "$POLL" -f -v -u '' -c /dev/null \
	    --db "$T/$name.db" --csv "$T/$name.csv" "$@" \
	    >"$T/$name.out" 2>"$T/$name.err" &
	POLL_PID=$!
	_pids+=("$POLL_PID")
	wait_for 10 grep -q 'started:' "$T/$name.err"
}
stop_poll() {
	kill -TERM "$POLL_PID" 2>/dev/null
	wait "$POLL_PID"
}

# Lines of a file matching a pattern (0 when none).
count() { grep -c -- "$1" "$2" 2>/dev/null || true; }
# Readings in a journal; rows of a CSV besides its header.
journal_count() { sqlite3 "$1" "SELECT count(*) FROM readings${2:+ WHERE $2}"; }
csv_count() { if [ -f "$1" ]; then grep -vc '^dateTime,' "$1"; else echo 0; fi; }
# journal_is N DB [WHERE]: the journal holds N such readings (for wait_for).
journal_is() { local n=$1; shift; [ "$(journal_count "$@")" -eq "$n" ]; }
# at_least N COMMAND...: the command prints a number >= N.
at_least() { local n=$1; shift; [ "$("$@")" -ge "$n" ]; }
