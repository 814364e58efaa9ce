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

# The test's own shell. A helper that fails inside $(...) or a pipeline
# exits only that subshell, so fail() also signals this shell, which exits 1
# as soon as the command it is running returns: the test cannot go on with
# an empty or default value.
TEST_PID=$$
trap 'exit 1' USR1

# fail MESSAGE: print the one-line reason and fail the test, from any subshell.
fail()
{
	echo "fail: $*" >&2
	((BASH_SUBSHELL == 0)) || kill -USR1 "$TEST_PID" 2>/dev/null
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

# start_sampling_agent ARGS...: the agent in the background with -v and a
# timeout, its output in $T/agent.out and $T/agent.err, back once it
# samples (its "sampling" line), so a workload started then runs inside
# its window. Leaves its pid in AGENT_PID; wait_agent collects it.
start_sampling_agent()
{
	local i

	start_bg timeout -k 5 "$AGENT_TIMEOUT" "$EMBERPROF" -v "$@" >"$T/agent.out" 2>"$T/agent.err"
	AGENT_PID=$BG_PID
	for ((i = 0; i < 200; i++)); do
		grep -q 'sampling .* Hz' "$T/agent.err" && return 0
		alive "$AGENT_PID" || fail "the agent exited: $(head -n 1 "$T/agent.err")"
		sleep 0.05
	done
	fail "the agent did not start sampling"
}

# wait_agent: the exit of start_sampling_agent's agent, which must be 0.
wait_agent()
{
	wait "$AGENT_PID"
	local rc=$?

	((rc == 0)) || fail "the agent exited $rc: $(grep -v '^emberprof: \(sampling\|no hardware\)' "$T/agent.err" | head -n 1)"
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

# pid_profile FILE PID OUT: OUT is FILE with only PID's samples (pprof
# -proto -tagfocus on the pid label), for a test that profiles several
# processes in one run and judges each on its own.
pid_profile()
{
	pp -proto -tagfocus="pid=$2" -output="$3" "$1" >/dev/null
	[[ -s $3 ]] || fail "pprof wrote no profile of pid $2 from $1"
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

# shares_within TOL NAME:WANT:GOT...: fails the test unless every GOT is
# WANT% of the GOTs' sum, within TOL points (GOT may be a decimal).
shares_within()
{
	local tol=$1 f name want got sum share all=

	shift
	for f; do all="$all${all:+ }${f%%:*}=${f##*:}"; done
	sum=$(printf '%s\n' "$@" | awk -F: '{ s += $3 } END { print s + 0 }')
	for f; do
		IFS=: read -r name want got <<<"$f"
		share=$(pct "$got" "$sum")
		within "$share" $((want - tol)) $((want + tol)) ||
			fail "$name has $share% of their sum $sum (want ${want}±${tol}%; $all)"
	done
}

# within VALUE LOW HIGH: true if LOW <= VALUE <= HIGH (decimals allowed).
within()
{
	awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v >= lo && v <= hi) }'
}

# rate_bounds N WHAT THREADS HZ SECS [MAX_SECS]: fails the test unless N
# samples of WHAT are at least 80% of what THREADS always-busy threads give
# at HZ for SECS seconds, and at most what they could give in MAX_SECS
# (default: the agent's wall time, which holds the whole sampling window).
# The upper bound is per thread, not per CPU, so double counting fails on
# any machine.
rate_bounds()
{
	local n=$1 what=$2 threads=$3 hz=$4 secs=$5 max_secs=${6:-$AGENT_SECS} lo hi

	lo=$((threads * hz * secs * 80 / 100))
	hi=$(awk -v t="$threads" -v h="$hz" -v s="$max_secs" 'BEGIN { printf "%d", t * h * s }')
	((n >= lo)) ||
		fail "only $n samples of $what, want >= $lo (80% of $threads busy threads x $hz Hz x ${secs}s)"
	((n <= hi)) ||
		fail "$n samples of $what, more than $threads threads x $hz Hz x ${max_secs}s allow ($hi): counted twice?"
}

# cpu_ticks PID...: the CPU time (user + system, in clock ticks, all
# threads) the processes have used so far; a gone process counts 0. With
# CHILDREN=1, their reaped children's time (cutime + cstime) is added.
cpu_ticks()
{
	local p f t=0 fields=(14 15)

	[[ ${CHILDREN:-0} == 1 ]] && fields+=(16 17)
	for p; do
		for f in "${fields[@]}"; do
			t=$((t + $(stat_field "$p" "$f" || echo 0)))
		done
	done
	echo "$t"
}

# cpu_bounds N WHAT TICKS HZ SECS [WALL]: fails the test unless N samples of
# WHAT are from 80% to 110% of what its CPU time gives at HZ. TICKS are the
# clock ticks of CPU it used in WALL seconds (default AGENT_SECS: the
# agent's whole run, start-up included); SECS of them were sampled (-d), so
# a steady workload's share of TICKS is SECS / WALL.
#
# The upper bound allows for steal. cpu-clock fires on the guest's clock
# while a task is on a vCPU, but the kernel leaves the time the host ran
# something else out of the task's CPU time (PARAVIRT_TIME_ACCOUNTING). So
# on a busy host a task gets more samples than its CPU time gives: by
# 1 / (1 - s), where s is the steal share of the host's busy time since the
# test began (from /proc/stat).
cpu_bounds()
{
	local n=$1 what=$2 ticks=$3 hz=$4 secs=$5 wall=${6:-$AGENT_SECS} want steal hi

	want=$(awk -v t="$ticks" -v h="$hz" -v s="$secs" -v a="$wall" -v c="$(getconf CLK_TCK)" \
		'BEGIN { printf "%d", t / c * h * (s < a ? s / a : 1) }')
	steal=$(steal_permille)
	hi=$((want * 110 * 1000 / (1000 - steal) / 100))
	info "$what: $n samples for $ticks ticks of CPU in ${wall}s ($want in ${secs}s at $hz Hz;" \
		"steal $((steal / 10)).$((steal % 10))% of busy time)"
	((n * 100 >= want * 80)) || fail "only $n samples of $what, want >= 80% of $want (its CPU time at $hz Hz)"
	((n <= hi)) || fail "$n samples of $what, want <= $hi: 110% of $want (its CPU time at $hz Hz)" \
		"with $((steal / 10)).$((steal % 10))% steal"
}

# steal_permille: the host's steal, in thousandths of the busy time
# (user, nice, system, irq, softirq and steal) of every CPU since this test
# began; at most 500, so a bound it widens stays a bound.
STAT0=$(head -n 1 /proc/stat)
steal_permille()
{
	awk -v a="$STAT0" '
		function busy(f) { return f[2] + f[3] + f[4] + f[7] + f[8] + f[9] }
		{ split(a, x, " "); split($0, y, " ")
		  b = busy(y) - busy(x); s = y[9] - x[9]
		  p = b > 0 ? int(s * 1000 / b) : 0
		  print (p > 500 ? 500 : p) }' <(head -n 1 /proc/stat)
}

# py_loop FILE: a Python loop for SECONDS (its argument), all of its time in
# inner(), written to FILE.
py_loop()
{
	cat >"$1" <<'PYEOF'
import sys
import time


def inner(n):
    s = 0
    for i in range(n):
        s += i * i % 7
    return s


deadline = time.monotonic() + float(sys.argv[1])
while time.monotonic() < deadline:
    inner(5000)
PYEOF
}

# agent_cpu PID ARGS...: agent_ok ARGS, leaving in AGENT_CPU the clock ticks
# of CPU that PID used meanwhile (for cpu_bounds).
agent_cpu()
{
	local pid=$1 t0

	shift
	t0=$(cpu_ticks "$pid")
	agent_ok "$@"
	AGENT_CPU=$(($(cpu_ticks "$pid") - t0))
}

# summary_counts: "SAMPLES LOST" from the agent's exit line in $T/agent.err
# ("N samples on EVENT, N lost (...)"); fails the test if it has none.
summary_counts()
{
	awk '/ samples on .*, [0-9]+ lost \(/ {
		for (i = 1; i < NF; i++) {
			if ($(i + 1) == "samples" && $(i + 2) == "on")
				s = $i
			if ($(i + 1) == "lost")
				l = $i
		}
		found = 1
	}
	END { if (!found) exit 1; print s, l }' "${1:-$T/agent.err}" ||
		fail "no 'N samples on EVENT, N lost' line in emberprof's stderr"
}

