#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_flamegraph_interact: the flame graph page answers the mouse and the
# keyboard in a real browser.
#
# tests/browser/interact.js (playwright-core driving /usr/bin/chromium,
# installed by `make test-deps` from tests/browser's lock file) opens a page of
# cpusplit's profile with every network request refused, hovers work_b
# (tooltip: kind, file:line, share of total and of parent), clicks it (it
# fills the width; the breadcrumb reads all › ... › run_round › work_b and
# leads back), searches "work_" (~100% of samples, each counted once),
# "work_a" (~60% of the workload) and a regex, and flips to icicle. Then a
# page of synth_pprof.py's labels profile, whose numbers are known exactly:
# grouping by process and by thread, the trace and span filter, the kinds
# (native, inline, kernel, JIT), the sample type choice and the tooltip.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=../browser/chrome.sh
. "$ROOT/tests/browser/chrome.sh"

require_root
require_bins cpusplit
require_chromium
need_playwright

start_workload cpusplit 20
agent_ok -F 99 -d 5 -p "$BG_PID" -o "$T/split.pb.gz" --flamegraph "$T/split.html"
check_profile "$T/split.pb.gz"
interact cpusplit "$T/split.html"

python3 "$SYNTH" labels "$T/labels.pb.gz" >"$T/labels.json" || fail "synth_pprof.py labels failed"
agent_ok flamegraph "$T/labels.pb.gz" -o "$T/labels.html"
interact labels "$T/labels.html" "$T/labels.json"
exit 0
