#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# kit ── router ── portal in network namespaces; on the router an NFQUEUE
# rule (scripts/omnik-sniff-nfqueue, iptables and, where the kernel has
# nft_queue, nftables) and omnik-sniff --nfqueue: every push decoded, the
# portal gets everything, and with omnik-sniff stopped traffic still
# flows (queue-bypass).
. "$(dirname "$0")/netns.sh"
need_root
make_pushes
RULES="$top/scripts/omnik-sniff-nfqueue"

ns_add kit; ns_add router; ns_add portal
link kit eth0 router lan
link portal eth0 router wan
in_ns kit ip addr add 192.0.2.10/24 dev eth0
in_ns kit ip route add default via 192.0.2.1
in_ns router ip addr add 192.0.2.1/24 dev lan
in_ns router ip addr add 203.0.113.1/24 dev wan
in_ns router sysctl -qw net.ipv4.ip_forward=1
in_ns portal ip addr add 203.0.113.69/24 dev eth0
in_ns portal ip route add default via 203.0.113.1
rows=$(wc -l <"$tmp/want.rows")
chmod 755 "$tmp"; mkdir -m 777 "$tmp/out"

: >"$tmp/recv.bin"
check "portal listens on 10004" portal_listen portal "$tmp/recv.bin"

run_backend() {	# iptables | nft
	local be=$1 q=$2 base=$tmp/$1
	check "$be: rules added (queue $q, bypass)" \
		in_ns router "$RULES" add --$be --queue "$q"
	check "$be: the rules are there" \
		bash -c "ip netns exec $P-router '$RULES' show --$be | grep -q 'bypass'"
	: >"$tmp/recv.bin"
	check "$be: omnik-sniff bound to the queue" \
		sniff_start router "$base.log" --nfqueue "$q" -u nobody --csv "$tmp/out/$be.csv" --db "$tmp/out/$be.db"
	# CAP_NET_ADMIN permitted only, effective just around each verdict.
	check "$be: runs as nobody, CAP_NET_ADMIN alone and only permitted, no_new_privs" \
		bash -c "test \"\$(ps -o user= -p $SNIFF_PID | tr -d ' ')\" = nobody &&
		    grep -q '^CapEff:[[:space:]]*0*\$' /proc/$SNIFF_PID/status &&
		    grep -q '^CapPrm:[[:space:]]*0*1000\$' /proc/$SNIFF_PID/status &&
		    grep -q '^CapBnd:[[:space:]]*0*1000\$' /proc/$SNIFF_PID/status &&
		    grep -q '^NoNewPrivs:[[:space:]]*1\$' /proc/$SNIFF_PID/status"
	check "$be: every push reaches the portal through the queue" \
		push_all kit 203.0.113.69
	wait_lines "$tmp/out/$be.csv" $((rows + 1))
	sleep 0.3
	check "$be: the portal got every byte" cmp -s "$tmp/all.bin" "$tmp/recv.bin"
	tail -n +2 "$tmp/out/$be.csv" | cut -d, -f2- >"$base.rows"
	check "$be: every reading decoded once, in order ($rows)" \
		cmp -s "$tmp/want.rows" "$base.rows"
	kill -USR1 "$SNIFF_PID"
	for _ in $(seq 30); do grep -q 'statistics:.*NFQUEUE' "$base.log" && break; sleep 0.1; done
	check "$be: SIGUSR1 statistics count the accepted packets" \
		grep -q "statistics:.*NFQUEUE $q: [1-9][0-9]* packets accepted" "$base.log"
	check "$be: SIGTERM: clean exit" sniff_stop
	# Nobody on the queue now: the bypass flag lets packets through.
	: >"$tmp/recv.bin"
	check "$be: with omnik-sniff stopped, pushes still get through" \
		push_all kit 203.0.113.69
	sleep 0.3
	check "$be: ... and the portal still gets every byte" \
		cmp -s "$tmp/all.bin" "$tmp/recv.bin"
	check "$be: rules removed" in_ns router "$RULES" remove --$be
}

run_backend iptables 7

