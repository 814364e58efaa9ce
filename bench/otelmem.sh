#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/otelmem.sh - what does memory profiling cost: the sampler in the
# program, and the agent that reads it?
#
# 1. The sampler. The load is bench/mallocpairs.c: one thread, malloc/free
#    pairs of 16 to 527 bytes on glibc's tcache path, BENCH_PAIRS of them
#    timed by the program itself. Four ways, interleaved BENCH_REPS times
#    (this host drifts from minute to minute, so every round has all four):
#      plain    no preload: glibc alone, the reference
#      idle     LD_PRELOAD=libotelmem.so, no tracer: the semaphores are 0
#      counting the preload with the semaphores raised by the program
#               itself, as an attached tracer raises them: bytes are counted
#               down and about one allocation per 512 KiB is sampled, but the
#               probes are no-ops, as there is no tracer behind them
#      traced   the preload with bpftrace attached to both probes (counting
#               them): the sampled allocations and their frees trap
#    The table gives each way's median ns per pair and what it adds to
#    plain. Target: idle and counting add <= 15 ns a pair.
# 2. The agent. tests/workloads/memsplit under the preload allocates
#    BENCH_RATE MiB a second for BENCH_LOAD_SECS s (blocks of 16 B to 1 MiB)
#    while emberprof -F 19 profiles the whole system for BENCH_AGENT_SECS s,
#    once without --alloc (the reference) and once with --inuse, BENCH_REPS
#    times each, interleaved, with kernel.bpf_stats_enabled=1 (put back at
#    exit). From the agent's programs (bpftool): on_alloc's and on_free's
#    runs and ns per run, and their time as % of one CPU over the load; from
#    the agent's threads' /proc/PID/task/TID/schedstat (nanoseconds on a
#    CPU): the agent's CPU while the load runs (from 2.5 s into it, past
#    the one-time attachment), with and without, and the difference as % of
#    one CPU. Target: the agent's added CPU <= 0.2% of
#    one CPU.
#
# Needs root (bpftrace, BPF), bpftrace, bpftool, GNU time, cc and
# `make O=build build/emberprof build/sdk/libotelmem.so build/workloads/memsplit`.
# Environment (defaults in brackets):
#   BENCH_PAIRS [30000000]     pairs timed per run (part 1)
#   BENCH_REPS [5]             rounds; medians are reported
#   BENCH_RATE [100]           MiB allocated a second (part 2)
#   BENCH_LOAD_SECS [8]        seconds the load allocates (part 2)
#   BENCH_AGENT_SECS [12]      seconds the agent runs (part 2)
#   BENCH_PARTS ["1 2"]        which parts to run
#   O [build]
set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
O=${O:-$ROOT/build}
PAIRS=${BENCH_PAIRS:-30000000}
REPS=${BENCH_REPS:-5}
RATE=${BENCH_RATE:-100}
LOAD_SECS=${BENCH_LOAD_SECS:-8}
AGENT_SECS=${BENCH_AGENT_SECS:-12}
PARTS=${BENCH_PARTS:-1 2}
LIB=$(readlink -f "$O/sdk/libotelmem.so")
EMBERPROF=${EMBERPROF:-$O/emberprof}
TIME_BIN=${TIME_BIN:-/usr/bin/time}

die()
{
	printf 'bench: %s\n' "$*" >&2
	exit 1
}

for v in PAIRS REPS RATE LOAD_SECS AGENT_SECS; do
	case ${!v} in
	'' | *[!0-9]* | 0) die "BENCH_$v must be a whole number > 0, not '${!v}'" ;;
	esac
done
[ "$(id -u)" -eq 0 ] || die "needs root (bpftrace attaches the probes)"
[ -f "$LIB" ] || die "$O/sdk/libotelmem.so is missing (run make O=$O $O/sdk/libotelmem.so)"
[ -x "$EMBERPROF" ] || die "$EMBERPROF is missing (run make)"
[ -x "$O/workloads/memsplit" ] || die "$O/workloads/memsplit is missing (run make e2e-build)"
((AGENT_SECS >= LOAD_SECS + 4)) || die "BENCH_AGENT_SECS must be at least BENCH_LOAD_SECS + 4"
for t in bpftrace bpftool cc "$TIME_BIN"; do
	command -v "$t" >/dev/null || die "needs $t"
