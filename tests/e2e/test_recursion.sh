#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_recursion: deep stacks without frame pointers, kept up to the cap.
#
# Two recurse-nofp processes run side by side: one 300 calls deep, more
# than the 256 user frames a sample keeps, one 200 deep, less. recurse()
# calls itself and only the bottom (leaf_work) burns CPU, so nearly every
# sample has the whole recursion on its stack. The agent profiles both pids
# at 99 Hz for 6 s; the test then checks, on user frames only:
# - depth 300: the deepest stacks have exactly 256 frames (the cap), >= 90%
#   of the samples are that deep, and those are leaf_work under 254
#   recurse frames with "[unwind stopped: depth limit]" as the outermost
#   (the walk's marker takes the last slot, so the cut shows in the profile);
# - depth 200: >= 95% of the leaf_work samples are whole: leaf_work, 200
#   recurse frames, main and libc's start code down to _start (205 frames);
# - the agent's "walks ended early: depth" counter is (>= 95% of) the
#   number of samples it cut at 256 frames, as the ABI header documents
#   (EMBER_M_UNWIND_DEPTH_CUT: "EMBER_MAX_STACK frames and still going");
# - with --no-dwarf-unwind, a 200-deep frame-pointer build is cut by the
#   kernel at perf_event_max_stack (127) frames: >= 90% of its samples have
#   exactly that many, under an "[unwind stopped: depth limit]" marker.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins recurse-nofp

FREQ=99
DUR=6
CAP=256

start_workload recurse-nofp 30 300
DEEP=$BG_PID
start_workload recurse-nofp 30 200
MID=$BG_PID
agent_ok -v -F "$FREQ" -d "$DUR" -p "$DEEP,$MID" -o "$T/rec.pb.gz"
for p in "$DEEP" "$MID"; do
	alive "$p" || fail "recurse-nofp (pid $p) exited before the profile ended"
done
check_profile "$T/rec.pb.gz"
info "$(unwind_line)"

# Per sample: pid, count, user frames, recurse frames among them, leaf, root.
samples "$T/rec.pb.gz" | awk -F '\t' '
{
	nf = split($7, fr, ";")
	split($8, fl, ";")
	n = r = 0
	leaf = root = ""
	for (i = 1; i <= nf; i++) {
		if (fl[i] == "[kernel.kallsyms]")
			continue
		n++
		if (fr[i] == "recurse")
			r++
		if (root == "")
			root = fr[i]
		leaf = fr[i]
	}
	print $3 "\t" $1 "\t" n "\t" r "\t" leaf "\t" root
}' >"$T/depth.tsv"

