#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# omnik-sniff -r against fixtures written by tests/mkpcap: every capture
# shape must give exactly the CSV that mkpcap derived from the frames it
# put on the wire (golden output generated at test time, no blobs).
set -u
B=${B:-build}
top=$(cd "$(dirname "$0")/../.." && pwd)
MK="$B/tests/mkpcap"
SNIFF="$B/omnik-sniff"
VEC="$top/tests/data/vectors.tsv"
export TZ=Europe/Amsterdam
tmp=$(mktemp -d /tmp/omk-sniff-replay.XXXXXX)
# As root omnik-sniff opens its outputs as the user it switches to.
chmod 777 "$tmp"
trap 'rm -rf "$tmp"' EXIT
n=0
HEADER=$(printf '%s' "dateTime,Id,Temp,VPV1,VPV2,VPV3,IPV1,IPV2,IPV3,IAC1,IAC2,IAC3,VAC1,VAC2,VAC3,FAC1,PAC1,FAC2,PAC2,FAC3,PAC3,ETODAY,ETOTAL,HTOTAL,RunMode,KitSN,FWMain,FWSlave,Variant")

ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); echo "not ok $n - $*"; }

# golden NAME SORT MIN_ROWS [mkpcap args] [-- omnik-sniff args]
golden() {
	local name=$1 sort=$2 min=$3; shift 3
	local mk=() sn=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do mk+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	sn=("$@")
	local f="$tmp/$name"
	if ! "$MK" -o "$f.pcap" --expect "$f.want" "${mk[@]}" 2>"$f.mk.err"; then
		notok "$name: mkpcap failed: $(cat "$f.mk.err")"
		return
	fi
	{ echo "$HEADER"; cat "$f.want"; } >"$f.want.csv"
	if ! "$SNIFF" -r "$f.pcap" --csv - "${sn[@]}" >"$f.got.csv" 2>"$f.err"; then
		notok "$name: omnik-sniff failed: $(tail -n 3 "$f.err")"
		return
	fi
	local rows
	rows=$(wc -l <"$f.want")
	if [ "$rows" -lt "$min" ]; then
		notok "$name: only $rows expected rows (fixture too small)"
		return
	fi
	if [ "$sort" = sort ]; then
		sort "$f.want.csv" >"$f.w"; sort "$f.got.csv" >"$f.g"
	else
		cp "$f.want.csv" "$f.w"; cp "$f.got.csv" "$f.g"
	fi
	if cmp -s "$f.w" "$f.g"; then
		ok "$name: $rows readings"
	else
		notok "$name: CSV differs"
		diff "$f.w" "$f.g" | head -n 10 | sed 's/^/# /'
		tail -n 2 "$f.err" | sed 's/^/# /'
	fi
}

V=(--vectors "$VEC")
golden one-frame-per-segment   keep 5   "${V[@]}" --seg frame
golden several-frames-per-seg  keep 5   "${V[@]}" --seg whole
golden split-7-bytes           keep 5   "${V[@]}" --seg 7
golden split-1-byte            keep 5   "${V[@]}" --seg 1
golden split-every-offset      keep 700 "${V[@]}" --seg offsets
golden synthetic-every-offset  keep 300 --synthetic 2 --inverters 2 --seg offsets
golden reordered               keep 5   "${V[@]}" --seg 9 --reorder
golden retransmitted           keep 5   "${V[@]}" --seg 11 --retransmit
golden overlapping-retransmit  keep 5   "${V[@]}" --seg 13 --overlap
golden reorder-retransmit-overlap keep 40 --synthetic 20 --inverters 3 --seg 17 --reorder --retransmit --overlap
golden missing-segment         keep 20  --synthetic 20 --inverters 2 --seg 40 --drop 2
golden missing-first-frame     keep 20  --synthetic 20 --inverters 2 --seg frame --drop 1
golden interleaved-5-kits      sort 50  --synthetic 50 --kits 5 --seg 23
golden interleaved-vectors     sort 5   "${V[@]}" --kits 10 --seg 5
golden ipv6                    keep 5   "${V[@]}" --ipv6 --seg 10 --reorder
golden vlan                    keep 5   "${V[@]}" --link vlan --seg 10
golden linux-cooked-v1         keep 5   "${V[@]}" --link sll --seg 10
golden linux-cooked-v2-ipv6    keep 5   "${V[@]}" --link sll2 --ipv6 --seg 10
golden raw-ip                  keep 5   "${V[@]}" --link raw --seg 10
golden pcapng                  keep 5   "${V[@]}" --pcapng --seg 10 --reorder
# The portal drops wrong checksums, so nothing is decoded from them; the
# partial ones of checksum offload are the capturing host's, and taken.
golden bad-tcp-checksums       keep 0   "${V[@]}" --bad-checksums --seg 10
golden offloaded-checksums     keep 5   "${V[@]}" --offload --seg 10 --reorder
golden noise-99-percent        keep 30  --synthetic 30 --noise 99 --seg 50
golden noise-99-vlan-ipv6      sort 30  --synthetic 30 --noise 99 --seg 50 --link vlan --ipv6 --kits 3
# What the parser reads, the default filter lets through: two VLAN tags,
# IPv6 extension headers (their ports are checked after the filter).
golden qinq-double-vlan        keep 5   "${V[@]}" --link qinq --seg 10
golden ipv6-extension-headers  keep 5   "${V[@]}" --ipv6 --ext-headers --seg 10 --reorder
golden qinq-ipv6-ext-noise     sort 30  --synthetic 30 --noise 90 --seg 50 --link qinq --ipv6 --ext-headers --kits 3
golden filter-option           keep 5   "${V[@]}" --seg 10 -- --filter "tcp"
golden port-option             keep 5   "${V[@]}" --seg 10 -- --port 8899 --port 10004

