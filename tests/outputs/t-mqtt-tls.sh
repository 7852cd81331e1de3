#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# MQTT output over TLS against a real mosquitto with a certificate from a
# CA made at test time: tls = yes with cafile delivers state and
# discovery messages (read back over TLS); a wrong CA fails clearly, keeps
# the readings and is retried until the CA is fixed; a listener that
# requires a client certificate takes ours.
. "$(dirname "$0")/lib.sh"

tls_setup 2>"$T/tls.err" || { echo "not ok 1 - openssl could not make the test certificates"; cat "$T/tls.err"; exit 1; }
mq_setup
MQCPORT=$(free_port)		# the listener that wants a client certificate
MQNPORT=$(free_port)		# the one whose certificate names another host
tls_cert other "/CN=omk-elsewhere.invalid" \
    "subjectAltName=DNS:omk-elsewhere.invalid" 2>>"$T/tls.err"
install -o "$PGUSER_OS" -m 600 "$TLS/other.key" "$MQDIR/other.key"
# mosquitto reads its key after it dropped to the unprivileged user.
install -o "$PGUSER_OS" -m 600 "$TLS/server.key" "$MQDIR/server.key"
cat >"$MQDIR/mosquitto.conf" <<EOC
per_listener_settings false
allow_anonymous true
persistence true
persistence_location $MQDIR/
autosave_interval 1
user $PGUSER_OS
listener $MQPORT 127.0.0.1
cafile $TLS/ca.pem
certfile $TLS/server.pem
keyfile $MQDIR/server.key
listener $MQCPORT 127.0.0.1
cafile $TLS/ca.pem
certfile $TLS/server.pem
keyfile $MQDIR/server.key
require_certificate true
listener $MQNPORT 127.0.0.1
certfile $TLS/other.pem
keyfile $MQDIR/other.key
EOC
MQ_CLIENT="--cafile $TLS/ca.pem"
mq_start || { echo "not ok 1 - mosquitto did not start"; cat "$MQDIR/log"; exit 1; }
sub() { mosquitto_sub -h localhost -p "$MQPORT" --cafile "$TLS/ca.pem" "$@"; }

ROOT="$T/root.pem"		# the CA file our config trusts
cp "$TLS/ca.pem" "$ROOT"
conf() {	# conf FILE PORT [more [mqtt] lines]
	local f=$1 port=$2; shift 2
	printf '%s\n' "[omniklog]" "db = $T/journal.db" "[mqtt]" \
	    "host = localhost" "port = $port" "client_id = omk-tls-$$" \
	    "keepalive = 5" "tls = yes" "cafile = $ROOT" "$@" >"$f"
}
conf "$T/omk.conf" "$MQPORT"
t0=$(( $(date +%s) - 86400 ))

# Started directly, not through sub(): $! must be mosquitto_sub itself.
mosquitto_sub -h localhost -p "$MQPORT" --cafile "$TLS/ca.pem" \
    -i omk-tls-sub-$$ -c -q 1 -t 'omniklog/+/state' -F '%p' \
    >"$T/states" 2>"$T/sub.err" &
subpid=$!
at_exit "kill $subpid"
sleep 0.5
ids() { jq -r .journal_id <"$T/states" | tr '\n' ' ' | sed 's/ $//'; }

"$FEED" -c "$T/omk.conf" --count 10 --start $t0 --flush 10 >"$T/f1.log" 2>&1
ok $? "tls = yes with the test CA: 10 readings acknowledged"
is "$(grep -c warning "$T/f1.log")" 0 "no warning, not even at the clean stop"
wait_for 5 lines_at_least "$T/states" 10
is "$(ids)" "$(seq -s ' ' 1 10)" "the TLS subscriber got readings 1..10, in order"
is "$(sub -t 'omniklog/NLDN302013000000/state' -C 1 -W 3 | jq .journal_id)" \
   10 "the latest state is retained"
sub -t 'homeassistant/#' -W 2 -F '%t %p' >"$T/disc" 2>/dev/null
is "$(wc -l <"$T/disc")" 16 "16 discovery configs, read back over TLS"
is "$(cut -d' ' -f2- "$T/disc" | jq -r '.device.identifiers[0]' | sort -u)" \
   "omniklog_NLDN302013000000" "for the inverter's device"
mosquitto_pub -h 127.0.0.1 -p "$MQPORT" -t omk/plain -m x >/dev/null 2>&1
ok $([ $? -ne 0 ]; echo $?) "the broker's port takes no plain MQTT: what arrived came over TLS"

