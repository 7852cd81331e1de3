#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The default capture filter in the kernel (omnik-sniff -i br0): frames
# with two VLAN tags (802.1ad + 802.1Q) and IPv6 packets with hop-by-hop
# and destination-options headers, sent onto the bridge as raw frames by
# tests/mkpcap --inject, all reach the parser and give their readings;
# IPv6 with extension headers to other ports is let by and then counted.
. "$(dirname "$0")/netns.sh"
need_root

ns_add kit; ns_add br
link kit eth0 br kitport
in_ns br ip link add br0 type bridge
in_ns br ip link set kitport master br0
in_ns br ip link set br0 up

check "omnik-sniff captures on br0" \
	sniff_start br "$tmp/sniff.log" -c /dev/null --db '' -i br0 --csv "$tmp/live.csv"
want=0
: >"$tmp/want.rows"
# inject NAME [mkpcap args]: frames out of the kit's interface.
inject() {
	local name=$1; shift
	"$MK" -o "$tmp/$name.pcap" --expect "$tmp/$name.want" "$@" 2>/dev/null
	cut -d, -f2- "$tmp/$name.want" >>"$tmp/want.rows"
	want=$(wc -l <"$tmp/want.rows")
	in_ns kit "$MK" --inject eth0 "$@" 2>"$tmp/$name.err"
}
check "QinQ frames sent" inject qinq --vectors "$VEC" --seg 10 --link qinq
check "IPv6 with extension headers sent" inject ext \
	--synthetic 5 --seg 40 --ipv6 --ext-headers --flow-base 100
check "QinQ, IPv6 with extension headers and noise sent" inject qinq-ext \
	--synthetic 5 --seg 40 --ipv6 --ext-headers --link qinq --noise 80 --flow-base 200
wait_lines "$tmp/live.csv" $((want + 1))
tail -n +2 "$tmp/live.csv" | cut -d, -f2- | sort >"$tmp/got.rows"
sort "$tmp/want.rows" >"$tmp/want.sorted"
check "every reading decoded once ($want)" cmp -s "$tmp/want.sorted" "$tmp/got.rows"
[ -s "$tmp/want.sorted" ] || notok "the fixtures hold readings"
kill -USR1 "$SNIFF_PID"
for _ in $(seq 30); do grep -q 'statistics:.*kernel:' "$tmp/sniff.log" && break; sleep 0.1; done
check "IPv6 with extension headers to other ports: let by, then counted" \
	grep -Eq 'statistics:.* [1-9][0-9]* on other ports\).*kernel: [0-9]+ received' "$tmp/sniff.log"
check "SIGTERM: clean exit" sniff_stop
grep statistics "$tmp/sniff.log" | tail -n 1 | sed 's/^/# /'
echo "1..$n"
