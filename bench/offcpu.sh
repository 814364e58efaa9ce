#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/offcpu.sh - what does --off-cpu cost?
#
# The load is bench/switches.c: two threads ping-ponging over pipes at a
# set rate of sleeping context switches (BENCH_RATES, default 20000 and
# 100000 a second; a rate the machine cannot reach runs flat out, and the
# rate achieved is what the table shows). For each rate, one profiler at a
# time runs whole-system for BENCH_SECS while the load runs inside its
# window:
#   none       the load alone: its switches/s, the reference throughput
#   cpu        emberprof -F HZ (CPU samples only)
#   offcpu     emberprof -F HZ --off-cpu
#   bpftrace   a bcc-offcputime-style script (tracepoint:sched:sched_switch,
#              kstack and ustack of each sleeping thread, nanoseconds summed
#              per stack at wake-up); tracefs is mounted for it if it is not
#              (and unmounted after). `perf record --off-cpu` needs a perf
#              built with BPF skeletons, which Debian's is not.
# Per run: the profiler's CPU (user + sys, /usr/bin/time) and its BPF
# programs' run time (kernel.bpf_stats_enabled=1; the old value is put
# back), both as % of one CPU over the window, and the load's switches/s.
# Then: the cost of --off-cpu (offcpu - cpu), its ratio to bpftrace's, the
# load's throughput lost to it, and the totals check: the blocked time
# emberprof reports for the load against what the load measured (2 x wall -
# its CPU time), beside the same for bpftrace, which times waits as
# emberprof does, between sched_switch hits (the scheduler's own work
# before the hit, at every switch, is blocked time the load counts and
# neither tool sees).
#
# Needs root, bpftool, bpftrace, GNU time and cc.
#
# Environment (defaults in brackets):
#   BENCH_RATES ["20000 100000"]  switches per second asked of the load
#   BENCH_SECS [10]  seconds per run (the load runs 3 s less, inside)
#   BENCH_REPS [1]   runs per profiler and rate; medians are reported
#   BENCH_HZ [99]    CPU sampling frequency
#   BENCH_KEEP [0]   1 = keep the scratch directory

