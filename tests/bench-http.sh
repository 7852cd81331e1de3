#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The status page's cost to the capture path, in the test namespaces
# (tests/relay/lib.sh), with a plain build (B=build by default): 2,000
# kit pushes through the relay, 20 at a time, (1) with nobody on [http],
# (2) while 32 keep-alive clients fetch /metrics, / and /status.json as
# fast as they can, (3) while 500 slow clients trickle headers. Prints
# pushes/s and latency p50/p99 for each, and the pages served.
#
# Usage: tests/bench-http.sh [BUILD_DIR]   (as root; about a minute)
B=${1:-${B:-build}}
TEST_LIMIT=300
. "$(dirname "$0")/relay/lib.sh"
PFX="hpb$$"
NS_KIT="$PFX-kit"
NS_R="$PFX-router"
NS_P="$PFX-portal"
HP=18080

netns_up
redirect_up
start_portal - --quiet || { echo "bench-http: portal does not start" >&2; exit 1; }
# A day in the journal, so that the pages read something.
mkdir -p "$T/journal"
printf '[omniklog]\ndb = %s\n' "$JOURNAL" >"$T/feed.conf"
"$B/tests/omk-feed" -c "$T/feed.conf" --count 288 \
	--start "$(date -d 'today 00:00' +%s)" --step 300 --flush 5 >/dev/null
chown -R nobody "$T/journal"
printf '[http]\nlisten = 127.0.0.1:%s\n' "$HP" >"$T/relay.conf"
start_relay "$T/relay.log" -c "$T/relay.conf" ||
	{ echo "bench-http: relay does not start" >&2; cat "$T/relay.log"; exit 1; }

push() {	# push LABEL: 2,000 pushes, 20 at a time
	local s
	s=$(in_kit "$KITSIM" -c 2000 -j 20 --stats "$PORTAL_IP:$PORT" 2>&1 | tail -1)
	echo "$1: $s"
}
scrapers() {	# 32 keep-alive clients for $1 seconds; prints pages served
	in_router python3 - "$HP" "$1" <<'PY'
import http.client, sys, threading, time
port, secs = int(sys.argv[1]), float(sys.argv[2])
end = time.time() + secs
count = [0] * 32
def run(i):
    paths = ["/metrics", "/", "/status.json"]
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    while time.time() < end:
        try:
            c.request("GET", paths[count[i] % 3])
            c.getresponse().read()
            count[i] += 1
        except Exception:
            c.close()
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
ts = [threading.Thread(target=run, args=(i,)) for i in range(32)]
[t.start() for t in ts]
[t.join() for t in ts]
print("pages served %d in %.0f s (%.0f/s)" % (sum(count), secs, sum(count) / secs))
PY
}

push "no HTTP clients        "
scrapers 15 >"$T/scrape.out" &
sp=$!
sleep 1
push "32 scrapers as fast as they can"
wait "$sp"
echo "#   $(cat "$T/scrape.out")"
in_router python3 "$TOP/tests/relay/hold.py" 127.0.0.1:$HP 127.0.0.1 500 15 \
	--drip 0.5 --attempts 5000 >"$T/hold.log" 2>&1 &
hp=$!
_pids+=("$hp")
sleep 2
push "500 slow clients       "
wait "$hp"
echo "#   slow clients: $(tail -1 "$T/hold.log")"
stop_relay TERM
