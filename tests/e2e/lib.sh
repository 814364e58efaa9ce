# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash disable=SC2034 # SC2034: the tests that source this read its globals
#
# Shared helpers for the end-to-end tests, sourced by every test_*.sh.
#
# The tests run the real agent as root against the programs in
# tests/workloads/ and read its output back with google/pprof built from
# source (build/pprof), so what they check is what a user would see. Each
# test gets its own temporary directory and a cleanup trap that stops the
# background processes it started (by pid, never by name). A failing test
# calls fail(), which prints one line starting with "fail: " on stderr and
# exits 1; tests/e2e/run.sh shows that line as the reason. Set KEEP_TMP=1
# to keep the temporary directory of every test, not only of failed ones,
# and EMBERPROF, PPROF or WL to test other builds than the ones in build/.

set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
EMBERPROF=${EMBERPROF:-$ROOT/build/emberprof}
PPROF=${PPROF:-$ROOT/build/pprof}
WL=$(readlink -f "${WL:-$ROOT/build/workloads}")
TEST_NAME=$(basename "$0" .sh)
# Online CPUs, which the agent samples, even if this shell is pinned to fewer.
NCPU=$(getconf _NPROCESSORS_ONLN)

# Longest any single agent or pprof run may take before the test gives up.
AGENT_TIMEOUT=${AGENT_TIMEOUT:-60}

T=$(mktemp -d "${TMPDIR:-/tmp}/emberprof-e2e.$TEST_NAME.XXXXXX") || exit 1
# 755 so that a test can run the agent as an unprivileged user inside it.
chmod 755 "$T"
# pprof keeps its own scratch files here, not in $HOME.
export PPROF_TMPDIR=$T/pprof-tmp
mkdir -p "$PPROF_TMPDIR"

BG_PIDS=()
BG_PID=

# stat_field PID N: field N of /proc/PID/stat (N >= 3), whatever the comm holds.
stat_field()
{
	local stat fields

	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	# Field 3 (state) is the first one after the comm's closing parenthesis.
	read -r -a fields <<<"${stat##*) }"
	echo "${fields[$2 - 3]}"
}

cleanup()
{
	local rc=$? pid

	if [[ $rc -ne 0 || ${KEEP_TMP:-0} == 1 ]]; then
		echo "$TEST_NAME: files kept in $T" >&2
	fi
	# Quiet from here: bash reports every job it kills.
	exec 2>/dev/null
	# Only processes that are still this shell's children: a pid that was
	# reaped and reused by someone else is left alone.
	for pid in "${BG_PIDS[@]}"; do
		[[ $(stat_field "$pid" 4) == "$$" ]] && kill -KILL "$pid"
	done
	for pid in "${BG_PIDS[@]}"; do
		wait "$pid"
	done
	if [[ $rc -eq 0 && ${KEEP_TMP:-0} != 1 ]]; then
		rm -rf "$T"
	fi
	exit "$rc"
}
trap cleanup EXIT

# fail MESSAGE: print the one-line reason and exit 1.
fail()
{
	echo "fail: $*" >&2
	exit 1
}

info()
{
	echo "$TEST_NAME: $*" >&2
}

require_root()
{
	[[ $(id -u) -eq 0 ]] || fail "the e2e tests need root"
}

# require_bins WORKLOAD...: the agent, pprof and the named workloads exist.
require_bins()
{
	local w

	[[ -x $EMBERPROF ]] || fail "$EMBERPROF is missing (run make)"
	[[ -x $PPROF ]] || fail "$PPROF is missing (run make)"
	for w in "$@"; do
		[[ -x $WL/$w ]] || fail "$WL/$w is missing (run make)"
	done
}

# start_bg CMD...: run CMD in the background, remember it for cleanup and
# leave its pid in BG_PID. Call it directly, not in $(...), or the pid is lost.
start_bg()
{
	"$@" &
	BG_PID=$!
	BG_PIDS+=("$BG_PID")
}

