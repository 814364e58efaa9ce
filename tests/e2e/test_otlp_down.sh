#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_otlp_down: the collector is down for the first 13 s of a 20 s run,
# then comes up; nothing sampled in between is lost, and the agent neither
# crashes nor grows.
#
# The agent profiles cpusplit (-p: whole-system profiling lets the
# symbolizer's caches grow with every process the machine starts, which
# would hide what the OTLP queue does to memory) at 49 Hz with -i 2 -d 20
# and --otlp-flush-timeout 10 against a port where nothing listens. After
# 13 s tests/otlp/receiver.py starts listening
# on that port. The test samples the agent's VmRSS once a second and checks:
#   - the agent exits 0 by -d + flush timeout, having retried, with an
#     exponential backoff (at most 7 retries counted in the summary);
#   - no request before the receiver was up (obviously) and at least
#     DUR / 2 - 1 accepted after it, each decoding, none accepted twice;
#   - the accepted profiles' time windows follow one another without a gap
#     from about the agent's start to its end, so sampling went on while
#     the collector was away, and their samples add up to the total the
#     agent reports;
#   - VmRSS stays below 200 MB and grows by less than 16 MB from the first
#     seconds to the last (the queue holds some tens of KB here).
# Runtime about 22 s.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins cpusplit

DUR=20
DOWN=13
FLUSH=10

start_workload cpusplit $((DUR + 10))
CS=$BG_PID
PORT=$(free_port)
[[ -n $PORT ]] || fail "no free port"

t0=$(date +%s.%N)
start_bg "$EMBERPROF" -v -F 49 -i 2 -d "$DUR" -p "$CS" --otlp-flush-timeout "$FLUSH" \
	--otlp-endpoint "http://127.0.0.1:$PORT" >"$T/agent.out" 2>"$T/agent.err"
AG=$BG_PID
rss_watch "$AG" "$T/rss"
# The receiver binds the port DOWN seconds from now.
start_receiver "$T/recv" --port "$PORT" --delay "$DOWN"
sleep "$DOWN"
(($(nreq "$T/recv") == 0)) || fail "requests stored before the receiver was up"
alive "$AG" || fail "the agent died while the collector was down: $(tail -n 1 "$T/agent.err")"

wait_exit "$AG" $((DUR - DOWN + FLUSH + 5))
t1=$(date +%s.%N)
((AGENT_RC == 0)) || fail "agent exited $AGENT_RC: $(grep -v 'OTLP export' "$T/agent.err" | tail -n 1)"
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
within "$secs" $((DUR - 1)) $((DUR + FLUSH + 2)) || fail "agent ran ${secs}s for -d $DUR"
sleep 0.3

otlp_requests "$T/recv" >"$T/req.tsv"
n=$(wc -l <"$T/req.tsv")
ok=$(awk -F '\t' '$2 == 200' "$T/req.tsv" | wc -l)
info "agent ${secs}s, $n requests, $ok accepted; $(otlp_line)"
bad=$(awk -F '\t' '$8 != "ok"' "$T/req.tsv" | head -n 1)
[[ -z $bad ]] || fail "a stored body does not decode: $bad"
dup=$(awk -F '\t' '$2 == 200 { n = split($5, ids, ","); for (i = 1; i <= n; i++) print ids[i] }' \
	"$T/req.tsv" | sort | uniq -d | head -n 1)
[[ -z $dup ]] || fail "profile $dup was accepted twice"
# One profile per 2 s interval: 15 in 30 s, all of them queued and sent.
((ok >= DUR / 2 - 1)) || fail "only $ok profiles accepted for -i 2 -d $DUR"

# The accepted profiles cover the run without gaps.
awk -F '\t' '$2 == 200 { print $6, $7 }' "$T/req.tsv" | sort -n >"$T/spans"
read -r first last maxgap < <(awk '
	NR == 1 { first = $1 }
	NR > 1 && $1 - end > gap { gap = $1 - end }
	{ end = $2 }
	END { printf "%.3f %.3f %.3f\n", first / 1e9, end / 1e9, gap / 1e9 }' "$T/spans")
within "$maxgap" 0 0.5 || fail "a ${maxgap}s gap between consecutive profiles' time windows"
cover=$(awk -v a="$first" -v b="$last" 'BEGIN { printf "%.1f", b - a }')
within "$cover" $((DUR - 3)) $((DUR + 1)) || fail "the profiles cover ${cover}s of a ${DUR}s run"
within "$first" "$t0" "$(awk -v t="$t0" 'BEGIN { printf "%.3f", t + 5 }')" ||
	fail "the first profile starts at $first, the agent started at $t0"
sum=$(awk -F '\t' '$2 == 200 { s += $4 } END { print s + 0 }' "$T/req.tsv")
total=$(sed -n 's/^emberprof: \([0-9][0-9]*\) samples on .*/\1/p' "$T/agent.err" | tail -n 1)
if [[ -n $total ]]; then
	((sum == total)) || fail "the accepted profiles hold $sum samples, the agent reports $total"
else
	info "no 'N samples on' line in the agent's -v output; sample total not compared"
fi
# Two busy threads at 49 Hz make up to DUR * 98 samples; other load on the
# machine takes its share, so only a clear part of that is required.
((sum >= DUR * 20)) || fail "only $sum samples in ${DUR}s"

# Memory.
read -r rmin rmax early late nrss < <(awk '
	{ v[NR] = $1; if (NR == 1 || $1 < min) min = $1; if ($1 > max) max = $1 }
	END {
		# Early: the highest of seconds 3..7 (after start-up); late: of the last 5.
		for (i = 3; i <= 7 && i <= NR; i++) if (v[i] > e) e = v[i]
		for (i = NR - 4; i <= NR; i++) if (i > 0 && v[i] > l) l = v[i]
		print min + 0, max + 0, e + 0, l + 0, NR
	}' "$T/rss")
info "VmRSS kB: min $rmin max $rmax, early $early late $late ($nrss samples)"
((nrss >= DUR - 2)) || fail "only $nrss VmRSS samples"
((rmax < 200 * 1024)) || fail "VmRSS peaked at $((rmax / 1024)) MB (limit 200 MB)"
((late - early < 16 * 1024)) ||
	fail "VmRSS grew from $((early / 1024)) MB to $((late / 1024)) MB while the collector was away"

# The summary: connection errors were retried, with backoff, nothing lost.
retries=$(otlp_stat retries)
((retries >= 1)) || late_fail "no retries counted with the collector down ($(otlp_line))"
# Backoff 1, 2, 4, 8, 16 s (±20%) from the first failure at about 2 s: at
# most 5 retries while the collector is down, one more at stop, one slack.
((retries <= 7)) ||
	late_fail "$retries retries in ${DOWN}s of downtime: not backing off 1, 2, 4, 8.. s ($(otlp_line))"
(($(otlp_stat "dropped (queue full)") == 0)) || late_fail "profiles dropped from the queue: $(otlp_line)"
(($(otlp_stat failed) == 0)) || late_fail "profiles failed: $(otlp_line)"
sent=$(otlp_stat sent)
((sent == ok)) || late_fail "summary says $sent sent, the receiver accepted $ok ($(otlp_line))"
late_fail_check
exit 0
