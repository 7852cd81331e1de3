#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# [http] when the descriptors run out (a relay under a low RLIMIT_NOFILE,
# max_connections above what is left, a LAN neighbour opening them all):
# accept fails with EMFILE while the listening socket stays readable;
# the server must wait, not try again at once for ever and spin the
# relay's loop.
. "$(dirname "$0")/../relay/lib.sh"

PFX="hhttp$$"
NS_KIT="$PFX-kit"
NS_R="$PFX-router"
NS_P="$PFX-portal"
HP=18093
HADDR="$R_KIT_IP:$HP"
command -v prlimit >/dev/null || skip_all "prlimit missing (util-linux)"

netns_up
redirect_up
start_portal "$T/portal" || { not_ok "portal starts"; finish; exit; }
printf '[http]\nlisten = %s\nallow_remote = yes\nmax_connections = 200\ntimeout = 6\n' \
	"$HADDR" >"$T/relay.conf"
printf '#!/bin/sh\nexec prlimit --nofile=128:128 %s "$@"\n' "$RELAY" >"$T/relay-128"
chmod 755 "$T/relay-128"
RELAY="$T/relay-128"
start_relay "$T/relay.log" -c "$T/relay.conf" ||
	{ not_ok "relay starts"; cat "$T/relay.log"; finish; exit; }

in_kit timeout 20 python3 - "$HADDR" >"$T/opener.out" 2>&1 <<'EOP' &
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
held = []
for _ in range(150):
    try:
        held.append(socket.create_connection((host, int(port)), timeout=1))
    except OSError:
        pass
print("opened %d" % len(held), flush=True)
time.sleep(5)
EOP
opener=$!
_pids+=("$opener")
wait_for "grep -q opened $T/opener.out" 15
sleep 0.5
fds=$(ls "/proc/$RELAY_PID/fd" | wc -l)
ticks() { awk '{ print $14 + $15 }' "/proc/$RELAY_PID/stat"; }
t1=$(ticks)
sleep 2
t2=$(ticks)
hz=$(getconf CLK_TCK)
echo "# $(cat "$T/opener.out"); the relay has $fds descriptors; CPU $((t2 - t1)) ticks in 2 s"
check "out of descriptors, the relay does not spin (CPU $(( (t2 - t1) * 100 / (2 * hz) ))% over 2 s)" \
	test $((t2 - t1)) -lt $((2 * hz / 5)) -a "$fds" -ge 120
wait "$opener" 2>/dev/null
wait_for "[ \$(ls /proc/$RELAY_PID/fd | wc -l) -lt 64 ]" 10
code=$(in_kit curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$HADDR/metrics")
check "once they are gone /metrics answers again ($code)" test "$code" = 200
in_kit "$KITSIM" -c 5 --stats "$PORTAL_IP:$PORT" >"$T/kitsim.stats" 2>&1
check "and the kits' pushes go through" grep -q 'ok 5 failed 0' "$T/kitsim.stats"
stop_relay TERM
check "SIGTERM: the relay exits 0" [ "$RELAY_RC" -eq 0 ]
check "no sanitizer report" sh -c "! grep -q 'Sanitizer' '$T/relay.log'"
finish
