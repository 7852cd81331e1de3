#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Never an open proxy: connections that were not redirected, or whose
# original destination is the router itself, are served locally and never
# forwarded; a client outside allow_clients is refused; a destination
# outside allow_upstream is not forwarded. Config errors carry line
# numbers; SIGHUP re-reads the allow-lists.
# allow_clients is this test's own: none from lib.sh.
RELAY_CLIENTS=
. "$(dirname "$0")/lib.sh"

netns_up outsider
redirect_up
# Also redirected: a second portal address, and the router's own port
# 20000 (a destination that is this host).
in_router iptables -t nat -A PREROUTING -p tcp -d 203.0.113.70 --dport "$PORT" \
	-j REDIRECT --to-ports "$PORT"
in_router iptables -t nat -A PREROUTING -p tcp -d "$R_KIT_IP" --dport 20000 \
	-j REDIRECT --to-ports "$PORT"
data_dir "$T/data"
CSV="$T/data/relay.csv"
cat >"$T/relay.conf" <<CONF
[omniklog]
csv = $CSV
[relay]
allow_clients = 198.51.100.0/24, 2001:db8::/32
allow_upstream = 203.0.113.69/32
CONF

# -n: the config is checked, errors name file and line.
check "-n accepts a good config" eval '"$RELAY" -n -c "$T/relay.conf" >/dev/null'
printf '[relay]\nlisten = 10004\nbogus = 1\nidle_timeout = -3\n' >"$T/bad.conf"
"$RELAY" -n -c "$T/bad.conf" >"$T/bad.out" 2>&1
rc=$?
check "-n rejects an unknown key and a bad value (exit 1)" [ "$rc" -eq 1 ]
check "... naming line 3 (unknown key)" grep -q "bad.conf:3: unknown key 'bogus'" "$T/bad.out"
check "... and line 4 (out of range)" grep -q "bad.conf:4: .*idle_timeout" "$T/bad.out"
check "--help documents every option" eval '"$RELAY" --help | grep -q -- "--upstream" &&
	"$RELAY" --help | grep -q -- "-l, --listen" && "$RELAY" --help | grep -q "HUP  "'
check "-n rejects a bad listen address given as a flag" \
	eval '! "$RELAY" -n -c "$T/relay.conf" -l 99999 2>&1 | grep -q OK &&
	"$RELAY" -n -c "$T/relay.conf" -l 99999 2>&1 | grep -q "listen: .99999. is not"'
check "-n rejects an upstream that is not original, none or HOST:PORT" \
	eval '"$RELAY" -n -c "$T/relay.conf" --upstream nowhere 2>&1 | grep -q "upstream: .nowhere. is not HOST:PORT"'
"$RELAY" --bogus >/dev/null 2>&1
check "an unknown option is a usage error (exit 2)" [ $? -eq 2 ]

start_portal "$T/portal"
start_relay "$T/relay.log" -c "$T/relay.conf" ||
	{ not_ok "relay starts"; cat "$T/relay.log"; finish; exit; }
nportal() { ls "$T/portal" | wc -l; }

check "redirected kit: served" in_kit "$KITSIM" "$PORTAL_IP:$PORT"
check "redirected kit: forwarded to the portal" [ "$(nportal)" -eq 1 ]

check "direct connection to the relay: served" in_kit "$KITSIM" -c 3 "$R_KIT_IP:$PORT"
check "direct connection: 3 more readings logged" csv_has "$CSV" 4
check "direct connection: never forwarded" [ "$(nportal)" -eq 1 ]

check "redirected to this host (router:20000): served" in_kit "$KITSIM" "$R_KIT_IP:20000"
check "redirected to this host: reading logged" csv_has "$CSV" 5
check "redirected to this host: never forwarded" [ "$(nportal)" -eq 1 ]
check "redirected to this host: logged why" grep -q "destination $R_KIT_IP:20000 is this host" "$T/relay.log"

check "destination outside allow_upstream: served" in_kit "$KITSIM" 203.0.113.70:"$PORT"
check "destination outside allow_upstream: reading logged" csv_has "$CSV" 6
check "destination outside allow_upstream: not forwarded, logged" \
	eval '[ "$(nportal)" -eq 1 ] && grep -q "203.0.113.70:10004 is not in allow_upstream" "$T/relay.log"'

in_out "$KITSIM" "$PORTAL_IP:$PORT" >/dev/null 2>&1
check "client outside allow_clients: refused and logged" grep -q "refused $OUT_IP:.*not in allow_clients" "$T/relay.log"
check "client outside allow_clients: nothing forwarded" [ "$(nportal)" -eq 1 ]
check "client outside allow_clients: nothing decoded" [ "$(csv_count "$CSV")" -eq 6 ]

# SIGHUP: the outsider's network is allowed now.
sed -i "s|^allow_clients = .*|allow_clients = 198.51.100.0/24 192.0.2.0/24|" "$T/relay.conf"
kill -HUP "$RELAY_PID"
wait_for "grep -q 'SIGHUP' $T/relay.log" 5
check "after SIGHUP with the outsider allowed: served" in_out "$KITSIM" "$PORTAL_IP:$PORT"
check "after SIGHUP: forwarded and logged" \
	eval '[ "$(nportal)" -eq 2 ] && [ "$(csv_count "$CSV")" -eq 7 ]'

# A broken config on SIGHUP keeps the running one.
echo "nonsense = 1" >>"$T/relay.conf"
kill -HUP "$RELAY_PID"
wait_for "grep -q 'config not reloaded' $T/relay.log" 5
check "a broken config on SIGHUP is reported, with its line" grep -q "config not reloaded.*relay.conf:6" "$T/relay.log"
check "... and the relay goes on serving" in_kit "$KITSIM" "$PORTAL_IP:$PORT"

kill -USR1 "$RELAY_PID"
check "SIGUSR1 logs statistics" wait_for "grep -q 'stats (SIGUSR1): .* 1 client' $T/relay.log" 5
stop_relay TERM
check "exit statistics: 3 forwarded, 5 served locally" grep -q "3 forwarded, 5 served locally" "$T/relay.log"
finish
