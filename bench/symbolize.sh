#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/symbolize.sh - how fast does emberprof name addresses, next to the
# usual symbolizers?
#
# Every tool names the same BENCH_ADDRS instruction addresses of libc.so.6
# (an even, reproducible spread over its .text, so many fall in inline
# chains), with DWARF from libc6-dbg, in one run each, inline frames on:
#
#   emberprof cold   emberprof symbolize --elf LIBC < addrs   (whole process)
#   emberprof warm   the second pass of emberprof symbolize --passes 2: the
#                    same addresses again with every cache filled, as the
#                    agent sees them after its first profile interval
#   llvm-symbolizer  llvm-symbolizer-14 --inlining --obj=LIBC
#   addr2line        addr2line -i -f -e DEBUGFILE (binutils; given the
#                    build-id debug file, which has the same addresses)
#   eu-addr2line     eu-addr2line -i -f -e LIBC (elfutils; finds the debug
#                    file by build-id itself)
#
# Each runs BENCH_REPS times under GNU time; the table shows the run with the
# median wall time: wall (measured by the shell, to the millisecond), user
# and system seconds and peak RSS. The warm row
# is the time emberprof itself reports for pass 2 (its CPU and RSS are those
# of the whole two-pass process). Then the ratios: llvm-symbolizer's wall time
# over emberprof cold (target > 1, i.e. faster) and over emberprof warm
# (target >= 10), and how many addresses emberprof and llvm-symbolizer name
# identically, as (function, file basename, line) per frame.
#
# Needs objdump and addr2line (binutils), llvm-symbolizer-14 (llvm-14),
# eu-addr2line (elfutils), GNU time (time) and libc6-dbg.
#
# Environment (defaults in brackets):
#   BENCH_ADDRS [20000]  addresses to name
#   BENCH_REPS [3]       runs per tool; the median is shown
#   BENCH_LIBC [/lib/x86_64-linux-gnu/libc.so.6]
#   BENCH_KEEP [0]       1 = keep the scratch directory with every output
#   O [build]            build directory (as in the Makefile), relative to the repo
#   EMBERPROF [$O/emberprof]   LLVM_SYMBOLIZER [llvm-symbolizer-14]
#   TIME_BIN [/usr/bin/time]

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

