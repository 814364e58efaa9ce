#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_clang: whole stacks of clang++, whose libLLVM-14.so.1 and
# libclang-cpp.so.14 have about 950k and 1.0M .eh_frame rows, in a
# whole-system profile at the default unwind-table budget.
#
# A shell loop compiles tests/e2e/data/clang_input.cpp with
# `clang++ -std=c++17 -O2 -c` over and over (about 2 s a compile here;
# clang runs the compiler in-process, so each compile is one process: comm
# clang++, process clang, the exe being /usr/lib/llvm-14/bin/clang). For the
# same time the agent profiles the whole system (no -p) at 99 Hz with -v
# in two 8 s intervals (-i 8). The first is the warm-up: every chunk of
# libLLVM and libclang-cpp a compile walks for the first time is built
# then, and the samples taken before it was are reported, not judged (seen:
# 89-94% reach main). The second interval is judged, and
# `perf record -a --call-graph dwarf` records the whole system in the same
# 8 s, so both tools see the same compiles. Only the loop's own compilers count
# (their pids, from the loop, checked against the samples' process label),
# so that other compilers on the machine change nothing. Both libraries
# must be hot (>= 10% of the samples have their leaf in each), or the test
# would not test their tables. The test checks:
#
# (a) >= 90% of those samples have a user chain that reaches main. A
#     sample in the dynamic loader before main (relocating libLLVM takes a
#     while) or in exit handlers after main has returned is whole without
#     main; whole_counts in lib.sh counts those as reaching it.
#
# (b) The caller chains of the 5 leaves with the most agent samples match
#     perf's. Both tools' chains go through norm_chains (physical frames
#     only, no kernel frames, no parameter lists, cut at main), glibc's
#     malloc family loses the aliases perf and pprof pick differently
#     (__libc_malloc / malloc, __libc_free / cfree@GLIBC_2.2.5), and leading
#     unnamed frames are cut so the leaf is the innermost named function.
#     A chain is then compared on its first NFRAMES (6) frames only: a
#     compiler's stacks are 100-200 frames deep and differ, far from the
#     leaf, from one sample to the next, and perf copies only 16 KiB of
#     stack. A chain that has fewer frames without reaching main stopped
#     early (perf stops at the leaf on some of glibc's malloc samples) and is
#     left out of the comparison; (a) is what checks how often the agent's
#     stop early. "Match" for a leaf: neither tool's most frequent chain
#     (of NFRAMES frames) is significantly rarer in the other tool's samples
#     of that leaf: with the two tools' samples of the leaf pooled, giving
#     the chain a share p, the chance that the other tool's n samples hold
#     it only k times or fewer (the binomial tail) is >= ALPHA (0.001). A
#     leaf called from many places (FoldingSetBase::FindNodeOrInsertPos:
#     its top chain may be 3 of 18 samples) gives a weak test, a leaf with
#     one dominant caller a strong one (InstCombinePass::run: 16 of 22 in
#     one tool and none of perf's 15 would be a tail of 2e-4), and a walk
#     that goes wrong gives chains the other tool does not have at all. So
#     that the check cannot pass by having nothing to compare, at least one
#     of the 5 leaves must also agree outright: the same top chain in both
#     tools, with >= 3 samples and >= 25% of each tool's samples of that
#     leaf. (Seen: InstCombinePass::run, MachineFunctionPass::runOnFunction
#     and SelectionDAG::Combine agree outright whenever they are in the 5.)
#
# (c) The agent's -v "unwind:" line says no file (or part of one) was left
#     without a table for lack of room (unwind_no_room in lib.sh).
#
# The agent before chunked, on-demand tables (one 16-byte row per .eh_frame
# row, every table built when its file was mapped) could not fit both
# libraries in the default 24 MiB: (a) reached 1% and (c) counted 76-87
# files left out. CLANG_TABLE_MB=N runs the agent with --unwind-table-mb N;
# without it the agent gets no such flag and uses its default budget.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
# shellcheck disable=SC2119 # no workload of ours: only the agent and pprof
require_bins

FREQ=99
DUR=8
NFRAMES=6
ALPHA=0.001
TABLE_MB=${CLANG_TABLE_MB:-}

