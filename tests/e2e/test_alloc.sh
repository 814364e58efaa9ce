#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_alloc: --alloc and --inuse against workloads of known allocation.
#
# 1. memsplit under LD_PRELOAD=libotelmem.so, started after the agent (so
#    the agent finds it through its exec, not at start-up) and waiting for
#    the probes' semaphores before it allocates: alloc_a, alloc_b and
#    alloc_c allocate 60/30/10% of the bytes, in blocks of 16 B to 1 MiB;
#    only alloc_b keeps its blocks, and memsplit holds them past the
#    agent's end. The memory profile (--heap-output) must have the four
#    sample types; alloc_space split within 5 points of 60/30/10 with
#    every sample under main; alloc_space in all within 15% of what
#    memsplit counted; inuse_space under alloc_b within 15% of what it
#    kept, and none under alloc_a or alloc_c; the leaf never in
#    libotelmem's own wrappers. The CPU profile (-o) is written as ever.
#    emberprof flamegraph of it offers each type, with pprof's totals.
# 2. The same workload with no preload, under --alloc: one info line that
#    no probes were found, exit 0, an empty memory profile.
# 3. A forked child, and code dlopen'ed at run time: Debian's python3.11
#    under the preload forks a child that allocates through zlib (loaded
#    with ctypes) while the parent allocates through json. Both processes
#    must be in the profile: the child's stacks with libz's deflate, the
#    parent's with the Python function that called json.dumps.
# 4. A process whose own otel_memory probes break the contract
#    (memhostile): frees of pointers never reported, an alloc of size 0 and
#    one of a weight near 2^64. Every such free is counted as a free of a
#    block not kept, every such weight as not believed, and the agent
#    exits 0 with a readable profile and no negative value in it.
# 5. OTLP: with --otlp-endpoint (and no --heap-output) the memory profile
#    goes to the collector as one profile per sample type, four per
#    process, and memsplit's alloc_space there is within 15% of what it
#    allocated; no memory file is written.
# 6. emberprof top --alloc (not a terminal: text tables): memsplit at
#    200 MiB/s, already running; the tables' rate is within 25% of it, and
#    memsplit's allocate, where every block is allocated, ranks first.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins memsplit memhostile
LIB=$ROOT/build/sdk/libotelmem.so
[[ -f $LIB ]] || fail "$LIB is missing (run make e2e-build)"
command -v python3.11 >/dev/null || fail "python3.11 is missing (run make test-deps)"

# cum FILE INDEX FUNC: FUNC's cumulative value of sample type INDEX (bytes: -unit=B).
cum()
{
	pp -top -cum -unit=B -sample_index="$2" -nodecount=1000000 -nodefraction=0 \
		-edgefraction=0 "$1" | awk -v f="$3" '
		/^ *flat  *flat%/ { body = 1; next }
		body && NF >= 6 {
			name = $0
			sub(/^ *[^ ]+ +[^ ]+ +[^ ]+ +[^ ]+ +[^ ]+ +/, "", name)
			if (name == f) { v = $4; sub(/B$/, "", v); n += v }
		}
		END { printf "%d\n", n }'
}

# total_of FILE INDEX: the profile's total of sample type INDEX.
total_of()
{
	pp -top -unit=B -sample_index="$2" "$1" |
		sed -En 's/.* of (-?[0-9]+)B? total.*/\1/p' | head -n 1
}

# 1. The known split, and what stays in use.
start_sampling_agent -F 19 -d 9 --inuse -o "$T/cpu.pb.gz" --heap-output "$T/heap.pb.gz"
LD_PRELOAD=$LIB start_workload memsplit 4 8 300 20 >"$T/ms.out"
MS=$BG_PID
wait_agent
alive "$MS" || fail "memsplit exited before the agent's end: $(cat "$T/ms.out")"
read -r a b c kept traced < <(sed -En \
	's/^memsplit: allocated ([0-9]+) ([0-9]+) ([0-9]+) bytes, kept ([0-9]+) bytes, traced ([01])$/\1 \2 \3 \4 \5/p' \
	"$T/ms.out")
