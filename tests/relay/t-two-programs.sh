#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Two programs on one journal: omnik-relay and omnik-sniff (live, on the
# router's kit-side veth) see every push of the kit, both write the same
# journal and both have [mqtt] configured, with a real mosquitto.
#   - each reading is stored once (the second copy is counted on its row)
#     and reaches a real subscriber once;
#   - exactly one of them delivers (the lock beside the journal), and
#     the log says which;
#   - kill -9 of the delivering one: the other takes over within 3 s and
#     delivers what comes next, nothing lost, nothing twice;
#   - a clean exit (TERM) of the delivering one: the same.
# A program that connects to the broker publishes the last state of
# every inverter known (README, MQTT): after a takeover each inverter's
# last reading arrives once more. kitsim's pushes are each an inverter
# of its own, so at the subscriber a reading comes once plus once per
# takeover after it; a delivery sent twice would break the count.
TEST_LIMIT=${TEST_LIMIT:-150}
. "$(dirname "$0")/lib.sh"
# Names of our own (see the task's prefix): parallel runs never clash.
PFX="j2$$"
NS_KIT="$PFX-kit"
NS_R="$PFX-router"
NS_P="$PFX-portal"

command -v mosquitto >/dev/null || skip_all "mosquitto is not installed"
command -v mosquitto_sub >/dev/null || skip_all "mosquitto_sub is not installed"
command -v jq >/dev/null || skip_all "jq is not installed"

netns_up
redirect_up
start_portal "$T/portal" || { not_ok "portal starts"; finish; exit; }

# The broker on the router's own loopback: no port clash with the host.
mkdir -p "$T/mq"
chown nobody "$T/mq"
cat >"$T/mq/mosquitto.conf" <<EOC
listener 1883 127.0.0.1
allow_anonymous true
user nobody
EOC
ip netns exec "$NS_R" mosquitto -c "$T/mq/mosquitto.conf" >"$T/mq/log" 2>&1 &
_pids+=("$!")
wait_for "in_router mosquitto_pub -h 127.0.0.1 -p 1883 -t omk/ping -m x 2>/dev/null" 10 ||
	{ not_ok "mosquitto starts"; finish; exit; }
ip netns exec "$NS_R" mosquitto_sub -h 127.0.0.1 -p 1883 -q 1 \
    -t 'omniklog/+/state' -F '%p' >"$T/states" 2>"$T/sub.err" &
_pids+=("$!")
printf '[mqtt]\nhost = 127.0.0.1\nport = 1883\ndiscovery = no\n' >"$T/omk.conf"
chmod 644 "$T/omk.conf"
mkdir -p "$T/journal"
chown nobody "$T/journal"

