#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A kit's readings reach the outputs when its session is over, so that
# their writing does not lie between the kit's bytes going out and the
# portal's answer coming back (relay/defer.c). But never later than
# 100 ms after they came: a kit that keeps its connection open has its
# reading in the CSV and the journal while the connection still stands.
# The order stays the order they came in, whichever session ends first,
# a SIGHUP (logrotate) writes what waits to the file being rotated, and a
# relay told to stop writes what waits.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	skip_all "needs root"
fi
command -v python3 >/dev/null || skip_all "needs python3"
netns_up
redirect_up
data_dir "$T/data"
CSV="$T/data/r.csv"
start_portal - --quiet --reply-on-data \
    --reply 680f41f0f485d523f485d523444154412053454e44204953204f4bfc16
start_relay "$T/relay.log" --csv "$CSV" ||
	{ not_ok "relay starts"; cat "$T/relay.log"; finish; exit; }

# Pushes to send by hand, made against the portal itself (no relay in
# between: the portal's namespace has no redirect).
check "pushes to send by hand are made" \
	in_portal "$KITSIM" -c 6 --first 1000 --save "$T/push" \
	    "$PORTAL_IP:$PORT"
sn() { printf 'NLDN%06d000000' "$1"; }
in_csv() { grep -q ",$(sn "$1")," "$CSV" 2>/dev/null; }
line_of() { grep -n ",$(sn "$1")," "$CSV" | cut -d: -f1; }

# hold FILE SECONDS: send FILE's bytes, keep the connection open SECONDS
# (no FIN), then close and read to the end. "sent" once the bytes are out.
hold() {
	ip netns exec "$NS_KIT" python3 -c '
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.sendall(open(sys.argv[3], "rb").read())
print("sent", flush=True)
time.sleep(float(sys.argv[4]))
s.shutdown(socket.SHUT_WR)
s.settimeout(5)
try:
    while s.recv(4096):
        pass
except OSError:
    pass
' "$PORTAL_IP" "$PORT" "$1" "$2" >"$T/hold.$3" 2>&1 &
	HOLD_PID=$!
	_pids+=("$HOLD_PID")
	wait_for "grep -qs sent $T/hold.$3" 5
}

# 1. The connection stays open: the reading is written within the bound.
hold "$T/push/push-1000.bin" 4 a
t0=$(date +%s%N)
check "a kit that keeps its connection open: its reading is in the CSV" \
	wait_for 'in_csv 1000' 3
t1=$(date +%s%N)
check "... within a second of the push ($(( (t1 - t0) / 1000000 )) ms)" \
	[ $(( (t1 - t0) / 1000000 )) -lt 1000 ]
check "... and journaled" wait_for '[ "$(journal_count)" = 1 ]' 3
check "... while its connection is still open" kill -0 "$HOLD_PID"
check "... which then ends as it should" wait "$HOLD_PID"
check "... its reading once" [ "$(grep -c ",$(sn 1000)," "$CSV")" = 1 ]

# 2. A reading that waits for an open session, then another session that
# comes and goes at once: the first one is still written first.
hold "$T/push/push-1001.bin" 3 b
check "a second kit pushes and closes while the first one holds" \
	in_kit "$KITSIM" -c 1 --first 1002 "$PORTAL_IP:$PORT"
check "... both readings are in the CSV" \
	wait_for 'in_csv 1001 && in_csv 1002' 3
check "... in the order they came" \
	[ "$(line_of 1001)" -lt "$(line_of 1002)" ]
wait "$HOLD_PID"
check "... and in the journal in that order" \
	[ "$(sqlite3 "$JOURNAL" "SELECT group_concat(inverter_sn) FROM \
	    (SELECT inverter_sn FROM readings WHERE inverter_sn IN \
	    ('$(sn 1001)', '$(sn 1002)') ORDER BY id)")" = \
	    "$(sn 1001),$(sn 1002)" ]

# 3. SIGHUP while a reading waits: logrotate has moved the CSV, and the
# reading came before the signal, so it belongs to the moved file. The kit
# sends the signal itself once the portal's answer is back: by then the
# relay has its reading, and it has not been 100 ms.
mv "$CSV" "$CSV.1"
ip netns exec "$NS_KIT" python3 -c '
import os, signal, socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.sendall(open(sys.argv[3], "rb").read())
s.recv(1)
os.kill(int(sys.argv[4]), signal.SIGHUP)
print("hup", flush=True)
time.sleep(1)
s.close()
' "$PORTAL_IP" "$PORT" "$T/push/push-1004.bin" "$RELAY_PID" >"$T/hold.d" 2>&1
check "SIGHUP sent while a reading waits" grep -q hup "$T/hold.d"
check "... the relay reopens the CSV" wait_for '[ -s "$CSV" ]' 5
check "... the reading is in the file it had open at the SIGHUP" \
	wait_for 'grep -q ",$(sn 1004)," "$CSV.1"' 3
check "... and not in the new one" eval '! grep -q ",$(sn 1004)," "$CSV"'
cat "$CSV.1" >"$CSV.all"

# 4. A good frame, then a corrupt one, in one session: the reading is
# held, the reject is not, and yet the log says them in that order.
perl -e 'local $/; my $f = <>; my $bad = $f; substr($bad, 40, 1) ^= "\x01";
    print $f, $bad' "$T/push/push-1005.bin" >"$T/goodbad.bin"
check "a push of a good and a corrupt frame is forwarded" \
	in_kit "$KITSIM" --raw "$T/goodbad.bin" "$PORTAL_IP:$PORT"
check "... both are logged" \
	wait_for "grep -q '$(sn 1005) kit' $T/relay.log &&
	    grep -q 'from kit: .* rejected' $T/relay.log" 3
check "... the reading before the reject, as they came" \
	[ "$(grep -n "$(sn 1005) kit" "$T/relay.log" | cut -d: -f1)" -lt \
	    "$(grep -n 'from kit: .* rejected' "$T/relay.log" | cut -d: -f1)" ]

# 5. Told to stop while a reading waits for an open session.
hold "$T/push/push-1003.bin" 10 c
stop_relay TERM
check "stopped while a kit holds its connection: the relay exits 0" \
	[ "$RELAY_RC" -eq 0 ]
check "... and its reading is in the CSV, once" \
	[ "$(grep -c ",$(sn 1003)," "$CSV")" = 1 ]
check "... and in the journal" \
	[ "$(sqlite3 "$JOURNAL" "SELECT count(*) FROM readings WHERE \
	    inverter_sn = '$(sn 1003)'")" = 1 ]
grep -v '^dateTime,' "$CSV" >>"$CSV.all"
check "every reading once in the CSVs" [ "$(csv_count "$CSV.all")" = 6 ]
finish