set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${O:-$ROOT/build}
case $OUT in
/*) ;;
*) OUT=$ROOT/$OUT ;;
esac
EMBERPROF=${EMBERPROF:-$OUT/emberprof}
PPROF=${PPROF:-$OUT/pprof}
RATES=${BENCH_RATES:-20000 100000}
SECS=${BENCH_SECS:-10}
REPS=${BENCH_REPS:-1}
HZ=${BENCH_HZ:-99}
KEEP=${BENCH_KEEP:-0}
TIME_BIN=${TIME_BIN:-/usr/bin/time}

die()
{
	printf 'bench: %s\n' "$*" >&2
	exit 1
}

for v in SECS REPS HZ; do
	case ${!v} in
	'' | *[!0-9]* | 0) die "$v must be a whole number > 0, not '${!v}'" ;;
	esac
done
((SECS >= 5)) || die "BENCH_SECS must be at least 5"
[ "$(id -u)" -eq 0 ] || die "needs root (BPF, kernel.bpf_stats_enabled, tracefs)"
[ -x "$EMBERPROF" ] || die "$EMBERPROF is missing (run make)"
[ -x "$PPROF" ] || die "$PPROF is missing (run make)"
for t in bpftool bpftrace cc "$TIME_BIN"; do
	command -v "$t" >/dev/null || die "needs $t"
done

# shellcheck source=lib.sh
. "$ROOT/bench/lib.sh"
bench_begin offcpu
MOUNTED_TRACEFS=0
on_exit()
{
	((MOUNTED_TRACEFS)) && umount /sys/kernel/tracing 2>/dev/null
	bench_end
}
trap on_exit EXIT

LOAD=$TMP/switches
cc -O2 -g -pthread -o "$LOAD" "$ROOT/bench/switches.c" || die "cannot build bench/switches.c"
if [ ! -e /sys/kernel/tracing/events/sched/sched_switch ]; then
	mount -t tracefs nodev /sys/kernel/tracing || die "cannot mount tracefs for bpftrace"
	MOUNTED_TRACEFS=1
fi

cat >"$TMP/offcputime.bt" <<'BT'
tracepoint:sched:sched_switch
{
	if (args->prev_state & 3) {
		@start[args->prev_pid] = nsecs;
		@ks[args->prev_pid] = kstack;
		@us[args->prev_pid] = ustack;
	}
	$s = @start[args->next_pid];
	if ($s) {
		@ns[@ks[args->next_pid], @us[args->next_pid], args->next_comm] = sum(nsecs - $s);
		delete(@start[args->next_pid]);
	}
}
BT

LOAD_SECS=$((SECS - 3))

# run_one KIND RATE N: one run; appends "KIND RATE cpu% bpf% sw/s blocked_ratio" to $TMP/rows.
run_one()
{
	local kind=$1 rate=$2 n=$3 t=$TMP/$1-$2-$3 cpu bpf sw ratio i

	case $kind in
	none) : >"$t.time" ;;
	cpu) "$TIME_BIN" -f '%U %S' -o "$t.time" "$EMBERPROF" -v -F "$HZ" -d "$SECS" -o "$t.pb.gz" \
		2>"$t.err" & ;;
	offcpu) "$TIME_BIN" -f '%U %S' -o "$t.time" "$EMBERPROF" -v -F "$HZ" -d "$SECS" --off-cpu \
		-o "$t.pb.gz" 2>"$t.err" & ;;
	bpftrace) "$TIME_BIN" -f '%U %S' -o "$t.time" bpftrace -e "$(cat "$TMP/offcputime.bt")
		interval:s:$SECS { exit(); }" >"$t.out" 2>"$t.err" & ;;
	esac
	if [ "$kind" != none ]; then
		AGENT_PID=$!
		# The profiler's own: time's child.
		for ((i = 0; i < 100; i++)); do
			PROF=$(pgrep -P "$AGENT_PID" | head -n 1)
			[ -n "$PROF" ] && break
			sleep 0.05
		done
		progs_time "$PROF" >"$t.bpf" &
		LOAD_PIDS+=($!)
		# Inside the window: after start-up (the agent's sampling line).
		for ((i = 0; i < 100; i++)); do
			{ [ "$kind" = bpftrace ] && grep -q Attaching "$t.out" 2>/dev/null; } && break
			grep -q 'sampling .* Hz' "$t.err" 2>/dev/null && break
			sleep 0.05
		done
		sleep 0.5
	fi
	# The profiler's CPU over the load's run alone (ticks), start-up left out.
	[ "$kind" != none ] && awk '{ print $14 + $15 }' "/proc/$PROF/stat" >"$t.ticks0"
	"$LOAD" "$rate" "$LOAD_SECS" >"$t.load" || die "the load failed"
	[ "$kind" != none ] && awk '{ print $14 + $15 }' "/proc/$PROF/stat" >"$t.ticks1"
	if [ "$kind" != none ]; then
		wait "$AGENT_PID"
		AGENT_PID=
		wait
	fi
	sw=$(awk '{ print $2 }' "$t.load")
	cpu=$(awk -v s="$SECS" 'NF == 2 { printf "%.3f", ($1 + $2) / s * 100 }' "$t.time")
	steady=-
	[ -s "$t.ticks1" ] && steady=$(awk -v hz="$(getconf CLK_TCK)" -v w="$(awk '{ print $10 }' "$t.load")" \
		'NR == FNR { a = $1; next } { printf "%.3f", ($1 - a) / hz / w * 100 }' "$t.ticks0" "$t.ticks1")
	bpf=$(awk -v s="$SECS" 'NF >= 2 { printf "%.3f", $1 / 1e9 / s * 100 }' "$t.bpf" 2>/dev/null)
	ratio=-
	# The load's own blocked time, in seconds, for the totals check.
	local got want
	want=$(awk '{ print $6 }' "$t.load")
	if [ "$kind" = offcpu ]; then
		# The load's blocked time in the profile, by its process name.
		got=$("$PPROF" -raw "$t.pb.gz" 2>/dev/null | awk '
			/^Samples:$/ { s = 1; next } /^Locations$/ { s = 0 }
			s && /^ *[0-9]+ +[0-9]+ +[0-9]+: / { v = $3; sub(/:.*/, "", v); next }
			s && /process:\[switches\]/ { t += v; v = 0 }
			END { printf "%.0f\n", t }')
		ratio=$(awk -v g="$got" -v w="$want" 'BEGIN { printf "%.3f", g / 1e9 / w }')
	elif [ "$kind" = bpftrace ]; then
		# The same check for bpftrace, whose waits are timed the same way
		# (at the tracepoint): its map's entries keyed by the load's name.
		ratio=$(awk -v w="$want" '
			/, switches\]: [0-9]+$/ { sub(/.*: /, ""); g += $0 }
			END { printf "%.3f", g / 1e9 / w }' "$t.out")
	fi
	printf '%s %s %s %s %s %s %s\n' "$kind" "$rate" "${cpu:-0}" "${bpf:-0}" "$sw" "$ratio" "$steady" >>"$TMP/rows"
	printf '%-9s rate %-7s run %d: cpu %6s%% (%s%% while the load ran)  bpf %6s%%  load %7s switches/s  blocked %s  %s\n' \
		"$kind" "$rate" "$n" "${cpu:-0}" "$steady" "${bpf:-0}" "$sw" "$ratio" "$(cut -d' ' -f3- "$t.bpf" 2>/dev/null)"
	[ "$kind" = offcpu ] && grep 'off-CPU:' "$t.err" | sed 's/^/    /'
	sleep 1
}

