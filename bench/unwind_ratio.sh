#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/unwind_ratio.sh - emberprof's DWARF unwinding against its peers, as
# ratios measured in the same run.
#
# Absolute BPF times on a VM drift several-fold from one day to the next, so
# nothing here is reported on its own: every emberprof figure is divided by
# a reference measured minutes apart, run by run, with the same load.
#
# A. BPF time per sample against bpftrace. With kernel.bpf_stats_enabled=1
#    the kernel times every run of a BPF program. The reference is bpftrace
#    walking frame pointers,
#        profile:hz:HZ /pid == P/ { @[ustack, kstack] = count(); }
#    on build/workloads/recurse (leaf_work, BENCH_DEPTH recurse frames, main,
#    libc: ~30 frames); against it, emberprof -F HZ -p P with DWARF unwinding
#    on recurse-nofp, the same program without frame pointers. Each tool's
#    perf_event program is found through the tool's own fds
#    (/proc/PID/fdinfo: prog_id; emberprof's is on_sample, bpftrace has one)
#    and read with `bpftool prog show` (run_time_ns, run_cnt) twice: after
#    BENCH_WARM s, once the agent's tables are loaded, and BENCH_SECS s
#    later; ns/run is the difference of the two over the runs in between.
#    BENCH_COPIES copies of the load (one per CPU by default, P is then all
#    of them) keep every CPU in the load, so nearly every run records a
#    sample rather than being turned away by the pid test. The tools
#    alternate run by run (bpftrace, emberprof, bpftrace, ...), BENCH_PAIRS
#    pairs per rate; medians are quoted. The window is stretched, if need
#    be, to give each measurement >= BENCH_MIN_RUNS runs.
#    Target: emberprof / bpftrace <= 0.75.
#
# B. What the workload loses. bench/spin2.c (built here, -O2
#    -fomit-frame-pointer) runs BENCH_THREADS CPU-bound threads for
#    BENCH_PROG_SECS s and prints its own throughput. It runs alone, under
#    emberprof -F BENCH_B_HZ (whole system) and under perf record
#    --call-graph dwarf -a -F BENCH_B_HZ (the data is thrown away), each
#    profiler started BENCH_LEAD s before the program so that the program
#    meets it in its steady state. A round is alone, then the two profilers
#    (their order swapped every round), and one more alone run closes the
#    last round; a profiled run's loss is against the mean of the alone runs
#    on either side of its round. Target: emberprof_loss / perf_loss <= 0.5.
#
# Other work on the machine (a build in another shell) would swamp both
# parts: before every run the script waits until the CPUs have been idle
# (< BENCH_QUIET_PCT busy) for a second with no other emberprof, perf or
# bpftrace running, and it measures the user CPU that processes other than
# its own took during each run ("foreign %"), and whether another
# profiler ran. A run that is not clean (foreign % > BENCH_FOREIGN_PCT or
# another profiler) is done again, up to BENCH_RETRIES times; one that
# stays unclean is listed with a * and left out of the medians.
#
# Needs root, bpftool, bpftrace, perf (linux-perf), gcc and
# `make O=build build/emberprof build/workloads/recurse build/workloads/recurse-nofp`.
# kernel.bpf_stats_enabled and kernel.perf_event_max_sample_rate are put
# back as they were at exit.
#
# Environment (defaults in brackets):
#   BENCH_PARTS ["A B"]      which parts to run
#   BENCH_RATES ["19 99 999"]  part A sampling rates, Hz
#   BENCH_PAIRS [3]          part A bpftrace/emberprof pairs per rate
#   BENCH_SECS [8]           part A measured window per run, seconds
#   BENCH_WARM [2]           part A seconds between the first run and the window
#   BENCH_MIN_RUNS [300]     part A fewest runs per measurement
#   BENCH_DEPTH [25]         part A recursion depth (25 = ~30 frames)
#   BENCH_COPIES [CPUs]      part A copies of the load
#   BENCH_ROUNDS [10]        part B rounds
#   BENCH_PROG_SECS [4]      part B seconds the program runs
#   BENCH_LEAD [3]           part B seconds a profiler runs before the program
#   BENCH_B_HZ [999]         part B sampling rate
#   BENCH_THREADS [2]        part B program threads
#   BENCH_B_DEPTH [10]       part B program stack depth
#   BENCH_QUIET_PCT [10]     busy % under which the machine counts as idle
#   BENCH_QUIET_WAIT [300]   longest wait for an idle machine per run, seconds
#   BENCH_FOREIGN_PCT [5]    a run above this foreign % is not clean
#   BENCH_RETRIES [2]        times an unclean run is done again
#   BENCH_KEEP [0]           1 = keep the scratch directory
#   O [build]                build directory; EMBERPROF [$O/emberprof]

set -euo pipefail

