#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_nofp_split: without frame pointers, .eh_frame unwinding still gives
# cpusplit's whole stacks and its 60/30/10 split.
#
# cpusplit-nofp is cpusplit built with -fomit-frame-pointer: no frame chain
# for bpf_get_stack to follow, so only the agent's DWARF unwinder can find
# the callers. The agent profiles that pid at 99 Hz for 8 s; the test then
# checks the flat shares of work_a/b/c (60/30/10, ±4 points), that >= 95%
# of all samples reach worker, and that >= 95% of the work_x samples have
# the whole thread chain clone3 -> start_thread -> worker -> run_round ->
# work_x (through libc, itself without frame pointers). A few samples taken
# in the first milliseconds, before the agent has loaded the tables, stop
# early (at start_thread, or at the leaf); they are listed. The test
# reports the agent's "walks ended early" counters and fails on read
# faults, bad CFAs and unsupported rules, none of which this simple program
# should cause.
#
# The control: the same workload profiled for 4 s with --no-dwarf-unwind
# (frame pointers only) must reach worker in less than a quarter of the
# share the DWARF run reached (seen: 0% against 100%), which proves the
# DWARF path is what completes the stacks.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins cpusplit-nofp

FREQ=99
DUR=8
FP_DUR=4

start_workload cpusplit-nofp 30
CS=$BG_PID
agent_cpu "$CS" -v -F "$FREQ" -d "$DUR" -p "$CS" -o "$T/dwarf.pb.gz"
alive "$CS" || fail "cpusplit-nofp exited before the profile ended"
check_profile "$T/dwarf.pb.gz"
walks_complete

tot=$(total "$T/dwarf.pb.gz")
a=$(flat "$T/dwarf.pb.gz" work_a)
b=$(flat "$T/dwarf.pb.gz" work_b)
c=$(flat "$T/dwarf.pb.gz" work_c)
abc=$((a + b + c))
info "total=$tot work_a=$a work_b=$b work_c=$c"
# Two busy threads for 8 s at 99 Hz: about 1580 samples on two idle CPUs.
# All of what their CPU time gives, whatever else shares the machine.
cpu_bounds "$tot" cpusplit-nofp "$AGENT_CPU" "$FREQ" "$DUR"
((abc * 100 >= tot * 90)) ||
	fail "work_a+work_b+work_c are $(pct "$abc" "$tot")% of samples (want >= 90%)"
shares_within 4 work_a:60:"$a" work_b:30:"$b" work_c:10:"$c"

# user_chains: leaf first, kernel frames (interrupt entry) left out.
user_chains "$T/dwarf.pb.gz" >"$T/dwarf.tsv"
read -r all worker leaf chain thread clone < <(awk -F '\t' '
	{ all += $1 }
	$2 ~ /(^|;)worker(;|$)/ { worker += $1 }
	$2 ~ /^work_[abc](;|$)/ { leaf += $1 }
	$2 ~ /^work_[abc];run_round;worker(;|$)/ { chain += $1 }
	$2 ~ /^work_[abc];run_round;worker;start_thread(;|$)/ { thread += $1 }
	$2 ~ /^work_[abc];run_round;worker;start_thread;clone3$/ { clone += $1 }
	END { print all + 0, worker + 0, leaf + 0, chain + 0, thread + 0, clone + 0 }' "$T/dwarf.tsv")
info "reach worker: $worker of $all ($(pct "$worker" "$all")%);" \
	"of $leaf work_x samples: work_x<-run_round<-worker $chain ($(pct "$chain" "$leaf")%)," \
	"to start_thread $thread ($(pct "$thread" "$leaf")%)," \
	"whole to clone3 $clone ($(pct "$clone" "$leaf")%)"
((worker * 100 >= all * 95)) ||
	fail "only $worker of $all samples ($(pct "$worker" "$all")%) reach worker (want >= 95%)"
((chain * 100 >= leaf * 95)) ||
	fail "only $chain of $leaf work_x samples have work_x<-run_round<-worker (want >= 95%)"
((clone * 100 >= leaf * 95)) ||
	fail "only $clone of $leaf work_x samples reach start_thread<-clone3 (want >= 95%)"
if ((clone < all)); then
	info "samples not whole to clone3, most frequent first (leaf first):"
	awk -F '\t' '$2 !~ /;start_thread;clone3$/ { n[$2] += $1 }
		END { for (s in n) print n[s] "\t" s }' "$T/dwarf.tsv" |
		sort -rn | head -n 5 >&2
fi

# The control run: frame pointers only.
agent_ok -F "$FREQ" -d "$FP_DUR" -p "$CS" -o "$T/fp.pb.gz" --no-dwarf-unwind
alive "$CS" || fail "cpusplit-nofp exited before the --no-dwarf-unwind profile ended"
check_profile "$T/fp.pb.gz"
user_chains "$T/fp.pb.gz" >"$T/fp.tsv"
read -r fp_all fp_worker < <(awk -F '\t' '
	{ all += $1 }
	$2 ~ /(^|;)worker(;|$)/ { worker += $1 }
	END { print all + 0, worker + 0 }' "$T/fp.tsv")
info "--no-dwarf-unwind: $fp_worker of $fp_all samples ($(pct "$fp_worker" "$fp_all")%) reach worker"
((fp_all >= 150)) || fail "only $fp_all samples with --no-dwarf-unwind (want >= 150)"
# Shares compared as fp_worker/fp_all < (worker/all) / 4, in integers.
((fp_worker * all * 4 < worker * fp_all)) ||
	fail "--no-dwarf-unwind reaches worker in $(pct "$fp_worker" "$fp_all")% of samples," \
		"not far below the DWARF run's $(pct "$worker" "$all")%: is the DWARF path used at all?"
exit 0
