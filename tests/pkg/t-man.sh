#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The man pages: they format without a warning (groff, as man shows
# them), every config key the programs know is documented in
# omniklog.conf(5) with the default the programs use, every long option
# of --help is in the program's page, and --help points to the pages.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP"
: "${B:=build}"
n=0; fail=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n - $*"; }
check() { local w=$1; shift; if "$@"; then ok "$w"; else not_ok "$w"; fi; }
M=docs/man

make -s B="$B" SANITIZE="$([ "$B" = build/check ] && echo 1)" man >/dev/null ||
	not_ok "man pages build"
for p in omnik-relay.8 omnik-sniff.8 omniklog.conf.5 omniklog-rules.8 \
    omnik-sniff-nfqueue.8 omnik-poll.8; do
	w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$B/man/$p" 2>&1 >/dev/null)
	check "$p formats without warnings${w:+: $w}" [ -z "$w" ]
	if command -v mandoc >/dev/null; then
		# scdoc's output has empty paragraphs mandoc notes as warnings;
		# errors are what matters here.
		e=$(mandoc -T lint -W error "$B/man/$p" 2>&1)
		check "$p: mandoc -T lint finds no error${e:+: $e}" [ -z "$e" ]
	fi
done

# "[section]" then "key = value" lines, from the program itself.
"$B/omnik-relay" -n -v -c /dev/null | awk '
	/^\[/ { sec = substr($0, 2, length($0) - 2); next }
	/^[a-z_]+ = / { v = substr($0, index($0, "= ") + 2); print sec, $1, v }
' >"$B/man-keys.txt"
# The same from the page: "*key* = ... (default *V*" under "# [section]"
# (*V* or _V_ a value, a bare word like "empty" none).
awk '
	/^# \[/ { sec = $2; gsub(/[\[\]:]/, "", sec); next }
	/^# / { sec = ""; next }
	sec != "" && /^\*[a-z_]+\* = / {
		k = $1; gsub(/\*/, "", k)
		d = $0; sub(/.*\(default /, "", d)
		c = substr(d, 1, 1)
		if (c == "*" || c == "_") {
			d = substr(d, 2); d = substr(d, 1, index(d, c) - 1)
		} else
			d = ""
		print sec "\t" k "\t" d
	}
' "$M/omniklog.conf.5.scd" >"$B/man-doc.txt"
nkeys=$(wc -l <"$B/man-keys.txt")
missing=0
while read -r sec key val; do
	doc=$(awk -F '\t' -v s="$sec" -v k="$key" '$1 == s && $2 == k { print $3; f = 1 } END { exit !f }' "$B/man-doc.txt")
	if [ $? -ne 0 ]; then
		echo "# [$sec] $key is not in omniklog.conf(5)"; missing=$((missing + 1))
	elif [ "$doc" != "$val" ]; then
		echo "# [$sec] $key: default '$val', the page says '$doc'"; missing=$((missing + 1))
	fi
done <"$B/man-keys.txt"
check "omniklog.conf(5) documents all $nkeys keys with their defaults" \
	eval '[ "$nkeys" -gt 40 ] && [ "$missing" -eq 0 ]'

for prog in omnik-relay omnik-sniff omnik-poll; do
	opts=$("$B/$prog" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u)
	miss=""
	for o in $opts; do
		grep -qF -- "*$o*" "$M/$prog.8.scd" || miss="$miss $o"
	done
	check "$prog(8) documents every long option of --help${miss:+ (missing:$miss)}" [ -z "$miss" ]
	check "$prog --help points to $prog(8) and omniklog.conf(5)" \
		eval '"$B/$prog" --help | grep -q "$prog(8).*omniklog.conf(5)"'
	for s in SIGNALS FILES "EXIT STATUS" EXAMPLES; do
		check "$prog(8) has $s" grep -q "^# $s" "$M/$prog.8.scd"
	done
done
echo "1..$n"
[ "$fail" -eq 0 ]
