# SPDX-License-Identifier: GPL-2.0-or-later
# tests/tap.sh: TAP output for shell tests. Source it, then:
#   check "what" command args...   # ok if the command succeeds
#   ok "what" / not_ok "what" "why"
#   finish                         # prints the plan, exits non-zero on failure
# $B is the build directory (tests/run-tests sets it).
: "${B:=build}"
TAP_N=0
TAP_FAILED=0

ok() {
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N - $1"
}

not_ok() {
	TAP_N=$((TAP_N + 1))
	TAP_FAILED=$((TAP_FAILED + 1))
	echo "not ok $TAP_N - $1"
	[ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/#   /'
	return 0
}

check() {
	local what=$1 out
	shift
	if out=$("$@" 2>&1); then
		ok "$what"
	else
		not_ok "$what" "$out"
	fi
}

finish() {
	echo "1..$TAP_N"
	[ "$TAP_FAILED" -eq 0 ]
}
