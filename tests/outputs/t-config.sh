#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The output sections of the config file: `omnik-sniff -n` accepts a
# complete one, rejects bad values with file:line, checks settings that
# go together, and never prints secrets.
. "$(dirname "$0")/lib.sh"

SNIFF="$B/omnik-sniff"
cat >"$T/good.conf" <<'EOC'
[omniklog]
db = /var/lib/omniklog/omniklog.db
[journal]
retention = 400
synchronous = normal
[postgresql]
conninfo = host=db.example.org dbname=solar user=omniklog sslmode=verify-full
table = readings
batch = 500
[mqtt]
host = broker.example.org
port = 8883
username = omniklog
password = s3cret-mqtt
tls = yes
discovery = yes
[pvoutput]
api_key = s3cret-pvoutput-key
systems = NLDN3020131A0123=12345 NLDN3020131A0124=12346
donor = yes
energy = lifetime
temperature = no
EOC
out=$("$SNIFF" -n -v -c "$T/good.conf" 2>&1)
ok $? "a complete output configuration is accepted"
echo "$out" | grep -q "^retention = 400$"
ok $? "-n -v prints the effective settings"
echo "$out" | grep -q "s3cret"
ok $((! $?)) "passwords and API keys are not printed"

bad() {	# bad "what" "expected message" LINES...
	local what=$1 want=$2; shift 2
	printf '%s\n' "$@" >"$T/bad.conf"
	out=$("$SNIFF" -n -c "$T/bad.conf" 2>&1)
	local rc=$?
	ok $([ $rc -ne 0 ] && echo "$out" | grep -qF -- "$want"; echo $?) \
	   "$what: rejected ($want)"
}
bad "synchronous" "bad.conf:2: [journal] synchronous: 'off' is not one of full normal" \
    "[journal]" "synchronous = off"
bad "retention" "bad.conf:2: [journal] retention: '-1' is not a whole number" \
    "[journal]" "retention = -1"
bad "systems" "bad.conf:3: [pvoutput] systems: 'NLDN3020131A0123:12345' is not INVERTER_SERIAL=SYSTEM_ID" \
    "[pvoutput]" "api_key = k" "systems = NLDN3020131A0123:12345"
bad "system id" "the system id is not a number" \
    "[pvoutput]" "api_key = k" "systems = X=abc"
bad "energy" "[pvoutput] energy: 'total' is not one of today lifetime" \
    "[pvoutput]" "energy = total"
bad "url" "[pvoutput] url: 'ftp://x' is not an https:// URL" \
    "[pvoutput]" "url = ftp://x"
bad "plain http url" "bad.conf:2: [pvoutput] url: 'http://pvoutput.org': plain http would send the API key in clear text" \
    "[pvoutput]" "url = http://pvoutput.org"
bad "http to a look-alike of localhost" "[pvoutput] url: 'http://localhost.example.org/'" \
    "[pvoutput]" "url = http://localhost.example.org/"
printf '[pvoutput]\nurl = http://127.0.0.1:8080\n' >"$T/local.conf"
"$SNIFF" -n -c "$T/local.conf" >/dev/null 2>&1
ok $? "http:// to 127.0.0.1 (a local stand-in) is accepted"
bad "missing pvoutput cafile" "bad.conf:2: [pvoutput] cafile: cannot read '$T/nope.pem': No such file or directory" \
    "[pvoutput]" "cafile = $T/nope.pem"
bad "missing mqtt cafile" "bad.conf:3: [mqtt] cafile: cannot read '$T/nope.pem'" \
    "[mqtt]" "tls = yes" "cafile = $T/nope.pem"
bad "duplicate key" "bad.conf:4: [mqtt] port is set twice (first on line 2)" \
    "[mqtt]" "port = 1883" "host = a" "port = 8883"
bad "duplicate key in a second [mqtt]" "bad.conf:5: [mqtt] host is set twice (first on line 2)" \
    "[mqtt]" "host = a" "[omniklog]" "[mqtt]" "host = b"
bad "bad postgresql table" "bad.conf:2: [postgresql] table: '.x' is not TABLE or SCHEMA.TABLE" \
    "[postgresql]" "table = .x"
# The relay's keys, with omnik-relay -n.
badr() {	# badr "what" "expected message" LINES...
	local what=$1 want=$2; shift 2
	printf '%s\n' "$@" >"$T/bad.conf"
	out=$("$B/omnik-relay" -n -c "$T/bad.conf" 2>&1)
	local rc=$?
	ok $([ $rc -ne 0 ] && echo "$out" | grep -qF -- "$want"; echo $?) \
	   "relay $what: rejected ($want)"
}
badr "upstream" "bad.conf:2: [relay] upstream: '203.0.113.69' is not HOST:PORT (nor original or none)" \
    "[relay]" "upstream = 203.0.113.69"
