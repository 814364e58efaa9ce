#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_otlp_retry: the agent retries what OTLP says to retry, drops what it
# says is final, and never delivers a profile twice.
#
# Cases a to c run at once, each an agent profiling cpusplit with -i 2 -d 7
# (three or four profiles) against its own tests/otlp/receiver.py scripted to
# fail the first requests:
#   a. 503 with Retry-After: 1, then 200: the same profile (same profile_id,
#      same bytes) comes again no sooner than a second later and is accepted
#      once; the -v summary counts at least one retry and nothing failed.
#   b. 500, then 200: final per the spec. The profile is not sent again
#      (exactly one 500, its profile_id never seen again), later profiles
#      arrive once each, and the summary counts 1 failed and 0 retries.
#   c. 429 twice without Retry-After, then 200: handled like 503, with the
#      agent's own backoff: about 1 s, then about 2 s (±20% jitter).
#   d. -d 2 alone: the one profile is sent at stop, gets a 503 and is
#      retried within the flush deadline; the summary counts it sent, with
#      one retry.
#   e. 503 with Retry-After: 30 every time: the agent still exits within
#      -d + --otlp-flush-timeout (+ start-up).
# In every case: every body decodes, no profile_id is accepted (answered 200)
# twice, every profile the agent made reached the receiver (no gap in the
# profile time windows beyond the dropped one in b), and the summary's
# "sent" equals the number of requests answered 200. Problems with the
# counters and the backoff timing are collected and reported together at
# the end, so that every case runs.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins cpusplit

start_workload cpusplit 60
CS=$BG_PID

# start_case NAME SCRIPT: a receiver answering SCRIPT, and an agent run
# against it in the background (cases a to c run at once, each with its own
# receiver); finish_case NAME waits for it and leaves the request table in
# $T/NAME.tsv and the agent's stderr in $T/NAME.err.
declare -A CASE_PID
start_case()
{
	local name=$1 script=$2

	start_receiver "$T/$name" --script "$script"
	start_bg timeout -k 5 "$AGENT_TIMEOUT" "$EMBERPROF" -v -F 49 -i 2 -d 7 \
		--otlp-flush-timeout 5 -p "$CS" --otlp-endpoint "http://127.0.0.1:$RECV_PORT" \
		>"$T/$name.out" 2>"$T/$name.err"
	CASE_PID[$name]=$BG_PID
}
finish_case()
{
	local name=$1 n rc

	wait "${CASE_PID[$name]}"
	rc=$?
	((rc == 0)) || fail "$name: the agent exited $rc: $(head -n 1 "$T/$name.err")"
	sleep 0.3
	cp "$T/$name.err" "$T/agent.err"
	otlp_requests "$T/$name" >"$T/$name.tsv"
	n=$(wc -l <"$T/$name.tsv")
	info "$name: $n requests ($(cut -f 2 "$T/$name.tsv" | tr '\n' ' ')); $(otlp_line)"
	bad=$(awk -F '\t' '$8 != "ok"' "$T/$name.tsv" | head -n 1)
	[[ -z $bad ]] || fail "$name: a stored body does not decode: $bad"
	# No profile accepted twice.
	dup=$(awk -F '\t' '$2 == 200 { n = split($5, ids, ","); for (i = 1; i <= n; i++) print ids[i] }' \
		"$T/$name.tsv" | sort | uniq -d | head -n 1)
	[[ -z $dup ]] || fail "$name: profile $dup was accepted twice"
}

# status_of NAME N / id_of NAME N / time_of NAME N: of request N in case NAME.
status_of()
{
	awk -F '\t' -v n="$2" '$1 == n { print $2 }' "$T/$1.tsv"
}
id_of()
{
	awk -F '\t' -v n="$2" '$1 == n { print $5 }' "$T/$1.tsv"
}
gap()
{
	awk -F '\t' -v a="$2" -v b="$3" '$1 == a { ta = $3 } $1 == b { tb = $3 }
		END { printf "%.2f", tb - ta }' "$T/$1.tsv"
}
count_status()
{
	awk -F '\t' -v s="$2" '$2 == s { n++ } END { print n + 0 }' "$T/$1.tsv"
}

# summary_matches NAME FAILED: the -v counters agree with what the receiver
# saw. A mismatch is a late_fail, so that the later cases still run.
summary_matches()
{
	local name=$1 want_failed=$2 ok sent failed

	cp "$T/$name.err" "$T/agent.err"
	ok=$(count_status "$name" 200)
	sent=$(otlp_stat sent)
	failed=$(otlp_stat failed)
	((sent == ok)) || late_fail "$name: summary says $sent sent, the receiver accepted $ok ($(otlp_line))"
	((failed == want_failed)) ||
		late_fail "$name: summary says $failed failed, want $want_failed ($(otlp_line))"
}

# spans_contiguous NAME SKIP_ID: the accepted profiles' time windows, in
# order, leave no gap longer than 0.5 s except where profile SKIP_ID (the
# dropped one, or "-") was: every interval's profile got through.
spans_contiguous()
{
	awk -F '\t' -v skip="$2" '$2 == 200 || $5 == skip { print $6, $7, ($5 == skip) }' "$T/$1.tsv" |
		sort -n | awk -v name="$1" '
		NR > 1 && !prev_skip && !$3 && $1 - end > 500000000 {
			printf "%s: %.2f s between one profile and the next\n", name, ($1 - end) / 1e9
			exit 1
		}
		{ end = $2; prev_skip = $3 }' >"$T/gap.err" || fail "$(cat "$T/gap.err")"
}

