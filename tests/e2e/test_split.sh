#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_split: the profile of cpusplit shows its known 60/30/10 CPU split.
#
# cpusplit's two workers spend 6:3:1 of their time in work_a, work_b and
# work_c, with the same loop body in each. The agent profiles only that pid
# at 99 Hz for 9 s; the test then checks, through google/pprof, the flat
# shares (±4 points), the number of samples (at least 80% of what two busy
# threads give, and no more than they can), that the agent lost none, the
# caller chain worker -> run_round ->
# work_x, the agent's wall time against -d, and that the folded file agrees
# with the pprof file sample for sample.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins cpusplit

FREQ=99
DUR=9

start_workload cpusplit 20
CS=$BG_PID
agent_cpu "$CS" -F "$FREQ" -d "$DUR" -p "$CS" -o "$T/split.pb.gz" --folded "$T/split.folded"
alive "$CS" || fail "cpusplit exited before the profile ended"

within "$AGENT_SECS" $((DUR - 1)) $((DUR + 6)) ||
	fail "-d $DUR run took ${AGENT_SECS}s"
check_profile "$T/split.pb.gz"
[[ -s $T/split.folded ]] || fail "folded file is missing or empty"

tot=$(total "$T/split.pb.gz")
a=$(flat "$T/split.pb.gz" work_a)
b=$(flat "$T/split.pb.gz" work_b)
c=$(flat "$T/split.pb.gz" work_c)
abc=$((a + b + c))
info "total=$tot work_a=$a work_b=$b work_c=$c"

# Two always-busy threads for DUR s at FREQ Hz: about 1780 samples, none of
# them lost, and never more than two threads can give.
rate_bounds "$tot" cpusplit 2 "$FREQ" "$DUR"
no_loss 2 "$FREQ" "$DUR"
((abc * 100 >= tot * 90)) ||
	fail "work_a+work_b+work_c are $(pct "$abc" "$tot")% of samples (want >= 90%)"

shares_within 4 work_a:60:"$a" work_b:30:"$b" work_c:10:"$c"

# Stack depth and callers: pprof -traces must show work_x called by
# run_round called by worker, for (nearly) every sample of work_x.
for fn in work_a work_b work_c; do
	hits=$(traces_chain "$T/split.pb.gz" "$fn" run_round worker)
	((hits > 0)) || fail "no -traces stack has $fn <- run_round <- worker"
done
samples "$T/split.pb.gz" >"$T/samples.tsv"
read -r leaf chained < <(awk -F '\t' '
	$7 ~ /(^|;)work_a$/ { leaf += $1 }
	$7 ~ /(^|;)worker;run_round;work_a$/ { chained += $1 }
	END { print leaf + 0, chained + 0 }' "$T/samples.tsv")
((chained * 100 >= leaf * 95)) ||
	fail "only $chained of $leaf work_a samples have the chain worker;run_round;work_a"
# Every sample is cpusplit's: the process label says so.
bad=$(awk -F '\t' -v pid="$CS" '$3 != pid || $6 != "cpusplit"' "$T/samples.tsv" | head -n 1)
[[ -z $bad ]] || fail "sample not labelled pid=$CS process=cpusplit: $bad"

# The folded file: lines "cpusplit;...;work_a N", counts summing to the same total.
grep -q '^cpusplit;.*;work_a [0-9][0-9]*$' "$T/split.folded" ||
	fail "folded file has no line 'cpusplit;...;work_a N'"
grep -q '^cpusplit;.*;worker;run_round;work_a [0-9][0-9]*$' "$T/split.folded" ||
	fail "folded file has no line with ';worker;run_round;work_a N'"
bad=$(grep -v -m 1 -E '^cpusplit;[^ ].* [0-9]+$' "$T/split.folded")
[[ -z $bad ]] || fail "folded line is not 'cpusplit;STACK COUNT': $bad"
fsum=$(folded_sum "$T/split.folded")
((fsum == tot)) || fail "folded counts sum to $fsum, pprof total is $tot"
fa=$(awk '/;work_a [0-9]+$/ { s += $NF } END { print s + 0 }' "$T/split.folded")
((fa == a)) || fail "folded has $fa samples with leaf work_a, pprof flat says $a"
exit 0
