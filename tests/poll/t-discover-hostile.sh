#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# omnik-poll --discover on a hostile LAN: a reply from an address outside
# every network the queries went to (a neighbour with an address of its
# choice, or a spoofed source) names a host that was never asked. It is
# neither listed nor probed, only counted. A kit whose poll answer is
# another kit's is not one to poll for the serial it gave (omnik-poll
# would refuse every answer).
. "$(dirname "$0")/discover-lib.sh"
# This file's namespaces carry their own prefix.
PFX="hpoll$$"
NS_H="$PFX-host"

host_up
lan_up "$PFX-lan" h0 192.0.2.1/24 l0 192.0.2.50/24 192.0.2.51/24
# The neighbour's extra address, on the same wire; the host's default
# route (as any host on a LAN has) lets a loose rp_filter pass it.
ip -n "$PFX-lan" addr add 203.0.113.7/32 dev l0
ip -n "$NS_H" route add default dev h0
V01=$(grep -E '^V01' "$TOP/tests/data/vectors.tsv" | cut -f2)
python3 - "$T" "$V01" <<'PY'
import json, struct, sys
t, v01 = sys.argv[1], sys.argv[2]
def frame(c1, c2, sn, payload):
    b = bytes([len(payload), c1, c2]) + struct.pack("<II", sn, sn) + payload
    return (b"\x68" + b + bytes([sum(b) % 256, 0x16])).hex()
json.dump({"limit": 60,
           "udp": [{"from": "192.0.2.50", "text": "192.0.2.50,ACCF23000050,602000050"},
                   {"from": "192.0.2.51", "text": "192.0.2.51,ACCF23000051,602000051"},
                   {"from": "203.0.113.7", "text": "203.0.113.7,ACCF23000007,602000007"}],
           "tcp": [{"ip": "203.0.113.7", "close": True},
                   # kit 987654321's reading, asked as kit 602000051
                   {"ip": "192.0.2.51", "reply": v01 +
                    frame(0x41, 0xF0, 987654321, b"DATA SEND IS OK\r\n") +
                    "ff" * 68}]},
          open(t + "/lan.json", "w"))
PY
check "the LAN listens" kitlan_start "$PFX-lan" "$T/lan.json" "$T/lan.log"
discover --discover --wait 2
check "exits 0" [ "$(cat "$T/rc")" = 0 ]
check "the kit on the network asked is listed" grep -q '^kit 602000050 at 192.0.2.50 ' "$T/out"
check "the host outside it is not listed" bash -c "! grep -q '203.0.113.7\|602000007' '$T/out'"
check "nor probed" bash -c "! grep -q '^tcp 203.0.113.7' '$T/lan.log'"
check "its replies are counted" \
    grep -qE 'replies ignored: .*, [1-9][0-9]* from outside the networks asked' "$T/err"
check "the kit answering as another says so" \
    grep -q '^kit 602000051 at 192.0.2.51 .*answered as kit 987654321' "$T/out"
check "and is not to be polled by tcp for its serial" \
    bash -c "! grep -q '^kit 602000051 .*method tcp' '$T/out'"
discover --discover --config --wait 2
check "--config does not list it" bash -c "! grep -q '^kits = .*602000051' '$T/out'"
check "--config says why" grep -q '^# 192.0.2.51/602000051: its poll answer is kit 987654321.s' "$T/out"
finish
