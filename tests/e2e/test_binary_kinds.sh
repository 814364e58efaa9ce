#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_binary_kinds: the kinds of binary a fleet runs that the other tests
# do not, profiled together by pid at 199 Hz for 3 s (those under
# --debug-dir in a run of their own) and each judged on its own samples.
# Built here from
# tests/workloads/cpusplit.c (two busy workers, 6:3:1 in work_a, work_b and
# work_c) unless said otherwise:
#   1. stripped (no .symtab, no DWARF), its debug file only under
#      --debug-dir DIR/.build-id/: work_a is the hottest function, with its
#      source file and line; without --debug-dir it is not named at all;
#   2. stripped, with a .gnu_debuglink to a debug file beside it: work_a is
#      named, with its line; and stripped with MiniDebugInfo (.gnu_debugdata,
#      as Fedora and RHEL ship binaries): work_a is named;
#   3. static (gcc -static) without frame pointers, which has .eh_frame but
#      no .eh_frame_hdr, and a frame-pointer build with no .eh_frame at all:
#      in each, work_a is the hottest function and >= 95% of its samples
#      have worker <- run_round <- work_a;
#   4. a Go program (tests/workloads/go/spin.go, go build from Debian's
#      golang-go): main.hot holds >= 80% of samples and >= 95% of those
#      reach runtime.goexit <- runtime.main (main.main itself is lost: a
#      frame-pointer step out of a frameless leaf skips its caller, which
#      no walker can tell from the registers);
#   5. an executable deleted while it runs: its samples keep their names
#      (work_a hottest), read through /proc/PID/map_files;
#   6. one build ID in two files: the stripped copy of 1, started (and
#      read) first, then the full file: the stripped one's samples are
#      named, with lines, from the full file.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
# shellcheck disable=SC2119 # the binaries are built here, not by make
require_bins
SRC=$ROOT/tests/workloads/cpusplit.c
for tool in gcc objcopy strip readelf go; do
	command -v "$tool" >/dev/null || fail "$tool is missing (make test-deps)"
done

# hottest FILE: the function with the most flat samples in FILE.
hottest()
{
	pp_top "$1" | sort -t "$(printf '\t')" -k2,2nr | head -n 1 | cut -f1
}

# run_kind NAME CMD... : starts CMD, profiles it by pid into $T/NAME.pb.gz
# (with AGENT_ARGS, if any) and stops it.
# start_kind NAME CMD...: starts CMD, one of the kinds the next
# profile_kinds run profiles.
KINDS=()
declare -A KIND_PID
start_kind()
{
	local name=$1

	shift
	start_bg "$@"
	KINDS+=("$name")
	KIND_PID[$name]=$BG_PID
}

# profile_kinds ARGS...: one agent run (ARGS added) over every kind started
# since the last, then T/NAME.pb.gz holds each kind's samples alone.
profile_kinds()
{
	local name pids=""

	sleep 0.5
	for name in "${KINDS[@]}"; do
		alive "${KIND_PID[$name]}" || fail "$name did not start"
		pids+=${pids:+,}${KIND_PID[$name]}
	done
	agent_ok -F 199 -d 3 -p "$pids" "$@" -o "$T/kinds.pb.gz"
	check_profile "$T/kinds.pb.gz"
	for name in "${KINDS[@]}"; do
		alive "${KIND_PID[$name]}" || fail "$name exited before the profile ended"
		kill "${KIND_PID[$name]}"
		pid_profile "$T/kinds.pb.gz" "${KIND_PID[$name]}" "$T/$name.pb.gz"
		check_profile "$T/$name.pb.gz"
	done
	KINDS=()
}

# line_of FILE FUNC: "BASENAME:LINE" of FUNC's hottest line in FILE, or empty.
line_of()
{
	pp -lines -top -nodecount=1000 "$1" | awk -v f="$2" '$6 == f && $7 ~ /:[0-9]+$/ {
		n = split($7, p, "/"); print p[n]; exit }'
}

mkdir -p "$T/bin" "$T/dbg/.build-id" "$T/link" "$T/mini" "$T/go" "$T/del"
gcc -O1 -g -pthread -fno-inline -o "$T/bin/full" "$SRC" || fail "cannot build $SRC"
# The agent shares one module among files of one build ID, and the first
# one opened is the one it reads, so the kinds profiled together that
# would share full's each get a build ID of their own.
for k in nodebug deleted; do
	gcc -O1 -g -pthread -fno-inline "-Wl,--build-id=0x$(printf '%s' "$k" | sha1sum | cut -c1-40)" \
		-o "$T/bin/full-$k" "$SRC" || fail "cannot build $SRC for $k"
