#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_output_faults: an output that cannot be written costs that interval's
# file, with one clear line, and nothing else.
#
# The agent profiles cpusplit in 1 s intervals (-i 1 -d 8) into numbered
# files, twice:
#   1. on a 256 KiB tmpfs filled up for the first ~3 s: every interval
#      written meanwhile fails with one "cannot write ...: No space left on
#      device" line, the agent keeps sampling (exit 0, no sample lost), and
#      once the filler is removed the next intervals are written again,
#      complete;
#   2. into a directory removed ~2 s in and made again ~2 s later: the same,
#      with "No such file or directory".
# In both runs every stderr line about a failed write names the file and
# the reason on one line, and the files written after the fault each hold
# samples of work_a.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins cpusplit

FREQ=99
start_workload cpusplit 40
CS=$BG_PID

# after_fault NAME DIR WANT_ERR: the checks both runs share, on the agent
# run that wrote DIR/p-N.pb.gz with errors WANT_ERR while the fault lasted.
after_fault()
{
	local name=$1 dir=$2 want=$3 nerr nwrote f late=0 counted nfiles=0

	wait "$AG"
	AGENT_RC=$?
	((AGENT_RC == 0)) || fail "$name: agent exited $AGENT_RC: $(tail -n 1 "$T/agent.err")"
	nerr=$(grep -c "^emberprof: cannot write $dir/p-[0-9]*\.pb\.gz: $want$" "$T/agent.err")
	nwrote=$(grep -c "^emberprof: wrote $dir/p-" "$T/agent.err")
	info "$name: $nerr intervals failed ($want), $nwrote written"
	((nerr >= 1)) || fail "$name: no 'cannot write ...: $want' line: $(grep -m1 -i 'cannot' "$T/agent.err")"
	# Any other line about writing is malformed or a second line per fault.
	grep -i 'write' "$T/agent.err" | grep -v -e '^emberprof: wrote ' -e "^emberprof: cannot write $dir/" \
		-e ' samples on ' -e '^emberprof: samples ' >"$T/$name.other"
	[[ ! -s $T/$name.other ]] || fail "$name: other lines about writing: $(head -n 2 "$T/$name.other" | tr '\n' '|')"
	# The -v counters count the failed intervals too.
	counted=$(sed -n 's/.*intervals with a failed write \([0-9]*\).*/\1/p' "$T/agent.err" | tail -n 1)
	((${counted:--1} == nerr)) || fail "$name: -v counts ${counted:-no} intervals with a failed write, $nerr lines say so"
	((nwrote >= 3)) || fail "$name: only $nwrote intervals written after the fault cleared"
	# The files there now (a removed directory took its earlier ones along).
	for f in "$dir"/p-*.pb.gz; do
		check_profile "$f"
		nfiles=$((nfiles + 1))
		(($(flat "$f" work_a) > 0)) && late=$((late + 1))
	done
	((nfiles >= 3)) || fail "$name: only $nfiles files in $dir after the fault cleared"
	((late >= nfiles - 1)) || fail "$name: only $late of the $nfiles files in $dir have work_a"
	read -r _ lost < <(summary_counts)
	((lost == 0)) || fail "$name: $lost samples lost while the output failed"
}

# 1. A full disk.
mkdir -p "$T/full"
mount -t tmpfs -o size=256k tmpfs "$T/full" || fail "cannot mount a tmpfs on $T/full"
# cleanup() reads the test's exit status from $?: keep it across umount.
trap 'rc=$?; umount -l "$T/full" 2>/dev/null; (exit $rc); cleanup' EXIT
dd if=/dev/zero of="$T/full/filler" bs=4k 2>/dev/null
start_bg "$EMBERPROF" -v -F "$FREQ" -i 1 -d 8 -p "$CS" -o "$T/full/p-%n.pb.gz" 2>"$T/agent.err"
AG=$BG_PID
sleep 3.5
rm -f "$T/full/filler"
after_fault full "$T/full" "No space left on device"

# 2. A directory removed, then made again.
mkdir -p "$T/gone"
start_bg "$EMBERPROF" -v -F "$FREQ" -i 1 -d 8 -p "$CS" -o "$T/gone/p-%n.pb.gz" 2>"$T/agent.err"
AG=$BG_PID
sleep 2.2
# Moved away first: rm -rf alone races the agent's next temporary file into
# the directory ("Directory not empty"), and the path then never goes.
mv "$T/gone" "$T/gone.old" || fail "cannot move $T/gone away"
rm -rf "$T/gone.old"
sleep 2
mkdir -p "$T/gone"
after_fault gone "$T/gone" "No such file or directory"
exit 0
