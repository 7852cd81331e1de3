#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# What root gives away (issue 9 item 2): a missing service user is no
# reason to run as root; after the switch nothing is left to regain
# (uid, capabilities, bounding set, no_new_privs, read in /proc); output
# files are never opened through a planted symlink; omnik-sniff -r and
# --stream parse their input as an unprivileged user.
set -u
. "$(dirname "$0")/../tap.sh"
RELAY=$B/omnik-relay
SNIFF=$B/omnik-sniff
T=$(mktemp -d)
chmod 755 "$T"
mkdir -m 777 "$T/data"
PORT=$((20000 + ($$ + 7) % 20000))
pids=()
trap 'for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done; rm -rf "$T"' EXIT
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"

# status PID FIELD: a field of /proc/PID/status, tabs squeezed.
status() { sed -n "s/^$2:[[:space:]]*//p" "/proc/$1/status" | tr -s '\t ' ' '; }
unprivileged() {	# pid uid: that uid everywhere, nothing to regain
	[ "$(status "$1" Uid)" = "$2 $2 $2 $2" ] &&
	[ "$(status "$1" CapEff)" = 0000000000000000 ] &&
	[ "$(status "$1" CapPrm)" = 0000000000000000 ] &&
	[ "$(status "$1" CapBnd)" = 0000000000000000 ] &&
	[ "$(status "$1" NoNewPrivs)" = 1 ]
}
wait_for() {	# "condition" tenths-of-seconds
	for _ in $(seq "$2"); do eval "$1" && return 0; sleep 0.1; done
	return 1
}
secret() { printf 'root only\n' >"$T/secret"; chmod 600 "$T/secret"; }
untouched() {
	[ "$(stat -c '%U %a' "$T/secret")" = "root 600" ] &&
	[ "$(cat "$T/secret")" = "root only" ]
}
nobody_uid=$(id -u nobody)
# The sniffer switches to omniklog where that user exists (an installed
# package creates it), to nobody where it does not.
if id -u omniklog >/dev/null 2>&1; then sniff_user=omniklog; else sniff_user=nobody; fi
sniff_uid=$(id -u "$sniff_user")
tests/vectors-to-stream tests/data/vectors.tsv >"$T/push.bin"

# --- The service user missing ----------------------------------------
"$RELAY" -f -c /dev/null -u omniklog-nosuchuser -l "127.0.0.1:$PORT" --db '' \
	>"$T/out" 2>&1; rc=$?
if [ $rc -eq 1 ] && grep -q "user 'omniklog-nosuchuser' does not exist: refusing to run as root" "$T/out"; then
	ok "relay: a missing user is refused, not run as root"
else not_ok "missing user" "rc=$rc $(cat "$T/out")"; fi
timeout 10 "$RELAY" -f -c /dev/null -u '' -l "127.0.0.1:$PORT" --db '' >"$T/root.log" 2>&1 &
pids+=($!); rpid=$!
if wait_for 'grep -q started: "$T/root.log"' 100 && grep -q "running as root, as asked" "$T/root.log" &&
   [ "$(status "$rpid" Uid)" = "0 0 0 0" ]; then
	ok "relay: -u '' runs as root on purpose, and says so"
else not_ok "-u ''" "$(cat "$T/root.log")"; fi
kill -TERM "$rpid"; wait "$rpid" 2>/dev/null

# --- After the switch -----------------------------------------------
"$RELAY" -f -c /dev/null -u nobody -l "127.0.0.1:$PORT" --db "$T/data/j.db" \
	--csv "$T/data/r.csv" >"$T/relay.log" 2>&1 &
pids+=($!); rpid=$!
if wait_for 'grep -q started: "$T/relay.log"' 100 && unprivileged "$rpid" "$nobody_uid"; then
	ok "relay as nobody: uid, no capability, empty bounding set, no_new_privs"
else not_ok "relay privileges" "$(grep -E '^(Uid|Cap|NoNew)' "/proc/$rpid/status") $(cat "$T/relay.log")"; fi
kill -TERM "$rpid"; wait "$rpid" 2>/dev/null

