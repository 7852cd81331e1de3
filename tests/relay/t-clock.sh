#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A backwards wall-clock step must not stop eviction: every interval is
# measured on the monotonic clock. The relay runs with a preloaded shim
# that moves time(), gettimeofday() and CLOCK_REALTIME one hour back once
# $T/step exists (CLOCK_MONOTONIC is left alone). Full at max_connections
# with idle connections from the kit's own address, the clock steps back;
# a kit's push must still get in (the idle ones are evictable).
. "$(dirname "$0")/lib.sh"

command -v cc >/dev/null || skip_all "no C compiler for the clock shim"
cat >"$T/shim.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static long
offset(void)
{
	const char *f = getenv("CLOCK_STEP_FILE");

	return f != NULL && access(f, F_OK) == 0 ? 3600 : 0;
}

int
clock_gettime(clockid_t id, struct timespec *ts)
{
	static int (*real)(clockid_t, struct timespec *);
	int r;

	if (real == NULL)
		real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT,
		    "clock_gettime");
	r = real(id, ts);
	if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
		ts->tv_sec -= offset();
	return r;
}

int
gettimeofday(struct timeval *tv, void *tz)
{
	struct timespec ts;

	(void)tz;
	clock_gettime(CLOCK_REALTIME, &ts);
	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = ts.tv_nsec / 1000;
	return 0;
}

time_t
time(time_t *t)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (t != NULL)
		*t = ts.tv_sec;
	return ts.tv_sec;
}
C
cc -shared -fPIC -o "$T/shim.so" "$T/shim.c" -ldl ||
	skip_all "cannot build the clock shim"
chmod 755 "$T/shim.so"

netns_up
redirect_up
data_dir "$T/data"
CSV="$T/data/relay.csv"
start_portal "$T/portal" --quiet
printf '[relay]\nmax_connections = 20\nclient_connections = 100\n' >"$T/relay.conf"
ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
LD_PRELOAD="$T/shim.so" CLOCK_STEP_FILE="$T/step" \
	start_relay "$T/relay.log" -c "$T/relay.conf" --csv "$CSV" ||
	{ not_ok "relay starts"; cat "$T/relay.log"; finish; exit; }

check "a kit is served before the step" in_kit "$KITSIM" -t 5 "$PORTAL_IP:$PORT"
ip netns exec "$NS_KIT" "$KITSIM" --idle 20 "$PORTAL_IP:$PORT" >"$T/idle.out" 2>&1 &
_pids+=("$!")
check "20 idle connections fill max_connections (20)" \
	wait_for "grep -q 'idle 20' $T/idle.out" 10
sleep 3	# idle for longer than eviction needs (2 s)
touch "$T/step"
t0=$(date +%s%N)
check "after the step a kit's push still gets in (an idle one is evicted)" \
	in_kit "$KITSIM" -s 5 -t 5 --save "$T/kit" "$PORTAL_IP:$PORT"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "... at once (${ms} ms)" [ "$ms" -lt 1000 ]
check "... forwarded to the portal" \
	eval 'hashes "$T/portal"/conn-*.bin | grep -q "$(sha256sum <"$T/kit/push-0.bin" | cut -c1-64)"'
last=$(tail -n 1 "$CSV" | cut -d, -f1)
check "... and logged with the stepped wall-clock time ($last)" \
	[ $(( $(date +%s) - $(date -d "$last" +%s) )) -ge 3000 ]
stop_relay TERM
check "the relay exits 0" [ "$RELAY_RC" -eq 0 ]
finish
