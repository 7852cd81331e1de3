#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# scripts/omniklog-rules, for iptables and for nftables, installed in the
# router namespace: they redirect the kit's pushes (PREROUTING) and the
# router's own (OUTPUT) to the relay, and not the relay's own upstream
# connection (owner match on its user). With the wrong user excluded the
# relay's connection loops back and the relay refuses it. remove takes
# every rule away again.
. "$(dirname "$0")/lib.sh"

RULES="$TOP/scripts/omniklog-rules"
netns_up
data_dir "$T/data"
CSV="$T/data/relay.csv"
start_portal "$T/portal" --quiet
# The router's own pushes come from its address towards the portal.
start_relay "$T/relay.log" --csv "$CSV" \
	${RELAY_CLIENTS:+--allow-clients "$RELAY_CLIENTS $R_P_IP/32"} ||
	{ not_ok "relay starts"; cat "$T/relay.log"; finish; exit; }
rules() { in_router env BACKEND= "$RULES" -p "$PORTAL_IP" "$@"; }
nportal() { ls "$T/portal" | wc -l; }
accepted() {	# connections the relay accepted so far (SIGUSR1)
	local before
	before=$(grep -c 'stats (SIGUSR1): .* open' "$T/relay.log")
	kill -USR1 "$RELAY_PID"
	wait_for "[ \$(grep -c 'stats (SIGUSR1): .* open' $T/relay.log) -gt $before ]" 5
	grep 'stats (SIGUSR1): .* open' "$T/relay.log" | tail -n 1 |
	    sed 's/.* open, \([0-9]*\) accepted.*/\1/'
}

for backend in iptables nftables; do
	check "$backend: install" rules -b $backend -u nobody install
	check "$backend: install again (idempotent)" rules -b $backend -u nobody install
	n0=$(nportal); c0=$(csv_count "$CSV")
	check "$backend: a kit behind the router pushes" \
		in_kit "$KITSIM" -s 1 --save "$T/k-$backend" "$PORTAL_IP:$PORT"
	check "$backend: the kit's push went through the relay (reading logged)" \
		csv_has "$CSV" $((c0 + 1))
	check "$backend: and on to the portal, bytes unchanged" \
		cmp -s "$T/k-$backend/push-0.bin" "$T/portal/conn-$n0.bin"
	check "$backend: the router itself pushes (OUTPUT)" \
		in_router "$KITSIM" -s 2 --save "$T/r-$backend" "$PORTAL_IP:$PORT"
	check "$backend: its push went through the relay too" \
		csv_has "$CSV" $((c0 + 2))
	check "$backend: and the relay's own connection reached the portal" \
		cmp -s "$T/r-$backend/push-0.bin" "$T/portal/conn-$((n0 + 1)).bin"
	check "$backend: no loop was refused" eval '! grep -q "came back" "$T/relay.log"'
	check "$backend: status shows the rules" eval 'rules -b $backend status | grep -q 10004'
	check "$backend: remove" rules -b $backend remove
	a0=$(accepted); c0=$(csv_count "$CSV")
	check "$backend: after remove a push goes straight to the portal" \
		in_kit "$KITSIM" "$PORTAL_IP:$PORT"
	check "$backend: ... not through the relay" \
		eval '[ "$(accepted)" -eq "$a0" ] && [ "$(csv_count "$CSV")" -eq "$c0" ]'
	check "$backend: status fails once removed" eval '! rules -b $backend status >/dev/null'
done

