#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_trace_pprof: samples taken inside a span carry that span in pprof.
#
# spans (tests/workloads/otel/spans.c) runs two threads that loop over
# in_span_a() under span A, in_span_b() under span B and no_span() with no
# span, publishing both OTel contexts through sdk/c. It is built twice, and
# each build is profiled with -p at 99 Hz for 8 s: spans-dyn links
# libotelctx.so (the agent must find the TLS variable through its TLSDESC
# relocation) and spans-le has the SDK compiled in (local-exec). Read back
# with `pprof -raw`, which prints every label:
#   - >= 95% of in_span_a's samples carry trace_id and span_id of span A and
#     http.route=/a (the thread-context attribute, named through the process
#     context's key map); the same for in_span_b and span B;
#   - no_span's samples carry no trace_id, span_id or http.route;
#   - every sample carries service.name=spans-demo (the process context);
#   - the ids are lowercase hex of the right length wherever they appear.
# The folded file written with --folded-span puts "[span b7ad6b7169203331]"
# right after the process name, only on stacks that end in in_span_a (and
# B's only on in_span_b), and >= 95% of in_span_a's folded samples have it.
# The -v report must count the links (when it prints such a counter).

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins spans-dyn spans-le

FREQ=99
DUR=8
TRACE_A=0af7651916cd43dd8448eb211c80319c
SPAN_A=b7ad6b7169203331
TRACE_B=4bf92f3577b34da6a3ce929d0e0e4736
SPAN_B=00f067aa0ba902b7

for wl in spans-dyn spans-le; do
	start_workload "$wl" $((DUR + 10))
	P=$BG_PID
	out=$T/$wl.pb.gz
	folded=$T/$wl.folded
	agent_ok -v -F "$FREQ" -d "$DUR" -p "$P" -o "$out" --folded "$folded" --folded-span
	cp "$T/agent.err" "$T/$wl.agent.err"
	alive "$P" || fail "$wl exited before the profile ended"
	check_profile "$out"
	trace_samples "$out" >"$T/$wl.tsv"
	tot=$(awk -F '\t' '{ s += $1 } END { print s + 0 }' "$T/$wl.tsv")
	read -r na a < <(leaf_with "$T/$wl.tsv" in_span_a \
		"trace_id=$TRACE_A" "span_id=$SPAN_A" http.route=/a)
	read -r nb b < <(leaf_with "$T/$wl.tsv" in_span_b \
		"trace_id=$TRACE_B" "span_id=$SPAN_B" http.route=/b)
	read -r nn n < <(leaf_with "$T/$wl.tsv" no_span '!trace_id' '!span_id' '!http.route')
	svc=$(with_label "$T/$wl.tsv" service.name=spans-demo)
	info "$wl: total=$tot in_span_a=$na (span A: $a) in_span_b=$nb (span B: $b)" \
		"no_span=$nn (unlinked: $n) service.name=$svc; $(link_line)"

	# Two busy threads (about 1580 samples on an idle machine; builds running
	# beside the test take a share), a third of their time in each function.
	((tot >= 100)) || fail "$wl: only $tot samples (want >= 100)"
	for f in "in_span_a:$na" "in_span_b:$nb" "no_span:$nn"; do
		((${f#*:} * 100 >= tot * 20)) ||
			fail "$wl: ${f%%:*} has ${f#*:} of $tot samples (want >= 20%)"
	done
	((a * 100 >= na * 95)) ||
		fail "$wl: only $a of $na in_span_a samples carry trace_id=$TRACE_A span_id=$SPAN_A http.route=/a ($(pct "$a" "$na")%)"
	((b * 100 >= nb * 95)) ||
		fail "$wl: only $b of $nb in_span_b samples carry trace_id=$TRACE_B span_id=$SPAN_B http.route=/b ($(pct "$b" "$nb")%)"
	((n == nn)) || fail "$wl: $((nn - n)) of $nn no_span samples carry a trace_id, span_id or http.route"
	((svc == tot)) || fail "$wl: $svc of $tot samples carry service.name=spans-demo"
	# No sample is attributed to the wrong span, whatever its leaf.
	wrong=$(awk -F '\t' -v ta="$TRACE_A" -v tb="$TRACE_B" '
		{ nf = split($2, fr, ";"); leaf = fr[nf] }
		leaf == "in_span_b" && index($4, " trace_id=" ta " ") { s += $1 }
		leaf == "in_span_a" && index($4, " trace_id=" tb " ") { s += $1 }
		END { print s + 0 }' "$T/$wl.tsv")
	((wrong == 0)) || fail "$wl: $wrong samples of one span's function carry the other span's trace_id"
	bad=$(awk -F '\t' '
		function hexlab(key, len,    v) {
			if (!match($4, " " key "=[^ ]* "))
				return 1
			v = substr($4, RSTART + length(key) + 2, RLENGTH - length(key) - 3)
			return length(v) == len && v ~ /^[0-9a-f]+$/
		}
		!hexlab("trace_id", 32) || !hexlab("span_id", 16) { print; exit }' "$T/$wl.tsv")
	[[ -z $bad ]] || fail "$wl: a trace_id/span_id label is not 32/16 lowercase hex: $bad"

	links=$(link_stat links)
	((links == -1 || links >= a + b)) ||
		fail "$wl: -v counts $links links, the profile has $((a + b)) linked samples"

	# Folded: the span frame right after the process name, never above the
	# other span's function. (A sample may land in worker or in the SDK
	# between setting a span and calling its function: that span is right.)
	[[ -s $folded ]] || fail "$wl: folded file is missing or empty"
	grep -q "^$wl;\[span $SPAN_A\];.*;in_span_a [0-9]*$" "$folded" ||
		fail "$wl: folded has no line '$wl;[span $SPAN_A];...;in_span_a N'"
	grep -q "^$wl;\[span $SPAN_B\];.*;in_span_b [0-9]*$" "$folded" ||
		fail "$wl: folded has no line '$wl;[span $SPAN_B];...;in_span_b N'"
	bad=$(grep -F '[span ' "$folded" | grep -v -E "^$wl;\[span ($SPAN_A|$SPAN_B)\];" | head -n 1)
	[[ -n $bad ]] || bad=$(grep -m 1 -E \
		"^$wl;(\[span $SPAN_A\];.*;in_span_b|\[span $SPAN_B\];.*;in_span_a)(;[^ ]*)? [0-9]+$" "$folded")
	[[ -z $bad ]] || fail "$wl: folded span frame misplaced or above the wrong function: $bad"
	read -r fa fas < <(awk -v s="[span $SPAN_A];" '
		/;in_span_a [0-9]+$/ { n += $NF; if (index($0, s)) m += $NF }
		END { print n + 0, m + 0 }' "$folded")
	((fa > 0 && fas * 100 >= fa * 95)) ||
		fail "$wl: folded: $fas of $fa in_span_a samples under [span $SPAN_A]"
	((fa == na)) || fail "$wl: folded has $fa in_span_a samples, pprof $na"
	fsum=$(folded_sum "$folded")
	((fsum == tot)) || fail "$wl: folded counts sum to $fsum, pprof has $tot"
done
exit 0
