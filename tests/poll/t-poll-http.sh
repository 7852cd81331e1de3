#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# omnik-poll reading kits' web status pages, against stand-ins in a
# namespace: status.js (webData, myDeviceArray), status.json, status.html
# behind Basic auth, a page that wants other credentials (401), the known
# garbage (XXX serial, E today equal to E total, 4294967295), an overlong
# page, a kit without any page; and method auto on a kit without port
# 8899. Readings carry source and variant http and only the page's
# fields; the page that worked is tried first next time.
. "$(dirname "$0")/lib.sh"

netns_up 12
# The pages say up to 11 kWh today, which a one-phase inverter cannot
# have made in the first hour after midnight (invstate refuses it): the
# poller runs in a zone where it is about noon now, whenever this runs.
NOON_TZ="NOON$(( $(date -u +%-H) - 12 ))"
kit js --http 198.51.100.10:80 --page js
kit array --http 198.51.100.11:80 --page array
kit json --http 198.51.100.12:80 --page json --serial 602300012
kit html --http 198.51.100.13:80 --page html --auth admin:s3cret
kit auth --http 198.51.100.14:80 --page html --auth admin:other
kit xxx --http 198.51.100.15:80 --page xxx
kit equal --http 198.51.100.16:80 --page equal
kit novalue --http 198.51.100.17:80 --page novalue
kit huge --http 198.51.100.18:80 --page huge
kit none --http 198.51.100.19:80 --page none
kit auto --http 198.51.100.20:80 --page js

{
	echo '[poll]'
	for i in $(seq 10 19); do echo "kits = 198.51.100.$i/6023000$i"; done
	echo 'method = http'
	echo 'timeout = 5'
	echo 'http_password = s3cret'
} >"$T/poll.conf"
TZ=$NOON_TZ ip netns exec "$NS_P" "$POLL" -f -v -u '' -c "$T/poll.conf" \
    --db "$T/p.db" --csv "$T/p.csv" >"$T/p.out" 2>"$T/p.err" &
POLL_PID=$!
_pids+=("$POLL_PID")
check "poller starts" wait_for 10 grep -q 'started: 10 kits every 300 s, method http' "$T/p.err" ||
	{ cat "$T/p.err"; finish; exit 1; }

misses() {
	echo $(( $(count 'asleep, or off' "$T/p.err") +
	    $(count 'still no reading' "$T/p.err") ))
}
round_done() {
	[ "$(journal_count "$T/p.db")" -ge $((4 * $1)) ] && [ "$(misses)" -ge $((6 * $1)) ]
}
check "round 1 done" wait_for 40 round_done 1
kill -USR2 "$POLL_PID"
check "round 2 done" wait_for 40 round_done 2
check "8 readings in the journal" wait_for 10 journal_is 8 "$T/p.db"
check "8 rows in the CSV" test "$(csv_count "$T/p.csv")" -eq 8
check "every one is variant http" test "$(journal_count "$T/p.db" "variant = 'http'")" -eq 8
check "with only the page's fields: no voltage, temperature, hours" \
    test "$(journal_count "$T/p.db" "vac1 IS NULL AND temp IS NULL AND htotal IS NULL AND fac1 IS NULL AND pac1 IS NOT NULL AND etotal IS NOT NULL")" -eq 8
check "the source says http and the page" \
    test "$(journal_count "$T/p.db" "source = 'http://198.51.100.10/js/status.js'")" -eq 2
check "status.js webData read exactly" \
    test "$(sqlite3 "$T/p.db" "SELECT pac1, etoday, etotal, fw_main FROM readings WHERE kit_sn = 602300010 ORDER BY id LIMIT 1")" = "1400|4.0|8755.6|V5.07Build230"
check "myDeviceArray[0] read" test "$(journal_count "$T/p.db" "inverter_sn = 'AANN3020' AND etotal = 6095.8")" -eq 1
check "status.json read, kWh as decimals" \
    test "$(sqlite3 "$T/p.db" "SELECT pac1, etoday, etotal FROM readings WHERE kit_sn = 602300012 ORDER BY id LIMIT 1")" = "290|0.41|143.0"
