#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Runs every fuzz target in $O/fuzz for FUZZ_SECONDS each, FUZZ_JOBS at a
# time (default: the number of CPUs; each target is single-threaded),
# starting from the committed seeds in tests/fuzz/corpus/NAME plus, for the
# targets that read ELF files, real binaries of this build. Prints
# "ok NAME: N executions" or "not ok NAME: why" per target, in name order.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
O=${O:-build}
[[ $O = /* ]] || O=$ROOT/$O
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_JOBS=${FUZZ_JOBS:-$(nproc)}

# fuzz_one BIN: runs one target, leaves its verdict in $O/fuzz/NAME.verdict.
fuzz_one()
{
	local bin=$1 name corpus log seeds=() execs f

	name=$(basename "$bin")
	corpus=$O/fuzz/corpus-$name
	log=$O/fuzz/$name.log
	mkdir -p "$corpus"
	case $name in
	fuzz_elf | fuzz_dwarf | fuzz_unwind)
		# Small real ELF files as seeds: the workloads of this build.
		for f in "$O"/workloads/*; do
			[[ -f $f ]] && cp -f "$f" "$corpus/seed-$(basename "$f")"
		done
		;;
	esac
	[[ -d $ROOT/tests/fuzz/corpus/$name ]] && seeds=("$ROOT/tests/fuzz/corpus/$name")
	# Whole malloc stacks, so the suppressions can match frames inside libdw.
	if ASAN_OPTIONS=fast_unwind_on_malloc=0 LSAN_OPTIONS=suppressions=$ROOT/tests/fuzz/lsan.supp "$bin" \
		-max_total_time="$FUZZ_SECONDS" -max_len=65536 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$O/fuzz/" "$corpus" "${seeds[@]}" \
		>"$log" 2>&1; then
		execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
		echo "ok $name: ${execs:-?} executions in ${FUZZ_SECONDS}s, no crash"
	else
		echo "not ok $name: $(grep -m1 -E 'ERROR|SUMMARY' "$log") (log $log)"
	fi >"$O/fuzz/$name.verdict"
}

bins=()
for bin in "$O"/fuzz/fuzz_*; do
	[[ -x $bin && ! -d $bin ]] && bins+=("$bin")
done
running=0
for bin in "${bins[@]}"; do
	fuzz_one "$bin" &
	running=$((running + 1))
	if ((running >= FUZZ_JOBS)); then
		wait -n
		running=$((running - 1))
	fi
done
wait
for bin in "${bins[@]}"; do
	cat "$O/fuzz/$(basename "$bin").verdict"
done
