#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_flamegraph: the HTML flame graph shows cpusplit's 60/30/10 split in a
# real browser, draws something, references no network, and stays quick with
# 100k distinct stacks.
#
# The agent profiles cpusplit at 199 Hz for 4 s with --flamegraph, and `emberprof
# flamegraph` converts the same pprof file: with the same title the two
# pages must be the same bytes. Headless Chromium loads each
# page from file:// with networking disabled; its DOM dump must hold the
# page's "top functions" table with work_a/work_b/work_c at 60/30/10 of
# their sum (±4 points, as test_split), the numbers in each page (decoded
# by tests/browser/fgcheck.py) must be pprof -top's for the same file, the
# total and every function's self samples, and a screenshot must have many
# colours and ink. KEEP_SCREENSHOT=1 copies the screenshot to
# docs/flamegraph.png. Then a synthetic pprof with 100,000 distinct stacks
# (tests/browser/synth_pprof.py) must convert to a page of at most 8 MB that
# Chromium loads, builds and draws within 20 s, reporting the share of its
# marker function exactly. Last, bad input gets exit 1 and usage errors 2.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=../browser/chrome.sh
. "$ROOT/tests/browser/chrome.sh"

require_root
require_bins cpusplit
require_chromium

start_workload cpusplit 20
CS=$BG_PID
agent_ok -F 199 -d 4 -p "$CS" -o "$T/split.pb.gz" --flamegraph "$T/agent.html"
check_profile "$T/split.pb.gz"
[[ -s $T/agent.html ]] || fail "--flamegraph wrote no $T/agent.html"
agent_ok flamegraph "$T/split.pb.gz" -o "$T/cmd.html" --title "cpusplit 60/30/10"
[[ -s $T/cmd.html ]] || fail "emberprof flamegraph wrote no $T/cmd.html"
# One model, one writer: the agent's page is the page of its own pprof
# (titled as the agent titles its own; the command's default is the file's name).
agent_ok flamegraph "$T/split.pb.gz" -o "$T/same.html" --title emberprof
cmp -s "$T/agent.html" "$T/same.html" ||
	fail "the agent's --flamegraph page differs from emberprof flamegraph of its pprof" \
		"($(cmp "$T/agent.html" "$T/same.html" 2>&1 | head -n 1))"

for page in agent cmd; do
	no_urls "$T/$page.html"
	chrome_dump 60 "$T/$page.html" "$T/$page.dom"
	page_rows "$T/$page.dom" >"$T/$page.rows"
	read -r _ ready status < <(head -n 1 "$T/$page.rows")
	[[ $ready == 1 ]] || fail "$page.html did not report ready (status: $status)"
	info "$page.html: $status"
	a=$(row_field "$T/$page.rows" work_a 2)
	b=$(row_field "$T/$page.rows" work_b 2)
	c=$(row_field "$T/$page.rows" work_c 2)
	[[ $a != missing && $b != missing && $c != missing ]] ||
		fail "$page.html's table lacks work_a/b/c: $(cut -f1 "$T/$page.rows" | tr '\n' ' ')"
	info "$page.html: work_a $a%, work_b $b%, work_c $c% of all samples"
	shares_within 4 "$page.html work_a:60:$a" "$page.html work_b:30:$b" "$page.html work_c:10:$c"
done
grep -q '<title>cpusplit 60/30/10 — flame graph</title>' "$T/cmd.dom" ||
	fail "--title did not become the page's title"

# The numbers in the pages, decoded by fgcheck.py (not by the page's own
# script): the total and every function's self samples are pprof -top's
# on the same file, exactly. pprof -top lists a function's inlined copies
# apart, as "NAME (inline)"; the page has one row per function, so they are
# summed under NAME.
pp_top "$T/split.pb.gz" | awk -F '\t' '$2 > 0 { sub(/ \(inline\)$/, "", $1); n[$1] += $2 }
	END { for (f in n) printf "%s\t%d\n", f, n[f] }' | sort -t "$(printf '\t')" -k2,2nr -k1,1 >"$T/pprof.self"
