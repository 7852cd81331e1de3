#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A dead DNS server never stalls forwarding. The relay's PostgreSQL and
# MQTT outputs name their servers (db.omk.test, mq.omk.test); the router
# namespace's resolv.conf points at 192.0.2.53, routed to the portal's
# namespace, which DROPs every packet for it (each lookup hangs for
# resolv.conf's timeout). Meanwhile kits push through the relay at normal latency.
# Stopped mid-lookup, it exits at once and cleanly. Then the names go into the namespace's /etc/hosts (ip netns exec
# bind-mounts /etc/netns/NAME/*): every reading reaches the real
# PostgreSQL and mosquitto, both listening on the router's loopback.
# The conninfo lists a socket path that is not there (no lookup), then
# db.omk.test with a port of its own and two addresses, the first
# refused: libpq tries each entry in turn, and so reaches the server.
. "$(dirname "$0")/lib.sh"

ETC_NS="/etc/netns/$NS_R"
trap 'rm -rf "$ETC_NS"; cleanup' EXIT
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$PGBIN/initdb" ] || skip_all "no PostgreSQL server"
command -v mosquitto >/dev/null || skip_all "no mosquitto"

netns_up
redirect_up
# ip netns exec mounts these over /etc/{resolv.conf,hosts,nsswitch.conf}.
mkdir -p "$ETC_NS"
printf 'nameserver 192.0.2.53\noptions timeout:3 attempts:1\n' \
    >"$ETC_NS/resolv.conf"
printf '127.0.0.1 localhost\n' >"$ETC_NS/hosts"
printf 'hosts: files dns\n' >"$ETC_NS/nsswitch.conf"
# The black hole: dropped before routing, so no ICMP error comes back.
ip -n "$NS_R" route add 192.0.2.53/32 via "$PORTAL_IP"
in_portal iptables -t raw -A PREROUTING -d 192.0.2.53 -j DROP

check "the resolver really hangs (getent hosts takes the 3 s timeout)" \
    eval 't0=$(date +%s%N); ! in_router getent hosts db.omk.test &&
          [ $(( ($(date +%s%N) - t0) / 1000000 )) -ge 2500 ]'

# PostgreSQL and mosquitto on the router's loopback (TCP).
PGPORT=15432
MQPORT=11883
mkdir -p "$T/pg" "$T/mq"
chown nobody "$T/pg" "$T/mq"
runuser -u nobody -- "$PGBIN/initdb" -D "$T/pg/data" -U omk --auth=trust \
    -E UTF8 --no-sync >"$T/initdb.log" 2>&1 ||
	{ not_ok "initdb"; cat "$T/initdb.log"; finish; exit; }
in_router runuser -u nobody -- "$PGBIN/pg_ctl" -D "$T/pg/data" -w -t 20 \
    -l "$T/pg/log" -o "-c listen_addresses=127.0.0.1 -k $T/pg -p $PGPORT \
    -c fsync=off" start >/dev/null ||
	{ not_ok "PostgreSQL starts"; cat "$T/pg/log"; finish; exit; }
pg_stop() {
	runuser -u nobody -- "$PGBIN/pg_ctl" -D "$T/pg/data" -w -m immediate \
	    stop >/dev/null 2>&1
}
trap 'pg_stop; rm -rf "$ETC_NS"; cleanup' EXIT
psql_q() { psql "host=$T/pg port=$PGPORT user=omk dbname=postgres" -Atqc "$1"; }
cat >"$T/mq/mosquitto.conf" <<EOC
listener $MQPORT 127.0.0.1
allow_anonymous true
EOC
ip netns exec "$NS_R" mosquitto -c "$T/mq/mosquitto.conf" >"$T/mq/log" 2>&1 &
_pids+=($!)
check "mosquitto starts" wait_for \
    "in_router mosquitto_pub -h 127.0.0.1 -p $MQPORT -t omk/ping -m x 2>/dev/null" 10

data_dir "$T/data"
CSV="$T/data/relay.csv"
cat >"$T/relay.conf" <<CONF
[omniklog]
csv = $CSV
[postgresql]
conninfo = host=$T/no-socket,db.omk.test port=1,$PGPORT user=omk dbname=postgres connect_timeout=3
table = readings
batch = 10
[mqtt]
host = mq.omk.test
port = $MQPORT
discovery = no
CONF
start_portal "$T/portal"
kit() { ip netns exec "$NS_KIT" "$KITSIM" "$@" "$PORTAL_IP:$PORT"; }

