#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# PVOutput output against a local server that answers as PVOutput's API
# documents (tests/outputs/pvoutput-server.c): statuses for two systems,
# once each and in order, across a server outage and a program restart;
# backfill; a bad value skipped; night zeros not repeated; old readings
# reported and skipped; the rate limit honoured; a bad key stops the
# system without leaking the key; c1 lifetime energy; donor batches.
. "$(dirname "$0")/lib.sh"

PVS="$B/tests/pvoutput-server"
PVPORT=$(free_port)
KEY=k3y-0f-th3-t3st
PVLOG="$T/pv.log"
pv_start() {
	"$PVS" -p "$PVPORT" -k "$KEY" -s 111,222 -l "$PVLOG" "$@" \
	    2>>"$T/pvs.err" &
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

conf() {	# conf FILE DB [extra [pvoutput] lines]
	local f=$1 db=$2; shift 2
	{
		printf '[omniklog]\ndb = %s\n[pvoutput]\n' "$db"
		printf 'api_key = %s\n' "$KEY"
		printf 'systems = NLDN302013000000=111 NLDN302013000001=222\n'
		printf 'url = http://127.0.0.1:%s\n' "$PVPORT"
		printf '%s\n' "$@"
	} >"$f"
}
conf "$T/omk.conf" "$T/j.db"
now=$(date +%s)
t0=$((now - 3 * 86400))		# backfill: three days ago
status_of() { date -d "@$1" +'%Y%m%d %H:%M'; }	# local time, as sent
# "date time" of every status PVOutput added for a system, in order.
added() { awk -v s="$1" '$1 == s { print $2, $3 }' "$PVLOG"; }
expect() {	# expect FIRST COUNT [SKIP...]: the statuses of readings
	local i
	for ((i = $1; i < $1 + $2; i++)); do
		case " ${*:3} " in *" $i "*) continue ;; esac
		status_of $((t0 + i * 300))
	done
}

# The largest number of statuses in one request of a server log on stdin.
most_per_request() {
	awk '/^#/ { if (n > max) max = n; n = 0; next } { n++ }
	    END { print max + 0 }'
}

pv_start || { echo "not ok 1 - the PVOutput test server did not start"; exit 1; }

# 1. Two systems, 40 readings each, three days back.
"$FEED" -c "$T/omk.conf" --inverters 2 --count 40 --start $t0 --flush 20 \
    >"$T/f1.log" 2>&1
ok $? "80 statuses delivered"
is "$(added 111)" "$(expect 0 40)" "system 111: 40 statuses, local time, in order, once"
is "$(added 222)" "$(expect 0 40)" "system 222: the same for the second inverter"
# The biggest request holds 30 statuses (the limit, reached); readings
# that trickle in may go out in a smaller request first: 2-3 per system.
is "$(most_per_request <"$PVLOG")" 30 "at most 30 statuses per request, and full ones"
r=$(grep -c '^# 200' "$PVLOG")
[ "$r" -ge 4 ] && [ "$r" -le 6 ]
ok $? "2 or 3 requests per system ($r in all)"
is "$(awk '$1 == 111' "$PVLOG" | sed -n 6p | cut -d' ' -f4-)" "500 105 30.5 230.5 0" \
   "v1 energy today in Wh, v2 power, v5 temperature, v6 AC voltage"

# 2. Server down during a live capture, then back.
pv_stop
"$FEED" -c "$T/omk.conf" --count 20 --interval 50 --start $t0 --first 40 \
    --flush 30 >"$T/f2.log" 2>&1 &
feed=$!
sleep 1.2
pv_start
wait $feed
ok $? "outage: everything delivered once the server is back"
is "$(added 111)" "$(expect 0 60)" "system 111: statuses 40..59 once each, in order"

# 3. Program restarted during an outage.
pv_stop
"$FEED" -c "$T/omk.conf" --count 10 --start $t0 --first 60 --flush 1.5 \
    >"$T/f3.log" 2>&1
is $? 3 "server down: the readings wait in the journal"
pv_start
"$FEED" -c "$T/omk.conf" --count 0 --flush 20 >"$T/f4.log" 2>&1
ok $? "restarted program delivers them"
is "$(added 111)" "$(expect 0 70)" "statuses 60..69 once each, in order"

# 4. One bad value: that status is skipped, the rest delivered.
"$FEED" -c "$T/omk.conf" --count 10 --start $t0 --first 70 --bad 73 --flush 20 \
    >"$T/f5.log" 2>&1
ok $? "a batch with a bad value is delivered"
is "$(added 111)" "$(expect 0 80 73)" "all but the bad status, in order"
grep -q "status $(status_of $((t0 + 73 * 300)) | tr ' ' ',') skipped: Bad request 400: Power value" "$T/f5.log"
ok $? "the skipped status is logged with PVOutput's reason"

# 5. Night: one zero status, not one every five minutes.
"$FEED" -c "$T/omk.conf" --count 12 --start $t0 --first 80 --night-from 85 \
    --flush 20 >"$T/f6.log" 2>&1
ok $? "night readings handled"
is "$(added 111 | tail -n 6)" "$(expect 80 6)" "five day statuses and a single zero status"

# 6. Too old for PVOutput: reported and skipped, nothing stuck.
"$FEED" -c "$T/omk.conf" --count 5 --start $((now - 20 * 86400)) \
    --flush 20 >"$T/f7.log" 2>&1