# no_loss THREADS HZ SECS [FILE]: fails the test unless the agent's exit line
# (in FILE, default $T/agent.err) counts no lost sample, and its samples
# plus lost are what THREADS busy threads give at HZ in SECS, within 10%.
# After agent_cpu, the threads' CPU time bounds it from below instead where
# they got less than whole CPUs (anything else the host ran meanwhile): a
# CI run's 2-thread workload had 85% of two CPUs, and 85% of the samples.
no_loss()
{
	local threads=$1 hz=$2 secs=$3 n lost want lo basis

	read -r n lost < <(summary_counts "${4:-$T/agent.err}")
	want=$((threads * hz * secs))
	lo=$want basis="$threads threads x $hz Hz x ${secs}s"
	if [[ -n ${AGENT_CPU:-} ]]; then
		local got
		got=$(awk -v t="$AGENT_CPU" -v h="$hz" -v s="$secs" -v a="$AGENT_SECS" \
			-v c="$(getconf CLK_TCK)" 'BEGIN { printf "%d", t / c * h * (s < a ? s / a : 1) }')
		if ((got < lo)); then
			lo=$got basis="their CPU time at $hz Hz"
		fi
	fi
	info "agent counted $n samples and $lost lost; $threads threads x $hz Hz x ${secs}s = $want" \
		"(lower bound from $basis: $lo)"
	((lost == 0)) || fail "$lost samples lost on a quiet $threads-thread workload"
	((n + lost >= lo * 90 / 100 && n + lost <= want * 110 / 100)) ||
		fail "samples $n + lost $lost, want $lo -10% ($basis) to $want +10% ($threads threads x $hz Hz x ${secs}s)"
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
	line_holding "$1" "/* LINE:$2 */"
}

# line_holding FILE TEXT: the number of the one line of FILE that holds TEXT.
line_holding()
{
	local n

	n=$(grep -n -F "$2" "$1" | cut -d: -f1)
	[[ $n =~ ^[0-9]+$ ]] || fail "no single '$2' marker in $1"
	echo "$n"
}

# insn_addrs ELF COUNT: COUNT instruction addresses ("0x" hex, file virtual
# addresses) spread evenly over the functions in ELF's .text, the same ones
# on every run: objdump's list with PLT stubs and the crt startup code left
# out, every (total / COUNT)th entry.
insn_addrs()
{
	objdump -d --no-show-raw-insn -j .text "$1" | awk -v want="$2" -f "$ROOT/scripts/insn-addrs.awk"
}

# symbolizer_frames FILE: llvm-symbolizer --inlining style output (one block
# per address: "function" and "file:line:column" lines, innermost first,
# then a blank line), one line per address: its frames joined by " | ", each
# "FUNC @ BASENAME:LINE" (no column; "??" for unknowns).
symbolizer_frames()
{
	awk -f "$ROOT/scripts/symbolizer-frames.awk" "$1"
}

