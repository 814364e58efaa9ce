#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The 30-minute soak: tests/e2e/test_soak.sh with SOAK_SECONDS=1800 and a
# reading every minute (RSS, open fds, unwind-table fill), ~200 short
# processes started per second throughout. Prints the readings and the
# test's verdict. Usage: bench/soak.sh [SECONDS]   (default 1800)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export SOAK_SECONDS=${1:-1800} SOAK_PERIOD=${SOAK_PERIOD:-60}
export TEST_TIMEOUT=$((SOAK_SECONDS + 300))
exec "$ROOT/tests/e2e/run.sh" soak
