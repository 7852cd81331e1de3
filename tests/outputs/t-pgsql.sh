#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# PostgreSQL output against a real server: every reading lands once with
# every field; the server down for a while and back, and the program
# restarted while it is down, lose and duplicate nothing; rows arrive in
# journal order; capture is never held up, not even by a stalled server.
. "$(dirname "$0")/lib.sh"

pg_setup || { echo "not ok 1 - initdb failed"; cat "$T/initdb.log"; exit 1; }
pg_start || { echo "not ok 1 - PostgreSQL did not start"; exit 1; }

cat >"$T/omk.conf" <<EOC
[omniklog]
db = $T/journal.db
[postgresql]
conninfo = $PGCONN connect_timeout=3
table = readings
batch = 50
EOC
t0=$(( $(date +%s) - 86400 ))
TBL=readings
# E today of omk-feed's reading i: 0.1 kWh a reading since its local day's first.
etoday_of() {
	local t=$((t0 + $1 * 300)) mid d0=0
	mid=$(date -d "$(date -d "@$t" +%F) 00:00" +%s)
	[ "$mid" -gt "$t0" ] && d0=$(( (mid - t0 + 299) / 300 ))
	awk -v e=$(( ($1 - d0) * 10 % 6000 )) 'BEGIN { printf "%g", e / 100 }'
}

# 1. Plain delivery, every field.
"$FEED" -c "$T/omk.conf" --count 120 --start $t0 --flush 20 >"$T/f1.log" 2>&1
ok $? "120 readings delivered (omk-feed exits 0 with no backlog)"
is "$(psql_q "SELECT count(*) FROM $TBL")" 120 "120 rows in PostgreSQL"
is "$(psql_q "SELECT temp, vpv1, vpv2, vpv3 IS NULL, ipv1, iac1, vac1, fac1, pac1, etoday, etotal, htotal, runmode, kit_sn, inverter_sn, fw_main FROM $TBL WHERE time = to_timestamp($t0 + 5 * 300)")" \
   "30.5|300.5|290|t|2|1|230.5|50|105|$(etoday_of 5)|10000.5|1005|1|1600000000|NLDN302013000000|V5.07Build230" \
   "every field of reading 5, absent ones NULL"
is "$(psql_q "SELECT data_type FROM information_schema.columns WHERE table_name = '$TBL' AND column_name = 'time'")" \
   "timestamp with time zone" "time is timestamptz"
is "$(psql_q "SELECT data_type FROM information_schema.columns WHERE table_name = '$TBL' AND column_name = 'htotal'")" \
   "bigint" "htotal is bigint: the frame's 4-byte hour counter does not fit int4"
is "$(psql_q "SELECT count(*) FROM pg_indexes WHERE tablename = '$TBL' AND indexdef LIKE '%(inverter_sn, \"time\")%'")" \
   1 "unique index on (inverter_sn, time)"

# 2. Server down for a while during a live capture, then back.
"$FEED" -c "$T/omk.conf" --count 60 --interval 50 --start $t0 --first 120 \
    --flush 30 >"$T/f2.log" 2>&1 &
feed=$!
sleep 0.8
pg_stop
sleep 2
pg_start
wait $feed
ok $? "outage during capture: backlog delivered after the server came back"
is "$(psql_q "SELECT count(*) FROM $TBL")" 180 "180 rows, none lost"
late=$(sed -n 's/.*late by at most \(-\?[0-9]*\) ms.*/\1/p' "$T/f2.log")
ok $([ -n "$late" ] && [ "$late" -lt 500 ]; echo $?) \
   "capture never waited on the outage (feeder late by at most ${late:-?} ms)"
grep -q "output postgresql" "$T/f2.log"
ok $? "the outage was logged"

# 3. Program restarted while the server is down.
pg_stop
"$FEED" -c "$T/omk.conf" --count 30 --start $t0 --first 180 --flush 1.5 \
    >"$T/f3.log" 2>&1
is $? 3 "server down: omk-feed stops with a backlog"
is "$(sqlite3 "$T/journal.db" "SELECT count(*) FROM readings WHERE id > (SELECT position FROM cursors WHERE name = 'postgresql')")" \
   30 "the 30 undelivered readings wait in the journal"
