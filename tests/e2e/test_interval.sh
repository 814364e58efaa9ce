#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_interval: continuous mode writes one complete profile per interval.
#
# With -i 2 -d 5 and an output path holding %n, the agent must write at least
# two (and at most four) numbered files, each a complete profile pprof reads
# with samples of cpusplit in it, none holding more samples than one
# interval can (so profiles are reset between intervals, not cumulative),
# and the names must have %n replaced by distinct numbers. A second short run
# checks %t becomes the current unix time.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins cpusplit

FREQ=99
start_workload cpusplit 30
CS=$BG_PID

mkdir -p "$T/n" "$T/t"
agent_ok -F "$FREQ" -i 2 -d 5 -p "$CS" -o "$T/n/p-%n.pb.gz"
shopt -s nullglob
files=("$T"/n/*)
((${#files[@]} >= 2)) || fail "-i 2 -d 5 wrote ${#files[@]} file(s), want >= 2"
((${#files[@]} <= 4)) || fail "-i 2 -d 5 wrote ${#files[@]} files, want <= 4"
# Samples one 2 s interval can hold: every CPU at FREQ Hz, plus 25% for jitter.
max=$((NCPU * FREQ * 2 * 5 / 4))
sum=0
for f in "${files[@]}"; do
	name=${f##*/}
	[[ $name =~ ^p-[0-9]+\.pb\.gz$ ]] || fail "file '$name' does not match p-<number>.pb.gz"
	check_profile "$f"
	n=$(total "$f")
	info "$name: $n samples"
	((n <= max)) || fail "$name has $n samples, more than one 2 s interval allows ($max)"
	sum=$((sum + n))
done
# All but possibly the last (partial) interval saw two busy workers.
with_work=0
for f in "${files[@]}"; do
	(($(flat "$f" work_a) > 0)) && with_work=$((with_work + 1))
done
((with_work >= 2)) || fail "only $with_work of ${#files[@]} interval profiles have work_a"
((sum >= 3 * FREQ)) || fail "interval profiles hold only $sum samples in 5 s"

before=$(date +%s)
agent_ok -F "$FREQ" -i 1 -d 2 -p "$CS" -o "$T/t/q-%t.pb.gz"
after=$(date +%s)
files=("$T"/t/*)
((${#files[@]} >= 1)) || fail "-o q-%t.pb.gz wrote no file"
for f in "${files[@]}"; do
	name=${f##*/}
	[[ $name =~ ^q-([0-9]+)\.pb\.gz$ ]] || fail "file '$name' does not match q-<unix time>.pb.gz"
	ts=${BASH_REMATCH[1]}
	((ts >= before - 1 && ts <= after + 1)) ||
		fail "%t in '$name' is not a unix time between $before and $after"
	check_profile "$f"
done
exit 0
