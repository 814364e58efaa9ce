#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/otelmem.sh - what does libotelmem.so add to a malloc/free pair?
#
# The load is bench/mallocpairs.c: one thread, malloc/free pairs of 16 to
# 527 bytes on glibc's tcache path, BENCH_PAIRS of them timed by the
# program itself. Four ways, interleaved BENCH_REPS times (this host drifts
# from minute to minute, so every round has all four):
#   plain    no preload: glibc alone, the reference
#   idle     LD_PRELOAD=libotelmem.so, no tracer: the semaphores are 0
#   counting the preload with the semaphores raised by the program itself,
#            as an attached tracer raises them: bytes are counted down and
#            about one allocation per 512 KiB is sampled, but the probes
#            are no-ops, as there is no tracer behind them
#   traced   the preload with bpftrace attached to both probes (counting
#            them): the sampled allocations and their frees trap
# The table gives each way's median ns per pair and what it adds to plain.
# Target: idle and counting add <= 15 ns a pair.
#
# Needs root (for bpftrace), bpftrace, cc and `make O=build build/sdk/libotelmem.so`.
# Environment (defaults in brackets):
#   BENCH_PAIRS [30000000]  pairs timed per run
#   BENCH_REPS [5]          rounds; medians are reported
#   O [build]
set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
O=${O:-$ROOT/build}
PAIRS=${BENCH_PAIRS:-30000000}
REPS=${BENCH_REPS:-5}
LIB=$(readlink -f "$O/sdk/libotelmem.so")

die()
{
	printf 'bench: %s\n' "$*" >&2
	exit 1
}

for v in PAIRS REPS; do
	case ${!v} in
	'' | *[!0-9]* | 0) die "BENCH_$v must be a whole number > 0, not '${!v}'" ;;
	esac
done
[ "$(id -u)" -eq 0 ] || die "needs root (bpftrace attaches the probes)"
[ -f "$LIB" ] || die "$O/sdk/libotelmem.so is missing (run make O=$O $O/sdk/libotelmem.so)"
for t in bpftrace cc; do
	command -v "$t" >/dev/null || die "needs $t"
done

TMP=$(mktemp -d /tmp/emberprof-bench-otelmem.XXXXXX) || die "cannot make a scratch directory"
trap 'rm -rf "$TMP"' EXIT
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
median()
{
	awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }' "$1"
}
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
