#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# IPv6: the scripts' rules for an IPv6 portal address (nftables and
# iptables), IP6T_SO_ORIGINAL_DST, and the same exact bytes at the portal.
# Addresses from the documentation prefix 2001:db8::/32, inside the
# namespaces only.
. "$(dirname "$0")/lib.sh"

netns_up
K6=2001:db8:1::2 R6K=2001:db8:1::1 R6P=2001:db8:2::1 P6=2001:db8:2::69
ip -n "$NS_KIT" addr add "$K6/64" dev k0 nodad
ip -n "$NS_R" addr add "$R6K/64" dev rk nodad
ip -n "$NS_R" addr add "$R6P/64" dev rp nodad
ip -n "$NS_P" addr add "$P6/64" dev p0 nodad
ip -n "$NS_KIT" -6 route add default via "$R6K"
ip -n "$NS_P" -6 route add default via "$R6P"
in_router sysctl -qw net.ipv6.conf.all.forwarding=1
data_dir "$T/data"
CSV="$T/data/relay.csv"
mkdir -p "$T/portal"
ip netns exec "$NS_P" "$PORTAL" --save "$T/portal" "[$P6]:$PORT" >"$T/portal.log" 2>&1 &
_pids+=("$!")
wait_for "grep -qs listening $T/portal.log" 5
# The router's own pushes come from its address towards the portal.
start_relay "$T/relay.log" --csv "$CSV" \
	${RELAY_CLIENTS:+--allow-clients "$RELAY_CLIENTS $R6P/128"} ||
	{ not_ok "relay starts"; cat "$T/relay.log"; finish; exit; }
rules() { in_router env BACKEND= "$TOP/scripts/omniklog-rules" -u nobody \
	-p "$PORTAL_IP $P6" "$@"; }

n=0
for backend in nftables iptables; do
	check "$backend: rules for an IPv4 and an IPv6 portal address" rules -b $backend install
	check "$backend: a kit pushes over IPv6" \
		in_kit "$KITSIM" -i 2 -s $((10 + n)) --save "$T/kit-$backend" "[$P6]:$PORT"
	check "$backend: its readings are logged" csv_has "$CSV" $((3 * n / 2 + 2))
	check "$backend: the IPv6 portal got exactly its bytes" \
		cmp -s "$T/kit-$backend/push-0.bin" "$T/portal/conn-$n.bin"
	check "$backend: the router's own IPv6 push goes through the relay too" \
		in_router "$KITSIM" -s $((20 + n)) "[$P6]:$PORT"
	check "$backend: ... logged" \
	    wait_for "grep -q ' kit $((20 + n)): ' $T/relay.log" 5
	check "$backend: ... and forwarded" [ -s "$T/portal/conn-$((n + 1)).bin" ]
	rules -b $backend remove
	n=$((n + 2))
done
stop_relay TERM
check "4 connections forwarded, none served locally" grep -q "4 forwarded, 0 served locally" "$T/relay.log"
finish
