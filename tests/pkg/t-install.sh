#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# make install / make uninstall: what is installed (programs, scripts,
# units, sysusers entry, init script, logrotate snippet, man pages, docs,
# config), no @PLACEHOLDER@ left in any installed file, uninstall
# symmetric (nothing left, no empty directory, what was there before
# kept), the units pass `systemd-analyze verify`, and both score at most
# 2.5 ("OK") in `systemd-analyze security`.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP"
: "${B:=build}"
T=$(mktemp -d /tmp/omk-install-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
n=0; fail=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n - $*"; }
check() { local w=$1; shift; if "$@"; then ok "$w"; else not_ok "$w"; fi; }
MAKE_INST=(make -s B="$B" SANITIZE="$([ "$B" = build/check ] && echo 1)")

# A staging install next to something that was there before.
S=$T/stage
mkdir -p "$S/usr/share/man/man8" "$S/etc/init.d"
echo keep >"$S/usr/share/man/man8/other.8"
echo keep >"$S/etc/init.d/other"
"${MAKE_INST[@]}" install DESTDIR="$S" PREFIX=/usr >"$T/install.log" 2>&1
check "make install DESTDIR= succeeds" [ $? -eq 0 ] || cat "$T/install.log"
for f in usr/bin/omnik-relay usr/bin/omnik-sniff usr/sbin/omniklog-rules \
    usr/sbin/omnik-sniff-nfqueue usr/lib/systemd/system/omnik-relay.service \
    usr/lib/systemd/system/omnik-sniff.service usr/lib/sysusers.d/omniklog.conf \
    usr/bin/omnik-poll usr/lib/systemd/system/omnik-poll.service \
    usr/share/man/man8/omnik-poll.8 \
    etc/init.d/omniklog etc/logrotate.d/omniklog etc/omniklog/omniklog.conf \
    usr/share/man/man8/omnik-relay.8 usr/share/man/man8/omnik-sniff.8 \
    usr/share/man/man5/omniklog.conf.5 usr/share/man/man8/omniklog-rules.8 \
    usr/share/man/man8/omnik-sniff-nfqueue.8 usr/share/doc/omniklog/README.md \
    usr/share/doc/omniklog/examples/omniklog.conf; do
	check "installed: /$f" [ -s "$S/$f" ]
done
check "programs and scripts are executable" eval '[ -x "$S/usr/bin/omnik-relay" ] &&
	[ -x "$S/usr/sbin/omniklog-rules" ] && [ -x "$S/etc/init.d/omniklog" ]'
mode=$(stat -c %a "$S/etc/omniklog/omniklog.conf")
if getent group omniklog >/dev/null; then want=640; else want=644; fi
check "config mode $want (640 root:omniklog when the group exists)" [ "$mode" = "$want" ]
# Text files only: nothing is substituted into the programs, and their
# packed relocations (DT_RELR bitmaps) may hold any bytes, "@A@" too.
left=$(grep -rlIE '@[A-Z]+@' "$S" || true)
check "no @PLACEHOLDER@ left in an installed file${left:+: $left}" [ -z "$left" ]
check "units name the installed programs" \
	grep -q '^ExecStart=/usr/bin/omnik-sniff -f$' "$S/usr/lib/systemd/system/omnik-sniff.service"
check "the poller's unit names the installed poller" \
	grep -q '^ExecStart=/usr/bin/omnik-poll -f$' "$S/usr/lib/systemd/system/omnik-poll.service"

"${MAKE_INST[@]}" uninstall DESTDIR="$S" PREFIX=/usr >"$T/uninstall.log" 2>&1
check "make uninstall succeeds" [ $? -eq 0 ]
left=$(cd "$S" && find . -mindepth 1 | sort | tr '\n' ' ')
want="./etc ./etc/init.d ./etc/init.d/other ./usr ./usr/share ./usr/share/man ./usr/share/man/man8 ./usr/share/man/man8/other.8 "
check "uninstall leaves exactly what was there before (left: $left)" [ "$left" = "$want" ]

# An edited config survives uninstall (with its directory).
"${MAKE_INST[@]}" install DESTDIR="$S" PREFIX=/usr >/dev/null 2>&1
echo "; mine" >>"$S/etc/omniklog/omniklog.conf"
"${MAKE_INST[@]}" uninstall DESTDIR="$S" PREFIX=/usr >/dev/null 2>&1
check "uninstall keeps an edited config" grep -q '; mine' "$S/etc/omniklog/omniklog.conf"

# Installed in place (paths in the units are real) for systemd-analyze.
R=$T/root
"${MAKE_INST[@]}" install PREFIX="$R/usr" ETCDIR="$R/etc" >/dev/null 2>&1
U=$R/usr/lib/systemd/system
if command -v systemd-analyze >/dev/null; then
	MANPATH="$R/usr/share/man" systemd-analyze verify \
	    "$U/omnik-relay.service" "$U/omnik-sniff.service" \
	    "$U/omnik-poll.service" >"$T/verify.log" 2>&1
	check "systemd-analyze verify: no complaint" eval '[ $? -eq 0 ] && [ ! -s "$T/verify.log" ]' ||
		sed 's/^/# /' "$T/verify.log"
	for u in omnik-relay omnik-sniff omnik-poll; do
		score=$(systemd-analyze security --offline=true "$U/$u.service" 2>/dev/null |
		    sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
		check "systemd-analyze security $u: ${score:-?} <= 2.5" \
			awk -v s="${score:-99}" 'BEGIN { exit !(s <= 2.5) }'
	done
else
	ok "# SKIP systemd-analyze not installed"
fi
echo "1..$n"
[ "$fail" -eq 0 ]
