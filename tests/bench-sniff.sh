#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# make bench: omnik-sniff replay throughput and memory, on captures that
# tests/mkpcap generates here (nothing downloaded, nothing stored), and
# a live capture on a veth between two network namespaces.
#
#   (a) 1,000,000 packets, all of them kits' port-10004 traffic
#   (b) 1,000,000 packets, 1 % port-10004 among small web/DNS packets
#   (b') 300,000 packets, 1 % port-10004 among 1,500-byte web packets
#       each next to `tcpdump -r FILE -w /dev/null 'tcp port 10004'`
#   (c) peak RSS with 100,000 flows open at once
#   (d) live: packets/s on a veth before the kernel reports drops
#
# Every comparison runs ROUNDS rounds (5) after a warm-up of both
# programs, the order alternating per round; the ratio is taken within
# each round and printed as min / median / max, as are the rates.
# Targets: (a) >= 60 % of tcpdump's rate; (b), (b') >= 95 %;
# (c) <= 64 MiB. Results are printed; the run fails only if omnik-sniff
# decodes a wrong number of readings or a CSV other than mkpcap's.
set -u
B=${B:-@B@}
ROUNDS=${ROUNDS:-5}
export TZ=Europe/Amsterdam
tmp=$(mktemp -d /tmp/omk-sniff-bench.XXXXXX)
# As root omnik-sniff opens its outputs as the user it switches to.
chmod 777 "$tmp"
P="ps$$"
NSLIST=""
LIVE_PID=""
cleanup() {
	[ -n "$LIVE_PID" ] && kill "$LIVE_PID" 2>/dev/null
	for ns in $NSLIST; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
MK="$B/tests/mkpcap"
SNIFF="$B/omnik-sniff"
fail=0

now() { date +%s.%N; }
# wall-clock seconds of one run of a command
wall() {
	local s e
	s=$(now); "$@" >/dev/null 2>&1; e=$(now)
	echo "$e - $s" | bc -l
}
# min / median / max of the numbers on stdin, with printf format $1
mmm() {
	sort -g | awk -v f="$1" '{ a[NR] = $1 } END {
		m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
		printf f " / " f " / " f, a[1], m, a[NR] }'
}
median() { sort -g | awk '{ a[NR] = $1 } END {
	print NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
readings() { echo $(( $(wc -l <"$1") - 1 )); }
verdict() { if [ "$(echo "$1" | bc -l)" = 1 ]; then echo "target met"; else echo "TARGET MISSED"; fi; }

# The last run's CSV is removed before the clock starts (fresh()):
# unlinking 17 MB is the file system's work, not the sniffer's, and
# tcpdump's /dev/null needs none.
fresh() { rm -f "$tmp/o.csv"; }
sniff_run() { "$SNIFF" -u '' -r "$1" --csv "$tmp/o.csv"; }
tcpdump_run() { tcpdump -r "$1" -w /dev/null 'tcp port 10004'; }

# run_case NAME TARGET-PERCENT MKPCAP-ARGS...
run_case() {
	local name=$1 target=$2; shift 2
	local f="$tmp/$name.pcap" pk want got ts tt r
	"$MK" -o "$f" --expect "$tmp/$name.want" "$@" 2>/dev/null
	pk=$(tcpdump -nn -r "$f" 2>/dev/null | wc -l)
	want=$(wc -l <"$tmp/$name.want")
	fresh; sniff_run "$f" 2>/dev/null
	got=$(readings "$tmp/o.csv")
	if [ "$got" != "$want" ] ||
	    ! tail -n +2 "$tmp/o.csv" | cmp -s - "$tmp/$name.want"; then
		echo "$name: $got readings, expected $want (or another CSV): FAILED"
		fail=1
	fi
	fresh; wall sniff_run "$f" >/dev/null	# warm-ups, both
	wall tcpdump_run "$f" >/dev/null
	: >"$tmp/rs"; : >"$tmp/rt"; : >"$tmp/ratio"
	for r in $(seq "$ROUNDS"); do
		if [ $((r % 2)) = 1 ]; then
			fresh; ts=$(wall sniff_run "$f"); tt=$(wall tcpdump_run "$f")
		else
			fresh; tt=$(wall tcpdump_run "$f"); ts=$(wall sniff_run "$f")
		fi
		echo "$pk / $ts" | bc -l >>"$tmp/rs"
		echo "$pk / $tt" | bc -l >>"$tmp/rt"
		echo "100 * $tt / $ts" | bc -l >>"$tmp/ratio"
	done
	printf '%s: %d packets (%s MB), %d readings; %d rounds, min / median / max\n' \
	    "$name" "$pk" "$(( $(stat -c %s "$f") / 1000000 ))" "$got" "$ROUNDS"
	printf '  omnik-sniff -r   %s packets/s\n' "$(mmm %.0f <"$tmp/rs")"
	printf '  tcpdump -r -w    %s packets/s\n' "$(mmm %.0f <"$tmp/rt")"
	printf '  omnik-sniff / tcpdump rate: %s %%: %s (>= %s %%, median)\n' \
	    "$(mmm %.0f <"$tmp/ratio")" \
	    "$(verdict "$(median <"$tmp/ratio") >= $target")" "$target"
	rm -f "$f"
}

run_case all_10004 60 --synthetic 1000 --packets 1000000
run_case one_percent 95 --synthetic 1000 --noise 99 --packets 1000000
run_case one_percent_mtu 95 --synthetic 1000 --noise 99 --noise-size 1500 \
    --packets 300000

for mode in frame 100; do
	# As many inverters as flows: all at once is no inverter's rate.
	"$MK" -o "$tmp/open.pcap" --synthetic 100000 --open-flows 100000 \
	    --seg $mode 2>/dev/null
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
	rm -f "$tmp/open.pcap"
done

# (d) Live: frames sent by mkpcap --inject at a set rate out of one end
# of a veth, omnik-sniff -i on the other end in its own namespace; the
# kernel's drop count (pcap_stats, logged on SIGUSR1) after each step.
kernel_stats() {	# -> "received dropped" from the newest statistics line
	local before
	before=$(grep -c 'statistics:' "$tmp/live.log")
	kill -USR1 "$LIVE_PID"
	for _ in $(seq 50); do
		[ "$(grep -c 'statistics:' "$tmp/live.log")" -gt "$before" ] && break
		sleep 0.1
	done
	grep 'statistics:' "$tmp/live.log" | tail -n 1 |
	    sed -E 's/.*kernel: ([0-9]+) received, ([0-9]+) dropped.*/\1 \2/'
}
live() {
	local rates="20000 50000 100000 200000 400000 800000" per=100000
	local base=0 rx0 dr0 rx dr s e sent best round
	ip netns add "$P-kit" && NSLIST="$NSLIST $P-kit" &&
	ip netns add "$P-tap" && NSLIST="$NSLIST $P-tap" &&
	ip -n "$P-kit" link add kit0 type veth peer name tap0 netns "$P-tap" &&
	ip -n "$P-kit" link set kit0 up && ip -n "$P-tap" link set tap0 up ||
	    { echo "(d) live capture: no network namespaces: skipped"; return; }
	# No config file and no journal: never the system's.
	ip netns exec "$P-tap" "$SNIFF" -f -u '' -c /dev/null --db '' -i tap0 \
	    --csv "$tmp/live.csv" 2>"$tmp/live.log" &
	LIVE_PID=$!
	for _ in $(seq 100); do
		grep -q started "$tmp/live.log" && break
		kill -0 "$LIVE_PID" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q started "$tmp/live.log"; then
		echo "(d) live capture: omnik-sniff did not start: FAILED"
		sed 's/^/    /' "$tmp/live.log"
		LIVE_PID=""
		fail=1
		return
	fi
	echo "(d) live capture on a veth, $per packets a step (all port 10004);"
	echo "    asked 20k to 800k/s; sent = the rate mkpcap --inject reached,"
	echo "    received and dropped = the kernel's counts for the step:"
	for round in 1 2 3; do
		best=0
		printf '    round %d:' "$round"
		for rate in $rates; do
			read -r rx0 dr0 <<<"$(kernel_stats)"
			s=$(now)
			ip netns exec "$P-kit" timeout 30 "$MK" --inject kit0 \
			    --synthetic 1000 --packets "$per" --pps "$rate" \
			    --flow-base $((base += 20000)) 2>/dev/null
			e=$(now)
			sleep 0.5	# the last batch through the loop
			read -r rx dr <<<"$(kernel_stats)"
			if ! kill -0 "$LIVE_PID" 2>/dev/null ||
			    ! [[ "$dr$dr0" =~ ^[0-9]+$ ]]; then
				echo " omnik-sniff stopped: FAILED"
				sed 's/^/    /' "$tmp/live.log" | tail -n 3
				fail=1
				return
			fi
			sent=$(echo "$per / ($e - $s)" | bc)
			printf ' %s:%s/%s' "$sent" "$((rx - rx0))" "$((dr - dr0))"
			# A step the capture did not see is no figure.
			[ $((rx - rx0)) -lt "$per" ] && [ $((dr - dr0)) = 0 ] &&
			    { echo " (only $((rx - rx0)) of $per seen: FAILED)"; fail=1; return; }
			[ $((dr - dr0)) = 0 ] && [ "$sent" -gt "$best" ] && best=$sent
		done
		echo " (sent/s:received/dropped)"
		echo "$best" >>"$tmp/live.best"
	done
	printf '    packets/s with no drop, highest per round: %s\n' \
	    "$(mmm %.0f <"$tmp/live.best")"
	kill -TERM "$LIVE_PID"; wait "$LIVE_PID" 2>/dev/null; LIVE_PID=""
}
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null; then
	live
else
	echo "(d) live capture: needs root for network namespaces: skipped"
fi
exit $fail
