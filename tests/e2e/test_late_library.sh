#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_late_library: stacks stay whole through libraries a process maps
# long after the agent first read its mappings.
#
# latelib spins in its executable until the agent (-p, -v, one profile for
# the whole run: the case where only a walk's own ask gets a new mapping
# read before the run ends) has been sampling for a second, then dlopens
# NLIBS copies of latelib.so, each a file of its own built without frame
# pointers, and runs each for SECS s: main -> run_lib -> lib_work ->
# lib_inner. A walk that meets code in none of the mappings read asks for
# them again (at most every 100 ms a process), so:
# - the libraries have the leaf in at least half of what NLIBS x SECS s at
#   FREQ Hz give;
# - >= 90% of the samples with a frame in any of them run whole to main,
#   through run_lib and lib_work;
# - the agent's -v line counts a re-read at a walk's ask for each library.
# Before walks asked, the mappings were read again at most once an interval
# after a drain: every library after the first stayed unread to the end.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins latelib
[[ -f $WL/latelib.so ]] || fail "$WL/latelib.so is missing (run make)"

FREQ=99
SECS=0.8
NLIBS=4

libs=()
for ((i = 1; i <= NLIBS; i++)); do
	cp "$WL/latelib.so" "$T/late$i.so" || fail "cannot copy latelib.so"
	libs+=("$T/late$i.so")
done
start_bg "$WL/latelib" "$SECS" "${libs[@]}" >"$T/latelib.out"
LP=$BG_PID
start_sampling_agent -F "$FREQ" -d 6 -p "$LP" -o "$T/late.pb.gz"
sleep 1
kill -USR1 "$LP"
wait_agent
[[ $(grep -c '^loaded ' "$T/latelib.out") == "$NLIBS" ]] ||
	fail "latelib loaded $(grep -c '^loaded ' "$T/latelib.out") of $NLIBS libraries"
check_profile "$T/late.pb.gz"

# Samples with a frame in the libraries (the copies share a build ID, so
# the profile may name them all by the first one's file), how many run
# whole to main, and how many have their leaf there.
read -r all ok leaf < <(samples "$T/late.pb.gz" | awk -F '\t' '
	$8 ~ /\/late[0-9]+\.so(;|$)/ {
		n += $1
		if ($7 ~ /(^|;)main;run_lib;lib_work(;|$)/)
			w += $1
		if ($8 ~ /\/late[0-9]+\.so$/)
			l += $1
	}
	END { print n + 0, w + 0, l + 0 }')
want=$(awk -v s="$SECS" -v f="$FREQ" -v n="$NLIBS" 'BEGIN { printf "%d", n * s * f / 2 }')
info "late libraries: $all samples, $ok whole to main, $leaf with the leaf there (want >= $want)"
((leaf >= want)) || fail "$leaf samples have their leaf in the late libraries, want >= $want (half of $NLIBS x ${SECS}s at $FREQ Hz)"
((ok * 100 >= all * 90)) ||
	fail "$ok of $all samples in the late libraries ($(pct "$ok" "$all")%) run whole to main (want >= 90%)"
# One ask a library: its first sample finds it unread, 0.8 s after the last ask.
asked=$(grep -o "re-read at a walk's ask [0-9]*" "$T/agent.err" | awk '{ print $NF }')
info "mappings re-read at a walk's ask: ${asked:-none}"
((${asked:-0} >= NLIBS)) ||
	fail "walks asked ${asked:-0} times for the mappings to be re-read, want >= $NLIBS: $(grep -m 1 'stepped by frame pointer' "$T/agent.err")"
exit 0
