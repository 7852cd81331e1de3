#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# [http]: the relay's status page, /status.json and /metrics after a
# replayed day of readings (omk-feed into the journal, then live pushes
# through the relay): promtool accepts /metrics and its values are the
# journal's; headless Chromium shows one curve point per reading of today
# and the right totals, and a hostile serial and firmware stay text. Bad
# clients (huge, malformed, wrong method, slowloris, a crowd) get their
# error or are cut, and the kits' pushes are forwarded and journaled
# meanwhile. The screenshot is kept under $B/artefacts/http/.
. "$(dirname "$0")/../relay/lib.sh"

# Our own namespace names (lib.sh's carry omk-relay-$$).
PFX="hp$$"
NS_KIT="$PFX-kit"
NS_R="$PFX-router"
NS_P="$PFX-portal"
TEST_LIMIT=240
( sleep "$TEST_LIMIT"; echo "not ok - watchdog: over $TEST_LIMIT s"; kill -TERM $$ ) 2>/dev/null &
_pids+=($!)

command -v promtool >/dev/null || skip_all "promtool missing (prometheus package)"
CHROMIUM=$(command -v chromium || command -v chromium-browser) ||
	skip_all "chromium missing"
FEED="$B/tests/omk-feed"
ART="$B/artefacts/http"
mkdir -p "$ART"
HP=18080
URL="http://127.0.0.1:$HP"
SERIAL='<script>alert(1)'		# 16 bytes: a whole serial
FIRMWARE='"><img src=x>'

netns_up
redirect_up
start_portal "$T/portal" || { not_ok "portal starts"; finish; exit; }

# A day so far: one reading every 5 minutes since local midnight (at
# least two, just after midnight closer together).
now=$(date +%s)
mid=$(date -d 'today 00:00' +%s)
step=300
n=$(( (now - 30 - mid) / step ))
if [ "$n" -lt 2 ]; then
	step=$(( (now - 30 - mid) / 2 )); [ "$step" -ge 1 ] || step=1
	n=2
fi
[ "$n" -gt 288 ] && n=288
mkdir -p "$T/journal"
printf '[omniklog]\ndb = %s\n' "$JOURNAL" >"$T/feed.conf"
check "omk-feed writes $n readings of today into the journal" \
	"$FEED" -c "$T/feed.conf" --count "$n" --start "$mid" --step "$step" \
	    --serial "$SERIAL" --firmware "$FIRMWARE" --flush 5
chown -R nobody "$T/journal"

# An MQTT output with no broker: a backlog and an error to show.
cat >"$T/relay.conf" <<EOF
[http]
listen = 127.0.0.1:$HP
timeout = 2
max_connections = 16
[mqtt]
host = 127.0.0.1
port = 9
EOF
start_relay "$T/relay.log" -c "$T/relay.conf" ||
	{ not_ok "relay starts"; cat "$T/relay.log"; finish; exit; }
check "the log names the status page's URL" \
	grep -q "status page on $URL/" "$T/relay.log"

is() {	# is GOT WANT what
	if [ "$1" = "$2" ]; then ok "$3"; else not_ok "$3 (got '$1', want '$2')"; fi
}
get() { in_router curl -s --max-time 5 "$@"; }
sql() { sqlite3 "$JOURNAL" "$@"; }

# Live pushes (another inverter) and one frame with a bad checksum.
check "5 pushes through the relay" \
	in_kit "$KITSIM" -c 5 "$PORTAL_IP:$PORT"
printf '680f41f0f485d523f485d523444154412053454e44204953204f4bfd16' |
	perl -ne 'print pack("H*", $_)' >"$T/bad.bin"
in_kit "$KITSIM" --raw "$T/bad.bin" "$PORTAL_IP:$PORT" >/dev/null 2>&1
wait_for "[ \"\$(sql 'select count(*) from readings')\" -ge $((n + 5)) ]" 10
wait_for "[ \"\$(sql 'select count(*) from rejects')\" -ge 1 ]" 10
sleep 1.1	# past the pages' one-second cache

# ---- /metrics
get -o "$T/metrics" -w '%{http_code} %{content_type}\n' "$URL/metrics" >"$T/metrics.hdr"
check "/metrics: 200, text format 0.0.4" \
	grep -q '^200 text/plain; version=0.0.4' "$T/metrics.hdr"
check "promtool check metrics accepts it" promtool check metrics <"$T/metrics"
metric() {	# metric NAME LABEL-SUBSTRING: the value of the first match
	grep -F "$1{" "$T/metrics" | grep -F -- "$2" | head -1 | awk '{print $NF}'
}
metric0() { grep -E "^$1 " "$T/metrics" | awk '{print $2}'; }
SNL='inverter_sn="<script>alert(1)"'
is_num() {	# is_num GOT WANT what: numerically equal
	if awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && b != "" && a + 0 == b + 0) }'; then
		ok "$3 ($1)"
	else
		not_ok "$3 (got '$1', want '$2')"
	fi
}
hs="inverter_sn = '$SERIAL'"
is_num "$(metric omnik_inverter_energy_kwh_total "$SNL")" \
	"$(sql "select max(etotal) from readings where $hs")" \
	"energy_kwh_total is the journal's last total"
