#!/usr/bin/env bash
# bench/run.sh - what does emberprof cost compared with perf and bpftrace?
#
# Keeps every CPU busy and profiles the whole system, one profiler at a time:
#
#   emberprof  build/emberprof -F HZ -d SECS -o e.pb.gz --folded e.folded
#   perf       perf record -e cpu-clock -F HZ -a -g -- sleep SECS
#              + perf script (its post-processing counts toward perf's cost)
#   bpftrace   profile:hz:HZ { @[kstack, ustack, comm] = count(); }
#              interval:s:SECS { exit(); }
#
# Each profiler runs under /usr/bin/time; its CPU seconds (user+sys) and max
# RSS are reported (median over BENCH_REPS runs), with emberprof's ratio to
# each peer and the number of samples every tool captured.
#
# Needs root, perf (linux-perf), bpftrace and GNU time (time).
#
# Environment (defaults in brackets):
#   BENCH_HZ [99]        sampling frequency
#   BENCH_SECS [15]      seconds each profiler runs
#   BENCH_REPS [3]       runs per profiler; medians are reported
#   BENCH_TOOLS ["emberprof perf bpftrace"]  which profilers to run
#   BENCH_LOAD [auto]    auto | cpusplit | spin | sh  (the busy load)
#   BENCH_LOAD_THREADS [CPUs]  busy threads for the spin and sh loads
#   BENCH_PAUSE [1]      seconds of rest between runs
#   BENCH_BPF_STATS [1]  also report in-kernel BPF run time (kernel.bpf_stats)
#   BENCH_KEEP [0]       1 = keep the scratch directory with all outputs
#   O [build]            build directory (as in the Makefile), relative to the repo
#   EMBERPROF [$O/emberprof]   PPROF [$O/pprof]
#   TIME_BIN [/usr/bin/time]

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

