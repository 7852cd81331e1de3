#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# PVOutput output over HTTPS: haproxy terminates TLS with a certificate
# from a CA made at test time, in front of the PVOutput test server.
# [pvoutput] cafile trusts that CA: statuses arrive, the key travels in a
# header (the proxy sees it there, never in a request line or our log); a
# wrong CA fails with curl's reason, keeps the readings and is retried
# until the CA file is fixed; without cafile the system store refuses the
# test CA; a cafile that cannot be read is a setup error.
. "$(dirname "$0")/lib.sh"

tls_setup 2>"$T/tls.err" || { echo "not ok 1 - openssl could not make the test certificates"; cat "$T/tls.err"; exit 1; }
PVS="$B/tests/pvoutput-server"
PVPORT=$(free_port)
HPORT=$(free_port)
KEY=k3y-0v3r-tl5-$$
PVLOG="$T/pv.log"
"$PVS" -p "$PVPORT" -k "$KEY" -s 111 -l "$PVLOG" 2>>"$T/pvs.err" &
PVPID=$!
at_exit "kill $PVPID"

# haproxy in http mode: it logs every request line and the system id
# header it saw, which shows what went over the wire inside TLS.
cat "$TLS/server.pem" "$TLS/server.key" >"$T/haproxy.pem"
cat >"$T/haproxy.cfg" <<EOC
global
	log stdout format raw local0
defaults
	mode http
	log global
	log-format "%ci %HM %HU %hr %ST"
	timeout connect 2s
	timeout client 10s
	timeout server 10s
frontend pv_tls
	bind 127.0.0.1:$HPORT ssl crt $T/haproxy.pem
	http-request capture req.hdr(X-Pvoutput-SystemId) len 16
	default_backend pv
backend pv
	server pv 127.0.0.1:$PVPORT
EOC
hp_start() {
	haproxy -f "$T/haproxy.cfg" -db >>"$T/haproxy.log" 2>&1 &
	HPID=$!
	wait_for 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$HPORT"
}
hp_stop() {	# soft stop: a request in flight gets its reply first
	[ -n "${HPID:-}" ] || return 0
	kill -USR1 "$HPID" 2>/dev/null
	wait "$HPID" 2>/dev/null
	HPID=
}
at_exit 'kill ${HPID:-} 2>/dev/null'
hp_start || { echo "not ok 1 - haproxy did not start"; cat "$T/haproxy.log"; exit 1; }

ROOT="$T/root.pem"		# the CA file our config trusts
cp "$TLS/ca.pem" "$ROOT"
conf() {	# conf FILE [more [pvoutput] lines]
	local f=$1; shift
	printf '%s\n' "[omniklog]" "db = $T/journal.db" "[pvoutput]" \
	    "api_key = $KEY" "systems = NLDN302013000000=111" \
	    "url = https://localhost:$HPORT" "$@" >"$f"
}
conf "$T/omk.conf" "cafile = $ROOT"
now=$(date +%s)
t0=$((now - 86400))
status_of() { date -d "@$1" +'%Y%m%d %H:%M'; }
added() { awk '$1 == 111 { print $2, $3 }' "$PVLOG"; }
expect() {	# expect FIRST COUNT
	local i
	for ((i = $1; i < $1 + $2; i++)); do
		status_of $((t0 + i * 300))
	done
}

"$FEED" -c "$T/omk.conf" --count 40 --start $t0 --flush 20 >"$T/f1.log" 2>&1
ok $? "https with cafile: 40 statuses delivered"
is "$(added)" "$(expect 0 40)" "PVOutput got statuses 0..39 once each, in order"
# haproxy logs a request once it is over: give it a moment.
proxied() { [ "$(grep -c "^127.0.0.1 POST /service/r2/addbatchstatus.jsp {111} 200\$" "$T/haproxy.log")" -eq "$1" ]; }
n200=$(grep -c '^# 200' "$PVLOG")
wait_for 3 proxied "$n200"
ok $? "the $n200 requests PVOutput answered went through the TLS proxy, system id in the header"