[[ -n ${traced:-} ]] || fail "memsplit printed no totals: $(cat "$T/ms.out")"
((traced == 1)) || fail "memsplit began before the agent attached to it"
check_profile "$T/heap.pb.gz"
check_profile "$T/cpu.pb.gz"
types=$(pp -raw "$T/heap.pb.gz" | sed -n 's/^PeriodType: //p;/^Samples:/{n;p}' | tr -s ' ' | tr '\n' ' ')
for t in alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes; do
	[[ $types == *"$t"* ]] || fail "the memory profile has no sample type $t: $types"
done
grep -q '^emberprof: allocations: ' "$T/agent.err" || fail "-v printed no allocations line"
info "$(sed -n 's/^emberprof: allocations: //p' "$T/agent.err" | tail -n 1 | cut -c1-220)"

total=$((a + b + c))
space=$(total_of "$T/heap.pb.gz" alloc_space)
[[ -n $space ]] || fail "no alloc_space total in the memory profile"
info "alloc_space $space bytes; memsplit allocated $total"
within "$space" "$((total * 85 / 100))" "$((total * 115 / 100))" ||
	fail "alloc_space totals $space bytes; memsplit allocated $total (want within 15%)"
under_main=$(cum "$T/heap.pb.gz" alloc_space main)
((under_main * 100 >= space * 99)) ||
	fail "only $under_main of $space bytes of alloc_space are under main"
sa=$(cum "$T/heap.pb.gz" alloc_space alloc_a)
sb=$(cum "$T/heap.pb.gz" alloc_space alloc_b)
sc=$(cum "$T/heap.pb.gz" alloc_space alloc_c)
info "alloc_space under alloc_a/b/c: $(pct "$sa" "$space")/$(pct "$sb" "$space")/$(pct "$sc" "$space")%"
shares_within "$space" alloc_a "$sa" 60 5 alloc_b "$sb" 30 5 alloc_c "$sc" 10 5
# The leaf is memsplit's own code, never libotelmem's malloc wrapper.
leaves=$(pp -top -sample_index=alloc_space -nodecount=5 "$T/heap.pb.gz")
[[ $leaves != *malloc* && $leaves != *tag_block* ]] ||
	fail "libotelmem's frames are in the memory profile: $leaves"

# The flame graph offers every type: its inuse_space and alloc_space totals are pprof's.
"$EMBERPROF" flamegraph "$T/heap.pb.gz" -o "$T/heap.html" 2>"$T/fg.err" ||
	fail "emberprof flamegraph of the memory profile failed: $(head -n 1 "$T/fg.err")"
for t in alloc_space inuse_space; do
	fg=$(python3 "$ROOT/tests/browser/fgcheck.py" data "$T/heap.html" "$t" | sed -n 's/^total //p')
	[[ $fg == "$(total_of "$T/heap.pb.gz" "$t")" ]] ||
		fail "the flame graph's $t total is ${fg:-none}; pprof's is $(total_of "$T/heap.pb.gz" "$t")"
done

ib=$(cum "$T/heap.pb.gz" inuse_space alloc_b)
io=$(($(cum "$T/heap.pb.gz" inuse_space alloc_a) + $(cum "$T/heap.pb.gz" inuse_space alloc_c)))
info "inuse_space under alloc_b $ib bytes (kept $kept); under alloc_a and alloc_c $io"
within "$ib" "$((kept * 85 / 100))" "$((kept * 115 / 100))" ||
	fail "inuse_space under alloc_b is $ib bytes; alloc_b kept $kept (want within 15%)"
((io * 100 <= kept)) || fail "inuse_space under alloc_a and alloc_c is $io bytes (they free at once)"

# 2. No probes anywhere: one info line, and a run like any other.
kill "$MS"
wait "$MS" 2>/dev/null
start_workload memsplit 2 0 300 >"$T/plain.out"
timeout -k 5 "$AGENT_TIMEOUT" "$EMBERPROF" -v -F 19 -d 3 --alloc -o "$T/cpu2.pb.gz" \
	--heap-output "$T/heap2.pb.gz" 2>"$T/agent2.err" ||
	fail "--alloc with no probes anywhere exited $?: $(tail -n 1 "$T/agent2.err")"
n=$(grep -c 'no process mapped a file with otel_memory probes' "$T/agent2.err")
((n == 1)) || fail "want one line saying no probes were found, got $n"
! grep -Eq '^emberprof: (cannot|error)' "$T/agent2.err" ||
	fail "an error with no probes: $(grep -E '^emberprof: (cannot|error)' "$T/agent2.err")"
