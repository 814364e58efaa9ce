#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_soak: the agent stays flat while processes churn.
#
# A churner starts ~200 short processes per second (each burns CPU in
# churn_child_burn for 3 ms and exits) while the agent profiles the whole
# machine at 99 Hz in 10-second intervals, serving /metrics. Every
# SOAK_PERIOD seconds the test records the agent's RSS, open fds and BPF map
# fill. It asserts:
#   - the agent exits 0 and wrote every interval's profile;
#   - RSS is flat: the largest reading of the last half is at most 25% (plus
#     8 MiB) above the largest of the first half;
#   - no fd growth: over the second half the fd count varies by <= 4;
#   - >= 95% of the churn processes' samples have a named leaf frame (the
#     processes are gone long before the interval is symbolized).
# SOAK_SECONDS (default 60) makes it the 30-minute soak of bench/soak.sh.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins churn
SECS=${SOAK_SECONDS:-60}
PERIOD=${SOAK_PERIOD:-5}
PORT=$((17000 + RANDOM % 1000))
AGENT_TIMEOUT=$((SECS + 60))

start_bg "$WL/churn" $((SECS + 5)) 200 3
start_bg timeout -k 5 "$AGENT_TIMEOUT" "$EMBERPROF" -F 99 -d "$SECS" -i 10 \
	-o "$T/p-%n.pb.gz" --folded "$T/f-%n.folded" --status-addr "127.0.0.1:$PORT"
AGENT=$BG_PID
sleep 2
agent_pid=$(pgrep -P "$AGENT" -x emberprof || echo "$AGENT")

: >"$T/readings"
elapsed=0
while kill -0 "$agent_pid" 2>/dev/null && ((elapsed < SECS + 30)); do
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$agent_pid/status" 2>/dev/null)
	fds=$(find "/proc/$agent_pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
	rows=$(curl -s --max-time 2 "http://127.0.0.1:$PORT/metrics" |
		awk '/^emberprof_unwind_rows_used / { print $2 }')
	[[ -n $rss ]] && echo "$elapsed $rss $fds ${rows:-0}" >>"$T/readings"
	info "t=${elapsed}s rss=${rss}kB fds=$fds unwind_rows=${rows:-?}"
	sleep "$PERIOD"
	elapsed=$((elapsed + PERIOD))
done
wait "$AGENT"
rc=$?
((rc == 0)) || fail "agent exited $rc"
nprof=$(find "$T" -name 'p-*.pb.gz' | wc -l)
((nprof >= SECS / 10)) || fail "only $nprof interval profiles written (want >= $((SECS / 10)))"

n=$(wc -l <"$T/readings")
((n >= 6)) || fail "only $n readings of the agent"
read -r first_max last_max < <(awk -v n="$n" '
	NR <= n / 2 { if ($2 > a) a = $2 }
	NR > n / 2 { if ($2 > b) b = $2 }
	END { print a + 0, b + 0 }' "$T/readings")
info "rss max: first half ${first_max} kB, second half ${last_max} kB"
((last_max <= first_max * 125 / 100 + 8192)) ||
	fail "RSS grew: ${first_max} kB in the first half, ${last_max} kB in the second"
# Files of exited programs stay open in the symbolizer's idle cache (bounded),
# so the count settles once that fills: judge the second half.
read -r fmin fmax < <(awk -v n="$n" 'NR > n / 2 { if (!m || $3 < m) m = $3; if ($3 > x) x = $3 }
	END { print m + 0, x + 0 }' "$T/readings")
((fmax - fmin <= 4)) || fail "open fds varied from $fmin to $fmax in the second half"

cat "$T"/f-*.folded >"$T/all.folded"
read -r total unnamed < <(awk '/^churn;/ {
	c = $NF; $NF = ""; sub(/ +$/, ""); n = split($0, f, ";"); t += c
	if (f[n] ~ /^0x|\+0x/) u += c
} END { print t + 0, u + 0 }' "$T/all.folded")
info "churn samples: $total, with an unnamed leaf: $unnamed"
((total >= 50)) || fail "only $total samples of churn processes"
((unnamed * 100 <= total * 5)) ||
	fail "$unnamed of $total churn samples have an unnamed leaf (want <= 5%)"
exit 0
