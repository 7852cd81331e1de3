#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# omnik-poll --discover end to end: kits on two LANs answering the
# discovery queries (plus replies that must be ignored: a spoofed IP
# field, malformed ones, a contradicting one), the 8899 poll in each way
# a kit answers it, and each status page kind with a 401. Checks the
# table, the --config lines, and that nothing but the queries, the poll
# request and plain GETs ever reached a kit.
. "$(dirname "$0")/discover-lib.sh"

host_up
lan_up "$PFX-lan" h0 192.0.2.1/24 l0 192.0.2.50/24 192.0.2.51/24 \
    192.0.2.52/24 192.0.2.53/24 192.0.2.54/24 192.0.2.55/24 \
    192.0.2.56/24 192.0.2.57/24
lan_up "$PFX-lan2" h1 198.51.100.1/24 m0 198.51.100.20/24

V01=$(grep -E '^V01' "$TOP/tests/data/vectors.tsv" | cut -f2)
# The configs and the expected poll requests, computed here on their own
# (not with the encoder under test).
python3 - "$T" "$V01" <<'PY'
import json, struct, sys
t, v01 = sys.argv[1], sys.argv[2]
def frame(c1, c2, sn, payload):
    b = bytes([len(payload), c1, c2]) + struct.pack("<II", sn, sn) + payload
    return (b"\x68" + b + bytes([sum(b) % 256, 0x16])).hex()
def request(sn):
    return frame(0x40, 0x30, sn, b"\x01\x00")
def corrupt(hexframe):		# one power byte changed, checksum kept
    b = bytearray.fromhex(hexframe)
    b[60] ^= 0x01
    return b.hex()
def implausible(hexframe):	# FAC1 335.02 Hz, checksum made right
    b = bytearray.fromhex(hexframe)
    b[57:59] = (33502).to_bytes(2, "big")
    b[-2] = sum(b[1:-2]) % 256
    return b.hex()
secret = '"psw":"s3cretpw","wlanKey":"s3cretpw"'
lan = {
 "udp": [
  {"from": "192.0.2.50", "text": "192.0.2.50,ACCF23000050,987654321\r\n"},
  {"from": "192.0.2.51", "text": "192.0.2.51,AC-CF-23-00-00-51,601196020",
   "query": "HF-A11ASSISTHREAD"},
  {"from": "192.0.2.52", "text": "192.0.2.52,ACCF23000052,602574901",
   "query": "WIFIKIT-214028-READ"},
  {"from": "192.0.2.53", "text": "192.0.2.53,ACCF23000053,1608449224"},
  {"from": "192.0.2.53", "text": "192.0.2.53,ACCF23000099,1608449999"},
  {"from": "192.0.2.55", "text": "192.0.2.55,ACCF23000055,268435455"},
  {"from": "192.0.2.56", "text": "192.0.2.56,ACCF23000056,987654321"},
  {"from": "192.0.2.57", "text": "192.0.2.57,ACCF23000057,987654321"},
  {"from": "192.0.2.51", "text": "192.0.2.59,ACCF23000059,602000059"},
  {"from": "192.0.2.54", "text": "192.0.2.54,ACCF23000054"},
  {"from": "192.0.2.54", "text": "192.0.2.54,ACCF23000054,4294967296"},
  {"from": "192.0.2.54", "text": "192.0.2.54,ACCF23000054,602000054,x"},
  {"from": "192.0.2.54", "text": "192.0.2.54,ACCF23000054,HF-LPB100"},
  {"from": "192.0.2.54", "text": "+ok"},
 ],
 "tcp": [
  {"ip": "192.0.2.50", "reply": v01 +
   frame(0x41, 0xF0, 987654321, b"DATA SEND IS OK\r\n") + "ff" * 68},
  {"ip": "192.0.2.52", "reply":
   frame(0x51, 0xF0, 602574901, b"NO INVERTER DATA\r\n") + "ff" * 68},
  {"ip": "192.0.2.53", "silent": True},
  {"ip": "192.0.2.55", "close": True},
  {"ip": "192.0.2.56", "reply": corrupt(v01)},
  {"ip": "192.0.2.57", "reply": implausible(v01)},
 ],
 "http": [
  {"ip": "192.0.2.50", "pages": {"/status.json?CMD=inv_query": [200,
   '{"g_sn":987654321,"i_sn":"NLDN012345CS4321","i_pow_n":2615,'
   '"l_a_agr":0,"l_a_ip":"203.0.113.69","l_a_port":10004,' + secret + '}']}},
  {"ip": "192.0.2.51", "pages": {"/js/status.js": [200,
   'var version="H4.01";var webData="NLBN1234567A1234,V5.2,V4.1,'
   'omnik4000tl2,4000,1920,429,87419,,3,";var wlanKey="s3cretpw";']}},
  {"ip": "192.0.2.52", "pages": {
   "/js/status.js": [401, "login"],
   "/status.json?CMD=inv_query": [401, "login"],
   "/status.html": [401, "login"]}},
  {"ip": "192.0.2.53", "pages": {"/status.html": [200,
   '<html><script>var webData="NLBN4020157P9024,V1,V2,omnik3000tl,3000,'
   '250,47,158180,,1,";var psw="s3cretpw";</script></html>']}},
 ],
}
lan2 = {"udp": [{"from": "198.51.100.20",
                 "text": "198.51.100.20,ACCF23000020,605363662"}]}