# start_workload NAME ARGS...: start $WL/NAME in the background and wait until
# the process has exec'd it, so that its pid already names the workload when
# the agent looks it up. Leaves the pid in BG_PID.
start_workload()
{
	local name=$1 i

	shift
	start_bg "$WL/$name" "$@"
	for ((i = 0; i < 100; i++)); do
		if [[ $(readlink "/proc/$BG_PID/exe" 2>/dev/null) == "$WL/$name" ]]; then
			# Let its threads start too.
			sleep 0.2
			return 0
		fi
		sleep 0.02
	done
	fail "workload $name (pid $BG_PID) did not start"
}

# alive PID: true while PID exists and is not a zombie.
alive()
{
	local state

	state=$(stat_field "$1" 3) || return 1
	[[ -n $state && $state != Z ]]
}

# run_agent ARGS...: run the agent in the foreground with a timeout. Leaves
# its exit status in AGENT_RC, its wall time in seconds in AGENT_SECS and its
# output in $T/agent.out and $T/agent.err. Never fails by itself.
run_agent()
{
	local start end

	start=$(date +%s.%N)
	timeout -k 5 "$AGENT_TIMEOUT" "$EMBERPROF" "$@" >"$T/agent.out" 2>"$T/agent.err"
	AGENT_RC=$?
	end=$(date +%s.%N)
	AGENT_SECS=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
	if [[ $AGENT_RC -eq 124 || $AGENT_RC -eq 137 ]]; then
		fail "emberprof $* did not finish within ${AGENT_TIMEOUT}s"
	fi
}

# agent_ok ARGS...: run_agent and fail unless it exited 0.
agent_ok()
{
	run_agent "$@"
	[[ $AGENT_RC -eq 0 ]] ||
		fail "emberprof $* exited $AGENT_RC: $(head -n 1 "$T/agent.err")"
}

# first_err_line: the agent's first stderr line, for messages.
first_err_line()
{
	head -n 1 "$T/agent.err"
}

# pp ARGS...: google/pprof without symbolization (the agent fills in names).
# Fails the test if pprof cannot read the profile.
pp()
{
	local out

	if ! out=$(timeout "$AGENT_TIMEOUT" "$PPROF" -symbolize=none "$@" 2>"$T/pprof.err"); then
		fail "pprof $* failed: $(grep -v '^$' "$T/pprof.err" | head -n 1)"
	fi
	printf '%s\n' "$out"
}

# check_profile FILE: the file is complete gzip and pprof can read it.
check_profile()
{
	[[ -s $1 ]] || fail "profile $1 is missing or empty"
	gzip -t "$1" 2>/dev/null || fail "profile $1 is not complete gzip"
	pp -raw "$1" >/dev/null
}

# pp_top FILE: "NAME<TAB>FLAT" for every function in `pprof -top`, flat values
# in samples (not nanoseconds), nothing dropped for being small.
pp_top()
{
	pp -top -sample_index=samples -nodecount=1000000 -nodefraction=0 -edgefraction=0 "$1" |
		awk '
		/^ *flat  *flat%/ { body = 1; next }
		body && NF >= 6 {
			name = $0
			sub(/^ *[^ ]+ +[^ ]+ +[^ ]+ +[^ ]+ +[^ ]+ +/, "", name)
			print name "\t" $1
		}'
}

# flat FILE FUNC: FUNC's flat sample count in FILE per pprof -top (0 if absent).
flat()
{
	pp_top "$1" | awk -F '\t' -v f="$2" '$1 == f { n += $2 } END { print n + 0 }'
}

# total FILE: total sample count per pprof -top's "of N total" line.
total()
{
	pp -top -sample_index=samples -nodecount=1 "$1" |
		awk '/ total$/ { print $(NF - 1); found = 1 } END { if (!found) print -1 }'
}