check_profile "$T/heap2.pb.gz"
[[ $(total_of "$T/heap2.pb.gz" alloc_space) == 0 ]] ||
	fail "allocations recorded with no probes anywhere"

# 3. A forked child through dlopen'ed zlib, and the parent through json.
cat >"$T/forks.py" <<'PY'
import ctypes, json, os, sys, time
time.sleep(float(sys.argv[1]))
def parent_work():
    for i in range(3000):
        json.dumps([{"k": j, "v": "x" * (j % 500)} for j in range(200)])
def child_work():
    z = ctypes.CDLL("libz.so.1")
    src = os.urandom(1 << 20)
    out = ctypes.create_string_buffer(2 << 20)
    for i in range(400):
        n = ctypes.c_ulong(len(out))
        z.compress2(out, ctypes.byref(n), src, ctypes.c_ulong(len(src)), 6)
pid = os.fork()
if pid == 0:
    child_work()
    os._exit(0)
parent_work()
os.waitpid(pid, 0)
PY
start_bg timeout -k 5 "$AGENT_TIMEOUT" "$EMBERPROF" -v -F 49 -d 6 --alloc -o "$T/cpu3.pb.gz" \
	--heap-output "$T/heap3.pb.gz" 2>"$T/agent3.err"
AGENT=$BG_PID
sleep 1.5
LD_PRELOAD=$LIB start_bg python3.11 "$T/forks.py" 1.5
PY=$BG_PID
wait "$PY" || fail "python3.11 under the preload failed"
wait "$AGENT" || fail "agent exited $?: $(tail -n 2 "$T/agent3.err")"
check_profile "$T/heap3.pb.gz"
pids=$(pp -raw "$T/heap3.pb.gz" | grep -o 'pid:\[[0-9]*\]' | sort -u | wc -l)
((pids >= 2)) || fail "the memory profile has $pids processes; want the parent and its child"
zl=$(cum "$T/heap3.pb.gz" alloc_space child_work)
js=$(cum "$T/heap3.pb.gz" alloc_space parent_work)
info "python3.11: $pids processes, alloc_space under child_work $zl, under parent_work $js"
((zl > 0)) || fail "no allocation of the forked child under child_work"
((js > 0)) || fail "no allocation of the parent under parent_work"
z=$(pp -traces -sample_index=alloc_space "$T/heap3.pb.gz" | grep -c 'deflate')
((z > 0)) || fail "no allocation stack through libz's deflate (dlopen'ed by ctypes)"

# 4. Probes that break the contract.
start_bg timeout -k 5 "$AGENT_TIMEOUT" "$EMBERPROF" -v -F 19 -d 5 --inuse -o "$T/cpu4.pb.gz" \
	--heap-output "$T/heap4.pb.gz" 2>"$T/agent4.err"
AGENT=$BG_PID
sleep 1.5
start_workload memhostile 2 >"$T/hostile.out"
HOST=$BG_PID
wait "$HOST" || fail "memhostile failed"
wait "$AGENT" || fail "agent exited $? on hostile probes: $(tail -n 2 "$T/agent4.err")"
read -r frees allocs < <(sed -En 's/^memhostile: ([0-9]+) frees, ([0-9]+) allocs$/\1 \2/p' \
	"$T/hostile.out")
[[ -n ${allocs:-} ]] || fail "memhostile printed no counts: $(cat "$T/hostile.out")"
line=$(grep '^emberprof: allocations: ' "$T/agent4.err" | tail -n 1)
[[ $line =~ ([0-9]+)\ frees\ of\ blocks\ not\ kept,\ ([0-9]+)\ allocations\ of\ a\ weight ]] ||
	fail "no hostile counters in: $line"
info "memhostile: $frees frees, $allocs allocs; agent: ${BASH_REMATCH[1]} unknown frees, ${BASH_REMATCH[2]} weights not believed"
((BASH_REMATCH[1] == frees)) || fail "${BASH_REMATCH[1]} unknown frees counted; memhostile fired $frees"
((BASH_REMATCH[2] == allocs / 2)) ||
	fail "${BASH_REMATCH[2]} weights not believed; memhostile fired $((allocs / 2))"
check_profile "$T/heap4.pb.gz"
! pp -raw "$T/heap4.pb.gz" | grep -Eq '^ +-[0-9]' || fail "a negative value in the memory profile"

