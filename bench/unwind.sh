#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/unwind.sh - what does unwinding user stacks with .eh_frame in BPF cost?
#
# Three measurements, each printed as a table with its ratios:
#
# 1. BPF run time per sample. With kernel.bpf_stats_enabled=1 (the old value
#    is put back at exit) the kernel times every run of a BPF program; the
#    agent's perf_event program, on_sample, is found through the agent's
#    own fds (/proc/PID/fdinfo: prog_id) and read with `bpftool prog show`
#    (run_time_ns, run_cnt) while it runs. For each load the agent runs with
#    -p on the load's pids, frame pointers only (--no-dwarf-unwind) and with
#    DWARF unwinding, on the frame-pointer build and on the -nofp build. The
#    loads occupy every CPU, so nearly every run records a sample; ns/run is
#    the mean per run, ns/sample divides by the samples the agent recorded.
#    Both cover the whole run, start-up included; "steady ns/run" counts only
#    the runs after the first 2 s.
#    The loads: recurse with a ~30-frame stack (leaf_work, BENCH_DEPTH
#    recurse frames, main and libc's start code) and cpusplit (5 frames).
#    Target: DWARF <= 2 us per sample on ~30-frame stacks.
#
# 2. CPU time of the profiler process, user+sys from /usr/bin/time:
#    emberprof -F HZ -d SECS -p PIDS against perf record --call-graph dwarf
#    -F HZ -p PIDS -- sleep SECS plus the perf script that turns its stack
#    copies into stacks, on the -nofp recurse load. emberprof's in-kernel
#    BPF time is charged to the interrupted tasks, not to emberprof, so it
#    is shown and added separately; perf's stack copy happens in the kernel
#    too and is not counted for perf. Target: emberprof <= 1/2 of perf.
#
# 3. Memory, profiling the whole system with -v: the agent's own report
#    ("unwind: N files, ... USED/MAX rows (USED/MAX MiB) ... BPF maps MiB") and the
#    memlock of every BPF map the agent holds, from its fdinfo. Target:
#    the unwind tables of everything running here <= 30 MiB.
#
# Needs root, bpftool, perf (linux-perf), GNU time and `make e2e-build`.
#
# Environment (defaults in brackets):
#   BENCH_HZ [99]       sampling frequency
#   BENCH_SECS [6]      seconds per run of parts 1 and 3
#   BENCH_CPU_SECS [20] seconds per profiler in part 2 (long enough that the
#                       agent's start-up and symbolization do not dominate)
#   BENCH_DEPTH [25]    recursion depth of the recurse load (25 = 30 frames)
#   BENCH_KEEP [0]      1 = keep the scratch directory
#   O [build]           build directory; EMBERPROF [$O/emberprof]
#   TIME_BIN [/usr/bin/time]

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
HZ=${BENCH_HZ:-99}
SECS=${BENCH_SECS:-6}
CPU_SECS=${BENCH_CPU_SECS:-20}
DEPTH=${BENCH_DEPTH:-25}
KEEP=${BENCH_KEEP:-0}
OUT=${O:-build}
case $OUT in
/*) ;;
*) OUT=$ROOT/$OUT ;;
esac
EMBERPROF=${EMBERPROF:-$OUT/emberprof}
WL=$OUT/workloads
TIME_BIN=${TIME_BIN:-/usr/bin/time}
NCPU=$(getconf _NPROCESSORS_ONLN)

die()
{
	printf 'bench: %s\n' "$*" >&2
	exit 1
}

say()
{
	printf 'bench: %s\n' "$*" >&2
}

for v in HZ SECS CPU_SECS DEPTH; do
	case ${!v} in
	'' | *[!0-9]* | 0) die "$v must be a whole number > 0, not '${!v}'" ;;
	esac
done
[ "$(id -u)" -eq 0 ] || die "needs root (BPF, perf events, kernel.bpf_stats_enabled)"
command -v bpftool >/dev/null || die "bpftool not found: apt-get install bpftool"
command -v perf >/dev/null || die "perf not found: apt-get install linux-perf"
"$TIME_BIN" -f '' true 2>/dev/null || die "GNU time not found at $TIME_BIN: apt-get install time"
[ -x "$EMBERPROF" ] || die "$EMBERPROF not found: run 'make e2e-build'"
for w in recurse recurse-nofp cpusplit cpusplit-nofp; do
	[ -x "$WL/$w" ] || die "$WL/$w not found: run 'make e2e-build'"
done

bench_begin unwind

# start_load NAME ARGS...: one copy of $WL/NAME per CPU, pids in LOAD_PIDS.
start_load()
{
	local name=$1 i

	shift
	LOAD_PIDS=()
	for ((i = 0; i < NCPU; i++)); do
		"$WL/$name" "$@" &
		LOAD_PIDS+=("$!")
	done
	sleep 0.3
}

stop_load()
{
	local pid

	for pid in "${LOAD_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	LOAD_PIDS=()
}

pid_list()
{
	local IFS=,

	echo "${LOAD_PIDS[*]}"
}

# stats_guard: kernel.bpf_stats_enabled must stay 1 while a run is timed.
# Another tool (bench/run.sh, for one) may put its own saved value back in
# the middle; then turn it on again and flag the run, whose BPF times miss
# the gap.
stats_guard()
{
	if [ "$(cat /proc/sys/kernel/bpf_stats_enabled)" != 1 ]; then
		echo 1 >/proc/sys/kernel/bpf_stats_enabled
		STATS_GAP=1
	fi
}

# agent_progs PID: the ids of the BPF programs named on_sample that PID holds.
agent_progs()
{
	local id

	{ awk '/^prog_id:/ { print $2 }' "/proc/$1/fdinfo/"* 2>/dev/null || true; } | sort -u |
		while read -r id; do
			{ bpftool prog show id "$id" 2>/dev/null || true; } |
				awk -v id="$id" 'NR == 1 && / name on_sample / { print id }'
		done
}

# agent_memlock PID: the summed memlock of the BPF maps PID holds, in bytes.
agent_memlock()
{
	{ cat "/proc/$1/fdinfo/"* 2>/dev/null || true; } | awk '
		/^map_type:/ { m = 1 }
		/^pos:/ { m = 0 }
		m && /^memlock:/ { s += $2 }
		END { print s + 0 }'
}

# agent_samples ERRFILE: the samples the agent reported at exit (-v or not).
agent_samples()
{
	awk '/ samples on / { for (i = 1; i < NF; i++) if ($(i + 1) == "samples") n = $i } END { print n + 0 }' "$1"
}

# folded_frames FILE: mean frames per sample of a folded file (comm not counted).
folded_frames()
{
	awk '{ n = split($1, f, ";"); s += $NF; fr += $NF * (n - 1) } END { printf "%.1f", s ? fr / s : 0 }' "$1"
}

# per SECONDS SAMPLES: microseconds per sample.
per()
{
	awk -v c="$1" -v n="$2" 'BEGIN { printf "%.1f", n ? 1e6 * c / n : 0 }'
}

# --- 1. BPF run time per sample ------------------------------------------------

BPF_RESULTS=$TMP/bpf
: >"$BPF_RESULTS"

# bpf_run LABEL MODE WORKLOAD ARGS...: MODE is fp, dwarf, or filtered: the
# agent watches only an idle sleep(1) while the load runs, so every run is
# the pid filter saying no, which is what a run costs when it records nothing.
bpf_run()
{
	local label=$1 mode=$2 name=$3 ids="" id t c best_t=0 best_c=0 st samples frames pids
	local t0 warm_t="" warm_c=""
	local -a extra=()

	shift 3
	[ "$mode" = fp ] && extra=(--no-dwarf-unwind)
	start_load "$name" "$@"
	pids=$(pid_list)
	if [ "$mode" = filtered ]; then
		sleep "$((SECS + 30))" &
		LOAD_PIDS+=("$!")
		pids=$!
	fi
	STATS_GAP=0
	stats_guard
	"$EMBERPROF" -F "$HZ" -d "$SECS" -p "$pids" "${extra[@]}" \
		-o "$TMP/bpf.pb.gz" --folded "$TMP/bpf.folded" 2>"$TMP/bpf.err" &
	AGENT_PID=$!
	t0=$(date +%s%N)
	# Poll while it runs: the counters vanish with the program.
	while kill -0 "$AGENT_PID" 2>/dev/null; do
		stats_guard
		[ -n "$ids" ] || ids=$(agent_progs "$AGENT_PID")
		for id in $ids; do
			st=$(prog_stats "$id")
			[ -n "$st" ] || continue
			read -r t c <<<"$st"
			if [ "$c" -gt "$best_c" ]; then
				best_t=$t best_c=$c
			fi
		done
		# The first reading 2 s in: what follows is the steady state.
		if [ -z "$warm_c" ] && [ "$best_c" -gt 0 ] && (($(date +%s%N) - t0 >= 2000000000)); then
			warm_t=$best_t warm_c=$best_c
		fi
		sleep 0.2
	done
	wait "$AGENT_PID" || die "emberprof failed ($label): $(head -n 1 "$TMP/bpf.err")"
	AGENT_PID=
	stop_load
	[ -n "$ids" ] || die "no on_sample program found among emberprof's fds ($label)"
	samples=$(agent_samples "$TMP/bpf.err")
	frames=$(folded_frames "$TMP/bpf.folded")
	[ "$STATS_GAP" = 0 ] || say "warning: kernel.bpf_stats_enabled was turned off during '$label $mode'"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$mode" "$best_t" "$best_c" \
		"$samples" "$frames" "$name" "$STATS_GAP" "$((best_t - ${warm_t:-$best_t}))" \
		"$((best_c - ${warm_c:-$best_c}))" >>"$BPF_RESULTS"
	say "$(printf '%-30s %-5s run_time %12s ns  runs %7s  samples %7s  frames/sample %s' \
		"$label" "$mode" "$best_t" "$best_c" "$samples" "$frames")"
}

say "1/3: BPF run time per sample, ${SECS}s per run at ${HZ} Hz, $NCPU copies of each load"
bpf_run "recurse-nofp depth $DEPTH" filtered recurse-nofp 600 "$DEPTH"
bpf_run "recurse depth $DEPTH (fp build)" fp recurse 600 "$DEPTH"
bpf_run "recurse depth $DEPTH (fp build)" dwarf recurse 600 "$DEPTH"
bpf_run "recurse-nofp depth $DEPTH" fp recurse-nofp 600 "$DEPTH"
bpf_run "recurse-nofp depth $DEPTH" dwarf recurse-nofp 600 "$DEPTH"
bpf_run "cpusplit (fp build)" fp cpusplit 600
bpf_run "cpusplit-nofp" dwarf cpusplit-nofp 600

# --- 2. profiler CPU: emberprof against perf --call-graph dwarf ------------------

# timed NAME CMD...: CMD under GNU time; leaves user+sys seconds in T_CPU.
timed()
{
	local name=$1

	shift
	"$TIME_BIN" -f '%U %S %M' -o "$TMP/$name.time" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" ||
		die "$name failed: $(tail -n 3 "$TMP/$name.err")"
	T_CPU=$(tail -n 1 "$TMP/$name.time" | awk '{ printf "%.3f", $1 + $2 }')
	T_RSS=$(tail -n 1 "$TMP/$name.time" | awk '{ print $3 }')
}

say "2/3: profiler CPU on recurse-nofp depth $DEPTH x $NCPU, ${CPU_SECS}s at ${HZ} Hz"
start_load recurse-nofp 600 "$DEPTH"
ids=
"$TIME_BIN" -f '%U %S %M' -o "$TMP/ember.time" "$EMBERPROF" -F "$HZ" -d "$CPU_SECS" -p "$(pid_list)" \
	-o "$TMP/cpu.pb.gz" >"$TMP/ember.out" 2>"$TMP/ember.err" &
AGENT_PID=$!
sleep 0.5
E_PID=$(pgrep -P "$AGENT_PID" -x emberprof || true)
ember_bpf_ns=0
STATS_GAP=0
while kill -0 "$AGENT_PID" 2>/dev/null; do
	stats_guard
	if [ -n "$E_PID" ] && [ -z "$ids" ]; then
		ids=$(agent_progs "$E_PID")
	fi
	for id in $ids; do
		st=$(prog_stats "$id")
		[ -n "$st" ] && ember_bpf_ns=${st%% *}
	done
	sleep 0.2
done
wait "$AGENT_PID" || die "emberprof failed: $(head -n 1 "$TMP/ember.err")"
AGENT_PID=
E_CPU=$(awk '{ printf "%.3f", $1 + $2 }' "$TMP/ember.time")
E_RSS=$(awk '{ print $3 }' "$TMP/ember.time")
E_SAMPLES=$(agent_samples "$TMP/ember.err")
E_BPF=$(awk -v n="$ember_bpf_ns" 'BEGIN { printf "%.3f", n / 1e9 }')
E_GAP=$STATS_GAP
[ "$E_GAP" = 0 ] || say "warning: kernel.bpf_stats_enabled was turned off during emberprof's CPU run"

timed perf-record perf record -q -e cpu-clock -F "$HZ" --call-graph dwarf -p "$(pid_list)" \
	-o "$TMP/perf.data" -- sleep "$CPU_SECS"
P_REC=$T_CPU P_RSS=$T_RSS
timed perf-script perf script -i "$TMP/perf.data"
P_SCRIPT=$T_CPU
[ "$T_RSS" -gt "$P_RSS" ] && P_RSS=$T_RSS
P_SAMPLES=$(awk '!/^[ \t]/ && / cpu-clock:/ { n++ } END { print n + 0 }' "$TMP/perf-script.out")
P_DATA=$(du -k "$TMP/perf.data" | awk '{ print $1 }')
stop_load
rm -f "$TMP/perf.data" "$TMP/perf-script.out"

# --- 3. memory, whole system ----------------------------------------------------

say "3/3: memory, whole system, ${SECS}s with -v"
"$EMBERPROF" -v -F "$HZ" -d "$SECS" -o "$TMP/all.pb.gz" 2>"$TMP/all.err" &
AGENT_PID=$!
memlock=0
while kill -0 "$AGENT_PID" 2>/dev/null; do
	m=$(agent_memlock "$AGENT_PID")
	[ "$m" -gt "$memlock" ] && memlock=$m
	sleep 0.5
done
wait "$AGENT_PID" || die "emberprof -v (whole system) failed: $(head -n 1 "$TMP/all.err")"
AGENT_PID=
UNWIND_LINE=$(grep -m 1 'unwind:' "$TMP/all.err" | sed 's/^emberprof: //')
[ -n "$UNWIND_LINE" ] || die "no 'unwind:' line in emberprof -v output"
# "unwind: 63 files, 2159 chunks built, 1819367/3145728 rows (13.9/24.0 MiB), ...
#  no room 0, ...; BPF maps 42.6 MiB"
read -r TABLES USED_ROWS MAX_ROWS ROWS_MIB MAPS_MIB LEFT_OUT < <(awk '
function grab(re, strip,    v) {
	if (!match($0, re))
		return "?"
	v = substr($0, RSTART, RLENGTH)
	gsub(strip, "", v)
	return v
}
{
	t = grab("unwind: [0-9]+ files", "[^0-9]")
	r = grab("[0-9]+/[0-9]+ rows", " rows")
	split(r, rr, "/")
	m = grab("rows \\([0-9.]+/[0-9.]+ MiB\\)", "^rows \\([0-9.]+/| MiB\\)")
	b = grab("BPF maps [0-9.]+ MiB", "[^0-9.]")
	l = grab("no room [0-9]+", "[^0-9]")
	print t, rr[1], rr[2], m, b, l
}' <<<"$UNWIND_LINE")
USED_MIB=$(awk -v u="$USED_ROWS" -v n="$MAX_ROWS" -v m="$ROWS_MIB" 'BEGIN { printf "%.1f", n ? u * m / n : 0 }')
NPROC=$(find /proc -maxdepth 1 -name '[0-9]*' | wc -l)

# --- report ---------------------------------------------------------------------

echo
echo "== 1. BPF run time of on_sample (kernel.bpf_stats_enabled)"
echo "   ns/sample = (run time - filtered runs x a filtered run's cost) / samples recorded;"
echo "   runs outnumber samples when other processes share the CPUs (the pid filter drops them);"
echo "   steady ns/run: the runs after the first 2 s, once the agent's start-up (tables"
echo "   loading, first stack and count inserts) is over, as an always-on agent runs"
printf '%-30s %-8s %8s %8s %8s %10s %14s %13s\n' load unwind runs samples ns/run ns/sample frames/sample \
	"steady ns/run"
awk -F '\t' '
	$2 == "filtered" && $4 { base = $3 / $4 }
	{ l[NR] = $0 }
	END {
		for (i = 1; i <= NR; i++) {
			split(l[i], f, "\t")
			per = f[5] ? (f[3] - (f[4] - f[5]) * base) / f[5] : 0
			gap = f[8] ? "  (stats were off for a while: runs incomplete)" : ""
			steady = f[10] ? sprintf("%.0f", f[9] / f[10]) : "-"
			if (f[2] == "filtered")
				printf "%-30s %-8s %8d %8s %8.0f %10s %14s %13s%s\n", f[1], f[2], f[4], "-",
					f[4] ? f[3] / f[4] : 0, "-", "-", steady, gap
			else
				printf "%-30s %-8s %8d %8d %8.0f %10.0f %14s %13s%s\n", f[1], f[2], f[4], f[5],
					f[4] ? f[3] / f[4] : 0, per, f[6], steady, gap
			ns[f[1], f[2]] = per
			st[f[1], f[2]] = steady
		}
		fp = ns["recurse depth '"$DEPTH"' (fp build)", "fp"]
		dw = ns["recurse-nofp depth '"$DEPTH"'", "dwarf"]
		dwf = ns["recurse depth '"$DEPTH"' (fp build)", "dwarf"]
		printf "ratio dwarf (nofp build) / frame pointers (fp build), recurse: %.1fx\n", fp ? dw / fp : 0
		printf "ratio dwarf / frame pointers, both on the fp build, recurse:   %.1fx\n", fp ? dwf / fp : 0
		printf "target: dwarf <= 2000 ns per ~30-frame sample: %s (%.0f ns over the whole run;" \
			" %s ns/run in the steady state)\n", dw <= 2000 ? "met" : "NOT met", dw,
			st["recurse-nofp depth '"$DEPTH"'", "dwarf"]
	}' "$BPF_RESULTS"

echo
echo "== 2. profiler CPU, recurse-nofp depth $DEPTH x $NCPU, ${CPU_SECS}s at ${HZ} Hz"
P_CPU=$(awk -v a="$P_REC" -v b="$P_SCRIPT" 'BEGIN { printf "%.3f", a + b }')
printf '%-44s %9s %9s %12s %10s\n' profiler "cpu s" samples "us/sample" "maxrss KiB"
printf '%-44s %9s %9s %12s %10s\n' "emberprof -p (user+sys)" "$E_CPU" "$E_SAMPLES" \
	"$(per "$E_CPU" "$E_SAMPLES")" "$E_RSS"
printf '%-44s %9s %9s %12s %10s%s\n' "  + its BPF time in the sampled tasks" "$E_BPF" - \
	"$(per "$E_BPF" "$E_SAMPLES")" - "$([ "$E_GAP" = 0 ] || echo '  (stats were off for a while)')"
printf '%-44s %9s %9s %12s %10s\n' "perf record --call-graph dwarf + perf script" \
	"$P_CPU" "$P_SAMPLES" "$(per "$P_CPU" "$P_SAMPLES")" "$P_RSS"
printf '%-44s %9s %9s %12s %10s\n' "  record" "$P_REC" - "$(per "$P_REC" "$P_SAMPLES")" -
printf '%-44s %9s %9s %12s %10s\n' "  script (${P_DATA} KiB of perf.data)" "$P_SCRIPT" - \
	"$(per "$P_SCRIPT" "$P_SAMPLES")" -
awk -v e="$E_CPU" -v b="$E_BPF" -v p="$P_CPU" -v en="$E_SAMPLES" -v pn="$P_SAMPLES" 'BEGIN {
	printf "ratio emberprof / perf: %.2f (with BPF time: %.2f)\n", p ? e / p : 0, p ? (e + b) / p : 0
	if (en && pn && p)
		printf "ratio per sample (with BPF time): %.2f\n", ((e + b) / en) / (p / pn)
	printf "target: emberprof <= 1/2 of perf: %s\n", (p && (e + b) / p <= 0.5) ? "met" : "NOT met"
}'

echo
echo "== 3. memory, whole system ($NPROC processes running)"
echo "$UNWIND_LINE"
printf '%-44s %10s\n' "files with unwind tables" "$TABLES"
printf '%-44s %10s\n' "unwind rows used / allocated" "$USED_ROWS / $MAX_ROWS"
printf '%-44s %10s\n' "row memory used (MiB)" "$USED_MIB"
printf '%-44s %10s\n' "row memory allocated (MiB)" "$ROWS_MIB"
printf '%-44s %10s\n' "chunk builds refused (rows full)" "$LEFT_OUT"
printf '%-44s %10s\n' "all BPF maps, agent's report (MiB)" "$MAPS_MIB"
printf '%-44s %10s\n' "all BPF maps, memlock from fdinfo (MiB)" \
	"$(awk -v m="$memlock" 'BEGIN { printf "%.1f", m / 1048576 }')"
awk -v u="$USED_MIB" -v a="$ROWS_MIB" 'BEGIN {
	printf "ratio used / allocated rows: %.2f\n", a ? u / a : 0
	printf "target: tables <= 30 MiB for everything running: %s (allocated %.1f MiB, used %.1f MiB)\n",
		a <= 30 ? "met" : "NOT met", a, u
}'
