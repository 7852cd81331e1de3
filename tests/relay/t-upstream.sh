#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# When the portal is not there: refusing, black-holed (DROP), resetting
# mid-stream, reading one byte a second. Every reading is still logged,
# every kit completes its push, and other kits are served meanwhile.
. "$(dirname "$0")/lib.sh"

netns_up
redirect_up
data_dir "$T/data"
CSV="$T/data/relay.csv"
cat >"$T/relay.conf" <<CONF
[omniklog]
csv = $CSV
[relay]
connect_timeout = 2
idle_timeout = 5
max_buffer = 4096
CONF
start_relay "$T/relay.log" -c "$T/relay.conf" ||
	{ not_ok "relay starts"; cat "$T/relay.log"; finish; exit; }
kit() { ip netns exec "$NS_KIT" "$KITSIM" "$@" "$PORTAL_IP:$PORT"; }
expect=0

# Refusing: nothing listens on the portal.
check "portal refusing: 20 pushes of 2 inverters complete" kit -c 20 -j 5 -i 2
expect=$((expect + 40))
check "portal refusing: all 40 readings in the CSV" csv_has "$CSV" "$expect"
check "portal refusing: logged as such" grep -q 'upstream connect failed: Connection refused' "$T/relay.log"

# Black-holed: the portal's packets are dropped; connect times out (2 s).
start_portal "$T/p-drop"
in_portal iptables -A INPUT -p tcp --dport "$PORT" -j DROP
kit -i 3 --split 20 --delay 300 >/dev/null 2>"$T/slowkit.err" &
slowkit=$!
sleep 0.2
t0=$SECONDS
check "portal black-holed: 10 other kits complete meanwhile" kit -c 10 -j 10
check "... while the slow kit is still pushing" kill -0 "$slowkit"
check "... and within the connect timeout plus a little ($((SECONDS - t0)) s)" [ $((SECONDS - t0)) -le 5 ]
check "portal black-holed: the slow kit completes" wait "$slowkit"
expect=$((expect + 13))
check "portal black-holed: all 13 readings in the CSV" csv_has "$CSV" "$expect"
check "portal black-holed: logged as a connect timeout" grep -q 'upstream connect timed out' "$T/relay.log"
in_portal iptables -F INPUT
stop_portal

# Resetting: the portal sends RST after 200 bytes, mid-push.
start_portal "$T/p-rst" --rst-after 200
check "portal resetting mid-stream: 10 pushes of 3 inverters complete" \
	kit -c 10 -j 5 -i 3 --split 60 --delay 50
expect=$((expect + 30))
check "portal resetting mid-stream: all 30 readings in the CSV" csv_has "$CSV" "$expect"
check "portal resetting mid-stream: the portal did get the first 200 bytes" \
	[ "$(stat -c %s "$T/p-rst/conn-0.bin")" -eq 200 ]
check "portal resetting mid-stream: logged" grep -Eq 'upstream failed: (Connection reset by peer|Broken pipe)' "$T/relay.log"
stop_portal

# Crawling: the portal reads one byte a second.
start_portal "$T/p-slow" --slow
t0=$SECONDS
check "portal at 1 byte/s: 5 small pushes are sent" kit -c 5 -j 5 --no-wait
expect=$((expect + 5))
check "portal at 1 byte/s: their 5 readings are in the CSV at once" \
	wait_for "[ \$(csv_count $CSV) -eq $expect ]" 2
check "portal at 1 byte/s: a 55 kB push (400 inverters) completes" \
	kit -i 400 -t 20 --save "$T/big"
expect=$((expect + 400))
check "portal at 1 byte/s: all 400 readings in the CSV" csv_has "$CSV" "$expect"
check "portal at 1 byte/s: logged as too slow" grep -q 'upstream too slow' "$T/relay.log"
n=$(stat -c %s "$T/p-slow/conn-5.bin")
check "portal at 1 byte/s: what it read ($n bytes) is the start of the push" \
	eval '[ "$n" -ge 1 ] && cmp -s -n "$n" "$T/p-slow/conn-5.bin" "$T/big/push-0.bin"'
stop_portal

stop_relay TERM
check "SIGTERM with lingering upstreams: exit 0" [ "$RELAY_RC" -eq 0 ]
check "CSV has only whole lines" [ "$(tail -c 1 "$CSV" | od -An -tx1 | tr -d ' ')" = "0a" ]
finish
