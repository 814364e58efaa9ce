#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_off_cpu: --off-cpu profiles where threads wait, by the nanoseconds
# they wait, beside unchanged CPU samples.
#
# Run A: the agent runs whole-system with --off-cpu (pprof, folded CPU and
# off-CPU, flame graph, OTLP to a receiver); once it samples, the waits
# workload (tests/workloads/waits.c) runs for W seconds inside the window.
# Every sleeping switch is walked (--off-cpu-walks far above the rate, and
# the agent must say none was left out): the workload alone makes ~230 a
# second, near the default budget of 250, and the sampling's spread over
# nap's 200 waits (7-14% at 1 in 2 to 1 in 4) is run E's to judge.
# From the workload's design, over its W seconds: nap() is blocked 2/3 of
# the time (20 ms asleep per 10 ms of CPU; the CPU takes longer by the
# host's steal, which the lower bound allows for), wait_pipe() and
# feed_sleep() nearly all of it. Each function's off-CPU time (from
# --folded-off-cpu) must be within 10% of that, and of what the workload
# itself measured around its calls. At least 95% of the workload's blocked time must have
# its stack whole, from start_thread (main, for the main thread's
# nanosleep and join) down to the kernel's __schedule, and
# each wait must name its kernel wait: do_nanosleep under nap, pipe_read
# under wait_pipe. google/pprof must read the off_cpu view with the same
# total as the folded file (to rounding), the CPU folded file must hold
# exactly pprof's CPU samples, the flame graph page must offer off_cpu with
# pprof's total, and OTLP must carry it as a second profile per resource
# with the same total.
#
# Run B: the same without --off-cpu. burn_cpu()'s CPU samples in runs A and
# B must each be 80-110% of what its measured CPU time gives at 99 Hz (the
# top allowing for steal).
#
# Run C: mutexfight's loser waits in futex_wait under fight_lock: at least
# 90% of fight_lock's blocked time has futex_wait in its kernel part, and
# fight_lock is blocked for at least a fifth of the two threads' time.
#
# Run D: emberprof top --off-cpu -p (not a terminal) ranks the waits.
#
# Run E: the sampled path. The waits workload again, -p, with
# --off-cpu-walks 60: at its ~230 sleeping switches a second one in 4 is
# walked and weighted 4. The agent must say switches were timed but not
# walked, and wait_pipe's and feed_sleep's blocked time together (each
# asleep all but microseconds of the 4 s window, 800 waits of 10 ms) must
# be within 5% of 2 x 4 s: each thread's total is measured, not
# estimated, so only the time in stacks that miss those two functions is
# off it, while a weight left out gives 25% and a weight applied twice
# 200%.
#
# Run F: blocked time in a few long waits among many (tailwaits: 40 waits
# of 50 us, then one of 20 ms), with --off-cpu-walks 20: at its ~1,800
# sleeping switches a second one in 128 is walked, so about one of its
# 180 long waits is in 4 s. Weighting the walked waits alone gives a total
# anywhere from a tenth to twice the truth; the thread's measured time
# must come out within 5% of its time off CPU in the window (the window
# less its CPU share, which the workload measures).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins waits mutexfight tailwaits

FREQ=99
W=6
FGCHECK=${FGCHECK:-$ROOT/tests/browser/fgcheck.py}

# run_waits OUT: the waits workload for W seconds; its report in OUT.
run_waits()
{
	"$WL/waits" "$W" >"$1" || fail "waits failed"
}

# off_us FOLDED PROC FUNC: microseconds blocked in FOLDED's stacks of PROC with FUNC.
off_us()
{
	awk -v p="$2" -v f="$3" '{
		n = split($1, fr, ";")
		if (fr[1] != p)
			next
		for (i = 2; i <= n; i++)
			if (fr[i] == f) {
				s += $NF
				next
			}
	} END { print s + 0 }' "$1"
}

# within V WANT PCT WHAT: V is within PCT% of WANT (both numbers).
within()
{
	awk -v v="$1" -v w="$2" -v p="$3" 'BEGIN { exit !(w > 0 && v >= w * (1 - p / 100) && v <= w * (1 + p / 100)) }' ||
		fail "$4: $1, want $2 +-$3%"
}