check "status.html read with Basic auth" test "$(journal_count "$T/p.db" "source = 'http://198.51.100.13/status.html'")" -eq 2
check "the credentials were sent" grep -q 'GET /status.html (with credentials)' "$T/html.log"
check "the page that worked is tried first next time" \
    test "$(count 'GET /js/status.js' "$T/html.log")" -eq 1 -a "$(count 'GET /status.html' "$T/html.log")" -eq 2
check "a 401 says the credentials were refused" \
    grep -q '198.51.100.14:8899: no answer: /status.html: 401, user or password refused' "$T/p.err"
check "an XXX serial is refused" grep -q '198.51.100.15:8899: no reading: /js/status.js: inverter serial .XXXXXXXXXXXXXXXX.: no inverter' "$T/p.err"
check "E today equal to E total is refused" grep -q '198.51.100.16:8899: no reading: /js/status.js: E today equal to E total' "$T/p.err"
check "4294967295 is refused" grep -q '198.51.100.17:8899: no reading: /js/status.js: current power 4294967295' "$T/p.err"
check "the refused pages are kept raw in rejects, each poll" \
    test "$(sqlite3 "$T/p.db" "SELECT count(*) FROM rejects WHERE source LIKE 'http://198.51.100.1_/js/status.js'")" -eq 6
check "an overlong page is no status page" grep -q '198.51.100.18:8899: no answer: /js/status.js: more than 65536 bytes' "$T/p.err"
check "a kit without pages: 404 for each" grep -q '198.51.100.19:8899: no answer: no status page (HTTP 404 for each' "$T/p.err"
for i in 14 15 16 17 18 19; do
	check "kit .$i logged once for 2 polls" \
	    test "$(grep 'asleep, or off' "$T/p.err" | count "198.51.100.$i:" /dev/stdin)" -eq 1
done
check "the password is in no log line" test "$(count s3cret "$T/p.err")" -eq 0
stop_poll
check "the poller exits 0" test $? -eq 0

# auto: no port 8899 on the kit, its status page instead; remembered.
# 198.51.100.21: neither port 8899 nor a page.
TZ=$NOON_TZ ip netns exec "$NS_P" "$POLL" -f -v -u '' -c /dev/null -k 198.51.100.20/602300020 \
    -k 198.51.100.21/602300021 \
    --timeout 5 --db "$T/a.db" --csv "$T/a.csv" >"$T/a.out" 2>"$T/a.err" &
POLL_PID=$!
_pids+=("$POLL_PID")
check "auto: read by the status page" wait_for 30 grep -q 'kit 602300020 at 198.51.100.20:8899: read by http' "$T/a.err"
check "auto: the other kit's first round is over" wait_for 30 grep -q '198.51.100.21:8899: no answer' "$T/a.err"
kill -USR2 "$POLL_PID"
check "auto: the second poll reads it too" wait_for 30 journal_is 2 "$T/a.db"
check "auto: and its second" wait_for 30 grep -q '198.51.100.21:8899: still no reading' "$T/a.err"
check "auto: port 8899 was tried once, then the page that worked first" \
    test "$(grep 198.51.100.20 "$T/a.err" | count 'tcp: connect: Connection refused; trying http' /dev/stdin)" -eq 1
check "auto: no missed poll logged for it" test "$(grep asleep "$T/a.err" | count 198.51.100.20 /dev/stdin)" -eq 0
check "auto: a kit with neither says what each method found" \
    grep -q '198.51.100.21:8899: no answer: tcp: connect: Connection refused; http: /js/status.js: Couldn.t connect' "$T/a.err"
stop_poll
check "no sanitizer report" test "$(cat "$T"/*.err | count 'Sanitizer\|runtime error' /dev/stdin)" -eq 0
finish
