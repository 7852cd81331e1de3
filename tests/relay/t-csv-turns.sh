#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The relay writes the CSV lines and log lines of one loop turn's readings
# at the turn's end, in one write each. Many kits at once: every reading
# is in the CSV once, in the journal's order, and in the log; a CSV on a
# file system that fills up in the middle of a turn falls behind from the
# first line of that turn and catches up from the journal, each line once.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	skip_all "needs root"
fi
netns_up
redirect_up
data_dir "$T/data"
FS="$T/fs"
mkdir "$FS"
mount -t tmpfs -o size=256k,mode=755 omk-test-turns "$FS" ||
	skip_all "cannot mount a tmpfs"

trap 'umount -l "$FS" 2>/dev/null; cleanup' EXIT
chown nobody "$FS"
CSV="$FS/r.csv"
start_portal - --quiet
start_relay "$T/relay.log" --csv "$CSV" ||
	{ not_ok "relay starts"; cat "$T/relay.log"; finish; exit; }

# The same columns of both stores, in the CSV's spelling: local time,
# inverter, PAC1, ETODAY, ETOTAL.
journal_rows() {
	sqlite3 -readonly -separator , "$JOURNAL" "SELECT datetime(usec / \
	    1000000, 'unixepoch', 'localtime'), inverter_sn, pac1, etoday, \
	    etotal FROM readings ORDER BY id" |
	    awk -F, -v OFS=, '{ print $1, $2, $3 + 0, $4 + 0, $5 + 0 }'
}
csv_file_rows() {
	awk -F, -v OFS=, 'NR > 1 { print substr($1, 1, 19), $2, $17 + 0, $22 + 0, $23 + 0 }' "$CSV"
}
same_rows() {
	journal_rows >"$T/j.rows"
	csv_file_rows >"$T/c.rows"
	cmp -s "$T/j.rows" "$T/c.rows"
}
log_lines() { grep -c ': 20[0-9][0-9]-.* W' "$T/relay.log"; }

N=200
# A CSV write per loop turn, not per reading: strace counts the writes
# to the CSV while 200 kits push, 20 at once.
if command -v strace >/dev/null 2>&1; then
	strace -f -e trace=write -o "$T/strace" -p "$RELAY_PID" 2>/dev/null &
	sp=$!
	_pids+=("$sp")
	sleep 0.5
fi
check "$N kits, 20 at once, are served" \
	in_kit "$KITSIM" -c "$N" -j 20 -t 30 "$PORTAL_IP:$PORT"
check "... every reading is journaled" \
	wait_for '[ "$(journal_count)" = '$N' ]' 10
check "... and in the CSV, once, in the journal's order" \
	wait_for same_rows 5
if [ -n "${sp:-}" ]; then
	sleep 0.3
	kill -INT "$sp" 2>/dev/null
	wait "$sp" 2>/dev/null
	fd=$(basename "$(find /proc/"$RELAY_PID"/fd -lname "$CSV" | head -n 1)")
	writes=$(grep -c "write($fd," "$T/strace")
	logw=$(grep -c 'write(2,' "$T/strace")
	check "the CSV took its $N lines in fewer writes ($writes)" \
		[ "$writes" -gt 0 -a "$writes" -lt "$N" ]
	check "the log took its lines in fewer writes ($logw)" \
		[ "$logw" -gt 0 -a "$logw" -lt "$N" ]
fi
check "each reading has its log line" [ "$(log_lines)" -eq "$N" ]

# Full in the middle: the journal (elsewhere) takes every reading, the
# CSV falls behind, then catches up from the journal once space returns.
dd if=/dev/zero of="$FS/fill" bs=4k 2>/dev/null
check "with the CSV's disk full, $N more kits are served" \
	in_kit "$KITSIM" -c "$N" --first "$N" -j 20 -t 30 "$PORTAL_IP:$PORT"
check "... all journaled" wait_for '[ "$(journal_count)" = '$((2 * N))' ]' 10
check "... the CSV's failure is logged" \
	grep -q 'output csv: write failed' "$T/relay.log"
before=$(csv_count "$CSV")
check "... and it is behind ($before lines)" [ "$before" -lt $((2 * N)) ]
rm -f "$FS/fill"
check "space back: the CSV catches up from the journal" \
	wait_for '[ "$(csv_count "$CSV")" -ge '$((2 * N))' ]' 15
check "... with every reading once, in the journal's order" same_rows
check "... and says so" grep -q 'output csv: caught up' "$T/relay.log"
check "a push after it is written directly again" \
	in_kit "$KITSIM" -c 5 --first $((2 * N)) -j 5 "$PORTAL_IP:$PORT"
check "... once" wait_for same_rows 5
check "every reading has its log line" \
	[ "$(log_lines)" -eq $((2 * N + 5)) ]
stop_relay TERM
check "the relay exits 0" [ "$RELAY_RC" -eq 0 ]
finish
