#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The InfluxDB output against a real InfluxDB 1.x (Debian's influxdb),
# started here on loopback in a temporary directory: readings written and
# queried back with `influx -execute` (values, tags, every field a float,
# time in seconds), an outage in the middle of a live capture, a program
# restart during an outage, the backfill; a type conflict on one field
# refuses one line, and only that reading is skipped and logged with
# InfluxDB's reason; an unknown database stops the output; a measurement
# name that needs escaping.
. "$(dirname "$0")/lib.sh"

command -v influxd >/dev/null && command -v influx >/dev/null || {
	echo "1..0 # SKIP influxd/influx not installed (scripts/install-deps --test)"
	exit 0
}
IXDIR="$T/influx"
IXPORT=$(free_port)
IXRPC=$(free_port)
while [ "$IXRPC" = "$IXPORT" ]; do IXRPC=$(free_port); done
mkdir -p "$IXDIR"
# Loopback only; no reporting home, no background services the test does
# not need.
cat >"$IXDIR/influxdb.conf" <<EOC
reporting-disabled = true
bind-address = "127.0.0.1:$IXRPC"
[meta]
  dir = "$IXDIR/meta"
[data]
  dir = "$IXDIR/data"
  wal-dir = "$IXDIR/wal"
  query-log-enabled = false
[retention]
  enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:$IXPORT"
  log-enabled = false
EOC
ix_start() {
	influxd -config "$IXDIR/influxdb.conf" >>"$IXDIR/log" 2>&1 &
	IXPID=$!
	wait_for 30 influx -host 127.0.0.1 -port "$IXPORT" -execute \
	    'SHOW DATABASES'
}
ix_stop() {	# SIGKILL: like a crash or a pulled cable, no goodbye
	[ -n "${IXPID:-}" ] || return 0
	kill -KILL "$IXPID" 2>/dev/null
	wait "$IXPID" 2>/dev/null
	IXPID=
}
at_exit ix_stop
q() {	# q DB QUERY: CSV rows without the header, times in seconds
	influx -host 127.0.0.1 -port "$IXPORT" -database "$1" -precision s \
	    -format csv -execute "$2" | tail -n +2
}

conf() {	# conf FILE JOURNAL DB [extra [influxdb] lines]
	local f=$1 j=$2 db=$3; shift 3
	{
		printf '[omniklog]\ndb = %s\n[influxdb]\n' "$j"
		printf 'url = http://127.0.0.1:%s\ndb = %s\n' "$IXPORT" "$db"
		printf '%s\n' "$@"
	} >"$f"
}
now=$(date +%s)
t0=$((now - 3 * 86400))		# backfill: three days ago
SN0=NLDN302013000000
SN1=NLDN302013000001
# Reading i's time, and its pac, temp, vac1, etotal, htotal (feed.c).
expect_row() {
	local i=$1
	printf '%s,%s,%s,%s,%s,%s\n' $((t0 + i * 300)) $((100 + i % 1000)) \
	    "$(echo "scale=1; $((300 + i % 50)) / 10" | bc | sed 's/\.0$//')" \
	    "$(echo "scale=1; $((2300 + i % 10)) / 10" | bc | sed 's/\.0$//')" \
	    "$(echo "scale=1; (100000 + $i) / 10" | bc | sed 's/\.0$//')" \
	    $((1000 + i))
}
expect_rows() { for ((i = $1; i < $1 + $2; i++)); do expect_row $i; done; }
# time,pac,temp,vac1,etotal,htotal of inverter SN in DB, in time order.
rows_of() {
	q "$1" "SELECT pac, temp, vac1, etotal, htotal FROM omnik WHERE inverter_sn = '$2'" |
	    cut -d, -f2-
}

ix_start || { echo "not ok 1 - influxd did not start"; exit 1; }
influx -host 127.0.0.1 -port "$IXPORT" -execute 'CREATE DATABASE omk'

