#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_otlp_queue: --otlp-queue-mb bounds what waits for a collector that
# is unavailable, dropping the oldest profiles, and the agent says so.
#
# The agent profiles the whole system at 499 Hz with -i 0.2 while a shell
# starts /bin/true in a loop and recurse runs, so that every profile carries
# many processes (about 50-100 KB each). With --otlp-queue-mb 1, 40 or so
# profiles made in the first 8 s cannot all wait. For those 8 s
# tests/otlp/receiver.py answers 503 with Retry-After: 1, then 200. (An
# absent collector is test_otlp_down's case: there the agent's own backoff,
# 1 s doubling with jitter, decides when it next tries, which may be as late
# as the flush at exit. The queue would then hold only profiles made after
# the collector came back, and this test could not see which ones it kept.)
# The test checks:
#   - the agent exits 0, and its -v summary counts profiles dropped because
#     the queue was full;
#   - the profiles made before the collector came back that still got through
#     add up to at most 1 MiB plus one profile (the one in flight is never
#     dropped, and one larger than the queue may go alone);
#   - those are the newest ones (apart from at most the one in flight): the
#     latest of them ends just before the collector came back, and they follow
#     one another without a gap;
#   - everything made after the collector came back arrives, none twice;
#   - three of the whole-system exports pass tests/otlp/otlp.py check, with
#     one resource per process;
#   - VmRSS stays below 200 MB.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins recurse

DUR=12
DOWN=8
QUEUE_MB=1

start_workload recurse $((DUR + 5))
# shellcheck disable=SC2016 # the inner shell expands them
start_bg bash -c 'end=$((SECONDS + $1)); while ((SECONDS < end)); do /bin/true; done' churn $((DUR + 5))
# One 503 per request for as many requests as could come in the run; at
# DOWN seconds the script shrinks to the requests already answered.
printf '503:1\n%.0s' $(seq 1000) >"$T/script"
start_receiver "$T/recv" --script-file "$T/script"
PORT=$RECV_PORT

start_bg "$EMBERPROF" -v -F 499 -i 0.2 -d "$DUR" --otlp-queue-mb "$QUEUE_MB" \
	--otlp-flush-timeout 3 --otlp-endpoint "http://127.0.0.1:$PORT" \
	>"$T/agent.out" 2>"$T/agent.err"
AG=$BG_PID
rss_watch "$AG" "$T/rss"
sleep "$DOWN"
answered=$( (wc -l <"$T/recv/log") 2>/dev/null)
((answered > 0)) || fail "no request reached the receiver in ${DOWN}s"
printf '503:1\n%.0s' $(seq "$answered") >"$T/script.new"
mv "$T/script.new" "$T/script"
up=$(date +%s.%N)
wait_exit "$AG" $((DUR + 3 + 10))
((AGENT_RC == 0)) || fail "agent exited $AGENT_RC: $(grep -v 'OTLP export' "$T/agent.err" | tail -n 1)"
sleep 0.3

# The 503s were all answered before the script changed; only the 200s count.
otlp_requests "$T/recv" >"$T/all.tsv"
late=$(awk -F '\t' -v up="$up" '$2 == 503 && $3 > up + 0.1 { print $1; exit }' "$T/all.tsv")
[[ -z $late ]] || fail "request $late got a 503 after the collector came back"
awk -F '\t' '$2 != 503' "$T/all.tsv" >"$T/req.tsv"
n=$(wc -l <"$T/req.tsv")
info "$n requests accepted, $answered refused; $(otlp_line); VmRSS max $(sort -n "$T/rss" | tail -n 1) kB"
bad=$(awk -F '\t' '$8 != "ok" || $2 != 200' "$T/req.tsv" | head -n 1)
[[ -z $bad ]] || fail "a request did not decode or was not accepted: $bad"
dup=$(awk -F '\t' '{ n = split($5, ids, ","); for (i = 1; i <= n; i++) print ids[i] }' \
	"$T/req.tsv" | sort | uniq -d | head -n 1)
[[ -z $dup ]] || fail "profile $dup arrived twice"
dropped=$(otlp_stat "dropped (queue full)")
((dropped > 0)) || fail "no profile dropped for a full queue ($(otlp_line))"

# Profiles made before the collector came back: what the queue held.
awk -F '\t' -v up="$up" '$7 / 1e9 <= up { print $6, $7, $9 }' "$T/req.tsv" | sort -n >"$T/old"
nold=$(wc -l <"$T/old")
((nold >= 2)) || fail "only $nold of the profiles made while the collector was down arrived"
read -r bytes biggest < <(awk '{ s += $3; if ($3 > m) m = $3 } END { print s + 0, m + 0 }' "$T/old")
limit=$((QUEUE_MB * 1024 * 1024 + biggest))
info "$nold profiles from before the collector came back, $bytes bytes (limit $limit)"
((bytes <= limit)) || fail "$bytes bytes of profiles queued while the collector was down (queue $QUEUE_MB MiB)"
# The newest survive: drop the first (possibly the one in flight) and the
# rest must be consecutive and end shortly before the collector came back.
read -r gap lastend < <(awk 'NR > 2 && $1 - end > g { g = $1 - end }
	{ end = $2 }
	END { printf "%.3f %.3f\n", g / 1e9, end / 1e9 }' "$T/old")
within "$gap" 0 0.1 ||
	late_fail "a ${gap}s gap between the profiles kept while the collector was down: not the newest that were kept ($nold kept, $bytes bytes, $dropped dropped)"
late=$(awk -v a="$lastend" -v b="$up" 'BEGIN { printf "%.2f", b - a }')
within "$late" 0 0.5 || late_fail "the newest queued profile ended ${late}s before the collector came back"

# After the collector came back nothing is lost.
awk -F '\t' -v up="$up" '$7 / 1e9 > up { print $6, $7 }' "$T/req.tsv" | sort -n >"$T/new"
nnew=$(wc -l <"$T/new")
((nnew >= 3)) || fail "only $nnew profiles after the collector came back"
gap=$(awk 'NR > 1 && $1 - end > g { g = $1 - end } { end = $2 } END { printf "%.3f", g / 1e9 }' "$T/new")
within "$gap" 0 0.1 || fail "a ${gap}s gap between profiles made after the collector came back"

# Whole-system exports: the full structural check on the first, a middle
# and the last one (one resource per process, many of them).
for i in 1 $(((n + 1) / 2)) "$n"; do
	otlp_check "$(printf '%s/recv/%04d.body' "$T" "$i")" --hz 499 >"$T/sum$i.json"
	nres=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["resources"]))' \
		"$T/sum$i.json")
	((nres >= 2)) || fail "whole-system export $i holds $nres processes"
done

rmax=$(sort -n "$T/rss" | tail -n 1)
((rmax < 200 * 1024)) || fail "VmRSS peaked at $((rmax / 1024)) MB"
late_fail_check
exit 0
