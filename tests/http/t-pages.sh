#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# [http] with the biggest pages there can be (16 inverters, 2,880
# readings each today, some 600 kB of JSON) and a LAN neighbour that
# asks for one on every connection it may open and never reads: what the
# relay holds for them.
. "$(dirname "$0")/../relay/lib.sh"

PFX="hhttp$$"
NS_KIT="$PFX-kit"
NS_R="$PFX-router"
NS_P="$PFX-portal"
HP=18092
HADDR="$R_KIT_IP:$HP"
NCONN=64

# A day of readings 30 s or less apart makes E today grow faster than
# one phase can early in the day (invstate refuses that), whatever the
# time of this run: the relay and the feed run where it is about noon,
# readings some 15 s apart with E today growing 10 Wh each.
export TZ="NOON$(( $(date -u +%-H) - 12 ))"
netns_up
redirect_up
start_portal - --quiet || { not_ok "portal starts"; finish; exit; }
mkdir -p "$T/journal"
printf '[omniklog]\ndb = %s\n' "$JOURNAL" >"$T/feed.conf"
mid=$(date -d 'today 00:00' +%s)
step=$(( ($(date +%s) - mid - 60) / 2880 ))
[ "$step" -ge 3 ] || skip_all "too close to midnight for a day of readings"
check "omk-feed writes 16 inverters' day into the journal" \
	"$B/tests/omk-feed" -c "$T/feed.conf" --count 2880 --inverters 16 \
	    --start "$mid" --step "$step" --etoday-step 1 --flush 100
check "... none of it refused" \
	[ "$(sqlite3 "$JOURNAL" 'SELECT count(*) FROM readings')" -eq $((16 * 2880)) ]
chown -R nobody "$T/journal"
printf '[http]\nlisten = %s\nallow_remote = yes\nmax_connections = %d\ntimeout = 10\n' \
	"$HADDR" "$NCONN" >"$T/relay.conf"
start_relay "$T/relay.log" -c "$T/relay.conf" ||
	{ not_ok "relay starts"; cat "$T/relay.log"; finish; exit; }
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$RELAY_PID/status"; }
size=$(in_kit curl -s -o /dev/null -w '%{size_download}' --max-time 10 \
	"http://$HADDR/status.json")
rss0=$(rss)
echo "# /status.json: $size bytes"

# One process opens them all, within the page's second in the cache:
# one page made, whatever it costs is the answers'.
in_kit timeout 30 python3 - "$HADDR" "$NCONN" >"$T/holders.out" 2>&1 <<'EOP' &
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
held = []
for _ in range(int(sys.argv[2])):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((host, int(port)))
    s.sendall(b"GET /status.json HTTP/1.1\r\nHost: x\r\n\r\n")
    held.append(s)
print("holding %d" % len(held), flush=True)
time.sleep(8)
EOP
holders=($!)
_pids+=($!)
wait_for "grep -q holding $T/holders.out" 10
sleep 1
rss1=$(rss)
grow=$(( (rss1 - rss0) >> 10 ))
echo "# $NCONN clients not reading /status.json: relay RSS ${rss0} kB -> ${rss1} kB"
check "$NCONN clients not reading a ${size}-byte page cost the relay under 8 MB ($grow MB)" \
	test "$size" -gt 500000 -a "$grow" -lt 8
check "the relay still runs" kill -0 "$RELAY_PID"
# Stopped while their answers are still held: the page is freed with
# its last reference (the sanitizer's leak check is on for the relay).
stop_relay TERM
check "SIGTERM with the answers pending: the relay exits 0" [ "$RELAY_RC" -eq 0 ]
check "no sanitizer report" sh -c "! grep -q 'Sanitizer' '$T/relay.log'"
for p in "${holders[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
finish
