#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# PostgreSQL output over TLS against a real server with ssl=on and a
# certificate from a CA made at test time: sslmode=verify-full delivers
# and pg_stat_ssl shows the session encrypted; a wrong CA or a wrong host
# name fails with a clear log line and keeps the readings, which arrive
# exactly once when the CA is fixed (in place, while running) or after a
# restart; a server restart renegotiates and loses nothing; a role that
# logs in by client certificate gets in with it and only with it.
. "$(dirname "$0")/lib.sh"

tls_setup 2>"$T/tls.err" || { echo "not ok 1 - openssl could not make the test certificates"; cat "$T/tls.err"; exit 1; }
pg_setup || { echo "not ok 1 - initdb failed"; cat "$T/initdb.log"; exit 1; }
# The key must belong to the server's user and be private to it.
install -o "$PGUSER_OS" -m 600 "$TLS/server.key" "$PGDIR/server.key"
install -o "$PGUSER_OS" -m 644 "$TLS/server.pem" "$PGDIR/server.pem"
# TCP on loopback only with TLS; the test's own psql uses the socket.
# The client certificate's name is the role that logs in with it.
CERTUSER=omniklog-test-client
cat >"$PGDIR/data/pg_hba.conf" <<EOC
local all all trust
hostssl all $CERTUSER 127.0.0.1/32 cert
hostssl all all 127.0.0.1/32 trust
hostnossl all all 0.0.0.0/0 reject
EOC
PG_LISTEN=127.0.0.1
PG_OPTS="-c ssl=on -c ssl_cert_file=$PGDIR/server.pem -c ssl_key_file=$PGDIR/server.key\
    -c ssl_ca_file=$TLS/ca.pem"
pg_start || { echo "not ok 1 - PostgreSQL did not start"; cat "$PGDIR/log"; exit 1; }

APP=omk-tls-$$
ROOT="$T/root.pem"		# the CA file our conninfo trusts
cp "$TLS/ca.pem" "$ROOT"
# A TLS conninfo is long: it goes on indented lines.
conf() {	# conf FILE [HOST-AND-PORT [USER-AND-CERT]]
	cat >"$1" <<EOC
[omniklog]
db = $T/journal.db
[postgresql]
conninfo = ${2:-host=localhost port=$PGPORT} ${3:-user=omk} dbname=postgres
    sslmode=verify-full sslrootcert=$ROOT
    connect_timeout=3 application_name=$APP
table = readings
batch = 50
EOC
}
conf "$T/omk.conf"
t0=$(( $(date +%s) - 86400 ))
rows_at_least() { [ "$(psql_q "SELECT count(*) FROM readings")" -ge "$1" ]; }
rows() { psql_q "SELECT count(*) || ' ' || count(DISTINCT (inverter_sn, time)) FROM readings"; }

"$FEED" -c "$T/omk.conf" --count 20 --start $t0 --flush 20 >"$T/f1.log" 2>&1
ok $? "verify-full with the test CA: 20 readings delivered"
is "$(rows)" "20 20" "20 rows in PostgreSQL"

# The session is encrypted: pg_stat_ssl of our connection, seen while a
# live capture keeps it open; and the server takes no plain TCP at all.
"$FEED" -c "$T/omk.conf" --count 20 --interval 100 --start $t0 --first 20 \
    --flush 20 >"$T/f2.log" 2>&1 &
feed=$!
wait_for 10 rows_at_least 25
ssl=$(psql_q "SELECT s.ssl, s.version, s.cipher <> '' FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = '$APP'")
wait $feed
ok $? "live capture over TLS delivered"
is "$ssl" "t|TLSv1.3|t" "pg_stat_ssl: our session is encrypted (TLS 1.3, a cipher)"
is "$(rows)" "40 40" "40 rows"
psql "host=127.0.0.1 port=$PGPORT user=omk dbname=postgres sslmode=disable" -Atqc "SELECT 1" >"$T/plain.out" 2>&1
ok $([ $? -ne 0 ] && grep -q "no encryption" "$T/plain.out"; echo $?) \
   "the server refuses a connection without TLS"

# A wrong CA: the program restarted with a backlog, then the CA fixed.
cp "$TLS/ca2.pem" "$ROOT"
"$FEED" -c "$T/omk.conf" --count 10 --start $t0 --first 40 --flush 3 \
    >"$T/f3.log" 2>&1
is $? 3 "wrong CA: omk-feed stops with a backlog"
grep -q "output postgresql: cannot connect: .*SSL error: certificate verify failed" "$T/f3.log"
ok $? "the failure is logged clearly: certificate verify failed"
is "$(grep -c "output postgresql" "$T/f3.log")" "$(grep -c "output postgresql.*verify failed" "$T/f3.log")" \
   "one line per try, nothing else"