done

# 1. The debug file under --debug-dir's .build-id tree.
bid=$(readelf -n "$T/bin/full" | awk '/Build ID:/ { print $3 }')
[[ -n $bid ]] || fail "no build ID in $T/bin/full"
mkdir -p "$T/dbg/.build-id/${bid:0:2}"
objcopy --only-keep-debug "$T/bin/full" "$T/dbg/.build-id/${bid:0:2}/${bid:2}.debug"
strip --strip-all -o "$T/bin/stripped" "$T/bin/full"

# 2. A .gnu_debuglink (and no build ID, so nothing else finds the debug
# file), and MiniDebugInfo: the function symbols that .dynsym lacks, in an
# xz'd ELF file in .gnu_debugdata.
objcopy --only-keep-debug "$T/bin/full" "$T/link/linked.debug"
strip --strip-all -o "$T/link/linked" "$T/bin/full"
(cd "$T/link" && objcopy --add-gnu-debuglink=linked.debug linked) || fail "cannot add a debuglink"
# A build ID would find the file without the link: take it away.
objcopy --remove-section .note.gnu.build-id "$T/link/linked"
command -v xz >/dev/null || fail "xz is missing (apt-get install xz-utils)"
nm -D "$T/bin/full" --format=posix --defined-only | awk '{ print $1 }' | sort >"$T/mini/dynsyms"
nm "$T/bin/full" --format=posix --defined-only | awk '$2 ~ /^[TtWw]$/ { print $1 }' | sort >"$T/mini/funcsyms"
comm -13 "$T/mini/dynsyms" "$T/mini/funcsyms" >"$T/mini/keep"
objcopy --only-keep-debug "$T/bin/full" "$T/mini/debug"
objcopy -S --remove-section .gdb_index --remove-section .comment \
	--keep-symbols="$T/mini/keep" "$T/mini/debug" "$T/mini/symtab"
xz "$T/mini/symtab"
strip --strip-all -o "$T/mini/minidebuginfo" "$T/bin/full"
objcopy --add-section .gnu_debugdata="$T/mini/symtab.xz" "$T/mini/minidebuginfo" ||
	fail "cannot add .gnu_debugdata"

# 3. Static, without frame pointers: ld writes no .eh_frame_hdr for it, so
# the table comes from .eh_frame's own FDEs. And frame pointers only: a
# frame-pointer build with its .eh_frame removed.
gcc -O2 -g -static -pthread -fomit-frame-pointer -fno-inline -o "$T/bin/static" "$SRC" ||
	fail "cannot build $SRC -static (libc6-dev has libc.a)"
readelf -lW "$T/bin/static" | grep -q INTERP && fail "$T/bin/static has an interpreter"
gcc -O1 -g -pthread -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer -fno-inline \
	-o "$T/bin/fp" "$SRC" || fail "cannot build $SRC with frame pointers"
objcopy --remove-section .eh_frame --remove-section .eh_frame_hdr "$T/bin/fp" "$T/bin/fp-only"

# 4. Go.
(cd "$ROOT/tests/workloads/go" && GO111MODULE=off GOCACHE=$ROOT/build/gocache \
	go build -o "$T/go/spin" spin.go) || fail "go build of tests/workloads/go/spin.go failed"

# The run with --debug-dir: the stripped binary alone (MiniDebugInfo's
# shares its build ID, and would find the debug file there too).
start_kind debugdir "$T/bin/stripped" 20
profile_kinds --debug-dir "$T/dbg"

# Every other kind in one run, 6.'s stripped copy first: MiniDebugInfo's
# and the full file share its build ID. 5. The executable deleted once it runs.
start_kind sharedstripped "$T/bin/stripped" 20
strip --strip-all -o "$T/bin/nodebug" "$T/bin/full-nodebug"
start_kind nodebug "$T/bin/nodebug" 20
start_kind debuglink "$T/link/linked" 20
start_kind minidebuginfo "$T/mini/minidebuginfo" 20
start_kind static "$T/bin/static" 20
start_kind fp-only "$T/bin/fp-only" 20
start_kind go "$T/go/spin" 20
start_kind sharedfull "$T/bin/full" 20
cp "$T/bin/full-deleted" "$T/del/gone"
start_kind deleted "$T/del/gone" 20
sleep 0.5
rm -f "$T/del/gone"
[[ $(readlink "/proc/${KIND_PID[deleted]}/exe") == *"(deleted)" ]] ||
	fail "the executable is not shown deleted"