# user_chains FILE: the user half of every sample of FILE as a caller chain,
# one line per sample: count TAB chain, the chain being the function of each
# user frame, leaf first, joined by ";". Physical frames only: a location's
# inlined functions are left out (its last line, the function the address
# is in, stays), as `perf script` without --inline shows stacks. Kernel
# frames are dropped; a frame with no function name is its address. Feed
# the output to norm_chains before comparing it with perf_chains.
user_chains()
{
	pp -raw "$1" | awk '
	/^Samples:$/ { sect = "hdr"; next }
	/^Locations$/ { sect = "loc"; next }
	/^Mappings$/ { sect = "map"; next }
	sect == "hdr" { sect = "smp"; next }
	sect == "smp" && /^ *-?[0-9]+( +-?[0-9]+)*: / {
		n++
		split($0, parts, ":")
		split(parts[1], vals, " ")
		cnt[n] = vals[1]
		locs[n] = substr($0, index($0, ":") + 2)
		next
	}
	function fname(r) {
		sub(/ s=-?[0-9]+.*$/, "", r)
		sub(/ [^ ]*:-?[0-9]+$/, "", r)
		return r
	}
	sect == "loc" && /^ *[0-9]+: 0x[0-9a-f]+/ {
		id = $1
		sub(/:$/, "", id)
		locmap[id] = $3 ~ /^M=/ ? substr($3, 3) : ""
		rest = $0
		sub(/^ *[0-9]+: 0x[0-9a-f]+ (M=[0-9]+ )?(\[F\] )?/, "", rest)
		fn[id] = rest == "" ? $2 : fname(rest)
		next
	}
	# A further line of the same location: an outer function; the last wins.
	sect == "loc" && /^             [^ ]/ {
		fn[id] = fname(substr($0, 14))
		next
	}
	sect == "map" && /^[0-9]+: 0x/ {
		mid = $1
		sub(/:$/, "", mid)
		mfile[mid] = $3
		next
	}
	END {
		for (i = 1; i <= n; i++) {
			k = split(locs[i], ids, " ")
			chain = ""
			for (j = 1; j <= k; j++) {
				if (mfile[locmap[ids[j]]] == "[kernel.kallsyms]")
					continue
				chain = chain (chain == "" ? "" : ";") fn[ids[j]]
			}
			printf "%s\t%s\n", cnt[i], chain
		}
	}'
}

# perf_script_chains WITH_PID: `perf script` output on stdin (-F ip,sym,dso,
# and pid first when WITH_PID is 1) as one line per sample: 1 TAB chain, and
# TAB pid with WITH_PID. Frames in [kernel.kallsyms] are dropped; [unknown]
# stays as it is.
perf_script_chains()
{
	awk -v with_pid="$1" '
	function flush() {
		if (with_pid && pid != "")
			printf "1\t%s\t%s\n", chain, pid
		else if (!with_pid && seen)
			printf "1\t%s\n", chain
		chain = ""
		pid = ""
		seen = 0
	}
	/^$/ { flush(); next }
	# With pids, the sample header: the pid alone.
	with_pid && /^ *[0-9]+ *$/ { flush(); pid = $1; next }
	{
		seen = 1
		line = $0
		sub(/^[ \t]*[0-9a-f]+ /, "", line)
		dso = ""
		if (match(line, / \([^()]*\)$/)) {
			dso = substr(line, RSTART + 2, RLENGTH - 3)
			line = substr(line, 1, RSTART - 1)
		}
		if (dso == "[kernel.kallsyms]" || dso ~ /^\[guest\.kernel/)
			next
		chain = chain (chain == "" ? "" : ";") line
	}
	END { flush() }'
}

# perf_chains PERF_DATA: the user half of every sample that `perf record -g`
# or `--call-graph dwarf` wrote, in user_chains' format (count always 1).
perf_chains()
{
	perf script -i "$1" -F ip,sym,dso 2>/dev/null | perf_script_chains 0
}

# norm_chains: user_chains or perf_chains lines on stdin, summed per chain
# after making the two tools' names comparable, most frequent first. Each
# frame loses what one tool prints and the other does not: perf's
# "(inlined)" marker and "+0x.." offsets, GCC's clone suffixes (.cold,
# .part.N, .isra.N, .constprop.N, [clone ...]) and C++ parameter lists
# (perf prints "ns::f", pprof "ns::f(int)"); a frame with no name
# ([unknown], [FILE], 0xADDR) becomes "?"; of glibc's aliases perf may pick
# another than pprof: __libc_start_main_impl becomes __libc_start_main and
# the internal __GI_ prefix goes (__GI___clock_gettime). Chains stop at
# main, which is where they are compared.
norm_chains()
{
	awk -F '\t' '
	function norm(s,    d, i, c) {
		sub(/ \(inlined\)$/, "", s)
		sub(/\+0x[0-9a-f]+$/, "", s)
		sub(/ \[clone [^]]*\]$/, "", s)
		while (sub(/\.(cold|part|isra|constprop|lto_priv)(\.[0-9]+)?$/, "", s))
			;
		if (s == "" || s ~ /^\[.*\]$/ || s ~ /^0x[0-9a-f]+$/)
			return "?"
		sub(/ const$/, "", s)
		if (s ~ /\)$/) {
			d = 0
			for (i = length(s); i > 0; i--) {
				c = substr(s, i, 1)
				if (c == ")")
					d++
				else if (c == "(" && --d == 0)
					break
			}
			if (i > 1)
				s = substr(s, 1, i - 1)
		}
		if (s == "__libc_start_main_impl")
			s = "__libc_start_main"
		sub(/^__GI_/, "", s)
		return s
	}
	{
		k = split($2, fr, ";")
		chain = ""
		for (j = 1; j <= k; j++) {
			f = norm(fr[j])
			chain = chain (chain == "" ? "" : ";") f
			if (f == "main")
				break
		}
		sum[chain] += $1
	}
	END {
		for (c in sum)
			printf "%s\t%s\n", sum[c], c
	}' | sort -t "$(printf '\t')" -k1,1nr -k2,2
}

