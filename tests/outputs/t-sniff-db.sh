#!/bin/bash
# omnik-sniff --stream --db: the shared vectors land in the journal, the
# rejected frames in their own table with the reason, and the values in
# the journal are those the CSV file shows.
. "$(dirname "$0")/lib.sh"

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
done_testing