# Stopped while both lookups hang: a prompt, clean exit (ASan checks
# leaks; the threads own their jobs).
start_relay "$T/relay0.log" -c "$T/relay.conf" ||
	{ not_ok "relay starts"; cat "$T/relay0.log"; finish; exit; }
kit -c 1 >/dev/null
sleep 1
t0=$(date +%s%N)
stop_relay TERM
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "stopped mid-lookup: exit 0 in $ms ms (under 1 s)" \
    [ "$RELAY_RC" -eq 0 -a "$ms" -lt 1000 ]
check "stopped mid-lookup: the lookups had not ended" \
    eval '! grep -Eq "resolv|Lookup" "$T/relay0.log"'
check "stopped mid-lookup: no sanitizer report" \
    eval '! grep -q Sanitizer "$T/relay0.log"'

start_relay "$T/relay.log" -c "$T/relay.conf" ||
	{ not_ok "relay starts"; cat "$T/relay.log"; finish; exit; }

# 40 pushes over 5 s while each output's lookup hangs 3 s at a time.
stats=$(kit -c 40 -r 8 -t 10 --stats)
p99=$(sed -n 's/.*p99_us \([0-9]*\).*/\1/p' <<<"$stats")
check "dead DNS: 40 pushes all forwarded ($stats)" \
    grep -q 'pushes 40 ok 40 failed 0' <<<"$stats"
secs=$(sed -n 's/.*seconds \([0-9]*\)\..*/\1/p' <<<"$stats")
# Failed pushes count in neither: both checks, or a stall could hide.
check "dead DNS: slowest push under 500 ms (p99 = max: ${p99:-?} us)" \
    [ "${p99:-999999999}" -lt 500000 ]
check "dead DNS: the 40 pushes took their 5 s, not more (${secs:-?} s)" \
    [ "${secs:-99}" -le 6 ]
check "dead DNS: the portal got all 41 pushes (1 from the first run)" \
    [ "$(ls "$T/portal" | grep -c '^conn-')" -eq 41 ]
check "dead DNS: PostgreSQL output could not resolve db.omk.test (logged)" \
    grep -Eq 'postgresql: .*(resolv|translate).*db\.omk\.test' "$T/relay.log"
check "dead DNS: MQTT output could not resolve mq.omk.test (logged)" \
    grep -Eq 'mqtt: mq\.omk\.test:[0-9]+: .*(Lookup|lookup)' "$T/relay.log"
check "dead DNS: nothing reached PostgreSQL yet" \
    [ "$(psql_q "SELECT count(*) FROM pg_tables WHERE tablename = 'readings'")" = 0 ]

# The names resolve now (written in place: the bind mount keeps the inode).
printf '127.0.0.2 db.omk.test\n127.0.0.1 db.omk.test mq.omk.test\n' \
    >>"$ETC_NS/hosts"
check "names resolve now" eval 'in_router getent hosts mq.omk.test >/dev/null'
# No new reading needed: the outputs' back-off retries find the names.
# 41: the reading of the first run waited in the journal.
check "all 41 readings reach PostgreSQL (third entry: the second address)" \
    wait_for "[ \"\$(psql_q 'SELECT count(*) FROM readings' 2>/dev/null)\" = 41 ]" 60
check "one row per push" [ "$(psql_q 'SELECT count(DISTINCT (inverter_sn, time)) FROM readings')" = 41 ]
mqtt_states() {
	in_router mosquitto_sub -h 127.0.0.1 -p "$MQPORT" -t 'omniklog/+/state' \
	    -W 2 2>/dev/null | grep -c '"inverter_sn"'
}
check "all 40 inverters' retained states are on the broker" \
    wait_for '[ "$(mqtt_states)" -eq 40 ]' 60
check "the relay logged its MQTT connection" \
    grep -q 'output mqtt: connected to mq.omk.test' "$T/relay.log"

stop_relay TERM
check "relay exits 0" [ "$RELAY_RC" -eq 0 ]
check "CSV has all 41 readings" csv_has "$CSV" 41
finish
