#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# omnik-poll on TCP 8899 against simulated kits in a namespace: kits that
# answer (serials below 0x10000000, above 2^31, with a checksum below
# 0x10, the largest), one that sends only filler after its data, one that
# says NO INVERTER DATA, one that never answers, one that closes inside a
# frame, one that refuses. Every reading lands once in the journal and
# the CSV; a kit that does not answer is logged once, not once a poll,
# and once more when it answers again, with the polls it missed.
. "$(dirname "$0")/lib.sh"

netns_up 9
S_LOW=180150000		# 0x0ABCDEF0: below 0x10000000
S_HIGH=2147483653	# 0x80000005: above 2^31
S_CSUM=602302678	# request checksum 0x01
S_MAX=4294967295
kit a --tcp 198.51.100.10:8899 --serial 602302630 --inverters 2
kit low --tcp 198.51.100.11:8899 --serial $S_LOW
kit high --tcp 198.51.100.12:8899 --serial $S_HIGH
kit csum --tcp 198.51.100.13:8899 --serial $S_CSUM
kit max --tcp 198.51.100.14:8899 --serial $S_MAX --mode filler
kit nodata --tcp 198.51.100.15:8899 --serial 602300015 --mode nodata
kit silent --tcp 198.51.100.16:8899 --serial 602300016 --mode silent
kit cut --tcp 198.51.100.17:8899 --serial 602300017 --mode midframe
# 198.51.100.18: nothing listens (refused)

KITS="198.51.100.10/602302630 198.51.100.11/$S_LOW 198.51.100.12/$S_HIGH
 198.51.100.13:8899/$S_CSUM 198.51.100.14/$S_MAX 198.51.100.15/602300015
 198.51.100.16/602300016 198.51.100.17/602300017 198.51.100.18/602300018"
# One kit a line (a line holds at most 200 bytes; the list extends).
{ echo '[poll]'; for k in $KITS; do echo "kits = $k"; done
cat <<CONF
method = tcp
timeout = 3
CONF
} >"$T/poll.conf"
ip netns exec "$NS_P" "$POLL" -f -v -u '' -c "$T/poll.conf" \
    --db "$T/p.db" --csv "$T/p.csv" --http 127.0.0.1:8080 \
    >"$T/p.out" 2>"$T/p.err" &
POLL_PID=$!
_pids+=("$POLL_PID")
check "poller starts" wait_for 10 grep -q 'started: 9 kits every 300 s' "$T/p.err" ||
	{ cat "$T/p.err"; finish; exit 1; }

requests() { count '^request' "$T/$1.log"; }
# Round R is over: every answering kit was asked R times, and the four
# that give nothing were logged R times (once at info, then at debug).
misses() {
	echo $(( $(count 'asleep, or off' "$T/p.err") +
	    $(count 'still no reading' "$T/p.err") ))
}
round_done() {
	local r=$1 k
	for k in a low high csum max; do
		[ "$(requests $k)" -ge "$r" ] || return 1
	done
	[ "$(misses)" -ge $((4 * r)) ]
}

check "round 1: every kit polled" wait_for 40 round_done 1
check "round 1: 6 readings in the journal" wait_for 10 journal_is 6 "$T/p.db"
check "the serial below 0x10000000 polled right" grep -q "request kit $S_LOW " "$T/low.log"
check "the serial above 2^31 polled right" grep -q "request kit $S_HIGH " "$T/high.log"
check "the request with checksum 0x01 sent right" grep -q "request kit $S_CSUM checksum 01" "$T/csum.log"
check "serial 4294967295, data then filler only, read" \
    test "$(journal_count "$T/p.db" "kit_sn = $S_MAX")" -eq 1
check "no kit saw a bad request" test "$(cat "$T"/*.log | count 'bad request' /dev/stdin)" -eq 0

# Two more rounds, on demand.
for r in 2 3; do
	kill -USR2 "$POLL_PID"
	check "round $r done" wait_for 40 round_done $r
done
check "18 readings in the journal, each once" wait_for 10 journal_is 18 "$T/p.db"
# The poller serves [http] as the relay does: its counters and readings.
metric() {	# NAME [LABEL-FILTER]: the value of the first matching line
	in_p curl -sf --max-time 5 http://127.0.0.1:8080/metrics |
	    grep -E "^$1(\{[^}]*${2:-}[^}]*\})? " | head -n 1 | awk '{print $2}'
}
check "/metrics: 18 readings counted" test "$(metric omnik_readings_total)" = 18
check "/metrics: 27 polls counted as connections" \
    test "$(metric omnik_connections_total)" = 27
