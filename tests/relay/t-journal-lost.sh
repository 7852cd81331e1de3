#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The relay's journal deleted while it runs, with no reading coming: the
# periodic check finds it and a new journal is there before the next push;
# deleted again, SIGHUP finds it at once. Every push after that lands in
# the new journal, and forwarding never stops.
. "$(dirname "$0")/lib.sh"

netns_up
redirect_up
data_dir "$T/data"
CSV="$T/data/relay.csv"
start_portal - --quiet
start_relay "$T/relay.log" --csv "$CSV" ||
	{ not_ok "relay starts"; cat "$T/relay.log"; finish; exit; }
rows() { sqlite3 -readonly "$JOURNAL" 'SELECT count(*) FROM readings' 2>/dev/null; }

check "a kit is served" in_kit "$KITSIM" -s 700000011 "$PORTAL_IP:$PORT"
check "... its reading is journaled" wait_for '[ "$(rows)" = 1 ]' 5

# Idle: the 2 s check, not a commit, finds it.
rm "$JOURNAL"
check "the deleted journal is logged without a reading coming" \
	wait_for "grep -q 'journal: $JOURNAL was deleted' $T/relay.log" 5
check "... and a new one is opened at its path" \
	wait_for "grep -q 'journal: opened a new journal at $JOURNAL' $T/relay.log" 5
check "... with the schema" \
	[ "$(sqlite3 -readonly "$JOURNAL" 'PRAGMA user_version')" -ge 3 ]
check "a push after it is served" in_kit "$KITSIM" -s 700000012 -i 2 "$PORTAL_IP:$PORT"
check "... and its 2 readings are in the new journal" wait_for '[ "$(rows)" = 2 ]' 5

# SIGHUP: at once.
rm "$JOURNAL"
kill -HUP "$RELAY_PID"
check "SIGHUP finds a deleted journal and opens a new one" \
	wait_for "[ \$(grep -c 'journal: opened a new journal at $JOURNAL' $T/relay.log) -eq 2 ]" 1
check "a push after it is served" in_kit "$KITSIM" -s 700000013 -i 3 "$PORTAL_IP:$PORT"
check "... and its 3 readings are in the new journal" wait_for '[ "$(rows)" = 3 ]' 5
check "the CSV has all 6 readings" csv_has "$CSV" 6
stop_relay TERM
check "the relay exits 0" [ "$RELAY_RC" -eq 0 ]
finish