ptot=$(total "$T/split.pb.gz")
for page in agent cmd; do
	python3 "$FGCHECK" data "$T/$page.html" >"$T/$page.data" || fail "cannot decode the data of $page.html"
	ftot=$(awk 'NR == 1 { print $2 }' "$T/$page.data")
	((ftot == ptot)) || fail "$page.html holds $ftot samples, pprof -top $ptot"
	tail -n +2 "$T/$page.data" | sort -t "$(printf '\t')" -k2,2nr -k1,1 >"$T/$page.self"
	if ! cmp -s "$T/pprof.self" "$T/$page.self"; then
		diff "$T/pprof.self" "$T/$page.self" | head -n 6 >&2
		fail "$page.html's self samples per function differ from pprof -top's"
	fi
	info "$page.html: $ftot samples, $(wc -l <"$T/$page.self") functions, as pprof -top"
done

# Pixels: the bars are drawn (many colours, a fair share of non-white).
chrome_shot "$T/cmd.html" "$T/fg.png"
read -r w h colours ink < <(python3 "$FGCHECK" png "$T/fg.png") || fail "cannot decode $T/fg.png"
info "screenshot ${w}x$h: $colours colours, ink $ink"
((colours >= 50)) || fail "screenshot has only $colours colours"
within "$ink" 0.05 0.9 || fail "screenshot is blank or solid (ink $ink)"
if [[ ${KEEP_SCREENSHOT:-0} == 1 ]]; then
	mkdir -p "$ROOT/docs"
	cp "$T/fg.png" "$ROOT/docs/flamegraph.png"
	info "copied the screenshot to docs/flamegraph.png"
fi

# 100k distinct stacks: compact, and quick to load.
python3 "$SYNTH" large 100000 "$T/large.pb.gz" >"$T/large.json" || fail "synth_pprof.py failed"
hot=$(json_get "$T/large.json" hot_share)
start=$(date +%s.%N)
agent_ok flamegraph "$T/large.pb.gz" -o "$T/large.html"
size=$(stat -c %s "$T/large.html")
info "100k stacks: $(stat -c %s "$T/large.pb.gz") bytes of pprof, $size bytes of page in ${AGENT_SECS}s"
((size <= 8 * 1024 * 1024)) || fail "the 100k-stack page is $size bytes (want <= 8 MiB)"
no_urls "$T/large.html"
chrome_dump 20 "$T/large.html" "$T/large.dom"
end=$(date +%s.%N)
page_rows "$T/large.dom" >"$T/large.rows"
read -r _ ready status < <(head -n 1 "$T/large.rows")
info "100k stacks: $status; $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s to convert and load"
[[ $ready == 1 ]] || fail "the 100k-stack page did not report ready (status: $status)"
[[ $status == *"100,000 stacks"* ]] || fail "the 100k-stack page shows '$status'"
got=$(row_field "$T/large.rows" synth_hot 2)
want=$(awk -v h="$hot" 'BEGIN { printf "%.2f", 100 * h }')
[[ $got == "$want" ]] || fail "synth_hot is $got% on the page, $want% in the profile"

# Bad input and usage.
head -c 1000 /dev/urandom >"$T/junk.pb.gz"
run_agent flamegraph "$T/junk.pb.gz" -o "$T/junk.html"
((AGENT_RC == 1)) || fail "flamegraph of junk exited $AGENT_RC (want 1)"
grep -q 'not a pprof profile' "$T/agent.err" || fail "junk input: $(first_err_line)"
[[ -e $T/junk.html ]] && fail "flamegraph of junk left $T/junk.html"
run_agent flamegraph "$T/split.pb.gz"
((AGENT_RC == 2)) || fail "flamegraph without -o exited $AGENT_RC (want 2)"
run_agent flamegraph "$T/split.pb.gz" -o "$T/nodir/x.html"
((AGENT_RC == 1)) || fail "flamegraph into a missing directory exited $AGENT_RC (want 1)"
exit 0
