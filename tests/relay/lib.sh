# SPDX-License-Identifier: GPL-2.0-or-later
# Shared helpers for the relay's end-to-end tests (sourced, bash).
#
#   kit ns                 router ns                        portal ns
#   198.51.100.2 ──── rk 198.51.100.1  rp 203.0.113.1 ──── 203.0.113.69
#   (k0)                   omnik-relay :10004               tests/portal :10004
#                          REDIRECT 203.0.113.69:10004
#   outsider ns (optional)
#   192.0.2.2 ─────── ro 192.0.2.1
#
# Every name carries "omk-relay-$$" so parallel runs and other helpers'
# namespaces never clash; an EXIT trap kills what we started and deletes
# the namespaces. A watchdog ends the test if it runs past TEST_LIMIT s.
# TAP: ok/not_ok/check print "ok N - ..." lines; finish prints the plan.

set -u
: "${B:=build}"
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
B=$(cd "$TOP" && cd "$B" && pwd)
RELAY="$B/omnik-relay"
KITSIM="$B/tests/kitsim"
PORTAL="$B/tests/portal"
SNIFF="$B/omnik-sniff"
PFX="omk-relay-$$"
NS_KIT="$PFX-kit"
NS_R="$PFX-router"
NS_P="$PFX-portal"
NS_O="$PFX-out"
KIT_IP=198.51.100.2
R_KIT_IP=198.51.100.1
R_P_IP=203.0.113.1
PORTAL_IP=203.0.113.69
OUT_IP=192.0.2.2
PORT=10004
TEST_LIMIT=${TEST_LIMIT:-120}
T=$(mktemp -d /tmp/omk-relay-test.XXXXXX)
chmod 755 "$T"
# The helpers are ended with signals while connections are open: that is
# not a leak worth failing on. The relay's own exit is clean.
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

# The watchdog waits with a builtin (read on a FIFO nobody writes), so
# killing it leaves no sleep behind.
mkfifo "$T/watchdog"
( read -r -t "$TEST_LIMIT" <>"$T/watchdog"
  echo "not ok - $0 ran past ${TEST_LIMIT}s" >&2
  kill -TERM $$ 2>/dev/null ) &
_watchdog=$!
_pids+=("$_watchdog")

ok() { _n=$((_n + 1)); echo "ok $_n - $*"; }
not_ok() { _n=$((_n + 1)); _fail=$((_fail + 1)); echo "not ok $_n - $*"; }
# check "what" command...: ok if the command succeeds.
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

in_kit() { ip netns exec "$NS_KIT" "$@"; }
in_router() { ip netns exec "$NS_R" "$@"; }
in_portal() { ip netns exec "$NS_P" "$@"; }
in_out() { ip netns exec "$NS_O" "$@"; }

# netns_up [outsider]: the topology above, without any redirect rule.
netns_up() {
	[ "$(id -u)" -eq 0 ] || skip_all "needs root for network namespaces"
	local ns
	for ns in "$NS_KIT" "$NS_R" "$NS_P"; do
		ip netns add "$ns" || skip_all "cannot create namespaces"
		_nslist+=("$ns")
		ip -n "$ns" link set lo up
	done
	ip link add k0 netns "$NS_KIT" type veth peer name rk netns "$NS_R"
	ip link add p0 netns "$NS_P" type veth peer name rp netns "$NS_R"
	ip -n "$NS_KIT" addr add "$KIT_IP/24" dev k0
	ip -n "$NS_R" addr add "$R_KIT_IP/24" dev rk
	ip -n "$NS_R" addr add "$R_P_IP/24" dev rp
	ip -n "$NS_P" addr add "$PORTAL_IP/24" dev p0
	ip -n "$NS_KIT" link set k0 up
	ip -n "$NS_R" link set rk up
	ip -n "$NS_R" link set rp up
	ip -n "$NS_P" link set p0 up
	ip -n "$NS_KIT" route add default via "$R_KIT_IP"
	ip -n "$NS_P" route add default via "$R_P_IP"
	in_router sysctl -qw net.ipv4.ip_forward=1
	if [ "${1:-}" = outsider ]; then
		ip netns add "$NS_O"
		_nslist+=("$NS_O")
		ip -n "$NS_O" link set lo up
		ip link add o0 netns "$NS_O" type veth peer name ro netns "$NS_R"
		ip -n "$NS_O" addr add "$OUT_IP/24" dev o0
		ip -n "$NS_R" addr add 192.0.2.1/24 dev ro
		ip -n "$NS_O" link set o0 up
		ip -n "$NS_R" link set ro up
		ip -n "$NS_O" route add default via 192.0.2.1
	fi
}