# 5. The memory profile over OTLP.
start_receiver "$T/recv"
cd "$T" || fail "cannot enter $T"
start_bg timeout -k 5 "$AGENT_TIMEOUT" "$EMBERPROF" -v -F 19 -d 7 --inuse \
	--otlp-endpoint "http://127.0.0.1:$RECV_PORT" 2>"$T/agent5.err"
AGENT=$BG_PID
sleep 1.5
LD_PRELOAD=$LIB start_workload memsplit 3 8 300 10 >"$T/ms5.out"
MS=$BG_PID
wait "$AGENT" || fail "agent exited $? exporting memory: $(tail -n 2 "$T/agent5.err")"
[[ ! -e $T/emberprof-heap.pb.gz ]] || fail "a memory file was written with OTLP on and no --heap-output"
read -r a b c _ < <(sed -En 's/^memsplit: allocated ([0-9]+) ([0-9]+) ([0-9]+) bytes.*/\1 \2 \3/p' "$T/ms5.out")
[[ -n ${c:-} ]] || fail "memsplit printed no totals: $(cat "$T/ms5.out")"
for body in "$T"/recv/[0-9][0-9][0-9][0-9].body; do
	python3 "$OTLP_PY" decode "$body" >"$body.json" 2>"$T/decode.err" ||
		fail "cannot decode $body: $(head -n 1 "$T/decode.err")"
done
got=$(python3 - "$MS" "$T"/recv/*.body.json <<'PY'
import json, sys
want = ["alloc_objects", "alloc_space", "inuse_objects", "inuse_space"]
pid, space, layouts = int(sys.argv[1]), 0, set()
for path in sys.argv[2:]:
    with open(path) as f:
        req = json.load(f)
    strs = req["dictionary"]["string_table"]
    for rp in req["resource_profiles"]:
        attrs = {a["key"]: a["value"] for a in rp["resource"]["attributes"]}
        if list(attrs.get("process.pid", {}).values()) != [pid] and attrs.get("process.pid") != pid:
            continue
        profs = rp["scope_profiles"][0]["profiles"]
        types = [strs[p["sample_type"].get("type_strindex", 0)] for p in profs]
        layouts.add(",".join(types))
        if types == want:
            space += sum(s["values"][0] for s in profs[1].get("samples", []))
print(space, ";".join(sorted(layouts)))
PY
)
read -r space layouts <<<"$got"
total=$((a + b + c))
info "OTLP: memsplit's profiles ${layouts:-none}; alloc_space $space of $total bytes"
[[ ${layouts:-} == *"alloc_objects,alloc_space,inuse_objects,inuse_space"* ]] ||
	fail "no OTLP memory profile of four types for memsplit (got: ${layouts:-none})"
within "${space:-0}" "$((total * 85 / 100))" "$((total * 115 / 100))" ||
	fail "OTLP alloc_space for memsplit is $space bytes; it allocated $total (want within 15%)"

# 6. top --alloc.
kill "$MS" 2>/dev/null
wait "$MS" 2>/dev/null
LD_PRELOAD=$LIB start_workload memsplit 9 0 200 >"$T/ms6.out"
timeout -k 5 30 "$EMBERPROF" top --alloc -d 6 >"$T/top.out" 2>"$T/top.err" ||
	fail "top --alloc exited $?: $(tail -n 1 "$T/top.err")"
# The whole tables (the first and last seconds are cut short): rate and first row.
read -r rate first < <(awk '/^emberprof top: / { n++; r[n] = $3; getline; getline; f[n] = $3 }
	END { for (i = 2; i < n; i++) { s += r[i]; if (f[i] == "allocate") a++ }
		if (n > 2) printf "%.0f %d/%d\n", s / (n - 2), a, n - 2 }' "$T/top.out")
info "top --alloc: ${rate:-none} MiB allocated/s, allocate first in ${first:-none} tables"
[[ -n ${rate:-} ]] || fail "top --alloc printed no whole table: $(head -n 3 "$T/top.out")"
within "$rate" 150 250 || fail "top --alloc shows $rate MiB allocated/s; memsplit allocates 200"
[[ ${first%/*} == "${first#*/}" ]] || fail "allocate ranks first in only $first of top's tables"
exit 0