pg_start
"$FEED" -c "$T/omk.conf" --count 0 --flush 20 >"$T/f4.log" 2>&1
ok $? "restarted program delivers the backlog"
is "$(psql_q "SELECT count(*) FROM $TBL")" 210 "210 rows after the restart"

# 4. At least once never means twice: replay 70 rows from the journal.
sqlite3 "$T/journal.db" "UPDATE cursors SET position = position - 70 WHERE name = 'postgresql'"
"$FEED" -c "$T/omk.conf" --count 0 --flush 20 >"$T/f5.log" 2>&1
ok $? "70 readings sent again"
is "$(psql_q "SELECT count(*) || ' ' || count(DISTINCT (inverter_sn, time)) FROM $TBL")" \
   "210 210" "no duplicate rows"
is "$(psql_q "SELECT count(*) FROM $TBL WHERE time <> to_timestamp($t0) + (round(etotal * 10) - 100000) * interval '300 s'")" \
   0 "every row is the reading fed at its time"

# 5. Order: a row committed in a later transaction is never older.
is "$(psql_q "SELECT count(*) FROM (SELECT xmin::text::bigint AS x, lag(xmin::text::bigint) OVER (ORDER BY time) AS px FROM $TBL) s WHERE x < px")" \
   0 "rows reached PostgreSQL in journal order"

# 6. Server stalled while the program connects (postmaster stopped: the
# socket accepts, the login never completes): the capture goes on.
pm=$(head -n 1 "$PGDIR/data/postmaster.pid")
kill -STOP "$pm"
"$FEED" -c "$T/omk.conf" --count 30 --interval 50 --start $t0 --first 210 \
    --flush 30 >"$T/f6.log" 2>&1 &
feed=$!
sleep 2.5
kill -CONT "$pm"
wait $feed
ok $? "stalled server: delivered once it answers"
late=$(sed -n 's/.*late by at most \(-\?[0-9]*\) ms.*/\1/p' "$T/f6.log")
ok $([ -n "$late" ] && [ "$late" -lt 500 ]; echo $?) \
   "capture never waited on the stalled login (late by at most ${late:-?} ms)"
is "$(psql_q "SELECT count(*) FROM $TBL")" 240 "240 rows"

# 7. A push with a buffered record (80 02 01) before the current one, and
# the current one again, all of one inverter, received together (issue
# 10): three rows, none dropped by the (inverter_sn, time) key; the
# buffered one five minutes earlier, the repeat a microsecond later.
v01=$(awk -F'\t' '$1 ~ /^V01-/ { print $2 }' tests/data/vectors.tsv)
perl -e 'my $f = pack("H*", shift); my $b = $f; substr($b, 12, 1) = "\x80";
    my $s = 0; $s += ord(substr($b, $_, 1)) for 1 .. length($b) - 3;
    substr($b, -2, 1) = chr($s % 256); print $b, $f, $f' "$v01" \
    >"$T/buffered.bin"
"$B/omnik-sniff" -u '' -c "$T/omk.conf" --stream "$T/buffered.bin" \
    --db "$T/journal.db" >"$T/s7.log" 2>&1
ok $? "omnik-sniff --stream with a buffered record exits 0"
is "$(psql_q "SELECT count(*) FROM $TBL WHERE inverter_sn = 'NLDN012345CS4321'")" \
   3 "both readings and the repeat are in PostgreSQL"
is "$(psql_q "SELECT string_agg(round(extract(epoch FROM time - min_t) * 1000000)::text, ' ' ORDER BY time) FROM (SELECT time, min(time) OVER () AS min_t FROM $TBL WHERE inverter_sn = 'NLDN012345CS4321') s")" \
   "0 300000000 300000001" "buffered record 300 s before the current one, the repeat 1 us after"
is "$(sqlite3 "$T/journal.db" "SELECT group_concat(historical || ':' || variant, ' ') FROM (SELECT historical, variant FROM readings WHERE inverter_sn = 'NLDN012345CS4321' ORDER BY id)")" \
   "1:omnik 0:omnik 0:omnik" "the journal marks the buffered record historical"

done_testing
