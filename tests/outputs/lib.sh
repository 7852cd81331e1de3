# SPDX-License-Identifier: GPL-2.0-or-later
# lib.sh: helpers for the output tests: TAP lines, free ports, and real
# services (PostgreSQL, mosquitto) started in a temporary directory and
# stopped on exit. Sourced by tests/outputs/t-*.sh; needs $B.
set -u
: "${B:?B must name the build directory}"
FEED="$B/tests/omk-feed"
T=$(mktemp -d /tmp/omk-outputs-XXXXXX)
chmod 755 "$T"
ntest=0
nfail=0
cleanups=()

cleanup() {
	local i
	for ((i = ${#cleanups[@]} - 1; i >= 0; i--)); do
		eval "${cleanups[$i]}" >/dev/null 2>&1 || true
	done
	rm -rf "$T"
}
trap cleanup EXIT
at_exit() { cleanups+=("$1"); }

ok() {	# ok CONDITION-STATUS "what"
	ntest=$((ntest + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $ntest - $2"
	else
		echo "not ok $ntest - $2"
		nfail=$((nfail + 1))
	fi
}
is() {	# is GOT WANT "what"
	ntest=$((ntest + 1))
	if [ "$1" = "$2" ]; then
		echo "ok $ntest - $3"
	else
		echo "not ok $ntest - $3 (got '$1', want '$2')"
		nfail=$((nfail + 1))
	fi
}
done_testing() { echo "1..$ntest"; [ "$nfail" -eq 0 ]; }

# A TCP port no socket uses, below the ephemeral range (where outgoing
# connections of other tests would collide with a listener).
free_port() {
	local p lo
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range
	[ "$lo" -gt 12000 ] || lo=32768
	for _ in $(seq 50); do
		p=$((10000 + RANDOM % (lo - 10000)))
		if ! ss -Htan "sport = :$p" | grep -q .; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# wait_for SECONDS COMMAND...: poll every 0.1 s. The command runs each
# time: a "$(...)" in its arguments would be expanded once, before.
wait_for() {
	local n=$(($1 * 10)); shift
	for _ in $(seq "$n"); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
lines_at_least() { [ "$(wc -l <"$1")" -ge "$2" ]; }	# FILE N

# PostgreSQL: initdb as an unprivileged user (it refuses root), a unix
# socket in $T/pg and no TCP listener unless PG_LISTEN names addresses
# (PG_OPTS: more server options).
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
PGUSER_OS=nobody
pg_setup() {
	PGDIR="$T/pg"
	PGPORT=$(free_port)
	mkdir -p "$PGDIR"
	chown "$PGUSER_OS" "$PGDIR"
	runuser -u "$PGUSER_OS" -- "$PGBIN/initdb" -D "$PGDIR/data" -U omk \
	    --auth=trust -E UTF8 --no-sync >"$T/initdb.log" 2>&1 || return 1
	at_exit "pg_stop"
	PGCONN="host=$PGDIR port=$PGPORT user=omk dbname=postgres"
}
pg_start() {
	runuser -u "$PGUSER_OS" -- "$PGBIN/pg_ctl" -D "$PGDIR/data" -w -t 20 \
	    -l "$PGDIR/log" -o "-c listen_addresses='${PG_LISTEN:-}' -k $PGDIR\
	    -p $PGPORT -c fsync=off ${PG_OPTS:-}" start >/dev/null
}
pg_stop() {	# immediate: like a crash or a pulled cable, no goodbye
	runuser -u "$PGUSER_OS" -- "$PGBIN/pg_ctl" -D "$PGDIR/data" -w \
	    -m immediate stop >/dev/null 2>&1
}
psql_q() { psql "$PGCONN" -Atqc "$1"; }

# mosquitto on 127.0.0.1, with persistence so that queued messages for a
# persistent subscriber survive the broker's restart. MQ_CLIENT: options
# mosquitto_pub needs to reach it (TLS), once a test rewrote the config.
mq_setup() {
	MQDIR="$T/mq"
	MQPORT=$(free_port)
	mkdir -p "$MQDIR"
	chown "$PGUSER_OS" "$MQDIR"
	cat >"$MQDIR/mosquitto.conf" <<EOC
listener $MQPORT 127.0.0.1
allow_anonymous true
persistence true
persistence_location $MQDIR/
autosave_interval 1
user $PGUSER_OS
EOC
	at_exit "mq_stop"
}
mq_start() {
	mosquitto -c "$MQDIR/mosquitto.conf" >>"$MQDIR/log" 2>&1 &
	MQPID=$!
	wait_for 10 mosquitto_pub -h 127.0.0.1 -p "$MQPORT" ${MQ_CLIENT:-} \
	    -t omk/ping -m x
}
mq_stop() {
	[ -n "${MQPID:-}" ] || return 0
	kill "$MQPID" 2>/dev/null
	wait "$MQPID" 2>/dev/null
	MQPID=
}

# TLS: two test CAs made with the openssl CLI at test time (keys live in
# $T only), a server certificate for localhost and 127.0.0.1 and a client
# certificate, both signed by the first CA. The second CA signs nothing we
# serve: trusting it alone is "the wrong CA". EC P-256 keys: fast to make.
tls_setup() {
	TLS="$T/tls"
	mkdir -p "$TLS"
	local ca
	for ca in ca ca2; do
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		    -nodes -keyout "$TLS/$ca.key" -out "$TLS/$ca.pem" -days 2 \
		    -subj "/CN=omniklog test $ca" \
		    -addext "basicConstraints=critical,CA:TRUE" \
		    -addext "keyUsage=critical,keyCertSign,cRLSign" || return 1
	done
	tls_cert server "/CN=localhost" \
	    "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth" || return 1
	tls_cert client "/CN=omniklog-test-client" \
	    "extendedKeyUsage=clientAuth" || return 1
	chmod 600 "$TLS"/*.key
}
tls_cert() {	# tls_cert NAME SUBJECT EXTENSIONS [CA]: NAME.key, NAME.pem
	local ca=${4:-ca}
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$TLS/$1.key" -out "$TLS/$1.csr" -subj "$2" || return 1
	printf '%s\n' "$3" >"$TLS/$1.ext"
	openssl x509 -req -in "$TLS/$1.csr" -CA "$TLS/$ca.pem" \
	    -CAkey "$TLS/$ca.key" -set_serial "0x$(openssl rand -hex 8)" \
	    -days 2 -extfile "$TLS/$1.ext" -out "$TLS/$1.pem"
}
