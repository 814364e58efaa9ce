#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_inline: inlined frames carry their own function, file and line.
#
# The workload inlined forces mix_step() inline into caller_one(),
# caller_two() and caller_three(), which run it 3, 2 and 1 units a call,
# picked at random. The agent profiles that pid at 99 Hz for 6 s; through
# `pprof -traces -lines` the test then checks that every sample in mix_step
# shows it as an inline frame of inlined.c at a line of its body, most of
# them at the marked line of its loop, called from one of the callers at
# exactly the marked line of the call, itself called from main; that the
# callers' shares are those the workload timed itself, in CPU time (near
# 50/33/17; ±5 points); and that the workload's Mapping says it has functions, files,
# lines and inline frames (`pprof -raw` prints those flags as
# [FN][FL][LN][IN]). Expected lines are read from the source's /* LINE:... */
# markers.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins inlined

FREQ=99
DUR=6
SRC=$ROOT/tests/workloads/inlined.c

[[ -r $SRC ]] || fail "$SRC is missing"
mix_line=$(marker_line "$SRC" mix_step)
# mix_step's body: from its definition to the first closing brace after it.
read -r body_lo body_hi < <(awk '
	!lo && /^static .*mix_step\(/ { lo = NR }
	lo && /^}/ { print lo, NR; exit }' "$SRC")
[[ -n ${body_hi:-} ]] || fail "cannot find mix_step's definition in $SRC"
declare -A call_line
for c in caller_one caller_two caller_three; do
	call_line[$c]=$(marker_line "$SRC" "$c")
done
info "mix_step body $body_lo-$body_hi, loop line $mix_line;" \
	"calls at ${call_line[caller_one]}/${call_line[caller_two]}/${call_line[caller_three]}"

start_workload inlined 20 >"$T/inlined.out"
PID=$BG_PID
agent_cpu "$PID" -F "$FREQ" -d "$DUR" -p "$PID" -o "$T/inline.pb.gz"
alive "$PID" || fail "inlined exited before the profile ended"
# The workload's own timing of its callers: the shares the profile must show.
kill -USR1 "$PID"
for ((i = 0; i < 50; i++)); do
	[[ -s $T/inlined.out ]] && break
	sleep 0.1
done
read -r timed <"$T/inlined.out" || fail "inlined printed no timing on SIGUSR1"
[[ $timed =~ ^caller_one=([0-9]+)\ caller_two=([0-9]+)\ caller_three=([0-9]+)$ ]] ||
	fail "inlined printed '$timed', not its callers' shares"
want_one=${BASH_REMATCH[1]} want_two=${BASH_REMATCH[2]} want_three=${BASH_REMATCH[3]}
check_profile "$T/inline.pb.gz"

traces_lines "$T/inline.pb.gz" >"$T/traces.tsv"
tot=$(awk -F '\t' '{ s += $1 } END { print s + 0 }' "$T/traces.tsv")
cpu_bounds "$tot" inlined "$AGENT_CPU" "$FREQ" "$DUR"

# One line per stack whose leaf is mix_step: its verdict, its count, the caller.
awk -F '\t' -v lo="$body_lo" -v hi="$body_hi" -v mix="$mix_line" \
	-v l1="${call_line[caller_one]}" -v l2="${call_line[caller_two]}" \
	-v l3="${call_line[caller_three]}" '
BEGIN { want["caller_one"] = l1; want["caller_two"] = l2; want["caller_three"] = l3 }
{
	split($2, fr, ";")
	split(fr[1], leaf, "|")
	if (leaf[1] != "mix_step")
		next
	split(fr[2], up, "|")
	why = ""
	if (leaf[4] != 1)
		why = "mix_step not marked inline"
	else if (leaf[2] != "inlined.c")
		why = "mix_step in file " leaf[2]
	else if (leaf[3] < lo || leaf[3] > hi)
		why = "mix_step at line " leaf[3] ", outside its body " lo "-" hi
	else if (!(up[1] in want))
		why = "mix_step called from " up[1]
	else if (up[2] != "inlined.c" || up[3] != want[up[1]])
		why = up[1] " at " up[2] ":" up[3] " (want inlined.c:" want[up[1]] ")"
	else if (up[4] != 0)
		why = up[1] " marked inline"
	print (why == "" ? "ok" : "bad") "\t" $1 "\t" up[1] "\t" (leaf[3] == mix ? 1 : 0) "\t" why "\t" $2
}' "$T/traces.tsv" >"$T/mix.tsv"

mix=$(awk -F '\t' '{ s += $2 } END { print s + 0 }' "$T/mix.tsv")
((mix * 100 >= tot * 90)) ||
	fail "mix_step is the inline leaf of $mix of $tot samples (want >= 90%)"
bad=$(awk -F '\t' '$1 == "bad"' "$T/mix.tsv" | head -n 1)
[[ -z $bad ]] || fail "wrong inline chain: $(cut -f5,6 <<<"$bad")"
at_mix=$(awk -F '\t' '$4 == 1 { s += $2 } END { print s + 0 }' "$T/mix.tsv")
# The loop's statement line holds most of the loop's instructions; the rest
# sit on the for line. Seen: 55-60%.
((at_mix * 100 >= mix * 30)) ||
	fail "only $at_mix of $mix mix_step samples at line $mix_line (LINE:mix_step; want >= 30%)"

read -r one two three < <(awk -F '\t' '
	{ n[$3] += $2 }
	END { print n["caller_one"] + 0, n["caller_two"] + 0, n["caller_three"] + 0 }' "$T/mix.tsv")
info "total=$tot mix_step=$mix (at line $mix_line: $at_mix) one/two/three=$one/$two/$three;" \
	"timed by the workload: $timed"
shares_within 5 caller_one:"$want_one":"$one" caller_two:"$want_two":"$two" \
	caller_three:"$want_three":"$three"

# The callers are real frames of their own, called from main.
read -r under_main < <(awk -F '\t' '
	{ split($6, fr, ";"); split(fr[3], f3, "|") }
	f3[1] == "main" { s += $2 }
	END { print s + 0 }' "$T/mix.tsv")
((under_main * 100 >= mix * 99)) ||
	fail "only $under_main of $mix mix_step samples have the chain main -> caller_x -> mix_step"

# Mapping flags: has_functions, has_filenames, has_line_numbers, has_inline_frames.
mline=$(pp -raw "$T/inline.pb.gz" | awk -v f="$WL/inlined" '
	/^Mappings$/ { m = 1; next }
	m && $3 == f { print; exit }')
[[ -n $mline ]] || fail "no Mapping for $WL/inlined in pprof -raw"
for flag in FN FL LN IN; do
	[[ $mline == *"[$flag]"* ]] || fail "Mapping of inlined lacks [$flag]: $mline"
done
exit 0