NADDR=${BENCH_ADDRS:-20000}
REPS=${BENCH_REPS:-3}
LIBC=${BENCH_LIBC:-/lib/x86_64-linux-gnu/libc.so.6}
KEEP=${BENCH_KEEP:-0}
OUT=${O:-build}
case $OUT in
/*) ;;
*) OUT=$ROOT/$OUT ;;
esac
EMBERPROF=${EMBERPROF:-$OUT/emberprof}
LLVM_SYMBOLIZER=${LLVM_SYMBOLIZER:-llvm-symbolizer-14}
TIME_BIN=${TIME_BIN:-/usr/bin/time}

die()
{
	printf 'bench: %s\n' "$*" >&2
	exit 1
}

say()
{
	printf 'bench: %s\n' "$*" >&2
}

case $NADDR$REPS in
*[!0-9]*) die "BENCH_ADDRS and BENCH_REPS must be whole numbers" ;;
esac
((NADDR > 0 && REPS > 0)) || die "BENCH_ADDRS and BENCH_REPS must be > 0"

# --- pre-flight ----------------------------------------------------------------
[[ -x $EMBERPROF ]] || die "$EMBERPROF is missing (run make)"
[[ -r $LIBC ]] || die "$LIBC is missing"
[[ -x $TIME_BIN ]] || die "$TIME_BIN is missing (apt-get install time)"
for tool in objdump readelf addr2line "$LLVM_SYMBOLIZER" eu-addr2line; do
	command -v "$tool" >/dev/null || die "$tool is missing (binutils, llvm-14, elfutils)"
done
"$EMBERPROF" symbolize --help 2>&1 | grep -q -- --passes ||
	die "$EMBERPROF symbolize has no --passes (rebuild emberprof)"
id=$(readelf -n "$LIBC" | awk '/Build ID:/ { print $3; exit }')
DEBUG=/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug
[[ -n $id && -r $DEBUG ]] || die "no debug file for $LIBC (apt-get install libc6-dbg)"

W=$(mktemp -d "${TMPDIR:-/tmp}/emberprof-bench-symbolize.XXXXXX")
cleanup()
{
	if [[ $KEEP == 1 ]]; then
		say "outputs kept in $W"
	else
		rm -rf "$W"
	fi
}
trap cleanup EXIT

# The addresses: every (total / NADDR)th instruction of .text, in order.
objdump -d --no-show-raw-insn -j .text "$LIBC" |
	awk -v want="$NADDR" -f scripts/insn-addrs.awk >"$W/addrs"
n=$(wc -l <"$W/addrs")
((n == NADDR)) || die "only $n instructions in $LIBC's .text"
say "$n addresses of $LIBC (debug info $DEBUG), $REPS runs per tool"

# run NAME CMD...: run CMD on the addresses REPS times under GNU time; keep
# "wall user sys rss_kb" of the median run in $W/NAME.time, its stdout in
# $W/NAME.out and its stderr in $W/NAME.err.
run()
{
	local name=$1 r t0 t1

	shift
	: >"$W/$name.runs"
	for ((r = 1; r <= REPS; r++)); do
		t0=$EPOCHREALTIME
		if ! "$TIME_BIN" -f '%U %S %M' -o "$W/$name.t" "$@" <"$W/addrs" \
			>"$W/$name.out.$r" 2>"$W/$name.err.$r"; then
			die "$name failed: $(head -n 1 "$W/$name.err.$r")"
		fi
		t1=$EPOCHREALTIME
		# Wall time to the millisecond; GNU time's %e has only 10 ms.
		echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') $(tail -n 1 "$W/$name.t") $r" \
			>>"$W/$name.runs"
	done
	sort -n -k1,1 "$W/$name.runs" | sed -n "$(((REPS + 1) / 2))p" >"$W/$name.median"
	read -r _ _ _ _ r <"$W/$name.median"
	cut -d ' ' -f1-4 "$W/$name.median" >"$W/$name.time"
	mv "$W/$name.out.$r" "$W/$name.out"
	mv "$W/$name.err.$r" "$W/$name.err"
}

run ember_cold "$EMBERPROF" symbolize --elf "$LIBC"
run ember_2pass "$EMBERPROF" symbolize --passes 2 --elf "$LIBC"
run llvm "$LLVM_SYMBOLIZER" --inlining --obj="$LIBC"
run addr2line addr2line -i -f -e "$DEBUG"
run eu_addr2line eu-addr2line -i -f -e "$LIBC"

# The warm row: pass 2's own time; CPU unknown, RSS of the whole process.
warm=$(awk '/^pass 2: / { print $3 }' "$W/ember_2pass.err")
[[ -n $warm ]] || die "emberprof --passes 2 printed no 'pass 2: S seconds' line"
read -r _ _ _ rss2 <"$W/ember_2pass.time"
echo "$warm - - $rss2" >"$W/ember_warm.time"

# How many addresses each tool answered: blocks for the llvm-style tools,
# and for addr2line, lines "function / file:line" per frame with no
# separator, so only the number of lines (>= 2 per address) is checked.
blocks()
{
	awk 'BEGIN { RS = "" } END { print NR }' "$1"
}
for f in ember_cold llvm; do
	got=$(blocks "$W/$f.out")
	((got == n)) || die "$f answered $got of $n addresses"
done

# Per address, the frames as "function @ basename:line", for the agreement.
frames()
{
	awk -f scripts/symbolizer-frames.awk "$1"
}
frames "$W/ember_cold.out" >"$W/ember.frames"
frames "$W/llvm.out" >"$W/llvm.frames"
same=$(paste -d '\t' "$W/ember.frames" "$W/llvm.frames" | awk -F '\t' '$1 == $2 { n++ } END { print n + 0 }')
inl=$(grep -c ' | ' "$W/llvm.frames" || true)

printf '\n%-18s %9s %9s %9s %10s\n' tool wall_s user_s sys_s max_rss_MB
for row in "emberprof cold:ember_cold" "emberprof warm:ember_warm" "llvm-symbolizer:llvm" \
	"addr2line:addr2line" "eu-addr2line:eu_addr2line"; do
	read -r wall user sys rss <"$W/${row#*:}.time"
	printf '%-18s %9s %9s %9s %10s\n' "${row%%:*}" "$wall" "$user" "$sys" \
		"$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')"
done

read -r cold _ <"$W/ember_cold.time"
read -r llvm _ <"$W/llvm.time"
ratio()
{
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else printf "inf (below timer resolution)" }'
}
verdict()
{
	awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { r = b > 0 ? a / b : 1e9; print (r >= t ? "met" : "NOT met") }'
}
printf '\n%s addresses, %s with inline frames (per llvm-symbolizer)\n' "$n" "$inl"
printf 'emberprof cold vs llvm-symbolizer: %s faster (target > 1x: %s)\n' \
	"$(ratio "$llvm" "$cold")" "$(awk -v a="$llvm" -v b="$cold" 'BEGIN { print (a > b ? "met" : "NOT met") }')"
printf 'emberprof warm vs llvm-symbolizer: %s faster (target >= 10x: %s)\n' \
	"$(ratio "$llvm" "$warm")" "$(verdict "$llvm" "$warm" 10)"
printf 'emberprof and llvm-symbolizer agree on %s of %s addresses (%s%%)\n' "$same" "$n" \
	"$(awk -v a="$same" -v b="$n" 'BEGIN { printf "%.1f", 100 * a / b }')"