done

# shellcheck source=lib.sh
. "$ROOT/bench/lib.sh"
bench_begin otelmem
LOAD=$TMP/mallocpairs
cc -O2 -g -o "$LOAD" "$ROOT/bench/mallocpairs.c" || die "cannot build bench/mallocpairs.c"

# run_one WAY: one run's ns/pair.
run_one()
{
	local bt

	case $1 in
	plain) "$LOAD" "$PAIRS" 0 ;;
	idle) LD_PRELOAD=$LIB "$LOAD" "$PAIRS" 0 ;;
	counting) LD_PRELOAD=$LIB "$LOAD" "$PAIRS" 1 ;;
	traced)
		LD_PRELOAD=$LIB "$LOAD" "$PAIRS" 2 >"$TMP/traced.out" &
		local load=$!
		bpftrace -p "$load" -e "usdt:$LIB:otel_memory:alloc { @a = count(); }
			usdt:$LIB:otel_memory:free { @f = count(); }" >"$TMP/bt.out" 2>&1 &
		bt=$!
		wait "$load"
		wait "$bt"
		cat "$TMP/traced.out"
		;;
	esac | awk '/^ns\/pair/ { print $2 }'
}

median()
{
	awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }' "$1"
}

part1()
{
	WAYS="plain idle counting traced"
	for ((r = 1; r <= REPS; r++)); do
		for w in $WAYS; do
			v=$(run_one "$w")
			[ -n "$v" ] || die "the $w run gave no figure"
			echo "$w $v" >>"$TMP/rows"
		done
	done

	printf '# libotelmem: %s malloc/free pairs a run, %s rounds, medians\n' "$PAIRS" "$REPS"
	printf '%-10s %10s %10s   %s\n' way ns/pair added runs
	for w in $WAYS; do
		awk -v w="$w" '$1 == w { print $2 }' "$TMP/rows" | sort -g >"$TMP/$w.sorted"
	done
	base=$(median "$TMP/plain.sorted")
	for w in $WAYS; do
		m=$(median "$TMP/$w.sorted")
		printf '%-10s %10.2f %+10.2f   %s\n' "$w" "$m" "$(awk -v a="$m" -v b="$base" 'BEGIN { print a - b }')" \
			"$(tr '\n' ' ' <"$TMP/$w.sorted")"
	done
	for w in idle counting; do
		awk -v a="$(median "$TMP/$w.sorted")" -v b="$base" -v w="$w" \
			'BEGIN { d = a - b; printf "# %s adds %.2f ns a pair: %s (target <= 15)\n", w, d, d <= 15 ? "met" : "NOT met" }'
	done
}

# cpu_ns PID: nanoseconds PID's threads have been on a CPU (schedstat), summed.
cpu_ns()
{
	cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ n += $1 } END { printf "%d\n", n }'
}

