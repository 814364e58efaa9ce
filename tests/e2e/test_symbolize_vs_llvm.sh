#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_symbolize_vs_llvm: `emberprof symbolize --elf` agrees with
# llvm-symbolizer --inlining on 200 real addresses.
#
# The addresses are instruction starts spread evenly over .text (the same
# ones on every run): 50 in build/workloads/inlined, 50 in templated (C++)
# and 100 in libc.so.6, whose DWARF comes from libc6-dbg through its
# build-id. Both tools name each address; an address agrees when both give
# the same frames, innermost first, as (function, file basename, line): the
# column, which emberprof does not give, and the directory, which the two
# spell differently for relative comp_dirs, are left out. A function counts
# as the same when the two names are aliases, symbols at one address of the
# file's full symbol table: glibc exports several names for one function
# (preadv2/preadv64v2) and marks internal ones with __GI_ asm labels, and
# the two tools pick among them by different rules. The test wants at least
# 99% of addresses to agree that way, and reports the strict (letter for
# letter) agreement too. Every disagreement is printed, with a category:
#   alias  the same frames but for a function name, and both names are
#          symbols at one address in the ELF symbol table (printf/__printf)
#   name   only a function name differs, and not by an alias
#   line   only a line differs        file   a file differs
#   depth  a different number of frames (inline chains)
#   unknown  one tool has no function for the address
# Then the live-process path: the inlined and libc addresses as runtime
# addresses of a running inlined process, through `symbolize --pid`, must
# give what --elf gave and agree with llvm-symbolizer as often.
# It needs llvm-symbolizer-14 (llvm-14), objdump, nm and readelf, and root
# or the same user as the workload for /proc/PID/map_files.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_bins inlined templated
LLVM_SYMBOLIZER=${LLVM_SYMBOLIZER:-llvm-symbolizer-14}
LIBC=${LIBC:-/lib/x86_64-linux-gnu/libc.so.6}
command -v "$LLVM_SYMBOLIZER" >/dev/null || fail "$LLVM_SYMBOLIZER is missing (apt-get install llvm-14)"
for tool in objdump nm readelf; do
	command -v "$tool" >/dev/null || fail "$tool is missing (apt-get install binutils)"
done
[[ -r $LIBC ]] || fail "$LIBC is missing"

# debug_file ELF: the file holding ELF's full symbol table (its build-id
# debug file when one is installed, else ELF itself).
debug_file()
{
	local id

	id=$(readelf -n "$1" 2>/dev/null | awk '/Build ID:/ { print $3; exit }')
	if [[ -n $id && -r /usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug ]]; then
		echo "/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug"
	else
		echo "$1"
	fi
}

agree=0
all=0
: >"$T/disagree.txt"
for spec in inlined:"$WL/inlined":50 templated:"$WL/templated":50 libc:"$LIBC":100; do
	IFS=: read -r tag elf count <<<"$spec"
	insn_addrs "$elf" "$count" >"$T/$tag.addrs"
	n=$(wc -l <"$T/$tag.addrs")
	((n == count)) || fail "only $n instruction addresses in $elf (want $count)"
	"$EMBERPROF" symbolize --elf "$elf" <"$T/$tag.addrs" >"$T/$tag.ember" 2>"$T/$tag.ember.err" ||
		fail "emberprof symbolize --elf $elf exited $?: $(head -n 1 "$T/$tag.ember.err")"
	"$LLVM_SYMBOLIZER" --inlining --obj="$elf" <"$T/$tag.addrs" >"$T/$tag.llvm" 2>"$T/$tag.llvm.err" ||
		fail "$LLVM_SYMBOLIZER on $elf exited $?"
	symbolizer_frames "$T/$tag.ember" >"$T/$tag.ember.frames"
	symbolizer_frames "$T/$tag.llvm" >"$T/$tag.llvm.frames"
	for side in ember llvm; do
		got=$(wc -l <"$T/$tag.$side.frames")
		((got == n)) || fail "$side answered $got addresses of $n for $elf"
	done
	# The reference must know these addresses, or the comparison says little.
	known=$(grep -c -v '^?? @' "$T/$tag.llvm.frames")
	((known * 100 >= n * 90)) ||
		fail "llvm-symbolizer names only $known of $n addresses in $elf (debug info missing?)"
	inl=$(grep -c ' | ' "$T/$tag.llvm.frames")
	nm "$(debug_file "$elf")" 2>/dev/null | awk 'NF == 3 { print $1, $3 }' >"$T/$tag.syms"
	info "$tag: $n addresses, $known named and $inl with inline frames by llvm-symbolizer"
	paste -d '\t' "$T/$tag.addrs" "$T/$tag.ember.frames" "$T/$tag.llvm.frames" |
		awk -F '\t' -v tag="$tag" -v syms="$T/$tag.syms" '
		BEGIN {
			while ((getline l < syms) > 0) {
				split(l, p, " ")
				sub(/@.*$/, "", p[2])
				at[p[2]] = at[p[2]] " " p[1]
			}
		}
		# Two names are aliases when some symbol of each sits at one address.
		function alias(a, b,    x, y, i, j, nx, ny) {
			if (!(a in at) || !(b in at))
				return 0
			nx = split(at[a], x, " ")
			ny = split(at[b], y, " ")
			for (i = 1; i <= nx; i++)
				for (j = 1; j <= ny; j++)
					if (x[i] == y[j])
						return 1
			return 0
		}
		function category(e, l,    ne, nl, fe, fl, i, ae, al, cat) {
			ne = split(e, fe, / \| /)
			nl = split(l, fl, / \| /)
			if (fe[1] ~ /^\?\? @/ || fl[1] ~ /^\?\? @/)
				return "unknown"
			if (ne != nl)
				return "depth"
			cat = ""
			for (i = 1; i <= ne; i++) {
				split(fe[i], ae, / @ /)
				split(fl[i], al, / @ /)
				if (ae[2] != al[2]) {
					split(ae[2], xe, ":")
					split(al[2], xl, ":")
					return xe[1] != xl[1] ? "file" : "line"
				}
				if (ae[1] != al[1])
					cat = alias(ae[1], al[1]) && cat != "name" ? "alias" : "name"
			}
			return cat
		}
		$2 == $3 { ok++; next }
		{
			printf "%s %s [%s]\n  emberprof: %s\n  llvm:      %s\n", tag, $1,
				category($2, $3), $2, $3
		}
		END { print ok + 0 > "/dev/stderr" }' >>"$T/disagree.txt" 2>"$T/$tag.ok"
	ok=$(cat "$T/$tag.ok")
	info "$tag: $ok of $n agree"
	agree=$((agree + ok))
	all=$((all + n))