HZ=${BENCH_HZ:-99}
SECS=${BENCH_SECS:-15}
REPS=${BENCH_REPS:-3}
TOOLS=${BENCH_TOOLS:-emberprof perf bpftrace}
LOAD=${BENCH_LOAD:-auto}
NCPU=$(getconf _NPROCESSORS_ONLN)
LOAD_THREADS=${BENCH_LOAD_THREADS:-$NCPU}
PAUSE=${BENCH_PAUSE:-1}
BPF_STATS=${BENCH_BPF_STATS:-1}
KEEP=${BENCH_KEEP:-0}
OUT=${O:-build}
case $OUT in
/*) ;;
*) OUT=$ROOT/$OUT ;;
esac
EMBERPROF=${EMBERPROF:-$OUT/emberprof}
PPROF=${PPROF:-$OUT/pprof}
TIME_BIN=${TIME_BIN:-/usr/bin/time}
CPUSPLIT=$OUT/workloads/cpusplit

die() {
	printf 'bench: %s\n' "$*" >&2
	exit 1
}

say() {
	printf 'bench: %s\n' "$*" >&2
}

is_uint() {
	case $1 in
	'' | *[!0-9]*) return 1 ;;
	*) return 0 ;;
	esac
}

for v in HZ SECS REPS LOAD_THREADS PAUSE; do
	is_uint "${!v}" || die "$v must be a whole number, not '${!v}'"
done
if [ "$HZ" -eq 0 ] || [ "$SECS" -eq 0 ] || [ "$REPS" -eq 0 ] || [ "$LOAD_THREADS" -eq 0 ]; then
	die "HZ, SECS, REPS and LOAD_THREADS must be > 0"
fi

# --- pre-flight --------------------------------------------------------------

want() {
	case " $TOOLS " in
	*" $1 "*) return 0 ;;
	*) return 1 ;;
	esac
}

for t in $TOOLS; do
	case $t in
	emberprof | perf | bpftrace) ;;
	*) die "unknown tool '$t' in BENCH_TOOLS (emberprof, perf, bpftrace)" ;;
	esac
done

[ "$(id -u)" -eq 0 ] || die "needs root (system-wide perf events and BPF)"

if ! command -v "$TIME_BIN" >/dev/null || ! "$TIME_BIN" -f '' true 2>/dev/null; then
	die "GNU time not found at $TIME_BIN: apt-get install time"
fi
command -v awk >/dev/null || die "awk not found: apt-get install mawk"
if want perf; then
	command -v perf >/dev/null || die "perf not found: apt-get install linux-perf"
fi
if want bpftrace; then
	command -v bpftrace >/dev/null || die "bpftrace not found: apt-get install bpftrace"
fi
if want emberprof; then
	[ -x "$EMBERPROF" ] || die "$EMBERPROF not found: run 'make' first" \
		"(or BENCH_TOOLS='perf bpftrace' to bench only the peers)"
fi

TMP=$(mktemp -d /tmp/emberprof-bench.XXXXXX)
LOAD_PIDS=()
WATCH_PID=
PROF_PID=
OLD_BPF_STATS=

cleanup() {
	local pid
	if [ -n "$PROF_PID" ]; then
		# a profiler still running: stop it and whatever it started
		for pid in $(tree_pids "$PROF_PID"); do
			kill "$pid" 2>/dev/null || true
		done
		wait "$PROF_PID" 2>/dev/null || true
	fi
	for pid in "${LOAD_PIDS[@]}" $WATCH_PID; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${LOAD_PIDS[@]}" $WATCH_PID; do
		wait "$pid" 2>/dev/null || true
	done
	if [ -n "$OLD_BPF_STATS" ]; then
		echo "$OLD_BPF_STATS" >/proc/sys/kernel/bpf_stats_enabled 2>/dev/null || true
	fi
	if [ "$KEEP" = 1 ]; then
		say "outputs kept in $TMP"
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# In-kernel BPF run time is charged to whichever task a sample interrupts,
# not to the profiler, so /usr/bin/time cannot see it. With kernel.bpf_stats
# on, the fdinfo of each BPF program fd shows its run_time_ns; we poll the
# profiler's fds during a run.
if [ "$BPF_STATS" = 1 ] && command -v ps >/dev/null &&
	[ -w /proc/sys/kernel/bpf_stats_enabled ]; then
	OLD_BPF_STATS=$(cat /proc/sys/kernel/bpf_stats_enabled)
	echo 1 >/proc/sys/kernel/bpf_stats_enabled
else
	BPF_STATS=0
fi

# --- the busy load -----------------------------------------------------------

LOAD_DESC=
SPIN=

if [ "$LOAD" = auto ]; then
	if [ -x "$CPUSPLIT" ]; then
		LOAD=cpusplit
	elif command -v cc >/dev/null; then
		LOAD=spin
	else
		LOAD='sh'
	fi
fi
case $LOAD in
cpusplit)
	[ -x "$CPUSPLIT" ] || die "$CPUSPLIT not built"
	LOAD_DESC="${CPUSPLIT#"$ROOT"/}"
	;;
spin)
	SPIN=$TMP/spin
	cc -O2 -g -fno-omit-frame-pointer -pthread -o "$SPIN" "$ROOT/bench/spin.c" ||
		die "could not compile bench/spin.c"
	LOAD_DESC="bench/spin.c, $LOAD_THREADS threads"
	;;
sh)
	LOAD_DESC="$LOAD_THREADS sh busy loops"
	;;
*) die "unknown BENCH_LOAD '$LOAD' (auto, cpusplit, spin, sh)" ;;
esac

start_load() {
	local secs=$((SECS + 60)) i
	LOAD_PIDS=()
	case $LOAD in
	cpusplit)
		"$CPUSPLIT" "$secs" >/dev/null 2>&1 &
		LOAD_PIDS+=("$!")
		;;
	spin)
		"$SPIN" "$secs" "$LOAD_THREADS" &
		LOAD_PIDS+=("$!")
		;;
	sh)
		for ((i = 0; i < LOAD_THREADS; i++)); do
			sh -c 'while :; do :; done' &
			LOAD_PIDS+=("$!")
		done
		;;
	esac
	sleep 0.5 # let the load get going before the profiler starts
}

# Returns non-zero if some part of the load had already gone away.
stop_load() {
	local pid ok=0
	for pid in "${LOAD_PIDS[@]}"; do
		kill -0 "$pid" 2>/dev/null || ok=1
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	LOAD_PIDS=()
	return "$ok"
}

# "idle total" jiffies from the first line of /proc/stat
cpu_jiffies() {
	awk '$1 == "cpu" {
		t = 0
		for (i = 2; i <= NF; i++) t += $i
		print $5 + $6, t
		exit
	}' /proc/stat
}

# --- BPF run time ------------------------------------------------------------

# prints PID and the pids of all its descendants
tree_pids() {
	ps -eo pid=,ppid= | awk -v root="$1" '
		{ parent[$1] = $2 }
		END {
			want[root] = 1
			print root
			do {
				more = 0
				for (p in parent)
					if (!(p in want) && (parent[p] in want)) {
						want[p] = 1
						print p
						more = 1
					}
			} while (more)
		}'
}

# While process PID lives, prints "prog_id run_time_ns" for every BPF program
# that it or its descendants hold open (from /proc/*/fdinfo), every 0.25 s.
bpf_watch() {
	local p
	while kill -0 "$1" 2>/dev/null; do
		for p in $(tree_pids "$1"); do
			cat "/proc/$p/fdinfo/"* 2>/dev/null | awk '
				/^pos:/ { id = "" }
				/^prog_id:/ { id = $2 }
				/^run_time_ns:/ && id != "" { print id, $2 }'
		done
		sleep 0.25
	done
}

