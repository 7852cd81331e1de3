#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Forwarding never waits for standard output. "--csv -" hands the CSV to
# whatever reads the relay's standard output: a pipeline's next program,
# or (under systemd) the journal's socket. When that reader stops, the
# pushes must go on: the lines that do not fit the relay's bounded queue
# are dropped whole and counted (the journal has every reading), and the
# count is logged. Once the reader is back, the lines flow again.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	skip_all "needs root"
fi
command -v python3 >/dev/null || skip_all "needs python3"
netns_up
redirect_up
data_dir "$T/data"
start_portal - --quiet
mkdir -p "$T/journal"
chown nobody "$T/journal"

# stalled KIND: the relay's stdout a KIND ("--pipe" or "" for a socket)
# that nothing reads for 20 s, while 3,000 kits push (up to 600 KiB of
# CSV, far past what the pipe or the socket holds).
stalled() {
	local kind=$1 name=$2 out="$T/out$1.csv" db="$T/journal/j$1.db" pid
	rm -f "$out" "$db"
	ip netns exec "$NS_R" python3 "$TOP/tests/relay/stall.py" --stdout \
	    $kind "$out" 20 "$RELAY" -f -u nobody --db "$db" --csv - \
	    --allow-clients "$RELAY_CLIENTS" >"$T/stall$kind.out" \
	    2>"$T/relay$kind.log" &
	_pids+=("$!")
	wait_for "grep -qs '^pid ' $T/stall$kind.out" 5
	pid=$(sed -n 's/^pid //p' "$T/stall$kind.out")
	_pids+=("$pid")
	wait_for "in_kit $KITSIM -t 2 --first 1 $PORTAL_IP:$PORT >/dev/null 2>&1" \
	    10 || { not_ok "$name: relay serves"; return; }
	check "$name: 3000 pushes complete while nothing reads the CSV" \
	    in_kit timeout 15 "$KITSIM" -c 3000 -j 20 -t 5 --first 10 \
	    "$PORTAL_IP:$PORT"
	check "$name: ... every reading in the journal" \
	    wait_for "[ \"\$(sqlite3 $db 'SELECT count(*) FROM readings')\" -ge 3001 ]" 10
	# The reader is back: a later push's line reaches it.
	wait_for "[ -s $out ]" 30
	in_kit "$KITSIM" --first 20000 "$PORTAL_IP:$PORT" >/dev/null 2>&1
	check "$name: the reader gets the lines again" \
	    wait_for "grep -q NLDN020000 $out" 10
	kill -TERM "$pid"
	wait_for "! kill -0 $pid 2>/dev/null" 10
	check "$name: the log says lines were dropped" \
	    grep -Eq 'standard output: [0-9]+ lines? dropped' "$T/relay$kind.log"
	# ... and how many: with the lines that came, every reading.
	local j c d
	j=$(sqlite3 "$db" 'SELECT count(*) FROM readings')
	c=$(csv_count "$out")
	d=$(sed -n 's/.*standard output: read again; \([0-9]*\) CSV line.*/\1/p' \
	    "$T/relay$kind.log" | awk '{ s += $1 } END { print s + 0 }')
	check "$name: ... exactly the lines missing ($c came + $d dropped = $j readings)" \
	    [ $((c + d)) -eq "$j" -a "$d" -gt 0 ]
	check "$name: every line that came is whole (the header, then 29 fields)" \
	    awk -F, 'NR == 1 { bad = $0 !~ /^dateTime,/; next }
	    NF != 29 || $1 !~ /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] / { bad = 1 }
	    END { exit bad }' "$out"
}
stalled --pipe "a pipe"
stalled "" "a socket"
finish
