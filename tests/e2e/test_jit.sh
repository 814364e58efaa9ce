#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_jit: JIT code in anonymous memory is named from /tmp/perf-PID.map,
# and keeps its address when there is no map.
#
# jit copies a loop into an anonymous PROT_EXEC mapping and names it
# jit_hot_loop in its perf map. The agent profiles it with -p at 99 Hz for
# 4 s; the test checks that jit_hot_loop is the hottest function (>= 90%
# flat). Then the negative control: a second jit whose perf map is deleted
# as soon as it is written. Its profile must not name jit_hot_loop, and its
# hottest Location must be an unnamed one whose address lies in the code the
# (deleted) map described: the frame is kept, not dropped, and the sample
# count stays within 25% of the first run's.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins jit

FREQ=99
DUR=4

# perf_map PID: wait for jit's /tmp/perf-PID.map and print its first line.
perf_map()
{
	local i

	for ((i = 0; i < 100; i++)); do
		if [[ -s /tmp/perf-$1.map ]]; then
			head -n 1 "/tmp/perf-$1.map"
			return 0
		fi
		sleep 0.02
	done
	fail "jit (pid $1) wrote no /tmp/perf-$1.map"
}

# With the perf map.
start_workload jit 20
J1=$BG_PID
read -r start size name < <(perf_map "$J1")
[[ $name == jit_hot_loop ]] || fail "perf map of jit names '$name'"
agent_cpu "$J1" -F "$FREQ" -d "$DUR" -p "$J1" -o "$T/jit.pb.gz"
alive "$J1" || fail "jit exited before the profile ended"
check_profile "$T/jit.pb.gz"
tot1=$(total "$T/jit.pb.gz")
hot=$(pp_top "$T/jit.pb.gz" | sort -t "$(printf '\t')" -k2,2nr | head -n 1)
info "with map: total=$tot1 hottest=${hot/$'\t'/ }"
cpu_bounds "$tot1" jit "$AGENT_CPU" "$FREQ" "$DUR"
[[ ${hot%%$'\t'*} == jit_hot_loop ]] || fail "hottest function is '${hot%%$'\t'*}', want jit_hot_loop"
((${hot##*$'\t'} * 100 >= tot1 * 90)) ||
	fail "jit_hot_loop has ${hot##*$'\t'} of $tot1 samples flat (want >= 90%)"
# SIGTERM skips jit's atexit, which would have removed its map.
kill "$J1"
wait "$J1"
rm -f "/tmp/perf-$J1.map"

# Without it: the map is gone before the agent starts.
start_workload jit 20
J2=$BG_PID
read -r start size name < <(perf_map "$J2")
rm -f "/tmp/perf-$J2.map"
agent_ok -F "$FREQ" -d "$DUR" -p "$J2" -o "$T/nomap.pb.gz"
alive "$J2" || fail "second jit exited before the profile ended"
check_profile "$T/nomap.pb.gz"
tot2=$(total "$T/nomap.pb.gz")
named=$(flat "$T/nomap.pb.gz" jit_hot_loop)
((named == 0)) || fail "jit_hot_loop named $named times though the perf map was deleted"
within "$tot2" $((tot1 * 3 / 4)) $((tot1 * 5 / 4)) ||
	fail "$tot2 samples without the perf map, $tot1 with it (want within 25%)"

# The hottest leaf Location: "ID: 0xADDR M=N" with no function after it.
pp -raw "$T/nomap.pb.gz" >"$T/nomap.raw"
read -r count addr rest < <(awk '
	/^Samples:$/ { s = 1; next }
	/^Locations$/ { s = 0; l = 1; next }
	/^Mappings$/ { l = 0 }
	s && /^ *[0-9]+ +[0-9]+: / { sub(/:$/, "", $2); n[$3] += $1 }
	l && /^ *[0-9]+: 0x/ { id = $1; sub(/:$/, "", id); line[id] = $0 }
	END {
		for (i in n)
			if (n[i] > best) { best = n[i]; id = i }
		l = line[id]
		sub(/^ *[0-9]+: /, "", l)
		print best + 0, l
	}' "$T/nomap.raw")
info "without map: total=$tot2 hottest leaf location $addr ($count samples): $rest;" \
	"code at 0x$start size 0x$size"
((count * 100 >= tot2 * 90)) || fail "hottest leaf Location has only $count of $tot2 samples"
[[ $rest =~ ^M=[0-9]+$ ]] || fail "JIT Location $addr is not unnamed: '$rest'"
((addr >= 16#$start && addr < 16#$start + 16#$size)) ||
	fail "unnamed Location $addr is outside the JIT code 0x$start+0x$size"
exit 0
