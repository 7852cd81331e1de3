#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A journal taken away while the program runs: deleted, replaced by a
# file that is not a journal, its directory removed. Each time the loss
# is logged, a new journal is opened at the path once it can be, and no
# reading fed meanwhile is lost: the new journal holds every reading from
# the loss on, and the CSV (written from the journal) every reading, once.
. "$(dirname "$0")/lib.sh"

N=250
rows() { sqlite3 -readonly "$1" 'SELECT count(*) FROM readings' 2>/dev/null; }
rows_at_least() { [ "$(rows "$1")" -ge "$2" ] 2>/dev/null; }
# The feeder's reading i has ETOTAL 10000 + i / 10 kWh: its index back.
journal_idx() {
	sqlite3 -readonly "$1" 'SELECT CAST(round(etotal * 10) AS INTEGER) - 100000 FROM readings ORDER BY id'
}
csv_idx() {
	awk -F, 'NR > 1 { printf "%d\n", $23 * 10 - 100000 + 0.5 }' "$1"
}
# run NAME DB CSV ACTION...: feed N readings, one per 20 ms; after the
# first 40 are journaled run ACTION; wait for the feeder to deliver all.
run() {
	local name=$1 db=$2 csv=$3
	shift 3
	printf '[omniklog]\ndb = %s\ncsv = %s\n' "$db" "$csv" >"$T/$name.conf"
	"$FEED" -c "$T/$name.conf" --count "$N" --interval 20 --flush 30 \
	    >"$T/$name.out" 2>"$T/$name.log" &
	local pid=$!
	at_exit "kill $pid"
	wait_for 20 rows_at_least "$db" 40
	"$@"
	wait "$pid"
	ok $? "$name: the feeder delivered everything and exited 0"
}
# check NAME DB CSV: the new journal holds k..N-1, the CSV 0..N-1.
check() {
	local name=$1 db=$2 csv=$3 first
	first=$(journal_idx "$db" | head -n 1)
	is "$(journal_idx "$db" | tr '\n' ' ')" "$(seq -s ' ' "${first:-0}" $((N - 1))) " \
	    "$name: the new journal holds every reading from the loss on (from $first)"
	ok "$([ "${first:-0}" -ge 40 ]; echo $?)" "$name: ... and none from before ($first >= 40)"
	is "$(csv_idx "$csv" | tr '\n' ' ')" "$(seq -s ' ' 0 $((N - 1))) " \
	    "$name: the CSV holds all $N readings, in order, once"
	echo "# $name: new journal $(rows "$db") rows, CSV $(($(wc -l <"$csv") - 1)) lines"
}

# 1. Deleted (the WAL and shared-memory files stay, as after `rm x.db`).
mkdir "$T/a"
gone() { rm "$T/a/j.db"; }
run deleted "$T/a/j.db" "$T/a/r.csv" gone
grep -q "journal: $T/a/j.db was deleted.*new journal" "$T/deleted.log"
ok $? "deleted: the loss and the new journal are logged"
check deleted "$T/a/j.db" "$T/a/r.csv"
is "$(sqlite3 "$T/a/j.db" 'PRAGMA integrity_check')" ok "deleted: the new journal is sound"

# 2. Replaced by a file that is not a journal: refused, retried, and
# opened anew once the file is gone (nothing written into it).
mkdir "$T/b"
replace() {
	printf 'not a journal\n' >"$T/b/other"
	mv "$T/b/other" "$T/b/j.db"
	wait_for 10 grep -q "journal: .*$T/b/j.db" "$T/replaced.log"
	sleep 1
	cp "$T/b/j.db" "$T/b/seen"
	rm "$T/b/j.db"
}
run replaced "$T/b/j.db" "$T/b/r.csv" replace
grep -q "journal: $T/b/j.db was replaced by another file" "$T/replaced.log"
ok $? "replaced: the replacement is logged"
is "$(cat "$T/b/seen")" "not a journal" "replaced: the other file was left as it was"
check replaced "$T/b/j.db" "$T/b/r.csv"

# 3. Its directory removed: a clear error, retried until it is back.
mkdir "$T/c"
nodir() {
	rm -rf "$T/c"
	wait_for 10 grep -q "journal: .*$T/c/j.db" "$T/nodir.log"
	sleep 1
	mkdir "$T/c"
}
run nodir "$T/c/j.db" "$T/nodir.csv" nodir
grep -q "journal: $T/c/j.db was deleted" "$T/nodir.log"
ok $? "nodir: the loss is logged"
grep -q "cannot open $T/c/j.db" "$T/nodir.log"
ok $? "nodir: the missing directory is a clear error"
check nodir "$T/c/j.db" "$T/nodir.csv"
done_testing
