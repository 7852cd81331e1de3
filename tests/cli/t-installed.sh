#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# omnik-sniff -r and --stream on an installed system (issue 12 item 7):
# the installed config's CSV and journal are the service's; a replay or a
# stream decode must not append to them unless asked (-c FILE), and by
# default prints readable lines on stdout. The program under test is
# omnik-sniff built with its default config file under the build
# directory ($B/tests/sysconf/omniklog/omniklog.conf), never the real /etc.
set -u
. "$(dirname "$0")/../tap.sh"
SNIFF=$B/tests/omnik-sniff-sysconf
ETC=$(cd "$B" && pwd)/tests/sysconf/omniklog
T=$(mktemp -d)
chmod 755 "$T"
mkdir -m 777 "$T/data"
trap 'rm -rf "$T" "$ETC"' EXIT
mkdir -p "$ETC"

tests/vectors-to-stream tests/data/vectors.tsv >"$T/push.bin"
"$B/tests/mkpcap" -o "$T/push.pcap" --vectors tests/data/vectors.tsv 2>/dev/null
# What `make install` puts there, with the service's outputs.
cat >"$ETC/omniklog.conf" <<CONF
[omniklog]
csv = $T/data/prod.csv
db = $T/data/prod.db
[sniff]
interface = eth0
CONF

check "the test build reads the installed-style config by default" \
	eval '"$SNIFF" -n -v | grep -qx "csv = $T/data/prod.csv"'

for mode in "-r $T/push.pcap" "--stream $T/push.bin"; do
	name=${mode%% *}
	# shellcheck disable=SC2086
	"$SNIFF" $mode >"$T/out" 2>"$T/err"; rc=$?
	if [ $rc -eq 0 ] && [ ! -e "$T/data/prod.csv" ] && [ ! -e "$T/data/prod.db" ]; then
		ok "$name FILE: the installed config's CSV and journal are left alone"
	else not_ok "$name FILE: production outputs" "rc=$rc $(ls "$T/data") $(cat "$T/err")"; fi
	if [ "$(grep -c ' W, today ' "$T/out")" -eq 5 ] &&
	   grep -q "NLDN012345CS4321 kit 987654321: 2615 W, today 7.4 kWh" "$T/out"; then
		ok "$name FILE: one readable line per reading on stdout"
	else not_ok "$name FILE: readable lines" "$(cat "$T/out")"; fi
done

# Asked for: -c names the config, and its outputs are used.
rm -f "$T/data/prod.csv"
"$SNIFF" -c "$ETC/omniklog.conf" --stream "$T/push.bin" >"$T/out" 2>"$T/err"; rc=$?
if [ $rc -eq 0 ] && [ "$(tail -n +2 "$T/data/prod.csv" | wc -l)" -eq 5 ]; then
	ok "-c FILE --stream: the config's CSV gets the readings"
else not_ok "-c FILE" "rc=$rc $(cat "$T/err")"; fi
# An explicit --csv with no -c: that file, nothing else.
rm -f "$T/data/prod.csv"
"$SNIFF" -r "$T/push.pcap" --csv "$T/data/mine.csv" 2>"$T/err"; rc=$?
if [ $rc -eq 0 ] && [ "$(tail -n +2 "$T/data/mine.csv" | wc -l)" -eq 5 ] &&
   [ ! -e "$T/data/prod.csv" ]; then
	ok "-r FILE --csv PATH: that CSV only"
else not_ok "--csv PATH" "rc=$rc $(ls "$T/data") $(cat "$T/err")"; fi
# A replay keeps the packets' times: the same file gives the same CSV.
"$SNIFF" -r "$T/push.pcap" --csv - 2>/dev/null >"$T/a.csv"
sleep 1.1
"$SNIFF" -r "$T/push.pcap" --csv - 2>/dev/null >"$T/b.csv"
check "-r: rows carry the packets' times (two runs, the same CSV)" cmp -s "$T/a.csv" "$T/b.csv"
# A stream has no times of its own: the time read, and it says so.
"$SNIFF" --stream "$T/push.bin" 2>"$T/err" >/dev/null
check "--stream says its rows carry the time they were read" \
	grep -q "stamped with the time they are read" "$T/err"
finish