badr "upstream port" "bad.conf:2: [relay] upstream: 'portal:99999'" \
    "[relay]" "upstream = portal:99999"
badr "listen" "bad.conf:3: [relay] listen: '10004x' is not [ADDR:]PORT" \
    "[relay]" "listen = 10004" "listen = 10004x"
badr "duplicate upstream" "bad.conf:3: [relay] upstream is set twice (first on line 2)" \
    "[relay]" "upstream = none" "upstream = original"
printf '[relay]\nlisten = 10004\nlisten = [::1]:10005 127.0.0.1:10006\nupstream = [2001:db8::1]:10004\n' >"$T/relay.conf"
"$B/omnik-relay" -n -c "$T/relay.conf" >"$T/relay.out" 2>&1
ok $? "a repeated list key and an IPv6 upstream are accepted ($(head -c 200 "$T/relay.out"))"
bad "api key without systems" "[pvoutput] api_key is set but systems is empty" \
    "[pvoutput]" "api_key = k"
bad "mqtt port" "[mqtt] port: '70000' is not a whole number" \
    "[mqtt]" "port = 70000"
bad "certfile without keyfile" "[mqtt] certfile and keyfile go together" \
    "[mqtt]" "certfile = $T/good.conf"
bad "unknown key" "unknown key 'hostname' in section [mqtt]" \
    "[mqtt]" "hostname = x"
bad "postgresql batch" "[postgresql] batch: '0' is not a whole number" \
    "[postgresql]" "batch = 0"

# [influxdb]: v1 or v2, complete, no secret in the URL or a dump.
printf '[influxdb]\nurl = https://influx.example.org:8086\ndb = solar\nuser = omk\npassword = s3cret-influx\nmeasurement = pv roof\nbatch = 1000\n' >"$T/ix1.conf"
out=$("$SNIFF" -n -v -c "$T/ix1.conf" 2>&1)
ok $? "an InfluxDB 1.x section is accepted"
echo "$out" | grep -q "^password = (hidden)$"
ok $? "-n -v hides the InfluxDB password"
echo "$out" | grep -q "s3cret"
ok $((! $?)) "and never prints it"
printf '[influxdb]\nurl = http://127.0.0.1:8086/\norg = home\nbucket = solar\ntoken = s3cret-token\n' >"$T/ix2.conf"
out=$("$SNIFF" -n -v -c "$T/ix2.conf" 2>&1)
ok $? "an InfluxDB 2.x section is accepted"
echo "$out" | grep -q "s3cret"
ok $((! $?)) "-n -v never prints the token"
bad "influxdb url scheme" "[influxdb] url: 'udp://x:8089' is not an http:// or https:// URL" \
    "[influxdb]" "url = udp://x:8089"
bad "influxdb credentials in the url" "[influxdb] url: 'http://u:p@x:8086': no user@ in the URL" \
    "[influxdb]" "url = http://u:p@x:8086" "db = solar"
bad "influxdb query in the url" "[influxdb] url: 'http://x:8086/?u=a': a base URL without blanks, query or fragment" \
    "[influxdb]" "url = http://x:8086/?u=a"
bad "influxdb url without db or bucket" "[influxdb] url is set: set db (InfluxDB 1.x) or org, bucket and token (2.x)" \
    "[influxdb]" "url = http://127.0.0.1:8086"
bad "influxdb v1 and v2 mixed" "[influxdb] db/user/password (InfluxDB 1.x) and org/bucket/token (2.x) do not go together" \
    "[influxdb]" "url = http://127.0.0.1:8086" "db = solar" "token = t"
bad "influxdb v2 incomplete" "[influxdb] InfluxDB 2.x needs org, bucket and token" \
    "[influxdb]" "url = http://127.0.0.1:8086" "bucket = solar" "token = t"
bad "influxdb user without password" "[influxdb] user and password go together" \
    "[influxdb]" "url = http://127.0.0.1:8086" "db = solar" "user = omk"
bad "influxdb settings without url" "[influxdb] url is empty, but db/user/password is set" \
    "[influxdb]" "db = solar"
bad "influxdb batch" "[influxdb] batch: '5001' is not a whole number" \
    "[influxdb]" "batch = 5001"
bad "influxdb measurement" "[influxdb] measurement: '#pv' starts with '#'" \
    "[influxdb]" "measurement = #pv"
bad "influxdb token with a control character" "[influxdb] token: no control characters" \
    "[influxdb]" "token = a$(printf '\r')b"
done_testing