# top_chain LEAF: of norm_chains lines on stdin, the most frequent chain
# whose leaf is LEAF, as "count TAB chain" (nothing if there is none).
top_chain()
{
	awk -F '\t' -v leaf="$1" '
	{ split($2, fr, ";") }
	fr[1] == leaf && $1 > best { best = $1; chain = $2 }
	END { if (best) printf "%s\t%s\n", best, chain }'
}

# unwind_stat NAME: a counter of the agent's -v "walks ended early:" report
# in $T/agent.err ("no table", "read fault", "depth", "bad CFA",
# "unsupported", "signal frame"); -1 if the line is missing.
unwind_stat()
{
	awk -v name="$1" '
	/walks ended early:/ {
		s = $0
		sub(/^.*walks ended early: /, "", s)
		n = split(s, parts, ", ")
		for (i = 1; i <= n; i++) {
			v = parts[i]
			sub(/ [0-9]+$/, "", v)
			if (v == name) {
				sub(/^.* /, "", parts[i])
				print parts[i] + 0
				found = 1
			}
		}
	}
	END { if (!found) print -1 }' "$T/agent.err"
}

# unwind_line: the agent's -v "unwind:" line from $T/agent.err, for messages.
unwind_line()
{
	grep -m 1 'unwind:' "$T/agent.err" | sed 's/^emberprof: //'
}

# chain_counts TSV RE...: from user_chains lines in TSV, the total number of
# samples, then for each extended regular expression RE the samples whose
# chain matches it; on one line.
chain_counts()
{
	awk -F '\t' '
	BEGIN {
		for (i = 2; i < ARGC; i++)
			re[i - 1] = ARGV[i]
		nre = ARGC - 2
		ARGC = 2
	}
	{
		all += $1
		for (i = 1; i <= nre; i++)
			if ($2 ~ re[i])
				n[i] += $1
	}
	END {
		line = all + 0
		for (i = 1; i <= nre; i++)
			line = line " " n[i] + 0
		print line
	}' "$@"
}

# chains_outside TSV RE: on stderr, the three commonest chains of TSV
# (user_chains lines) that do not match RE, to show why a test failed.
chains_outside()
{
	awk -F '\t' -v re="$2" '$2 !~ re { n[$2] += $1 }
		END { for (s in n) print n[s] "\t" s }' "$1" | sort -rn | head -n 3 >&2
}

# walks_complete [UNSUPPORTED_OK]: fails the test unless the agent's -v report
# in $T/agent.err has its "walks ended early" counters and none of the walks
# ended for a read fault, a CFA it could not compute or a rule it does not
# support, but for UNSUPPORTED_OK (default 0) walks the caller has accounted
# for. (Ending at the outermost frame, at the depth limit or at a table miss
# is not an error.)
walks_complete()
{
	local c n ok

	info "$(unwind_line)"
	for c in "read fault" "bad CFA" "unsupported"; do
		n=$(unwind_stat "$c")
		ok=0
		[[ $c == unsupported ]] && ok=${1:-0}
		((n >= 0)) || fail "no 'walks ended early' counters in emberprof -v output (is DWARF unwinding off?)"
		((n <= ok)) || fail "$n walks ended early by '$c' ($ok accounted for; $(unwind_line))"
	done
}

# --- OTLP export: a test receiver and readers of what it stored ---

