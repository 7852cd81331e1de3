#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A full disk: the journal and the CSV live on a small file system the
# test fills while readings come in, then frees. The journal keeps what it
# could not commit in memory and commits it when space returns; the CSV,
# written from the journal, catches up: both then hold the same N
# readings, row for row, each once and in order, and the CSV is byte for
# byte the one a run without a full disk writes.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # skip needs root to mount a small file system"
	exit 0
fi
N=400
FS="$T/fs"
mkdir "$FS"
mount -t tmpfs -o size=768k,mode=755 omk-test-full "$FS" ||
	{ echo "1..0 # skip cannot mount a tmpfs"; exit 0; }
at_exit "umount -l $FS"

rows() { sqlite3 -readonly "$1" 'SELECT count(*) FROM readings' 2>/dev/null; }
rows_at_least() { [ "$(rows "$1")" -ge "$2" ] 2>/dev/null; }
# The same columns of both stores, in their CSV spelling: time (local),
# inverter, PAC1, ETODAY, ETOTAL, HTOTAL.
journal_rows() {
	sqlite3 -readonly -separator , "$1" "SELECT datetime(usec / 1000000, \
	    'unixepoch', 'localtime'), inverter_sn, pac1, etoday, etotal, htotal \
	    FROM readings ORDER BY id" | awk -F, -v OFS=, \
	    '{ print $1, $2, $3 + 0, $4 + 0, $5 + 0, $6 + 0 }'
}
csv_rows_of() {
	awk -F, -v OFS=, 'NR > 1 { print $1, $2, $17 + 0, $22 + 0, $23 + 0, $24 + 0 }' "$1"
}

printf '[omniklog]\ndb = %s/j.db\ncsv = %s/r.csv\n' "$FS" "$FS" >"$T/f.conf"
START=$(($(date +%s) - 7200))
"$FEED" -c "$T/f.conf" --count "$N" --start "$START" --interval 10 --flush 60 \
    >"$T/f.out" 2>"$T/f.log" &
pid=$!
at_exit "kill $pid"
wait_for 20 rows_at_least "$FS/j.db" 20
# Fill what is left (dd stops at ENOSPC), hold it full a while, free it.
dd if=/dev/zero of="$FS/fill" bs=4k 2>/dev/null
wait_for 20 grep -q 'journal: .*\(full\|No space\)' "$T/f.log"
ok $? "the journal reports the full disk"
sleep 3
full_journal=$(rows "$FS/j.db")
full_csv=$(($(wc -l <"$FS/r.csv") - 1))
rm "$FS/fill"
wait "$pid"
ok $? "once space returned the feeder delivered everything and exited 0"
grep -q 'journal: committing again' "$T/f.log"
ok $? "the journal's recovery is logged"
journal_rows "$FS/j.db" >"$T/j.rows"
csv_rows_of "$FS/r.csv" >"$T/c.rows"
is "$(wc -l <"$T/j.rows")" "$N" "the journal holds all $N readings"
is "$(wc -l <"$T/c.rows")" "$N" "the CSV holds all $N readings"
cmp -s "$T/j.rows" "$T/c.rows"
ok $? "the CSV and the journal hold the same rows, in the same order"
is "$(cut -d, -f5 "$T/c.rows" | sort -u | wc -l)" "$N" "no reading twice"
# The same readings on a disk with room, written directly.
mkdir "$T/room"
printf '[omniklog]\ndb = %s/j.db\ncsv = %s/r.csv\n' "$T/room" "$T/room" >"$T/room.conf"
"$FEED" -c "$T/room.conf" --count "$N" --start "$START" --flush 30 >/dev/null 2>&1
cmp "$T/room/r.csv" "$FS/r.csv"
ok $? "the CSV is byte for byte the one written without a full disk"
echo "# while full: journal $full_journal rows, CSV $full_csv lines;" \
    "after: journal $(wc -l <"$T/j.rows"), CSV $(wc -l <"$T/c.rows")"

# The CSV still behind when the program stops (the journal elsewhere, with
# room): the next start writes what it lacks first.
rm -f "$FS"/*
mkdir "$T/k"
printf '[omniklog]\ndb = %s/j.db\ncsv = %s/r.csv\n' "$T/k" "$FS" >"$T/k.conf"
"$FEED" -c "$T/k.conf" --count 20 --start "$START" --flush 10 >/dev/null 2>"$T/k1.log"
dd if=/dev/zero of="$FS/fill" bs=4k 2>/dev/null
"$FEED" -c "$T/k.conf" --count 50 --first 20 --start "$START" --interval 5 \
    --flush 2 >/dev/null 2>"$T/k2.log"
is "$?" 3 "a CSV still failing at the end leaves the feeder a backlog"
grep -q 'output csv: behind the journal at exit by' "$T/k2.log"
ok $? "... and the log says the CSV is behind"
before=$(($(wc -l <"$FS/r.csv") - 1))
rm "$FS/fill"
"$FEED" -c "$T/k.conf" --count 0 --flush 10 >/dev/null 2>"$T/k3.log"
ok $? "the next start catches up (no backlog left)"
grep -q 'output csv: behind the journal at the last stop' "$T/k3.log"
ok $? "... and says so"
journal_rows "$T/k/j.db" >"$T/kj.rows"
csv_rows_of "$FS/r.csv" >"$T/kc.rows"
is "$(wc -l <"$T/kc.rows")" 70 "the CSV holds all 70 readings ($before before the restart)"
cmp -s "$T/kj.rows" "$T/kc.rows"
ok $? "... the journal's, row for row"

# A crash while behind: the cursor saved lags the file. The next start
# goes on after the row the file ends with, writing none twice.
lag() {	# lag N: the saved cursor 10 rows back, the file N lines short
	sqlite3 "$T/k/j.db" "UPDATE cursors SET position = 60, active = 1 WHERE name = 'csv'"
	head -n $((71 - $1)) "$FS/r.csv" >"$FS/r.tmp" && mv "$FS/r.tmp" "$FS/r.csv"
	"$FEED" -c "$T/k.conf" --count 0 --flush 10 >/dev/null 2>"$T/lag$1.log"
	csv_rows_of "$FS/r.csv" >"$T/kc.rows"
	cmp -s "$T/kj.rows" "$T/kc.rows"
}
lag 0
ok $? "cursor 10 rows behind a complete file: nothing written twice"
grep -q 'writing journal rows from 71 on' "$T/lag0.log"
ok $? "... it goes on after row 70"
lag 4
ok $? "cursor 10 rows behind a file 4 lines short: the 4 written, once"
grep -q 'writing journal rows from 67 on' "$T/lag4.log"
ok $? "... from row 67 on"
done_testing