# Prints the milliseconds of BPF run time seen during the run (a lower bound:
# the last poll interval is not seen), or "-".
bpf_ms() {
	if [ "$BPF_STATS" != 1 ]; then
		echo -
		return 0
	fi
	awk '$2 + 0 > max[$1] + 0 { max[$1] = $2 }
		END {
			n = 0
			for (id in max) { s += max[id]; n++ }
			if (n) printf "%.1f\n", s / 1e6; else print "-"
		}' "$TMP/bpf.seen"
}

# --- one measured command ----------------------------------------------------

# timed NAME CMD... : runs CMD under GNU time, stdout to $TMP/NAME.out,
# stderr to $TMP/NAME.err; sets T_WALL T_CPU T_RSS (seconds, seconds, KiB).
timed() {
	local name=$1 rc=0
	shift
	"$TIME_BIN" -f '%e %U %S %M' -o "$TMP/$name.time" "$@" \
		>"$TMP/$name.out" 2>"$TMP/$name.err" &
	PROF_PID=$!
	if [ "$BPF_STATS" = 1 ]; then
		bpf_watch "$PROF_PID" >>"$TMP/bpf.seen" &
		WATCH_PID=$!
	fi
	wait "$PROF_PID" || rc=$?
	PROF_PID=
	if [ -n "$WATCH_PID" ]; then
		kill "$WATCH_PID" 2>/dev/null || true
		wait "$WATCH_PID" 2>/dev/null || true
		WATCH_PID=
	fi
	if [ "$rc" -ne 0 ]; then
		say "$name failed (exit $rc): $*"
		tail -n 20 "$TMP/$name.err" >&2
		exit 1
	fi
	read -r T_WALL T_CPU T_RSS < <(tail -n 1 "$TMP/$name.time" |
		awk '{printf "%s %.3f %s\n", $1, $2 + $3, $4}')
}

# --- sample counts -----------------------------------------------------------

emberprof_samples() {
	local folded=$1 pb=$2
	if [ -s "$folded" ]; then
		awk '$NF ~ /^[0-9]+$/ {s += $NF} END {print s + 0}' "$folded"
	elif [ -s "$pb" ] && [ -x "$PPROF" ]; then
		# -raw lists samples as "  count [value...]: loc loc ..."
		"$PPROF" -symbolize=none -raw "$pb" 2>/dev/null | awk '
			/^Samples:/ { on = 1; next }
			/^(Locations|Mappings)/ { on = 0 }
			on && $1 ~ /^[0-9]+$/ && /:/ { s += $1 }
			END { print s + 0 }'
	else
		echo -
	fi
}

perf_samples() {
	# sample header lines; callchain lines start with a tab
	awk '!/^\t/ && / cpu-clock:/ {n++} END {print n + 0}' "$1"
}

bpftrace_samples() {
	awk '/\]: [0-9]+$/ {s += $NF} END {print s + 0}' "$1"
}

# --- one run of each profiler ------------------------------------------------

RESULTS=$TMP/results
: >"$RESULTS"

run_emberprof() {
	local r=$1
	rm -f "$TMP/e.pb.gz" "$TMP/e.folded"
	timed "emberprof.$r" "$EMBERPROF" -F "$HZ" -d "$SECS" \
		-o "$TMP/e.pb.gz" --folded "$TMP/e.folded"
	R_WALL=$T_WALL R_CPU=$T_CPU R_RSS=$T_RSS
	R_SAMPLES=$(emberprof_samples "$TMP/e.folded" "$TMP/e.pb.gz")
	R_DETAIL=
}

run_perf() {
	local r=$1 rec_cpu
	rm -f "$TMP/perf.data"
	timed "perf-record.$r" perf record -e cpu-clock -F "$HZ" -a -g \
		-o "$TMP/perf.data" -- sleep "$SECS"
	R_WALL=$T_WALL R_CPU=$T_CPU R_RSS=$T_RSS rec_cpu=$T_CPU
	timed "perf-script.$r" perf script -i "$TMP/perf.data"
	R_WALL=$(awk -v a="$R_WALL" -v b="$T_WALL" 'BEGIN {printf "%.2f", a + b}')
	R_CPU=$(awk -v a="$R_CPU" -v b="$T_CPU" 'BEGIN {printf "%.3f", a + b}')
	[ "$T_RSS" -gt "$R_RSS" ] && R_RSS=$T_RSS
	R_SAMPLES=$(perf_samples "$TMP/perf-script.$r.out")
	R_DETAIL="record ${rec_cpu}s + script ${T_CPU}s"
	rm -f "$TMP/perf.data" "$TMP/perf-script.$r.out"
}