# samples FILE: every sample of FILE, from `pprof -raw`, one per line:
#   count TAB cpu_ns TAB pid TAB tid TAB comm TAB process TAB frames TAB files
# frames are function names root first, joined by ";" (inlined functions
# expanded; a location without a line keeps its address); files are the
# mapping file of each frame in the same order. A missing label is empty.
samples()
{
	pp -raw "$1" | awk '
	function label(line, key,    re, s, v) {
		re = "(^| )" key ":\\[[^]]*\\]"
		if (!match(line, re))
			return ""
		s = substr(line, RSTART, RLENGTH)
		sub(/^ /, "", s)
		v = substr(s, length(key) + 3, length(s) - length(key) - 3)
		return v
	}
	function num(v) {
		sub(/ .*$/, "", v)
		return v
	}
	/^Samples:$/ { sect = "hdr"; next }
	/^Locations$/ { sect = "loc"; next }
	/^Mappings$/ { sect = "map"; next }
	sect == "hdr" { sect = "smp"; next }
	sect == "smp" && /^ *-?[0-9]+( +-?[0-9]+)*: / {
		n++
		split($0, parts, ":")
		nv = split(parts[1], vals, " ")
		cnt[n] = vals[1]
		cpu[n] = nv > 1 ? vals[2] : ""
		locs[n] = substr($0, index($0, ":") + 2)
		next
	}
	sect == "smp" && /^                [^ ]/ {
		for (k in want) {
			v = label($0, k)
			if (v != "")
				lab[n, k] = v
		}
		next
	}
	sect == "loc" && /^ *[0-9]+: 0x[0-9a-f]+/ {
		id = $1
		sub(/:$/, "", id)
		m = ""
		if ($3 ~ /^M=/)
			m = substr($3, 3)
		locmap[id] = m
		rest = $0
		sub(/^ *[0-9]+: 0x[0-9a-f]+ (M=[0-9]+ )?(\[F\] )?/, "", rest)
		nl[id] = 0
		if (rest == "")
			rest = $2
		else
			rest = fname(rest)
		nl[id]++
		fn[id, nl[id]] = rest
		next
	}
	sect == "loc" && /^             [^ ]/ {
		nl[id]++
		fn[id, nl[id]] = fname(substr($0, 14))
		next
	}
	sect == "map" && /^[0-9]+: 0x/ {
		mid = $1
		sub(/:$/, "", mid)
		mfile[mid] = $3
		next
	}
	function fname(r) {
		sub(/ s=-?[0-9]+.*$/, "", r)
		sub(/ [^ ]*:-?[0-9]+$/, "", r)
		return r
	}
	BEGIN { want["pid"]; want["tid"]; want["comm"]; want["process"] }
	END {
		for (i = 1; i <= n; i++) {
			k = split(locs[i], ids, " ")
			frames = ""
			files = ""
			# Locations are leaf first; so are the lines of one location.
			for (j = k; j >= 1; j--) {
				for (l = nl[ids[j]]; l >= 1; l--) {
					frames = frames (frames == "" ? "" : ";") fn[ids[j], l]
					files = files (files == "" ? "" : ";") mfile[locmap[ids[j]]]
				}
			}
			printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cnt[i], cpu[i],
				num(lab[i, "pid"]), num(lab[i, "tid"]), lab[i, "comm"],
				lab[i, "process"], frames, files
		}
	}'
}

# traces_chain FILE NAME...: how many samples in `pprof -traces` have the
# frames NAME... next to each other, leaf first (NAME1 called by NAME2 ...).
traces_chain()
{
	local file=$1

	shift
	pp -traces "$file" | awk -v chain="$*" '
	BEGIN { n = split(chain, want, " ") }
	function check(    i, j) {
		for (i = 1; i + n - 1 <= depth; i++) {
			for (j = 1; j <= n && stack[i + j - 1] == want[j]; j++)
				;
			if (j > n) {
				hits++
				break
			}
		}
		depth = 0
	}
	/^-----------\+/ { check(); body = 1; next }
	body && length($0) > 13 && substr($0, 11, 1) != ":" { stack[++depth] = substr($0, 14) }
	END { check(); print hits + 0 }'
}

# folded_sum FILE: the sum of the counts in a folded-stacks file.
folded_sum()
{
	awk '{ s += $NF } END { print s + 0 }' "$1"
}

