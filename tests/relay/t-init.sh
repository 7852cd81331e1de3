#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The SysV init script scripts/omniklog, run in the router namespace:
# start installs the rules and detaches the relay (pid file), the kit's
# push goes through it, status reports it, stop ends it and removes the
# rules. A stale pid file never makes it signal another program.
. "$(dirname "$0")/lib.sh"

netns_up
start_portal "$T/portal" --quiet
mkdir -p "$T/state" && chown nobody "$T/state"
printf '[omniklog]\ncsv = %s\ndb = %s\n[relay]\nallow_clients = %s\n' \
	"$T/state/relay.csv" "$T/state/journal.db" "$RELAY_CLIENTS" >"$T/relay.conf"
chmod 644 "$T/relay.conf"
init() {
	ip netns exec "$NS_R" env DAEMON="$RELAY" RULES="$TOP/scripts/omniklog-rules" \
	    PIDFILE="$T/run/omnik-relay.pid" STATEDIR="$T/state" RELAY_USER=nobody \
	    PORTALS="$PORTAL_IP" BACKEND=iptables DAEMON_OPTS="-c $T/relay.conf" \
	    sh "$TOP/scripts/omniklog" "$@"
}

check "start" init start
check "the pid file names a running relay" eval 'kill -0 "$(cat "$T/run/omnik-relay.pid")"'
pid=$(cat "$T/run/omnik-relay.pid")
_pids+=("$pid")
check "status: running (exit 0)" init status
check "the rules are installed" eval 'in_router iptables -t nat -S | grep -q OMNIKLOG_PRE'
check "a kit's push goes through the daemonised relay" \
	in_kit "$KITSIM" --save "$T/kit" "$PORTAL_IP:$PORT"
check "... its reading is in the CSV" csv_has "$T/state/relay.csv" 1
check "... and the portal got its bytes" cmp -s "$T/kit/push-0.bin" "$T/portal/conn-0.bin"
check "the relay runs as nobody" [ "$(ps -o user= -p "$pid")" = nobody ]
check "reload (SIGHUP) keeps it running" eval 'init reload && sleep 0.2 && kill -0 $pid'
check "stop" init stop
check "the relay is gone" eval '! kill -0 $pid 2>/dev/null'
init status >/dev/null
check "status: not running (exit 3)" [ $? -eq 3 ]
check "the rules are removed" eval '! in_router iptables -t nat -S | grep -q OMNIKLOG'

# The pid file is root's, in root's directory: the relay's user cannot
# write a pid of its choosing into it.
check "start again" init start
pid=$(cat "$T/run/omnik-relay.pid"); _pids+=("$pid")
check "pid file and its directory are root's, not the relay user's" \
	eval '[ "$(stat -c %U "$T/run" "$T/run/omnik-relay.pid" | sort -u)" = root ] &&
	! setpriv --reuid nobody --regid nogroup --clear-groups -- sh -c "echo 1 >$T/run/omnik-relay.pid" 2>/dev/null'
# A crash (kill -9) leaves the pid file; the pid is then reused by an
# unrelated program. stop and status must not take it for the relay.
kill -KILL "$pid"; for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
sleep 300 & victim=$!; _pids+=("$victim")
echo "$victim" >"$T/run/omnik-relay.pid"
init status >/dev/null
check "status with a stale pid file of another program: not running" [ $? -ne 0 ]
init stop >/dev/null 2>&1
check "stop leaves the unrelated process alone" kill -0 "$victim"
check "start after the crash works" init start
pid=$(cat "$T/run/omnik-relay.pid"); _pids+=("$pid")
check "... and runs the relay" eval '[ "$pid" != "$victim" ] && [ "$(ps -o comm= -p "$pid")" = omnik-relay ]'
check "stop ends it" eval 'init stop >/dev/null && ! kill -0 $pid 2>/dev/null && kill -0 $victim'
kill "$victim"
check "start with a broken config fails and installs no rules" eval '
	echo "bogus = 1" >>"$T/relay.conf"; ! init start >/dev/null 2>&1 &&
	! in_router iptables -t nat -S | grep -q OMNIKLOG'
finish
