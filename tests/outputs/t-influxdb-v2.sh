#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The InfluxDB output's 2.x path against a stand-in written from the v2
# API reference (tests/outputs/influx-v2-server.py): POST /api/v2/write
# with org, bucket (percent-encoded) and precision=s, the token in an
# "Authorization: Token" header and nowhere else (not the URL, not a log,
# not `-n -v`); 503 and 429 with Retry-After retried; a wrong token (401)
# and an unknown bucket (404) stop the output naming the setting.
. "$(dirname "$0")/lib.sh"

SRV="$(dirname "$0")/influx-v2-server.py"
PORT=$(free_port)
TOKEN=t0ken-0f-th3-v2-t3st
ORG="solar org"
LOG="$T/v2.log"
srv_start() {
	python3 "$SRV" -p "$PORT" -t "$TOKEN" -o "$ORG" -b roof -l "$LOG" \
	    --points "$T/points" "$@" 2>>"$T/srv.err" &
	SRVPID=$!
	wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT"
}
srv_stop() {
	[ -n "${SRVPID:-}" ] || return 0
	kill "$SRVPID" 2>/dev/null
	wait "$SRVPID" 2>/dev/null
	SRVPID=
}
at_exit srv_stop

conf() {	# conf FILE DB [extra [influxdb] lines]
	local f=$1 db=$2; shift 2
	{
		printf '[omniklog]\ndb = %s\n[influxdb]\n' "$db"
		printf 'url = http://127.0.0.1:%s\n' "$PORT"
		printf 'org = %s\nbucket = roof\ntoken = %s\n' "$ORG" "$TOKEN"
		printf '%s\n' "$@"
	} >"$f"
}
t0=$(( $(date +%s) - 86400 ))
written() { grep -c '^omnik,' "$LOG"; }

srv_start || { echo "not ok 1 - the v2 stand-in did not start"; exit 1; }

# 1. Readings written: path, parameters, header.
conf "$T/omk.conf" "$T/j.db"
"$FEED" -c "$T/omk.conf" --count 30 --start $t0 --flush 20 >"$T/f1.log" 2>&1
ok $? "30 readings delivered"
is "$(written)" 30 "30 lines written"
is "$(grep '^# 204' "$LOG" | awk '{ print $3, $4 }' | sort -u)" \
   "POST /api/v2/write?org=solar%20org&bucket=roof&precision=s" \
   "POST /api/v2/write with org (percent-encoded), bucket and precision=s"
is "$(grep '^# 204' "$LOG" | sed 's/.* auth=//' | sort -u)" "Token $TOKEN" \
   "the token in an Authorization: Token header"
is "$(sed -n 2p "$LOG")" \
   "omnik,inverter_sn=NLDN302013000000,kit_sn=1600000000,variant=omnik pac=100,temp=30.0,vpv1=300.0,vpv2=290.0,ipv1=2.0,ipv2=1.9,iac1=1.0,vac1=230.0,fac1=50.0,pac1=100,etoday=0.0,etotal=10000.0,htotal=1000,runmode=1 $t0" \
   "the first reading as one line: tags, every field, time in seconds"

# 2. Busy (503, no Retry-After): backed off and retried. Throttled (429,
# Retry-After: 2): nothing sent before the 2 s are up.
srv_stop
srv_start --busy 2 --throttle 1
before=$(written)
start=$(date +%s.%N)
"$FEED" -c "$T/omk.conf" --count 10 --start $t0 --first 30 --flush 30 \
    >"$T/f2.log" 2>&1
ok $? "503 twice, then 429: delivered in the end"
took=$(echo "$(date +%s.%N) - $start" | bc)
is "$(( $(written) - before ))" 10 "the 10 readings written once the server takes them"
is "$(grep -c '^# 503' "$LOG") $(grep -c '^# 429' "$LOG")" "2 1" \
   "two 503 and one 429 answered"
grep -q "HTTP 429: slow down; waiting 2 s (Retry-After)" "$T/f2.log"
ok $? "the Retry-After wait is logged"
ok $(echo "$took >= 2" | bc | grep -q 1; echo $?) "Retry-After: 2 waited for (${took} s)"