profile_kinds

[[ $(hottest "$T/debugdir.pb.gz") == work_a ]] ||
	fail "--debug-dir: hottest is '$(hottest "$T/debugdir.pb.gz")', want work_a"
line=$(line_of "$T/debugdir.pb.gz" work_a)
[[ $line == cpusplit.c:* ]] || fail "--debug-dir: work_a has no cpusplit.c line ('$line')"
info "--debug-dir: work_a at $line"
(($(flat "$T/nodebug.pb.gz" work_a) == 0)) ||
	fail "work_a is named in a stripped binary with no debug file: is the test's binary stripped?"

[[ $(hottest "$T/debuglink.pb.gz") == work_a ]] ||
	fail ".gnu_debuglink: hottest is '$(hottest "$T/debuglink.pb.gz")', want work_a"
line=$(line_of "$T/debuglink.pb.gz" work_a)
[[ $line == cpusplit.c:* ]] || fail ".gnu_debuglink: work_a has no cpusplit.c line ('$line')"
[[ $(hottest "$T/minidebuginfo.pb.gz") == work_a ]] ||
	fail "MiniDebugInfo: hottest is '$(hottest "$T/minidebuginfo.pb.gz")', want work_a"
for k in sharedstripped sharedfull; do
	[[ $(hottest "$T/$k.pb.gz") == work_a ]] ||
		fail "one build ID, $k: hottest is '$(hottest "$T/$k.pb.gz")', want work_a"
	line=$(line_of "$T/$k.pb.gz" work_a)
	[[ $line == cpusplit.c:* ]] || fail "one build ID, $k: work_a has no cpusplit.c line ('$line')"
done

# chained NAME: fails unless NAME's work_a is hottest and >= 95% of its
# samples have worker <- run_round <- work_a.
chained()
{
	local leaf chained

	[[ $(hottest "$T/$1.pb.gz") == work_a ]] ||
		fail "$1: hottest is '$(hottest "$T/$1.pb.gz")', want work_a"
	read -r leaf chained < <(samples "$T/$1.pb.gz" | awk -F '\t' '
		$7 ~ /(^|;)work_a$/ { leaf += $1 }
		$7 ~ /(^|;)worker;run_round;work_a$/ { chained += $1 }
		END { print leaf + 0, chained + 0 }')
	info "$1: $chained of $leaf work_a samples have worker;run_round;work_a"
	((leaf > 0 && chained * 100 >= leaf * 95)) ||
		fail "$1: only $chained of $leaf work_a samples have worker;run_round;work_a"
}

# 2b. Stripped, with MiniDebugInfo: the function symbols that are not in
# .dynsym, in an xz-compressed ELF in .gnu_debugdata (the recipe Fedora's
# find-debuginfo uses).
chained static
chained fp-only

# Go writes no .eh_frame, so the walk uses frame pointers, and main.hot is
# a leaf that sets up no frame: its caller main.main is skipped, as with
# perf --call-graph fp. The stack must still reach the goroutine's root.
tot=$(total "$T/go.pb.gz")
hot=$(flat "$T/go.pb.gz" main.hot)
read -r hot_s to_root to_main < <(samples "$T/go.pb.gz" | awk -F '\t' '
	$7 ~ /(^|;)main\.hot$/ {
		h += $1
		if ($7 ~ /^runtime\.goexit[^;]*;runtime\.main;/) r += $1
		if ($7 ~ /(^|;)main\.main;/) m += $1
	}
	END { print h + 0, r + 0, m + 0 }')
info "go: main.hot $hot of $tot samples; $to_root of $hot_s reach runtime.goexit <- runtime.main," \
	"$to_main show main.main"
((hot * 100 >= tot * 80)) || fail "go: main.hot has $hot of $tot samples (want >= 80%)"
((hot_s > 0 && to_root * 100 >= hot_s * 95)) ||
	fail "go: only $to_root of $hot_s main.hot samples reach runtime.goexit <- runtime.main"

[[ $(hottest "$T/deleted.pb.gz") == work_a ]] ||
	fail "deleted executable: hottest is '$(hottest "$T/deleted.pb.gz")', want work_a"
exit 0
