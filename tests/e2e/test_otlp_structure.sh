#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_otlp_structure: what the agent sends over OTLP/HTTP is a well-formed
# ExportProfilesServiceRequest that says what pprof would.
#
# Run 1 profiles cpusplit (pid filter, 199 Hz, 4 s) against
# tests/otlp/receiver.py with OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME
# and OTEL_RESOURCE_ATTRIBUTES (one value URL-encoded). The one request must
# reach POST /v1development/profiles as application/x-protobuf, decode with
# protoc against proto/, and pass tests/otlp/otlp.py check: every index in
# range, entry 0 of every dictionary table the zero value, no duplicate
# strings, one scope "emberprof" with one profile per resource, sample and
# period types, period = 1e9/99, a 16-byte profile_id, thread.id and
# thread.name on every sample, frame types kernel/native, kernel frames
# leaf-side, any link_index pointing at a real link (cpusplit has no trace
# context, so here none may). On top of that the test checks the resource attributes against
# the process, the 60/30/10 split and the caller chain from the OTLP stacks,
# the build IDs against readelf and the htlhash against one computed here,
# the time window against the run's wall clock, and that no pprof file was
# written (OTLP on, no -o).
#
# Run 2 profiles the syscalls workload with gzip compression, custom headers
# and OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT (used as is, overriding a broken
# OTEL_EXPORTER_OTLP_ENDPOINT): the body arrives gzipped with
# Content-Encoding: gzip and still decodes, the headers arrive URL-decoded,
# and kernel frames are there, typed "kernel", in the [kernel.kallsyms]
# mapping, with the user frames typed "native".
#
# Run 3 profiles the inlined workload: a location inside the inlined
# mix_step() lists mix_step first and its caller last, at the call's line.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins cpusplit syscalls inlined

FREQ=199
DUR=4

start_receiver "$T/recv"
PORT=$RECV_PORT
start_workload cpusplit 30
CS=$BG_PID

cd "$T" || fail "cannot cd to $T"
t0=$(date +%s%N)
OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$PORT \
	OTEL_SERVICE_NAME=e2e-split \
	OTEL_RESOURCE_ATTRIBUTES='deployment.environment=e2e,team.note=a%20b%2Cc%3Dd' \
	agent_cpu "$CS" -v -F "$FREQ" -d "$DUR" -p "$CS"
t1=$(date +%s%N)
alive "$CS" || fail "cpusplit exited before the profile ended"
[[ ! -e $T/emberprof.pb.gz ]] || fail "OTLP on and no -o, yet ./emberprof.pb.gz was written"

wait_requests "$T/recv" 1 2 || fail "no request reached the receiver ($(otlp_line))"
sleep 0.5
n=$(nreq "$T/recv")
((n == 1)) || fail "$n requests for one -d run (want 1): $(cat "$T/recv/log")"
[[ $(json_get "$T/recv/0001.json" method) == POST ]] || fail "request is not a POST"
path=$(json_get "$T/recv/0001.json" path)
[[ $path == /v1development/profiles ]] || fail "request went to $path"
ct=$(req_header "$T/recv" 1 Content-Type)
[[ $ct == application/x-protobuf ]] || fail "Content-Type is '$ct'"
ce=$(req_header "$T/recv" 1 Content-Encoding)
[[ -z $ce ]] || fail "Content-Encoding '$ce' without OTEL_EXPORTER_OTLP_COMPRESSION"

BODY=$T/recv/0001.body
protoc_decode "$BODY" >"$T/body.txt"
otlp_check "$BODY" --hz "$FREQ" --chain 'work_a;run_round;worker' >"$T/sum.json"
S=$T/sum.json
info "agent ${AGENT_SECS}s; $(json_get "$S" leaf) $(json_get "$S" frame_types) threads $(json_get "$S" threads)"