T_START=$(date +%s)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
PARTS=${BENCH_PARTS:-A B}
RATES=${BENCH_RATES:-19 99 999}
PAIRS=${BENCH_PAIRS:-3}
SECS=${BENCH_SECS:-8}
WARM=${BENCH_WARM:-2}
MIN_RUNS=${BENCH_MIN_RUNS:-300}
DEPTH=${BENCH_DEPTH:-25}
NCPU=$(getconf _NPROCESSORS_ONLN)
COPIES=${BENCH_COPIES:-$NCPU}
ROUNDS=${BENCH_ROUNDS:-10}
PROG_SECS=${BENCH_PROG_SECS:-4}
LEAD=${BENCH_LEAD:-3}
B_HZ=${BENCH_B_HZ:-999}
THREADS=${BENCH_THREADS:-2}
B_DEPTH=${BENCH_B_DEPTH:-10}
QUIET_PCT=${BENCH_QUIET_PCT:-10}
QUIET_WAIT=${BENCH_QUIET_WAIT:-300}
FOREIGN_PCT=${BENCH_FOREIGN_PCT:-5}
RETRIES=${BENCH_RETRIES:-2}
KEEP=${BENCH_KEEP:-0}
OUT=${O:-build}
case $OUT in
/*) ;;
*) OUT=$ROOT/$OUT ;;
esac
EMBERPROF=${EMBERPROF:-$OUT/emberprof}
WL=$OUT/workloads
TICK=$(getconf CLK_TCK)

die()
{
	printf 'bench: %s\n' "$*" >&2
	exit 1
}

say()
{
	printf 'bench: %s\n' "$*" >&2
}

positive()
{
	case $1 in
	'' | *[!0-9]* | 0) return 1 ;;
	*) return 0 ;;
	esac
}

for v in PAIRS SECS WARM MIN_RUNS DEPTH COPIES ROUNDS PROG_SECS LEAD B_HZ THREADS B_DEPTH \
	QUIET_PCT QUIET_WAIT FOREIGN_PCT; do
	positive "${!v}" || die "BENCH_$v must be a whole number > 0, not '${!v}'"
done
case $RETRIES in
'' | *[!0-9]*) die "BENCH_RETRIES must be a whole number, not '$RETRIES'" ;;
esac
for hz in $RATES; do
	positive "$hz" || die "BENCH_RATES: '$hz' is not a rate in Hz"
done
[ -n "$RATES" ] || die "BENCH_RATES is empty"
DO_A=0 DO_B=0
for p in $PARTS; do
	case $p in
	A | a) DO_A=1 ;;
	B | b) DO_B=1 ;;
	*) die "unknown part '$p' in BENCH_PARTS (A, B)" ;;
	esac
done

[ "$(id -u)" -eq 0 ] || die "needs root (BPF, perf events, kernel.bpf_stats_enabled)"
command -v bpftool >/dev/null || die "bpftool not found: apt-get install bpftool"
[ "$DO_A" = 0 ] || command -v bpftrace >/dev/null || die "bpftrace not found: apt-get install bpftrace"
[ "$DO_B" = 0 ] || command -v perf >/dev/null || die "perf not found: apt-get install linux-perf"
[ "$DO_B" = 0 ] || command -v gcc >/dev/null || die "gcc not found: apt-get install gcc"
[ -x "$EMBERPROF" ] || die "$EMBERPROF not found: run 'make O=build build/emberprof'"
if [ "$DO_A" = 1 ]; then
	for w in recurse recurse-nofp; do
		[ -x "$WL/$w" ] || die "$WL/$w not found: run 'make O=build build/workloads/$w'"
	done
fi
TMP=$(mktemp -d /tmp/emberprof-bench-ratio.XXXXXX)
cd "$TMP"
LOAD_PIDS=()
TOOL_PID=
PROG_PID=
OLD_BPF_STATS=
OLD_MAX_RATE=

cleanup()
{
	local pid

	for pid in $TOOL_PID $PROG_PID "${LOAD_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in $TOOL_PID $PROG_PID "${LOAD_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [ -n "$OLD_BPF_STATS" ]; then
		echo "$OLD_BPF_STATS" >/proc/sys/kernel/bpf_stats_enabled || true
	fi
	if [ -n "$OLD_MAX_RATE" ]; then
		echo "$OLD_MAX_RATE" >/proc/sys/kernel/perf_event_max_sample_rate || true
	fi
	if [ "$KEEP" = 1 ]; then
		say "outputs kept in $TMP"
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

OLD_BPF_STATS=$(cat /proc/sys/kernel/bpf_stats_enabled)
OLD_MAX_RATE=$(cat /proc/sys/kernel/perf_event_max_sample_rate)

# Run copies: a make in another shell may replace or remove the build's
# binaries while this runs, and every run must measure the same ones.
mkdir "$TMP/bin"
cp "$EMBERPROF" "$TMP/bin/emberprof" || die "cannot copy $EMBERPROF"
EMBERPROF_SUM=$(md5sum "$TMP/bin/emberprof" | cut -c 1-12)
TREE="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(
	git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || echo ' + uncommitted changes'
)"
EMBERPROF=$TMP/bin/emberprof
if [ "$DO_A" = 1 ]; then
	cp "$WL/recurse" "$WL/recurse-nofp" "$TMP/bin/" || die "cannot copy the workloads from $WL"
fi
WL=$TMP/bin

# --- helpers ---------------------------------------------------------------------

# rate_guard HZ: the kernel lowers kernel.perf_event_max_sample_rate by
# itself when sample interrupts run long; put the saved value back (or HZ,
# if that is higher) before a run, so that every run samples at the rate
# asked for. Counts the times it had to in RATE_DROPS.
RATE_DROPS=0
rate_guard()
{
	local want=$OLD_MAX_RATE cur

	[ "$1" -gt "$want" ] && want=$1
	cur=$(cat /proc/sys/kernel/perf_event_max_sample_rate)
	if [ "$cur" -lt "$want" ]; then
		[ "$cur" -lt "$OLD_MAX_RATE" ] && RATE_DROPS=$((RATE_DROPS + 1))
		echo "$want" >/proc/sys/kernel/perf_event_max_sample_rate
	fi
}

# stats_guard: kernel.bpf_stats_enabled must stay 1 while a run is timed;
# another tool may put its own saved value back in the middle (see
# bench/unwind.sh). Then turn it on again and flag the run in STATS_GAP.
stats_guard()
{
	if [ "$(cat /proc/sys/kernel/bpf_stats_enabled)" != 1 ]; then
		echo 1 >/proc/sys/kernel/bpf_stats_enabled
		STATS_GAP=1
	fi
}

# busy_ticks: "busy total" ticks of all CPUs from /proc/stat (idle and
# iowait are not busy).
busy_ticks()
{
	awk '$1 == "cpu" {
		t = 0
		for (i = 2; i <= NF; i++) t += $i
		print t - $5 - $6, t
		exit
	}' /proc/stat
}

# user_ticks: user+nice ticks of all CPUs (guest time is inside user).
user_ticks()
{
	awk '$1 == "cpu" { print $2 + $3; exit }' /proc/stat
}

# pid_uticks PID...: the user ticks these processes have had (0 for one gone).
pid_uticks()
{
	local p u s=0

	for p in "$@"; do
		u=$(awk '{ sub(/^.*\) /, ""); print $12 }' "/proc/$p/stat" 2>/dev/null) || u=0
		s=$((s + ${u:-0}))
	done
	echo "$s"
}

# pid_ticks PID: the user+system ticks PID has had (0 once it is gone).
pid_ticks()
{
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# foreign_pct UTICKS OURS_S WALL_S: the share of all CPUs' time that went to
# user code other than ours: UTICKS user ticks in all, OURS_S seconds of it ours.
foreign_pct()
{
	awk -v u="$1" -v o="$2" -v w="$3" -v hz="$TICK" -v n="$NCPU" 'BEGIN {
		f = w > 0 ? 100 * (u / hz - o) / (w * n) : 0
		printf "%.1f", (f < 0 ? 0 : f)
	}'
}

now_ns()
{
	date +%s%N
}

# other_profilers: the pids of the profilers running that this script did
# not start (TOOL_PID is ours). Their sampling interrupts land in our tasks,
# where the foreign % cannot see them.
other_profilers()
{
	{ pgrep -x emberprof; pgrep -x perf; pgrep -x bpftrace; } |
		awk -v me="${TOOL_PID:-0}" '$1 != me { printf "%s%s", (n++ ? " " : ""), $1 }' || true
}

# wait_quiet: block until the CPUs were < QUIET_PCT busy over one second
# and no other profiler runs, for at most QUIET_WAIT seconds (then carry on
# with a warning).
QUIET_WAITED=0
wait_quiet()
{
	local b0 t0 b1 t1 pct start=$SECONDS said=0 others busiest

	while :; do
		read -r b0 t0 < <(busy_ticks)
		sleep 1
		read -r b1 t1 < <(busy_ticks)
		pct=$(((t1 > t0) ? 100 * (b1 - b0) / (t1 - t0) : 0))
		others=$(other_profilers)
		[ "$pct" -lt "$QUIET_PCT" ] && [ -z "$others" ] && break
		if [ $((SECONDS - start)) -ge "$QUIET_WAIT" ]; then
			say "warning: after ${QUIET_WAIT}s the machine is still ${pct}% busy${others:+ and other" \
				"profilers run ($others)}; measuring anyway"
			break
		fi
		if [ "$said" = 0 ]; then
			# pcpu is over each process's life: a hint at who, not how much.
			busiest=$(ps -eo pcpu=,comm= --sort=-pcpu |
				awk '$2 != "ps" && n++ < 3 { printf "%s%s", (n > 1 ? ", " : ""), $2 }')
			say "waiting for an idle machine (${pct}% busy; busiest: $busiest${others:+; other profilers: $others})"
			said=1
		fi
	done
	QUIET_WAITED=$((QUIET_WAITED + SECONDS - start - 1))
}

# tool_prog PID KIND: the id of the perf_event program that PID holds,
# named on_sample for KIND emberprof, the only one for KIND bpftrace.
tool_prog()
{
	local id

	for id in $({ awk '/^prog_id:/ { print $2 }' "/proc/$1/fdinfo/"* 2>/dev/null || true; } | sort -un); do
		if { bpftool prog show id "$id" 2>/dev/null || true; } |
			awk -v k="$2" 'NR == 1 && $2 == "perf_event" && (k != "emberprof" || $4 == "on_sample") { ok = 1 }
				END { exit !ok }'; then
			echo "$id"
			return 0
		fi
	done
	return 1
}

# stop_tool: SIGINT to TOOL_PID (every tool here writes its output then),
# SIGKILL if it is still there 120 s later; leaves its exit status in TOOL_RC
# (perf record exits 130 after a SIGINT that it handled: counted as 0).
stop_tool()
{
	local i

	kill -INT "$TOOL_PID" 2>/dev/null || true
	for ((i = 0; i < 1200; i++)); do
		kill -0 "$TOOL_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$TOOL_PID" 2>/dev/null || true
	TOOL_RC=0
	wait "$TOOL_PID" || TOOL_RC=$?
	[ "$TOOL_RC" != 130 ] || TOOL_RC=0
	TOOL_PID=
}

# median: the median of the numbers on stdin, "-" for none.
median()
{
	sort -g | awk '{ a[NR] = $1 }
		END {
			if (NR == 0) print "-"
			else if (NR % 2) print a[(NR + 1) / 2]
			else print (a[NR / 2] + a[NR / 2 + 1]) / 2
		}'
}

# --- A. BPF time per sample against bpftrace --------------------------------------

A_RESULTS=$TMP/a.results
: >"$A_RESULTS"

start_load()
{
	local name=$1 i

	shift
	LOAD_PIDS=()
	for ((i = 0; i < COPIES; i++)); do
		"$WL/$name" "$@" &
		LOAD_PIDS+=("$!")
	done
	sleep 0.3
}

stop_load()
{
	local pid ok=0

	for pid in "${LOAD_PIDS[@]}"; do
		kill -0 "$pid" 2>/dev/null || ok=1
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	LOAD_PIDS=()
	return "$ok"
}

# a_window HZ: the measured seconds at HZ, at least SECS and long enough for
# MIN_RUNS runs (plus a tenth, for the runs a busy CPU's timer skips).
a_window()
{
	local need=$((MIN_RUNS + MIN_RUNS / 10)) per=$(($1 * NCPU))
	local s=$(((need + per - 1) / per))

	[ "$s" -lt "$SECS" ] && s=$SECS
	echo "$s"
}

# folded_frames FILE: mean frames per sample of a folded file (comm not counted).
folded_frames()
{
	awk '{ n = split($1, f, ";"); s += $NF; fr += $NF * (n - 1) }
		END { printf "%.1f %d\n", s ? fr / s : 0, s }' "$1"
}

# bpftrace_frames FILE: mean frames (user + kernel) per sample and the
# samples, from bpftrace's map dump ("@[", frame lines, ", ]: COUNT").
bpftrace_frames()
{
	awk '/^@\[/ { n = 0; on = 1; next }
		on && /^    [^ ]/ { n++; next }
		on && /\]: [0-9]+$/ { s += $NF; fr += $NF * n; on = 0 }
		END { printf "%.1f %d\n", s ? fr / s : 0, s }' "$1"
}

# a_once TOOL HZ PAIR: one measured run; leaves the line for A_RESULTS,
# "tool hz pair ns/run runs frames samples foreign% stats_gap clean", in
# R_LINE, and in R_NOISY why it is not clean (nothing if it is); clean is
# 1 or 0.
a_once()
{
	local tool=$1 hz=$2 pair=$3 win id="" t0 c0 t1 c1 i pred="" p st u0 u1 o0 o1 w0 w1
	local frames samples fpct ns others clean

	win=$(a_window "$hz")
	wait_quiet
	rate_guard "$hz"
	if [ "$tool" = bpftrace ]; then
		start_load recurse "$((WARM + win + 120))" "$DEPTH"
		for p in "${LOAD_PIDS[@]}"; do
			pred="${pred:+$pred || }pid == $p"
		done
		bpftrace -e "profile:hz:$hz /$pred/ { @[ustack, kstack] = count(); }" \
			>"$TMP/a.out" 2>"$TMP/a.err" &
	else
		start_load recurse-nofp "$((WARM + win + 120))" "$DEPTH"
		"$EMBERPROF" -F "$hz" -p "$(
			IFS=,
			echo "${LOAD_PIDS[*]}"
		)" -o "$TMP/a.pb.gz" --folded "$TMP/a.folded" >"$TMP/a.out" 2>"$TMP/a.err" &
	fi
	TOOL_PID=$!
	STATS_GAP=0
	echo 1 >/proc/sys/kernel/bpf_stats_enabled
	# Wait for the program, then for its first run: bpf_stats counts from there.
	for ((i = 0; i < 300; i++)); do
		kill -0 "$TOOL_PID" 2>/dev/null || break
		[ -n "$id" ] || id=$(tool_prog "$TOOL_PID" "$tool") || id=
		if [ -n "$id" ]; then
			st=$(prog_stats "$id")
			[ -n "$st" ] && [ "${st#* }" -gt 0 ] && break
		fi
		sleep 0.1
	done
	if [ -z "$id" ] || ! kill -0 "$TOOL_PID" 2>/dev/null; then
		stop_tool
		die "$tool ($hz Hz) did not start a perf_event program: $(head -n 3 "$TMP/a.err")"
	fi
	sleep "$WARM"
	stats_guard
	read -r t0 c0 < <(prog_stats "$id")
	u0=$(user_ticks)
	o0=$(pid_uticks "$TOOL_PID" "${LOAD_PIDS[@]}")
	w0=$(now_ns)
	others=$(other_profilers)
	sleep "$win"
	read -r t1 c1 < <(prog_stats "$id")
	u1=$(user_ticks)
	o1=$(pid_uticks "$TOOL_PID" "${LOAD_PIDS[@]}")
	w1=$(now_ns)
	others="$others $(other_profilers)"
	stats_guard
	stop_tool
	# The window is over: a tool that fails now leaves its ns/run good.
	[ "$TOOL_RC" = 0 ] || say "warning: $tool exited with status $TOOL_RC (its ns/run stands): $(head -n 2 "$TMP/a.err")"
	stop_load || say "warning: the load ended before $tool did; raise its duration"
	if [ "$tool" = bpftrace ]; then
		read -r frames samples < <(bpftrace_frames "$TMP/a.out")
	else
		read -r frames samples < <(folded_frames "$TMP/a.folded")
	fi
	fpct=$(foreign_pct "$((u1 - u0))" \
		"$(awk -v o="$((o1 - o0))" -v hz="$TICK" 'BEGIN { print o / hz }')" \
		"$(awk -v a="$w0" -v b="$w1" 'BEGIN { print (b - a) / 1e9 }')")
	echo "$OLD_BPF_STATS" >/proc/sys/kernel/bpf_stats_enabled
	[ "$STATS_GAP" = 0 ] || say "warning: kernel.bpf_stats_enabled was turned off during this run"
	ns=$(awk -v t="$((t1 - t0))" -v c="$((c1 - c0))" 'BEGIN { printf "%.0f", c ? t / c : 0 }')
	noisy "$fpct" "$others"
	clean=1
	[ -z "$R_NOISY" ] || clean=0
	R_LINE="$tool $hz $pair $ns $((c1 - c0)) $frames $samples $fpct $STATS_GAP $clean"
	say "$(printf 'A %4s Hz pair %d %-9s %7s ns/run over %6d runs (%ss), %s frames/sample, foreign %s%%' \
		"$hz" "$pair" "$tool" "$ns" "$((c1 - c0))" "$win" "$frames" "$fpct")"
	[ "$((c1 - c0))" -ge "$MIN_RUNS" ] ||
		say "warning: only $((c1 - c0)) runs (< $MIN_RUNS); raise BENCH_SECS"
}

# noisy PCT PIDS: sets R_NOISY to why a run with foreign % PCT, during
# which the other profilers PIDS ran, is not clean; to nothing if it is.
noisy()
{
	local others

	others=$(echo "$2" | tr ' ' '\n' | sort -un | tr '\n' ' ' | sed 's/^ *//; s/ *$//')
	R_NOISY=
	if awk -v f="$1" -v l="$FOREIGN_PCT" 'BEGIN { exit !(f > l) }'; then
		R_NOISY="other processes took $1% of the CPUs (> $FOREIGN_PCT%)"
	fi
	if [ -n "$others" ]; then
		R_NOISY="${R_NOISY:+$R_NOISY, }other profilers ran ($others)"
	fi
}