check "/metrics: the polled inverter's energy, as the journal has it" test \
    "$(metric omnik_inverter_energy_kwh_total "kit_sn=\"$S_LOW\"")" = \
    "$(sqlite3 "$T/p.db" "SELECT etotal FROM readings WHERE kit_sn = $S_LOW ORDER BY id DESC LIMIT 1")"
check "no two alike" test \
    "$(sqlite3 "$T/p.db" "SELECT count(DISTINCT kit_sn || ':' || inverter_sn || ':' || etotal) FROM readings")" -eq 18
check "18 rows in the CSV" test "$(csv_count "$T/p.csv")" -eq 18
check "the journal's source says tcp and the kit" \
    test "$(journal_count "$T/p.db" "source = 'tcp 198.51.100.10:8899'")" -eq 6
check "a poll answer is decoded as a push is (variant omnik)" \
    test "$(journal_count "$T/p.db" "variant = 'omnik'")" -eq 18
for k in 15 16 17 18; do
	check "kit .$k: one line for 3 missed polls, not one per poll" \
	    test "$(grep 'asleep, or off' "$T/p.err" | count "198.51.100.$k:" /dev/stdin)" -eq 1
done
check "NO INVERTER DATA says so" grep -q '198.51.100.15:8899: no reading: "NO INVERTER DATA"' "$T/p.err"
check "the silent kit timed out" grep -q '198.51.100.16:8899: no answer: no answer within 3 s' "$T/p.err"
check "the kit that cut its frame gave no reading" grep -q '198.51.100.17:8899: no answer: closed after' "$T/p.err"
check "its half frame is kept as a reject" \
    test "$(sqlite3 "$T/p.db" "SELECT count(*) FROM rejects WHERE source = 'tcp 198.51.100.17:8899'")" -ge 1
check "the refusing kit: connect refused" grep -q '198.51.100.18:8899: no answer: connect: Connection refused' "$T/p.err"
check "one connection at a time per kit (the silent one asked once a round)" \
    test "$(requests silent)" -eq 3

# The refusing kit wakes up.
kit late --tcp 198.51.100.18:8899 --serial 602300018
kill -USR2 "$POLL_PID"
check "a kit back is logged with the polls it missed" \
    wait_for 20 grep -q 'kit 602300018 at 198.51.100.18:8899 answers again after 3 missed polls' "$T/p.err"
check "and read" wait_for 10 journal_is 1 "$T/p.db" "kit_sn = 602300018"

stop_poll
check "the poller exits 0 on TERM" test $? -eq 0
check "no sanitizer report" test "$(count 'Sanitizer\|runtime error' "$T/p.err")" -eq 0

# Serials at config load: the bad ones with their file:line.
printf '[poll]\nkits = 192.0.2.10/602302630\nkits = 192.0.2.11/4294967296\n' >"$T/bad.conf"
out=$("$POLL" -n -c "$T/bad.conf" 2>&1)
check "a serial above 0xFFFFFFFF is refused with file:line" \
    grep -q "bad.conf:3: \[poll\] kits: '192.0.2.11/4294967296': the serial is not a number" <<<"$out"
for bad in 192.0.2.10/0 192.0.2.10/-5 192.0.2.10/60230263x 192.0.2.10 \
    192.0.2.10:0/602302630 '192.0.2.10/602302630 192.0.2.10/602302631'; do
	printf '[poll]\nkits = %s\n' "$bad" >"$T/bad.conf"
	check "kits = $bad is refused" bash -c '! "$0" -n -c "$1" 2>/dev/null' "$POLL" "$T/bad.conf"
done
printf '[poll]\nkits = 192.0.2.10/268435455 [2001:db8::5]:8898/2147483648\ninterval = 10\n' >"$T/ok.conf"
out=$("$POLL" -n -v -c "$T/ok.conf" 2>&1)
check "0x0FFFFFFF, 2^31 and an IPv6 kit are accepted" grep -q 'configuration OK' <<<"$out"
check "an interval below 60 s is raised, with a warning" \
    grep -q 'interval 10 s is below 60 s' <<<"$out"
check "and 60 is used" grep -q '^interval = 60$' <<<"$out"
printf '[poll]\nkits = 192.0.2.10/1\nhttp_password = s3cret\n' >"$T/ok.conf"
check "-n -v never prints the password" bash -c '! "$0" -n -v -c "$1" 2>&1 | grep -q s3cret' "$POLL" "$T/ok.conf"
check "no kit is an error" bash -c '! "$0" -n -c /dev/null 2>/dev/null' "$POLL"
finish