# omnik-sniff --stream and -r as root: input opened, then the service
# user (or nobody) parses it. A FIFO holds them at the first read.
mkfifo "$T/fifo"
"$SNIFF" --stream "$T/fifo" >"$T/s.out" 2>"$T/s.err" &
pids+=($!); spid=$!
exec 3>"$T/fifo"
if wait_for 'unprivileged "$spid" "$sniff_uid"' 50; then
	ok "sniff --stream as root: parses as $sniff_user, no capability, no_new_privs"
else not_ok "sniff --stream privileges" "$(grep -E '^(Uid|Cap|NoNew)' "/proc/$spid/status") $(cat "$T/s.err")"; fi
cat "$T/push.bin" >&3; exec 3>&-
wait "$spid"; rc=$?
check "... and decodes what it reads (5 readings)" \
	eval '[ $rc -eq 0 ] && [ "$(grep -c " W, today " "$T/s.out")" -eq 5 ]'
"$B/tests/mkpcap" -o "$T/push.pcap" --vectors tests/data/vectors.tsv 2>/dev/null
"$SNIFF" -r "$T/fifo" >"$T/r.out" 2>"$T/r.err" &
pids+=($!); spid=$!
exec 3>"$T/fifo"
if wait_for 'unprivileged "$spid" "$sniff_uid"' 50; then
	ok "sniff -r as root: parses as $sniff_user, no capability, no_new_privs"
else not_ok "sniff -r privileges" "$(grep -E '^(Uid|Cap|NoNew)' "/proc/$spid/status") $(cat "$T/r.err")"; fi
cat "$T/push.pcap" >&3; exec 3>&-
wait "$spid"; rc=$?
check "... and decodes the capture (5 readings)" \
	eval '[ $rc -eq 0 ] && [ "$(grep -c " W, today " "$T/r.out")" -eq 5 ]'
# A root-only input is opened as root, before the switch.
cp "$T/push.bin" "$T/private.bin"; chmod 600 "$T/private.bin"
check "sniff --stream of a root-only file: read (opened before the switch)" \
	eval '[ "$("$SNIFF" --stream "$T/private.bin" 2>/dev/null | grep -c " W, today ")" -eq 5 ]'
# Outputs are opened as that user: a root-only directory says so.
mkdir -m 700 "$T/rootonly"
"$SNIFF" --stream "$T/push.bin" --csv "$T/rootonly/x.csv" >/dev/null 2>"$T/err"; rc=$?
if [ $rc -eq 1 ] && grep -q "outputs are opened as $sniff_user" "$T/err" && [ ! -e "$T/rootonly/x.csv" ]; then
	ok "sniff: an output only root may write is refused with the reason"
else not_ok "root-only output" "rc=$rc $(cat "$T/err")"; fi

# --- A symlink planted as the CSV in a writable data directory -------
secret
ln -s "$T/secret" "$T/data/omniklog.csv"
"$RELAY" -f -c /dev/null -u '' -l "127.0.0.1:$PORT" --db '' \
	--csv "$T/data/omniklog.csv" >"$T/out" 2>&1 &
pids+=($!); rpid=$!
wait_for '! kill -0 $rpid 2>/dev/null || grep -q started: "$T/out"' 100
kill -TERM "$rpid" 2>/dev/null
wait "$rpid" 2>/dev/null; rc=$?
grep -q started: "$T/out" && rc=0
if [ $rc -eq 1 ] && untouched && grep -q "omniklog.csv.*symbolic link" "$T/out"; then
	ok "relay as root: a symlink CSV is refused, its target untouched"
else not_ok "relay symlink CSV" "rc=$rc $(ls -l "$T/secret") $(cat "$T/out")"; fi
secret
"$SNIFF" -u '' --stream "$T/push.bin" --csv "$T/data/omniklog.csv" >/dev/null 2>"$T/err"; rc=$?
if [ $rc -eq 1 ] && untouched && grep -q "symbolic link" "$T/err"; then
	ok "sniff as root: a symlink CSV is refused, its target untouched"
else not_ok "sniff symlink CSV" "rc=$rc $(ls -l "$T/secret") $(cat "$T/err")"; fi
finish