# agent_run WAY N: one part-2 run, "WAY cpu% alloc_ns alloc_runs free_ns free_runs bytes",
# cpu% the agent's CPU while the load ran, in % of one CPU.
agent_run()
{
	local way=$1 t=$TMP/agent-$1-$2 flags=() i prof bpf ms c0 c1 w0 w1

	[ "$way" = alloc ] && flags=(--inuse --heap-output "$t.heap.pb.gz")
	"$TIME_BIN" -f '%U %S' -o "$t.time" "$EMBERPROF" -F 19 -d "$AGENT_SECS" -o "$t.pb.gz" \
		"${flags[@]}" 2>"$t.err" &
	AGENT_PID=$!
	for ((i = 0; i < 100; i++)); do
		prof=$(pgrep -P "$AGENT_PID" | head -n 1)
		[ -n "$prof" ] && break
		sleep 0.05
	done
	progs_time "$prof" >"$t.bpf" &
	LOAD_PIDS+=($!)
	sleep 1.5
	LD_PRELOAD=$LIB "$O/workloads/memsplit" "$LOAD_SECS" 2 "$RATE" >"$t.ms" &
	LOAD_PID=$!
	# From 2.5 s in: the attachment is made (and the reference's 2 s wait is over).
	sleep 2.5
	c0=$(cpu_ns "$prof")
	w0=$(date +%s%N)
	wait "$LOAD_PID"
	LOAD_PID=
	c1=$(cpu_ns "$prof")
	w1=$(date +%s%N)
	wait "$AGENT_PID"
	AGENT_PID=
	wait "${LOAD_PIDS[-1]}"
	bpf=$(cat "$t.bpf")
	ms=$(sed -En 's/^memsplit: allocated ([0-9]+) ([0-9]+) ([0-9]+) bytes.*/\1 \2 \3/p' "$t.ms")
	echo "$way $(awk -v c="$((c1 - c0))" -v w="$((w1 - w0))" 'BEGIN { print c / w * 100 }') $(echo " $bpf" | awk '{
		for (i = 3; i <= NF; i++) {
			split($i, kv, "="); split(kv[2], tc, "/")
			if (kv[1] == "on_alloc") { at = tc[1]; ac = tc[2] }
			if (kv[1] == "on_free") { ft = tc[1]; fc = tc[2] }
		}
		print at + 0, ac + 0, ft + 0, fc + 0 }') $(echo "$ms" | awk '{ print $1 + $2 + $3 }')"
}

part2()
{
	local r w

	for ((r = 1; r <= REPS; r++)); do
		for w in cpu alloc; do
			agent_run "$w" "$r" >>"$TMP/agent.rows"
		done
	done
	printf '\n# the agent: memsplit at %s MiB/s for %s s, emberprof -F 19 for %s s, %s runs each, medians\n' \
		"$RATE" "$LOAD_SECS" "$AGENT_SECS" "$REPS"
	awk '$1 == "cpu" { print $2 }' "$TMP/agent.rows" | sort -g >"$TMP/cpu.s"
	awk '$1 == "alloc" { print $2 }' "$TMP/agent.rows" | sort -g >"$TMP/alloc.s"
	awk '$1 == "alloc" && $4 { print $3 / $4 }' "$TMP/agent.rows" | sort -g >"$TMP/ans"
	awk '$1 == "alloc" && $6 { print $5 / $6 }' "$TMP/agent.rows" | sort -g >"$TMP/fns"
	awk '$1 == "alloc" { print ($3 + $5) / 1e9 / L * 100 }' L="$LOAD_SECS" "$TMP/agent.rows" |
		sort -g >"$TMP/bpfpct"
	awk '$1 == "alloc" { print $4 / L }' L="$LOAD_SECS" "$TMP/agent.rows" | sort -g >"$TMP/aps"
	awk '$1 == "alloc" { print $7 / L / 1048576 }' L="$LOAD_SECS" "$TMP/agent.rows" |
		sort -g >"$TMP/mibs"
	printf '%-44s %s\n' "allocated (MiB/s)" "$(median "$TMP/mibs")" \
		"sampled allocations a second" "$(median "$TMP/aps")" \
		"on_alloc ns per run" "$(median "$TMP/ans")" \
		"on_free ns per run" "$(median "$TMP/fns")" \
		"their BPF time, % of one CPU" "$(median "$TMP/bpfpct")" \
		"agent CPU, % of one CPU, without --alloc" "$(median "$TMP/cpu.s")" \
		"agent CPU, % of one CPU, with --inuse" "$(median "$TMP/alloc.s")"
	awk -v a="$(median "$TMP/alloc.s")" -v c="$(median "$TMP/cpu.s")" 'BEGIN {
		d = a - c
		printf "# --inuse adds %.3f%% of one CPU to the agent: %s (target <= 0.2%%)\n", d,
			d <= 0.2 ? "met" : "NOT met" }'
	printf '# runs: %s\n' "$(tr '\n' ';' <"$TMP/agent.rows")"
}

for p in $PARTS; do
	case $p in
	1) part1 ;;
	2) part2 ;;
	*) die "BENCH_PARTS: no part '$p'" ;;
	esac
done
