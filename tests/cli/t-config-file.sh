#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# -c FILE must be a config file (issue 9 item 15): a directory is not an
# empty config, /dev/zero or a FIFO must not hang or spin, and a file
# past the size cap is refused; each error names the file. /dev/null is
# the documented empty config (make run uses it).
set -u
. "$(dirname "$0")/../tap.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir "$T/dir"
mkfifo "$T/fifo"
# Just past the cap (1 MiB): comment lines, valid otherwise.
perl -e 'print "[omniklog]\n"; print "; " . ("x" x 97) . "\n" for 1 .. 10486' >"$T/big.conf"
perl -e 'print "[omniklog]\n"; print "; " . ("x" x 97) . "\n" for 1 .. 10000; print "verbose = 1\n"' >"$T/under.conf"

for prog in omnik-relay omnik-sniff; do
	P=$B/$prog
	for f in "$T/dir" /dev/zero "$T/fifo" "$T/big.conf"; do
		start=$SECONDS
		timeout 10 "$P" -n -c "$f" >"$T/out" 2>&1; rc=$?
		if [ $rc -eq 1 ] && grep -q "$f" "$T/out" && [ $((SECONDS - start)) -le 5 ]; then
			ok "$prog -c $(basename "$f"): refused at once, naming the file ($(head -n 1 "$T/out" | sed "s|$T/||"))"
		else not_ok "$prog -c $f" "rc=$rc $(head -c 300 "$T/out")"; fi
	done
	"$P" -n -c /dev/null >"$T/out" 2>&1; rc=$?
	if [ $rc -eq 0 ] && grep -q "configuration OK" "$T/out"; then ok "$prog -c /dev/null: the empty config"
	else not_ok "$prog -c /dev/null" "rc=$rc $(cat "$T/out")"; fi
	"$P" -n -v -c "$T/under.conf" >"$T/out" 2>&1; rc=$?
	if [ $rc -eq 0 ] && grep -qx "verbose = 1" "$T/out"; then ok "$prog: a config just under the cap is read to its end"
	else not_ok "$prog under the cap" "rc=$rc $(tail -c 300 "$T/out")"; fi
done

# Text the parser would read otherwise than it is written: refused with
# the line (found by the config fuzz target).
printf '[omniklog]\nverbose = 1\ncsv = a\0b\n' >"$T/nul.conf"
out=$("$B/omnik-relay" -n -c "$T/nul.conf" 2>&1); rc=$?
if [ $rc -eq 1 ] && [ "$out" = "$T/nul.conf:3: a NUL byte: not a text file" ]; then
	ok "a NUL byte: refused, with its line"
else not_ok "NUL byte" "rc=$rc $out"; fi
printf '[mqtt]\nhost =;broker\n' >"$T/semi.conf"
out=$("$B/omnik-relay" -n -c "$T/semi.conf" 2>&1); rc=$?
if [ $rc -eq 1 ] && echo "$out" | grep -q "semi.conf:2: \[mqtt\] host: a value may not start with ';'"; then
	ok "a value starting with ';' (reads back as a comment): refused, with its line"
else not_ok "value ;" "rc=$rc $out"; fi
finish
