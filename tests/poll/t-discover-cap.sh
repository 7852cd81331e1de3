#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# omnik-poll --discover with more kits answering than it keeps: 70 kits,
# each replying from its own address; the first 64 are listed and the
# rest are counted and said once.
. "$(dirname "$0")/discover-lib.sh"

host_up
addrs=()
for i in $(seq 100 169); do addrs+=("192.0.2.$i/24"); done
lan_up "$PFX-lan" h0 192.0.2.1/24 l0 "${addrs[@]}"
python3 - "$T" <<'PY'
import json, sys
json.dump({"udp": [{"from": "192.0.2.%d" % i,
                    "text": "192.0.2.%d,ACCF230000%02x,6020000%02d" % (i, i, i - 100),
                    "query": "WIFIKIT-214028-READ"}
                   for i in range(100, 170)]},
          open(sys.argv[1] + "/lan.json", "w"))
PY
check "70 kits listen" kitlan_start "$PFX-lan" "$T/lan.json" "$T/lan.log"
discover --discover --wait 2
check "exits 0" [ "$(cat "$T/rc")" = 0 ]
check "64 kits listed" [ "$(grep -c '^kit ' "$T/out")" -eq 64 ]
check "the cap is said once" [ "$(grep -c 'more than 64 kits answered' "$T/err")" -eq 1 ]
check "the kits past the cap are counted" \
    grep -qE 'replies ignored: 0 malformed, 0 naming another address than their sender, 0 contradicting an earlier one, [1-9][0-9]* past the 64 kits listed' "$T/err"
check "every listed kit is one that answered, at its own address" \
    bash -c "grep '^kit ' '$T/out' | awk '{split(\$4,a,\".\"); if (\$2 != 602000000 + a[4] - 100) exit 1}'"
finish