ok $? "20-day-old readings do not block the cursor"
# Reported as they are fetched, perhaps over several batches: 5 in all.
is "$(grep -o '[0-9]* readings older than 14 days skipped' "$T/f7.log" |
    awk '{ n += $1 } END { print n + 0 }')" 5 "they are reported"
is "$(grep -c "^111 $(date -d @$((now - 20 * 86400)) +%Y%m%d) " "$PVLOG")" 0 "and not sent"

# 7. Rate limit: 3 requests per 6 s. A second program run that does not
# know the count yet gets a 403 and waits for X-Rate-Limit-Reset.
pv_stop
pv_start --limit 3 --window 6
before=$(grep -c '^# 403' "$PVLOG")
start=$(date +%s)
# Three full requests of 30: the 90 readings are in the journal before
# the output starts (fed live, the first request may carry fewer).
printf '[omniklog]\ndb = %s\n' "$T/j.db" >"$T/journal-only.conf"
"$FEED" -c "$T/journal-only.conf" --count 90 --start $t0 --first 100 \
    >"$T/f8j.log" 2>&1
"$FEED" -c "$T/omk.conf" --count 0 --flush 20 >"$T/f8.log" 2>&1
"$FEED" -c "$T/omk.conf" --count 30 --start $t0 --first 190 --flush 20 \
    >"$T/f9.log" 2>&1
ok $? "past the limit: delivered after the reset"
took=$(( $(date +%s) - start ))
is "$(added 111 | tail -n 120)" "$(expect 100 120)" "all 120 statuses, in order"
is "$(( $(grep -c '^# 403' "$PVLOG") - before ))" 1 "exactly one 403: the client then waits"
grep -q "rate limit reached; waiting until" "$T/f9.log"
ok $? "the wait is logged"
ok $([ "$took" -ge 4 ]; echo $?) "the reset was waited for (${took} s)"
"$FEED" -c "$T/omk.conf" --count 90 --start $t0 --first 220 --flush 20 \
    >"$T/f10.log" 2>&1
ok $? "a third run, within the window"
grep -q "no requests left this hour; waiting until" "$T/f10.log"
ok $? "X-Rate-Limit-Remaining: 0 makes the client wait without a 403"
is "$(( $(grep -c '^# 403' "$PVLOG") - before ))" 1 "still one 403"

# 8. Bad key: stop with a clear line, keep the readings, never log the key.
conf "$T/bad.conf" "$T/bad.db"
sed -i "s/^api_key = .*/api_key = not-$KEY/" "$T/bad.conf"
"$FEED" -c "$T/bad.conf" --count 3 --start $t0 --first 400 --flush 5 \
    >"$T/f11.log" 2>&1
grep -q "Invalid API Key: check \[pvoutput\] api_key" "$T/f11.log"
ok $? "401 stops the system with a clear log line"
is "$(sqlite3 "$T/bad.db" "SELECT position FROM cursors WHERE name = 'pvoutput:111'")" 0 \
   "its readings stay undelivered in the journal"
is "$(cat "$T"/f*.log | grep -c -- "$KEY")" 0 "the API key appears in no log"

# 9. Lifetime energy with c1.
conf "$T/c1.conf" "$T/c1.db" "energy = lifetime"
"$FEED" -c "$T/c1.conf" --count 2 --start $t0 --first 500 --flush 20 \
    >"$T/f12.log" 2>&1
ok $? "lifetime energy delivered"
is "$(awk '$1 == 111 && $8 == 1 { print $4 }' "$PVLOG" | tr '\n' ' ')" \
   "10050000 10050100 " "v1 is ETOTAL in Wh, sent with c1=1"

# 10. Donor: 100 statuses per request, 90 days of backfill.
pv_stop
pv_start --donor
conf "$T/donor.conf" "$T/donor.db" "donor = yes"
# From that day's local midnight: 120 readings 5 minutes apart stay on
# the one date whatever time of day the test runs.
old=$(date -d "$(date -d @$((now - 20 * 86400)) +%F)" +%s)
n200=$(grep -c '^# 200' "$PVLOG")
nlines=$(wc -l <"$PVLOG")
"$FEED" -c "$T/donor.conf" --count 120 --start $old --first 0 --flush 20 \
    >"$T/f13.log" 2>&1
ok $? "donor: 20-day-old readings delivered"
is "$(grep -c "^111 $(date -d @$old +%Y%m%d) " "$PVLOG")" 120 "all 120 of them"
is "$(tail -n +$((nlines + 1)) "$PVLOG" | most_per_request)" 100 "up to 100 per request"
r=$(( $(grep -c '^# 200' "$PVLOG") - n200 ))
[ "$r" -ge 2 ] && [ "$r" -le 3 ]
ok $? "in 2 or 3 requests ($r)"

# 11. Server stalled (accepts, never answers) during a live capture:
# the request waits in curl, the capture goes on.
kill -STOP "$PVPID"
"$FEED" -c "$T/omk.conf" --count 30 --interval 50 --start $t0 --first 320 \
    --flush 30 >"$T/f4b.log" 2>&1 &
feed=$!
sleep 2.5
kill -CONT "$PVPID"
wait $feed
ok $? "stalled server: delivered once it answers"
late=$(sed -n 's/.*late by at most \(-\?[0-9]*\) ms.*/\1/p' "$T/f4b.log")
ok $([ -n "$late" ] && [ "$late" -lt 500 ]; echo $?) \
   "capture never waited on the stalled server (late by at most ${late:-?} ms)"
is "$(added 111 | tail -n 30)" "$(expect 320 30)" "statuses 320..349 once each, in order"

done_testing