# One process profiled: one resource, cpusplit's.
nres=$(json_get "$S" resources | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')
((nres == 1)) || fail "$nres resource_profiles for one -p pid (want 1)"
R=(resources 0 attrs)
got=$(json_get "$S" "${R[@]}" "process.pid")
[[ $got == "$CS" ]] || fail "process.pid = '$got', want $CS (an int)"
got=$(json_get "$S" "${R[@]}" "process.executable.name")
[[ $got == cpusplit ]] || fail "process.executable.name = '$got'"
got=$(json_get "$S" "${R[@]}" "process.executable.path")
[[ $got == "$WL/cpusplit" ]] || fail "process.executable.path = '$got', want $WL/cpusplit"
got=$(json_get "$S" "${R[@]}" "host.name")
[[ $got == "$(hostname)" ]] || fail "host.name = '$got', want $(hostname)"
got=$(json_get "$S" "${R[@]}" "service.name")
[[ $got == e2e-split ]] || fail "service.name = '$got', want OTEL_SERVICE_NAME's e2e-split"
got=$(json_get "$S" "${R[@]}" "deployment.environment")
[[ $got == e2e ]] || fail "deployment.environment = '$got' (from OTEL_RESOURCE_ATTRIBUTES)"
got=$(json_get "$S" "${R[@]}" "team.note")
[[ $got == 'a b,c=d' ]] || fail "team.note = '$got', want 'a b,c=d' (URL-decoded)"
# The pid is an int attribute, not a string of digits.
grep -A 2 'key: "process.pid"' "$T/body.txt" | grep -q "int_value: $CS" ||
	fail "process.pid is not int_value $CS in protoc's decoding"

# Samples: count, split and chain, as test_split checks them in pprof.
tot=$(json_get "$S" samples)
a=$(json_get "$S" leaf work_a)
b=$(json_get "$S" leaf work_b)
c=$(json_get "$S" leaf work_c)
a=${a:-0} b=${b:-0} c=${c:-0}
abc=$((a + b + c))
# Two always-busy workers: about 1580, none lost, no more than two threads give.
rate_bounds "$tot" "cpusplit over OTLP" 2 "$FREQ" "$DUR"
no_loss 2 "$FREQ" "$DUR"
((abc * 100 >= tot * 90)) || fail "work_a+b+c are $(pct "$abc" "$tot")% of samples (want >= 90%)"
shares_within 4 work_a:60:"$a" work_b:30:"$b" work_c:10:"$c"
chained=$(json_get "$S" 'chain:work_a;run_round;worker')
((${chained:-0} * 100 >= a * 95)) ||
	fail "only ${chained:-0} of $a work_a samples have work_a <- run_round <- worker"
native=$(json_get "$S" frame_types native)
((${native:-0} > 0)) || fail "no frame typed native"
linked=$(json_get "$S" linked_samples)
((linked == 0)) || fail "$linked samples link to a trace, but cpusplit has no trace context"

# Threads: the workers' tids and comm.
tids=" $(cd "/proc/$CS/task" && echo *) "
json_get "$S" threads | python3 -c 'import json, sys; [print(k) for k in json.load(sys.stdin)]' \
	>"$T/threads"
nthr=0
while IFS=/ read -r tid name; do
	[[ $tids == *" $tid "* ]] || fail "thread.id $tid is not a thread of cpusplit ($tids)"
	[[ $name == cpusplit ]] || fail "thread.name of $tid is '$name', want cpusplit"
	nthr=$((nthr + 1))
done <"$T/threads"
((nthr >= 2)) || fail "samples from $nthr threads, want both workers"

# Mappings: build IDs and htlhash of the workload and of libc.
M=(mappings "$WL/cpusplit" 0)
gnu=$(json_get "$S" "${M[@]}" "process.executable.build_id.gnu")
want=$(readelf -n "$WL/cpusplit" | awk '/Build ID:/ { print $3 }')
[[ -n $want && $gnu == "$want" ]] || fail "cpusplit build_id.gnu = '$gnu', readelf says '$want'"
htl=$(json_get "$S" "${M[@]}" "process.executable.build_id.htlhash")
want=$(python3 "$OTLP_PY" htlhash "$WL/cpusplit")
[[ $htl == "$want" ]] || fail "cpusplit build_id.htlhash = '$htl', computed '$want'"
libc=$(json_get "$S" mappings | python3 -c 'import json, sys
print("\n".join(k for k in json.load(sys.stdin) if "/libc.so" in k))' | head -n 1)
if [[ -n $libc ]]; then
	htl=$(json_get "$S" mappings "$libc" 0 process.executable.build_id.htlhash)
	want=$(python3 "$OTLP_PY" htlhash "$libc")
	[[ $htl == "$want" ]] || fail "$libc build_id.htlhash = '$htl', computed '$want'"
fi

# Time: the profile covers the run, within the agent's wall time.
ts=$(json_get "$S" resources 0 time_unix_nano)
dur=$(json_get "$S" resources 0 duration_nano)
((ts >= t0 - 1000000000 && ts <= t1)) || fail "time_unix_nano $ts is outside the run ($t0..$t1)"
((ts + dur <= t1 + 1000000000)) || fail "time + duration ends after the agent exited"
# -d is the sampling's length: from the first sample to the last drain.
within "$dur" $((DUR * 1000000000 - 50000000)) $((DUR * 1000000000 + 500000000)) ||
	fail "duration_nano $dur for -d $DUR, want $DUR s (-0.05..+0.5 s)"

# Run 2: gzip, headers, the profiles-specific endpoint, kernel frames.
start_workload syscalls 20
SY=$BG_PID
OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:1 \
	OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT=http://127.0.0.1:$PORT/v1development/profiles \
	OTEL_EXPORTER_OTLP_COMPRESSION=gzip \
	OTEL_EXPORTER_OTLP_HEADERS='authorization=Bearer%20abc,x-tenant=t1' \
	agent_ok -v -F "$FREQ" -d 3 -p "$SY"
wait_requests "$T/recv" 2 2 || fail "no request from the gzip run ($(otlp_line))"
sleep 0.5
n=$(nreq "$T/recv")
((n == 2)) || fail "$n requests after two -d runs (want 2): $(cat "$T/recv/log")"
[[ $(json_get "$T/recv/0002.json" status) == 200 ]] ||
	fail "gzip request answered $(json_get "$T/recv/0002.json" status) (body not gzip?)"
path=$(json_get "$T/recv/0002.json" path)
[[ $path == /v1development/profiles ]] || fail "PROFILES_ENDPOINT request went to $path"
ce=$(req_header "$T/recv" 2 Content-Encoding)
[[ $ce == gzip ]] || fail "Content-Encoding is '$ce', want gzip"
[[ $(head -c 2 "$T/recv/0002.raw" | od -An -tx1 | tr -d ' ') == 1f8b ]] ||
	fail "gzip body does not start with the gzip magic"
got=$(req_header "$T/recv" 2 authorization)
[[ $got == 'Bearer abc' ]] || fail "authorization header is '$got', want 'Bearer abc'"
got=$(req_header "$T/recv" 2 x-tenant)
[[ $got == t1 ]] || fail "x-tenant header is '$got', want t1"
got=$(req_header "$T/recv" 1 authorization)
[[ -z $got ]] || fail "run 1 sent an authorization header it was not given"

protoc_decode "$T/recv/0002.body" >/dev/null
otlp_check "$T/recv/0002.body" --hz "$FREQ" >"$T/sum2.json"
S=$T/sum2.json
info "agent ${AGENT_SECS}s; syscalls: $(json_get "$S" frame_types) leaf $(json_get "$S" leaf)"
kern=$(json_get "$S" frame_types kernel)
native=$(json_get "$S" frame_types native)
((${kern:-0} > 0)) || fail "no frame typed kernel in a syscall-heavy profile"
((${native:-0} > 0)) || fail "no frame typed native in the syscalls profile"
loop=$(json_get "$S" leaf syscall_loop)
((${loop:-0} * 2 >= $(json_get "$S" samples))) ||
	fail "syscall_loop is the user leaf of ${loop:-0} of $(json_get "$S" samples) samples"
python3 "$OTLP_PY" decode "$T/recv/0002.body" | python3 -c '
import json, sys
r = json.load(sys.stdin)
d = r["dictionary"]
s = d["string_table"]
def attrs(ix):
    out = {}
    for i in ix:
        a = d["attribute_table"][i]
        v = a.get("value", {})
        out[s[a.get("key_strindex", 0)]] = v.get("string_value", s[v["string_value_strindex"]] if "string_value_strindex" in v else None)
    return out
for i, loc in enumerate(d["location_table"][1:], 1):
    ty = attrs(loc["attribute_indices"]).get("profile.frame.type")
    m = s[d["mapping_table"][loc.get("mapping_index", 0)].get("filename_strindex", 0)]
    if (ty == "kernel") != (m == "[kernel.kallsyms]"):
        sys.exit("location %d: frame type %s in mapping %r" % (i, ty, m))
    if not loc.get("address") and ty == "native":
        sys.exit("location %d: native frame without an address" % i)
' 2>"$T/kmap.err" || fail "$(head -n 1 "$T/kmap.err")"

# Run 3: inline frames. In inlined, mix_step() is inlined into three
# callers: a location in it must list mix_step first (innermost) and the
# caller last, the caller's line being the marked call site.
SRC=$ROOT/tests/workloads/inlined.c
start_workload inlined 20
IN=$BG_PID
OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$PORT agent_ok -F "$FREQ" -d 3 -p "$IN"
wait_requests "$T/recv" 3 2 || fail "no request from the inlined run"
otlp_check "$T/recv/0003.body" --hz "$FREQ" >/dev/null
calls=$(for c in caller_one caller_two caller_three; do echo "$c=$(marker_line "$SRC" "$c")"; done)
python3 "$OTLP_PY" decode "$T/recv/0003.body" | python3 -c '
import json, sys
want = dict(x.split("=") for x in sys.argv[1].split())
d = json.load(sys.stdin)["dictionary"]
s = d["string_table"]
fn = lambda ln: s[d["function_table"][ln.get("function_index", 0)].get("name_strindex", 0)]
seen = 0
for i, loc in enumerate(d["location_table"]):
    names = [fn(ln) for ln in loc["lines"]]
    if "mix_step" not in names:
        continue
    if len(names) < 2 or names[0] != "mix_step" or names[-1] not in want:
        sys.exit("location %d lines %s: want mix_step first, a caller_* last" % (i, names))
    if str(loc["lines"][-1].get("line", 0)) != want[names[-1]]:
        sys.exit("location %d: %s at line %s, the call is at line %s" % (
            i, names[-1], loc["lines"][-1].get("line", 0), want[names[-1]]))
    seen += 1
if not seen:
    sys.exit("no location holds mix_step")
print(seen)
' "$calls" >"$T/inl.out" 2>"$T/inl.err" || fail "$(head -n 1 "$T/inl.err")"
info "inlined: $(cat "$T/inl.out") locations with mix_step inlined, lines innermost first"
exit 0
