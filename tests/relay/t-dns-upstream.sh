#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A host-name upstream (--upstream portal.omk.test:10004) with a dead DNS
# server, as t-dns.sh makes one: resolv.conf points at 192.0.2.53, which
# the portal's namespace DROPs, so each lookup hangs for its 3 s timeout.
# SIGHUP does not stall the loop while the new lookup hangs, and the
# address found before serves meanwhile. A relay started while the name
# does not resolve runs anyway, says why it serves kits locally, and once
# the name resolves (written into the namespace's /etc/hosts) the retry
# finds it and kits are forwarded.
. "$(dirname "$0")/lib.sh"

ETC_NS="/etc/netns/$NS_R"
trap 'rm -rf "$ETC_NS"; cleanup' EXIT
netns_up
mkdir -p "$ETC_NS"
printf 'nameserver 192.0.2.53\noptions timeout:3 attempts:1\n' \
    >"$ETC_NS/resolv.conf"
printf '127.0.0.1 localhost\n' >"$ETC_NS/hosts"
printf 'hosts: files dns\n' >"$ETC_NS/nsswitch.conf"
ip -n "$NS_R" route add 192.0.2.53/32 via "$PORTAL_IP"
in_portal iptables -t raw -A PREROUTING -d 192.0.2.53 -j DROP
check "the resolver really hangs (getent hosts takes the 3 s timeout)" \
    eval 't0=$(date +%s%N); ! in_router getent hosts portal.omk.test &&
          [ $(( ($(date +%s%N) - t0) / 1000000 )) -ge 2500 ]'

data_dir "$T/data"
CSV="$T/data/relay.csv"
start_portal "$T/portal" --quiet
nportal() { ls "$T/portal" | wc -l; }
# Kits point at the relay itself (their "remote server" setting).
kit() { ip netns exec "$NS_KIT" "$KITSIM" "$@" "$R_KIT_IP:$PORT"; }

# While the name is in /etc/hosts: forwarded.
printf '%s portal.omk.test\n' "$PORTAL_IP" >>"$ETC_NS/hosts"
start_relay "$T/relay0.log" --csv "$CSV" --upstream portal.omk.test:$PORT ||
	{ not_ok "relay starts"; cat "$T/relay0.log"; finish; exit; }
check "the name resolves: a push is forwarded" kit -t 5 --save "$T/kit0"
check "... its bytes at the portal" \
	wait_for 'cmp -s "$T/kit0/push-0.bin" "$T/portal/conn-0.bin"' 5
# The name leaves /etc/hosts: SIGHUP looks it up in the dead DNS server,
# and pushes go on at normal latency, still forwarded to the address the
# last lookup gave (written in place: the bind mount keeps the inode).
printf '127.0.0.1 localhost\n' >"$ETC_NS/hosts"
kill -HUP "$RELAY_PID"
stats=$(kit -c 10 -r 5 -t 5 --stats)
p99=$(sed -n 's/.*p99_us \([0-9]*\).*/\1/p' <<<"$stats")
check "SIGHUP with a dead DNS server: 10 pushes right after ($stats)" \
	grep -q 'pushes 10 ok 10 failed 0' <<<"$stats"
check "... none waits for the lookup (slowest ${p99:-?} us, under 500 ms)" \
	[ "${p99:-9999999}" -lt 500000 ]
check "... all forwarded to the address found before" [ "$(nportal)" -eq 11 ]
stop_relay TERM
check "stopped mid-lookup: exit 0" [ "$RELAY_RC" -eq 0 ]

# Started while the name does not resolve.
start_relay "$T/relay.log" --csv "$CSV" --upstream portal.omk.test:$PORT
check "a name that does not resolve at start: the relay runs" kill -0 "$RELAY_PID"
check "... and says it serves locally and retries" \
	wait_for "grep -q 'upstream portal.omk.test:$PORT: lookup failed: .*served locally, next try in' $T/relay.log" 10
check "kits are served meanwhile (3 pushes)" kit -c 3 -t 5
check "... their readings are logged" csv_has "$CSV" 14
check "... and nothing was forwarded" [ "$(nportal)" -eq 11 ]

# The name resolves again: the retry finds it.
printf '%s portal.omk.test\n' "$PORTAL_IP" >>"$ETC_NS/hosts"
check "the retry finds the name" \
	wait_for "grep -q 'upstream portal.omk.test:$PORT is $PORTAL_IP:$PORT' $T/relay.log" 40
check "a kit's push is forwarded now" kit -t 5 --save "$T/kit"
check "... its bytes at the portal" \
	wait_for 'cmp -s "$T/kit/push-0.bin" "$T/portal/conn-11.bin"' 5
check "... and its reading logged" csv_has "$CSV" 15
stop_relay TERM
check "the relay exits 0" [ "$RELAY_RC" -eq 0 ]
check "no sanitizer report" eval '! grep -q Sanitizer "$T/relay.log" "$T/relay0.log"'
finish