# pct PART WHOLE: PART as a percentage of WHOLE, one decimal.
pct()
{
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b ? 100 * a / b : 0 }'
}

# within VALUE LOW HIGH: true if LOW <= VALUE <= HIGH (decimals allowed).
within()
{
	awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v >= lo && v <= hi) }'
}

# traces_lines FILE: every stack of `pprof -traces -lines`, one per line:
#   count TAB frames
# count in samples; frames leaf first, joined by ";", each "FUNC|FILE|LINE|I"
# where FILE is the source file's basename, LINE its line (empty if pprof
# shows none) and I is 1 for a frame pprof marks "(inline)", else 0. Samples
# that differ only in labels (tid) are separate lines.
traces_lines()
{
	pp -traces -lines -sample_index=samples "$1" | awk '
	function frame(s,    inl, loc, file, line) {
		inl = sub(/ \(inline\)$/, "", s)
		loc = s
		if (match(s, / [^ ]*:[0-9]+$/)) {
			loc = substr(s, RSTART + 1)
			s = substr(s, 1, RSTART - 1)
			line = loc
			sub(/^.*:/, "", line)
			file = loc
			sub(/:[0-9]+$/, "", file)
			sub(/^.*\//, "", file)
		} else {
			file = ""
			line = ""
		}
		return s "|" file "|" line "|" inl
	}
	function flush() {
		if (frames != "")
			print count "\t" frames
		frames = ""
	}
	/^-----------\+/ { flush(); body = 1; next }
	body && length($0) > 13 && substr($0, 11, 1) != ":" {
		head = substr($0, 1, 13)
		if (head ~ /[0-9]/) {
			flush()
			count = head
			gsub(/ /, "", count)
		}
		frames = frames (frames == "" ? "" : ";") frame(substr($0, 14))
	}
	END { flush() }'
}

# marker_line FILE TAG: the number of the line of FILE holding the comment
# "/* LINE:TAG */", as the workloads mark the lines the tests expect.
marker_line()
{
	local n

	n=$(grep -n -F "/* LINE:$2 */" "$1" | cut -d: -f1)
	[[ $n =~ ^[0-9]+$ ]] || fail "no single '/* LINE:$2 */' marker in $1"
	echo "$n"
}

# insn_addrs ELF COUNT: COUNT instruction addresses ("0x" hex, file virtual
# addresses) spread evenly over the functions in ELF's .text, the same ones
# on every run: objdump's list with PLT stubs and the crt startup code left
# out, every (total / COUNT)th entry.
insn_addrs()
{
	objdump -d --no-show-raw-insn -j .text "$1" | awk -v want="$2" '
	/^[0-9a-f]+ <.*>:$/ {
		skip = $2 ~ /@plt>:$/ || $2 ~ /^<(_start|_init|_fini|deregister_tm_clones|register_tm_clones|__do_global_dtors_aux|frame_dummy)>:$/
		next
	}
	!skip && /^ *[0-9a-f]+:\t/ { a[++n] = $1 }
	END {
		if (n < want)
			want = n
		for (i = 0; i < want; i++) {
			s = a[int(i * n / want) + 1]
			sub(/:$/, "", s)
			print "0x" s
		}
	}'
}

# symbolizer_frames FILE: llvm-symbolizer --inlining style output (one block
# per address: "function" and "file:line:column" lines, innermost first,
# then a blank line), one line per address: its frames joined by " | ", each
# "FUNC @ BASENAME:LINE" (no column; "??" for unknowns).
symbolizer_frames()
{
	awk 'BEGIN { RS = ""; FS = "\n" }
	{
		s = ""
		for (i = 1; i + 1 <= NF; i += 2) {
			loc = $(i + 1)
			sub(/:[0-9]+$/, "", loc)
			line = loc
			sub(/^.*:/, "", line)
			file = loc
			sub(/:[^:]*$/, "", file)
			sub(/^.*\//, "", file)
			s = s (s == "" ? "" : " | ") $i " @ " file ":" line
		}
		print s
	}' "$1"
}