start_sniff() {	# start_sniff LOG
	ip netns exec "$NS_R" "$SNIFF" -f -u nobody -c "$T/omk.conf" -i rk \
	    --db "$JOURNAL" --csv '' >>"$1" 2>&1 &
	SNIFF_PID=$!
	_pids+=("$SNIFF_PID")
	wait_for "grep -qs 'started:' $1" 10
}
rows() { sqlite3 "$JOURNAL" 'SELECT count(*) FROM readings' 2>/dev/null; }
# Readings the journal counted as second copies (kept once).
copies() { sqlite3 "$JOURNAL" 'SELECT total(duplicates) FROM readings' 2>/dev/null | cut -d. -f1; }
states() { wc -l <"$T/states"; }
# "LINES DISTINCT": state messages received, and distinct readings among
# them (by journal row and by energy total, which every push has its own).
received() {
	echo "$(states) $(jq -r '"\(.journal_id) \(.etotal)"' "$T/states" | sort -u | wc -l)"
}
# "ROW:TIMES ..." for the rows received, in row order.
tally() {
	jq -r .journal_id "$T/states" | sort -n | uniq -c |
	    awk '{ printf "%s%s:%s", (NR > 1 ? " " : ""), $2, $1 }'
}
# want FIRST LAST TIMES ...: the tally expected, rows FIRST..LAST TIMES each.
want() {
	local out="" a b n
	while [ $# -ge 3 ]; do
		a=$1 b=$2 n=$3; shift 3
		for ((i = a; i <= b; i++)); do out+="${out:+ }$i:$n"; done
	done
	echo "$out"
}
push() {	# push FIRST COUNT
	in_kit "$KITSIM" --first "$1" -c "$2" "$PORTAL_IP:$PORT" \
	    >/dev/null 2>>"$T/kitsim.err"
}

# The sniffer first: it takes the deliveries; the relay stands by.
start_sniff "$T/sniff.log" || { not_ok "omnik-sniff starts"; cat "$T/sniff.log"; finish; exit; }
check "omnik-sniff says it delivers" wait_for \
    "grep -qs 'deliveries: this omnik-sniff (pid $SNIFF_PID) runs them' $T/sniff.log" 10
start_relay "$T/relay.log" -c "$T/omk.conf" ||
	{ not_ok "relay starts"; cat "$T/relay.log"; finish; exit; }
check "omnik-relay says omnik-sniff (pid $SNIFF_PID) delivers and it stands by" \
    grep -q "deliveries: omnik-sniff (pid $SNIFF_PID) runs them; this omnik-relay stands by" "$T/relay.log"

# 1. Five pushes, seen by both programs.
push 0 5
check "journal: 5 readings, each once, 5 second copies counted" \
    wait_for '[ "$(rows)" = 5 ] && [ "$(copies)" = 5 ]' 15
check "subscriber: each of the 5 once" wait_for '[ "$(received)" = "5 5" ]' 15
sleep 1
is_rows=$(rows) is_recv=$(received)
[ "$is_rows $is_recv" = "5 5 5" ] && ok "still once each a second later" ||
	not_ok "still once each a second later (rows $is_rows, received $is_recv)"
is_tally() {	# is_tally WANT "what"
	_want=$1	# wait_for evals its condition: not "$1" there
	if wait_for '[ "$(tally)" = "$_want" ]' 15; then ok "$2"; else
		not_ok "$2 (got '$(tally)', want '$1')"; fi
}

# 2. kill -9 of the delivering sniffer: the relay takes over.
kill -KILL "$SNIFF_PID"
t0=$(date +%s%N)
if wait_for "grep -qs 'deliveries: taken over' $T/relay.log" 5; then
	ms=$((($(date +%s%N) - t0) / 1000000))
	[ "$ms" -le 3000 ] && ok "relay took over ${ms} ms after kill -9 (bound 3000)" ||
		not_ok "relay took over ${ms} ms after kill -9 (bound 3000)"
else
	not_ok "relay took over after kill -9"
fi
wait "$SNIFF_PID" 2>/dev/null
push 5 5
check "journal: 10 readings after the takeover" wait_for '[ "$(rows)" = 10 ]' 15
is_tally "$(want 1 5 2 6 10 1)" "subscriber: 6..10 once, 1..5 once more (the new connection's last states)"
sleep 1
is_tally "$(want 1 5 2 6 10 1)" "subscriber: and nothing more a second later"

# 3. A clean exit of the delivering relay: the sniffer (back, standing by)
# takes over; the kit then reaches the portal without the redirect, the
# sniffer alone sees it.
start_sniff "$T/sniff2.log" || not_ok "omnik-sniff starts again"
check "the new omnik-sniff stands by" wait_for \
    "grep -qs 'deliveries: omnik-relay (pid $RELAY_PID) runs them; this omnik-sniff stands by' $T/sniff2.log" 10
stop_relay TERM
check "relay exits 0" [ "$RELAY_RC" -eq 0 ]
check "sniffer took over after the relay's exit" \
    wait_for "grep -qs 'deliveries: taken over' $T/sniff2.log" 5
in_router iptables -t nat -F PREROUTING
push 10 5
check "journal: 15 readings" wait_for '[ "$(rows)" = 15 ]' 15
is_tally "$(want 1 5 3 6 10 2 11 15 1)" "subscriber: 11..15 once; before them once more per takeover"
sleep 1
is_tally "$(want 1 5 3 6 10 2 11 15 1)" "subscriber: and nothing more a second later"
check "no reading stored twice (inverter and energy total)" \
    [ "$(sqlite3 "$JOURNAL" 'SELECT count(DISTINCT inverter_sn || etotal) FROM readings')" = 15 ]
kill -TERM "$SNIFF_PID"
wait "$SNIFF_PID"
check "sniffer exits 0" [ $? -eq 0 ]
finish
