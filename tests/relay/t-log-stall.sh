#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Forwarding never waits for the log. Under systemd the relay's stderr is
# a socket to journald; in a container or a shell pipeline it is a pipe.
# A reader that stops reading (a hung journald, a stuck pipeline) must
# not stop the kits' pushes when the buffers fill. Lines that find them
# full are dropped whole and counted, and the count is logged once lines
# go through again.
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
# stalled KIND NAME: the relay's stderr a socket (""), a pipe ("--pipe")
# or a named pipe ("--fifo")
# that nothing reads for 20 s (up to 3,000 pushes' lines, well past what
# the buffers hold).
stalled() {
	local kind=$1 name=$2 as=${3:-} tag=$1${3:+-$3}
	local log="$T/relay$tag.log" CSV="$T/data/r$tag.csv"
	ip netns exec "$NS_R" python3 "$TOP/tests/relay/stall.py" $kind \
	    "$log" 20 ${as:+setpriv --reuid=$as --regid=nogroup --clear-groups} \
	    "$RELAY" -f -u nobody --db "$T/journal/j$tag.db" \
	    --csv "$CSV" --allow-clients "$RELAY_CLIENTS" >"$T/stall$tag.out" 2>&1 &
	_pids+=("$!")
	wait_for "grep -qs '^pid ' $T/stall$tag.out" 5
	RELAY_PID=$(sed -n 's/^pid //p' "$T/stall$tag.out")
	_pids+=("$RELAY_PID")
	wait_for "in_kit $KITSIM -t 2 --first 1 $PORTAL_IP:$PORT >/dev/null 2>&1" 10 ||
		{ not_ok "$name: relay serves"; return; }

	check "$name: 3000 pushes complete while nothing reads the relay's log" \
		in_kit timeout 15 "$KITSIM" -c 3000 -j 20 -t 5 --first 10 \
		    "$PORTAL_IP:$PORT"
	check "$name: ... every reading in the CSV" csv_has "$CSV" 3001
	# Once the log is read again, the next lines say how many were lost.
	wait_for "[ -s $log ]" 30
	in_kit "$KITSIM" --first 20000 "$PORTAL_IP:$PORT" >/dev/null 2>&1
	kill -TERM "$RELAY_PID"
	wait_for "! kill -0 $RELAY_PID 2>/dev/null" 10
	check "$name: the log says how many lines it dropped" \
		grep -Eq 'log: [0-9]+ lines? dropped' "$log"
	# ... and a count that, with the reading lines that came, covers
	# every reading (the few other lines dropped may add to it).
	local r d c
	r=$(grep -c ' NLDN[0-9]* kit ' "$log")
	d=$(sed -n 's/.*log: \([0-9]*\) lines\{0,1\} dropped.*/\1/p' "$log" |
	    awk '{ s += $1 } END { print s + 0 }')
	c=$(csv_count "$CSV")
	check "$name: ... the count adds up ($r came + $d dropped, $c readings)" \
	    [ $((r + d)) -ge "$c" -a $((r + d)) -le $((c + 50)) -a "$d" -gt 0 ]
	check "$name: ... and every line in it is whole" \
		eval "! grep -av '^omnik-relay: ' '$log' | grep -q ."
	check "$name: ... the last push's reading among them" grep -q 'NLDN020000' "$log"
}
stalled "" "a socket"
stalled --pipe "a pipe"
stalled --fifo "a named pipe"
# Started as a user that may not open root's pipe anew (O_NONBLOCK on a
# description of its own): an anonymous pipe is written with RWF_NOWAIT,
# a named pipe (bash's 2> >(...) is one), which refuses that flag, by
# the log's own thread.
if command -v setpriv >/dev/null; then
	stalled --pipe "a pipe, started as nobody" nobody
	stalled --fifo "a named pipe, started as nobody" nobody
fi
finish
