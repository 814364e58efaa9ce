#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_soak: the agent stays flat, and within its memory budget, while
# processes churn.
#
# A churner starts ~200 short processes per second (each burns CPU in
# churn_child_burn for 3 ms and exits) while the agent profiles the whole
# machine at 99 Hz in 10-second intervals, serving /metrics, with a small
# budget (--memory-mb 24, --symbol-cache-mb 1, --module-cache 2) so that it
# has to evict. Every SOAK_PERIOD seconds
# the test records the agent's RSS, open fds, BPF map fill and the heap by
# holder. It asserts:
#   - the agent exits 0, wrote every interval's profile and lost no sample;
#   - RSS never exceeds the budget plus 16 MiB (the binary's and libraries'
#     pages, thread stacks and the BPF maps mapped into the agent), and the
#     budget really was exceeded and met by evicting, with cache entries and
#     idle modules among what went;
#   - RSS is flat: the largest reading of the last half is at most 25% (plus
#     8 MiB) above the largest of the first half;
#   - no fd leak. The agent's file fds move with whatever else runs on the
#     host: files of exited programs stay open in the symbolizer's bounded
#     idle cache, and fall out of it. So over the second half, the non-file
#     fds (BPF objects, perf events, sockets, pipes) vary by <= 2 and the
#     file fds beyond one per symbolizer module by <= 4; and at every
#     reading after the first (start-up) the file fds are at most two per
#     module (the binary, and libdw's own descriptor of it once DWARF is
#     read) plus a few, and the debug-file fds at most one per module;
#   - the churn processes (by pid: the churner writes down its children's)
#     have 80-110% of the samples their CPU time (the churner's own and its
#     reaped children's, from /proc) gives at 99 Hz, allowing for steal,
#     and >= 95% of them have a named leaf frame (the processes are gone
#     long before the interval is symbolized).
# SOAK_SECONDS (default 40) makes it the long soak of bench/soak.sh;
# SOAK_MEMORY_MB=default runs it at the default budget, where RSS must stay
# within 64 MiB.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins churn
SECS=${SOAK_SECONDS:-40}
PERIOD=${SOAK_PERIOD:-5}
PORT=$((17000 + RANDOM % 1000))
AGENT_TIMEOUT=$((SECS + 60))
MEM=${SOAK_MEMORY_MB:-24}
if [[ $MEM == default ]]; then
	mem_flag=()
	rss_max=$((64 * 1024))
else
	# Caps small enough to evict: the address cache and the idle modules.
	mem_flag=(--memory-mb "$MEM" --symbol-cache-mb 1 --module-cache 2)
	rss_max=$(((MEM + 16) * 1024))
fi

CHURN_PIDS=$T/churn.pids start_bg "$WL/churn" $((SECS + 5)) 200 3
CHURN=$BG_PID
churn0=$(CHILDREN=1 cpu_ticks "$CHURN")
wall0=$(date +%s.%N)
start_bg timeout -k 5 "$AGENT_TIMEOUT" "$EMBERPROF" -v -F 99 -d "$SECS" -i 10 "${mem_flag[@]}" \
	-o "$T/p-%n.pb.gz" --folded "$T/f-%n.folded" --status-addr "127.0.0.1:$PORT" \
	2>"$T/agent.err"
