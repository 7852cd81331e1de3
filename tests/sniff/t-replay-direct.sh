#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# omnik-sniff reads a classic pcap file itself (pcapsrc.c: replay_direct)
# and hands odd records and the end back to libpcap. Whatever the file,
# it must give exactly what libpcap alone gives: the same CSV, the same
# statistics and errors, the same exit status. libpcap alone is what a
# pipe gets (`cat FILE | omnik-sniff -r -`), so each variant is replayed
# both ways and compared byte for byte.
set -u
B=${B:-build}
top=$(cd "$(dirname "$0")/../.." && pwd)
MK="$B/tests/mkpcap"
SNIFF="$B/omnik-sniff"
VEC="$top/tests/data/vectors.tsv"
export TZ=Europe/Amsterdam
tmp=$(mktemp -d /tmp/omk-sniff-direct.XXXXXX)
chmod 777 "$tmp"
trap 'rm -rf "$tmp"' EXIT
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); echo "not ok $n - $*"; }

# variant IN OUT MODE: rewrite a little-endian microsecond pcap.
#   swap     big-endian byte order       nsec   nanosecond stamps
#   snap=N   header snaplen N (records longer are libpcap's to cut)
#   cut      the last record cut short   big@K  record K claims 300000 bytes
#   late     one stamp after 2038 (sec >= 2^31)
variant() {
	perl -e '
		use strict;
		my ($in, $out, $mode) = @ARGV;
		open(my $f, "<:raw", $in) or die; local $/; my $d = <$f>;
		my ($magic, $maj, $min, $tz, $sig, $snap, $lt) =
		    unpack("V v v V V V V", substr($d, 0, 24));
		die "not a LE usec pcap\n" unless $magic == 0xa1b2c3d4;
		my @rec; my $at = 24;
		while ($at + 16 <= length($d)) {
			my ($s, $u, $cl, $l) = unpack("V4", substr($d, $at, 16));
			push @rec, [$s, $u, $cl, $l, substr($d, $at + 16, $cl)];
			$at += 16 + $cl;
		}
		my $swap = $mode eq "swap"; my $ns = $mode eq "nsec";
		$snap = $1 if $mode =~ /^snap=(\d+)$/;
		my $P = $swap ? "N" : "V"; my $p2 = $swap ? "n" : "v";
		my $o = pack("$P $p2 $p2 $P $P $P $P",
		    $ns ? 0xa1b23c4d : 0xa1b2c3d4, $maj, $min, $tz, $sig,
		    $snap, $lt);
		for my $i (0 .. $#rec) {
			my ($s, $u, $cl, $l, $b) = @{$rec[$i]};
			$u = $u * 1000 + 999 if $ns;
			$s = 2**31 + 5 if $mode eq "late" && $i == int(@rec / 2);
			my $claim = $cl;
			$claim = 300000 if $mode =~ /^big\@(\d+)$/ && $i == $1;
			$o .= pack("${P}4", $s, $u, $claim, $l) . $b;
		}
		$o = substr($o, 0, length($o) - 7) if $mode eq "cut";
		open(my $g, ">:raw", $out) or die; print $g $o;
	' "$@"
}

# same NAME FILE: the file directly and through a pipe agree.
same() {
	local name=$1 f=$2 rc1 rc2
	if [ ! -s "$f" ]; then
		notok "$name: no fixture"
		return
	fi
	rm -f "$tmp"/[dp].db* "$tmp"/[dp].csv
	"$SNIFF" -u '' -r "$f" --csv "$tmp/d.csv" --db "$tmp/d.db" 2>"$tmp/d.err"
	rc1=$?
	cat "$f" | "$SNIFF" -u '' -r - --csv "$tmp/p.csv" --db "$tmp/p.db" \
	    2>"$tmp/p.err"
	rc2=$?
	sed -i -e "s|$f|-|g" -e "s|$tmp/d\.|$tmp/p.|g" "$tmp/d.err"
	# The journal has the microseconds the CSV does not show.
	for w in d p; do
		sqlite3 "$tmp/$w.db" "SELECT time, usec, source, hex(frame) FROM readings ORDER BY id; SELECT * FROM rejects ORDER BY 1" \
		    >"$tmp/$w.rows" 2>&1
	done
	if [ $rc1 = $rc2 ] && cmp -s "$tmp/d.csv" "$tmp/p.csv" &&
	    cmp -s "$tmp/d.err" "$tmp/p.err" &&
	    cmp -s "$tmp/d.rows" "$tmp/p.rows"; then
		ok "$name: $(($(wc -l <"$tmp/d.csv") - 1)) readings, exit $rc1, as libpcap alone"
	else
		notok "$name: direct read differs from libpcap's (exit $rc1 / $rc2)"
		diff "$tmp/p.csv" "$tmp/d.csv" | head -n 6 | sed 's/^/# /'
		diff "$tmp/p.err" "$tmp/d.err" | head -n 6 | sed 's/^/# /'
		diff "$tmp/p.rows" "$tmp/d.rows" | head -n 6 | sed 's/^/# /'
	fi
}

"$MK" -o "$tmp/v.pcap" --vectors "$VEC" --repeat 3 2>/dev/null
"$MK" -o "$tmp/s.pcap" --synthetic 3000 --noise 30 --kits 5 2>/dev/null
"$MK" -o "$tmp/6.pcap" --vectors "$VEC" --ipv6 --seg 7 2>/dev/null
for base in v s 6; do
	same "$base plain" "$tmp/$base.pcap"
	for mode in swap nsec snap=120 cut big@40 late; do
		variant "$tmp/$base.pcap" "$tmp/$base.$mode.pcap" "$mode"
		same "$base $mode" "$tmp/$base.$mode.pcap"
	done
done
# Longer than the 1 MiB read buffer: records straddle its refills.
"$MK" -o "$tmp/l.pcap" --synthetic 1000 --packets 40000 2>/dev/null
same "40,000 packets" "$tmp/l.pcap"
variant "$tmp/l.pcap" "$tmp/l.nsec.pcap" nsec
same "40,000 packets, nanoseconds" "$tmp/l.nsec.pcap"
echo "1..$n"