# The noise fixture is what it claims: 99 % of its packets unrelated.
all=$(tcpdump -nn -r "$tmp/noise-99-percent.pcap" 2>/dev/null | wc -l)
ours=$(tcpdump -nn -r "$tmp/noise-99-percent.pcap" 'tcp port 10004' 2>/dev/null | wc -l)
if [ "$ours" -gt 0 ] && [ $((ours * 100)) -le $((all + all / 10)) ] &&
   [ $((ours * 100)) -ge $((all - all / 10)) ]; then
	ok "noise fixture: $ours of $all packets are the kits'"
else
	notok "noise fixture: $ours of $all packets are the kits'"
fi

# The counters: what the filter left out, what the parser then dropped.
all=$(tcpdump -nn -r "$tmp/noise-99-percent.pcap" 2>/dev/null | wc -l)
ours=$(tcpdump -nn -r "$tmp/noise-99-percent.pcap" 'tcp port 10004' 2>/dev/null | wc -l)
grep -q "statistics: $((all - ours)) left out by the filter, $ours packets" "$tmp/noise-99-percent.err" &&
	ok "the filter's leftovers are counted ($((all - ours)) of $all)" ||
	notok "the filter's leftovers are counted ($((all - ours)) of $all): $(grep statistics "$tmp/noise-99-percent.err")"
grep -Eq "statistics: [0-9]+ left out by the filter, [0-9]+ packets \([1-9][0-9]* not TCP, .* [1-9][0-9]* on other ports\)" \
    "$tmp/qinq-ipv6-ext-noise.err" &&
	ok "IPv6 with extension headers on other ports: let by, then dropped and counted" ||
	notok "IPv6 with extension headers on other ports: $(grep statistics "$tmp/qinq-ipv6-ext-noise.err")"

# A filter that matches nothing: no readings, no error.
f="$tmp/none"
"$MK" -o "$f.pcap" "${V[@]}" 2>/dev/null
out=$("$SNIFF" -r "$f.pcap" --csv - --filter 'tcp port 9' 2>/dev/null)
[ "$out" = "$HEADER" ] && ok "a filter that matches nothing gives no rows" ||
	notok "a filter that matches nothing gives no rows: $out"

# Standard input, and several files read as one capture.
f="$tmp/multi"
"$MK" -o "$f.1.pcap" --expect "$f.1.want" "${V[@]}" --seg 3 2>/dev/null
"$MK" -o "$f.2.pcap" --expect "$f.2.want" --synthetic 4 --pcapng 2>/dev/null
{ echo "$HEADER"; cat "$f.1.want"; } >"$f.w1"
"$SNIFF" -r - --csv - <"$f.1.pcap" >"$f.g1" 2>/dev/null
cmp -s "$f.w1" "$f.g1" && ok "-r - reads standard input" ||
	notok "-r - reads standard input"
{ echo "$HEADER"; cat "$f.1.want" "$f.2.want"; } >"$f.w2"
"$SNIFF" -r "$f.1.pcap" -r "$f.2.pcap" --csv - >"$f.g2" 2>/dev/null
cmp -s "$f.w2" "$f.g2" && ok "-r twice: pcap then pcapng, in order" ||
	notok "-r twice: pcap then pcapng, in order"