is_num "$(metric omnik_inverter_energy_today_kwh "$SNL")" \
	"$(sql "select max(etoday) from readings where $hs and usec >= $mid * 1000000")" \
	"energy_today_kwh is the journal's E today"
is_num "$(metric omnik_inverter_power_watts "$SNL")" \
	"$(sql "select pac1 from readings where $hs order by id desc limit 1")" \
	"power_watts is the latest reading's"
is_num "$(metric omnik_inverter_ac_voltage_volts "$SNL")" \
	"$(sql "select vac1 from readings where $hs order by id desc limit 1")" \
	"ac_voltage_volts is the latest reading's"
is_num "$(metric omnik_inverter_last_reading_timestamp_seconds "$SNL")" \
	"$(sql "select max(usec) / 1000000.0 from readings where $hs")" \
	"last_reading_timestamp_seconds is the latest reading's time"
is_num "$(metric0 omnik_readings_total)" 5 "readings_total counts the 5 live readings"
is_num "$(metric omnik_rejects_total 'reason="bad checksum"')" 1 \
	"rejects_total{reason=\"bad checksum\"} counts the bad frame"
is_num "$(metric0 omnik_connections_total)" 6 "connections_total counts the 6 pushes"
cursor=$(sql "select position from cursors where name = 'mqtt'")
is_num "$(metric omnik_output_backlog_readings 'output="mqtt"')" \
	"$(sql "select count(*) from readings where id > ${cursor:-0}")" \
	"output_backlog_readings{output=\"mqtt\"} is the journal's rows past its cursor"
check "the serial is a label value, quoted as the format says" \
	grep -qF 'omnik_inverter_info{inverter_sn="<script>alert(1)",kit_sn="1600000000",variant="omnik",firmware_main="\"><img src=x>"' "$T/metrics"

# ---- /status.json
get "$URL/status.json" >"$T/status.json"
ninv=$(sql 'select count(distinct inverter_sn) from readings')
check "/status.json parses and holds all $ninv inverters" python3 - "$T/status.json" "$SERIAL" "$ninv" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["inverters"]) == int(sys.argv[3]), d["inverters"]
assert sys.argv[2] in [i["inverter_sn"] for i in d["inverters"]]
EOF
check "/status.json escapes < and > in strings" \
	grep -qF '"inverter_sn":"\u003cscript\u003ealert(1)"' "$T/status.json"
today=$(sql "select count(*) from readings where $hs and usec >= $mid * 1000000")
check "/status.json: readings_today and the curve match the journal ($today)" \
	python3 - "$T/status.json" "$SERIAL" "$today" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
i = [i for i in d["inverters"] if i["inverter_sn"] == sys.argv[2]][0]
assert i["readings_today"] == int(sys.argv[3]) == len(i["curve"]), i["readings_today"]
EOF
outerr=$(python3 -c 'import json,sys; o=[o for o in json.load(open(sys.argv[1]))["outputs"] if o["name"]=="mqtt"][0]; print(o["last_error"])' "$T/status.json")
check "/status.json: the MQTT output's last error is there ($outerr)" [ -n "$outerr" ]

# ---- the page in a browser
CHR=(in_router timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu
    --user-data-dir="$T/chromium" --no-first-run)
"${CHR[@]}" --dump-dom "$URL/" >"$T/dom.html" 2>"$T/chromium.err"
check "Chromium renders the page" grep -q '<svg class="curve"' "$T/dom.html"
# The hostile inverter's section: its polyline's points.
pts=$(python3 - "$T/dom.html" <<'EOF'
import re, sys
html = open(sys.argv[1]).read()
for sec in html.split('<section class="inverter">')[1:]:
    if "&lt;script&gt;alert(1)" in sec:
        m = re.search(r'<polyline[^>]*points="([^"]*)"', sec)
        print(len(m.group(1).split()) if m else -1)
EOF
)
is "$pts" "$today" "the SVG curve has one point per reading of today"
check "the page shows today's energy as the journal has it" \
	grep -qF "<dd class=\"etoday\">$(sql "select printf('%.2f', max(etoday)) from readings where $hs and usec >= $mid * 1000000") kWh</dd>" "$T/dom.html"
check "the page shows the total energy" \
	grep -qF "<dd class=\"etotal\">$(sql "select printf('%.1f', max(etotal)) from readings where $hs") kWh</dd>" "$T/dom.html"
check "the serial is text, not markup: no <script> element, no <img>" \
	[ "$(grep -ciE '<script|<img' "$T/dom.html")" -eq 0 ]
check "the serial and firmware appear escaped" \
	grep -qF '&lt;script&gt;alert(1)' "$T/dom.html"
"${CHR[@]}" --window-size=412,1600 --screenshot="$ART/status.png" "$URL/" \
	>/dev/null 2>>"$T/chromium.err"
check "a phone-sized screenshot is kept at $ART/status.png" [ -s "$ART/status.png" ]

