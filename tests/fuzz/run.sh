#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Runs every fuzz target (one per tests/fuzz/fuzz_*.c) for FUZZ_SECONDS
# each, FUZZ_JOBS at a time (default: the number of CPUs; each target is
# single-threaded), starting from the committed seeds in
# tests/fuzz/corpus/NAME plus, for the targets that read ELF files, real
# binaries of this build. Prints "ok NAME: ..." or "not ok NAME: why" per
# target, in name order. A target fails when it crashes, when any sanitizer
# reports anything (the targets are built with -fno-sanitize-recover, and
# the log is checked as well), when its binary is missing, or when it
# leaves no verdict.
#
# With FUZZ_MERGE=1 each target's corpus is then minimised (-merge=1) into
# tests/fuzz/corpus/NAME, so later runs start from what this one found.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
O=${O:-build}
[[ $O = /* ]] || O=$ROOT/$O
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_JOBS=${FUZZ_JOBS:-$(nproc)}
FUZZ_MERGE=${FUZZ_MERGE:-0}
# Inputs past this many bytes are cut: enough for the small ELF seeds.
MAX_LEN=65536

# fuzz_one NAME: runs one target, leaves its verdict in $O/fuzz/NAME.verdict.
fuzz_one()
{
	local name=$1 bin=$O/fuzz/$1 corpus log seeds=() execs cov f

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
	if "$bin" -max_total_time="$FUZZ_SECONDS" -max_len=$MAX_LEN -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$O/fuzz/$name-" "$corpus" "${seeds[@]}" \
		>"$log" 2>&1 &&
		! grep -q -E 'runtime error:|ERROR: [A-Za-z]+Sanitizer' "$log"; then
		execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
		cov=$(grep -o 'DONE *cov: [0-9]*' "$log" | grep -o '[0-9]*$')
		echo "ok $name: ${execs:-?} executions in ${FUZZ_SECONDS}s, coverage ${cov:-?}, no crash"
	else
		echo "not ok $name: $(grep -m1 -E 'runtime error:|ERROR|SUMMARY' "$log") (log $log)"
	fi >"$O/fuzz/$name.verdict"
	if [[ $FUZZ_MERGE == 1 ]]; then
		merge_one "$name" "$corpus" >>"$log" 2>&1
	fi
}

# merge_one NAME CORPUS: the inputs of CORPUS that add coverage, minimised
# and added to tests/fuzz/corpus/NAME, whose own (hand-written, named) seeds
# stay. The ELF seeds of this build stay out: they are copied in at every run.
merge_one()
{
	local name=$1 corpus=$2 out=$ROOT/tests/fuzz/corpus/$1

	rm -f "$corpus"/seed-*
	mkdir -p "$out"
	"$O/fuzz/$name" -merge=1 -max_len=$MAX_LEN "$out" "$corpus"
}

names=()
for src in "$ROOT"/tests/fuzz/fuzz_*.c; do
	names+=("$(basename "$src" .c)")
done
running=0
for name in "${names[@]}"; do
	rm -f "$O/fuzz/$name.verdict"
	[[ -x $O/fuzz/$name ]] || continue
	fuzz_one "$name" &
	running=$((running + 1))
	if ((running >= FUZZ_JOBS)); then
		wait -n
		running=$((running - 1))
	fi
done
wait
rc=0
for name in "${names[@]}"; do
	if [[ ! -x $O/fuzz/$name ]]; then
		echo "not ok $name: $O/fuzz/$name was not built"
	elif [[ ! -s $O/fuzz/$name.verdict ]]; then
		echo "not ok $name: no verdict (log $O/fuzz/$name.log)"
	else
		cat "$O/fuzz/$name.verdict"
	fi
	grep -q '^ok ' "$O/fuzz/$name.verdict" 2>/dev/null || rc=1
done
exit $rc