# Deterministic: the same file twice gives the same bytes.
"$SNIFF" -r "$tmp/reordered.pcap" --csv - >"$f.d1" 2>/dev/null
"$SNIFF" -r "$tmp/reordered.pcap" --csv - >"$f.d2" 2>/dev/null
cmp -s "$f.d1" "$f.d2" && [ -s "$f.d1" ] && ok "a replay is deterministic" ||
	notok "a replay is deterministic"

# Counters at exit: gaps and skipped bytes of the missing-segment case.
"$SNIFF" -r "$tmp/missing-segment.pcap" --csv "$f.ms.csv" 2>"$f.stats"
grep -q ' 20 gaps' "$f.stats" && grep -q ' 20 readings' "$f.stats" &&
	ok "exit statistics count the gaps and readings" ||
	notok "exit statistics count the gaps and readings: $(cat "$f.stats")"

# Errors: a missing file, a file that is not a capture, usage.
"$SNIFF" -r "$tmp/nope.pcap" --csv - >/dev/null 2>"$f.e1"; rc=$?
[ $rc -eq 1 ] && grep -q nope.pcap "$f.e1" && ok "a missing file: exit 1 and its name" ||
	notok "a missing file: exit 1 (got $rc: $(cat "$f.e1"))"
echo "not a capture" >"$f.txt"
"$SNIFF" -r "$f.txt" --csv - >/dev/null 2>"$f.e2"; rc=$?
[ $rc -eq 1 ] && ok "a file that is not a capture: exit 1" ||
	notok "a file that is not a capture: exit 1 (got $rc)"
"$SNIFF" -r "$f.1.pcap" --stream - </dev/null >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] && ok "two kinds of input: usage error" ||
	notok "two kinds of input: usage error (got $rc)"
"$SNIFF" -r "$f.1.pcap" --port 70000 >/dev/null 2>&1; rc=$?
[ $rc -eq 1 ] && ok "a bad port is refused" || notok "a bad port is refused (got $rc)"

# The [sniff] section of the config file, and flags over it.
printf '[sniff]\nports = 8899\nmax_flows = 1000\n' >"$f.conf"
out=$("$SNIFF" -c "$f.conf" -r "$f.1.pcap" --csv - 2>/dev/null)
[ "$out" = "$HEADER" ] && ok "[sniff] ports from the config file select the traffic" ||
	notok "[sniff] ports from the config file select the traffic"
"$SNIFF" -c "$f.conf" --port 10004 -r "$f.1.pcap" --csv - 2>/dev/null >"$f.g3"
cmp -s "$f.w1" "$f.g3" && ok "--port overrides the config file" ||
	notok "--port overrides the config file"
"$SNIFF" -c "$f.conf" -n -v 2>/dev/null | grep -q '^max_flows = 1000$' &&
	ok "-n -v shows the [sniff] keys as loaded" || notok "-n -v shows the [sniff] keys as loaded"
printf '[sniff]\ninterface = br-none\nnfqueue = 3\n' >"$f.svc"
"$SNIFF" -c "$f.svc" -r "$f.1.pcap" --csv - 2>/dev/null >"$f.g4"
cmp -s "$f.w1" "$f.g4" && ok "-r replaces the inputs the service's config names" ||
	notok "-r replaces the inputs the service's config names"
"$SNIFF" -c "$f.svc" -f >/dev/null 2>"$f.e4"; rc=$?
[ $rc -eq 1 ] && grep -q 'choose one' "$f.e4" && ok "a config with two inputs is refused" ||
	notok "a config with two inputs is refused (got $rc)"
printf '[sniff]\nflow_timeout = 1\nbogus = 2\n' >"$f.bad"
"$SNIFF" -c "$f.bad" -n 2>"$f.e3" >/dev/null; rc=$?
[ $rc -eq 1 ] && grep -q "$f.bad:2:.*flow_timeout" "$f.e3" && grep -q "$f.bad:3:.*bogus" "$f.e3" &&
	ok "config errors name file and line" || notok "config errors name file and line: $(cat "$f.e3")"

# --stream still reads a raw byte stream as before.
"$top/tests/vectors-to-stream" "$VEC" | "$SNIFF" --stream - --csv - 2>/dev/null |
	tail -n +2 | cut -d, -f2- >"$f.s"
cut -d, -f2- "$tmp/one-frame-per-segment.want" >"$f.sw"
cmp -s "$f.s" "$f.sw" && ok "--stream decodes the same readings" ||
	notok "--stream decodes the same readings"

echo "1..$n"