# A wrong CA: the program restarted with a backlog, then the CA fixed.
cp "$TLS/ca2.pem" "$ROOT"
"$FEED" -c "$T/omk.conf" --count 5 --start $t0 --first 10 --flush 3 \
    >"$T/f2.log" 2>&1
is $? 3 "wrong CA: omk-feed stops with a backlog"
grep -q "output mqtt: localhost:$MQPORT: TLS: certificate verify failed (check \[mqtt\] cafile" "$T/f2.log"
ok $? "the failure is logged clearly: certificate verify failed, check cafile"
is "$(sqlite3 "$T/journal.db" "SELECT count(*) FROM readings WHERE id > (SELECT position FROM cursors WHERE name = 'mqtt')")" \
   5 "the 5 readings wait in the journal"
sleep 0.3
is "$(wc -l <"$T/states")" 10 "none of them reached the broker"

# The CA file fixed while a capture runs: the next try picks it up.
"$FEED" -c "$T/omk.conf" --count 10 --interval 100 --start $t0 --first 15 \
    --flush 20 >"$T/f3.log" 2>&1 &
feed=$!
sleep 1
cp "$TLS/ca.pem" "$ROOT"
wait $feed
ok $? "CA fixed: backlog and new readings delivered"
grep -q "certificate verify failed" "$T/f3.log" && grep -q "output mqtt: connected" "$T/f3.log"
ok $? "it failed first, then connected"
wait_for 5 lines_at_least "$T/states" 25
is "$(ids)" "$(seq -s ' ' 1 25)" "readings 11..25 arrived once each, in order"

# The broker restarted, then stalled (SIGSTOP: the TCP handshake
# completes, the TLS one never does), during a live capture: a new TLS
# session each time, nothing lost, the capture never held up.
"$FEED" -c "$T/omk.conf" --count 30 --interval 50 --start $t0 --first 25 \
    --flush 30 >"$T/f3b.log" 2>&1 &
feed=$!
sleep 0.5
mq_stop
sleep 0.5
mq_start
sleep 0.3
kill -STOP "$MQPID"
sleep 1.5
kill -CONT "$MQPID"
wait $feed
ok $? "broker restarted and stalled: everything delivered over TLS"
wait_for 10 lines_at_least "$T/states" 55
firsts() { jq -r .journal_id <"$T/states" | awk '!seen[$1]++' | tr '\n' ' ' | sed 's/ $//'; }
is "$(firsts)" "$(seq -s ' ' 1 55)" "readings 26..55 arrived, in order (QoS 1: the one in flight may come twice)"
late=$(sed -n 's/.*late by at most \(-\?[0-9]*\) ms.*/\1/p' "$T/f3b.log")
ok $([ -n "$late" ] && [ "$late" -lt 500 ]; echo $?) \
   "capture never waited on a TLS handshake (late by at most ${late:-?} ms)"

# The name is checked: the right CA, a certificate for another host.
conf "$T/name.conf" "$MQNPORT"
"$FEED" -c "$T/name.conf" --count 3 --start $t0 --first 55 --flush 3 \
    >"$T/f4.log" 2>&1
is $? 3 "a certificate for another host name: not delivered"
grep -q "output mqtt: localhost:$MQNPORT: TLS: certificate verify failed" "$T/f4.log"
ok $? "the mismatch is logged" || cat "$T/f4.log"

# A listener that requires a client certificate.
conf "$T/cert.conf" "$MQCPORT" "certfile = $TLS/client.pem" \
    "keyfile = $TLS/client.key"
"$FEED" -c "$T/cert.conf" --count 0 --flush 10 >"$T/f5.log" 2>&1
ok $? "client certificate accepted: the backlog delivered"
wait_for 5 lines_at_least "$T/states" 58
is "$(firsts | cut -d' ' -f50-)" "$(seq -s ' ' 50 58)" "readings 56..58 arrived"
conf "$T/nocert.conf" "$MQCPORT"
"$FEED" -c "$T/nocert.conf" --count 3 --start $t0 --first 58 --flush 3 \
    >"$T/f6.log" 2>&1
is $? 3 "no client certificate: refused"
is "$(sqlite3 "$T/journal.db" "SELECT count(*) FROM readings WHERE id > (SELECT position FROM cursors WHERE name = 'mqtt')")" \
   3 "its readings wait in the journal"
# TLS 1.3 ends the handshake before the broker checks the certificate:
# its alert may be lost to the reset that follows, so the reason is
# "tlsv13 alert certificate required" or a lost connection.
grep -q "output mqtt: localhost:$MQCPORT: \(TLS: tlsv13 alert certificate required\|connection lost\|cannot connect\)" "$T/f6.log"
ok $? "the refusal is logged"

done_testing
