#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# What Home Assistant sees through a day and a night: a real mosquitto
# without persistence (a broker restart loses every retained message, as
# Debian's mosquitto without a persistence file does), restarted and
# stopped at chosen moments while omniklog runs with readings arriving
# ("day") and with none ("night"). At each point a fresh subscriber reads
# what HA would read on (re)start: availability, every entity of the
# inverter's variant, a state with every key the templates name, totals
# never lower than before; a persistent subscriber checks every state
# message HA got in between.
. "$(dirname "$0")/lib.sh"

mq_setup
sed -i 's/^persistence true/persistence false/; /^autosave/d' "$MQDIR/mosquitto.conf"
mq_start || { echo "not ok 1 - mosquitto did not start"; cat "$MQDIR/log"; exit 1; }

cat >"$T/omk.conf" <<EOC
[omniklog]
db = $T/journal.db
[mqtt]
host = 127.0.0.1
port = $MQPORT
client_id = omk-ha-logger
keepalive = 5
EOC
SN=NLDN302013000000
t0=$(( $(date +%s) - 86400 ))

# Every state message, through broker restarts (the subscriber
# reconnects on its own; -R: none of the retained ones twice).
substart() {
	mosquitto_sub -h 127.0.0.1 -p "$MQPORT" -q 1 -R -t 'omniklog/+/state' \
	    -F '%p' >>"$T/states" 2>>"$T/sub.err" &
	sub=$!
}
: >"$T/states"
substart
at_exit 'kill $sub'

# What a Home Assistant (re)starting now receives: the retained messages.
ha_view() {
	mosquitto_sub -h 127.0.0.1 -p "$MQPORT" -t 'homeassistant/#' \
	    -t 'omniklog/#' -W 2 -F '%t %p' >"$T/view" 2>/dev/null
	grep '^homeassistant/' "$T/view" | cut -d' ' -f2- >"$T/disc.json"
	sed -n "s|^omniklog/$SN/state ||p" "$T/view" | tail -n 1 >"$T/state.json"
	sed -n 's|^omniklog/status ||p' "$T/view" >"$T/status"
}
# until SECONDS COMMAND...: wait_for for commands that take a while.
until_ok() {
	local end=$(( $(date +%s) + $1 )); shift
	while ! "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.2
	done
}
online() { ha_view; [ "$(cat "$T/status")" = online ] && [ -s "$T/state.json" ]; }
# Keys the templates name that the state does not have.
missing_keys() {
	local k n=0
	for k in $(jq -r '.value_template | capture("value_json\\.(?<k>[a-z0-9_]+)").k' "$T/disc.json"); do
		jq -e "has(\"$k\")" "$T/state.json" >/dev/null || n=$((n + 1))
	done
	echo $n
}
# The entities a single-phase two-string Omnik inverter has: the base
# set of every V4 variant (power, energy today and total, hours,
# temperature, PV1/PV2 voltage and current, AC1 voltage, current,
# frequency and power, generating, last reading, fault bytes).
NENT=16
prev_e=0 prev_h=0
check_view() {	# check_view WHEN
	local e h
	is "$(cat "$T/status")" online "$1: availability online"
	is "$(jq -r .unique_id "$T/disc.json" | sort -u | wc -l)" "$NENT" \
	    "$1: all $NENT entities announced"
	is "$(missing_keys)" 0 "$1: every template key is in the state"
	e=$(jq -r '.etotal // 0' "$T/state.json")
	h=$(jq -r '.htotal // 0' "$T/state.json")
	ok "$(awk -v a="$e" -v b="$prev_e" -v c="$h" -v d="$prev_h" \
	    'BEGIN { exit !(a >= b && c >= d) }'; echo $?)" \
	    "$1: totals not lower than before (etotal $e >= $prev_e, htotal $h >= $prev_h)"
	prev_e=$e prev_h=$h
}
program() {	# program FEED-OPTIONS...: omniklog running until stopped
	"$FEED" -c "$T/omk.conf" --stay --flush 600 "$@" >>"$T/feed.log" 2>&1 &
	prog=$!
}
stop_program() { kill "$prog"; wait "$prog" 2>/dev/null; }
at_exit 'kill $prog'

# 1. A fresh install started in the evening: its first readings are
# offline frames (no temperature, 0 hours).
program --count 3 --start $t0 --offline-from 0 --interval 100
until_ok 20 online
check_view "evening, offline frames first"
is "$(jq -c '[.temp, .generating, .htotal]' "$T/state.json")" '[null,"OFF",null]' \
   "offline frame: temperature null, not generating, 0 hours left out (null)"