OTLP_PY=$ROOT/tests/otlp/otlp.py
OTLP_RECEIVER=$ROOT/tests/otlp/receiver.py
OTLP_PROTO_DIR=$ROOT/proto
OTLP_REQ_MSG=opentelemetry.proto.collector.profiles.v1development.ExportProfilesServiceRequest
OTLP_SVC_PROTO=opentelemetry/proto/collector/profiles/v1development/profiles_service.proto

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
free_port()
{
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# start_receiver DIR [ARGS...]: start tests/otlp/receiver.py storing requests
# in DIR (see its --help for ARGS: --script, --delay, --port...) and wait
# until it listens, unless ARGS hold --delay. Leaves its port in RECV_PORT
# (when it was picked by the receiver) and its pid in BG_PID.
start_receiver()
{
	local dir=$1 i

	shift
	mkdir -p "$dir"
	rm -f "$dir.port"
	start_bg python3 "$OTLP_RECEIVER" --dir "$dir" --port-file "$dir.port" \
		--max-lifetime "${RECV_LIFETIME:-120}" "$@"
	[[ " $* " == *" --delay "* ]] && return 0
	for ((i = 0; i < 100; i++)); do
		if [[ -s $dir.port ]]; then
			RECV_PORT=$(cat "$dir.port")
			return 0
		fi
		sleep 0.05
	done
	fail "OTLP receiver did not start listening"
}

# nreq DIR: how many requests the receiver in DIR has stored so far.
nreq()
{
	local f n=0

	for f in "$1"/[0-9][0-9][0-9][0-9].json; do
		[[ -e $f ]] && n=$((n + 1))
	done
	echo "$n"
}

# wait_requests DIR N SECS: wait up to SECS for N stored requests; true if they came.
wait_requests()
{
	local i

	for ((i = 0; i < $3 * 10; i++)); do
		(($(nreq "$1") >= $2)) && return 0
		sleep 0.1
	done
	return 1
}

# protoc_decode BODY: BODY as protobuf text per the .proto files in proto/;
# fails the test if protoc cannot parse it as an ExportProfilesServiceRequest.
protoc_decode()
{
	protoc --proto_path="$OTLP_PROTO_DIR" --decode="$OTLP_REQ_MSG" "$OTLP_SVC_PROTO" \
		<"$1" 2>"$T/protoc.err" ||
		fail "protoc cannot decode $1: $(head -n 1 "$T/protoc.err")"
}

# otlp_check BODY [ARGS...]: tests/otlp/otlp.py check (every structural rule);
# prints its JSON summary and fails the test with its reason on a violation.
otlp_check()
{
	local out

	out=$(python3 "$OTLP_PY" check "$@" 2>"$T/otlp-check.err") ||
		fail "$(sed 's/^fail: //' "$T/otlp-check.err" | head -n 1)"
	printf '%s\n' "$out"
}

# json_get FILE [KEY...]: the value in the JSON in FILE reached by the keys
# (list indices as numbers) in turn. Strings print bare, anything else as
# JSON; a missing value prints nothing.
json_get()
{
	python3 - "$@" <<'PY'
import json, sys
with open(sys.argv[1]) as f:
    v = json.load(f)
for k in sys.argv[2:]:
    try:
        v = v[int(k)] if isinstance(v, list) else v[k]
    except (KeyError, IndexError, ValueError, TypeError):
        sys.exit(0)
print(v if isinstance(v, str) else json.dumps(v, sort_keys=True))
PY
}

# req_header DIR N NAME: header NAME (any case) of stored request N (1-based).
req_header()
{
	python3 - "$(printf '%s/%04d.json' "$1" "$2")" "$3" <<'PY'
import json, sys
with open(sys.argv[1]) as f:
    meta = json.load(f)
for k, v in meta["headers"]:
    if k.lower() == sys.argv[2].lower():
        print(v)
PY
}

# otlp_stat NAME: a counter of the agent's -v "OTLP: N sent, N failed, N
# retries, N dropped (queue full), N queued at stop" line in $T/agent.err,
# NAME being "sent", "failed", "retries", "dropped (queue full)" or "queued at
# stop"; -1 if the line or the counter is missing.
otlp_stat()
{
	awk -v name="$1" '
	/emberprof: OTLP: [0-9]/ {
		s = $0
		sub(/^.*OTLP: /, "", s)
		n = split(s, parts, ", ")
		for (i = 1; i <= n; i++) {
			v = parts[i]
			k = v
			sub(/ .*$/, "", v)
			sub(/^[0-9]+ /, "", k)
			if (k == name) {
				print v + 0
				found = 1
			}
		}
	}
	END { if (!found) print -1 }' "$T/agent.err"
}

# otlp_line: the agent's -v "OTLP:" line from $T/agent.err, for messages.
otlp_line()
{
	grep -m 1 'emberprof: OTLP: [0-9]' "$T/agent.err" | sed 's/^emberprof: //'
}

# rss_watch PID FILE: in the background, append PID's VmRSS (kB) to FILE once
# a second while PID lives. Leaves the watcher's pid in BG_PID.
rss_watch()
{
	# shellcheck disable=SC2016 # the inner shell expands $1 and $2
	start_bg bash -c '
		while rss=$(awk "/^VmRSS:/ { print \$2 }" "/proc/$1/status" 2>/dev/null) &&
			[[ -n $rss ]]; do
			echo "$rss" >>"$2"
			sleep 1
		done' rss_watch "$1" "$2"
}

# wait_exit PID SECS: wait up to SECS for background child PID to end; leaves
# its exit status in AGENT_RC. Fails the test if it is still running.
wait_exit()
{
	local i

	for ((i = 0; i < $2 * 10; i++)); do
		alive "$1" || break
		sleep 0.1
	done
	alive "$1" && fail "pid $1 still running after ${2}s"
	wait "$1"
	AGENT_RC=$?
}

# otlp_requests DIR: one line per request the receiver in DIR stored, in order:
#   N TAB STATUS TAB ARRIVAL(s) TAB SAMPLES TAB PROFILE_IDS(distinct, ",") TAB
#   START_NS TAB END_NS TAB ok|ERROR TAB BYTES
# (ARRIVAL in seconds since the epoch, START/END the profiles' time window,
# BYTES the body's size as sent before any Content-Encoding).
otlp_requests()
{
	python3 "$OTLP_PY" requests --tsv "$1"
}

# --- Trace correlation: span labels, OTLP links, the agent's link counters ---

# trace_samples FILE: every sample of FILE with its labels, one per line:
#   count TAB frames TAB pid TAB labels
# in the order `samples` prints them; frames as there (root first, ";").
# labels are all of the sample's labels as " KEY=VALUE KEY=VALUE " (a space
# at both ends), so that index($4, " span_id=00f067aa0ba902b7 ") tests one.
trace_samples()
{
	samples "$1" >"$T/trace_samples.frames" || fail "cannot read the samples of $1"
	pp -raw "$1" >"$T/trace_samples.raw"
	awk '
	/^Samples:$/ { sect = "hdr"; next }
	/^Locations$/ { sect = "loc"; next }
	sect == "hdr" { sect = "smp"; next }
	sect == "smp" && /^ *-?[0-9]+( +-?[0-9]+)*: / { lab[++n] = " "; next }
	sect == "smp" && /^                [^ ]/ {
		s = $0
		while (match(s, /[^ ]+:\[[^]]*\]/)) {
			t = substr(s, RSTART, RLENGTH)
			s = substr(s, RSTART + RLENGTH)
			k = t
			sub(/:\[.*$/, "", k)
			v = substr(t, length(k) + 3, length(t) - length(k) - 3)
			sub(/ .*$/, "", v)
			lab[n] = lab[n] k "=" v " "
		}
		next
	}
	END { for (i = 1; i <= n; i++) print lab[i] }' "$T/trace_samples.raw" >"$T/trace_samples.labels"
	paste "$T/trace_samples.frames" "$T/trace_samples.labels" |
		awk -F '\t' -v OFS='\t' '{ print $1, $7, $3, $9 }'
}

# leaf_with TSV LEAF [COND...]: of trace_samples lines in TSV, "N M": N the
# samples whose leaf frame is LEAF, M those of them meeting every COND:
# KEY=VALUE (the label has that value), KEY (the label is there) or !KEY
# (it is not). With PID=N in the environment, only that process's samples.
leaf_with()
{
	local tsv=$1 leaf=$2

	shift 2
	awk -F '\t' -v leaf="$leaf" -v conds="$*" -v pid="${PID:-}" '
	BEGIN { nc = split(conds, c, " ") }
	function ok(lab,    i, k) {
		for (i = 1; i <= nc; i++) {
			k = c[i]
			if (k ~ /^!/) {
				if (index(lab, " " substr(k, 2) "="))
					return 0
			} else if (k ~ /=/) {
				if (!index(lab, " " k " "))
					return 0
			} else if (!index(lab, " " k "=")) {
				return 0
			}
		}
		return 1
	}
	pid != "" && $3 != pid { next }
	{
		nf = split($2, fr, ";")
		if (fr[nf] != leaf)
			next
		n += $1
		if (ok($4))
			m += $1
	}
	END { print n + 0, m + 0 }' "$tsv"
}

# with_label TSV COND: samples of trace_samples lines in TSV (only PID's with
# PID=N set) meeting COND (as in leaf_with), whatever their leaf.
with_label()
{
	awk -F '\t' -v cond="$2" -v pid="${PID:-}" '
	pid != "" && $3 != pid { next }
	cond ~ /=/ && index($4, " " cond " ") { n += $1; next }
	cond !~ /=/ && index($4, " " cond "=") { n += $1 }
	END { print n + 0 }' "$1"
}

# link_stat NAME: one of the trace-correlation counters of the agent's -v
# report in $T/agent.err, NAME being links, read_fault, invalid or merged;
# -1 if the report has none. The counter may be printed as "NAME N",
# "NAME: N", "NAME=N" or "N NAME" (one per item of a list separated by
# commas, semicolons or parentheses) on any line that mentions links (the
# unwinder's "read fault" counter, on the "walks ended early" line, is not
# taken for the link one).
link_stat()
{
	local re

	case $1 in
	links) re='links?|links? recorded|samples with (a )?links?|linked' ;;
	read_fault) re='link_read_faults?|link read faults?|read faults?' ;;
	invalid) re='link_invalid|invalid links?|invalid records?|invalid' ;;
	merged) re='links_merged|links? merged|merged' ;;
	*) fail "link_stat: unknown counter $1" ;;
	esac
	awk -v re="$re" '
	/walks ended early/ || !/[Ll]ink/ { next }
	!found {
		# One counter per comma/semicolon/parenthesis-separated item.
		ni = split($0, item, /[,;()]/)
		for (i = 1; i <= ni && !found; i++) {
			s = " " item[i] " "
			if (match(s, " (" re ")( *[:=] *| +)[0-9]+ ")) {
				t = substr(s, RSTART, RLENGTH)
				gsub(/[^0-9]+/, " ", t)
				n = split(t, d, " ")
				v = d[n]
				found = 1
			} else if (match(s, " [0-9]+ (" re ") ")) {
				t = substr(s, RSTART + 1, RLENGTH - 1)
				sub(/ .*$/, "", t)
				v = t
				found = 1
			}
		}
	}
	END { print found ? v + 0 : -1 }' "$T/agent.err"
}