: >"$TMP/rows"
for rate in $RATES; do
	for ((n = 1; n <= REPS; n++)); do
		for kind in none cpu offcpu bpftrace; do
			run_one "$kind" "$rate" "$n"
		done
	done
done

# Medians per (kind, rate), then the ratios.
echo
echo "medians over $REPS run(s), whole-system, $SECS s each (% of one CPU):"
for rate in $RATES; do
	# runs KIND COLUMN: that column of KIND's runs at this rate, sorted.
	runs()
	{
		awk -v k="$1" -v r="$rate" -v c="$2" '$1 == k && $2 == r { print $c }' "$TMP/rows" | sort -g
	}
	med()
	{
		runs "$@" | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2); else print 0 }'
	}
	# range KIND COLUMN: "min..max" over the runs.
	range()
	{
		runs "$@" | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo ".." hi }'
	}
	n_sw=$(med none 5)
	o_range=$(range offcpu 6)
	c_cpu=$(med cpu 3) c_bpf=$(med cpu 4)
	o_cpu=$(med offcpu 3) o_bpf=$(med offcpu 4) o_sw=$(med offcpu 5) o_ratio=$(med offcpu 6)
	b_cpu=$(med bpftrace 3) b_bpf=$(med bpftrace 4) b_sw=$(med bpftrace 5) b_ratio=$(med bpftrace 6)
	c_st=$(med cpu 7) o_st=$(med offcpu 7) b_st=$(med bpftrace 7)
	awk -v r="$rate" -v nsw="$n_sw" -v cc="$c_cpu" -v cb="$c_bpf" -v oc="$o_cpu" -v ob="$o_bpf" \
		-v osw="$o_sw" -v orat="$o_ratio" -v brat="$b_ratio" -v orng="$o_range" -v bc="$b_cpu" -v bb="$b_bpf" -v bsw="$b_sw" \
		-v cst="$c_st" -v ost="$o_st" -v bst="$b_st" 'BEGIN {
		oct = oc + ob; cct = cc + cb; bt = bc + bb
		printf "rate %s: load alone %d switches/s\n", r, nsw
		printf "  emberprof           cpu %.3f + bpf %.3f = %.3f\n", cc, cb, cct
		printf "  emberprof --off-cpu cpu %.3f + bpf %.3f = %.3f; off-CPU adds %.3f%% of a CPU\n", oc, ob, oct, oct - cct
		printf "  bpftrace offcputime cpu %.3f + bpf %.3f = %.3f\n", bc, bb, bt
		printf "  while the load ran (user+sys, no start-up): emberprof %.3f, --off-cpu %.3f, bpftrace %.3f\n", cst, ost, bst
		printf "  --off-cpu at this rate, steady: user+sys %.3f + its BPF share %.3f = %.3f%% of a CPU\n", ost - cst, ob - cb, ost - cst + ob - cb
		printf "  ratio emberprof --off-cpu / bpftrace: %.3f; (off-CPU part) / bpftrace: %.3f\n", bt ? oct / bt : 0, bt ? (oct - cct) / bt : 0
		printf "  load throughput: %.1f%% with --off-cpu, %.1f%% with bpftrace (of alone)\n", nsw ? 100 * osw / nsw : 0, nsw ? 100 * bsw / nsw : 0
		printf "  blocked time emberprof / the load'"'"'s own: %s (runs %s; bpftrace: %s)\n", orat, orng, brat
	}'
done
