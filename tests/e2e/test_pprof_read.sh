#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_pprof_read: google/pprof reads a whole-system profile the way users will.
#
# While cpusplit runs, the agent profiles every process for 3 s. The test
# reads the file back with pprof: -top must list work_a by name; -traces must
# print the pid, tid, comm and process labels; the sample types must be
# samples/count and cpu/nanoseconds, with -sample_index=cpu giving times and
# every sample's cpu value equal to its count times the sampling period
# (1e9/99 ns, within 10%); and cpusplit's samples must carry its pid, its
# thread ids and its names.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins cpusplit

start_workload cpusplit 20
CS=$BG_PID

agent_ok -F 99 -d 3 -o "$T/all.pb.gz"
check_profile "$T/all.pb.gz"

pp -top -nodefraction=0 "$T/all.pb.gz" >"$T/top.txt"
grep -Eq '^ +[^ ]+ +[0-9.]+% +[0-9.]+% +[^ ]+ +[0-9.]+%  work_a$' "$T/top.txt" ||
	fail "pprof -top does not list work_a"

pp -traces "$T/all.pb.gz" >"$T/traces.txt"
for l in pid tid comm process; do
	grep -Eq "^ *$l:  [^ ]" "$T/traces.txt" || fail "pprof -traces shows no '$l' label"
done
grep -Eq '^ *comm:  cpusplit$' "$T/traces.txt" || fail "pprof -traces shows no comm cpusplit"
grep -Eq '^ *process:  cpusplit$' "$T/traces.txt" || fail "pprof -traces shows no process cpusplit"
grep -Eq "^ *pid:  $CS\$" "$T/traces.txt" || fail "pprof -traces shows no pid $CS"

# Sample types, as -raw prints them, and the default index.
types=$(pp -raw "$T/all.pb.gz" | awk '/^Samples:$/ { getline; print; exit }')
[[ $types =~ (^| )samples/count(\[dflt\])?( |$) ]] || fail "sample types are '$types', no samples/count"
[[ $types =~ (^| )cpu/nanoseconds(\[dflt\])?( |$) ]] || fail "sample types are '$types', no cpu/nanoseconds"

# -sample_index=cpu: a time total (ns/us/ms/s/min/hrs); samples: a plain count.
cpu_total=$(pp -top -sample_index=cpu -nodecount=1 "$T/all.pb.gz" | awk '/ total$/ { print $(NF - 1) }')
[[ $cpu_total =~ ^[0-9.]+(ns|us|µs|ms|s|mins|hrs)$ ]] ||
	fail "-sample_index=cpu total is '$cpu_total', not a time"
cnt_total=$(total "$T/all.pb.gz")
[[ $cnt_total =~ ^[0-9]+$ ]] || fail "-sample_index=samples total is '$cnt_total', not a count"
grep -q '^Type: cpu$' <(pp -top -sample_index=cpu -nodecount=1 "$T/all.pb.gz") ||
	fail "-sample_index=cpu report is not of type cpu"

samples "$T/all.pb.gz" >"$T/samples.tsv"
read -r n c < <(awk -F '\t' '{ n += $1; c += $2 } END { printf "%d %.0f\n", n, c }' "$T/samples.tsv")
info "samples=$n cpu_ns=$c"
# pprof -raw and -traces skip a sample without locations; -top counts it.
((n == cnt_total)) ||
	fail "$((cnt_total - n)) samples have no stack at all (-top total $cnt_total, -raw shows $n)"
((n >= 2 * 99)) || fail "only $n samples in 3 s on the whole system"
per=$(awk -v n="$n" -v c="$c" 'BEGIN { printf "%.0f", n ? c / n : 0 }')
within "$per" 9090909 11111111 || fail "cpu per sample is ${per} ns, want ~10101010 (1e9/99)"
# Per sample too: cpu = count * period (±10%).
bad=$(awk -F '\t' '$2 < $1 * 9090909 || $2 > $1 * 11111111' "$T/samples.tsv" | head -n 1)
[[ -z $bad ]] || fail "sample whose cpu value is not count x 1e9/99 ns: $bad"

# pid, tid and comm are on every sample, process on every sample with a
# user frame (a kernel thread has no executable); cpusplit's are right.
bad=$(awk -F '\t' '$3 == "" || $4 == "" || $5 == ""' "$T/samples.tsv" | head -n 1)
[[ -z $bad ]] || fail "sample without a pid, tid or comm label: $bad"
bad=$(awk -F '\t' '$6 == "" && (";" $8 ";") ~ /;[^[;][^;]*;/' "$T/samples.tsv" | head -n 1)
[[ -z $bad ]] || fail "sample with user frames but no process label: $bad"
CS_TIDS=
for d in "/proc/$CS/task"/*; do
	CS_TIDS+="${d##*/} "
done
bad=$(awk -F '\t' -v pid="$CS" -v tids=" $CS_TIDS" '
	$3 == pid && ($5 != "cpusplit" || $6 != "cpusplit" || index(tids, " " $4 " ") == 0)' \
	"$T/samples.tsv" | head -n 1)
[[ -z $bad ]] || fail "cpusplit sample with wrong labels (tids $CS_TIDS): $bad"
# Positive only: another copy of cpusplit may run beside ours.
awk -F '\t' -v pid="$CS" '$3 == pid && $7 ~ /(^|;)work_a$/ { found = 1 } END { exit !found }' \
	"$T/samples.tsv" || fail "no work_a sample labelled with cpusplit's pid $CS"
exit 0