# 2b. A server that accepts but never answers: timeout, then retried.
srv_stop
srv_start
conf "$T/to.conf" "$T/to.db" "timeout = 1"
: >"$LOG"
kill -STOP "$SRVPID"
"$FEED" -c "$T/to.conf" --count 5 --start $t0 --first 100 --flush 30 \
    >"$T/f2b.log" 2>&1 &
feed=$!
sleep 2.5
kill -CONT "$SRVPID"
wait $feed
ok $? "stalled server: delivered once it answers"
grep -q "output influxdb: no answer within 1 s; retrying" "$T/f2b.log"
ok $? "the timeout is logged"
is "$(grep '^omnik,' "$LOG" | awk '{ print $NF }' | sort -u | wc -l)" 5 \
   "the 5 readings written (a point sent twice is one point)"

# 3. A line refused (400): the batch is halved until that line is found;
# that reading alone is skipped and logged, the others written in order.
srv_stop
srv_start --refuse pac=11000
conf "$T/r.conf" "$T/r.db"
: >"$LOG"
"$FEED" -c "$T/r.conf" --count 40 --start $t0 --bad 26 --flush 30 \
    >"$T/f5.log" 2>&1
ok $? "a batch with a refused line is delivered"
is "$(grep '^omnik,' "$LOG" | awk '{ print $NF }' | sort -un | tr '\n' ' ')" \
   "$(for i in $(seq 0 39); do [ $i = 26 ] || printf '%s ' $((t0 + i * 300)); done)" \
   "every reading but the refused one written"
grep -q "reading of inverter NLDN302013000000 at $(date -u -d @$((t0 + 26 * 300)) +%Y-%m-%dT%H:%M:%SZ) skipped: InfluxDB says: field pac=11000 refused" "$T/f5.log"
ok $? "the skipped reading is logged with InfluxDB's reason"
is "$(grep -c 'skipped: InfluxDB says' "$T/f5.log")" 1 "and only that one"
n400=$(grep -c '^# 400' "$LOG")
ok $([ "$n400" -ge 2 ] && [ "$n400" -le 8 ]; echo $?) \
   "found by halving: $n400 refused requests for 40 lines"

# 4. A wrong token: 401 stops the output, the readings stay, no leak.
conf "$T/bad.conf" "$T/bad.db"
sed -i "s/^token = .*/token = not-$TOKEN/" "$T/bad.conf"
"$FEED" -c "$T/bad.conf" --count 3 --start $t0 --flush 5 >"$T/f3.log" 2>&1
grep -q "HTTP 401: unauthorized access: check \[influxdb\] token" "$T/f3.log"
ok $? "401 stops the output with a line naming the token"
is "$(sqlite3 "$T/bad.db" "SELECT position FROM cursors WHERE name = 'influxdb'")" 0 \
   "its readings stay undelivered in the journal"
is "$(grep -c '^# 401' "$LOG")" 1 "and it does not try again"

# 5. An unknown bucket: 404 names org and bucket.
conf "$T/nob.conf" "$T/nob.db"
sed -i "s/^bucket = .*/bucket = cellar/" "$T/nob.conf"
"$FEED" -c "$T/nob.conf" --count 3 --start $t0 --flush 5 >"$T/f4.log" 2>&1
grep -q 'HTTP 404: bucket "cellar" not found: check \[influxdb\] org and bucket' "$T/f4.log"
ok $? "404 stops the output with a line naming org and bucket"

# 6. The token is never in a URL, a log or the settings printed.
"$B/omnik-sniff" -n -v -c "$T/omk.conf" >"$T/dump.txt" 2>&1
ok $? "omnik-sniff -n accepts the v2 settings"
grep -q "^token = (hidden)$" "$T/dump.txt"
ok $? "-n -v prints token = (hidden)"
is "$(cat "$T"/f*.log "$T/dump.txt" | grep -c -- "$TOKEN")" 0 \
   "the token appears in no log and not in -n -v"
is "$(grep '^# ' "$LOG" | awk '{ print $4 }' | grep -c -- "$TOKEN")" 0 \
   "and in no request URL"

done_testing
