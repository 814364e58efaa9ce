#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Run the end-to-end tests: every tests/e2e/test_*.sh, or the ones named on
# the command line (as "split", "test_split" or a path).
#
# Tests run one at a time, since each measures CPU time and they would
# disturb one another. Each gets a timeout and its output goes to a log
# file; the runner prints "ok NAME" or "not ok NAME: REASON" per test, where
# REASON is the test's last "fail: " line, and ends with "N passed, N failed".
# It exits 1 if any test failed. Needs root and a built tree (make).

set -u

DIR=$(cd "$(dirname "$0")" && pwd)
TEST_TIMEOUT=${TEST_TIMEOUT:-150}
LOG_DIR=${LOG_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/emberprof-e2e-logs.XXXXXX")}
mkdir -p "$LOG_DIR"

tests=()
if (($# == 0)); then
	for t in "$DIR"/test_*.sh; do
		tests+=("$t")
	done
else
	for a in "$@"; do
		a=${a##*/}
		a=${a%.sh}
		a=test_${a#test_}
		tests+=("$DIR/$a.sh")
	done
fi

echo "# logs in $LOG_DIR"
passed=0
failed=0
for t in "${tests[@]}"; do
	name=$(basename "$t" .sh)
	name=${name#test_}
	log=$LOG_DIR/$name.log
	if [[ ! -f $t ]]; then
		echo "not ok $name: no such test $t"
		failed=$((failed + 1))
		continue
	fi
	start=$SECONDS
	timeout -k 10 "$TEST_TIMEOUT" bash "$t" >"$log" 2>&1
	rc=$?
	secs=$((SECONDS - start))
	if ((rc == 0)); then
		echo "ok $name (${secs}s)"
		passed=$((passed + 1))
		continue
	fi
	if ((rc == 124 || rc == 137)); then
		reason="timed out after ${TEST_TIMEOUT}s"
	else
		reason=$(grep '^fail: ' "$log" | tail -n 1)
		reason=${reason#fail: }
		[[ -n $reason ]] || reason="exit $rc: $(grep -v '^$' "$log" | tail -n 1)"
	fi
	echo "not ok $name: $reason"
	failed=$((failed + 1))
done

echo "$passed passed, $failed failed"
((failed == 0))