# link_line: the agent's -v lines that mention links, for messages.
link_line()
{
	grep -i 'link' "$T/agent.err" | grep -v 'walks ended early' | sed 's/^emberprof: //' |
		tr '\n' ' '
}

# otlp_trace_samples BODY: the samples of a stored OTLP request with their
# links, one line per sample, and each profiled process's resource:
#   S TAB pid TAB count TAB leaf TAB trace_id TAB span_id TAB attrs
#   R TAB pid TAB attrs
# pid is the resource's process.pid; leaf the innermost function of the
# first native frame ("?" if none); trace_id/span_id the hex of the
# link_table entry the sample's link_index names ("-" for link_index 0);
# attrs the sample's (or resource's) attributes as " KEY=VALUE ... ". An
# index out of range or a link entry whose ids are not 16/8 bytes prints
# "fail: ..." on stderr and exits 1. Uses tests/otlp/otlp.py's decoder.
otlp_trace_samples()
{
	python3 - "$OTLP_PY" "$1" <<'PY'
import importlib.util
import sys

spec = importlib.util.spec_from_file_location("otlp", sys.argv[1])
otlp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(otlp)


def kv(d):
    return " " + "".join("%s=%s " % (k, v) for k, v in sorted(d.items()))


try:
    with open(sys.argv[2], "rb") as f:
        req = otlp.decode(f.read())
    c = otlp.Checker(req)
    links = c.d["link_table"]
    for rp in req["resource_profiles"]:
        rattrs = {}
        for a in (rp.get("resource") or {}).get("attributes", []):
            key = a.get("key") or c.s(a.get("key_strindex", 0), "resource key")
            rattrs[key] = otlp.anyvalue(a.get("value"))
        pid = rattrs.get("process.pid", "?")
        print("R\t%s\t%s" % (pid, kv(rattrs)))
        for sp in rp["scope_profiles"]:
            for p in sp["profiles"]:
                for s in p["samples"]:
                    li = c.idx("link_table", s.get("link_index", 0), "sample.link_index")
                    tid = sid = "-"
                    if li:
                        l = links[li]
                        if len(l.get("trace_id", b"")) != 16 or len(l.get("span_id", b"")) != 8:
                            raise otlp.Bad("link_table[%d] ids are not 16 + 8 bytes" % li)
                        tid, sid = l["trace_id"].hex(), l["span_id"].hex()
                    st = c.d["stack_table"][c.idx("stack_table", s.get("stack_index", 0), "stack_index")]
                    leaf = "?"
                    for loc in st["location_indices"]:
                        ty, names, _ = c.frame(c.idx("location_table", loc, "location"))
                        if ty != "kernel" and names:
                            leaf = names[0]
                            break
                    sattrs = c.attrs(s["attribute_indices"], "sample.attribute_indices")
                    print("S\t%s\t%d\t%s\t%s\t%s\t%s" % (pid, sum(s["values"]) or 1, leaf, tid, sid,
                                                      kv(sattrs)))
except otlp.Bad as e:
    print("fail: %s: %s" % (sys.argv[2], e), file=sys.stderr)
    sys.exit(1)
PY
}

