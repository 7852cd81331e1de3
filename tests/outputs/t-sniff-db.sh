#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# omnik-sniff --stream --db: the shared vectors land in the journal, the
# rejected frames in their own table with the reason, and the values in
# the journal are those the CSV file shows; a remote output configured
# in the config file gets every reading before omnik-sniff exits.
. "$(dirname "$0")/lib.sh"
# As root omnik-sniff opens its outputs as the user it switches to.
chmod 777 "$T"

tests/vectors-to-stream tests/data/vectors.tsv >"$T/s.bin"
"$B/omnik-sniff" --stream "$T/s.bin" --db "$T/j.db" --csv "$T/r.csv" 2>"$T/err"
ok $? "omnik-sniff --db exits 0"
read -r nread nrej < <(sed -n 's/.* \([0-9]*\) readings, \([0-9]*\) rejected.*/\1 \2/p' "$T/err")
is "$(sqlite3 "$T/j.db" 'SELECT count(*) FROM readings')" "$nread" "one journal row per reading ($nread)"
is "$(sqlite3 "$T/j.db" 'SELECT count(*) FROM rejects WHERE reason <> "" AND length(frame) > 0')" \
   "$nrej" "one reject row per rejected frame, with reason and bytes ($nrej)"
is "$(sqlite3 "$T/j.db" "SELECT count(*) FROM rejects WHERE reason = 'bad checksum'")" \
   "$(grep -v '^#' tests/data/vectors.tsv | grep -o 'checksum": *"bad' | wc -l)" \
   "the bad-checksum vectors are kept raw"
# Inverter, ETODAY, ETOTAL, PAC1 as the CSV has them (columns 2, 22, 23, 17).
csv=$(tail -n +2 "$T/r.csv" | awk -F, '{ printf "%s %g %g %g\n", $2, $22, $23, $17 }')
db=$(sqlite3 -separator ' ' "$T/j.db" 'SELECT inverter_sn, etoday, etotal, pac1 FROM readings ORDER BY id' |
     awk '{ printf "%s %g %g %g\n", $1, $2, $3, $4 }')
is "$db" "$csv" "journal values equal the CSV's"
is "$(sqlite3 "$T/j.db" 'PRAGMA journal_mode')" wal "the journal is in WAL mode"
is "$(sqlite3 "$T/j.db" "SELECT count(*) FROM readings WHERE length(frame) = 0 OR time NOT LIKE '____-__-__T__:__:__.______Z'")" \
   0 "every row has its raw frame and a UTC time"

# Through a remote output: the sniffer flushes MQTT before it exits.
mq_setup
mq_start || { echo "not ok - mosquitto did not start"; exit 1; }
printf '[mqtt]\nhost = 127.0.0.1\nport = %s\nclient_id = omk-sniff-test\n' \
    "$MQPORT" >"$T/mq.conf"
mosquitto_sub -h 127.0.0.1 -p "$MQPORT" -t 'omniklog/+/state' -q 1 \
    -F '%p' >"$T/states" 2>/dev/null &
sub=$!
at_exit "kill $sub"
sleep 0.5
"$B/omnik-sniff" -c "$T/mq.conf" --stream "$T/s.bin" --db "$T/j2.db" \
    --flush 10 >/dev/null 2>"$T/err2"
ok $? "omnik-sniff -c (with [mqtt]) --db exits 0"
wait_for 5 lines_at_least "$T/states" "$nread"
is "$(jq -r .journal_id "$T/states" | tr '\n' ' ')" "$(seq -s ' ' 1 "$nread") " \
   "every reading reached the broker before exit, in order"
done_testing