AGENT=$BG_PID
sleep 2
agent_pid=$(pgrep -P "$AGENT" -x emberprof || echo "$AGENT")
metric() {
	curl -s --max-time 2 "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}

: >"$T/readings"
elapsed=0
while kill -0 "$agent_pid" 2>/dev/null && ((elapsed < SECS + 30)); do
	# The module count is read before and after the fds, and the larger
	# taken: a module opened between the reads is then still counted.
	mods1=$(metric emberprof_symbolizer_modules)
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$agent_pid/status" 2>/dev/null)
	read -r ffds dfds ofds < <(find "/proc/$agent_pid/fd" -mindepth 1 -maxdepth 1 \
		-printf '%l\n' 2>/dev/null | awk '/^\/usr\/lib\/debug\/|\.debug$/ { d++; next }
		/^\// { f++; next } { o++ } END { print f + 0, d + 0, o + 0 }')
	mods2=$(metric emberprof_symbolizer_modules)
	rows=$(metric emberprof_unwind_rows_used)
	mods=$((${mods1:-0} > ${mods2:-0} ? ${mods1:-0} : ${mods2:-0}))
	heap=$(curl -s --max-time 2 "http://127.0.0.1:$PORT/metrics" | awk '
		$1 == "emberprof_heap_bytes" { printf "heap=%.1fMiB", $2 / 1048576 }
		$1 ~ /^emberprof_memory_bytes\{/ {
			split($1, k, "\""); printf " %s=%.1f", k[2], $2 / 1048576 }')
	[[ -n $rss ]] && echo "$elapsed $rss $ffds $ofds $mods $dfds ${rows:-0}" >>"$T/readings"
	info "t=${elapsed}s rss=${rss}kB fds=$ffds files + $dfds debug + $ofds others" \
		"modules=$mods unwind_rows=${rows:-?} ${heap:-}"
	sleep "$PERIOD"
	elapsed=$((elapsed + PERIOD))
done
wait "$AGENT"
rc=$?
alive "$CHURN" || fail "churn exited before the agent did"
churn_cpu=$(($(CHILDREN=1 cpu_ticks "$CHURN") - churn0))
wall=$(awk -v a="$wall0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
((rc == 0)) || fail "agent exited $rc: $(tail -n 3 "$T/agent.err")"
grep '^emberprof: memory:' "$T/agent.err" | tail -n 1 | sed 's/^/# /'
summary=$(grep -E '^emberprof: [0-9]+ samples on ' "$T/agent.err" | tail -n 1)
info "${summary#emberprof: }"
[[ $summary =~ \ samples\ on\ [a-z-]+,\ ([0-9]+)\ lost ]] || fail "no summary line from the agent"
((BASH_REMATCH[1] == 0)) || fail "${BASH_REMATCH[1]} samples lost: $summary"
nprof=$(find "$T" -name 'p-*.pb.gz' | wc -l)
((nprof >= SECS / 10)) || fail "only $nprof interval profiles written (want >= $((SECS / 10)))"

n=$(wc -l <"$T/readings")
((n >= 6)) || fail "only $n readings of the agent"
over=$(awk -v max="$rss_max" '$2 > max { print "t=" $1 "s: " $2 " kB"; exit }' "$T/readings")
[[ -z $over ]] || fail "RSS above the budget + 16 MiB ($rss_max kB): $over"
if [[ $MEM != default ]]; then
	last=$(grep '^emberprof: memory:' "$T/agent.err" | tail -n 1)
	evicted=$(sed -n 's/.*evicted \([0-9]*\) idle modules, \([0-9]*\) DWARF sessions, \([0-9]*\) cache entries; \([0-9]*\) of.*/\1 \2 \3 \4/p' <<<"$last")
	read -r ev_mod ev_dw ev_cache n_over <<<"$evicted"
	((${n_over:-0} > 0 && ${ev_mod:-0} + ${ev_dw:-0} + ${ev_cache:-0} > 0)) ||
		fail "a ${MEM} MiB budget never exceeded or nothing evicted (${evicted:-no memory line})"
	((${ev_cache:-0} > 0)) || fail "--symbol-cache-mb 1 evicted no cache entry ($evicted)"
	((${ev_mod:-0} > 0)) || fail "--module-cache 2 evicted no idle module ($evicted)"
fi
read -r first_max last_max < <(awk -v n="$n" '
	NR <= n / 2 { if ($2 > a) a = $2 }
	NR > n / 2 { if ($2 > b) b = $2 }
	END { print a + 0, b + 0 }' "$T/readings")
info "rss max: first half ${first_max} kB, second half ${last_max} kB"
((last_max <= first_max * 125 / 100 + 8192)) ||
	fail "RSS grew: ${first_max} kB in the first half, ${last_max} kB in the second"
# Second half: the ranges of the non-file fds and of the file fds beyond one per module.
read -r omin omax xmin xmax < <(awk -v n="$n" 'NR > n / 2 { o = $4; x = $3 - $5
	if (!seen++) { olo = ohi = o; xlo = xhi = x }
	if (o < olo) olo = o; if (o > ohi) ohi = o; if (x < xlo) xlo = x; if (x > xhi) xhi = x }
	END { print olo + 0, ohi + 0, xlo + 0, xhi + 0 }' "$T/readings")
((omax - omin <= 2)) || fail "non-file fds varied from $omin to $omax in the second half"
((xmax - xmin <= 4)) ||
	fail "file fds beyond one per module varied from $xmin to $xmax in the second half"
# Beyond the modules' binaries: stdin/out/err, /dev/null and libbpf's memfd.
# From the second reading on: the first falls in start-up, while the agent
# evicts down to its budget after reading every process (one CI run read
# 70 file fds for 15 modules at t=0, then 72 for 64 at t=5 s).
over=$(awk 'NR > 1 && ($3 > 2 * $5 + 8 || $6 > $5) {
	print "t=" $1 "s: " $3 " file and " $6 " debug-file fds for " $5 " modules"; exit }' \
	"$T/readings")
[[ -z $over ]] || fail "file fds outgrew the symbolizer's modules: $over"

cat "$T"/f-*.folded >"$T/all.folded"
# The churn processes' samples are counted by pid (the churner's and the
# children it wrote down) and name, so that another process named "exe" on
# a busy host does not add to them, nor one that got a churn child's pid
# after it (pid_max is 32768 here: a long soak wraps it).
for f in "$T"/p-*.pb.gz; do samples "$f"; done >"$T/all.tsv"
by_pid=$(awk -F '\t' 'NR == FNR { p[$1] = 1; next }
	($3 in p) && ($6 == "churn" || $6 == "exe" || $5 == "churn" || $5 == "exe") { n += $1 }
	END { print n + 0 }' <(echo "$CHURN"; cat "$T/churn.pids") "$T/all.tsv")
# The children exec /proc/self/exe, so one that is gone before the agent
# reads its executable is named by its comm, "exe": those count as churn
# samples. The named-leaf share is judged on the ones named "churn" (whose
# mappings the agent read); the "exe" ones are reported (see the note on
# issue 14: many of their leaves are unnamed).
read -r total unnamed named n_unnamed < <(awk '/^(churn|exe);/ {
	c = $NF; $NF = ""; sub(/ +$/, ""); n = split($0, f, ";"); t += c
	bad = f[n] ~ /^0x|\+0x/
	if (bad) u += c
	if (f[1] == "churn") { nt += c; if (bad) nu += c }
} END { print t + 0, u + 0, nt + 0, nu + 0 }' "$T/all.folded")
info "churn samples: $total, with an unnamed leaf: $unnamed; named churn: $named, unnamed leaf: $n_unnamed"
# All of them: the churner and its children's CPU time over the run says
# how many (a profiler losing short-lived processes fails here).
((total >= by_pid)) || fail "$by_pid samples of the churn pids, but only $total named churn or exe"
((total - by_pid <= total / 100 + 5)) ||
	info "$((total - by_pid)) samples named churn or exe are of other pids"
cpu_bounds "$by_pid" "churn processes" "$churn_cpu" 99 "$SECS" "$wall"
((named * 2 >= total)) || fail "only $named of $total churn samples are named churn"
((n_unnamed * 100 <= named * 5)) ||
	fail "$n_unnamed of $named churn samples have an unnamed leaf (want <= 5%)"
exit 0