# otlp_leaf_with TSV LEAF TRACE SPAN [KEY=VALUE...]: of otlp_trace_samples S
# lines in TSV (only PID's with PID=N set), "N M": N the samples with leaf
# LEAF, M those of them linked to TRACE/SPAN ("-" "-": no link) carrying
# every KEY=VALUE sample attribute.
otlp_leaf_with()
{
	local tsv=$1 leaf=$2 tr=$3 sp=$4

	shift 4
	awk -F '\t' -v leaf="$leaf" -v tr="$tr" -v sp="$sp" -v conds="$*" -v pid="${PID:-}" '
	BEGIN { nc = split(conds, c, " ") }
	$1 != "S" || $4 != leaf || (pid != "" && $2 != pid) { next }
	{
		n += $3
		if ($5 != tr || $6 != sp)
			next
		for (i = 1; i <= nc; i++)
			if (!index($7, " " c[i] " "))
				next
		m += $3
	}
	END { print n + 0, m + 0 }' "$tsv"
}

# late_fail MESSAGE: note a failure but go on, so that one run of a test
# shows every problem it can see; late_fail_check (at the end) then fails
# with all of them, in order, joined by "; ".
LATE_FAILS=()
late_fail()
{
	info "FAIL: $*"
	LATE_FAILS+=("$*")
}

