#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The decoder's limits through the whole pipeline (omnik-sniff --stream,
# a real journal and CSV): implausible frames kept raw with the field and
# value, a flood of one inverter held to its rate and counted, a stray
# "68 ff" that does not hold back the push behind it.
set -u
. "$(dirname "$0")/../tap.sh"
SNIFF=$B/omnik-sniff
T=$(mktemp -d)
# As root omnik-sniff opens its outputs as the user it switches to.
chmod 777 "$T"
trap 'rm -rf "$T"' EXIT
v01=$(awk -F'\t' '$1 ~ /^V01-/ { print $2 }' tests/data/vectors.tsv)
# frame HEX [OFFSET VALUE16]...: the frame with 16-bit fields patched.
frame() {
	perl -e 'my $f = pack("H*", shift);
	    while (@ARGV) { my ($o, $v) = splice(@ARGV, 0, 2);
		substr($f, $o, 2) = pack("n", $v); }
	    my $s = 0; $s += ord(substr($f, $_, 1)) for 1 .. length($f) - 3;
	    substr($f, -2, 1) = chr($s % 256); print $f' "$@"
}
q() { sqlite3 "$T/$1" "$2"; }

# 1. One plausible reading, one at 335 Hz, one one-phase with power on
# phase 3: one reading, two rejects that say which field and value.
{ frame "$v01"; frame "$v01" 57 33500; frame "$v01" 67 1130; } >"$T/a.bin"
"$SNIFF" --stream "$T/a.bin" --db "$T/a.db" --csv "$T/a.csv" 2>"$T/a.err"
rc=$?
[ $rc -eq 0 ] && ok "exit 0" || not_ok "exit 0" "rc $rc"
got=$(q a.db "SELECT count(*) FROM readings")
[ "$got" = 1 ] && ok "one reading in the journal" || not_ok "one reading" "$got"
got=$(q a.db "SELECT reason FROM rejects ORDER BY id")
want="implausible: FAC1 335.0 Hz outside 0, 45.0..65.0
implausible: PAC3 1130 W on a phase without a voltage (VAC3 absent)"
[ "$got" = "$want" ] && ok "the rejects name field and value" ||
    not_ok "reject reasons" "$got"
got=$(q a.db "SELECT count(*) FROM rejects WHERE length(frame) = 139")
[ "$got" = 2 ] && ok "the rejected frames are kept raw" || not_ok "raw" "$got"
[ "$(grep -c 'implausible: ' "$T/a.err")" = 2 ] && ok "and logged" ||
    not_ok "logged" "$(cat "$T/a.err")"
[ "$(tail -n 1 "$T/a.csv" | awk -F, '{ print NF, $NF }')" = "29 omnik" ] &&
    ok "the CSV's last column is the variant" ||
    not_ok "variant column" "$(tail -n 1 "$T/a.csv")"

# 2. 5,000 readings of one inverter at once: the burst, the rest counted,
# 64 kept raw, one log line for them.
frame "$v01" >"$T/one.bin"
for i in $(seq 5000); do cat "$T/one.bin"; done >"$T/flood.bin"
"$SNIFF" --stream "$T/flood.bin" --db "$T/f.db" 2>"$T/f.err"
got="$(q f.db "SELECT count(*) FROM readings") $(q f.db "SELECT count(*) FROM rejects WHERE reason LIKE 'rate limit:%'")"
[ "$got" = "32 64" ] && ok "flood: 32 readings stored, 64 kept raw" ||
    not_ok "flood" "$got"
[ "$(grep -c 'over the limit since the last report' "$T/f.err")" = 1 ] &&
    ok "flood: one log line for the excess" || not_ok "flood log" "$(head -c 2000 "$T/f.err")"
grep -q '4968 readings over an inverter.s rate in all' "$T/f.err" &&
    ok "flood: the excess counted" || not_ok "flood count" "$(tail -n 3 "$T/f.err")"

# 3. A stray "68 ff" before a push: the reading comes while the stream is
# still open (omnik-sniff reads a fifo; the writer holds it open).
mkfifo "$T/fifo"
"$SNIFF" --stream "$T/fifo" --db '' --csv "$T/p.csv" 2>"$T/p.err" &
sniff=$!
exec 3>"$T/fifo"
{ printf '\x68\xff'; frame "$v01"; } >&3
for i in $(seq 50); do
	[ "$(wc -l <"$T/p.csv" 2>/dev/null)" = 2 ] && break
	sleep 0.1
done
[ "$(wc -l <"$T/p.csv" 2>/dev/null)" = 2 ] &&
    ok "68 ff before a push: the reading is out before the stream ends" ||
    not_ok "stray 68 ff" "$(cat "$T/p.csv" "$T/p.err" 2>/dev/null)"
exec 3>&-
wait $sniff
grep -q 'truncated' "$T/p.err" && not_ok "no truncated frame" "$(cat "$T/p.err")" ||
    ok "no truncated frame reported at the end"

finish