run_bpftrace() {
	local r=$1
	timed "bpftrace.$r" bpftrace -e "profile:hz:$HZ { @[kstack, ustack, comm] = count(); }
interval:s:$SECS { exit(); }"
	R_WALL=$T_WALL R_CPU=$T_CPU R_RSS=$T_RSS
	R_SAMPLES=$(bpftrace_samples "$TMP/bpftrace.$r.out")
	R_DETAIL=
}

one_run() {
	local tool=$1 r=$2 j0 j1 busy bpf
	start_load
	read -r -a j0 < <(cpu_jiffies)
	: >"$TMP/bpf.seen"
	"run_$tool" "$r"
	bpf=$(bpf_ms)
	read -r -a j1 < <(cpu_jiffies)
	stop_load || say "warning: the load ended before $tool did; raise its duration"
	busy=$(awk -v i0="${j0[0]}" -v t0="${j0[1]}" -v i1="${j1[0]}" -v t1="${j1[1]}" \
		'BEGIN {d = t1 - t0; printf "%.0f", (d > 0 ? 100 * (1 - (i1 - i0) / d) : 0)}')
	printf '%s %s %s %s %s %s %s %s\n' "$tool" "$r" "$R_WALL" "$R_CPU" \
		"$R_RSS" "$R_SAMPLES" "$bpf" "$busy" >>"$RESULTS"
	say "$(printf '%-9s run %d: cpu %6.3fs  maxrss %7d KiB  samples %6s  wall %5.1fs  busy %s%%%s' \
		"$tool" "$r" "$R_CPU" "$R_RSS" "$R_SAMPLES" "$R_WALL" "$busy" \
		"${R_DETAIL:+  ($R_DETAIL)}")"
}

ntools=$(echo "$TOOLS" | wc -w)
say "load: $LOAD_DESC; $ntools profiler(s) x $REPS run(s) x ${SECS}s at ${HZ} Hz" \
	"(about $((ntools * REPS * (SECS + 3 + PAUSE)))s)"

for ((r = 1; r <= REPS; r++)); do
	for tool in $TOOLS; do
		one_run "$tool" "$r"
		sleep "$PAUSE"
	done
done

# --- report ------------------------------------------------------------------

# median TOOL COLUMN: median of the numeric values in that column, or "-"
median() {
	awk -v t="$1" -v c="$2" '$1 == t && $c ~ /^[0-9.]+$/ {print $c}' "$RESULTS" |
		sort -g | awk '{a[NR] = $1}
			END {
				if (NR == 0) print "-"
				else if (NR % 2) print a[(NR + 1) / 2]
				else print (a[NR / 2] + a[NR / 2 + 1]) / 2
			}'
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b + 0 > 0) printf "%.3f\n", a / b
		else print "n/a"
	}'
}

declare -A M_CPU M_RSS
echo
echo "emberprof bench: ${HZ} Hz, ${SECS} s, $REPS run(s) each (medians)," \
	"$NCPU CPUs, load: $LOAD_DESC"
echo "expected samples per run: about $((HZ * SECS * NCPU)) (${HZ} Hz x ${SECS} s x $NCPU CPUs)"
echo
printf '%-10s %10s %12s %10s %9s %8s %6s\n' tool cpu_s max_rss_MiB samples wall_s bpf_ms busy%
for tool in $TOOLS; do
	M_CPU[$tool]=$(median "$tool" 4)
	M_RSS[$tool]=$(median "$tool" 5)
	printf '%-10s %10.3f %12.1f %10s %9.2f %8s %6s\n' "$tool" "${M_CPU[$tool]}" \
		"$(awk -v k="${M_RSS[$tool]}" 'BEGIN {print k / 1024}')" \
		"$(median "$tool" 6)" "$(median "$tool" 3)" "$(median "$tool" 7)" \
		"$(median "$tool" 8)"
done
echo
echo "cpu_s = user+sys of the profiler's processes (perf: record + script), in the"
echo "        0.01 s steps GNU time reports;"
echo "bpf_ms = in-kernel BPF program run time, charged to the interrupted tasks"
echo "         and so not in cpu_s (a lower bound; - = none or not measured)"

if want emberprof; then
	echo
	echo "emberprof cpu_s = ${M_CPU[emberprof]}"
	echo "emberprof max_rss_kib = ${M_RSS[emberprof]}"
	for peer in perf bpftrace; do
		want "$peer" || continue
		echo "ratio cpu emberprof/$peer = $(ratio "${M_CPU[emberprof]}" "${M_CPU[$peer]}")"
	done
	for peer in perf bpftrace; do
		want "$peer" || continue
		echo "ratio maxrss emberprof/$peer = $(ratio "${M_RSS[emberprof]}" "${M_RSS[$peer]}")"
	done
fi