command -v perf >/dev/null || fail "perf is missing (apt-get install linux-perf)"
table_args=()
[[ -n $TABLE_MB ]] && table_args=(--unwind-table-mb "$TABLE_MB")
CLANG_EXE=$(readlink -f "$(command -v clang++)")

# norm_aliases: norm_chains lines on stdin with the malloc family's glibc
# aliases made one name and symbol versions dropped, summed again; then
# the leading unnamed frames ("?") cut off, so that the leaf is the
# innermost named function.
norm_aliases()
{
	awk -F '\t' '
	{
		k = split($2, fr, ";")
		c = ""
		for (j = 1; j <= k; j++) {
			f = fr[j]
			sub(/@.*$/, "", f)
			if (f ~ /^__libc_(malloc|free|calloc|realloc|memalign)$/)
				sub(/^__libc_/, "", f)
			if (f == "cfree")
				f = "free"
			c = c (c == "" ? "" : ";") f
		}
		while (sub(/^\?;/, "", c))
			;
		n[c] += $1
	}
	END { for (c in n) printf "%s\t%s\n", n[c], c }' | sort -t "$(printf '\t')" -k1,1nr -k2,2
}

# judge LEAF EMBER PERF: compares the chains of LEAF in the two files of
# norm_aliases lines, as the header says. Prints one line:
#   VERDICT E_TOP E_N E_IN_P E_TAIL P_TOP P_N P_IN_E P_TAIL E_CMP P_CMP E_CHAIN P_CHAIN
# separated by tabs. VERDICT is "strong" (the same top chain, each >= 3
# samples and >= 25% of its tool's comparable samples), "ok", or "differ"
# (a tail below ALPHA); E_TOP is the agent's top chain's samples, E_N the
# agent's comparable samples of the leaf, E_IN_P that chain's samples in
# perf, E_TAIL its binomial tail; P_* the same the other way; E_CMP and
# P_CMP are "comparable/all" samples of the leaf.
judge()
{
	awk -F '\t' -v leaf="$1" -v nf="$NFRAMES" -v alpha="$ALPHA" '
	# The first nf frames of c, or "" if c stopped before them short of main.
	function head(c,    fr, k, i, o) {
		k = split(c, fr, ";")
		if (k < nf && fr[k] != "main")
			return ""
		o = fr[1]
		for (i = 2; i <= k && i <= nf; i++)
			o = o ";" fr[i]
		return o
	}
	# P(X <= k) for X ~ Binomial(n, p).
	function tail(k, n, p,    i, t, s) {
		if (p >= 1)
			return k >= n ? 1 : 0
		t = (1 - p) ^ n
		s = t
		for (i = 1; i <= k; i++) {
			t *= (n - i + 1) / i * p / (1 - p)
			s += t
		}
		return s
	}
	FNR == 1 { f++ }
	{
		split($2, fr, ";")
		if (fr[1] != leaf)
			next
		all[f] += $1
		h = head($2)
		if (h == "")
			next
		cnt[f, h] += $1
		n[f] += $1
		keys[h]
	}
	END {
		for (h in keys) {
			if (cnt[1, h] > b1 || (cnt[1, h] == b1 && h < c1)) {
				b1 = cnt[1, h]
				c1 = h
			}
			if (cnt[2, h] > b2 || (cnt[2, h] == b2 && h < c2)) {
				b2 = cnt[2, h]
				c2 = h
			}
		}
		e_in_p = cnt[2, c1] + 0
		p_in_e = cnt[1, c2] + 0
		pool = n[1] + n[2]
		e_tail = pool ? tail(e_in_p, n[2] + 0, (b1 + e_in_p) / pool) : 1
		p_tail = pool ? tail(p_in_e, n[1] + 0, (b2 + p_in_e) / pool) : 1
		v = "ok"
		if (c1 != "" && c1 == c2 && b1 >= 3 && b2 >= 3 && b1 * 4 >= n[1] && b2 * 4 >= n[2])
			v = "strong"
		if (e_tail < alpha || p_tail < alpha)
			v = "differ"
		printf "%s\t%d\t%d\t%d\t%.2g\t%d\t%d\t%d\t%.2g\t%d/%d\t%d/%d\t%s\t%s\n", v, b1, n[1],
			e_in_p, e_tail, b2, n[2], p_in_e, p_tail, n[1], all[1], n[2], all[2], c1, c2
	}' "$2" "$3"
}