late_fail_check()
{
	local msg m

	((${#LATE_FAILS[@]} == 0)) && return 0
	# Joined by hand: fail() exits from here, and a local IFS would still be
	# in force in the EXIT trap, where cleanup splits /proc/PID/stat.
	msg=
	for m in "${LATE_FAILS[@]}"; do
		msg+="${msg:+; }$m"
	done
	fail "${#LATE_FAILS[@]} problem(s): $msg"
}

# --- Large C++ programs: a clang++ compile loop, the unwinder's table budget ---

CLANG_INPUT=$ROOT/tests/e2e/data/clang_input.cpp
CLANG_LOOP=

# clang_loop_start SECS: in the background, compile $CLANG_INPUT with
# `clang++ -std=c++17 -O2 -c` (object file and messages in $T) one compile
# after another, starting none after SECS seconds, so that a test that fails
# leaves no compiler running for long. Each compiler's pid goes to
# $T/clang.pids when it starts and its exit status to $T/clang.rcs when it
# ends. Returns once the first compiler has exec'd clang; leaves the loop's
# pid in CLANG_LOOP. Stop it with clang_loop_stop.
clang_loop_start()
{
	local exe pid i

	command -v clang++ >/dev/null || fail "clang++ is missing (apt-get install clang)"
	[[ -r $CLANG_INPUT ]] || fail "$CLANG_INPUT is missing"
	exe=$(readlink -f "$(command -v clang++)")
	: >"$T/clang.pids"
	: >"$T/clang.rcs"
	# shellcheck disable=SC2016 # the inner shell expands its own $1..$3
	start_bg bash -c '
		end=$((SECONDS + $1))
		while ((SECONDS < end)); do
			clang++ -std=c++17 -O2 -c "$2" -o "$3/clang_input.o" 2>>"$3/clang.err" &
			echo "$!" >>"$3/clang.pids"
			wait "$!"
			echo "$?" >>"$3/clang.rcs"
		done' clang_loop "$1" "$CLANG_INPUT" "$T"
	CLANG_LOOP=$BG_PID
	for ((i = 0; i < 100; i++)); do
		pid=$(head -n 1 "$T/clang.pids")
		if [[ -n $pid && $(readlink "/proc/$pid/exe" 2>/dev/null) == "$exe" ]]; then
			# Let the dynamic loader map libLLVM and libclang-cpp.
			sleep 0.2
			return 0
		fi
		sleep 0.02
	done
	fail "clang++ did not start (pid ${pid:-none}): $(head -n 1 "$T/clang.err" 2>/dev/null)"
}

# clang_loop_stop: stop the loop of clang_loop_start and the compiler it is
# waiting for, by pid. The loop is stopped first so that it starts no other.
clang_loop_stop()
{
	local pid kids=

	[[ -n $CLANG_LOOP ]] || return 0
	if [[ $(stat_field "$CLANG_LOOP" 4) == "$$" ]]; then
		kill -STOP "$CLANG_LOOP" 2>/dev/null
		kids=$(cat "/proc/$CLANG_LOOP/task/$CLANG_LOOP/children" 2>/dev/null)
		# Without /proc/PID/task/TID/children: the last compiler it started.
		[[ -n $kids ]] || kids=$(tail -n 1 "$T/clang.pids")
		for pid in $kids; do
			[[ $(stat_field "$pid" 4) == "$CLANG_LOOP" ]] && kill -KILL "$pid" 2>/dev/null
		done
		kill -KILL "$CLANG_LOOP" 2>/dev/null
		wait "$CLANG_LOOP" 2>/dev/null
	fi
	CLANG_LOOP=
}

# clang_compiles_ok: fails the test if a compile of the loop ended with
# another status than 0; leaves how many ended with 0 in CLANG_DONE (call
# it after clang_loop_stop, whose compiler is killed and never counted).
CLANG_DONE=0
clang_compiles_ok()
{
	local bad

	bad=$(grep -cv '^0$' "$T/clang.rcs")
	((bad == 0)) || fail "$bad clang++ compile(s) of $CLANG_INPUT failed: $(head -n 1 "$T/clang.err")"
	CLANG_DONE=$(grep -c '^0$' "$T/clang.rcs")
}

# labeled_chains FILE: user_chains lines of FILE with each sample's labels
# after them: count TAB chain TAB pid TAB comm TAB process.
labeled_chains()
{
	local n m

	user_chains "$1" >"$T/labeled.chains"
	samples "$1" | cut -f 3,5,6 >"$T/labeled.labels"
	n=$(wc -l <"$T/labeled.chains")
	m=$(wc -l <"$T/labeled.labels")
	((n == m)) || fail "labeled_chains $1: $n chains but $m label lines"
	paste "$T/labeled.chains" "$T/labeled.labels"
}

# perf_pid_chains PERF_DATA: perf_chains' lines with the pid of each sample
# after them: 1 TAB chain TAB pid. perf script runs with --no-inline: its
# default looks inline frames up with addr2line, which takes minutes on
# libLLVM, and user_chains shows physical frames only anyway.
perf_pid_chains()
{
	perf script -i "$1" -F pid,ip,sym,dso --no-inline 2>"$T/perf-script.err" |
		perf_script_chains 1
}

# of_pids PIDFILE: the lines on stdin whose third column (a pid, as samples,
# labeled_chains and perf_pid_chains print it) is one of PIDFILE's lines.
of_pids()
{
	awk -F '\t' 'NR == FNR { want[$1]; next } $3 in want' "$1" -
}

# unwind_phrase PHRASE: the numbers that fill the Ns of PHRASE in the agent's
# -v "unwind:" line in $T/agent.err, separated by spaces: for PHRASE
# "evictions N, rebuilds N" and a line holding "evictions 12, rebuilds 9",
# "12 9". PHRASE is matched literally apart from its Ns (whole words); -1 if
# the line or the phrase is missing.
unwind_phrase()
{
	local line re out='' i

	line=$(grep -m 1 'emberprof: unwind: ' "$T/agent.err")
	# shellcheck disable=SC2016 # $ is one of the characters escaped
	re=$(printf '%s' "$1" | sed -e 's/[][\.*^$(){}?+|/]/\\&/g' -e 's/\bN\b/([0-9]+)/g')
	if [[ -z $line || ! $line =~ $re ]]; then
		echo -1
		return 0
	fi
	for ((i = 1; i < ${#BASH_REMATCH[@]}; i++)); do
		out+="${out:+ }${BASH_REMATCH[i]}"
	done
	echo "$out"
}

# unwind_no_room: how many files (or, with tables built in parts, parts of
# files) the agent's -v "unwind:" line in $T/agent.err says were left
# without a table for lack of room: the sum of its items (separated by ", "
# or "; ") that say "left out", "no room" or "without slots", each counted
# once, its number being the first in it ("5 left out (no room in the rows
# array)", "no room 0", "files without slots 0"). -1 if the line is missing
# or has no such item, so that a change of wording fails a test instead of
# passing it.
unwind_no_room()
{
	awk '
	/emberprof: unwind: / && !seen {
		seen = 1
		s = $0
		sub(/^.*emberprof: unwind: /, "", s)
		gsub(/; /, ", ", s)
		n = split(s, item, ", ")
		for (i = 1; i <= n; i++) {
			if (item[i] !~ /left out|no room|without slots/)
				continue
			if (!match(item[i], /[0-9]+/))
				continue
			sum += substr(item[i], RSTART, RLENGTH)
			found = 1
		}
	}
	END { print found ? sum + 0 : -1 }' "$T/agent.err"
}

# whole_counts TSV: "ALL MAIN OUTSIDE" for the user_chains-style lines in
# TSV: all samples, those whose chain reaches main, and of the others those
# whose stack is whole though main is not on it: in the dynamic loader
# before main (through _dl_start or _dl_sysdep_start, which is all a chain
# may show of it: relocating libLLVM takes clang a while) or in exit
# handlers after main returned (through __libc_start_call_main).
WHOLE_OUTSIDE_RE='(^|;)(_dl_start|_dl_sysdep_start|__libc_start_call_main)(;|$)'
whole_counts()
{
	awk -F '\t' -v outside_re="$WHOLE_OUTSIDE_RE" '
	{ all += $1 }
	$2 ~ /(^|;)main(;|$)/ { main += $1; next }
	$2 ~ outside_re { outside += $1 }
	END { print all + 0, main + 0, outside + 0 }' "$1"
}

# not_whole FILE PIDFILE: on stderr, where the samples of PIDFILE's pids in
# profile FILE that whole_counts does not count as whole stop: per file of
# the outermost frame (the user root; [kernel.kallsyms] for a sample with
# no user frame), their number, their mean depth in user frames and the
# commonest outermost frame. The five largest.
not_whole()
{
	samples "$1" | of_pids "$2" | awk -F '\t' -v outside_re="$WHOLE_OUTSIDE_RE" '
	$7 ~ /(^|;)main(;|$)/ || $7 ~ outside_re { next }
	{
		n = split($7, fr, ";")
		split($8, fi, ";")
		file = fi[1]
		sub(/^.*\//, "", file)
		if (file == "")
			file = "(no frames)"
		for (i = 1; i <= n; i++)
			if (fi[i] != "[kernel.kallsyms]")
				depth[file] += $1
		stop[file] += $1
		root[file, fr[1]] += $1
	}
	END {
		for (k in root) {
			split(k, kk, SUBSEP)
			if (root[k] > best[kk[1]]) {
				best[kk[1]] = root[k]
				name[kk[1]] = kk[2]
			}
		}
		for (f in stop)
			printf "%d\tstop in %s, %.1f user frames deep on average; outermost frame %s in %d\n",
				stop[f], f, depth[f] / stop[f], name[f], best[f]
	}' | sort -rn | head -n 5 >&2
}
