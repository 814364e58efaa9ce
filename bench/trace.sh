#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/trace.sh - what does reading the OTel thread context cost per sample?
#
# On every sample of a process that publishes a thread context, on_sample
# reads the thread's otel_thread_ctx_v1 pointer, the 28-byte record it
# points to and the record's attributes, and stores the link. This bench
# times that with the kernel's own BPF statistics: with
# kernel.bpf_stats_enabled=1 (the old value is put back at exit), the agent
# profiles, with -p, for the same time at the same frequency:
#   - spans-le: two threads, two thirds of their samples inside a span
#     (context present: pointer, record and attributes read), and
#   - cpusplit: two threads, no context (the program finds no TLS entry
#     for the process and reads nothing).
# While the agent runs, its on_sample program is found through the agent's
# fds (/proc/PID/fdinfo: prog_id) and `bpftool prog show id N` gives
# run_time_ns and run_cnt; the last reading before the agent exits counts.
# Each load runs BENCH_REPS times. The program also runs, briefly, for
# every sample of every other process (the pid filter drops it), and how
# many those are depends on what else the machine does; so a third load,
# `sleep` (profiled, never on a CPU), times a filtered run alone, and
#   ns/sample = (run_time_ns - (runs - samples) x filtered ns/run) / samples
# with samples the count the agent reports at exit. The table shows every
# run, then the mean ns/sample of each load, the difference (the cost of
# the context) and the ratio. The unwinding both loads need is similar:
# shallow C stacks with frame pointers and .eh_frame.
#
# Needs root, bpftool and `make e2e-build`.
#
# Environment (defaults in brackets):
#   BENCH_HZ [499]   sampling frequency
#   BENCH_SECS [5]   seconds per run
#   BENCH_REPS [2]   runs per load
#   BENCH_KEEP [0]   1 = keep the scratch directory

set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${O:-$ROOT/build}
EMBERPROF=${EMBERPROF:-$OUT/emberprof}
WL=$OUT/workloads
HZ=${BENCH_HZ:-499}
SECS=${BENCH_SECS:-5}
REPS=${BENCH_REPS:-2}
KEEP=${BENCH_KEEP:-0}

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
[ -x "$EMBERPROF" ] || die "$EMBERPROF not found: run 'make'"
for w in spans-le cpusplit; do
	[ -x "$WL/$w" ] || die "$WL/$w not found: run 'make e2e-build'"
done

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

bench_begin trace

# measure LOAD REP: profile $WL/LOAD (or sleep); appends "LOAD REP ns runs samples" to results.
measure()
{
	local load=$1 rep=$2 last samples

	if [ "$load" = sleep ]; then
		sleep $((SECS + 8)) &
	else
		"$WL/$load" $((SECS + 8)) &
	fi
	LOAD_PID=$!
	sleep 0.5
	"$EMBERPROF" -F "$HZ" -d "$SECS" -p "$LOAD_PID" -o "$TMP/$load.$rep.pb.gz" \
		2>"$TMP/$load.$rep.err" &
	AGENT_PID=$!
	last=$(agent_prog_stats "$AGENT_PID")
	wait "$AGENT_PID" || die "emberprof on $load exited $?: $(head -n 1 "$TMP/$load.$rep.err")"
	AGENT_PID=
	kill "$LOAD_PID" 2>/dev/null
	wait "$LOAD_PID" 2>/dev/null
	LOAD_PID=
	[ -n "$last" ] || die "no on_sample statistics for the run on $load (program not found)"
	samples=$(awk '/ samples on / { for (i = 1; i < NF; i++) if ($(i + 1) == "samples") n = $i }
		END { print n + 0 }' "$TMP/$load.$rep.err")
	echo "$load $rep $last $samples" >>"$TMP/results"
}

for ((r = 1; r <= REPS; r++)); do
	measure sleep "$r"
	measure spans-le "$r"
	measure cpusplit "$r"
done

echo "== BPF time of on_sample, ${SECS}s at ${HZ} Hz, -p (kernel.bpf_stats_enabled)"
printf '%-22s %4s %14s %8s %8s %8s %10s\n' load run run_time_ns runs samples ns/run ns/sample
awk '
	{ l[NR] = $0; t[$1] += $3; n[$1] += $4; m[$1] += $5 }
	END {
		# A filtered run: sleep never runs, so its runs are all other processes.
		f = n["sleep"] ? t["sleep"] / n["sleep"] : 0
		for (i = 1; i <= NR; i++) {
			split(l[i], v, " ")
			name = v[1] (v[1] == "spans-le" ? " (context)" : v[1] == "cpusplit" ? " (none)" : " (filtered)")
			per = v[5] ? (v[3] - (v[4] - v[5]) * f) / v[5] : 0
			printf "%-22s %4d %14d %8d %8d %8.0f %10s\n", name, v[2], v[3], v[4], v[5],
				v[4] ? v[3] / v[4] : 0, v[5] ? sprintf("%.0f", per) : "-"
		}
		for (k in t)
			ps[k] = m[k] ? (t[k] - (n[k] - m[k]) * f) / m[k] : 0
		printf "filtered run (another process): %8.0f ns/run\n", f
		printf "mean with a context (spans-le):    %8.0f ns/sample\n", ps["spans-le"]
		printf "mean without a context (cpusplit): %8.0f ns/sample\n", ps["cpusplit"]
		printf "difference (reading the context):  %+8.0f ns/sample", ps["spans-le"] - ps["cpusplit"]
		printf " (ratio %.2fx)\n", ps["cpusplit"] ? ps["spans-le"] / ps["cpusplit"] : 0
	}' "$TMP/results"
