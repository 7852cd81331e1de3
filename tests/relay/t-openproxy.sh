#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# An over-broad redirect rule (every TCP connection from the kits'
# network to the relay) must not make the relay an open TCP proxy: a
# connection for a port that is not in portal_ports is refused, never
# proxied; the portal port is still forwarded. (Private destinations, not
# forwarded with an empty allow_upstream, are in test_relay_acl: these
# tests use documentation addresses only.)
. "$(dirname "$0")/lib.sh"

netns_up
in_router iptables -t nat -A PREROUTING -i rk -p tcp -j REDIRECT --to-ports "$PORT"
data_dir "$T/data"
CSV="$T/data/relay.csv"
start_portal "$T/portal" --quiet
mkdir -p "$T/web"
ip netns exec "$NS_P" "$PORTAL" --save "$T/web" "$PORTAL_IP:8080" >"$T/web.log" 2>&1 &
_pids+=("$!")
wait_for "grep -qs listening $T/web.log" 5
start_relay "$T/relay.log" --csv "$CSV" ||
	{ not_ok "relay starts"; cat "$T/relay.log"; finish; exit; }

in_kit "$KITSIM" -t 5 "$PORTAL_IP:8080" >/dev/null 2>&1
check "a connection for port 8080 through the relay: nothing reaches port 8080" \
	[ "$(ls "$T/web" | wc -l)" -eq 0 ]
check "... it is refused and logged" \
	grep -q "destination $PORTAL_IP:8080 is not a portal port (portal_ports): refused" "$T/relay.log"
check "... and nothing of it is decoded" [ "$(csv_count "$CSV")" -eq 0 ]
check "the portal port is still forwarded" in_kit "$KITSIM" -t 5 --save "$T/kit" "$PORTAL_IP:$PORT"
check "... its bytes at the portal" \
	wait_for 'cmp -s "$T/kit/push-0.bin" "$T/portal/conn-0.bin"' 5
check "... and its reading logged" csv_has "$CSV" 1
stop_relay TERM
check "the relay exits 0" [ "$RELAY_RC" -eq 0 ]
finish