start_case a 503:1
start_case b 500
start_case c 429,429
for name in a b c; do
	finish_case "$name"
done

# a. 503 + Retry-After: 1.
[[ $(status_of a 1) == 503 && $(status_of a 2) == 200 ]] ||
	fail "a: statuses $(cut -f 2 "$T/a.tsv" | tr '\n' ' '), want 503 then 200"
[[ $(id_of a 2) == "$(id_of a 1)" ]] || fail "a: request 2 is not the retry of request 1's profile"
cmp -s "$T/a/0001.body" "$T/a/0002.body" || fail "a: the retry's body differs from the first attempt's"
g=$(gap a 1 2)
within "$g" 0.9 3 || fail "a: retry came ${g}s after a 503 with Retry-After: 1"
(($(count_status a 200) >= 3)) || fail "a: only $(count_status a 200) profiles accepted for -i 2 -d 7"
cp "$T/a.err" "$T/agent.err"
(($(otlp_stat retries) >= 1)) || fail "a: summary counts no retry after a 503 ($(otlp_line))"
spans_contiguous a -
summary_matches a 0

# b. 500: final.
[[ $(status_of b 1) == 500 ]] || fail "b: first request answered $(status_of b 1), want 500"
(($(count_status b 500) == 1)) || fail "b: $(count_status b 500) requests answered 500, want exactly 1 (no retry)"
dropped=$(id_of b 1)
again=$(awk -F '\t' -v id="$dropped" 'NR > 1 && index($5, id)' "$T/b.tsv" | head -n 1)
[[ -z $again ]] || fail "b: profile $dropped was sent again after a 500: $again"
(($(count_status b 200) >= 2)) || fail "b: only $(count_status b 200) later profiles accepted"
cp "$T/b.err" "$T/agent.err"
(($(otlp_stat retries) == 0)) || fail "b: summary counts $(otlp_stat retries) retries after a 500"
spans_contiguous b "$dropped"
summary_matches b 1

# c. 429 twice, the agent's own backoff.
[[ $(status_of c 1) == 429 && $(status_of c 2) == 429 && $(status_of c 3) == 200 ]] ||
	fail "c: statuses $(cut -f 2 "$T/c.tsv" | tr '\n' ' '), want 429 429 200"
[[ $(id_of c 2) == "$(id_of c 1)" && $(id_of c 3) == "$(id_of c 1)" ]] ||
	fail "c: requests 2 and 3 are not retries of request 1's profile"
g1=$(gap c 1 2)
g2=$(gap c 2 3)
within "$g1" 0.75 1.5 || late_fail "c: first backoff ${g1}s, want 1 s ±20%"
within "$g2" 1.55 2.7 || late_fail "c: second backoff ${g2}s, want 2 s ±20%"
cp "$T/c.err" "$T/agent.err"
(($(otlp_stat retries) >= 2)) || fail "c: summary counts $(otlp_stat retries) retries after two 429s"
spans_contiguous c -
summary_matches c 0

# d. The only profile of a -d run goes at stop, within the flush deadline:
# a 503 then, and the retry a second later still gets it through.
start_receiver "$T/d" --script 503:1
agent_ok -v -F 49 -d 2 --otlp-flush-timeout 5 -p "$CS" --otlp-endpoint "http://127.0.0.1:$RECV_PORT"
cp "$T/agent.err" "$T/d.err"
otlp_requests "$T/d" >"$T/d.tsv"
info "d: $(wc -l <"$T/d.tsv") requests ($(cut -f 2 "$T/d.tsv" | tr '\n' ' ')); $(otlp_line); agent ${AGENT_SECS}s"
[[ $(cut -f 2 "$T/d.tsv" | tr '\n' ' ') == "503 200 " ]] ||
	fail "d: statuses $(cut -f 2 "$T/d.tsv" | tr '\n' ' '), want 503 200 (retried during the flush)"
[[ $(id_of d 2) == "$(id_of d 1)" ]] || fail "d: request 2 is not the retry of request 1"
within "$AGENT_SECS" 2.5 8 || fail "d: the agent took ${AGENT_SECS}s for -d 2 and one retry at stop"
(($(otlp_stat retries) == 1)) ||
	late_fail "d: the retry during the flush is not counted ($(otlp_line))"
summary_matches d 0

# e. A collector that keeps asking for patience (Retry-After: 30) does not
# hold the agent past --otlp-flush-timeout.
start_receiver "$T/e" --script "$(printf '503:30,%.0s' 1 2 3 4 5 6 7 8)"
agent_ok -v -F 49 -d 2 --otlp-flush-timeout 3 -p "$CS" --otlp-endpoint "http://127.0.0.1:$RECV_PORT"
cp "$T/agent.err" "$T/e.err"
otlp_requests "$T/e" >"$T/e.tsv"
info "e: $(wc -l <"$T/e.tsv") requests ($(cut -f 2 "$T/e.tsv" | tr '\n' ' ')); $(otlp_line); agent ${AGENT_SECS}s"
within "$AGENT_SECS" 1.5 7 || fail "e: the agent took ${AGENT_SECS}s for -d 2 with --otlp-flush-timeout 3"
(($(count_status e 200) == 0)) || fail "e: a request was accepted"
late_fail_check
exit 0
