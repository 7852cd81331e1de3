#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# [postgresql] table = SCHEMA.TABLE: the rows go to TABLE in SCHEMA (not
# to a table literally named "schema.table" in public), and a name that
# needs quoting is quoted by libpq.
. "$(dirname "$0")/lib.sh"

pg_setup || { echo "not ok 1 - initdb failed"; cat "$T/initdb.log"; exit 1; }
pg_start || { echo "not ok 1 - PostgreSQL did not start"; exit 1; }
psql_q 'CREATE SCHEMA solar'
t0=$(( $(date +%s) - 86400 ))

conf() {	# conf TABLE
	cat >"$T/omk.conf" <<EOC
[omniklog]
db = $T/journal-$2.db
[postgresql]
conninfo = $PGCONN connect_timeout=3
table = $1
EOC
}

conf solar.readings a
"$FEED" -c "$T/omk.conf" --count 5 --start $t0 --flush 20 >"$T/f1.log" 2>&1
ok $? "5 readings delivered to solar.readings"
is "$(psql_q "SELECT table_schema || '|' || table_name FROM information_schema.tables WHERE table_name LIKE '%readings%'")" \
   "solar|readings" "the table is readings in schema solar, nothing else"
is "$(psql_q "SELECT count(*) FROM solar.readings")" 5 "5 rows in solar.readings"

conf 'solar.Odd "name"' b
"$FEED" -c "$T/omk.conf" --count 3 --start $t0 --flush 20 >"$T/f2.log" 2>&1
ok $? "a name with capitals, a space and quotes works"
is "$(psql_q "SELECT count(*) FROM solar.\"Odd \"\"name\"\"\"")" 3 "3 rows in solar.\"Odd \"\"name\"\"\""

conf nosuch.readings c
"$FEED" -c "$T/omk.conf" --count 2 --start $t0 --flush 2 >"$T/f3.log" 2>&1
is $? 3 "a schema that does not exist: the readings wait in the journal"
grep -q 'schema "nosuch" does not exist' "$T/f3.log"
ok $? "and the log says why (PostgreSQL's message)"

conf a.b.c d
"$B/omnik-sniff" -n -c "$T/omk.conf" >"$T/n.log" 2>&1
ok "$(grep -q 'omk.conf:5: \[postgresql\] table: .a.b.c. is not TABLE or SCHEMA.TABLE' "$T/n.log"; echo $?)" \
   "-n rejects a.b.c with file:line"
done_testing
