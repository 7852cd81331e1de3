#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# omnik-poll against what may answer on a kit's address on a hostile LAN
# (a compromised device, a neighbour that took the address): answers that
# must give no reading rather than a wrong one.
. "$(dirname "$0")/lib.sh"
# This file's namespaces carry their own prefix.
NS_P="hpoll$$-p"
NS_K="hpoll$$-k"
command -v python3 >/dev/null || skip_all "needs python3"

netns_up 2
V01=$(grep -E '^V01' "$TOP/tests/data/vectors.tsv" | cut -f2)
python3 - "$T" "$V01" <<'PY'
import json, struct, sys
t, v01 = sys.argv[1], sys.argv[2]
def frame(c1, c2, sn, payload):
    b = bytes([len(payload), c1, c2]) + struct.pack("<II", sn, sn) + payload
    return (b"\x68" + b + bytes([sum(b) % 256, 0x16])).hex()
lan = {"limit": 100, "tcp": [
    # Asked for kit 602300010, it answers with kit 987654321's reading.
    {"ip": "198.51.100.10", "reply": v01 +
     frame(0x41, 0xF0, 987654321, b"DATA SEND IS OK\r\n") + "ff" * 68},
]}
json.dump(lan, open(t + "/lan.json", "w"))
PY
ip netns exec "$NS_K" python3 "$TOP/tests/poll/kitlan.py" "$T/lan.json" \
    "$T/lan.log" 2>"$T/lan.err" &
_pids+=("$!")
check "the stand-ins listen" wait_for 10 grep -q '^ready' "$T/lan.log" ||
	{ cat "$T/lan.err"; finish; exit 1; }

start_poll other -k 198.51.100.10/602300010 --method tcp --timeout 5
check "the poll of kit 602300010 ends" wait_for 20 grep -q \
    '198.51.100.10:8899: no reading' "$T/other.err"
stop_poll
# Counted after the exit: the journal commits in batches.
check "an answer for another kit is no reading of either" \
    test "$(journal_count "$T/other.db")" -eq 0
check "nor a CSV row" test "$(csv_count "$T/other.csv")" -eq 0
check "it is kept raw in the rejects, with whose it was" \
    test "$(sqlite3 "$T/other.db" "SELECT count(*) FROM rejects WHERE reason LIKE '%987654321%602300010%'")" -ge 1
check "no sanitizer report" test "$(cat "$T"/*.err | count 'Sanitizer\|runtime error' /dev/stdin)" -eq 0
finish
