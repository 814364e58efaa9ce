#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The long soak: tests/e2e/test_soak.sh for SECONDS (default 600) at the
# default memory budget (SOAK_MEMORY_MB=N for another), ~200 short processes
# started per second throughout, with a reading every minute: RSS, open
# files, unwind-table fill and the heap by holder (parsed files, address
# cache, kernel symbols, processes, profile, OTLP queue). Prints the
# readings and the test's verdict: RSS within 64 MiB at the default budget
# (budget + 16 MiB otherwise), no sample lost, >= 95% of churn leaves named.
# Usage: bench/soak.sh [SECONDS]
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export SOAK_SECONDS=${1:-600} SOAK_PERIOD=${SOAK_PERIOD:-60}
export SOAK_MEMORY_MB=${SOAK_MEMORY_MB:-default}
export TEST_TIMEOUT=$((SOAK_SECONDS + 300))
exec "$ROOT/tests/e2e/run.sh" soak