# install is all or nothing, writes no temporary file, and has --help.
for backend in iptables nftables; do
	check "$backend: install writes no temporary file (TMPDIR does not exist)" \
		in_router env TMPDIR="$T/no-such-dir" BACKEND= "$RULES" -p "$PORTAL_IP" -b $backend -u nobody install
	check "$backend: a bad address in the list makes install fail" \
		eval '! rules -b $backend -u nobody -p "$PORTAL_IP 999.0.0.1" install 2>"$T/bad-$backend.err"'
	check "$backend: ... saying so" grep -q "install failed" "$T/bad-$backend.err"
	case $backend in
	iptables)
		check "iptables: ... and no half set of rules stays behind" \
			eval '[ "$(in_router iptables -t nat -S | grep -c OMNIKLOG)" -eq 0 ]' ;;
	nftables)
		check "nftables: ... and the rules from before are still in place, unchanged" \
			eval 'rules -b nftables status | grep -q "$PORTAL_IP"' ;;
	esac
	rules -b $backend remove
done
check "--help prints the usage and exits 0" eval '"$RULES" --help | grep -q "install|remove|status"'
check "an unknown option exits 2" eval '"$RULES" -Z status 2>/dev/null; [ $? -eq 2 ]'

# Control: exclude another user, and the relay's connection loops back.
# The relay now allows the kits' network only: its looped connection
# (from the router's address) is still named a loop, not a stranger.
stop_relay TERM
start_relay "$T/relay.log" --csv "$CSV" ||
	{ not_ok "relay starts"; cat "$T/relay.log"; finish; exit; }
check "iptables: install excluding the wrong user (daemon)" rules -b iptables -u daemon install
n0=$(nportal)
in_kit "$KITSIM" -s 3 -t 5 "$PORTAL_IP:$PORT" >/dev/null 2>&1
check "the looped connection is recognised and refused" \
	wait_for "grep -q 'our own upstream connection came back' $T/relay.log" 5
check "... and not as a client outside allow_clients" \
	eval '! grep -q "refused $R_P_IP:.*not in allow_clients" "$T/relay.log"'
check "... so nothing reaches the portal and nothing loops on" \
	[ "$(nportal)" -eq "$n0" ]
check "... and the kit's reading is still logged" \
    wait_for "grep -q ' kit 3: ' $T/relay.log" 5
# Many at once: 200 kits hold connections while every upstream connection
# of theirs loops back. Each looped one is looked up among the sessions
# by its port (the index of upstream ports holds up to 200), and every
# one of them is recognised; none reaches the portal.
stop_relay TERM
printf '[relay]\nclient_connections = 1000\n' >"$T/many.conf"
start_relay "$T/relay-many.log" -c "$T/many.conf" --csv "$CSV" ||
	{ not_ok "relay starts"; cat "$T/relay-many.log"; finish; exit; }
n0=$(nportal)
ip netns exec "$NS_KIT" "$KITSIM" --idle 200 --hold 60 "$PORTAL_IP:$PORT" \
	>"$T/idle.out" 2>&1 &
idle_pid=$!
_pids+=("$idle_pid")
check "200 kits connect while their upstream connections loop back" \
	wait_for "grep -q 'idle 200' $T/idle.out" 30
loops() {	# looped connections refused so far (SIGUSR1)
	local before
	before=$(grep -c 'stats (SIGUSR1): .* open' "$T/relay-many.log")
	kill -USR1 "$RELAY_PID"
	wait_for "[ \$(grep -c 'stats (SIGUSR1): .* open' $T/relay-many.log) -gt $before ]" 5
	grep 'stats (SIGUSR1): .* open' "$T/relay-many.log" | tail -n 1 |
	    sed 's/.* client, [0-9]* full, \([0-9]*\) loop.*/\1/'
}
check "... every one of the 200 looped connections is recognised" \
	wait_for '[ "$(loops)" -eq 200 ]' 20
check "... and none reached the portal" [ "$(nportal)" -eq "$n0" ]
kill "$idle_pid" 2>/dev/null
wait "$idle_pid" 2>/dev/null
rules -b iptables remove
check "rules for an unknown user are refused" eval '! rules -b iptables -u no-such-user-omk install 2>/dev/null'
stop_relay TERM
check "the relay exits 0" [ "$RELAY_RC" -eq 0 ]
finish
