#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_top: `emberprof top` in a real terminal (tmux), as a user runs it.
#
# cpusplit runs; `emberprof top -F 99 -p PID` starts in a 120x30 tmux pane.
# After 5 s without any key, the captured screen must show the header and
# work_a on the first table row, with a self share of 50-70% (60% of
# cpusplit's samples). Then 's' re-sorts (the header offers the other sort),
# 'p' pauses ([paused] in the header), and 'q' exits: the pane's process
# ends within 3 s with status 0. Also, with stdout not a terminal, top
# prints its table as text each second.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins cpusplit
command -v tmux >/dev/null || fail "tmux is missing (apt-get install tmux)"

start_workload cpusplit 30
CS=$BG_PID
SOCK=$T/tmux.sock
tmux -S "$SOCK" new-session -d -x 120 -y 30 \
	"$EMBERPROF top -F 99 -p $CS; echo \"exit=\$?\" > $T/top.exit; sleep 30"
# shellcheck disable=SC2317 # called from the EXIT trap
stop_tmux()
{
	tmux -S "$SOCK" kill-server 2>/dev/null
}
trap 'rc=$?; stop_tmux; (exit $rc); cleanup' EXIT

sleep 5
tmux -S "$SOCK" capture-pane -p >"$T/screen1"
info "screen after 5 s:"
head -n 8 "$T/screen1" >&2
grep -q 'emberprof top' "$T/screen1" || fail "no header on screen: $(head -n 2 "$T/screen1")"
row=$(awk '/SELF%/ { getline; print; exit }' "$T/screen1")
[[ $row == *work_a* ]] || fail "the first row is not work_a: '$row'"
self=$(awk '{ sub(/%/, "", $1); print $1 }' <<<"$row")
within "$self" 50 70 || fail "work_a's self share on screen is $self% (want 50-70)"

tmux -S "$SOCK" send-keys s
sleep 1.5
tmux -S "$SOCK" capture-pane -p >"$T/screen2"
grep -q 'sort by self' "$T/screen2" || fail "'s' did not switch the sort: $(sed -n 2p "$T/screen2")"
tmux -S "$SOCK" send-keys p
sleep 1.5
tmux -S "$SOCK" capture-pane -p >"$T/screen3"
grep -q '\[paused\]' "$T/screen3" || fail "'p' did not pause: $(head -n 1 "$T/screen3")"
tmux -S "$SOCK" send-keys q
for _ in $(seq 30); do
	[[ -s $T/top.exit ]] && break
	sleep 0.1
done
[[ -s $T/top.exit ]] || fail "'q' did not end top within 3 s"
[[ $(cat "$T/top.exit") == exit=0 ]] || fail "top ended with $(cat "$T/top.exit")"

# Not a terminal: the same table as text, every second.
timeout 10 "$EMBERPROF" top -F 99 -p "$CS" -d 3 >"$T/top.txt" 2>"$T/top.err" ||
	fail "top -d 3 to a file failed: $(head -n 1 "$T/top.err")"
n=$(grep -c '^emberprof top:' "$T/top.txt")
((n >= 2)) || fail "only $n text tables in 3 s"
grep -q 'work_a$' "$T/top.txt" || fail "no work_a in the text output"
exit 0
