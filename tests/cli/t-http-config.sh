#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# [http] listen: off by default; a loopback address is fine, anything
# other hosts reach is a configuration error unless allow_remote = yes,
# whether it comes from the file or from --http; a listen that is not a
# numeric ADDRESS:PORT is refused, naming the key.
set -u
. "$(dirname "$0")/../tap.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

for prog in omnik-relay omnik-sniff; do
	P=$B/$prog
	extra=()
	[ "$prog" = omnik-sniff ] && extra=(-i lo)
	"$P" -n -v -c /dev/null "${extra[@]}" >"$T/out" 2>&1
	check "$prog: [http] listen is empty (off) by default" \
		grep -qx 'listen = ' <(sed -n '/^\[http\]/,/^\[/p' "$T/out")
	for a in 127.0.0.1:8080 127.1.2.3:1 '[::1]:8080'; do
		check "$prog --http $a: loopback is accepted" \
			"$P" -n -c /dev/null "${extra[@]}" --http "$a"
	done
	for a in 0.0.0.0:8080 192.0.2.1:8080 '[::]:8080' '[2001:db8::1]:80'; do
		"$P" -n -c /dev/null "${extra[@]}" --http "$a" >"$T/out" 2>&1; rc=$?
		if [ $rc -eq 1 ] && grep -q 'allow_remote = yes' "$T/out"; then
			ok "$prog --http $a: refused without allow_remote"
		else not_ok "$prog --http $a" "rc=$rc $(cat "$T/out")"; fi
		printf '[http]\nlisten = %s\nallow_remote = yes\n' "$a" >"$T/ok.conf"
		check "$prog: $a with allow_remote = yes is accepted" \
			"$P" -n -c "$T/ok.conf" "${extra[@]}"
		printf '[http]\nlisten = %s\n' "$a" >"$T/bad.conf"
		"$P" -n -c "$T/bad.conf" "${extra[@]}" >"$T/out" 2>&1; rc=$?
		if [ $rc -eq 1 ] && grep -q "bad.conf:2: .*allow_remote" "$T/out"; then
			ok "$prog: $a in the file is refused, with its line"
		else not_ok "$prog: $a in the file" "rc=$rc $(cat "$T/out")"; fi
	done
	for a in 8080 localhost:8080 127.0.0.1: 127.0.0.1:0 127.0.0.1:65536 '::1:8080' '[::1]8080'; do
		"$P" -n -c /dev/null "${extra[@]}" --http "$a" >"$T/out" 2>&1; rc=$?
		if [ $rc -eq 1 ] && grep -q '\[http\] listen' "$T/out"; then
			ok "$prog --http '$a': refused, naming the key"
		else not_ok "$prog --http '$a'" "rc=$rc $(cat "$T/out")"; fi
	done
done
finish