# retried FN ARGS...: FN ARGS, again while its R_NOISY says the run was
# not clean (at most RETRIES more times); the last R_LINE goes to RESULTS.
RETRIED=0
retried()
{
	local n

	for ((n = 0; ; n++)); do
		"$@"
		[ -n "$R_NOISY" ] || break
		if [ "$n" -ge "$RETRIES" ]; then
			say "warning: $R_NOISY; kept, marked not clean"
			break
		fi
		say "$R_NOISY: once more"
		RETRIED=$((RETRIED + 1))
	done
	echo "$R_LINE" >>"$RESULTS"
}

if [ "$DO_A" = 1 ]; then
	say "A: BPF time per sample, bpftrace (fp, recurse) vs emberprof (DWARF, recurse-nofp)," \
		"$COPIES copies at depth $DEPTH, $PAIRS pairs at each of $RATES Hz"
	RESULTS=$A_RESULTS
	for hz in $RATES; do
		for ((pair = 1; pair <= PAIRS; pair++)); do
			retried a_once bpftrace "$hz" "$pair"
			retried a_once emberprof "$hz" "$pair"
		done
	done
fi

# --- B. what the workload loses -----------------------------------------------------

B_RESULTS=$TMP/b.results
: >"$B_RESULTS"

# b_once KIND ROUND: spin2 alone or under a profiler; leaves the line for
# B_RESULTS, "round kind iterations/s foreign% samples wall_s profiler_cpu%
# clean", in R_LINE, and R_NOISY as a_once does. profiler_cpu% is the user+system
# time of the profiler's process while the program ran, as a share of all
# CPUs (BPF programs run in the sampled tasks' interrupts and are not in it).
b_once()
{
	local kind=$1 round=$2 i u0 u1 p0=0 p1=0 c0=0 c1=0 line tput ucpu wall samples=- fpct cpct=-
	local others clean

	wait_quiet
	rate_guard "$B_HZ"
	case $kind in
	emberprof)
		"$EMBERPROF" -F "$B_HZ" -o "$TMP/b.pb.gz" >"$TMP/b.out" 2>"$TMP/b.err" &
		TOOL_PID=$!
		for ((i = 0; i < 300; i++)); do
			tool_prog "$TOOL_PID" emberprof >/dev/null && break
			kill -0 "$TOOL_PID" 2>/dev/null || break
			sleep 0.1
		done
		;;
	perf)
		perf record --call-graph dwarf -a -F "$B_HZ" -o "$TMP/perf.data" \
			>"$TMP/b.out" 2>"$TMP/b.err" &
		TOOL_PID=$!
		for ((i = 0; i < 300; i++)); do
			[ -s "$TMP/perf.data" ] && break
			kill -0 "$TOOL_PID" 2>/dev/null || break
			sleep 0.1
		done
		;;
	esac
	if [ -n "$TOOL_PID" ]; then
		sleep "$LEAD"
		kill -0 "$TOOL_PID" 2>/dev/null ||
			die "$kind exited before the program started: $(head -n 3 "$TMP/b.err")"
		p0=$(pid_uticks "$TOOL_PID")
		c0=$(pid_ticks "$TOOL_PID")
	fi
	u0=$(user_ticks)
	others=$(other_profilers)
	"$SPIN2" "$PROG_SECS" "$THREADS" "$B_DEPTH" >"$TMP/spin2.out" &
	PROG_PID=$!
	wait "$PROG_PID" || die "spin2 failed: $(cat "$TMP/spin2.out")"
	PROG_PID=
	u1=$(user_ticks)
	others="$others $(other_profilers)"
	if [ -n "$TOOL_PID" ]; then
		p1=$(pid_uticks "$TOOL_PID")
		c1=$(pid_ticks "$TOOL_PID")
		stop_tool
		[ "$TOOL_RC" = 0 ] || say "warning: $kind exited with status $TOOL_RC: $(tail -n 2 "$TMP/b.err")"
	fi
	line=$(cat "$TMP/spin2.out")
	read -r wall tput ucpu < <(awk '{
		for (i = 1; i <= NF; i++) {
			if ($(i + 1) == "s:") w = $i
			if ($(i + 1) == "iterations/s,") t = $i
			if ($i == "user") u = $(i + 1)
		}
		print w, t, u
	}' <<<"$line")
	[ -n "$ucpu" ] || die "cannot read spin2's output: $line"
	case $kind in
	emberprof) samples=$(awk '/ samples on / { for (i = 1; i < NF; i++) if ($(i + 1) == "samples") n = $i }
		END { print n + 0 }' "$TMP/b.err") ;;
	perf) samples=$(awk '/perf record: Captured/ && match($0, /\([0-9]+ samples\)/) {
			print substr($0, RSTART + 1, RLENGTH - 10) + 0 }' "$TMP/b.err" | tail -n 1) ;;
	esac
	rm -f "$TMP/perf.data" "$TMP/perf.data.old" "$TMP/b.pb.gz"
	fpct=$(foreign_pct "$((u1 - u0))" \
		"$(awk -v u="$ucpu" -v p="$((p1 - p0))" -v hz="$TICK" 'BEGIN { print u + p / hz }')" "$wall")
	[ "$kind" = alone ] || cpct=$(awk -v c="$((c1 - c0))" -v hz="$TICK" -v w="$wall" -v n="$NCPU" \
		'BEGIN { printf "%.1f", (w > 0 ? 100 * c / hz / (w * n) : 0) }')
	noisy "$fpct" "$others"
	clean=1
	[ -z "$R_NOISY" ] || clean=0
	R_LINE="$round $kind $tput $fpct ${samples:--} $wall $cpct $clean"
	say "$(printf 'B round %2d %-9s %12s iterations/s, foreign %5s%%, profiler CPU %s%%, samples %s' \
		"$round" "$kind" "$tput" "$fpct" "$cpct" "${samples:--}")"
}