# ---- bad requests
code() { get -o /dev/null -w '%{http_code}' "$@"; }
is "$(code -X POST -d x "$URL/metrics")" 405 "POST: 405"
is "$(code -X DELETE "$URL/")" 405 "DELETE: 405"
is "$(code "$URL/../etc/passwd")" 404 "an unknown path: 404"
big=$(head -c 20000 /dev/zero | tr '\0' a)
c=$(code -H "X-Big: $big" "$URL/")
check "a 20 kB header is refused (HTTP $c)" [ "$c" != 200 ]
c=$(printf 'GARBAGE\r\n\r\n' | in_router timeout 5 nc -q 3 127.0.0.1 $HP | head -1)
check "a malformed request line gets 400 ($c)" grep -q ' 400 ' <<<"$c"
head -c 200000 /dev/zero | tr '\0' a >"$T/big.body"
c=$(code -X POST --data-binary @"$T/big.body" "$URL/")
check "a 200 kB body is refused (HTTP $c)" [ "$c" != 200 ]

# ---- a slowloris: one byte every 0.3 s is cut at the 2 s deadline
t=$(in_router python3 - $HP <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
t0 = time.time()
s.settimeout(0.3)
req = b"GET / HTTP/1.1\r\nX-Slow: " + b"a" * 100
for i in range(len(req)):
    try:
        s.send(req[i:i + 1])
        if s.recv(1) == b"":
            break
    except socket.timeout:
        continue
    except OSError:
        break
print("%.1f" % (time.time() - t0))
EOF
)
check "a client trickling its headers is cut after the 2 s timeout (${t}s)" \
	awk -v t="$t" 'BEGIN { exit !(t >= 1.5 && t < 5) }'

# ---- a crowd of slow clients while kits push (and the same without)
in_kit "$KITSIM" -c 50 -j 5 --stats "$PORTAL_IP:$PORT" >"$T/kitsim.base" 2>&1
echo "# 50 pushes, no HTTP clients: $(cat "$T/kitsim.base")"
base_fds=$(ls -l /proc/$RELAY_PID/fd | grep -c socket)
in_router python3 "$TOP/tests/relay/hold.py" 127.0.0.1:$HP 127.0.0.1 200 8 \
	--drip 0.5 --attempts 2000 >"$T/hold.log" 2>&1 &
hold=$!
_pids+=("$hold")
wait_for "grep -q 'held [1-9]' $T/hold.log" 5
sleep 1
max_fds=0
for _ in 1 2 3 4 5; do
	f=$(ls -l /proc/$RELAY_PID/fd | grep -c socket)
	[ "$f" -gt "$max_fds" ] && max_fds=$f
	sleep 0.2
done
check "200 slow clients: the relay holds at most 16 of them ($((max_fds - base_fds)) sockets more)" \
	[ $((max_fds - base_fds)) -le 17 ]
before=$(sql 'select count(*) from readings')
t0=$(date +%s.%N)
in_kit "$KITSIM" -c 50 -j 5 --stats "$PORTAL_IP:$PORT" >"$T/kitsim.stats" 2>&1
check "meanwhile 50 pushes, 5 at a time, all go through" \
	grep -q 'ok 50 failed 0' "$T/kitsim.stats"
t1=$(date +%s.%N)
wait_for "[ \"\$(sql 'select count(*) from readings')\" -ge $((before + 50)) ]" 5
is "$(( $(sql 'select count(*) from readings') - before ))" 50 \
	"their 50 readings are journaled within 5 s"
echo "# 50 pushes under 200 slow HTTP clients: $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}') s; $(cat "$T/kitsim.stats")"
wait "$hold" 2>/dev/null
check "the crowd was cut and came back (hold.py: $(tail -1 "$T/hold.log"))" \
	awk '/^done/ { exit !($4 > 200) }' "$T/hold.log"
wait_for "[ \"\$(code $URL/metrics)\" = 200 ]" 6
is "$(code "$URL/metrics")" 200 "after the crowd /metrics answers again"
check "the portal got every push" \
	[ "$(ls "$T/portal" | wc -l)" -ge 106 ]

# ---- the journal's directory removed: the pages say so, nothing dies
rm -rf "$T/journal"
wait_for "grep -q 'journal: .* while open' $T/relay.log" 6
sleep 2.5	# the reopen fails: the journal stays lost
get -o "$T/metrics.lost" -w '%{http_code}' "$URL/metrics" >"$T/lost.code"
is "$(cat "$T/lost.code")" 200 "journal lost: /metrics still answers"
check "journal lost: omnik_journal_read_ok 0" \
	grep -qx 'omnik_journal_read_ok 0' "$T/metrics.lost"
is "$(code "$URL/")" 200 "journal lost: the page still answers"
check "journal lost: the relay still runs" kill -0 "$RELAY_PID"

stop_relay TERM
check "SIGTERM: the relay exits 0" [ "$RELAY_RC" -eq 0 ]
check "no sanitizer report" sh -c "! grep -q 'Sanitizer' '$T/relay.log'"
finish
