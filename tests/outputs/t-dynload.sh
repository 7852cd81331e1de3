#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The remote outputs' libraries (libpq, libmosquitto, libcurl) are loaded
# at run time, each only when its output is configured (output/dynlib.c):
# no program links them, an idle relay without remote outputs does not map
# them, and a library that cannot be loaded stops the start with a clear
# error while `-n` still checks the configuration. The missing library is
# real: a private mount namespace puts an empty file over it.
. "$(dirname "$0")/lib.sh"

RELAY="$B/omnik-relay"
LIBS='libpq|libmosquitto|libcurl|libssl|libcrypto|libgnutls|libkrb5|libldap'

for p in "$RELAY" "$B/omnik-sniff" "$FEED"; do
	ldd "$p" | grep -Eq "$LIBS"
	ok $((! $?)) "$(basename "$p") links none of $LIBS"
done

cat >"$T/pg.conf" <<EOC
[postgresql]
conninfo = host=$T/nopg port=1 user=omk dbname=none
EOC
# MQTT connects at start: to a closed port on loopback, refused at once.
cat >"$T/mqtt.conf" <<'EOC'
[mqtt]
host = 127.0.0.1
port = 1
EOC
cat >"$T/pv.conf" <<'EOC'
[pvoutput]
url = https://192.0.2.1/
api_key = k
systems = NLDN3020131A0123=12345
EOC
: >"$T/none.conf"

# start_relay CONF: a relay in the background (RPID), its log in $T/relay.log;
# no kit connects, so no output ever contacts its server.
start_relay() {
	local port
	port=$(free_port)
	rm -f "$T/j.db" "$T/j.db-wal" "$T/j.db-shm"
	"$RELAY" -f -u '' -c "$1" -l "127.0.0.1:$port" --upstream none \
	    --db "$T/j.db" --csv "$T/x.csv" 2>"$T/relay.log" &
	RPID=$!
	wait_for 10 grep -q started "$T/relay.log"
}
stop_relay() {
	kill "$RPID" 2>/dev/null
	wait "$RPID" 2>/dev/null
}
# mapped CONF WANT "what": the remote libraries an idle relay with CONF
# has mapped are WANT.
mapped() {
	local got
	start_relay "$1"
	ok $? "relay starts with $(basename "$1")"
	got=$(grep -Eo 'lib(pq|mosquitto|curl)\.so' "/proc/$RPID/maps" |
	    sort -u | tr '\n' ' ')
	stop_relay
	is "$got" "$2" "$3"
}
mapped "$T/none.conf" "" "no remote output: none of the libraries loaded"
mapped "$T/pg.conf" "libpq.so " "[postgresql] loads libpq only"
mapped "$T/mqtt.conf" "libmosquitto.so " "[mqtt] loads libmosquitto only"
mapped "$T/pv.conf" "libcurl.so " "[pvoutput] loads libcurl only"

# without "LIB..." CMD...: CMD in a mount namespace where each LIB (a
# soname) is an empty file.
without() {
	local lib file mounts=""
	for lib in $1; do
		file=$(ldconfig -p | awk -v l="$lib" '$1 == l { print $NF; exit }')
		file=$(readlink -f "$file")
		[ -f "$file" ] || return 99
		mounts="$mounts mount --bind $T/none.conf $file &&"
	done
	shift
	unshare -m --propagation private sh -c "$mounts exec \"\$@\"" sh "$@"
}
ALL="libpq.so.5 libmosquitto.so.1 libcurl.so.4"
if [ "$(id -u)" -ne 0 ] || ! without "$ALL" true 2>/dev/null; then
	for i in 1 2 3 4 5 6 7; do	# the tests below
		echo "ok $((ntest + i)) # skip needs root and unshare -m"
	done
	ntest=$((ntest + 7))
	done_testing
	exit
fi

# fails CONF LIB "message": the relay refuses to start, saying why.
fails() {
	local out rc
	out=$(without "$2" timeout 20 "$RELAY" -f -u '' -c "$1" \
	    -l "127.0.0.1:$(free_port)" --upstream none --db "$T/j.db" 2>&1)
	rc=$?
	ok $([ $rc -eq 1 ] && echo "$out" | grep -qF -- "$3"; echo $?) \
	    "$2 missing: exit 1 with '$3'"
	[ $rc -eq 1 ] || echo "# rc $rc: $out"
}
fails "$T/pg.conf" libpq.so.5 \
    "PostgreSQL output: cannot load libpq.so.5: "
fails "$T/mqtt.conf" libmosquitto.so.1 \
    "MQTT output: cannot load libmosquitto.so.1: "
fails "$T/pv.conf" libcurl.so.4 \
    "PVOutput output: cannot load libcurl.so.4: "
out=$(without libpq.so.5 "$RELAY" -f -u '' -c "$T/pg.conf" \
    -l "127.0.0.1:$(free_port)" --upstream none --db "$T/j.db" 2>&1)
echo "# $out"
echo "$out" | grep -qF "(install the libpq5 package)"
ok $? "the error names the package to install"

# -n reads the whole configuration without loading anything.
cat "$T/pg.conf" "$T/mqtt.conf" "$T/pv.conf" >"$T/all.conf"
out=$(without "$ALL" "$RELAY" -n -c "$T/all.conf" 2>&1)
ok $? "-n accepts a configuration whose libraries are all missing"
out=$(without "$ALL" "$B/omnik-sniff" -n -c "$T/all.conf" 2>&1)
ok $? "omnik-sniff -n too"

# A relay without remote outputs does not care (stopped by timeout's
# SIGTERM: a background job here would be unshare's shell, not the relay).
without "$ALL" timeout 2 "$RELAY" -f -u '' -c "$T/none.conf" \
    -l "127.0.0.1:$(free_port)" --upstream none --db "$T/j.db" \
    2>"$T/relay.log"
grep -q started "$T/relay.log"
ok $? "without any of the libraries a relay with no remote output starts"
done_testing