json.dump(lan, open(t + "/lan.json", "w"))
json.dump(lan2, open(t + "/lan2.json", "w"))
with open(t + "/requests", "w") as f:
    for ip, sn in (("192.0.2.50", 987654321), ("192.0.2.52", 602574901),
                   ("192.0.2.53", 1608449224), ("192.0.2.55", 268435455),
                   ("192.0.2.56", 987654321), ("192.0.2.57", 987654321)):
        f.write("tcp %s %s\n" % (ip, request(sn)))
with open(t + "/queries", "w") as f:
    f.write(b"WIFIKIT-214028-READ".hex() + "\n" +
            b"HF-A11ASSISTHREAD".hex() + "\n")
PY

check "the kits of both LANs listen" kitlan_start "$PFX-lan" "$T/lan.json" "$T/lan.log"
check "the second LAN's kit listens" kitlan_start "$PFX-lan2" "$T/lan2.json" "$T/lan2.log"

cat >"$T/want.table" <<'W'
kit 987654321 at 192.0.2.50 (MAC ac:cf:23:00:00:50): poll OK (inverter NLDN012345CS4321, 2615 W); push goes to 203.0.113.69:10004; status page status.json; method tcp
kit 601196020 at 192.0.2.51 (MAC ac:cf:23:00:00:51): no poll service (8899 refused); push target not shown; status page status.js (inverter NLBN1234567A1234, 1920 W); method http
kit 602574901 at 192.0.2.52 (MAC ac:cf:23:00:00:52): poll OK, no inverter data (the inverter sleeps); push target not shown; status page status.js, status.json, status.html needs the kit's password; method tcp
kit 1608449224 at 192.0.2.53 (MAC ac:cf:23:00:00:53): 8899 accepts but does not answer polls; push target not shown; status page status.html (inverter NLBN4020157P9024, 250 W); method http
kit 268435455 at 192.0.2.55 (MAC ac:cf:23:00:00:55): 8899 closes without answering; push target not shown; no web server; read it by its pushes (omnik-relay or omnik-sniff)
kit 987654321 at 192.0.2.56 (MAC ac:cf:23:00:00:56): 8899 answers, no valid reading (139 bytes, no valid frame); push target not shown; no web server; read it by its pushes (omnik-relay or omnik-sniff)
kit 987654321 at 192.0.2.57 (MAC ac:cf:23:00:00:57): 8899 answers, no valid reading (implausible value: FAC1 335.02 Hz outside 0, 45.0..65.0); push target not shown; no web server; read it by its pushes (omnik-relay or omnik-sniff)
kit 605363662 at 198.51.100.20 (MAC ac:cf:23:00:00:20): no poll service (8899 refused); push target not shown; no web server; read it by its pushes (omnik-relay or omnik-sniff)
W

discover --discover --wait 2
check "the table run exits 0" [ "$(cat "$T/rc")" = 0 ]
if diff -u "$T/want.table" "$T/out" >"$T/diff"; then
	ok "the table: one line per kit, each probe's verdict, in address order"
else
	not_ok "the table"; sed 's/^/#   /' "$T/diff"; sed 's/^/#   /' "$T/err"
fi
check "the spoofed reply's address (192.0.2.59) is not listed" \
    bash -c "! grep -q '192.0.2.59\|602000059' '$T/out'"
check "the malformed replies' sender (192.0.2.54) is not listed" \
    bash -c "! grep -q '192.0.2.54' '$T/out'"
check "a frame with a bad checksum or an implausible value shows no power" \
    bash -c "! grep -E '^kit 987654321 at 192.0.2.5[67] .*W\\)' '$T/out'"
