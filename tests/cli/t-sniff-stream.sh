#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# omnik-sniff --stream: the command line a user meets first.
set -u
. "$(dirname "$0")/../tap.sh"
SNIFF=$B/omnik-sniff
T=$(mktemp -d)
# As root omnik-sniff opens its outputs as the user it switches to.
chmod 777 "$T"
trap 'rm -rf "$T"' EXIT

tests/vectors-to-stream tests/data/vectors.tsv > "$T/push.bin"

# --help documents every option the parser accepts.
"$SNIFF" --help > "$T/help" 2>&1; rc=$?
missing=""
for opt in --stream --csv --verbose --help --version; do
	grep -q -- "$opt" "$T/help" || missing="$missing $opt"
done
if [ $rc -eq 0 ] && [ -z "$missing" ]; then ok "--help exits 0 and documents every option"
else not_ok "--help" "rc=$rc missing:$missing"; fi

"$SNIFF" --bogus > "$T/out" 2> "$T/err"; rc=$?
if [ $rc -eq 2 ] && grep -q "Try 'omnik-sniff --help'" "$T/err"; then ok "unknown option: exit 2 with a hint"
else not_ok "unknown option" "rc=$rc $(cat "$T/err")"; fi

"$SNIFF" > "$T/out" 2> "$T/err"; rc=$?
if [ $rc -eq 2 ] && grep -q "no input" "$T/err"; then ok "no input: exit 2 and says so"
else not_ok "no input" "rc=$rc $(cat "$T/err")"; fi

"$SNIFF" --stream "$T/nonexistent.bin" > "$T/out" 2> "$T/err"; rc=$?
if [ $rc -eq 1 ] && grep -q "cannot open $T/nonexistent.bin: No such file" "$T/err"; then
	ok "unreadable file: exit 1 with the file and the reason"
else not_ok "unreadable file" "rc=$rc $(cat "$T/err")"; fi

"$SNIFF" --stream "$T/push.bin" --csv /nonexistent-dir/out.csv > "$T/out" 2> "$T/err"; rc=$?
if [ $rc -eq 1 ] && grep -q "cannot open /nonexistent-dir/out.csv" "$T/err"; then
	ok "unwritable CSV: exit 1 with the path"
else not_ok "unwritable CSV" "rc=$rc $(cat "$T/err")"; fi

# The vectors as one stream to CSV: every column but the time equals the
# golden file; bad frames are reported with their reason and the run goes on.
"$SNIFF" --stream "$T/push.bin" --csv "$T/out.csv" 2> "$T/err"; rc=$?
if [ $rc -eq 0 ] && diff <(cut -d, -f2- tests/data/vectors.csv) <(cut -d, -f2- "$T/out.csv") > "$T/diff"; then
	ok "vectors stream to CSV equals the golden values"
else not_ok "vectors stream to CSV" "rc=$rc $(cat "$T/diff" "$T/err")"; fi
nbad=$(grep -c "rejected: bad checksum" "$T/err")
if [ "$nbad" -eq 2 ]; then ok "both bad-checksum frames reported on stderr"
else not_ok "bad frames reported" "$nbad reports: $(cat "$T/err")"; fi

# dateTime is the local receive time, YYYY-MM-DD HH:MM:SS.
if tail -n +2 "$T/out.csv" | cut -d, -f1 | grep -qvE '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$'; then
	not_ok "dateTime format" "$(cut -d, -f1 "$T/out.csv")"
else ok "dateTime is YYYY-MM-DD HH:MM:SS"; fi

# Appending to an existing file: no second header.
"$SNIFF" --stream "$T/push.bin" --csv "$T/out.csv" 2> /dev/null
if [ "$(grep -c '^dateTime' "$T/out.csv")" -eq 1 ] && [ "$(wc -l < "$T/out.csv")" -eq 11 ]; then
	ok "second run appends 5 lines, header once"
else not_ok "append" "$(cat "$T/out.csv")"; fi

# stdin and stdout.
"$SNIFF" --stream - --csv - < "$T/push.bin" > "$T/stdout.csv" 2> /dev/null
if diff <(cut -d, -f2- tests/data/vectors.csv) <(cut -d, -f2- "$T/stdout.csv") > /dev/null; then
	ok "--stream - --csv - (stdin to stdout)"
else not_ok "stdin to stdout" "$(cat "$T/stdout.csv")"; fi

# Default output: one readable line per reading.
"$SNIFF" --stream "$T/push.bin" > "$T/lines" 2> /dev/null
if [ "$(wc -l < "$T/lines")" -eq 5 ] && grep -q "NLDN012345CS4321 kit 987654321: 2615 W, today 7.4 kWh, total 65432.1 kWh, 43.1 °C" "$T/lines"; then
	ok "default output: one readable line per reading"
else not_ok "readable lines" "$(cat "$T/lines")"; fi

# Garbage in the middle of the stream and the stream cut in half: the good
# frames around it are all decoded. (700 bytes end inside V06, the 4th
# data frame, which starts at byte 581.)
{ head -c 500 /dev/urandom; cat "$T/push.bin"; head -c 300 /dev/urandom; cat "$T/push.bin"; } > "$T/noisy.bin"
"$SNIFF" --stream "$T/noisy.bin" --csv "$T/noisy.csv" 2> /dev/null
if [ "$(tail -n +2 "$T/noisy.csv" | wc -l)" -ge 10 ] && [ "$(cut -d, -f2- "$T/noisy.csv" | grep -c '^NLDN012345CS4321,43.1,')" -eq 2 ]; then
	ok "noise around the frames: all 10 readings decoded"
else not_ok "noise" "$(cat "$T/noisy.csv")"; fi
head -c 700 "$T/push.bin" > "$T/cut.bin"
"$SNIFF" --stream "$T/cut.bin" --csv "$T/cut.csv" 2> "$T/err"; rc=$?
if [ $rc -eq 0 ] && [ "$(tail -n +2 "$T/cut.csv" | wc -l)" -eq 3 ] && grep -q "truncated frame" "$T/err"; then
	ok "stream cut mid-frame: earlier readings kept, truncation reported"
else not_ok "cut stream" "rc=$rc $(cat "$T/err" "$T/cut.csv")"; fi

# A peer sending nothing but bad frames: the first 16 are logged (and kept
# by the journal), the rest only counted; the good frame after still comes.
perl -e 'for (1..500) { print pack("H*", "680241b1e8e4715fe8e4715f01002e16") }' > "$T/flood.bin"
tests/vectors-to-stream tests/data/vectors.tsv >> "$T/flood.bin"
"$SNIFF" --stream "$T/flood.bin" --csv "$T/flood.csv" --db "$T/flood.db" 2> "$T/err"; rc=$?
kept=$(sqlite3 "$T/flood.db" 'SELECT count(*) FROM rejects' 2>/dev/null)
if [ $rc -eq 0 ] && [ "$(grep -c 'rejected: ' "$T/err")" -eq 16 ] && [ "$kept" = 16 ] &&
   grep -q '502 frames rejected in all, 486 of them only counted' "$T/err" &&
   [ "$(tail -n +2 "$T/flood.csv" | wc -l)" -eq 5 ]; then
	ok "reject flood: 16 logged and kept, the rest counted, readings after it decoded"
else not_ok "reject flood" "rc=$rc kept=$kept $(tail -5 "$T/err")"; fi

finish
