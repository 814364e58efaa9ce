#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_sigterm: SIGTERM and SIGINT end a run without -d cleanly.
#
# The agent runs with no duration on cpusplit and is stopped by a signal after
# a few seconds. It must exit 0, leave a complete gzip'd profile that pprof
# reads and that holds work_a with a plausible number of samples, and print
# its one summary line (with "samples" and "lost") on stderr.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins cpusplit

start_workload cpusplit 30
CS=$BG_PID

# stop_after SIG SECS NAME: run the agent until SIG after SECS seconds.
stop_after()
{
	local sig=$1 secs=$2 name=$3 apid rc i

	start_bg "$EMBERPROF" -F 99 -p "$CS" -o "$T/$name.pb.gz" 2>"$T/$name.err"
	apid=$BG_PID
	sleep "$secs"
	alive "$apid" || fail "agent without -d exited by itself before SIG$sig: $(head -n 1 "$T/$name.err")"
	kill -s "$sig" "$apid"
	for ((i = 0; i < 100; i++)); do
		alive "$apid" || break
		sleep 0.1
	done
	if alive "$apid"; then
		fail "agent still running 10 s after SIG$sig"
	fi
	wait "$apid"
	rc=$?
	((rc == 0)) || fail "agent exited $rc after SIG$sig: $(head -n 1 "$T/$name.err")"

	[[ -s $T/$name.pb.gz ]] || fail "no profile written after SIG$sig"
	gzip -t "$T/$name.pb.gz" 2>/dev/null || fail "profile written after SIG$sig is not complete gzip"
	check_profile "$T/$name.pb.gz"
	wa=$(flat "$T/$name.pb.gz" work_a)
	tot=$(total "$T/$name.pb.gz")
	info "SIG$sig after ${secs}s: total=$tot work_a=$wa"
	((wa > 0)) || fail "profile written after SIG$sig has no work_a"
	# Two busy workers for at least (secs - 2) s after a slow start, at 99 Hz.
	((tot >= (secs - 2) * 99)) || fail "profile written after SIG$sig has only $tot samples"
	grep 'samples' "$T/$name.err" | grep -q 'lost' ||
		fail "no summary line with 'samples' and 'lost' on stderr after SIG$sig"
}

stop_after TERM 4 term
stop_after INT 3 int
exit 0