clang_loop_start $((2 * DUR + 20))
# -B and -N: no build ids, so perf neither reads every DSO at the end nor
# copies libLLVM into ~/.debug. perf records the second interval only.
# shellcheck disable=SC2016 # the inner shell expands its own $1..$4
start_bg bash -c 'sleep "$1"; exec perf record -q -e cpu-clock -F "$2" -a \
	--call-graph dwarf,16384 -B -N -o "$3" -- sleep "$4"' perf_late "$DUR" "$FREQ" \
	"$T/perf.data" "$DUR"
PERF_PID=$BG_PID
mkdir -p "$T/i"
agent_ok -v -F "$FREQ" -d $((2 * DUR)) -i "$DUR" "${table_args[@]}" -o "$T/i/clang-%n.pb.gz"
wait "$PERF_PID" || fail "perf record -a failed"
clang_loop_stop
clang_compiles_ok
mapfile -t files < <(printf "%s\n" "$T"/i/clang-*.pb.gz | sort -V)
((${#files[@]} >= 2)) || fail "-i $DUR -d $((2 * DUR)) wrote ${#files[@]} profile(s), want 2"
check_profile "${files[0]}"
labeled_chains "${files[0]}" | of_pids "$T/clang.pids" >"$T/warm.tsv"
read -r w_all w_whole w_outside < <(whole_counts "$T/warm.tsv")
info "first interval (tables built as samples land): $((w_whole + w_outside)) of $w_all" \
	"samples ($(pct $((w_whole + w_outside)) "$w_all")%) reach main; judged: the second"
cp "${files[1]}" "$T/clang.pb.gz"
check_profile "$T/clang.pb.gz"
info "$CLANG_DONE compiles finished in the loop; agent run ${AGENT_SECS}s${TABLE_MB:+ with --unwind-table-mb $TABLE_MB}"
info "$(unwind_line)"

labeled_chains "$T/clang.pb.gz" >"$T/ember.all.tsv"
of_pids "$T/clang.pids" <"$T/ember.all.tsv" >"$T/ember.tsv"
perf_pid_chains "$T/perf.data" | of_pids "$T/clang.pids" >"$T/perf.tsv"

# The loop's samples and their labels: process is the exe's name (clang),
# comm what exec was given (clang++; bash for a sample taken before exec).
read -r n_all n_proc n_comm < <(awk -F '\t' -v exe="${CLANG_EXE##*/}" '
	{ all += $1 }
	$5 == exe { proc += $1 }
	$4 == "clang++" { comm += $1 }
	END { print all + 0, proc + 0, comm + 0 }' "$T/ember.tsv")
others=$(awk -F '\t' 'NR == FNR { mine[$1]; next }
	!($3 in mine) && ($4 ~ /^clang/ || $5 ~ /^clang/) { n += $1 } END { print n + 0 }' \
	"$T/clang.pids" "$T/ember.all.tsv")
info "the loop's $(wc -l <"$T/clang.pids") clang++ pids: $n_all samples, process=${CLANG_EXE##*/} $n_proc," \
	"comm=clang++ $n_comm; other clang samples on the machine (not counted): $others"
((n_all >= 300)) || fail "only $n_all samples of the clang++ loop in ${DUR}s at $FREQ Hz (want >= 300)"
((n_proc * 100 >= n_all * 95)) ||
	late_fail "only $n_proc of the loop's $n_all samples carry process=${CLANG_EXE##*/}"

# Where the loop's samples land: the file of the leaf frame, and how many
# of each reach main. Both large libraries must be hot, or the test would
# not test their tables.
samples "$T/clang.pb.gz" | of_pids "$T/clang.pids" | awk -F '\t' '
	{
		n = split($8, files, ";")
		lib = n ? files[n] : "(none)"
		sub(/^.*\//, "", lib)
		if (lib != "libLLVM-14.so.1" && lib != "libclang-cpp.so.14")
			lib = "other"
		all[lib] += $1
		if ($7 ~ /(^|;)main(;|$)/)
			whole[lib] += $1
	}
	END { for (l in all) printf "%s\t%d\t%d\n", l, all[l], whole[l] }' | sort >"$T/libs.tsv"
while IFS=$'\t' read -r lib n whole; do
	info "leaf in $lib: $n samples ($(pct "$n" "$n_all")%), $whole of them reach main ($(pct "$whole" "$n")%)"
done <"$T/libs.tsv"
for lib in libLLVM-14.so.1 libclang-cpp.so.14; do
	n=$(awk -F '\t' -v l="$lib" '$1 == l { print $2 }' "$T/libs.tsv")
	((${n:-0} * 100 >= n_all * 10)) ||
		late_fail "only ${n:-0} of $n_all clang samples have their leaf in $lib (want >= 10%): does $CLANG_INPUT still exercise it?"
done

# (a) The agent's chains reach main (or are whole before or after it).
read -r e_all e_main e_out < <(whole_counts "$T/ember.tsv")
read -r p_all p_main _ < <(whole_counts "$T/perf.tsv")
e_whole=$((e_main + e_out))
info "(a) reach main: emberprof $e_main of $e_all ($(pct "$e_main" "$e_all")%), and $e_out more" \
	"whole in ld.so before main or in exit after it: $e_whole ($(pct "$e_whole" "$e_all")%);" \
	"perf (16 KiB of stack copied) $p_main of $p_all ($(pct "$p_main" "$p_all")%)"
if ((e_whole * 100 < e_all * 90)); then
	late_fail "only $e_whole of $e_all clang samples ($(pct "$e_whole" "$e_all")%) reach main (want >= 90%)"
	info "where the samples that do not reach main stop:"
	not_whole "$T/clang.pb.gz" "$T/clang.pids"
fi

# (b) The caller chains of the top 5 leaves agree with perf's.
((p_all > 0)) || fail "perf recorded no sample of the clang++ loop ($(head -n 1 "$T/perf-script.err"))"
cut -f 1,2 "$T/ember.tsv" | norm_chains | norm_aliases >"$T/ember.norm"
cut -f 1,2 "$T/perf.tsv" | norm_chains | norm_aliases >"$T/perf.norm"
awk -F '\t' '{ split($2, fr, ";"); if (fr[1] != "?") n[fr[1]] += $1 }
	END { for (l in n) printf "%s\t%s\n", n[l], l }' "$T/ember.norm" |
	sort -t "$(printf '\t')" -k1,1nr -k2,2 | head -n 5 >"$T/leaves.tsv"
strong=0
while IFS=$'\t' read -r n leaf; do
	IFS=$'\t' read -r v e1 en ep et p1 pn pe pt ecmp pcmp ec pc < <(judge "$leaf" "$T/ember.norm" "$T/perf.norm")
	info "(b) $leaf ($n samples): $v; emberprof top $e1/$en, in perf $ep/$pn (tail $et);" \
		"perf top $p1/$pn, in emberprof $pe/$en (tail $pt); comparable: emberprof $ecmp, perf $pcmp"
	info "    emberprof: $ec"
	info "    perf:      $pc"
	case $v in
	strong) strong=$((strong + 1)) ;;
	differ) late_fail "the chains of '$leaf' differ: emberprof's top ($e1 of $en) $ec is in $ep of perf's $pn; perf's top ($p1 of $pn) $pc in $pe of emberprof's $en" ;;
	esac
done <"$T/leaves.tsv"
(($(wc -l <"$T/leaves.tsv") == 5)) || late_fail "fewer than 5 named leaves in the clang samples"
((strong >= 1)) ||
	late_fail "none of the 5 top leaves has the same dominant chain in both tools (too few comparable samples?)"

# (c) No table was left out for lack of room.
room=$(unwind_no_room)
if ((room < 0)); then
	late_fail "no 'unwind:' line with a 'left out'/'no room' count in emberprof -v output: $(unwind_line)"
elif ((room > 0)); then
	late_fail "$room file(s) or parts left without a table for lack of room: $(unwind_line)"
fi
info "(c) left without a table for lack of room: $room"
late_fail_check
exit 0