if [ "$DO_B" = 1 ]; then
	SPIN2=$TMP/spin2
	gcc -O2 -fomit-frame-pointer -pthread -o "$SPIN2" "$ROOT/bench/spin2.c" ||
		die "cannot build bench/spin2.c"
	say "B: spin2 ($THREADS threads, depth $B_DEPTH) ${PROG_SECS}s alone / emberprof / perf," \
		"profilers at $B_HZ Hz started ${LEAD}s before, $ROUNDS rounds"
	RESULTS=$B_RESULTS
	for ((round = 1; round <= ROUNDS; round++)); do
		retried b_once alone "$round"
		if ((round % 2)); then
			retried b_once emberprof "$round"
			retried b_once perf "$round"
		else
			retried b_once perf "$round"
			retried b_once emberprof "$round"
		fi
	done
	retried b_once alone "$((ROUNDS + 1))"
fi

# --- report -------------------------------------------------------------------------

# a_col TOOL HZ COLUMN: the values of COLUMN in A_RESULTS for TOOL at HZ,
# clean runs only.
a_col()
{
	awk -v t="$1" -v h="$2" -v c="$3" '$1 == t && $2 == h && $10 == 1 { print $c }' "$A_RESULTS"
}

# a_ratio HZ: the median ns/run of emberprof over that of bpftrace at HZ.
a_ratio()
{
	awk -v e="$(a_col emberprof "$1" 4 | median)" -v b="$(a_col bpftrace "$1" 4 | median)" \
		'BEGIN { if (b + 0 > 0 && e != "-") printf "%.2f\n", e / b; else print "-" }'
}

