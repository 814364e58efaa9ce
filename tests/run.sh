#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The whole suite, as `make test` runs it: unit tests (cmocka, built with
# ASan and UBSan), a short run of every fuzz target, then the end-to-end
# tests on the real kernel path. Every test prints "ok ..." or "not ok ...";
# the last line is "N passed, N failed", and the exit status is 1 when any
# test failed.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
O=${O:-build}
[[ $O = /* ]] || O=$ROOT/$O
export O
passed=0
failed=0

# count < lines: tallies "ok"/"not ok" lines and echoes them.
count()
{
	local line
	while IFS= read -r line; do
		echo "$line"
		case $line in
		"not ok "*) failed=$((failed + 1)) ;;
		"ok "*) passed=$((passed + 1)) ;;
		esac
	done
}

echo "# unit tests"
for bin in "$O"/unit/test_*; do
	[[ -x $bin ]] || continue
	log=$O/unit/$(basename "$bin").log
	CMOCKA_MESSAGE_OUTPUT=TAP "$bin" >"$log" 2>&1
	rc=$?
	# TAP numbering "ok 3 - name" becomes "ok unit/NAME: name".
	count < <(sed -n -E "s/^(not ok|ok) [0-9]+ - (.*)/\1 unit\/$(basename "$bin"): \2/p" "$log")
	if ((rc != 0)) && ! grep -q '^not ok [0-9]' "$log"; then
		echo "not ok unit/$(basename "$bin"): exit $rc (sanitizer report in $log)"
		failed=$((failed + 1))
	elif ((rc != 0)); then
		grep -E '^# |ERROR' "$log" | head -5
	fi
done

echo "# fuzz smoke (${FUZZ_SECONDS:-60}s per target)"
count < <("$ROOT"/tests/fuzz/run.sh)

echo "# end-to-end tests"
count < <("$ROOT"/tests/e2e/run.sh | grep -E '^(ok|not ok|#) ')

echo "$passed passed, $failed failed"
((failed == 0))
