#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The long fuzz run: every fuzz target for HOURS each (a decimal: 0.1667 is
# ten minutes), FUZZ_JOBS at a time (default 2), through tests/fuzz/run.sh.
# Each target's grown corpus is then minimised (-merge=1) into
# tests/fuzz/corpus/NAME, to be committed so that every later run starts
# from it. Prints per target its executions, coverage, crash files and
# committed corpus, and exits 1 if any target failed.
# Usage: bench/fuzz.sh HOURS
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
O=${O:-build}
[[ $O = /* ]] || O=$ROOT/$O
HOURS=${1:?usage: bench/fuzz.sh HOURS}
secs=$(awk -v h="$HOURS" 'BEGIN { s = int(h * 3600); if (s < 1) exit 1; print s }') ||
	{
		echo "bench/fuzz.sh: HOURS must be a number > 0, not '$HOURS'" >&2
		exit 2
	}

make -C "$ROOT" --no-print-directory O="$O" \
	$(cd "$ROOT" && for f in tests/fuzz/fuzz_*.c; do b=${f##*/}; echo "$O/fuzz/${b%.c}"; done) \
	e2e-build >/dev/null || exit 1
rm -f "$O"/fuzz/*-crash-* "$O"/fuzz/*-leak-* "$O"/fuzz/*-timeout-* "$O"/fuzz/*-oom-*
echo "# fuzz: ${secs}s per target, ${FUZZ_JOBS:-2} at a time"
O=$O FUZZ_SECONDS=$secs FUZZ_JOBS=${FUZZ_JOBS:-2} FUZZ_MERGE=1 "$ROOT/tests/fuzz/run.sh"
rc=$?
for f in "$ROOT"/tests/fuzz/fuzz_*.c; do
	name=$(basename "$f" .c)
	crashes=$(find "$O/fuzz" -maxdepth 1 -name "$name-*" -type f | wc -l)
	corpus=$ROOT/tests/fuzz/corpus/$name
	printf '# %s: %s crash files; corpus %s inputs, %s\n' "$name" "$crashes" \
		"$(find "$corpus" -type f 2>/dev/null | wc -l)" "$(du -sh "$corpus" 2>/dev/null | cut -f1)"
done
exit $rc
