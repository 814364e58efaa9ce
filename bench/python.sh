#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/python.sh - what do Python frames cost?
#
# The load is bench/py_deep.py on Debian's /usr/bin/python3.11: some 30
# Python frames over some 60 native ones at every sample (the figures below
# print the means measured). Two measurements, in one run:
#
# 1. BPF time per sample, with kernel.bpf_stats_enabled=1 (the old value is
#    put back at exit), as bench/trace.sh measures it: the agent profiles
#    the load with -p for BENCH_SECS at BENCH_HZ, with Python frames (the
#    default) and with --no-python, BENCH_REPS times each, and a `sleep`
#    load times a filtered run alone, so that
#      ns/sample = (run_time_ns - (runs - samples) x filtered ns/run) / samples
#    The table gives every run, the means, and their difference: the cost of
#    finding the thread state, walking the Python frames and merging them.
# 2. CPU against perf: the agent (-p, Python frames on) and
#    `perf record -e cpu-clock --call-graph dwarf -p PID` + `perf script`
#    (its post-processing counts toward perf's cost), each under
#    /usr/bin/time on the same load for the same time; their CPU seconds
#    (user + sys) and the ratio.
#
# Needs root, bpftool, perf (linux-perf), GNU time, python3.11 and `make`.
#
# Environment (defaults in brackets):
#   BENCH_HZ [499]   sampling frequency
#   BENCH_SECS [5]   seconds per run
#   BENCH_REPS [3]   runs per load
#   BENCH_KEEP [0]   1 = keep the scratch directory

