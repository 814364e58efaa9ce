#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_least_privilege: the agent profiles correctly with exactly the
# capabilities the DaemonSet grants, and keeps only what reading processes
# needs once its programs are loaded.
#
# It runs as root with the bounding set cut to the manifest's list
# (BPF, PERFMON, SYS_PTRACE, SYS_RESOURCE, DAC_READ_SEARCH, SYSLOG,
# CHECKPOINT_RESTORE) and no inheritable capabilities, against cpusplit, and
# asserts the work_a/b/c shares and caller chain as test_split does. While it
# runs, /proc/PID/status must show CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN
# gone from its effective and permitted sets. Then a run with CAP_PERFMON
# also removed must fail with one line naming CAP_PERFMON.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins cpusplit
command -v setpriv >/dev/null || fail "setpriv is missing (apt-get install util-linux)"

CAPS=+bpf,+perfmon,+sys_ptrace,+sys_resource,+dac_read_search,+syslog,+checkpoint_restore
# This machine's own bounding set may lack some of them (sys_resource here):
# keep what exists, as a container runtime would.
want=""
for c in ${CAPS//,/ }; do
	name=${c#+}
	if capsh --decode="$(awk '/^CapBnd/ { print $2 }' /proc/self/status)" 2>/dev/null |
		grep -q "cap_$name"; then
		want="$want,$c"
	fi
done
[[ -n $want ]] || want=$CAPS
want=${want#,}
info "bounding set: -all,$want"

start_workload cpusplit 20
CS=$BG_PID
setpriv --bounding-set=-all,"$want" --inh-caps=-all --ambient-caps=-all \
	"$EMBERPROF" -F 99 -d 8 -p "$CS" -o "$T/lp.pb.gz" >"$T/agent.out" 2>"$T/agent.err" &
AG=$!
BG_PIDS+=("$AG")
sleep 4
agent=$(pgrep -P "$AG" -x emberprof || echo "$AG")
eff=$(awk '/^CapEff/ { print $2 }' "/proc/$agent/status")
prm=$(awk '/^CapPrm/ { print $2 }' "/proc/$agent/status")
info "running agent: CapEff=$eff CapPrm=$prm"
for set in "$eff" "$prm"; do
	# bits: 21 SYS_ADMIN, 38 PERFMON, 39 BPF
	for bit in 21 38 39; do
		(((16#$set >> bit) & 1)) && fail "capability bit $bit still held after load (0x$set)"
	done
done
(((16#$eff >> 19) & 1)) || fail "CAP_SYS_PTRACE was dropped too (0x$eff)"
wait "$AG" || fail "agent with the DaemonSet's capabilities exited $?: $(head -n 1 "$T/agent.err")"

check_profile "$T/lp.pb.gz"
tot=$(total "$T/lp.pb.gz")
a=$(flat "$T/lp.pb.gz" work_a)
b=$(flat "$T/lp.pb.gz" work_b)
c=$(flat "$T/lp.pb.gz" work_c)
abc=$((a + b + c))
info "total=$tot work_a=$a work_b=$b work_c=$c"
((tot >= 400)) || fail "only $tot samples"
within "$(pct "$a" "$abc")" 56 64 || fail "work_a has $(pct "$a" "$abc")% (want 60±4)"
within "$(pct "$b" "$abc")" 26 34 || fail "work_b has $(pct "$b" "$abc")% (want 30±4)"
((b > 0 && c > 0)) || fail "work_b or work_c missing"
hits=$(traces_chain "$T/lp.pb.gz" work_a run_round worker)
((hits > 0)) || fail "no stack has work_a <- run_round <- worker"

# Without PERFMON it cannot start, and says why in one line.
run_agent_as()
{
	setpriv --bounding-set=-all,"${want//,+perfmon/}" --inh-caps=-all --ambient-caps=-all \
		"$EMBERPROF" -F 99 -d 1 -o "$T/no.pb.gz" >"$T/no.out" 2>"$T/no.err"
}
run_agent_as && fail "agent ran without CAP_PERFMON"
lines=$(wc -l <"$T/no.err")
((lines == 1)) || fail "$lines lines on stderr without CAP_PERFMON: $(tr '\n' '|' <"$T/no.err")"
grep -q '^emberprof: .*CAP_PERFMON' "$T/no.err" || fail "message does not name CAP_PERFMON: $(cat "$T/no.err")"
exit 0
