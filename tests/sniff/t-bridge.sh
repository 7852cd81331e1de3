#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# kit ── br0 ── portal in network namespaces, omnik-sniff -i br0 on the
# bridge: no routing change, every push decoded, the portal gets it all.
. "$(dirname "$0")/netns.sh"
need_root
make_pushes

ns_add kit; ns_add br; ns_add portal
link kit eth0 br kitport
link portal eth0 br portalport
in_ns br ip link add br0 type bridge
in_ns br ip link set kitport master br0
in_ns br ip link set portalport master br0
in_ns br ip link set br0 up
in_ns kit ip addr add 203.0.113.10/24 dev eth0
in_ns portal ip addr add 203.0.113.69/24 dev eth0

: >"$tmp/recv.bin"
check "portal listens on 10004" portal_listen portal "$tmp/recv.bin"
chmod 755 "$tmp"; mkdir -m 777 "$tmp/out"
check "omnik-sniff captures on br0" \
	sniff_start br "$tmp/sniff.log" -i br0 -u nobody --csv "$tmp/out/live.csv" --db "$tmp/out/live.db"
check "it runs as nobody once the capture is open" \
	test "$(ps -o user= -p "$SNIFF_PID" | tr -d ' ')" = nobody
ANY_LOG="$tmp/any.log"
ip netns exec "$P-br" "$SNIFF" -f -u '' -i any --csv "$tmp/any.csv" --db "$tmp/any.db" 2>"$ANY_LOG" &
ANY_PID=$!; PIDS="$PIDS $ANY_PID"
# A daemon from a config file: detaches, pid file, log to syslog.
cat >"$tmp/omniklog.conf" <<CONF
[omniklog]
user =
pidfile = $tmp/run/omnik-sniff.pid
csv = $tmp/daemon.csv
db = $tmp/daemon.db
[sniff]
interface = br0
ports = 10004
CONF
check "daemon: starts from the config file and detaches" \
	in_ns br "$SNIFF" -c "$tmp/omniklog.conf"
check "daemon: writes its pid file" test -s "$tmp/run/omnik-sniff.pid"
DPID=$(cat "$tmp/run/omnik-sniff.pid" 2>/dev/null)
[ -n "$DPID" ] && PIDS="$PIDS $DPID"
for _ in $(seq 50); do grep -q started "$ANY_LOG" && break; sleep 0.1; done
sleep 0.5
check "every push reaches the portal's port" push_all kit 203.0.113.69
rows=$(wc -l <"$tmp/want.rows")
wait_lines "$tmp/out/live.csv" $((rows + 1))
sleep 0.3
check "the portal got every byte the kit sent" cmp -s "$tmp/all.bin" "$tmp/recv.bin"
tail -n +2 "$tmp/out/live.csv" | cut -d, -f2- >"$tmp/got.rows"
check "every reading decoded once, in order ($rows)" cmp -s "$tmp/want.rows" "$tmp/got.rows"
today=$(date +%Y-%m-%d)
check "readings carry the capture time" \
	test "$(tail -n +2 "$tmp/out/live.csv" | cut -c1-10 | sort -u)" = "$today"

kill -USR1 "$SNIFF_PID"
for _ in $(seq 30); do grep -q 'statistics:.*kernel:' "$tmp/sniff.log" && break; sleep 0.1; done
check "SIGUSR1 logs statistics with kernel drops" grep -q 'statistics:.*readings.*kernel: [0-9]* received, [0-9]* dropped' "$tmp/sniff.log"
check "SIGTERM: clean exit" sniff_stop
wait_lines "$tmp/any.csv" $((rows + 1))
wait_lines "$tmp/daemon.csv" $((rows + 1))
sleep 0.3
kill -TERM "$ANY_PID"; wait "$ANY_PID"
tail -n +2 "$tmp/any.csv" | cut -d, -f2- >"$tmp/any.rows"
check "-i any (Linux cooked v2, every packet seen on 3 interfaces): each reading once" \
	cmp -s "$tmp/want.rows" "$tmp/any.rows"
check "-i any: the copies count as duplicates, not as data" \
	grep -q 'statistics:.* [1-9][0-9]* duplicate' "$ANY_LOG"
tail -n +2 "$tmp/daemon.csv" | cut -d, -f2- >"$tmp/daemon.rows"
check "daemon: every reading decoded" cmp -s "$tmp/want.rows" "$tmp/daemon.rows"
check "live capture journals every reading first ($rows rows in each journal)" \
	test "$(sqlite3 "$tmp/out/live.db" 'SELECT count(*) FROM readings')" = "$rows" -a \
	     "$(sqlite3 "$tmp/daemon.db" 'SELECT count(*) FROM readings')" = "$rows"
kill -TERM "$DPID" 2>/dev/null
for _ in $(seq 50); do [ -e "$tmp/run/omnik-sniff.pid" ] || break; sleep 0.1; done
check "daemon: SIGTERM ends it and removes the pid file" \
	test ! -e "$tmp/run/omnik-sniff.pid"
check "exit statistics: $rows readings, no gaps" \
	grep -q "statistics:.* 0 gaps .* $rows readings" "$tmp/sniff.log"
echo "1..$n"
