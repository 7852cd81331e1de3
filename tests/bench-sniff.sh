#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# make bench: omnik-sniff replay throughput and memory, on captures that
# tests/mkpcap generates here (nothing downloaded, nothing stored).
#
#   (a) 1,000,000 packets, all of them kits' port-10004 traffic
#   (b) 1,000,000 packets, 1 % port-10004 among web/DNS/other traffic
#       both next to `tcpdump -r FILE -w /dev/null 'tcp port 10004'`
#   (c) peak RSS with 100,000 flows open at once
#
# Targets: (a) >= 1,000,000 packets/s; (b) >= 80 % of tcpdump's rate;
# (c) <= 64 MiB. Results are printed; the run fails only if omnik-sniff
# decodes a wrong number of readings.
set -u
B=${B:-@B@}
export TZ=Europe/Amsterdam
tmp=$(mktemp -d /tmp/omk-sniff-bench.XXXXXX)
# As root omnik-sniff opens its outputs as the user it switches to.
chmod 777 "$tmp"
trap 'rm -rf "$tmp"' EXIT
MK="$B/tests/mkpcap"
SNIFF="$B/omnik-sniff"
fail=0

now() { date +%s.%N; }
# best of 3 wall-clock seconds of a command
best() {
	local b=999 s e t
	for _ in 1 2 3; do
		s=$(now); "$@" >/dev/null 2>&1; e=$(now)
		t=$(echo "$e - $s" | bc -l)
		if [ "$(echo "$t < $b" | bc -l)" = 1 ]; then b=$t; fi
	done
	echo "$b"
}
readings() {	# FILE.csv
	echo $(( $(wc -l <"$1") - 1 ))
}

run_case() {	# NAME MKPCAP-ARGS...
	local name=$1; shift
	"$MK" -o "$tmp/$name.pcap" --expect "$tmp/$name.want" "$@" 2>/dev/null
	local pk want got ts tt
	pk=$(tcpdump -nn -r "$tmp/$name.pcap" 2>/dev/null | wc -l)
	want=$(wc -l <"$tmp/$name.want")
	rm -f "$tmp/$name.csv"
	"$SNIFF" -r "$tmp/$name.pcap" --csv "$tmp/$name.csv" 2>/dev/null
	got=$(readings "$tmp/$name.csv")
	if [ "$got" != "$want" ]; then
		echo "$name: $got readings, expected $want: FAILED"
		fail=1
	fi
	ts=$(best "$SNIFF" -r "$tmp/$name.pcap" --csv "$tmp/o.csv")
	tt=$(best tcpdump -r "$tmp/$name.pcap" -w /dev/null 'tcp port 10004')
	printf '%s: %d packets, %d readings\n' "$name" "$pk" "$got"
	printf '  omnik-sniff -r   %6.3f s  %10.0f packets/s\n' "$ts" "$(echo "$pk / $ts" | bc -l)"
	printf '  tcpdump -r -w    %6.3f s  %10.0f packets/s\n' "$tt" "$(echo "$pk / $tt" | bc -l)"
	printf '  omnik-sniff / tcpdump rate: %.0f %%\n' "$(echo "100 * $tt / $ts" | bc -l)"
	eval "RATE_$name=\$(echo \"\$pk / \$ts\" | bc -l)"
	eval "RATIO_$name=\$(echo \"100 * \$tt / \$ts\" | bc -l)"
	rm -f "$tmp/$name.pcap"
}

verdict() { if [ "$(echo "$1" | bc -l)" = 1 ]; then echo "target met"; else echo "TARGET MISSED"; fi; }

run_case all_10004 --synthetic 1000 --packets 1000000
echo "  (a) target >= 1,000,000 packets/s: $(verdict "$RATE_all_10004 >= 1000000")"
run_case one_percent --synthetic 1000 --noise 99 --packets 1000000
echo "  (b) target >= 80 % of tcpdump: $(verdict "$RATIO_one_percent >= 80")"

for mode in frame 100; do
	"$MK" -o "$tmp/open.pcap" --synthetic 1000 --open-flows 100000 --seg $mode 2>/dev/null
	rm -f "$tmp/open.csv"
	kb=$( { /usr/bin/time -f '%M' "$SNIFF" -r "$tmp/open.pcap" --csv "$tmp/open.csv" 2>&1 >/dev/null; } | tail -n 1)
	got=$(readings "$tmp/open.csv")
	[ "$got" = 100000 ] || { echo "open flows: $got readings, expected 100000: FAILED"; fail=1; }
	if [ $mode = frame ]; then
		what="each past a whole first frame"
	else
		what="each in the middle of a frame (worst case)"
	fi
	printf '(c) 100,000 open flows, %s: peak RSS %.1f MiB: %s\n' "$what" \
	    "$(echo "$kb / 1024" | bc -l)" "$(verdict "$kb <= 65536")"
done
exit $fail