# 1. Two inverters, 40 readings each, three days back.
conf "$T/omk.conf" "$T/j.db" omk
"$FEED" -c "$T/omk.conf" --inverters 2 --count 40 --start $t0 --flush 30 \
    >"$T/f1.log" 2>&1
ok $? "80 readings delivered"
is "$(rows_of omk $SN0)" "$(expect_rows 0 40)" \
   "inverter 0: 40 points, in order, values and times as fed"
is "$(rows_of omk $SN1 | wc -l)" 40 "inverter 1: 40 points"
is "$(q omk 'SHOW TAG VALUES FROM omnik WITH KEY = "kit_sn"' | cut -d, -f3 | tr '\n' ' ')" \
   "1600000000 1600000001 " "tag kit_sn: the kits' serials"
is "$(q omk 'SHOW TAG VALUES FROM omnik WITH KEY = "variant"' | cut -d, -f3)" \
   omnik "tag variant"
fields=$(q omk 'SHOW FIELD KEYS FROM omnik')
is "$(echo "$fields" | cut -d, -f3 | sort -u)" float "every field is a float"
is "$(echo "$fields" | cut -d, -f2 | sort | tr '\n' ' ')" \
   "etoday etotal fac1 htotal iac1 ipv1 ipv2 pac pac1 runmode temp vac1 vpv1 vpv2 " \
   "the fields the readings carry, and no others (absent ones left out)"

# 2. InfluxDB down during a live capture, then back: backfilled in order.
ix_stop
"$FEED" -c "$T/omk.conf" --count 20 --interval 50 --start $t0 --first 40 \
    --flush 60 >"$T/f2.log" 2>&1 &
feed=$!
sleep 1.2
ix_start
ok $? "influxd restarted"
wait $feed
ok $? "outage: everything delivered once InfluxDB is back"
is "$(rows_of omk $SN0)" "$(expect_rows 0 60)" "points 40..59 there, in order"
grep -q "output influxdb: .*retrying" "$T/f2.log"
ok $? "the outage is logged"
is "$(grep -c 'output influxdb: .*retrying' "$T/f2.log")" 1 \
   "once, not at every retry"

# 3. Program restarted during an outage.
ix_stop
"$FEED" -c "$T/omk.conf" --count 10 --start $t0 --first 60 --flush 1.5 \
    >"$T/f3.log" 2>&1
is $? 3 "InfluxDB down: the readings wait in the journal"
ix_start
"$FEED" -c "$T/omk.conf" --count 0 --flush 30 >"$T/f4.log" 2>&1
ok $? "the restarted program delivers them"
is "$(rows_of omk $SN0)" "$(expect_rows 0 70)" "points 60..69 there, in order"

# 4. A type conflict on one field: `temp` made a string in the shard of
# reading 3 only (one-hour shards, readings an hour apart). That line
# alone is refused; every other reading of the batch is written.
influx -host 127.0.0.1 -port "$IXPORT" -execute \
    'CREATE DATABASE conflict WITH SHARD DURATION 1h'
t3=$((t0 + 3 * 3600))
influx -host 127.0.0.1 -port "$IXPORT" -database conflict -precision s \
    -execute "INSERT omnik,inverter_sn=$SN0 temp=\"hot\" $t3"
conf "$T/c.conf" "$T/c.db" conflict
"$FEED" -c "$T/c.conf" --count 8 --step 3600 --start $t0 --flush 30 \
    >"$T/f5.log" 2>&1
ok $? "a batch with one conflicting line is delivered"
is "$(q conflict "SELECT pac FROM omnik WHERE inverter_sn = '$SN0'" | cut -d, -f2 | tr '\n' ' ')" \
   "$(for i in 0 1 2 4 5 6 7; do printf '%s ' $((t0 + i * 3600)); done)" \
   "every reading but the conflicting one written"
