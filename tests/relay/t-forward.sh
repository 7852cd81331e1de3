#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Through the redirect, the portal receives exactly the bytes the kit sent
# (every shared vector, then 1,000 simulated pushes), the kit receives
# exactly what the portal answered, and the CSV holds what the decoder
# makes of those bytes.
. "$(dirname "$0")/lib.sh"

netns_up
redirect_up
data_dir "$T/data"
# The portal answers every connection with a text frame (vector A03).
REPLY=680f41f0f485d523f485d523444154412053454e44204953204f4bfc16
start_portal "$T/portal" --reply "$REPLY" || { not_ok "portal starts"; finish; exit; }
start_relay "$T/relay.log" -v --csv "$T/data/relay.csv" ||
	{ not_ok "relay starts"; cat "$T/relay.log"; finish; exit; }

# Every shared vector, one push each, in file order.
mkdir -p "$T/vec" "$T/kitvec"
i=0
while IFS=$'\t' read -r name hex _; do
	case "$name" in '#'*|'') continue ;; esac
	printf '%s' "$hex" | perl -ne 'print pack("H*", $_)' >"$T/vec/$i.bin"
	if in_kit "$KITSIM" --raw "$T/vec/$i.bin" --save "$T/kitvec" \
	    "$PORTAL_IP:$PORT" >/dev/null 2>>"$T/kitsim.err" &&
	    cmp -s "$T/vec/$i.bin" "$T/portal/conn-$i.bin"; then
		ok "vector $name: the portal got the same $(stat -c %s "$T/vec/$i.bin") bytes"
	else
		not_ok "vector $name: the portal got the same bytes"
	fi
	mv "$T/kitvec/push-0.bin" "$T/kitvec/sent-$i.bin" 2>/dev/null
	mv "$T/kitvec/reply-0.bin" "$T/kitvec/answer-$i.bin" 2>/dev/null
	i=$((i + 1))
done <"$TOP/tests/data/vectors.tsv"
nvec=$i

printf '%s' "$REPLY" | perl -ne 'print pack("H*", $_)' >"$T/reply.bin"
bad=0
for ((j = 0; j < nvec; j++)); do
	cmp -s "$T/reply.bin" "$T/kitvec/answer-$j.bin" || bad=$((bad + 1))
done
check "the kit got the portal's answer unchanged in all $nvec pushes" [ "$bad" -eq 0 ]
check "the portal's answer is framed and logged (debug)" \
	grep -q 'from portal: frame 41 F0' "$T/relay.log"

csv_has "$T/data/relay.csv" "$(decoded_rows "$T"/vec/*.bin | wc -l)"
check "CSV rows equal the decoded vectors" \
	diff <(csv_rows "$T/data/relay.csv") <(decoded_rows "$T"/vec/*.bin)
check "CSV values equal the values vectors.tsv expects" \
	perl "$TOP/tests/relay/csv-vs-vectors.pl" "$TOP/tests/data/vectors.tsv" "$T/data/relay.csv"

# 1,000 pushes, 20 at a time, two inverters each.
stop_portal
start_portal "$T/portal2"
check "1000 simulated pushes through the relay all complete" \
	in_kit "$KITSIM" -c 1000 -j 20 -i 2 --save "$T/kit1000" "$PORTAL_IP:$PORT"
wait_for "[ \$(ls $T/portal2 | wc -l) -ge 1000 ] && [ \$(wc -l <$T/portal2.log) -ge 1001 ]" 10
check "the portal got exactly the bytes of the 1000 pushes (sha256 of each)" \
	diff <(hashes "$T"/kit1000/push-*.bin) <(hashes "$T"/portal2/conn-*.bin)
csv_has "$T/data/relay.csv" \
    "$(decoded_rows "$T"/vec/*.bin "$T"/kit1000/push-*.bin | wc -l)"
check "CSV holds the 2000 readings, equal to the decoded bytes" \
	diff <(csv_rows "$T/data/relay.csv") \
	    <(decoded_rows "$T"/vec/*.bin "$T"/kit1000/push-*.bin)

# Segmented: 50 pushes of 3 inverters written 7 bytes at a time.
check "50 pushes written 7 bytes at a time complete" \
	in_kit "$KITSIM" -c 50 -j 10 -i 3 -s 777 --split 7 --delay 1 \
	    --save "$T/kitsplit" "$PORTAL_IP:$PORT"
wait_for "[ \$(ls $T/portal2 | wc -l) -ge 1050 ]" 10
check "the portal got exactly their bytes" \
	diff <(hashes "$T"/kit1000/push-*.bin "$T"/kitsplit/push-*.bin) \
	    <(hashes "$T"/portal2/conn-*.bin)
csv_has "$T/data/relay.csv" "$(decoded_rows "$T"/vec/*.bin \
    "$T"/kit1000/push-*.bin "$T"/kitsplit/push-*.bin | wc -l)"
check "their 150 readings are in the CSV, as decoded" \
	diff <(csv_rows "$T/data/relay.csv" | awk -F, '$25 == 777') \
	    <(decoded_rows "$T"/kitsplit/push-*.bin)

# The writer commits a batch within 500 ms of its first reading.
check "the journal holds the same $(csv_count "$T/data/relay.csv") readings as the CSV" \
	wait_for '[ "$(journal_count)" -eq "$(csv_count "$T/data/relay.csv")" ]' 5

stop_relay TERM
check "SIGTERM: the relay exits 0" [ "$RELAY_RC" -eq 0 ]
check "exit statistics count 1060 forwarded connections" \
	grep -q "1060 forwarded" "$T/relay.log"
finish
