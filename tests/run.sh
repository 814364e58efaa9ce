#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The whole suite, as `make test` runs it: unit tests (cmocka, built with
# ASan and UBSan), a short run of every fuzz target, then the end-to-end
# tests on the real kernel path. Every test prints "ok ..." or "not ok ...";
# the last line is "N passed, N failed", and the exit status is 1 when any
# test failed.
#
# What is expected comes from the sources, not from what was built or what a
# runner printed: a unit test or fuzz target whose binary is missing, a part
# that reports fewer results than it has tests, and a runner that exits
# non-zero without a "not ok" line each count as a failure.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
O=${O:-build}
[[ $O = /* ]] || O=$ROOT/$O
export O
passed=0
failed=0

# count < lines: tallies "ok"/"not ok" lines and echoes them; a last line
# "# exit N" (from part()) is kept in part_rc, not echoed.
count()
{
	local line

	part_ok=0
	part_bad=0
	part_rc=
	while IFS= read -r line; do
		case $line in
		"# exit "*)
			part_rc=${line#\# exit }
			continue
			;;
		"not ok "*) part_bad=$((part_bad + 1)) ;;
		"ok "*) part_ok=$((part_ok + 1)) ;;
		esac
		echo "$line"
	done
	passed=$((passed + part_ok))
	failed=$((failed + part_bad))
}

# bad MESSAGE: one more failure, printed as a "not ok" line.
bad()
{
	echo "not ok $*"
	failed=$((failed + 1))
}

# part NAME WANT CMD...: runs CMD, which prints one "ok"/"not ok" line per
# test, through count(); fails NAME when CMD exits non-zero with no "not ok"
# line, or reports fewer than WANT results.
part()
{
	local name=$1 want=$2

	shift 2
	count < <(
		"$@"
		echo "# exit $?"
	)
	if [[ $part_rc != 0 ]] && ((part_bad == 0)); then
		bad "$name: runner exited ${part_rc:-?} with no failing test"
	fi
	if ((part_ok + part_bad < want)); then
		bad "$name: $((part_ok + part_bad)) results for $want tests"
	fi
}

echo "# unit tests"
for src in "$ROOT"/tests/unit/test_*.c; do
	name=$(basename "$src" .c)
	bin=$O/unit/$name
	if [[ ! -x $bin ]]; then
		bad "unit/$name: $bin was not built"
		continue
	fi
	log=$O/unit/$name.log
	CMOCKA_MESSAGE_OUTPUT=TAP "$bin" >"$log" 2>&1
	rc=$?
	# TAP numbering "ok 3 - name" becomes "ok unit/NAME: name".
	count < <(sed -n -E "s/^(not ok|ok) [0-9]+ - (.*)/\1 unit\/$name: \2/p" "$log")
	if ((part_ok + part_bad == 0)); then
		bad "unit/$name: exit $rc and no test result (log $log)"
	elif grep -q -E 'runtime error:|ERROR: (Address|Leak|Undefined)Sanitizer' "$log"; then
		bad "unit/$name: sanitizer report in $log"
	elif ((rc != 0 && part_bad == 0)); then
		bad "unit/$name: exit $rc (log $log)"
	elif ((rc != 0)); then
		grep -E '^# |ERROR' "$log" | head -5
	fi
done

echo "# fuzz smoke (${FUZZ_SECONDS:-60}s per target)"
nfuzz=$(find "$ROOT/tests/fuzz" -maxdepth 1 -name 'fuzz_*.c' | wc -l)
part fuzz "$nfuzz" "$ROOT"/tests/fuzz/run.sh

echo "# end-to-end tests"
ne2e=$(find "$ROOT/tests/e2e" -maxdepth 1 -name 'test_*.sh' | wc -l)
# The runner's own exit status, not grep's.
part e2e "$ne2e" bash -c '"$1" | grep -E "^(ok|not ok|#) "; exit "${PIPESTATUS[0]}"' - "$ROOT"/tests/e2e/run.sh

echo "$passed passed, $failed failed"
((failed == 0))