# A wrong CA: the program restarted with a backlog, then the CA fixed.
cp "$TLS/ca2.pem" "$ROOT"
"$FEED" -c "$T/omk.conf" --count 5 --start $t0 --first 40 --flush 3 \
    >"$T/f2.log" 2>&1
is $? 3 "wrong CA: omk-feed stops with a backlog"
is "$(sqlite3 "$T/journal.db" "SELECT count(*) FROM readings WHERE id > (SELECT position FROM cursors WHERE name = 'pvoutput:111')")" \
   5 "the 5 readings wait in the journal"
is "$(added | wc -l)" 40 "none of them reached PVOutput"

# The CA file fixed while a capture runs: the next try picks it up.
"$FEED" -c "$T/omk.conf" --count 10 --interval 100 --start $t0 --first 45 \
    --flush 20 >"$T/f3.log" 2>&1 &
feed=$!
sleep 1
cp "$TLS/ca.pem" "$ROOT"
wait $feed
ok $? "CA fixed: backlog and new readings delivered"
is "$(added)" "$(expect 0 55)" "statuses 40..54 once each, in order"

# The CA rotated while the program runs: the proxy restarted with a
# certificate from the second CA, the CA file replaced by that CA. New
# connections must check against the file as it is now.
tls_cert rotated "/CN=localhost" "subjectAltName=DNS:localhost" ca2 2>>"$T/tls.err"
"$FEED" -c "$T/omk.conf" --count 10 --interval 100 --start $t0 --first 55 \
    --flush 20 >"$T/f4.log" 2>&1 &
feed=$!
sleep 0.5
hp_stop
cat "$TLS/rotated.pem" "$TLS/rotated.key" >"$T/haproxy.pem"
cp "$TLS/ca2.pem" "$ROOT"
hp_start
wait $feed
ok $? "CA rotated: delivered over the new chain without a restart"
is "$(added)" "$(expect 0 65)" "statuses 55..64 once each, in order"

# No cafile: the system's store, which does not know the test CA.
conf "$T/sys.conf"
"$FEED" -c "$T/sys.conf" --count 3 --start $t0 --first 65 --flush 3 \
    >"$T/f5.log" 2>&1
is $? 3 "no cafile: the system store refuses the test CA"
grep -q "output pvoutput system 111: SSL certificate problem: unable to get local issuer certificate" "$T/f5.log"
ok $? "curl's reason is logged"
"$FEED" -c "$T/omk.conf" --count 0 --flush 20 >"$T/f6.log" 2>&1
ok $? "with cafile again the backlog goes out"
is "$(added)" "$(expect 0 68)" "statuses 65..67 once each"

# A cafile that cannot be read is a setup error, said at start.
conf "$T/bad.conf" "cafile = $T/no-such-ca.pem"
"$FEED" -c "$T/bad.conf" --count 1 --start $t0 --first 68 --flush 1 \
    >"$T/f7.log" 2>&1
is $? 1 "unreadable cafile: omk-feed refuses to start"
grep -q "bad.conf:[0-9]*: \[pvoutput\] cafile: cannot read '$T/no-such-ca.pem': No such file or directory" "$T/f7.log"
ok $? "and says which setting"

# The key went only in a header: never in a request line the proxy saw,
# never in our log.
n=$(grep -c " POST " "$T/haproxy.log")
ok $([ "$n" -gt 0 ] && [ "$n" -eq "$(grep -c " POST /service/r2/addbatchstatus.jsp {111} 200\$" "$T/haproxy.log")" ]; echo $?) \
   "the proxy saw $n requests, each a bare path with the system id in its header"
is "$(cat "$T/haproxy.log" "$T"/f*.log | grep -c -- "$KEY")" 0 \
   "the API key is in no request line and no log"

done_testing