# Inline, the sniffer's loop gives every packet its verdict, so standard
# output that nothing reads (--csv - into a stalled pipeline) must not
# hold the kits' traffic up: the CSV lines that do not fit its queue are
# dropped and counted, the journal keeps every reading.
ip netns pids "$P-portal" | xargs -r kill 2>/dev/null
check "stalled stdout: a portal that answers" bash -c "
	ip netns exec $P-portal $B/tests/portal --quiet 203.0.113.69:10004 \
	    >/dev/null 2>&1 & sleep 0.5; ip netns exec $P-portal ss -ltn | grep -q ':10004 '"
check "stalled stdout: rules added (queue 11)" \
	in_ns router "$RULES" add --iptables --queue 11
ip netns exec "$P-router" python3 "$top/tests/relay/stall.py" --stdout --pipe \
	"$tmp/stall.csv" 10 "$SNIFF" -f -u '' --nfqueue 11 --csv - \
	--db "$tmp/out/stall.db" >"$tmp/stall.out" 2>"$tmp/stall.log" &
PIDS="$PIDS $!"
for _ in $(seq 50); do grep -q started "$tmp/stall.log" 2>/dev/null && break; sleep 0.1; done
check "stalled stdout: omnik-sniff bound to the queue" grep -q started "$tmp/stall.log"
stall_pid=$(sed -n 's/^pid //p' "$tmp/stall.out")
PIDS="$PIDS $stall_pid"
# (The queue fails open, so pushes pass even with the loop stalled: the
# journal's count below is what says the loop went on.)
check "stalled stdout: 3000 pushes while nothing reads the CSV" \
	in_ns kit timeout 9 "$B/tests/kitsim" -c 3000 -j 20 -t 5 203.0.113.69:10004
journal_n() { sqlite3 "$tmp/out/stall.db" 'SELECT count(*) FROM readings' 2>/dev/null; }
for _ in $(seq 50); do [ "$(journal_n)" = 3000 ] && break; sleep 0.2; done
check "stalled stdout: ... every reading in the journal ($(journal_n))" [ "$(journal_n)" = 3000 ]
kill -TERM "$stall_pid"
for _ in $(seq 100); do kill -0 "$stall_pid" 2>/dev/null || break; sleep 0.1; done
check "stalled stdout: the sniffer exits" bash -c "! kill -0 $stall_pid 2>/dev/null"
check "stalled stdout: the log counts the CSV lines it dropped" \
	grep -Eq 'standard output: [0-9]+ lines? dropped' "$tmp/stall.log"
check "stalled stdout: rules removed" in_ns router "$RULES" remove --iptables

# remove, with the default backend, takes away what add --iptables made,
# whatever its queue and ports.
check "iptables rules on queue 9, ports 10005 and 10006" \
	in_ns router "$RULES" add --iptables --queue 9 --port 10005 --port 10006
check "... are there" bash -c "ip netns exec $P-router iptables -t mangle -S FORWARD | grep -q omnik-sniff"
check "plain remove (default backend) succeeds" in_ns router "$RULES" remove
check "... and no omnik-sniff rule is left in iptables" \
	bash -c "! ip netns exec $P-router iptables -t mangle -S FORWARD | grep -q omnik-sniff"
check "--help prints the usage and exits 0" \
	bash -c "'$RULES' --help | grep -q 'omnik-sniff-nfqueue add'"
# nftables' own queue statement needs the kernel's nft_queue module.
if in_ns router nft -f - 2>/dev/null <<'NFT'
table inet omk_probe { chain c { type filter hook forward priority 0; tcp dport 9 queue num 9 bypass; } }
NFT
then
	in_ns router nft delete table inet omk_probe
	run_backend nft 8
else
	n=$((n + 1)); echo "ok $n # SKIP nftables: no nft_queue in this kernel"
	# The default backend then fails, and says why and what to do.
	in_ns router "$RULES" add >"$tmp/nonq.out" 2>&1
	check "no nft_queue: add (nftables) fails" [ $? -ne 0 ]
	check "... saying the kernel lacks nft_queue and to use --iptables" \
		bash -c "grep -q 'no nft_queue' '$tmp/nonq.out' && grep -q -- 'add --iptables' '$tmp/nonq.out'"
	check "... and leaves no table behind" \
		bash -c "! ip netns exec $P-router nft list table inet omnik_sniff >/dev/null 2>&1"
fi
echo "1..$n"
