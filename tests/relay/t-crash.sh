#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Crashes and rotations: kill -9 under traffic leaves whole CSV lines (the
# last perhaps cut, trimmed at the next start) and a restart serves again; SIGHUP after the CSV was moved away starts a
# new file and loses nothing; SIGTERM lets a push in progress finish and
# exits within drain_timeout.
. "$(dirname "$0")/lib.sh"

netns_up
redirect_up
data_dir "$T/data"
CSV="$T/data/relay.csv"
start_portal "$T/portal" --quiet
printf '[relay]\ndrain_timeout = 3\n' >"$T/relay.conf"
start_relay "$T/relay.log" -c "$T/relay.conf" --csv "$CSV" ||
	{ not_ok "relay starts"; cat "$T/relay.log"; finish; exit; }

whole_lines() {	# every line ends in \n and has the header's 29 columns
	[ "$(tail -c 1 "$1" | od -An -tx1 | tr -d ' ')" = "0a" ] &&
	[ "$(awk -F, 'NF != 29' "$1" | wc -l)" -eq 0 ]
}
# Whole lines but for the last, which SIGKILL may have cut where the
# write crossed a page of the file (one line a write or a turn's lines
# alike): the next start trims it.
whole_but_last() {
	head -n -1 "$1" >"$T/head.csv"
	[ "$(awk -F, 'NF != 29' "$T/head.csv" | wc -l)" -eq 0 ]
}
complete_lines() { echo $(($(tr -cd '\n' <"$1" | wc -c) - 1)); }	# header

# kill -9 while 20 kits push at once.
ip netns exec "$NS_KIT" "$KITSIM" -c 5000 -j 20 -i 3 -t 2 "$PORTAL_IP:$PORT" \
	>/dev/null 2>&1 &
load=$!
_pids+=("$load")
wait_for "[ \$(csv_count $CSV) -ge 300 ]" 20
stop_relay KILL
kill "$load" 2>/dev/null; wait "$load" 2>/dev/null
n=$(complete_lines "$CSV")
check "kill -9 under traffic: $n readings, whole lines but at most the last" \
	whole_but_last "$CSV"
start_relay "$T/relay2.log" -c "$T/relay.conf" --csv "$CSV" ||
	{ not_ok "relay restarts"; cat "$T/relay2.log"; finish; exit; }
check "after a restart a kit is served" in_kit "$KITSIM" -i 2 "$PORTAL_IP:$PORT"
check "... and its readings are appended" csv_has "$CSV" $((n + 2))
check "... still only whole lines" whole_lines "$CSV"

# SIGHUP after logrotate moved the file, with pushes going on.
before=$(csv_count "$CSV")
ip netns exec "$NS_KIT" "$KITSIM" -s 700000001 -c 400 -j 4 -r 200 "$PORTAL_IP:$PORT" \
	>"$T/load.out" 2>&1 &
load=$!
_pids+=("$load")
wait_for "[ \$(csv_count $CSV) -ge $((before + 100)) ]" 10
mv "$CSV" "$CSV.1"
sleep 0.2
kill -HUP "$RELAY_PID"
check "400 pushes across the rotation complete" wait "$load"
wait_for "[ \$(( \$(csv_count $CSV.1) + \$(csv_count $CSV) )) -ge $((before + 400)) ]" 5
old=$(csv_count "$CSV.1")
new=$(csv_count "$CSV")
check "SIGHUP started a new file with the header" eval 'head -n 1 "$CSV" | grep -q "^dateTime,"'
check "both files hold readings ($((old - before)) + $new)" [ "$old" -gt "$before" -a "$new" -gt 0 ]
check "nothing lost: $((old - before)) + $new = 400" [ $((old - before + new)) -eq 400 ]
check "no reading twice" \
	[ "$(csv_rows "$CSV.1" "$CSV" | grep ',700000001,' | uniq -d | wc -l)" -eq 0 ]

# An output that fails disturbs nothing else: the CSV cannot be reopened
# (its directory is read-only), forwarding and the log go on.
chmod 555 "$T/data"
mv "$CSV" "$CSV.2"
kill -HUP "$RELAY_PID"
wait_for "grep -q 'output csv: reopen failed' $T/relay2.log" 5
check "a CSV that cannot be reopened is reported" grep -q "output csv: reopen failed" "$T/relay2.log"
check "20 pushes meanwhile complete" \
	in_kit "$KITSIM" -s 700000002 -c 20 -j 5 --save "$T/kfail" "$PORTAL_IP:$PORT"
wait_for "[ \$(grep -c ' kit 700000002: ' $T/relay2.log) -ge 20 ]" 5
check "... their 20 readings are in the log" \
	[ "$(grep -c ' kit 700000002: ' "$T/relay2.log")" -eq 20 ]
check "... and the portal got each of them, unchanged" \
	eval '[ -z "$(comm -23 <(hashes "$T"/kfail/push-*.bin) <(hashes "$T"/portal/conn-*.bin))" ]'
check "... the failure is logged once, not per reading" \
	[ "$(grep -c 'output csv: write failed' "$T/relay2.log")" -le 1 ]
chmod 755 "$T/data"
kill -HUP "$RELAY_PID"
wait_for "[ -f $CSV ]" 5
# The CSV fell behind the journal: the 20 readings it missed come first.
check "once writable again, SIGHUP resumes the CSV, the 20 it missed first" \
	eval 'in_kit "$KITSIM" -s 700000003 "$PORTAL_IP:$PORT" && csv_has "$CSV" 21 &&
	    [ "$(grep -v "^dateTime," "$CSV" | head -n 20 | grep -c ",700000002,")" -eq 20 ]'

# SIGTERM with a push in progress (1.5 s) and an idle connection.
before=$(csv_count "$CSV")
ip netns exec "$NS_KIT" "$KITSIM" --idle 1 "$PORTAL_IP:$PORT" >/dev/null 2>&1 &
_pids+=("$!")
ip netns exec "$NS_KIT" "$KITSIM" -i 3 --split 30 --delay 100 "$PORTAL_IP:$PORT" \
	>/dev/null 2>&1 &
slow=$!
sleep 0.5
t0=$SECONDS
kill -TERM "$RELAY_PID"
sleep 0.3
in_kit "$KITSIM" -t 2 "$PORTAL_IP:$PORT" >/dev/null 2>&1
check "after SIGTERM no new connection is accepted" [ $? -ne 0 ]
check "the push in progress completes" wait "$slow"
stop_relay TERM
check "its 3 readings are in the CSV" csv_has "$CSV" $((before + 3))
check "the relay exited 0 within drain_timeout (3 s) + 1 ($((SECONDS - t0)) s)" \
	[ "$RELAY_RC" -eq 0 -a $((SECONDS - t0)) -le 4 ]
check "exit statistics were logged" grep -q "stats (exit)" "$T/relay2.log"
finish