# a_pair_ratio HZ: the median over the pairs of emberprof's ns/run over bpftrace's.
a_pair_ratio()
{
	awk -v h="$1" '$2 == h && $10 == 1 && $1 == "bpftrace" { b[$3] = $4 }
		$2 == h && $10 == 1 && $1 == "emberprof" { e[$3] = $4 }
		END { for (p in b) if ((p in e) && b[p] > 0) print e[p] / b[p] }' "$A_RESULTS" | median |
		awk '{ if ($1 == "-") print; else printf "%.2f\n", $1 }'
}

# a_row LABEL CMD ARGS...: one line of the part A table, CMD ARGS HZ per rate.
a_row()
{
	local label=$1 hz

	shift
	printf '%-36s' "$label"
	for hz in $RATES; do
		printf ' %10s' "$("$@" "$hz")"
	done
	echo
}

a_med()
{
	a_col "$1" "$3" "$2" | median
}

a_med1()
{
	a_col "$1" "$3" "$2" | median | awk '{ if ($1 == "-") print; else printf "%.1f\n", $1 }'
}

a_min()
{
	a_col "$1" "$3" "$2" | sort -n | head -n 1
}

# a_kept HZ: "bpftrace/emberprof" clean runs kept at HZ.
a_kept()
{
	awk -v h="$1" '$2 == h { k[$1] += $10 } END { printf "%d/%d\n", k["bpftrace"], k["emberprof"] }' \
		"$A_RESULTS"
}

