#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# evhttp (libevent_extra) is loaded only when [http] is on: a relay and a
# sniffer without it do not map the library at all (an idle relay's
# memory), and a relay with it maps it and serves the status page and
# /status.json.
. "$(dirname "$0")/../relay/lib.sh"

PFX="hl$$"
NS_KIT="$PFX-kit"
NS_R="$PFX-router"
NS_P="$PFX-portal"
HP=18081
netns_up
redirect_up
start_portal "$T/portal" || { not_ok "portal starts"; finish; exit; }
data_dir "$T/data"

# mapped PID: the file names of libevent_extra in its address space.
mapped() { grep -o '/[^ ]*libevent_extra[^ ]*' "/proc/$1/maps" | sort -u; }

start_relay "$T/off.log" --csv "$T/data/off.csv" ||
	{ not_ok "relay without [http] starts"; cat "$T/off.log"; finish; exit; }
check "relay without [http]: libevent_extra is not mapped" \
	test -z "$(mapped "$RELAY_PID")"
in_kit "$KITSIM" "$PORTAL_IP:$PORT" >"$T/kit-off.out" 2>&1
check "relay without [http]: a push is journaled" \
	wait_for '[ "$(journal_count)" = 1 ]' 10
check "still not mapped after a push" test -z "$(mapped "$RELAY_PID")"
stop_relay
check "relay without [http] exits 0" test "$RELAY_RC" = 0

# The sniffer on the same skeleton, reading a stream from a FIFO so that
# it stays up while we look.
mkfifo "$T/stream"
"$SNIFF" -u '' --stream "$T/stream" --csv "$T/data/sniff.csv" \
	>"$T/sniff.log" 2>&1 &
SNIFF_PID=$!
_pids+=("$SNIFF_PID")
exec 7>"$T/stream"
check "sniffer without [http] runs" \
	wait_for "grep -q libevent_core /proc/$SNIFF_PID/maps 2>/dev/null" 10
check "sniffer without [http]: libevent_extra is not mapped" \
	test -z "$(mapped "$SNIFF_PID")"
exec 7>&-
wait "$SNIFF_PID"
check "sniffer exits 0 at the stream's end" test $? = 0

start_relay "$T/on.log" --csv "$T/data/on.csv" --http "127.0.0.1:$HP" ||
	{ not_ok "relay with [http] starts"; cat "$T/on.log"; finish; exit; }
check "relay with [http]: libevent_extra is mapped" \
	test -n "$(mapped "$RELAY_PID")"
in_kit "$KITSIM" "$PORTAL_IP:$PORT" >"$T/kit-on.out" 2>&1
check "relay with [http]: the push is journaled" \
	wait_for '[ "$(journal_count)" = 2 ]' 10
code=$(in_router curl -s -o "$T/page.html" -w '%{http_code}' \
	"http://127.0.0.1:$HP/")
check "the status page answers 200 (got $code)" test "$code" = 200
check "the page names the relay" grep -q 'omnik-relay' "$T/page.html"
in_router curl -s -o "$T/status.json" "http://127.0.0.1:$HP/status.json"
check "/status.json counts today's two readings in the journal" \
	grep -q '"readings_today":2,' "$T/status.json"
stop_relay
check "relay with [http] exits 0" test "$RELAY_RC" = 0

# The library missing (an empty file over it, in a mount namespace of
# the relay's own): with [http] the start fails saying what to install;
# without, the relay neither needs nor notices it.
LIBX=$(ldconfig -p | awk '$1 == "libevent_extra-2.1.so.7" { print $NF; exit }')
LIBX=$(readlink -f "$LIBX")
: >"$T/empty"
HIDDEN=(unshare -m --propagation private sh -c
    "mount --bind $T/empty $LIBX && exec \"\$@\"" sh)
if [ -f "$LIBX" ] && in_router unshare -m true 2>/dev/null; then
	out=$(in_router "${HIDDEN[@]}" timeout 20 "$RELAY" -f -u '' --db "$JOURNAL" \
	    --allow-clients "$RELAY_CLIENTS" --http "127.0.0.1:$HP" 2>&1)
	rc=$?
	check "libevent_extra missing, --http: exit 1 (got $rc)" test "$rc" = 1
	check "the error names the library and the package" grep -qF \
	    "[http]: cannot load libevent_extra-2.1.so.7: " <<<"$out"
	check "and the package to install" grep -qF \
	    "(install the libevent-extra-2.1-7 package)" <<<"$out"
	ip netns exec "$NS_R" "${HIDDEN[@]}" \
	    "$RELAY" -f -u '' --db "$JOURNAL" --allow-clients "$RELAY_CLIENTS" \
	    >"$T/hidden.log" 2>&1 &
	RELAY_PID=$!
	_pids+=("$RELAY_PID")
	check "libevent_extra missing, no [http]: the relay starts" \
		wait_for "grep -qs 'started:' $T/hidden.log" 10
	in_kit "$KITSIM" "$PORTAL_IP:$PORT" >"$T/kit-hidden.out" 2>&1
	check "and journals a push" wait_for '[ "$(journal_count)" = 3 ]' 10
	stop_relay
	check "and exits 0" test "$RELAY_RC" = 0
else
	ok "# skip: no unshare -m or no $LIBX"
fi
finish
