#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# MQTT output against a real mosquitto: retained JSON state per inverter
# at QoS 1, every reading in order across a broker outage and a program
# restart (once, but for QoS 1's own window: see firsts() below); Home Assistant discovery configs complete; the last
# will marks the logger offline.
. "$(dirname "$0")/lib.sh"

mq_setup
mq_start || { echo "not ok 1 - mosquitto did not start"; cat "$MQDIR/log"; exit 1; }

cat >"$T/omk.conf" <<EOC
[omniklog]
db = $T/journal.db
[mqtt]
host = 127.0.0.1
port = $MQPORT
client_id = omk-test-logger
keepalive = 5
EOC
t0=$(( $(date +%s) - 86400 ))

# A persistent subscriber (QoS 1, clean session off): what it prints is
# what a consumer of omniklog/+/state receives, through broker restarts.
mosquitto_sub -h 127.0.0.1 -p "$MQPORT" -i omk-test-sub -c -q 1 -R \
    -t 'omniklog/+/state' -F '%p' >"$T/states" 2>"$T/sub.err" &
sub=$!
at_exit "kill $sub"
sleep 0.5
ids() { jq -r .journal_id <"$T/states" | tr '\n' ' ' | sed 's/ $//'; }
seqs() { seq -s ' ' "$1" "$2"; }
# Readings in the order of their first arrival, and how many came twice.
# QoS 1 is at least once: a message the broker took just as it went down,
# before its PUBACK reached us, is published again (it is the same
# retained state, so a consumer sees no change). Nothing else may repeat.
firsts() { jq -r .journal_id <"$T/states" | awk '!seen[$1]++' | tr '\n' ' ' | sed 's/ $//'; }
dups() { jq -r .journal_id <"$T/states" | sort -n | uniq -d | wc -l; }

# 1. Plain delivery.
"$FEED" -c "$T/omk.conf" --count 20 --start $t0 --flush 10 >"$T/f1.log" 2>&1
ok $? "20 readings acknowledged by the broker"
wait_for 5 lines_at_least "$T/states" 20
is "$(ids)" "$(seqs 1 20)" "the subscriber got readings 1..20, in order"
is "$(head -n 1 "$T/states" | jq -c '[.pac, .etoday, .etotal, .temp, .vac1, .fac1, .inverter_sn, .time]')" \
   "[100,0,10000,30,230,50,\"NLDN302013000000\",\"$(date -u -d @$t0 +%Y-%m-%dT%H:%M:%SZ)\"]" \
   "state JSON carries the values in natural units"
is "$(mosquitto_sub -h 127.0.0.1 -p "$MQPORT" -t 'omniklog/NLDN302013000000/state' -C 1 -W 3 | jq .journal_id)" \
   20 "the latest state is retained"

# 2. Broker down for a while during a live capture, then back.
"$FEED" -c "$T/omk.conf" --count 40 --interval 50 --start $t0 --first 20 \
    --flush 30 >"$T/f2.log" 2>&1 &
feed=$!
sleep 0.8
mq_stop
sleep 2
mq_start
wait $feed
ok $? "outage during capture: backlog delivered after the broker came back"
wait_for 10 lines_at_least "$T/states" 60
is "$(firsts)" "$(seqs 1 60)" "readings 21..60 all arrived, in order"
# Twice at most: the one in flight (QoS 1), and the last state, which
# omniklog publishes again on every new connection (a broker may have
# lost its retained messages).
d=$(dups)
ok $([ "$d" -le 2 ]; echo $?) "at most the message in flight and the last state came twice ($d did)"
grep -q "output mqtt" "$T/f2.log"
ok $? "the outage was logged"
late=$(sed -n 's/.*late by at most \(-\?[0-9]*\) ms.*/\1/p' "$T/f2.log")
ok $([ -n "$late" ] && [ "$late" -lt 500 ]; echo $?) \
   "capture never waited on the broker (feeder late by at most ${late:-?} ms)"

# 3. Program restarted while the broker is down.
mq_stop
"$FEED" -c "$T/omk.conf" --count 10 --start $t0 --first 60 --flush 1.5 \
    >"$T/f3.log" 2>&1
is $? 3 "broker down: omk-feed stops with a backlog"
mq_start
"$FEED" -c "$T/omk.conf" --count 0 --flush 15 >"$T/f4.log" 2>&1
ok $? "restarted program delivers the backlog"
wait_for 10 lines_at_least "$T/states" 70
is "$(firsts)" "$(seqs 1 70)" "readings 61..70 all arrived, in order"
is "$(jq -r 'select(.journal_id > 60) | .journal_id' <"$T/states" | sort -n | uniq -d | wc -l)" 0 "none of them twice"

# 3b. Broker stalled (SIGSTOP: the socket accepts, nothing answers).
kill -STOP "$MQPID"
"$FEED" -c "$T/omk.conf" --count 20 --interval 50 --start $t0 --first 70 \
    --flush 30 >"$T/f4b.log" 2>&1 &
feed=$!
sleep 2
kill -CONT "$MQPID"
wait $feed
ok $? "stalled broker: delivered once it answers"
late=$(sed -n 's/.*late by at most \(-\?[0-9]*\) ms.*/\1/p' "$T/f4b.log")
ok $([ -n "$late" ] && [ "$late" -lt 500 ]; echo $?) \
   "capture never waited on the stalled broker (late by at most ${late:-?} ms)"
wait_for 10 lines_at_least "$T/states" 90
is "$(firsts)" "$(seqs 1 90)" "readings 71..90 all arrived, in order"