# pct2 N: N with two decimals, "-" as it is.
pct2()
{
	awk -v n="$1" 'BEGIN { if (n == "-") print "-"; else printf "%.2f\n", n }'
}

echo
echo "emberprof bench/unwind_ratio.sh: $NCPU CPUs, kernel $(uname -r), tree at the start $TREE," \
	"emberprof md5 $EMBERPROF_SUM"

if [ "$DO_A" = 1 ]; then
	echo
	echo "== A. BPF time per sample: emberprof on_sample, DWARF, on recurse-nofp / bpftrace, frame pointers, on recurse"
	echo "   $COPIES copies of each load at depth $DEPTH, all of them in -p / the pid predicate; run_time_ns and"
	echo "   run_cnt from bpftool over a window that opens ${WARM}s after the first run; medians of the"
	echo "   clean runs of $PAIRS interleaved pairs per rate (clean: other processes took <= ${FOREIGN_PCT}% of"
	echo "   the CPUs and no other profiler ran)"
	printf '%-36s' ""
	for hz in $RATES; do printf ' %10s' "$hz Hz"; done
	echo
	a_row "bpftrace ns/run" a_med bpftrace 4
	a_row "emberprof ns/run" a_med emberprof 4
	a_row "ratio emberprof/bpftrace" a_ratio
	a_row "  (median of the per-pair ratios)" a_pair_ratio
	a_row "fewest runs in a window, bpftrace" a_min bpftrace 5
	a_row "fewest runs in a window, emberprof" a_min emberprof 5
	a_row "frames/sample, bpftrace" a_med1 bpftrace 6
	a_row "frames/sample, emberprof" a_med1 emberprof 6
	a_row "clean runs kept, bpftrace/emberprof" a_kept
	echo "   every run, in order (tool, Hz, pair, ns/run, runs, foreign %; * = not clean, left out):"
	awk '{ printf "     %-9s %4s %d %7s%s %7s %5s%s\n", $1, $2, $3, $4, ($10 ? " " : "*"), $5, $8,
		($9 ? "  (bpf_stats were off for a while)" : "") }' "$A_RESULTS"
	verdict=met
	detail=
	for hz in $RATES; do
		r=$(a_ratio "$hz")
		detail="$detail${detail:+, }$hz Hz $r"
		if [ "$r" = - ] || awk -v r="$r" 'BEGIN { exit !(r > 0.75) }'; then
			verdict="NOT met"
		fi
	done
	echo "target: emberprof/bpftrace <= 0.75 at every rate: $verdict ($detail)"
