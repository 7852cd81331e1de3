#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# omnik-poll and omnik-relay on one journal, both with [mqtt] and a real
# mosquitto: the kit answers the poller's polls, and pushes the same
# samples (the same frames) through the relay to the portal. Each sample
# is stored once (the second copy counted on its row), reaches the
# subscriber once, and exactly one of the two programs delivers. A sample
# only the poller saw, and one only the push brought, are stored too.
TEST_LIMIT=${TEST_LIMIT:-150}
. "$(dirname "$0")/../relay/lib.sh"
PFX="tp$$"
NS_KIT="$PFX-kit"
NS_R="$PFX-router"
NS_P="$PFX-portal"
POLL="$B/omnik-poll"
KITPOLL="$B/tests/kitpoll"
SERIAL=602302630

command -v mosquitto >/dev/null || skip_all "mosquitto is not installed"
command -v mosquitto_sub >/dev/null || skip_all "mosquitto_sub is not installed"
command -v jq >/dev/null || skip_all "jq is not installed"

netns_up
redirect_up
start_portal "$T/portal" || { not_ok "portal starts"; finish; exit; }

mkdir -p "$T/mq" "$T/journal" "$T/answers"
chown nobody "$T/mq" "$T/journal"
cat >"$T/mq/mosquitto.conf" <<EOC
listener 1883 127.0.0.1
allow_anonymous true
user nobody
EOC
in_router mosquitto -c "$T/mq/mosquitto.conf" >"$T/mq/log" 2>&1 &
_pids+=("$!")
wait_for "in_router mosquitto_pub -h 127.0.0.1 -p 1883 -t omk/ping -m x 2>/dev/null" 10 ||
	{ not_ok "mosquitto starts"; finish; exit; }
in_router mosquitto_sub -h 127.0.0.1 -p 1883 -q 1 \
    -t 'omniklog/+/state' -F '%p' >"$T/states" 2>"$T/sub.err" &
_pids+=("$!")
printf '[mqtt]\nhost = 127.0.0.1\nport = 1883\ndiscovery = no\n' >"$T/omk.conf"
chmod 644 "$T/omk.conf"

rows() { sqlite3 "$JOURNAL" 'SELECT count(*) FROM readings' 2>/dev/null; }
copies() { sqlite3 "$JOURNAL" 'SELECT total(duplicates) FROM readings' 2>/dev/null | cut -d. -f1; }
# "MESSAGES DISTINCT": state messages, distinct readings among them.
received() {
	echo "$(wc -l <"$T/states") $(jq -r '"\(.journal_id) \(.etotal)"' "$T/states" | sort -u | wc -l)"
}

# The kit: answers polls on 8899, each answer also saved as its push.
in_kit "$KITPOLL" --tcp "$KIT_IP:8899" --serial $SERIAL \
    --save "$T/answers" >"$T/kit.log" 2>&1 &
_pids+=("$!")
wait_for "in_kit bash -c '</dev/tcp/$KIT_IP/8899' 2>/dev/null" 10

start_relay "$T/relay.log" -c "$T/omk.conf" ||
	{ not_ok "relay starts"; cat "$T/relay.log"; finish; exit; }
check "omnik-relay delivers" wait_for \
    "grep -qs 'deliveries: this omnik-relay (pid $RELAY_PID) runs them' $T/relay.log" 10
ip netns exec "$NS_R" "$POLL" -f -u nobody -c "$T/omk.conf" -k "$KIT_IP/$SERIAL" \
    --method tcp --db "$JOURNAL" --csv '' >"$T/poll.log" 2>&1 &
POLL_PID=$!
_pids+=("$POLL_PID")
check "omnik-poll starts and stands by" wait_for \
    "grep -qs 'deliveries: omnik-relay (pid $RELAY_PID) runs them; this omnik-poll stands by' $T/poll.log" 10

# poll_push K: the poller's poll K is answered; the kit pushes the same.
poll_push() {
	local k=$1
	[ "$k" -gt 0 ] && kill -USR2 "$POLL_PID"
	wait_for "[ -s $T/answers/answer-$k.bin ]" 20 || return 1
	wait_for '[ "$(rows)" -ge $((k + 1)) ]' 15 || return 1
	in_kit "$KITSIM" --raw "$T/answers/answer-$k.bin" -c 1 \
	    "$PORTAL_IP:$PORT" >/dev/null 2>>"$T/kitsim.err"
}
for k in 0 1 2; do
	check "sample $k: polled, then pushed through the relay" poll_push $k
done
check "journal: 3 readings, each once, 3 second copies counted" \
    wait_for '[ "$(rows)" = 3 ] && [ "$(copies)" = 3 ]' 15
check "the copies were the relay's: the poller stored each first" test \
    "$(sqlite3 "$JOURNAL" "SELECT group_concat(DISTINCT origin) FROM readings")" = omnik-poll
check "subscriber: each of the 3 once" wait_for '[ "$(received)" = "3 3" ]' 15
check "the portal got every push, byte for byte" wait_for \
    '[ "$(hashes "$T"/answers/answer-[0-2].bin)" = "$(hashes "$T"/portal/*)" ]' 10

# A sample only the poller sees (no push), then a push the poller never
# saw (another kit's frames, made by kitsim): both stored.
kill -USR2 "$POLL_PID"
check "a polled-only sample stored" wait_for '[ "$(rows)" = 4 ]' 20
in_kit "$KITSIM" -c 1 --first 50 "$PORTAL_IP:$PORT" >/dev/null 2>>"$T/kitsim.err"
check "a pushed-only sample stored" wait_for '[ "$(rows)" = 5 ]' 15
check "subscriber: 5 readings, each once" wait_for '[ "$(received)" = "5 5" ]' 15
sleep 1
check "and nothing more a second later" [ "$(received)" = "5 5" ]
check "still 3 copies counted" [ "$(copies)" = 3 ]

kill -TERM "$POLL_PID"
wait "$POLL_PID"
check "omnik-poll exits 0" [ $? -eq 0 ]
stop_relay TERM
check "omnik-relay exits 0" [ "$RELAY_RC" -eq 0 ]
finish