set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${O:-$ROOT/build}
case $OUT in
/*) ;;
*) OUT=$ROOT/$OUT ;;
esac
EMBERPROF=${EMBERPROF:-$OUT/emberprof}
PY=/usr/bin/python3.11
LOAD=$ROOT/bench/py_deep.py
HZ=${BENCH_HZ:-499}
SECS=${BENCH_SECS:-5}
REPS=${BENCH_REPS:-3}
KEEP=${BENCH_KEEP:-0}
TIME_BIN=${TIME_BIN:-/usr/bin/time}

die()
{
	printf 'bench: %s\n' "$*" >&2
	exit 1
}

for v in HZ SECS REPS; do
	case ${!v} in
	'' | *[!0-9]* | 0) die "$v must be a whole number > 0, not '${!v}'" ;;
	esac
done
[ "$(id -u)" -eq 0 ] || die "needs root (BPF, perf events, kernel.bpf_stats_enabled)"
command -v bpftool >/dev/null || die "bpftool not found: apt-get install bpftool"
command -v perf >/dev/null || die "perf not found: apt-get install linux-perf"
[ -x "$TIME_BIN" ] || die "$TIME_BIN not found: apt-get install time"
[ -x "$PY" ] || die "$PY not found: apt-get install python3.11"
[ -x "$EMBERPROF" ] || die "$EMBERPROF not found: run 'make'"

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

bench_begin python

# start_load KIND: the Python load (py) or a sleep (filtered runs only), in LOAD_PID.
start_load()
{
	if [ "$1" = sleep ]; then
		sleep $((SECS + 10)) &
	else
		"$PY" "$LOAD" $((SECS + 10)) &
	fi
	LOAD_PID=$!
	sleep 1 # past the interpreter's start-up, into the recursion
}

stop_load()
{
	kill "$LOAD_PID" 2>/dev/null
	wait "$LOAD_PID" 2>/dev/null
	LOAD_PID=
}

# measure NAME KIND REP ARGS...: one agent run on a new load; appends
# "NAME REP run_time_ns runs samples" to results.
measure()
{
	local name=$1 kind=$2 rep=$3 last samples

	shift 3
	start_load "$kind"
	"$EMBERPROF" -v "$@" -F "$HZ" -d "$SECS" -p "$LOAD_PID" -o "$TMP/$name.$rep.pb.gz" \
		--folded "$TMP/$name.$rep.folded" 2>"$TMP/$name.$rep.err" &
	AGENT_PID=$!
	last=$(agent_prog_stats "$AGENT_PID")
	wait "$AGENT_PID" || die "emberprof on $name exited $?: $(head -n 1 "$TMP/$name.$rep.err")"
	AGENT_PID=
	stop_load
	[ -n "$last" ] || die "no on_sample statistics for the run on $name (program not found)"
	samples=$(awk '/ samples on / { for (i = 1; i < NF; i++) if ($(i + 1) == "samples") n = $i }
		END { print n + 0 }' "$TMP/$name.$rep.err")
	echo "$name $rep $last $samples" >>"$TMP/results"
}

for ((r = 1; r <= REPS; r++)); do
	measure sleep sleep "$r"
	measure python py "$r"
	measure native py "$r" --no-python
done

# The stack measured: Python frames per sample from the agent's counters,
# native user frames per sample from the --no-python folded stacks.
pyframes=$(cat "$TMP"/python.*.err | awk '/python: / {
	for (i = 1; i < NF; i++) { if ($(i + 1) == "samples" && $(i + 2) == "with") s += $i
		if ($(i + 1) == "frames;") f += $i } } END { printf "%.1f", s ? f / s : 0 }')
native=$(cat "$TMP"/native.*.folded | awk '{ n = split($1, fr, ";"); u = 0
	for (i = 2; i <= n; i++) if (fr[i] !~ /_\[k\]$/) u++
	s += u * $NF; c += $NF } END { printf "%.1f", c ? s / c : 0 }')

echo "== BPF time of on_sample, ${SECS}s at ${HZ} Hz, -p, $PY $(basename "$LOAD")" \
	"($pyframes Python frames over $native native user frames a sample)"
printf '%-22s %4s %14s %8s %8s %8s %10s\n' load run run_time_ns runs samples ns/run ns/sample
awk '
	{ l[NR] = $0; t[$1] += $3; n[$1] += $4; m[$1] += $5 }
	END {
		f = n["sleep"] ? t["sleep"] / n["sleep"] : 0
		for (i = 1; i <= NR; i++) {
			split(l[i], v, " ")
			name = v[1] (v[1] == "python" ? " (frames on)" : v[1] == "native" ? " (--no-python)" : " (filtered)")
			per = v[5] ? (v[3] - (v[4] - v[5]) * f) / v[5] : 0
			printf "%-22s %4d %14d %8d %8d %8.0f %10s\n", name, v[2], v[3], v[4], v[5],
				v[4] ? v[3] / v[4] : 0, v[5] ? sprintf("%.0f", per) : "-"
		}
		for (k in t)
			ps[k] = m[k] ? (t[k] - (n[k] - m[k]) * f) / m[k] : 0
		printf "filtered run (another process):   %8.0f ns/run\n", f
		printf "mean with Python frames:          %8.0f ns/sample\n", ps["python"]
		printf "mean with --no-python:            %8.0f ns/sample\n", ps["native"]
		printf "difference (the Python frames):   %+8.0f ns/sample", ps["python"] - ps["native"]
		printf " (ratio %.2fx; target: difference <= 3000 ns)\n", ps["native"] ? ps["python"] / ps["native"] : 0
	}' "$TMP/results"

# --- 2. CPU against perf record --call-graph dwarf + perf script -------------
# cpu_of FILE: user + sys seconds from GNU time's -f '%U %S' line (the last line).
cpu_of()
{
	tail -n 1 "$1" | awk '{ printf "%.2f", $1 + $2 }'
}

for ((r = 1; r <= REPS; r++)); do
	start_load py
	"$TIME_BIN" -f '%U %S' -o "$TMP/ember.$r.time" "$EMBERPROF" -F "$HZ" -d "$SECS" \
		-p "$LOAD_PID" -o "$TMP/cpu.$r.pb.gz" 2>"$TMP/cpu.$r.err" ||
		die "emberprof exited $?: $(head -n 1 "$TMP/cpu.$r.err")"
	"$TIME_BIN" -f '%U %S' -o "$TMP/perf-record.$r.time" perf record -q -e cpu-clock -F "$HZ" \
		--call-graph dwarf -p "$LOAD_PID" -o "$TMP/perf.$r.data" -- sleep "$SECS" \
		2>"$TMP/perf.$r.err" || die "perf record exited $?: $(head -n 1 "$TMP/perf.$r.err")"
	"$TIME_BIN" -f '%U %S' -o "$TMP/perf-script.$r.time" perf script -i "$TMP/perf.$r.data" \
		>/dev/null 2>&1 || die "perf script failed"
	stop_load
	echo "$r $(cpu_of "$TMP/ember.$r.time") $(cpu_of "$TMP/perf-record.$r.time")" \
		"$(cpu_of "$TMP/perf-script.$r.time")" >>"$TMP/cpu"
done
echo "== CPU seconds (user + sys), ${SECS}s at ${HZ} Hz, -p, the same load"
printf '%4s %10s %12s %12s %10s %8s\n' run emberprof perf_record perf_script perf_all ratio
awk '{ p = $3 + $4; printf "%4d %10.2f %12.2f %12.2f %10.2f %8.3f\n", $1, $2, $3, $4, p, p ? $2 / p : 0
	e += $2; a += p } END { printf "mean emberprof / (perf record + perf script): %.3f (target <= 0.5)\n", a ? e / a : 0 }' "$TMP/cpu"
