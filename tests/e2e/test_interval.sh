#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_interval: continuous mode writes one complete profile per interval.
#
# With -i 2 -d 5 and an output path holding %n, the agent must write at least
# two (and at most four) numbered files, each a complete profile pprof reads
# with samples of cpusplit in it, none holding more samples than cpusplit's
# two threads give in one interval (so profiles are reset between
# intervals, not cumulative), all of them together at least 80% of what
# they give in 5 s,
# and the names must have %n replaced by distinct numbers. A second run,
# five 1 s intervals, checks that %t becomes the current unix time and that
# no interval's file overwrote another's, and that the intervals' times
# tile the 5 s with no gap.

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
# Samples one 2 s interval can hold: cpusplit's two busy threads at FREQ
# Hz, plus 5% for the interval's edges; half what two cumulative intervals
# would hold, on any number of CPUs.
max=$((2 * FREQ * 2 * 105 / 100))
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
# Together they hold the whole run: 80% of two threads for 5 s at least.
rate_bounds "$sum" "the interval profiles" 2 "$FREQ" 5

# Many 1 s intervals named by %t: one file per interval written, none
# overwritten by the next (a name that repeats gets -SEQ after the time).
before=$(date +%s)
agent_ok -v -F "$FREQ" -i 1 -d 5 -p "$CS" -o "$T/t/q-%t.pb.gz"
after=$(date +%s)
files=("$T"/t/*)
nwrote=$(grep -c '^emberprof: wrote ' "$T/agent.err")
info "-i 1 -d 5: $nwrote profiles written, ${#files[@]} files"
((nwrote >= 4)) || fail "-i 1 -d 5 wrote $nwrote profiles, want >= 4"
((${#files[@]} == nwrote)) || fail "$nwrote profiles written to ${#files[@]} files: one overwrote another"
for f in "${files[@]}"; do
	name=${f##*/}
	[[ $name =~ ^q-([0-9]+)(-[0-9]+)?\.pb\.gz$ ]] || fail "file '$name' does not match q-<unix time>.pb.gz"
	ts=${BASH_REMATCH[1]}
	((ts >= before - 1 && ts <= after + 1)) ||
		fail "%t in '$name' is not a unix time between $before and $after"
	check_profile "$f"
	# time_nanos (9) and duration_nanos (10) of the Profile message.
	gzip -dc "$f" | protoc --decode_raw 2>"$T/protoc.err" |
		sed -n 's/^\(9\|10\): \([0-9]*\)$/\2/p' | paste -s -d ' ' >>"$T/times"
done
# The intervals tile the run: each begins where the one before ended (the
# drain that closed it), and together they span the 5 s, not the loading
# before the sampling began. (Bash's 64-bit integers: awk's doubles would
# round nanoseconds since 1970.)
gaps=0 t0=0 end=0
while read -r ts dur; do
	((t0 == 0)) && t0=$ts
	((end == 0 || ts == end)) || gaps=$((gaps + 1))
	end=$((ts + dur))
done < <(sort -n "$T/times")
span=$(((end - t0) / 1000000))
info "-i 1 -d 5: the profiles span $span ms, with $gaps gaps or overlaps"
((gaps == 0)) || fail "$gaps of the -i 1 profiles do not begin where the one before ended"
within "$span" 4950 5500 || fail "the -i 1 -d 5 profiles span $span ms, want 5 s (4950..5500 ms)"
exit 0
