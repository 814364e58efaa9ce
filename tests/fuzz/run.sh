#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Runs every fuzz target in $O/fuzz for FUZZ_SECONDS each, starting from the
# committed seeds in tests/fuzz/corpus/NAME plus, for the ELF target, real
# binaries of this build. Prints "ok NAME: N executions" or "not ok NAME: why"
# per target.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
O=${O:-build}
[[ $O = /* ]] || O=$ROOT/$O
FUZZ_SECONDS=${FUZZ_SECONDS:-60}

for bin in "$O"/fuzz/fuzz_*; do
	[[ -x $bin ]] || continue
	name=$(basename "$bin")
	corpus=$O/fuzz/corpus-$name
	mkdir -p "$corpus"
	if [[ $name == fuzz_elf || $name == fuzz_dwarf || $name == fuzz_unwind ]]; then
		# Small real ELF files as seeds: the workloads and an unstripped test.
		for f in "$O"/workloads/*; do
			[[ -f $f ]] && cp -f "$f" "$corpus/seed-$(basename "$f")"
		done
	fi
	seeds=()
	[[ -d $ROOT/tests/fuzz/corpus/$name ]] && seeds=("$ROOT/tests/fuzz/corpus/$name")
	log=$O/fuzz/$name.log
	if LSAN_OPTIONS=suppressions=$ROOT/tests/fuzz/lsan.supp "$bin" -max_total_time="$FUZZ_SECONDS" -max_len=65536 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$O/fuzz/" "$corpus" "${seeds[@]}" >"$log" 2>&1; then
		execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
		echo "ok $name: ${execs:-?} executions in ${FUZZ_SECONDS}s, no crash"
	else
		echo "not ok $name: $(grep -m1 -E 'ERROR|SUMMARY' "$log") (log $log)"
	fi
done
