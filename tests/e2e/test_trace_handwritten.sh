#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_trace_handwritten: a context writer that is not sdk/c is read too.
#
# ctx-handwritten (tests/workloads/otel/handwritten.c) writes the OTEP
# structures itself: an "[anon:OTEL_CTX]" mapping (or a memfd named
# OTEL_CTX) with schema tls_v1, service.name=handwritten and key map ["k"],
# and a single static record per thread behind otel_thread_ctx_v1 in the
# executable. Its one thread alternates hw_traced(), under trace
# 11111111111111112222222222222222 / span 3333333333333333 with k=hw, and
# hw_untraced() with the pointer NULL. Profiled with -p at 99 Hz for 8 s:
# >= 95% of hw_traced's samples carry trace_id, span_id and k=hw; none of
# hw_untraced's carry a trace_id, span_id or k; every sample carries
# service.name=handwritten. The folded file (--folded-span) has
# "[span 3333333333333333]" right after the process name, only on stacks
# ending in hw_traced.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins ctx-handwritten

FREQ=99
DUR=8
TRACE=11111111111111112222222222222222
SPAN=3333333333333333

start_workload ctx-handwritten $((DUR + 10))
P=$BG_PID
agent_cpu "$P" -v -F "$FREQ" -d "$DUR" -p "$P" -o "$T/hw.pb.gz" --folded "$T/hw.folded" --folded-span
alive "$P" || fail "ctx-handwritten exited before the profile ended"
check_profile "$T/hw.pb.gz"
trace_samples "$T/hw.pb.gz" >"$T/hw.tsv"
tot=$(awk -F '\t' '{ s += $1 } END { print s + 0 }' "$T/hw.tsv")
read -r nt t < <(leaf_with "$T/hw.tsv" hw_traced "trace_id=$TRACE" "span_id=$SPAN" k=hw)
read -r nu u < <(leaf_with "$T/hw.tsv" hw_untraced '!trace_id' '!span_id' '!k')
svc=$(with_label "$T/hw.tsv" service.name=handwritten)
info "total=$tot hw_traced=$nt (linked: $t) hw_untraced=$nu (unlinked: $u) service.name=$svc; $(link_line)"

# One busy thread: about 790 samples on an idle machine, and all of what
# its CPU time gives on any.
cpu_bounds "$tot" ctx-handwritten "$AGENT_CPU" "$FREQ" "$DUR"
((nt * 100 >= tot * 30 && nu * 100 >= tot * 30)) ||
	fail "hw_traced has $nt and hw_untraced $nu of $tot samples (want >= 30% each)"
((t * 100 >= nt * 95)) ||
	fail "only $t of $nt hw_traced samples carry trace_id=$TRACE span_id=$SPAN k=hw ($(pct "$t" "$nt")%)"
((u == nu)) || fail "$((nu - u)) of $nu hw_untraced samples carry a trace_id, span_id or k"
((svc == tot)) || fail "$svc of $tot samples carry service.name=handwritten"

[[ -s $T/hw.folded ]] || fail "folded file is missing or empty"
grep -q "^ctx-handwritten;\[span $SPAN\];.*;hw_traced [0-9]*$" "$T/hw.folded" ||
	fail "folded has no line 'ctx-handwritten;[span $SPAN];...;hw_traced N'"
# The span frame comes right after the process name and never above
# hw_untraced. (A sample in main between setting the span and calling
# hw_traced carries the span rightly.)
bad=$(grep -F '[span ' "$T/hw.folded" | grep -v -E "^ctx-handwritten;\[span $SPAN\];" | head -n 1)
[[ -n $bad ]] || bad=$(grep -m 1 -E "^ctx-handwritten;\[span $SPAN\];.*;hw_untraced(;[^ ]*)? [0-9]+$" \
	"$T/hw.folded")
[[ -z $bad ]] || fail "folded span frame misplaced or above the wrong function: $bad"
exit 0
