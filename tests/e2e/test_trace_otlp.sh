#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_trace_otlp: over OTLP, samples inside a span link to it.
#
# The spans workload (see test_trace_pprof.sh), both builds (spans-dyn:
# TLSDESC, spans-le: local-exec), each profiled with -p at 99 Hz for 8 s
# and sent with --otlp-endpoint to tests/otlp/receiver.py on 127.0.0.1. The
# one request must decode with protoc against proto/ and with
# tests/otlp/otlp.py's decoder, every index in range. Then:
#   - >= 95% of the samples whose leaf is in_span_a have a link_index whose
#     link_table entry is span A's 16 + 8 bytes (trace
#     0af7651916cd43dd8448eb211c80319c, span b7ad6b7169203331) and the
#     sample attribute http.route=/a; the same for in_span_b and span B;
#   - every no_span sample has link_index 0 and no http.route;
#   - link_table holds entry 0 (zeros), span A and span B, and nothing else
#     that a sample uses;
#   - the process's resource has service.name=spans-demo and
#     deployment.environment=test (from the process context), besides its
#     process.pid.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins spans-dyn spans-le
[[ -f $OTLP_RECEIVER && -f $OTLP_PY ]] || fail "tests/otlp/receiver.py or otlp.py is missing"

FREQ=99
DUR=8
TRACE_A=0af7651916cd43dd8448eb211c80319c
SPAN_A=b7ad6b7169203331
TRACE_B=4bf92f3577b34da6a3ce929d0e0e4736
SPAN_B=00f067aa0ba902b7

cd "$T" || fail "cannot cd to $T"
for wl in spans-dyn spans-le; do
	recv=$T/recv-$wl
	start_receiver "$recv"
	start_workload "$wl" $((DUR + 10))
	P=$BG_PID
	agent_ok -v -F "$FREQ" -d "$DUR" -p "$P" --otlp-endpoint "http://127.0.0.1:$RECV_PORT"
	cp "$T/agent.err" "$T/$wl.agent.err"
	alive "$P" || fail "$wl exited before the profile ended"
	wait_requests "$recv" 1 5 || fail "$wl: no request reached the receiver ($(otlp_line))"
	body=$recv/0001.body
	protoc_decode "$body" >"$T/$wl.txt"
	otlp_trace_samples "$body" >"$T/$wl.otlp.tsv" 2>"$T/otlp.err" ||
		fail "$wl: $(sed 's/^fail: //' "$T/otlp.err" | head -n 1)"

	tot=$(PID=$P awk -F '\t' '$1 == "S" && $2 == ENVIRON["PID"] { s += $3 } END { print s + 0 }' \
		"$T/$wl.otlp.tsv")
	read -r na a < <(PID=$P otlp_leaf_with "$T/$wl.otlp.tsv" in_span_a "$TRACE_A" "$SPAN_A" http.route=/a)
	read -r nb b < <(PID=$P otlp_leaf_with "$T/$wl.otlp.tsv" in_span_b "$TRACE_B" "$SPAN_B" http.route=/b)
	read -r nn n < <(PID=$P otlp_leaf_with "$T/$wl.otlp.tsv" no_span - -)
	nroute=$(awk -F '\t' -v pid="$P" '$1 == "S" && $2 == pid && $4 == "no_span" && index($7, " http.route=") { s += $3 }
		END { print s + 0 }' "$T/$wl.otlp.tsv")
	info "$wl: total=$tot in_span_a=$na (span A: $a) in_span_b=$nb (span B: $b) no_span=$nn (link 0: $n)"

	((tot >= 100)) || fail "$wl: only $tot samples of pid $P in the request (want >= 100)"
	for f in "in_span_a:$na" "in_span_b:$nb" "no_span:$nn"; do
		((${f#*:} * 100 >= tot * 20)) ||
			fail "$wl: ${f%%:*} has ${f#*:} of $tot samples (want >= 20%)"
	done
	((a * 100 >= na * 95)) ||
		fail "$wl: only $a of $na in_span_a samples link to $TRACE_A/$SPAN_A with http.route=/a ($(pct "$a" "$na")%)"
	((b * 100 >= nb * 95)) ||
		fail "$wl: only $b of $nb in_span_b samples link to $TRACE_B/$SPAN_B with http.route=/b ($(pct "$b" "$nb")%)"
	((n == nn)) || fail "$wl: $((nn - n)) of $nn no_span samples have a link_index other than 0"
	((nroute == 0)) || fail "$wl: $nroute no_span samples carry http.route"
	# Links the samples use: span A's and span B's only.
	other=$(awk -F '\t' -v a="$TRACE_A/$SPAN_A" -v b="$TRACE_B/$SPAN_B" '
		$1 == "S" && $5 != "-" && $5 "/" $6 != a && $5 "/" $6 != b { print $5 "/" $6; exit }' \
		"$T/$wl.otlp.tsv")
	[[ -z $other ]] || fail "$wl: a sample links to $other, neither span A nor span B"

	res=$(awk -F '\t' -v pid="$P" '$1 == "R" && $2 == pid { print $3 }' "$T/$wl.otlp.tsv")
	[[ -n $res ]] || fail "$wl: no resource_profiles with process.pid=$P"
	for kv in service.name=spans-demo deployment.environment=test; do
		[[ $res == *" $kv "* ]] || fail "$wl: resource of pid $P lacks $kv:$res"
	done
	# protoc agrees that the link table holds span A's bytes.
	grep -q 'trace_id: "\\n\\367e\\031\\026\\315C\\335\\204H\\353!\\034\\2001\\234"' "$T/$wl.txt" ||
		fail "$wl: protoc's decoding shows no link with span A's trace_id bytes"
done
exit 0