is "$(sqlite3 "$T/journal.db" "SELECT count(*) FROM readings WHERE id > (SELECT position FROM cursors WHERE name = 'postgresql')")" \
   10 "the 10 readings wait in the journal"
is "$(rows)" "40 40" "no row went out"

# The CA file fixed while a capture runs: the next try picks it up.
"$FEED" -c "$T/omk.conf" --count 10 --interval 100 --start $t0 --first 50 \
    --flush 20 >"$T/f4.log" 2>&1 &
feed=$!
sleep 1
cp "$TLS/ca.pem" "$ROOT"
wait $feed
ok $? "CA fixed: backlog and new readings delivered"
grep -q "verify failed" "$T/f4.log" && grep -q "output postgresql: connected" "$T/f4.log"
ok $? "it failed first, then connected"
is "$(rows)" "60 60" "60 rows: each reading exactly once"
is "$(psql_q "SELECT count(*) FROM readings WHERE time <> to_timestamp($t0) + (round(etotal * 10) - 100000) * interval '300 s'")" \
   0 "every row is the reading fed at its time"

# verify-full checks the name too: the right CA, a name not in the
# certificate, on the second of two addresses (as localhost has ::1 and
# 127.0.0.1), the first down (hostaddr: no resolver needed). libpq says
# so on three lines; they make one log line.
dead=$(free_port)
conf "$T/name.conf" "host=omk-not-this-server.invalid,omk-not-this-server.invalid hostaddr=127.0.0.1,127.0.0.1 port=$dead,$PGPORT"
"$FEED" -c "$T/name.conf" --count 5 --start $t0 --first 60 --flush 3 \
    >"$T/f5.log" 2>&1
is $? 3 "wrong host name: not delivered"
grep -q 'output postgresql: cannot connect: .*server certificate for "localhost".*does not match host name "omk-not-this-server.invalid"' "$T/f5.log"
ok $? "the name mismatch is logged clearly"
grep -q "output postgresql: cannot connect: .*port $dead failed: Connection refused Is the server running.*; connection to server at .*port $PGPORT failed: server certificate" "$T/f5.log"
ok $? "both addresses' failures on one log line"
is "$(grep -cv '^omk-feed: \|^fed ' "$T/f5.log")" 0 "no stray lines in the log"
"$FEED" -c "$T/omk.conf" --count 0 --flush 20 >"$T/f6.log" 2>&1
ok $? "with the right name the program delivers the backlog"
is "$(rows)" "65 65" "65 rows"

# A server restart during a live capture: a new TLS session, nothing lost.
"$FEED" -c "$T/omk.conf" --count 30 --interval 50 --start $t0 --first 65 \
    --flush 30 >"$T/f7.log" 2>&1 &
feed=$!
# Once the first batch is delivered (the journal commits it within 500 ms).
for _ in $(seq 100); do
	grep -q "output postgresql: connected" "$T/f7.log" && break
	sleep 0.1
done
pg_stop
sleep 1
pg_start
wait $feed
ok $? "server restarted: the backlog went out over a new TLS session"
is "$(rows)" "95 95" "95 rows, none lost, none twice"
is "$(grep -c "output postgresql: connected" "$T/f7.log")" 2 "connected twice"
late=$(sed -n 's/.*late by at most \(-\?[0-9]*\) ms.*/\1/p' "$T/f7.log")
ok $([ -n "$late" ] && [ "$late" -lt 500 ]; echo $?) \
   "capture never waited on the TLS handshakes (late by at most ${late:-?} ms)"

# Authentication by client certificate (pg_hba "cert"): the role named
# by the certificate, its key given in the conninfo.
psql_q "CREATE ROLE \"$CERTUSER\" LOGIN; GRANT CREATE ON SCHEMA public TO \"$CERTUSER\"; GRANT ALL ON readings TO \"$CERTUSER\"" >/dev/null
conf "$T/cert.conf" "host=localhost port=$PGPORT" \
    "user=$CERTUSER sslcert=$TLS/client.pem sslkey=$TLS/client.key"
"$FEED" -c "$T/cert.conf" --count 5 --start $t0 --first 95 --flush 20 \
    >"$T/f8.log" 2>&1
ok $? "client certificate: 5 readings delivered"
is "$(rows)" "100 100" "100 rows"
conf "$T/nocert.conf" "host=localhost port=$PGPORT" "user=$CERTUSER"
"$FEED" -c "$T/nocert.conf" --count 3 --start $t0 --first 100 --flush 3 \
    >"$T/f9.log" 2>&1
is $? 3 "the same role without its certificate: refused"
grep -q "output postgresql: cannot connect: .*certificate" "$T/f9.log"
ok $? "the refusal is logged with the server's reason"

done_testing
