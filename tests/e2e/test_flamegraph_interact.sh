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
# "work_a" and a regex, and flips to icicle. Widths and matched shares are
# held to the counts that pprof -raw reads from the same file, not to the
# 6:3:1 design: 5 s at 99 Hz is ~1000 samples, and one clean-clone run drew
# work_a at 54.5% of them (test_split judges the split, over 9 s). Then a
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
# Samples holding each work_ frame anywhere in the stack, as the search
# counts them: once per sample.
samples "$T/split.pb.gz" | awk -F '\t' '
	{
		n = split($7, f, ";")
		delete seen
		for (i = 1; i <= n; i++)
			if (f[i] ~ /^work_[abc]$/)
				seen[f[i]] = 1
		for (k in seen)
			got[k] += $1
		total += $1
	}
	END {
		printf "{\"total\": %d, \"work_a\": %d, \"work_b\": %d, \"work_c\": %d}\n",
			total, got["work_a"], got["work_b"], got["work_c"]
	}' >"$T/split.json"
info "pprof -raw: $(cat "$T/split.json")"
interact cpusplit "$T/split.html" "$T/split.json"

python3 "$SYNTH" labels "$T/labels.pb.gz" >"$T/labels.json" || fail "synth_pprof.py labels failed"
agent_ok flamegraph "$T/labels.pb.gz" -o "$T/labels.html"
interact labels "$T/labels.html" "$T/labels.json"
exit 0