# 4. Home Assistant discovery: one retained config per sensor the
# inverter's variant has (t-mqtt-ha.sh: which), one device, every key HA
# needs.
mosquitto_sub -h 127.0.0.1 -p "$MQPORT" -t 'homeassistant/#' -W 2 \
    -F '%t %p' >"$T/disc" 2>/dev/null
is "$(wc -l <"$T/disc")" 16 "16 entities announced (those of the inverter's variant)"
cut -d' ' -f2- "$T/disc" >"$T/disc.json"
is "$(jq -r 'select((.name and .unique_id and .state_topic and .value_template and .availability_topic and .device.identifiers[0] and .device.name and .device.manufacturer) | not) | .unique_id' "$T/disc.json" | wc -l)" \
   0 "every config has the keys HA requires and uses"
is "$(jq -r 'select(.state_class and (.unit_of_measurement and .device_class | not)) | .unique_id' "$T/disc.json" | wc -l)" \
   0 "every sensor with statistics has its unit and device class"
is "$(jq -r .unique_id "$T/disc.json" | sort -u | wc -l)" 16 "unique_ids are unique"
is "$(jq -r '.device.identifiers[0]' "$T/disc.json" | sort -u)" \
   "omniklog_NLDN302013000000" "one device for the inverter"
is "$(jq -r 'select(.unique_id | test("_(etotal|etoday)$")) | [.device_class, .unit_of_measurement, .state_class] | join(",")' "$T/disc.json" | sort -u)" \
   "energy,kWh,total_increasing" "energy sensors: energy, kWh, total_increasing"
is "$(jq -r 'select(.unique_id | test("_pac$")) | [.device_class, .unit_of_measurement, .state_class] | join(",")' "$T/disc.json")" \
   "power,W,measurement" "power sensor: power, W, measurement"
is "$(jq -r 'select(.unique_id | test("_(vac1|vpv1)$")) | .device_class + "," + .unit_of_measurement' "$T/disc.json" | sort -u)" \
   "voltage,V" "voltage sensors"
is "$(jq -r 'select(.unique_id | test("_(temp|fac1|iac1)$")) | .device_class + "," + .unit_of_measurement' "$T/disc.json" | sort | tr '\n' ' ')" \
   "current,A frequency,Hz temperature,°C " "current, frequency and temperature sensors"
# Every template names a key the state message has.
state=$(tail -n 1 "$T/states")
missing=0
for k in $(jq -r '.value_template | capture("value_json\\.(?<k>[a-z0-9_]+)").k' "$T/disc.json"); do
	echo "$state" | jq -e "has(\"$k\")" >/dev/null || missing=$((missing + 1))
done
is "$missing" 0 "every value_template key is in the state message"
grep -q "^homeassistant/sensor/omniklog_NLDN302013000000/etotal/config " "$T/disc"
ok $? "discovery topic is <prefix>/sensor/<node>/<object>/config"

# 5. Availability: online while running, offline by the will on a crash.
"$FEED" -c "$T/omk.conf" --count 1000 --interval 200 --start $t0 --first 90 \
    >"$T/f5.log" 2>&1 &
feed=$!
sleep 1.5
is "$(mosquitto_sub -h 127.0.0.1 -p "$MQPORT" -t omniklog/status -C 1 -W 3)" \
   online "status online while connected"
kill -9 $feed
wait $feed 2>/dev/null
offline() { [ "$(mosquitto_sub -h 127.0.0.1 -p "$MQPORT" -t omniklog/status -C 1 -W 2)" = offline ]; }
wait_for 5 offline
ok $? "status offline through the last will after a crash"

# 6. Another make's layout (81 01 05, 103 bytes: docs/PROTOCOL.md): only
# the sensors that layout carries are announced (no operating hours, run
# mode or fault bytes, which it does not send), and the model says so.
v01=$(awk -F'\t' '$1 ~ /^V01-/ { print $2 }' tests/data/vectors.tsv)
perl -e 'my $f = pack("H*", shift); my $b = substr($f, 0, 101);
    substr($b, 1, 1) = chr(0x59); substr($b, 12, 3) = "\x81\x01\x05";
    my $s = 0; $s += ord(substr($b, $_, 1)) for 1 .. 100;
    print $b, chr($s % 256), "\x16"' "$v01" >"$T/v105.bin"
sed -e 's|^client_id = .*|client_id = omk-test-105|' "$T/omk.conf" \
    >"$T/omk105.conf"
# --db: a one-shot decode feeds the config's outputs only when asked.
"$B/omnik-sniff" -u '' -c "$T/omk105.conf" --db "$T/j105.db" \
    --stream "$T/v105.bin" --flush 10 >"$T/s105.log" 2>&1
ok $? "an 81 01 05 frame through omnik-sniff --stream to the broker"
mosquitto_sub -h 127.0.0.1 -p "$MQPORT" -t 'homeassistant/+/omniklog_NLDN012345CS4321/#' \
    -W 2 -F '%t %p' >"$T/disc105" 2>/dev/null
is "$(awk '{ split($1, t, "/"); print t[4] }' "$T/disc105" | sort | tr '\n' ' ')" \
   "etoday etotal fac1 iac1 ipv1 ipv2 pac pac1 temp time vac1 vpv1 vpv2 " \
   "the 81 01 05 layout's sensors, and no others"
is "$(cut -d' ' -f2- "$T/disc105" | jq -r .device.model | sort -u)" \
   "Inverter (810105 layout, 103-byte frame)" "the model names the layout"

done_testing