check "the contradicting second reply did not replace the first" \
    bash -c "! grep -q '1608449999\|:99)' '$T/out'"
check "the ignored replies are counted" \
    grep -qE 'replies ignored: [1-9][0-9]* malformed, [1-9][0-9]* naming another address than their sender, [1-9][0-9]* contradicting' "$T/err"
check "no password or page content is printed" \
    bash -c "! grep -q 's3cretpw' '$T/out' '$T/err'"

# What reached the kits: the two queries only, over UDP.
grep '^udp ' "$T/lan.log" "$T/lan2.log" | awk '{print $3}' | sort -u >"$T/udp.got"
sort -u "$T/queries" >"$T/udp.want"
check "UDP 48899 got exactly the two discovery queries (no AT command, no +ok)" \
    cmp -s "$T/udp.got" "$T/udp.want"
check "the queries reached the second LAN too (every interface)" \
    grep -q '^udp 198.51.100.1 ' "$T/lan2.log"
# TCP 8899: one 16-byte request with the kit's own serial, nothing else
# (268435455 is below 0x10000000, 1608449224 above 2^31).
grep '^tcp ' "$T/lan.log" | sort -u >"$T/tcp.got"
sort -u "$T/requests" >"$T/tcp.want"
check "8899 got only the poll request, each for the kit's serial" \
    cmp -s "$T/tcp.got" "$T/tcp.want"
check "8899 got one request per kit per run" \
    [ "$(grep -c '^tcp 192.0.2.50 ' "$T/lan.log")" -eq 1 ]
# HTTP: plain GETs of the three pages, never with credentials.
check "HTTP got only GETs of the known pages, never a password" \
    bash -c "! grep '^http ' '$T/lan.log' | grep -vE '^http 192\.0\.2\.5[0-3] GET (/js/status\.js|/status\.json\?CMD=inv_query|/status\.html) auth=no$'"
check "HTTP pages are tried in order on a kit that serves only the last" \
    bash -c "grep '^http 192.0.2.53 ' '$T/lan.log' | awk '{print \$4}' | tr '\n' ' ' | grep -qx '/js/status.js /status.json?CMD=inv_query /status.html '"

cat >"$T/want.config" <<'W'
# omnik-poll --discover: 8 kits found
# 192.0.2.55/268435455 answers neither a poll nor a status page: not listed (read its pushes)
# 192.0.2.56/987654321 answers neither a poll nor a status page: not listed (read its pushes)
# 192.0.2.57/987654321 answers neither a poll nor a status page: not listed (read its pushes)
# 198.51.100.20/605363662 answers neither a poll nor a status page: not listed (read its pushes)
[poll]
kits = 192.0.2.50/987654321, 192.0.2.51/601196020, 192.0.2.52/602574901, 192.0.2.53/1608449224
method = auto
W
discover --discover --config -w 2
check "--config exits 0" [ "$(cat "$T/rc")" = 0 ]
if diff -u "$T/want.config" "$T/out" >"$T/diff"; then
	ok "--config: the [poll] lines to paste"
else
	not_ok "--config"; sed 's/^/#   /' "$T/diff"
fi

# -i: that interface's broadcast address only.
n2=$(grep -c '^udp ' "$T/lan2.log")
discover --discover -i h0 --wait 1
check "-i h0 exits 0" [ "$(cat "$T/rc")" = 0 ]
check "-i h0 lists the kits behind h0" grep -q '^kit 987654321 at 192.0.2.50 ' "$T/out"
check "-i h0 does not list the kit behind h1" bash -c "! grep -q 198.51.100.20 '$T/out'"
check "-i h0 sent nothing to the LAN behind h1" [ "$(grep -c '^udp ' "$T/lan2.log")" -eq "$n2" ]

discover --discover -i nosuch0 --wait 1
check "-i with no such interface: exit 1" [ "$(cat "$T/rc")" = 1 ]
check "-i with no such interface: says so" grep -q 'no interface nosuch0' "$T/err"
for w in 0 61 abc 2x ''; do
	discover --discover --wait "$w"
	check "--wait '$w' is a usage error (exit 2)" [ "$(cat "$T/rc")" = 2 ]
done
discover --discover -h
check "-h prints the usage and exits 0" \
    bash -c "[ \"\$(cat '$T/rc')\" = 0 ] && grep -q -- '--discover \[-i IFACE\]' '$T/out'"
finish