fi

if [ "$DO_B" = 1 ]; then
	echo
	echo "== B. What the workload loses: spin2, $THREADS threads, depth $B_DEPTH, -O2 -fomit-frame-pointer, ${PROG_SECS}s a run"
	echo "   profilers on the whole system at $B_HZ Hz, started ${LEAD}s before the program; a loss is"
	echo "   against the mean of the alone runs either side of its round (millions of iterations/s;"
	echo "   * = not clean, left out: other processes took > ${FOREIGN_PCT}% of the CPUs or another profiler ran)"
	awk -v rounds="$ROUNDS" -v out="$TMP/b.loss" '
		{ t[$1, $2] = $3; f[$1, $2] = $4; s[$1, $2] = $5; c[$1, $2] = $7; ok[$1, $2] = $8 }
		function clean(r, k) { return ((r, k) in t) && ok[r, k] }
		function cell(r, k) {
			if (!((r, k) in t))
				return "-"
			return sprintf("%.1f%s", t[r, k] / 1e6, clean(r, k) ? " " : "*")
		}
		function loss(r, k,    n, ref) {
			if (!clean(r, k))
				return ""
			n = 0
			ref = 0
			if (clean(r, "alone")) { ref += t[r, "alone"]; n++ }
			if (clean(r + 1, "alone")) { ref += t[r + 1, "alone"]; n++ }
			if (!n)
				return ""
			return 100 * (1 - t[r, k] / (ref / n))
		}
		function most(a, b) { return a > b ? a : b }
		END {
			printf "%5s %12s %12s %12s %12s %8s %8s %9s\n", "round", "alone", "emberprof", "perf",
				"next alone", "e loss%", "p loss%", "foreign%"
			for (r = 1; r <= rounds; r++) {
				le = loss(r, "emberprof")
				lp = loss(r, "perf")
				fm = most(most(f[r, "alone"], f[r, "emberprof"]), most(f[r, "perf"], f[r + 1, "alone"]))
				printf "%5d %12s %12s %12s %12s %8s %8s %9.1f\n", r, cell(r, "alone"),
					cell(r, "emberprof"), cell(r, "perf"), cell(r + 1, "alone"),
					(le == "" ? "-" : sprintf("%.2f", le)), (lp == "" ? "-" : sprintf("%.2f", lp)), fm
				if (le != "")
					print "emberprof", le > out
				if (lp != "")
					print "perf", lp > out
				if (clean(r, "alone") && clean(r + 1, "alone")) {
					d = 200 * (t[r, "alone"] - t[r + 1, "alone"])
					d = d / (t[r, "alone"] + t[r + 1, "alone"])
					print "noise", (d < 0 ? -d : d) > out
				}
				if ((r, "emberprof") in s) {
					print "esamples", s[r, "emberprof"] > out
					print "ecpu", c[r, "emberprof"] > out
				}
				if ((r, "perf") in s) {
					print "psamples", s[r, "perf"] > out
					print "pcpu", c[r, "perf"] > out
				}
			}
		}' "$B_RESULTS"
	touch "$TMP/b.loss"
	b_med()
	{
		awk -v k="$1" '$1 == k { print $2 }' "$TMP/b.loss" | median
	}
	b_cnt()
	{
		awk -v k="$1" '$1 == k { n++ } END { print n + 0 }' "$TMP/b.loss"
	}
	E_LOSS=$(b_med emberprof)
	P_LOSS=$(b_med perf)
	printf '%-56s %12s\n' "alone: median millions of iterations/s (clean runs)" \
		"$(awk '$2 == "alone" && $8 { printf "%.1f\n", $3 / 1e6 }' "$B_RESULTS" | median)"
	printf '%-56s %12s\n' "noise: median |difference| of adjacent alone runs, %" "$(pct2 "$(b_med noise)")"
	printf '%-56s %12s\n' "emberprof -F $B_HZ (whole system): median loss %" \
		"$(pct2 "$E_LOSS") ($(b_cnt emberprof) runs)"
	printf '%-56s %12s\n' "perf record --call-graph dwarf -a -F $B_HZ: median loss %" \
		"$(pct2 "$P_LOSS") ($(b_cnt perf) runs)"
	printf '%-56s %12s\n' "samples per run (profiler's whole life), emberprof" "$(b_med esamples)"
	printf '%-56s %12s\n' "samples per run (profiler's whole life), perf" "$(b_med psamples)"
	printf '%-56s %12s\n' "profiler process CPU while the program ran, emberprof %" "$(b_med ecpu)"
	printf '%-56s %12s\n' "profiler process CPU while the program ran, perf %" "$(b_med pcpu)"
	awk -v e="$E_LOSS" -v p="$P_LOSS" 'BEGIN {
		if (e == "-" || p == "-") {
			print "ratio emberprof_loss / perf_loss: -  (too few clean runs)"
			print "target: <= 0.5: cannot tell"
		} else if (p <= 0) {
			printf "ratio emberprof_loss / perf_loss: -  (perf loss %.2f%% is not above zero)\n", p
			print "target: <= 0.5: cannot tell"
		} else {
			r = e / p
			printf "ratio emberprof_loss / perf_loss: %.2f\n", r
			printf "target: <= 0.5: %s\n", (r <= 0.5 ? "met" : "NOT met")
		}
	}'
fi

echo
[ "$RATE_DROPS" = 0 ] || echo "note: the kernel lowered kernel.perf_event_max_sample_rate $RATE_DROPS time(s);" \
	"it was put back before the next run"
echo "runs done again for foreign load: $RETRIED; waited ${QUIET_WAITED}s in all for an idle machine;" \
	"wall time $(($(date +%s) - T_START))s"
