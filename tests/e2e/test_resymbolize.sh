#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_resymbolize: the addresses and mappings behind emberprof's names are
# right, as a backend that symbolizes by build ID and address needs them.
#
# For cpusplit-nofp (C without frame pointers), a loop in Debian's
# python3.11 (stripped, no frame pointers) and syscalls (whose system calls
# go through libc's wrappers), the agent profiles the pid at 99 Hz for 3 s.
# The test then takes every name out of the profile (protoc --decode, drop
# the functions and the locations' lines and the mappings' has_* flags,
# protoc --encode) and has google/pprof symbolize it again on its own, from
# the mapping files on this host and each location's address
# (-symbolize=local, through llvm-symbolizer or addr2line). For every
# sample, the user stack pprof derives, function by function, must equal the
# one emberprof wrote (the frames in the kernel and the vDSO, which have no
# file here, left out). Frames neither tool can name count as agreeing only
# when both leave them unnamed.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins cpusplit-nofp syscalls
PY=/usr/bin/python3.11
[[ -x $PY ]] || fail "$PY is missing (apt-get install python3.11)"
command -v protoc >/dev/null || fail "protoc is missing (apt-get install protobuf-compiler)"
command -v llvm-symbolizer >/dev/null || command -v addr2line >/dev/null ||
	fail "neither llvm-symbolizer nor addr2line for pprof to symbolize with"
MSG=perftools.profiles.Profile

# bare IN OUT: IN (gzip'd pprof) with every name taken out.
bare()
{
	gzip -dc "$1" | protoc --proto_path="$ROOT/proto" --decode=$MSG "$ROOT/proto/profile.proto" >"$T/decoded.txt" ||
		fail "protoc cannot decode $1"
	python3 - "$T/decoded.txt" >"$T/bare.txt" <<'PY' || fail "cannot strip the names from $1"
import re, sys
out, skip = [], 0
for line in open(sys.argv[1]):
    s = line.strip()
    if skip:
        skip += s.endswith("{") - (s == "}")
        continue
    # A location's line entries (indented) and the top-level functions.
    if (s == "line {" and line.startswith("  ")) or line.startswith("function {"):
        skip = 1
        continue
    if re.match(r"\s*has_(functions|filenames|line_numbers|inline_frames): true", line):
        continue
    out.append(line)
sys.stdout.write("".join(out))
PY
	grep -q 'function_id' "$T/bare.txt" && fail "names left in the stripped copy of $1"
	protoc --proto_path="$ROOT/proto" --encode=$MSG "$ROOT/proto/profile.proto" <"$T/bare.txt" |
		gzip >"$2" || fail "protoc cannot encode the stripped copy of $1"
}

# user_frames < samples(): per sample, the frames in files on disk: not the
# kernel's, nor the vDSO's, which no file holds for pprof to read.
user_frames()
{
	awk -F '\t' '{
		n = split($7, fr, ";"); split($8, fl, ";"); s = ""
		for (i = 1; i <= n; i++)
			if (fl[i] !~ /^\[/ && fr[i] !~ /^\[unwind stopped/)
				s = s (s == "" ? "" : ";") (fr[i] ~ /^0x/ ? "?" : fr[i])
		print $1 "\t" s
	}'
}

# check NAME PID: profile PID, symbolize the bare copy with pprof, compare.
check()
{
	local name=$1 pid=$2 n agree named

	agent_ok -F 99 -d 3 -p "$pid" -o "$T/$name.pb.gz"
	check_profile "$T/$name.pb.gz"
	bare "$T/$name.pb.gz" "$T/$name.bare.pb.gz"
	timeout "$AGENT_TIMEOUT" "$PPROF" -symbolize=local -proto "$T/$name.bare.pb.gz" \
		>"$T/$name.resym.pb.gz" 2>"$T/$name.resym.err" ||
		fail "$name: pprof -symbolize=local failed: $(head -n 1 "$T/$name.resym.err")"
	samples "$T/$name.pb.gz" | user_frames >"$T/$name.ember"
	samples "$T/$name.resym.pb.gz" | user_frames >"$T/$name.pprof"
	n=$(awk -F '\t' '{ s += $1 } END { print s + 0 }' "$T/$name.ember")
	agree=$(paste -d '\t' "$T/$name.ember" "$T/$name.pprof" |
		awk -F '\t' '$2 == $4 { s += $1 } END { print s + 0 }')
	named=$(awk -F '\t' '$2 ~ /(^|;)[^?;]/ { s += $1 } END { print s + 0 }' "$T/$name.ember")
	info "$name: $agree of $n samples have the same user stack after pprof's own symbolization" \
		"($named with a named frame)"
	((n >= 60)) || fail "$name: only $n samples"
	# Stacks of unnamed frames would agree and prove nothing.
	((named * 100 >= n * 90)) || fail "$name: only $named of $n samples have a named user frame"
	if ((agree != n)); then
		paste -d '\t' "$T/$name.ember" "$T/$name.pprof" | awk -F '\t' '$2 != $4' | head -n 3 |
			awk -F '\t' '{ print "  emberprof: " $2 "\n  pprof:     " $4 }' >&2
		fail "$name: $((n - agree)) of $n samples have another user stack when pprof symbolizes the addresses"
	fi
}

start_workload cpusplit-nofp 30
check cpusplit-nofp "$BG_PID"

py_loop "$T/loop.py"
start_bg "$PY" "$T/loop.py" 30
sleep 0.5
check python3.11 "$BG_PID"

start_workload syscalls 30
check syscalls "$BG_PID"
libc=$(samples "$T/syscalls.pb.gz" | awk -F '\t' '$8 ~ /libc\.so/ { s += $1 } END { print s + 0 }')
((libc > 0)) || fail "syscalls: no sample has a frame in libc, so no libc frame was checked"
exit 0