# The redirect rule the scripts install for kits behind the router, by
# hand (t-rules tests the scripts themselves).
redirect_up() {
	in_router iptables -t nat -A PREROUTING -p tcp -d "$PORTAL_IP" \
	    --dport "$PORT" -j REDIRECT --to-ports "$PORT"
}

# Background programs are started with a plain `ip netns exec ... &`, never
# through a shell function, so that $! is the program itself and a signal
# sent to it reaches it.

# start_portal DIR [portal options]: portal in its namespace, saving to
# DIR; DIR "-" saves nothing (floods).
start_portal() {
	local dir=$1 save; shift
	if [ "$dir" = - ]; then
		dir="$T/portal-nosave"
		save=()
	else
		mkdir -p "$dir"
		save=(--save "$dir")
	fi
	ip netns exec "$NS_P" "$PORTAL" "${save[@]}" "$@" "$PORTAL_IP:$PORT" \
	    >"$dir.log" 2>&1 &
	PORTAL_PID=$!
	_pids+=("$PORTAL_PID")
	wait_for "grep -qs listening $dir.log" 5
}

stop_portal() {
	kill -TERM "$PORTAL_PID" 2>/dev/null
	wait "$PORTAL_PID" 2>/dev/null
}

# start_relay LOG [options]: omnik-relay in the router namespace, as
# nobody, in the foreground, its journal $JOURNAL; returns once it
# listens. The kits' networks are documentation prefixes, not private
# ones, so they are allowed explicitly (--allow-clients $RELAY_CLIENTS);
# a test that sets allow_clients itself empties RELAY_CLIENTS.
JOURNAL="$T/journal/omniklog.db"
RELAY_CLIENTS=${RELAY_CLIENTS-198.51.100.0/24 2001:db8:1::/48}
start_relay() {
	local log=$1; shift
	mkdir -p "$T/journal"
	chown nobody "$T/journal"
	ASAN_OPTIONS="${ASAN_OPTIONS%:detect_leaks=0}:detect_leaks=1" \
	    ip netns exec "$NS_R" "$RELAY" -f -u nobody --db "$JOURNAL" \
	    ${RELAY_CLIENTS:+--allow-clients "$RELAY_CLIENTS"} "$@" \
	    >>"$log" 2>&1 &
	RELAY_PID=$!
	_pids+=("$RELAY_PID")
	wait_for "grep -qs 'started:' $log" 10
}

# stop_relay [SIGNAL]: signal it (TERM) and wait; sets RELAY_RC.
stop_relay() {
	kill -"${1:-TERM}" "$RELAY_PID" 2>/dev/null
	wait "$RELAY_PID" 2>/dev/null
	RELAY_RC=$?
}

# wait_for "shell condition" SECONDS: poll every 50 ms.
wait_for() {
	local cond=$1 limit=$2 i=0
	while ! eval "$cond"; do
		i=$((i + 1))
		[ "$i" -gt $((limit * 20)) ] && return 1
		sleep 0.05
	done
	return 0
}

# A writable data directory for the relay's user.
data_dir() {
	mkdir -p "$1"
	chown nobody "$1"
}

# Sorted sha256 of every file matching a glob, one per line.
hashes() {
	local f files=()
	for f in "$@"; do
		[ -f "$f" ] && files+=("$f")
	done
	[ "${#files[@]}" -gt 0 ] && sha256sum "${files[@]}" | cut -c1-64 | sort
}

# CSV rows without the header and the time column, sorted: what the
# decoder made of the bytes, whenever it ran.
csv_rows() {
	grep -v '^dateTime,' "$@" | cut -d, -f2- | sort
}

# Readings omnik-sniff decodes from the given files, as csv_rows.
decoded_rows() {
	local out="$T/decoded.$$.$RANDOM.csv"
	cat "$@" | "$SNIFF" -u '' --stream - --csv "$out" 2>/dev/null
	csv_rows "$out"
	rm -f "$out"
}

# Readings in the relay's journal.
journal_count() {
	sqlite3 "$JOURNAL" 'SELECT count(*) FROM readings'
}

# Lines in a CSV besides the header.
csv_count() {
	if [ -f "$1" ]; then grep -vc '^dateTime,' "$1"; else echo 0; fi
}

# csv_has FILE N: the CSV holds N readings, within 5 s. The relay sends
# a kit its close just before it writes that session's readings
# (relay/defer.c), so a check right after a push waits for them.
csv_has() {
	wait_for "[ \"\$(csv_count '$1')\" -eq $2 ]" 5
}
