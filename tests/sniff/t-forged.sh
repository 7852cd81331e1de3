#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# omnik-sniff -r against segments an attacker on the LAN injects
# (tests/mkpcap --attack, --bad-checksums, --bad-frames): the kit's
# readings come out once each, in the CSV and in the journal, and nothing
# forged or duplicated does. Every case reports its counts.
set -u
B=${B:-build}
top=$(cd "$(dirname "$0")/../.." && pwd)
MK="$B/tests/mkpcap"
SNIFF=${SNIFF:-$B/omnik-sniff}
VEC="$top/tests/data/vectors.tsv"
export TZ=Europe/Amsterdam
tmp=$(mktemp -d /tmp/omk-sniff-forged.XXXXXX)
# As root omnik-sniff opens its outputs as the user it switches to.
chmod 777 "$tmp"
trap 'rm -rf "$tmp"' EXIT
n=0

ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); echo "not ok $n - $*"; }

# attack NAME [mkpcap args]: the CSV and the journal hold exactly the
# readings mkpcap says the kits sent.
attack() {
	local name=$1; shift
	local f="$tmp/$name" want got forged dup missing jrows
	if ! "$MK" -o "$f.pcap" --expect "$f.want" "$@" 2>"$f.mk.err"; then
		notok "$name: mkpcap failed: $(cat "$f.mk.err")"
		return
	fi
	rm -f "$f.csv" "$f.db"
	if ! "$SNIFF" -r "$f.pcap" --csv "$f.csv" --db "$f.db" \
	    2>"$f.err"; then
		notok "$name: omnik-sniff failed: $(tail -n 3 "$f.err")"
		return
	fi
	tail -n +2 "$f.csv" >"$f.got"
	want=$(wc -l <"$f.want")
	got=$(wc -l <"$f.got")
	sort -u "$f.want" >"$f.wu"
	# Readings the kit never sent, copies beyond the first, and losses.
	forged=$(grep -cvxFf "$f.wu" "$f.got")
	dup=$(( got - forged - $(sort -u "$f.got" | comm -12 - "$f.wu" | wc -l) ))
	missing=$(sort -u "$f.got" | comm -13 - "$f.wu" | wc -l)
	jrows=$(sqlite3 "$f.db" 'SELECT count(*) FROM readings' 2>/dev/null)
	echo "# $name: $want sent, CSV $got, journal ${jrows:-?}: forged $forged, duplicated $dup, missing $missing"
	if [ "$want" -gt 0 ] && [ "$forged" -eq 0 ] && [ "$dup" -eq 0 ] &&
	   [ "$missing" -eq 0 ] && [ "$jrows" = "$want" ]; then
		ok "$name: $want readings, 0 forged, 0 duplicated"
	else
		notok "$name: $want readings sent; CSV $got, journal ${jrows:-?}; forged $forged, duplicated $dup, missing $missing"
		tail -n 2 "$f.err" | sed 's/^/# /'
	fi
}

V=(--vectors "$VEC")
S=(--synthetic 20 --inverters 2)
attack forge-first-bad-tcp-checksum     "${V[@]}" --seg frame --attack forge-first
attack forge-first-bad-tcp-checksum-v6  "${S[@]}" --seg 40 --ipv6 --attack forge-first
attack forge-first-bad-ip-checksum      "${S[@]}" --seg whole --attack forge-first-ip
# An IP length past the frame's end is no snapped packet: the portal's
# stack drops it, so its payload, unchecked, must not count.
attack forge-first-ip-length-lies       "${V[@]}" --seg frame --attack forge-first-len
attack forge-first-ip-length-lies-v6    "${S[@]}" --seg 40 --ipv6 --attack forge-first-len
attack spoofed-fin-behind               "${S[@]}" --seg 30 --attack spoof-fin
attack spoofed-fin-behind-vectors       "${V[@]}" --seg 50 --attack spoof-fin
attack duplicates-after-fin             "${S[@]}" --seg frame --attack after-fin
attack duplicates-after-fin-reordered   "${S[@]}" --seg 25 --reorder --attack after-fin
attack retransmitted-after-rst          "${S[@]}" --seg frame --attack after-rst
attack after-rst-interleaved            --synthetic 30 --kits 5 --seg 33 --attack after-rst

# Checksums left to the NIC (partial: the pseudo header's sum) are taken,
# and counted; wrong ones are dropped, and counted.
f="$tmp/offload"
"$MK" -o "$f.pcap" --expect "$f.want" "${S[@]}" --seg 30 --offload 2>/dev/null
"$SNIFF" -r "$f.pcap" --csv - 2>"$f.err" | tail -n +2 >"$f.got"
pk=$(tcpdump -nn -r "$f.pcap" 2>/dev/null | wc -l)
if cmp -s "$f.want" "$f.got" && [ -s "$f.got" ] &&
   grep -q " $pk with offloaded checksums" "$f.err"; then
	ok "offloaded checksums: $(wc -l <"$f.got") readings, $pk packets counted as unchecked"
else
	notok "offloaded checksums: $(wc -l <"$f.got") readings; $(grep statistics "$f.err")"
fi
f="$tmp/badsum"
"$MK" -o "$f.pcap" "${S[@]}" --seg 30 --bad-checksums 2>/dev/null
rows=$("$SNIFF" -r "$f.pcap" --csv - 2>"$f.err" | tail -n +2 | wc -l)
pk=$(tcpdump -nn -r "$f.pcap" 2>/dev/null | wc -l)
if [ "$rows" -eq 0 ] && grep -q " $pk bad checksums dropped" "$f.err"; then
	ok "wrong TCP checksums everywhere: 0 readings, $pk packets dropped and counted"
else
	notok "wrong TCP checksums everywhere: $rows readings; $(grep statistics "$f.err")"
fi

# One flow carrying 5,000 frames with bad checksums, each in its own
# segment: at most STREAM_REJECTS_KEPT (16) logged and kept, the rest
# counted, and the reading behind them still decoded.
f="$tmp/rejects"
"$MK" -o "$f.pcap" --expect "$f.want" --synthetic 1 --seg frame --bad-frames 5000 2>/dev/null
"$SNIFF" -r "$f.pcap" --csv "$f.csv" --db "$f.db" 2>"$f.err"
kept=$(sqlite3 "$f.db" 'SELECT count(*) FROM rejects' 2>/dev/null)
logged=$(grep -c 'rejected: ' "$f.err")
rows=$(sqlite3 "$f.db" 'SELECT count(*) FROM readings' 2>/dev/null)
echo "# 5000 bad frames in one flow: $kept kept in the journal, $logged log lines, $rows readings"
if [ "${kept:-99}" -le 16 ] && [ "${kept:-0}" -ge 1 ] && [ "$logged" -le 16 ] &&
   grep -q '5000 frames rejected in all, 4984 of them only counted' "$f.err" &&
   grep -q ' 5000 rejected' "$f.err" && [ "$rows" = "$(wc -l <"$f.want")" ]; then
	ok "5000 bad frames in one flow: $kept kept, $logged logged, the count logged"
else
	notok "5000 bad frames in one flow: $kept kept, $logged logged; $(grep -c . "$f.err") log lines"
fi

echo "1..$n"
