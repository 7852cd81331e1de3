#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# omnik-poll --discover on a hostile LAN: a reply from an address outside
# every network the queries went to (a neighbour with an address of its
# choice, or a spoofed source) names a host that was never asked. It is
# neither listed nor probed, only counted.
. "$(dirname "$0")/discover-lib.sh"
# This file's namespaces carry their own prefix.
PFX="hpoll$$"
NS_H="$PFX-host"

host_up
lan_up "$PFX-lan" h0 192.0.2.1/24 l0 192.0.2.50/24
# The neighbour's extra address, on the same wire; the host's default
# route (as any host on a LAN has) lets a loose rp_filter pass it.
ip -n "$PFX-lan" addr add 203.0.113.7/32 dev l0
ip -n "$NS_H" route add default dev h0
python3 - "$T" <<'PY'
import json, sys
json.dump({"limit": 60,
           "udp": [{"from": "192.0.2.50", "text": "192.0.2.50,ACCF23000050,602000050"},
                   {"from": "203.0.113.7", "text": "203.0.113.7,ACCF23000007,602000007"}],
           "tcp": [{"ip": "203.0.113.7", "close": True}]},
          open(sys.argv[1] + "/lan.json", "w"))
PY
check "the LAN listens" kitlan_start "$PFX-lan" "$T/lan.json" "$T/lan.log"
discover --discover --wait 2
check "exits 0" [ "$(cat "$T/rc")" = 0 ]
check "the kit on the network asked is listed" grep -q '^kit 602000050 at 192.0.2.50 ' "$T/out"
check "the host outside it is not listed" bash -c "! grep -q '203.0.113.7\|602000007' '$T/out'"
check "nor probed" bash -c "! grep -q '^tcp 203.0.113.7' '$T/lan.log'"
check "its replies are counted" \
    grep -qE 'replies ignored: .*, [1-9][0-9]* from outside the networks asked' "$T/err"
finish