grep -q "reading of inverter $SN0 at $(date -u -d @$t3 +%Y-%m-%dT%H:%M:%SZ) skipped: InfluxDB says: partial write: field type conflict: input field \"temp\" on measurement \"omnik\" is type float, already exists as type string" "$T/f5.log"
ok $? "the skipped reading is logged with InfluxDB's reason"
is "$(grep -c 'skipped: InfluxDB says' "$T/f5.log")" 1 "and only that one"
is "$(sqlite3 "$T/c.db" "SELECT position = (SELECT max(id) FROM readings) FROM cursors WHERE name = 'influxdb'")" 1 \
   "the cursor is past every reading"

# 5. A database that does not exist: 404 stops the output naming db.
conf "$T/nodb.conf" "$T/nodb.db" cellar
"$FEED" -c "$T/nodb.conf" --count 3 --start $t0 --flush 5 >"$T/f6.log" 2>&1
grep -q 'HTTP 404: database not found: "cellar": check \[influxdb\] db' "$T/f6.log"
ok $? "404 stops the output with a line naming db"
is "$(sqlite3 "$T/nodb.db" "SELECT position FROM cursors WHERE name = 'influxdb'")" 0 \
   "its readings stay undelivered in the journal"

# 6. A measurement with a blank and a comma, escaped.
conf "$T/m.conf" "$T/m.db" omk "measurement = pv roof,1"
"$FEED" -c "$T/m.conf" --count 5 --start $t0 --flush 20 >"$T/f7.log" 2>&1
ok $? "readings under measurement 'pv roof,1' delivered"
is "$(q omk 'SELECT count(pac) FROM "pv roof,1"' | awk -F, '{ print $NF }')" 5 \
   "InfluxDB has them under that name"

# 7. InfluxDB with auth-enabled: user and password as basic auth; a
# wrong password (401) and a user without write access (403) stop the
# output naming user and password; the password is never logged.
ix_stop
sed -i 's/^  enabled = true$/  enabled = true\n  auth-enabled = true/' "$IXDIR/influxdb.conf"
PW=pa55-0f-th3-v1-t3st
ix() { influx -host 127.0.0.1 -port "$IXPORT" -username admin -password adm1n "$@"; }
influxd -config "$IXDIR/influxdb.conf" >>"$IXDIR/log" 2>&1 &
IXPID=$!
# With no user yet, InfluxDB takes only the first admin's creation.
wait_for 30 influx -host 127.0.0.1 -port "$IXPORT" -execute \
    "CREATE USER admin WITH PASSWORD 'adm1n' WITH ALL PRIVILEGES"
ok $? "influxd restarted with auth-enabled"
ix >/dev/null -execute "CREATE USER omk WITH PASSWORD '$PW'; GRANT WRITE ON omk TO omk; CREATE USER reader WITH PASSWORD '$PW'; GRANT READ ON omk TO reader"
conf "$T/a.conf" "$T/a.db" omk "user = omk" "password = $PW" \
    "measurement = authed"
"$FEED" -c "$T/a.conf" --count 5 --start $t0 --flush 20 >"$T/f8.log" 2>&1
ok $? "user and password: delivered"
is "$(ix -database omk -format csv -execute 'SELECT count(pac) FROM authed' | tail -n 1 | cut -d, -f3)" 5 \
   "InfluxDB has the 5 points"
conf "$T/a2.conf" "$T/a2.db" omk "user = omk" "password = not-$PW"
"$FEED" -c "$T/a2.conf" --count 3 --start $t0 --flush 5 >"$T/f9.log" 2>&1
grep -q "HTTP 401: authorization failed: check \[influxdb\] user and password" "$T/f9.log"
ok $? "a wrong password: 401 stops the output naming user and password"
conf "$T/a3.conf" "$T/a3.db" omk "user = reader" "password = $PW"
"$FEED" -c "$T/a3.conf" --count 3 --start $t0 --flush 5 >"$T/f10.log" 2>&1
grep -q "HTTP 403: .*: check \[influxdb\] user and password (write access to db)" "$T/f10.log"
ok $? "no write access: 403 stops the output"
is "$(cat "$T"/f*.log | grep -c -- "$PW")" 0 "the password appears in no log"

done_testing
