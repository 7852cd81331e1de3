#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Two inverters on one roof, summed into one PVOutput system
# (systems = SID:SN1+SN2) against the local PVOutput stand-in: one status
# per 5-minute slot with the power and energy of both added up, exact in a
# backfill, across a server outage during a live capture and across a
# program restart; and a plain duplicate mapping refused by -n.
. "$(dirname "$0")/lib.sh"

PVS="$B/tests/pvoutput-server"
PVPORT=$(free_port)
KEY=k3y-0f-th3-t3st
PVLOG="$T/pv.log"
pv_start() {
	"$PVS" -p "$PVPORT" -k "$KEY" -s 333 -l "$PVLOG" "$@" 2>>"$T/pvs.err" &
	PVPID=$!
	wait_for 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PVPORT"
}
pv_stop() {
	[ -n "${PVPID:-}" ] || return 0
	kill "$PVPID" 2>/dev/null
	wait "$PVPID" 2>/dev/null
	PVPID=
}
at_exit pv_stop

cat >"$T/omk.conf" <<EOC
[omniklog]
db = $T/j.db
[pvoutput]
api_key = $KEY
systems = 333:NLDN302013000000+NLDN302013000001
url = http://127.0.0.1:$PVPORT
EOC
now=$(date +%s)
# Three days back, a minute into the 07:00 slot: the 70 slots below end at
# 12:50, on the same local day, whenever the test runs (the feed's energy
# today restarts at local midnight, as an inverter's does).
t0=$(( $(date -d "$(date -d @$((now - 3 * 86400)) +%F) 07:00" +%s) + 60 ))
# What PVOutput must have for readings FIRST .. FIRST+COUNT-1 of omk-feed
# with two inverters: the slot's local date and time, v1 the sum of both
# energies today (Wh), v2 the sum of both powers (omk-feed: reading i has
# PAC1 100 + i W and ETODAY i * 0.1 kWh on every inverter).
expect() {
	local i
	for ((i = $1; i < $1 + $2; i++)); do
		echo "$(date -d "@$(( (t0 + i * 300) / 300 * 300 ))" +'%Y%m%d %H:%M')" \
		    "$(( 2 * (i * 10 % 6000) * 10 ))" "$(( 2 * (100 + i % 1000) ))"
	done
}
added() { awk '$1 == 333 { print $2, $3, $4, $5 }' "$PVLOG"; }

pv_start || { echo "not ok 1 - the PVOutput test server did not start"; exit 1; }

# 1. Backfill: 40 slots three days back, both inverters in each.
"$FEED" -c "$T/omk.conf" --inverters 2 --count 40 --start $t0 --flush 20 \
    >"$T/f1.log" 2>&1
ok $? "80 readings of two inverters delivered"
is "$(added)" "$(expect 0 40)" "40 statuses, one per slot, power and energy summed"
is "$(awk '$1 == 333 { print $2, $3 }' "$PVLOG" | sort | uniq -d | wc -l)" 0 \
   "no slot sent twice (nothing overwritten)"

# 2. The server down during a live capture, then back.
pv_stop
"$FEED" -c "$T/omk.conf" --inverters 2 --count 20 --interval 50 --start $t0 \
    --first 40 --flush 30 >"$T/f2.log" 2>&1 &
feed=$!
sleep 1.2
pv_start
wait $feed
ok $? "outage: everything delivered once the server is back"
is "$(added)" "$(expect 0 60)" "slots 40..59 summed, once each, in order"

# 3. Program restarted during an outage.
pv_stop
"$FEED" -c "$T/omk.conf" --inverters 2 --count 10 --start $t0 --first 60 \
    --flush 1.5 >"$T/f3.log" 2>&1
is $? 3 "server down: the readings wait in the journal"
pv_start
"$FEED" -c "$T/omk.conf" --count 0 --flush 20 >"$T/f4.log" 2>&1
ok $? "restarted program delivers them"
is "$(added)" "$(expect 0 70)" "slots 60..69 summed, once each, in order"
is "$(sqlite3 "$T/j.db" "SELECT count(*) FROM cursors WHERE name LIKE 'pvoutput:%'")" 1 \
   "one cursor for the system"

# 4. A live slot where only one inverter has reported yet is held back.
printf '[omniklog]\ndb = %s\n[pvoutput]\napi_key = %s\nsystems = 333:NLDN302013000000+NLDN302013999999\nurl = http://127.0.0.1:%s\n' \
    "$T/j2.db" "$KEY" "$PVPORT" >"$T/half.conf"
before=$(added | wc -l)
"$FEED" -c "$T/half.conf" --count 1 --start "$now" --first 100 --flush 3 \
    >"$T/f5.log" 2>&1
is $? 3 "a slot of now with one inverter of two: not sent yet"
is "$(added | wc -l)" "$before" "nothing reached PVOutput for it"

# 5. -n refuses a plain duplicate mapping, with file:line.
dup() {	# dup "what" "expected" LINES...
	local what=$1 want=$2; shift 2
	printf '%s\n' "[pvoutput]" "api_key = k" "$@" >"$T/dup.conf"
	out=$("$B/omnik-sniff" -n -c "$T/dup.conf" 2>&1)
	ok $([ $? -ne 0 ] && echo "$out" | grep -qF -- "$want"; echo $?) "$what ($out)"
}
dup "one system listed twice" "dup.conf:3: [pvoutput] systems: system 111 is listed twice (to sum several inverters into it: 111:SN1+SN2)" \
    "systems = NLDN302013000000=111 NLDN302013000001=111"
dup "one inverter mapped twice, on two lines" "dup.conf:4: [pvoutput] systems: inverter NLDN302013000000 is mapped twice" \
    "systems = NLDN302013000000=111" "systems = 222:NLDN302013000001+NLDN302013000000"
dup "a bad summed entry" "'333:' is not SYSTEM_ID:SERIAL+SERIAL" "systems = 333:"
printf '[pvoutput]\napi_key = k\nsystems = 333:A+B NLDN302013000002=444\n' >"$T/sum.conf"
"$B/omnik-sniff" -n -c "$T/sum.conf" >/dev/null 2>&1
ok $? "a summed system next to a plain one is accepted"
done_testing