# The 300-deep process.
# (A stack may also be whole at exactly the cap: 252 recurse frames on the
# way down, main and libc's three to _start. Only those that end in the
# marker were cut.)
read -r all maxd atcap good cut < <(awk -F '\t' -v pid="$DEEP" -v cap="$CAP" '
	$1 != pid { next }
	{ all += $2; if ($3 > maxd) maxd = $3 }
	$3 == cap { atcap += $2 }
	$3 == cap && $6 ~ /^\[unwind stopped/ { cut += $2 }
	$3 == cap && $4 == cap - 2 && $5 == "leaf_work" && $6 == "[unwind stopped: depth limit]" { good += $2 }
	END { print all + 0, maxd + 0, atcap + 0, good + 0, cut + 0 }' "$T/depth.tsv")
info "depth 300: $all samples, deepest $maxd user frames, $atcap ($(pct "$atcap" "$all")%) at $CAP," \
	"$good of those leaf_work under $((CAP - 2)) recurse and the depth-limit frame"
((all >= 60)) || fail "only $all samples of the 300-deep process (want >= 60)"
((maxd >= CAP)) || fail "the deepest stack of the 300-deep recursion has $maxd user frames (want $CAP)"
((maxd == CAP)) || fail "a stack has $maxd user frames, more than the cap of $CAP"
((atcap * 100 >= all * 90)) ||
	fail "only $atcap of $all samples of the 300-deep recursion have $CAP frames (want >= 90%)"
((good * 100 >= atcap * 95)) ||
	fail "only $good of $atcap $CAP-frame stacks are leaf_work under $((CAP - 2)) recurse frames and [unwind stopped: depth limit]"

# The 200-deep process: whole stacks, 205 frames from leaf_work to _start.
read -r mall mleaf mwhole < <(awk -F '\t' -v pid="$MID" '
	$1 != pid { next }
	{ all += $2 }
	$5 == "leaf_work" { leaf += $2 }
	$5 == "leaf_work" && $3 == 205 && $4 == 200 && $6 == "_start" { whole += $2 }
	END { print all + 0, leaf + 0, whole + 0 }' "$T/depth.tsv")
info "depth 200: $mall samples, $mleaf in leaf_work, $mwhole ($(pct "$mwhole" "$mleaf")%) whole (205 frames to _start)"
((mall >= 60)) || fail "only $mall samples of the 200-deep process (want >= 60)"
((mleaf * 100 >= mall * 90)) || fail "only $mleaf of $mall samples of the 200-deep process in leaf_work"
if ((mwhole * 100 < mleaf * 95)); then
	awk -F '\t' -v pid="$MID" '$1 == pid && $5 == "leaf_work" && !($3 == 205 && $4 == 200 && $6 == "_start") {
		n[$3 " frames, " $4 " recurse, root " $6] += $2 }
		END { for (s in n) print n[s] "\t" s }' "$T/depth.tsv" | sort -rn | head -n 3 >&2
	fail "only $mwhole of $mleaf leaf_work samples of the 200-deep recursion are whole to _start (want >= 95%)"
fi

# Every stack cut at the cap was still going: the agent must count it.
bydepth=$(unwind_stat depth)
info "walks ended early by depth: $bydepth (stacks cut at the cap: $cut, at the cap: $atcap)"
((bydepth * 100 >= cut * 95)) ||
	fail "the agent counted $bydepth walks cut by depth, but $cut samples stopped at $CAP frames with callers left ($(unwind_line))"
# ... and count the samples that carry the marker frame.
stopped=$(sed -n 's/^emberprof: unwind stopped frames: \([0-9]*\) samples.*/\1/p' "$T/agent.err" | tail -n 1)
[[ -n $stopped ]] || fail "no 'unwind stopped frames' line in the agent's -v output"
((stopped >= cut && stopped <= all + mall)) ||
	fail "the agent counted $stopped samples ending in an [unwind stopped] frame (want $cut..$((all + mall)))"

# --no-dwarf-unwind: the kernel's frame-pointer walk (bpf_get_stack) stops
# at kernel.perf_event_max_stack frames and does not say so. The agent marks
# such a stack as cut: the 200-deep frame-pointer build must show
# MAX frames under an "[unwind stopped: depth limit]" root, not a
# shortened stack that looks whole.
require_bins recurse
MAXS=$(cat /proc/sys/kernel/perf_event_max_stack)
start_workload recurse 30 200
FP=$BG_PID
agent_ok -F "$FREQ" -d 3 --no-dwarf-unwind -p "$FP" -o "$T/fp.pb.gz"
read -r fall fcut < <(samples "$T/fp.pb.gz" | awk -F '\t' -v max="$MAXS" '
	{
		nf = split($7, fr, ";"); split($8, fl, ";"); n = 0
		for (i = 1; i <= nf; i++)
			if (fl[i] != "[kernel.kallsyms]" && fr[i] !~ /^\[unwind stopped/)
				n++
		all += $1
		if (fr[1] == "[unwind stopped: depth limit]" && n == max && fr[nf] == "leaf_work")
			cut += $1
	}
	END { print all + 0, cut + 0 }')
info "--no-dwarf-unwind, 200 deep: $fcut of $fall samples are $MAXS user frames under a depth-limit marker"
((fall >= 60)) || fail "--no-dwarf-unwind: only $fall samples of the 200-deep process"
((fcut * 100 >= fall * 90)) ||
	fail "--no-dwarf-unwind: only $fcut of $fall samples are $MAXS frames marked as cut (perf_event_max_stack)"
exit 0