done

aliases=$(grep -c '^[a-z]* 0x[0-9a-f]* \[alias\]' "$T/disagree.txt")
bad=$((all - agree))
if ((bad > 0)); then
	echo "--- $bad disagreements (emberprof symbolize vs $LLVM_SYMBOLIZER --inlining):"
	cat "$T/disagree.txt"
	echo "--- by category:"
	grep -o '^[a-z]* 0x[0-9a-f]* \[[a-z]*\]' "$T/disagree.txt" | awk '{ n[$1 " " $3]++ } END { for (k in n) print "  " k, n[k] }' | sort
fi
same=$((agree + aliases))
info "$agree of $all addresses agree letter for letter ($(pct "$agree" "$all")%);" \
	"$same with aliases counted as the same function ($(pct "$same" "$all")%)"
((same * 100 >= all * 99)) ||
	fail "only $same of $all addresses agree with $LLVM_SYMBOLIZER ($(pct "$same" "$all")%, want >= 99%; see the log)"

# The live-process path: the same inlined and libc addresses, as runtime
# addresses of a running inlined process (its PIE load bias, libc's own,
# and the segments' file offsets from /proc/PID/maps), through
# `symbolize --pid`. Each answer must be what --elf gave, and agree with
# llvm-symbolizer as often.
start_workload inlined 30
PID=$BG_PID
for spec in inlined:"$WL/inlined" libc:"$LIBC"; do
	IFS=: read -r tag elf <<<"$spec"
	python3 - "$PID" "$(readlink -f "$elf")" "$T/$tag.addrs" >"$T/$tag.rt" <<'PY' ||
import subprocess, sys
pid, path, addrs = sys.argv[1], sys.argv[2], sys.argv[3]
segs = []
for line in subprocess.run(["readelf", "-lW", path], capture_output=True, text=True).stdout.splitlines():
    f = line.split()
    if f and f[0] == "LOAD":
        segs.append((int(f[1], 16), int(f[2], 16), int(f[5], 16)))  # offset, vaddr, memsz
maps = []
with open("/proc/%s/maps" % pid) as fh:
    for line in fh:
        f = line.split()
        if len(f) >= 6 and f[5] == path:
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            maps.append((lo, hi, int(f[2], 16)))
for a in open(addrs):
    v = int(a, 16)
    fo = next(o + v - va for o, va, sz in segs if va <= v < va + sz)
    rt = next(lo + fo - off for lo, hi, off in maps if off <= fo < off + hi - lo)
    print("0x%x" % rt)
PY
		fail "cannot place the $tag addresses in pid $PID's mappings of $elf"
	"$EMBERPROF" symbolize --pid "$PID" <"$T/$tag.rt" >"$T/$tag.pid" 2>"$T/$tag.pid.err" ||
		fail "emberprof symbolize --pid $PID exited $?: $(head -n 1 "$T/$tag.pid.err")"
	symbolizer_frames "$T/$tag.pid" >"$T/$tag.pid.frames"
	n=$(wc -l <"$T/$tag.addrs")
	same_elf=$(paste -d '\t' "$T/$tag.pid.frames" "$T/$tag.ember.frames" | awk -F '\t' '$1 == $2' | wc -l)
	pid_llvm=$(paste -d '\t' "$T/$tag.pid.frames" "$T/$tag.llvm.frames" | awk -F '\t' '$1 == $2' | wc -l)
	elf_llvm=$(cat "$T/$tag.ok")
	info "$tag --pid: $same_elf of $n as --elf gave; $pid_llvm agree with llvm-symbolizer (--elf: $elf_llvm)"
	((same_elf == n)) || {
		paste -d '\t' "$T/$tag.rt" "$T/$tag.pid.frames" "$T/$tag.ember.frames" | awk -F '\t' '$2 != $3' | head -n 3 >&2
		fail "$tag: symbolize --pid gave other frames than --elf for $((n - same_elf)) of $n addresses"
	}
	((pid_llvm >= elf_llvm)) || fail "$tag: --pid agrees with llvm-symbolizer on $pid_llvm addresses, --elf on $elf_llvm"
done
exit 0
