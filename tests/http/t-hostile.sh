#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# [http] on a LAN address against a hostile neighbour (the kit's side):
# what a client can make the relay hold or spend, while the kits' pushes
# go through.
TEST_LIMIT=120
. "$(dirname "$0")/../relay/lib.sh"

PFX="hhttp$$"
NS_KIT="$PFX-kit"
NS_R="$PFX-router"
NS_P="$PFX-portal"
HP=18090
HADDR="$R_KIT_IP:$HP"

netns_up
redirect_up
start_portal "$T/portal" || { not_ok "portal starts"; finish; exit; }
cat >"$T/relay.conf" <<EOC
[http]
listen = $HADDR
allow_remote = yes
timeout = 2
max_connections = 16
EOC
start_relay "$T/relay.log" -c "$T/relay.conf" ||
	{ not_ok "relay starts"; cat "$T/relay.log"; finish; exit; }
in_kit "$KITSIM" -c 2 "$PORTAL_IP:$PORT" >/dev/null 2>&1
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$RELAY_PID/status"; }

# ---- pipelined requests, answers never read: the relay takes in a
# request's worth and stops reading (the kernel's buffers hold the rest),
# however much the client sends.
rss0=$(rss)
out=$(in_kit timeout 30 python3 "$TOP/tests/http/pipeline.py" "$HADDR" \
    5000 $((256 << 20)) 10)
rss1=$(rss)
sent=$(awk '{ print $2 }' <<<"$out")
echo "# pipelined, unread: $out; relay RSS ${rss0} kB -> ${rss1} kB"
check "a client that never reads its answers gets the relay to take in under 32 MB ($((${sent:-0} >> 20)) MB)" \
	test "${sent:-0}" -gt 0 -a "${sent:-0}" -lt $((32 << 20))
check "and the relay's memory grows under 64 MB ($(( (${rss1:-0} - ${rss0:-0}) >> 10 )) MB)" \
	[ $(( ${rss1:-0} - ${rss0:-0} )) -lt $((64 << 10)) ]
check "the relay still runs" kill -0 "$RELAY_PID"
# The same, the client holding its end: the deadline still ends it
# (the relay not reading it any more).
socks() { ls -l "/proc/$RELAY_PID/fd" | grep -c socket; }
s0=$(socks)
in_kit timeout 30 python3 "$TOP/tests/http/pipeline.py" "$HADDR" \
    5000 $((64 << 20)) 10 /metrics 6 >"$T/hold.out" &
hold=$!
_pids+=("$hold")
wait_for "[ -s $T/hold.out ]" 15
s1=$(socks)
wait_for "[ \"\$(socks)\" -le $s0 ]" 5
s2=$(socks)
check "and once its deadline passes its socket is closed, the client still there ($s0 -> $s1 -> $s2 sockets)" \
	test "$s1" -gt "$s0" -a "$s2" -le "$s0" -a -d "/proc/$hold"
wait "$hold" 2>/dev/null
in_kit "$KITSIM" -c 5 --stats "$PORTAL_IP:$PORT" >"$T/kitsim.stats" 2>&1
check "and forwards pushes" grep -q 'ok 5 failed 0' "$T/kitsim.stats"

# ---- HEAD then GET on one connection: HEAD's answer is headers only
# (with the page's Content-Length), so the GET's is the next thing read.
sleep 1.1	# past the page cache: HEAD makes the page the GET is sent
out=$(in_kit timeout 10 python3 - "$HADDR" <<'EOP'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)))
s.settimeout(3)
s.sendall(b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
          b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
buf = b""
try:
    while len(buf) < 1 << 20:
        d = s.recv(65536)
        if not d:
            break
        buf += d
except OSError:
    pass
head, _, rest = buf.partition(b"\r\n\r\n")
cl = [l.split(b":", 1)[1].strip() for l in head.split(b"\r\n")
      if l.lower().startswith(b"content-length:")]
get_head, _, body = rest.partition(b"\r\n\r\n")
print("head_cl=%s body=%d next=%r" % (cl[0].decode() if cl else "none",
      len(body), rest.split(b"\r\n", 1)[0][:40].decode("latin-1")))
EOP
)
echo "# HEAD, GET: $out"
check "after HEAD's headers the GET's status line follows ($out)" \
	grep -q "next='HTTP/1.1 200 OK'" <<<"$out"
check "HEAD says the page's length" \
	awk -v o="$out" 'BEGIN { split(o, f, /[ =]/); exit !(f[2] > 0 && f[2] == f[4]) }'

# ---- keep-alive for ever: a request every half second, each answered
# well within the timeout, would hold a connection (one of
# max_connections) as long as the client likes; it is closed after a
# minute's worth of timeouts (6 x 2 s here).
out=$(in_kit timeout 40 python3 - "$HADDR" <<'EOP'
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)))
s.settimeout(3)
t0, n = time.time(), 0
req = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
while n < 60 and time.time() - t0 < 35:
    try:
        s.sendall(req)
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d:
                raise OSError("closed")
            buf += d
        head, _, body = buf.partition(b"\r\n\r\n")
        cl = [int(l.split(b":", 1)[1]) for l in head.split(b"\r\n")
              if l.lower().startswith(b"content-length:")][0]
        while len(body) < cl:
            d = s.recv(65536)
            if not d:
                raise OSError("closed")
            body += d
    except OSError:
        break
    n += 1
    time.sleep(0.5)
print("answered %d in %.1f s" % (n, time.time() - t0))
EOP
)
secs=$(awk '{ print $4 }' <<<"$out")
check "a connection kept busy is closed within 6 timeouts and one more ($out)" \
	awk -v t="$secs" 'BEGIN { exit !(t != "" && t >= 10 && t < 15) }'

stop_relay TERM
check "SIGTERM: the relay exits 0" [ "$RELAY_RC" -eq 0 ]
check "no sanitizer report" sh -c "! grep -q 'Sanitizer' '$T/relay.log'"
finish