# --- Run A: off-CPU and CPU together, every output.
start_receiver "$T/recv"
OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$RECV_PORT start_sampling_agent --off-cpu \
	--off-cpu-walks 1000000 -F "$FREQ" -d $((W + 4)) -o "$T/a.pb.gz" --folded "$T/a.folded" --folded-off-cpu "$T/a.off" \
	--flamegraph "$T/a.html"
run_waits "$T/a.truth"
wait_agent
grep 'off-CPU:' "$T/agent.err" >&2
grep -q 'off-CPU: .* 0 timed but not walked' "$T/agent.err" ||
	fail "--off-cpu-walks 1000000 still left switches out: $(grep -m 1 'off-CPU:' "$T/agent.err")"

read -r t_nap t_pipe t_feed < <(awk '/^wait nap/ { a = $3 } /^wait wait_pipe/ { b = $3 }
	/^wait feed_sleep/ { c = $3 } END { print a, b, c }' "$T/a.truth")
burn_cpu_a=$(awk '/^burn/ { print $5 }' "$T/a.truth")
nap=$(off_us "$T/a.off" waits nap)
pipe=$(off_us "$T/a.off" waits wait_pipe)
feed=$(off_us "$T/a.off" waits feed_sleep)
info "off-CPU (s): nap $(awk -v v="$nap" 'BEGIN { print v / 1e6 }') (measured $t_nap), wait_pipe $(awk -v v="$pipe" 'BEGIN { print v / 1e6 }') ($t_pipe), feed_sleep $(awk -v v="$feed" 'BEGIN { print v / 1e6 }') ($t_feed); design $W s x 2/3, 1, 1"
# The design: 20 ms asleep per 10 ms of CPU, which takes 10 / (1 - s) ms
# of the clock at steal s; the other two asleep all but microseconds.
steal=$(steal_permille)
read -r nap_lo nap_hi < <(awk -v w="$W" -v s="$steal" 'BEGIN {
	printf "%d %d\n", w * 20 / (20 + 10 * 1000 / (1000 - s)) * 0.9 * 1e6, w * 2 / 3 * 1.1 * 1e6 }')
((nap >= nap_lo && nap <= nap_hi)) ||
	fail "nap's blocked us against its design: $nap, want $nap_lo..$nap_hi (2/3 of ${W}s +-10%, with $((steal / 10)).$((steal % 10))% steal)"
within "$pipe" $((W * 1000000)) 10 "wait_pipe's blocked us against its design"
within "$feed" $((W * 1000000)) 10 "feed_sleep's blocked us against its design"
# What the workload measured around its own calls.
within "$nap" "$(awk -v v="$t_nap" 'BEGIN { print v * 1e6 }')" 10 "nap's blocked us against the workload's clock"
within "$pipe" "$(awk -v v="$t_pipe" 'BEGIN { print v * 1e6 }')" 10 "wait_pipe's blocked us against the workload's clock"
within "$feed" "$(awk -v v="$t_feed" 'BEGIN { print v * 1e6 }')" 10 "feed_sleep's blocked us against the workload's clock"

# Whole stacks: start_thread above, __schedule at the leaf, the wait named.
read -r all whole ns_nap ns_pipe < <(awk '
	{
		n = split($1, fr, ";")
		if (fr[1] != "waits")
			next
		s = ";" $1 ";"
		all += $NF
		if (s ~ /;(start_thread|main);/ && fr[n] == "__schedule_[k]")
			whole += $NF
		if (s ~ /;nap;/ && s ~ /;do_nanosleep_\[k\];/)
			nn += $NF
		if (s ~ /;wait_pipe;/ && s ~ /;(anon_)?pipe_read_\[k\];/)
			np += $NF
	} END { print all + 0, whole + 0, nn + 0, np + 0 }' "$T/a.off")
((all > 0)) || fail "no off-CPU time for the waits workload"
((whole * 100 >= all * 95)) ||
	fail "$(pct "$whole" "$all")% of waits' blocked time runs start_thread or main -> ... -> __schedule (want >= 95%)"
((ns_nap * 100 >= nap * 95)) || fail "do_nanosleep is under nap in $(pct "$ns_nap" "$nap")% of its time"
((ns_pipe * 100 >= pipe * 95)) || fail "pipe_read is under wait_pipe in $(pct "$ns_pipe" "$pipe")% of its time"

# google/pprof reads the off_cpu view; its total is the folded file's.
pp -top -sample_index=off_cpu -nodecount=1000 "$T/a.pb.gz" >"$T/a.top"
grep -q 'Type: off_cpu' "$T/a.top" || fail "pprof -sample_index=off_cpu does not show Type: off_cpu"
grep -Eq ' nap$' "$T/a.top" || fail "pprof's off_cpu view has no nap"
ptot_ns=$(pp -raw "$T/a.pb.gz" | awk '/^Samples:$/ { s = 1; next } /^Locations$/ { s = 0 }
	s && /^ *[0-9]+ +[0-9]+ +[0-9]+: / { sub(/:.*/, ""); t += $3 } END { printf "%.0f\n", t }')
ftot=$(awk '{ t += $NF } END { print t + 0 }' "$T/a.off")
within "$ftot" "$(awk -v v="$ptot_ns" 'BEGIN { print v / 1000 }')" 1 "--folded-off-cpu total (us) against pprof's off_cpu"
# --folded is CPU samples, exactly pprof's.
fsum=$(folded_sum "$T/a.folded")
ctot=$(total "$T/a.pb.gz")
((fsum == ctot)) || fail "--folded sums to $fsum with --off-cpu, pprof's CPU samples are $ctot"

# The flame graph offers off_cpu, with pprof's total.
python3 "$FGCHECK" data "$T/a.html" off_cpu >"$T/a.fg" || fail "the flame graph has no off_cpu values"
fg_ns=$(awk 'NR == 1 { print $2 }' "$T/a.fg")
((fg_ns == ptot_ns)) || fail "the flame graph's off_cpu total is $fg_ns ns, pprof's $ptot_ns"
grep -q 'id="type-box"' "$T/a.html" || fail "the flame graph page has no value selector"

# OTLP: a second profile per resource, off_cpu/nanoseconds, the same total.
wait_requests "$T/recv" 1 5 || fail "no OTLP request arrived"
otlp_check "$T/recv/0001.body" --hz "$FREQ" >"$T/sum.json"
o_ns=$(json_get "$T/sum.json" off_cpu samples)
((o_ns == ptot_ns)) || fail "OTLP's off_cpu profiles hold $o_ns ns, pprof's off_cpu $ptot_ns"
o_cpu=$(json_get "$T/sum.json" samples)
((o_cpu == ctot)) || fail "OTLP's CPU profiles hold $o_cpu samples, pprof $ctot"

# --- Run B: the same without --off-cpu; burn_cpu's CPU samples as in A.
cpu_of()
{
	awk '{ n = split($1, fr, ";"); if (fr[1] == "waits" && fr[n] == "burn_cpu") s += $NF } END { print s + 0 }' "$1"
}
start_sampling_agent -F "$FREQ" -d $((W + 3)) -o "$T/b.pb.gz" --folded "$T/b.folded"
run_waits "$T/b.truth"
wait_agent
burn_cpu_b=$(awk '/^burn/ { print $5 }' "$T/b.truth")
a_burn=$(cpu_of "$T/a.folded")
b_burn=$(cpu_of "$T/b.folded")
info "burn_cpu samples: $a_burn with --off-cpu (${burn_cpu_a}s CPU), $b_burn without (${burn_cpu_b}s)"
for run in a b; do
	v=${run}_burn c=burn_cpu_$run
	# The workload's own CPU seconds, as clock ticks for cpu_bounds (which allows for steal).
	cpu_bounds "${!v}" "run $run: burn_cpu" "$(awk -v c="${!c}" -v t="$(getconf CLK_TCK)" \
		'BEGIN { print c * t }')" "$FREQ" "${!c}" "${!c}"
done

# --- Run C: mutex contention.
start_workload mutexfight 30
MF=$BG_PID
agent_ok --off-cpu -F "$FREQ" -d 4 -p "$MF" -o "$T/c.pb.gz" --folded-off-cpu "$T/c.off"
read -r fl fx < <(awk '{ s = ";" $1 ";"; if (s ~ /;fight_lock;/) { a += $NF; if (s ~ /;futex_wait_\[k\];/) b += $NF } } END { print a + 0, b + 0 }' "$T/c.off")
info "fight_lock blocked $(awk -v v="$fl" 'BEGIN { print v / 1e6 }') s, $(pct "$fx" "$fl")% in futex_wait"
((fl > 0)) || fail "no off-CPU time under fight_lock"
((fx * 100 >= fl * 90)) || fail "futex_wait is under fight_lock in $(pct "$fx" "$fl")% of its blocked time (want >= 90%)"
# Two threads over 4 s, each waiting about half of it: at least a fifth.
((fl >= 2 * 4 * 1000000 / 5)) || fail "fight_lock blocked only $fl us of two threads' 4 s"
grep -q 'pthread_mutex_lock\|__lll_lock_wait' "$T/c.off" || fail "no pthread_mutex_lock/__lll_lock_wait frame under fight_lock"

# --- Run D: top --off-cpu ranks the waits (text, stdout not a terminal).
start_workload waits 8
run_agent top --off-cpu -p "$BG_PID" -d 4
((AGENT_RC == 0)) || fail "top --off-cpu exited $AGENT_RC: $(first_err_line)"
grep -q 'ms off-CPU/s' "$T/agent.out" || fail "top --off-cpu's header has no 'ms off-CPU/s'"
grep -Eq '  (nap|wait_pipe|feed_sleep)$' "$T/agent.out" || fail "top --off-cpu does not list the waits workload's functions"

# --- Run E: one sleeping switch in 4 walked, weighted 4, for WE s.
WE=4
start_workload waits $((WE + 30))
sleep 0.5
agent_ok -v --off-cpu --off-cpu-walks 60 -F "$FREQ" -d "$WE" -p "$BG_PID" -o "$T/e.pb.gz" \
	--folded-off-cpu "$T/e.off"
grep 'off-CPU:' "$T/agent.err" >&2
left=$(grep -m 1 -o '[0-9]* timed but not walked' "$T/agent.err" | awk '{ print $1 }')
((${left:-0} > 0)) || fail "--off-cpu-walks 60 left nothing out: $(grep -m 1 'off-CPU:' "$T/agent.err")"
e_us=$(($(off_us "$T/e.off" waits wait_pipe) + $(off_us "$T/e.off" waits feed_sleep)))
info "run E: wait_pipe + feed_sleep blocked $(awk -v v="$e_us" 'BEGIN { print v / 1e6 }') s in ${WE} s, $left switches timed but not walked"
within "$e_us" $((2 * WE * 1000000)) 5 "run E (sampled): wait_pipe + feed_sleep's blocked us against 2 x ${WE}s"

# --- Run F: a few long waits among many short ones, one walk in 128.
WF=4
"$WL/tailwaits" $((WF + 8)) >"$T/f.truth" &
TW=$!
sleep 0.5
agent_ok -v --off-cpu --off-cpu-walks 20 -F "$FREQ" -d "$WF" -p "$TW" -o "$T/f.pb.gz" \
	--folded-off-cpu "$T/f.off"
grep 'off-CPU' "$T/agent.err" >&2
wait "$TW" || fail "tailwaits failed"
shift_now=$(sed -n 's/.*(now 1 in \([0-9]*\) walked).*/\1/p' "$T/agent.err" | tail -n 1)
((${shift_now:-0} >= 64)) || fail "run F walked 1 in ${shift_now:-?} sleeping switches, want 1 in 64 or fewer"
# The thread's CPU share, from its own clock over the whole run.
idle=$(awk -v s=$((WF + 8)) '/^cpu tails/ { printf "%.4f", 1 - $3 / s }' "$T/f.truth")
f_us=$(off_us "$T/f.off" tailwaits tail_loop)
f_long=$(off_us "$T/f.off" tailwaits long_wait)
info "run F: tail_loop blocked $(awk -v v="$f_us" 'BEGIN { print v / 1e6 }') s in ${WF} s" \
	"(off CPU $(awk -v i="$idle" 'BEGIN { print i * 100 }')% of the time), long_wait $(pct "$f_long" "$f_us")% of it"
within "$f_us" "$(awk -v i="$idle" -v w="$WF" 'BEGIN { print i * w * 1e6 }')" 5 \
	"run F (1 walk in ${shift_now:-?}): tail_loop's blocked us against its time off CPU"
exit 0