is "$(jq -r 'select(.unique_id | test("_temp$")) | .device_class' "$T/disc.json")" \
   temperature "the temperature entity exists before any reading carried one"
stop_program

# 2. Restarted at night (no readings at all): online at once, with the
# last state from the journal.
is "$(mosquitto_sub -h 127.0.0.1 -p "$MQPORT" -t omniklog/status -C 1 -W 2)" \
   offline "a clean stop leaves 'offline'"
program --count 0
until_ok 20 online
check_view "restarted at night"

# 3. The broker restarts at night and comes back empty: omniklog
# reconnects by itself and publishes everything again.
mq_stop
sleep 1
mq_start
until_ok 40 online
ok $? "night, broker restarted empty: omniklog reconnected without a reading"
check_view "night, after the broker restart"
stop_program

# 4. Day: readings every 0.2 s; the broker restarts in the middle.
before=$(sqlite3 "$T/journal.db" 'SELECT count(*) FROM readings')
program --count 60 --first 3 --start $t0 --interval 200 --offline-from 50
sleep 2
until_ok 20 online
check_view "day, before the broker restart"
mq_stop
sleep 1
mq_start
until_ok 40 online
check_view "day, after the broker restart"
is "$(jq -r .generating "$T/state.json")" ON "day: generating"
# 5. Dusk: offline frames again (0 hours in the frame).
offline_now() { online && [ "$(jq -r .generating "$T/state.json")" = OFF ]; }
until_ok 30 offline_now
check_view "dusk, offline frames"
ok "$(jq -e '.htotal > 1000' "$T/state.json" >/dev/null; echo $?)" \
   "dusk: hours keep their last good value, not the frame's 0"
# All 60 fed and committed (the journal commits a batch within 500 ms),
# and the last of them published, before the stop.
all_delivered() {
	[ "$(sqlite3 "$T/journal.db" 'SELECT count(*) FROM readings')" -eq $((before + 60)) ] &&
	[ "$(tail -n 1 "$T/states" | jq .journal_id)" = \
	  "$(sqlite3 "$T/journal.db" 'SELECT max(id) FROM readings')" ]
}
until_ok 30 all_delivered
stop_program

# 6. Everything HA received meanwhile: no key missing from any state
# message, no total ever lower than one before it.
keys=$(jq -r '.value_template | capture("value_json\\.(?<k>[a-z0-9_]+)").k' "$T/disc.json" | sort -u | jq -R . | jq -sc .)
is "$(jq -c --argjson k "$keys" '[$k[] as $x | select(has($x) | not)] | length' "$T/states" | sort -u | tr '\n' ' ')" \
   "0 " "every state message had every key ($(wc -l <"$T/states") messages)"
is "$(jq -r '[.etotal // 0, .htotal // 0] | @tsv' "$T/states" | awk '
	$1 < e || $2 < h { bad++ } { if ($1 > e) e = $1; if ($2 > h) h = $2 }
	END { print bad + 0 }')" 0 "no state message had a total lower than an earlier one"
last=$(sqlite3 "$T/journal.db" 'SELECT max(id) FROM readings')
is "$(tail -n 1 "$T/states" | jq .journal_id)" "$last" \
   "the subscriber's last state is the journal's last reading ($last)"

# 7. The entities themselves.
is "$(jq -r 'select(.unique_id | test("_pac$")) | .expire_after' "$T/disc.json")" 900 \
   "live values expire after 900 s without a reading (3 pushes)"
is "$(jq -r 'select(.unique_id | test("_etotal$")) | .expire_after // "none"' "$T/disc.json")" none \
   "totals never expire (the Energy dashboard keeps them at night)"
is "$(jq -r 'select(.unique_id | test("_generating$")) | [.device_class, .payload_on, .payload_off] | join(",")' "$T/disc.json")" \
   "running,ON,OFF" "run mode is a binary sensor (running)"
grep -q "^homeassistant/binary_sensor/omniklog_$SN/generating/config " "$T/view"
ok $? "run mode under binary_sensor/"
is "$(jq -r 'select(.unique_id | test("_time$")) | .device_class' "$T/disc.json")" timestamp \
   "last reading time is a timestamp sensor"
is "$(jq -r '.device.model' "$T/disc.json" | sort -u)" \
   "Omnik inverter (V4 data frame, 139 bytes)" "the model names the inverter's frame variant"
is "$(jq -r .fault "$T/state.json")" "00000000000000000000000000000000" \
   "fault bytes as sent, in hex"

done_testing
