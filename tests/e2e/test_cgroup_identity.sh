#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_cgroup_identity: a workload placed in a kubepods-style cgroup v2
# directory, as the kubelet's systemd driver and containerd name them, gets
# its container and pod identity on its profile, and the --cgroup and
# --container-id filters select it.
#
# The test creates
#   <cgroup2>/kubepods.slice/kubepods-burstable.slice/
#     kubepods-burstable-pod<uid with _>.slice/cri-containerd-<id>.scope
# moves cpusplit into it, runs spin outside it, and asserts:
#   - pprof labels container.id and k8s.pod.uid on every cpusplit sample,
#     none on spin's;
#   - the OTLP ResourceProfiles of cpusplit has container.id, k8s.pod.uid,
#     k8s.pod.qos_class=Burstable and k8s.node.name from K8S_NODE_NAME
#     (decoded with protoc from what a local receiver stored);
#   - --cgroup <that slice> keeps cpusplit and drops spin, in BPF;
#   - --container-id <prefix> keeps cpusplit and drops spin, and -v counts
#     the samples it left out;
#   - with either filter cpusplit keeps 80-110% of the samples its CPU time
#     gives at 99 Hz;
#   - with --off-cpu, either filter keeps the blocked time of the waits
#     workload in the slice (its reader and feeder threads are asleep all
#     but moments of the window: 2 x the window, -15% to +10%) and none of
#     a copy of it outside the slice.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins cpusplit spin waits
command -v protoc >/dev/null || fail "protoc is missing (apt-get install protobuf-compiler)"

CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
[[ -n $CG2 ]] || fail "no cgroup2 mount"
ID=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
UID_=8f3c2a1e-4b5d-4c6e-9f70-112233445566
SLICE=kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_//-/_}.slice
DIR=$CG2/$SLICE/cri-containerd-$ID.scope
mkdir -p "$DIR" || fail "cannot create $DIR"
# shellcheck disable=SC2317 # called from the EXIT trap
cleanup_cg()
{
	local p

	while read -r p; do
		echo "$p" >"$CG2/cgroup.procs" 2>/dev/null
	done < <(cat "$DIR/cgroup.procs" 2>/dev/null)
	rmdir "$DIR" "$CG2/$SLICE" "$CG2/kubepods.slice/kubepods-burstable.slice" \
		"$CG2/kubepods.slice" 2>/dev/null
}
trap 'rc=$?; cleanup_cg; (exit $rc); cleanup' EXIT

start_workload cpusplit 40
CS=$BG_PID
echo "$CS" >"$DIR/cgroup.procs" || fail "cannot move cpusplit into $DIR"
grep -q "cri-containerd-$ID.scope" "/proc/$CS/cgroup" || fail "cpusplit is not in $DIR"
start_workload spin 40
SP=$BG_PID

# 1. Labels, and OTLP resource attributes through a receiver on loopback.
PORT=$((18000 + RANDOM % 1000))
python3 - "$PORT" "$T" <<'PY' &
import http.server, sys
port, out = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    n = 0
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        H.n += 1
        open("%s/otlp-%d.bin" % (out, H.n), "wb").write(body)
        self.send_response(200)
        self.end_headers()
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(("127.0.0.1", port), H)
srv.timeout = 1
for _ in range(60):
    srv.handle_request()
PY
BG_PIDS+=($!)
sleep 0.5
K8S_NODE_NAME=node-7 agent_ok -F 99 -d 4 -p "$CS,$SP" -o "$T/id.pb.gz" \
	--otlp-endpoint "http://127.0.0.1:$PORT"
samples "$T/id.pb.gz" >"$T/samples.tsv"
pp -raw "$T/id.pb.gz" >"$T/raw.txt"
grep -q "container.id:\[$ID\]" "$T/raw.txt" || fail "no sample has label container.id=$ID"
grep -q "k8s.pod.uid:\[$UID_\]" "$T/raw.txt" || fail "no sample has label k8s.pod.uid=$UID_"
# Every cpusplit sample carries them; spin's never do. pprof -raw prints a
# sample's count line, then its string labels and its numeric labels (pid,
# tid) on lines of their own, so a sample is judged once all of them are read.
awk -v cs="$CS" -v sp="$SP" -v id="$ID" '
	function judge(    pid) {
		if (!inside)
			return
		inside = 0
		pid = labels
		if (!sub(/.* pid:\[/, "", pid))
			return
		sub(/[^0-9].*/, "", pid)
		has = index(labels, "container.id:[" id "]") > 0
		if (pid == cs) ncs++
		if (pid == sp) nsp++
		if (pid == cs && !has) bad = bad " cpusplit-without"
		if (pid == sp && has) bad = bad " spin-with"
	}
	/^Samples:$/ { sect = 1; next }
	/^Locations$/ { judge(); sect = 0; next }
	sect && /^ *-?[0-9]+( +-?[0-9]+)*: / { judge(); inside = 1; labels = ""; next }
	inside && /^                [^ ]/ { labels = labels " " $0; next }
	END {
		judge()
		if (!ncs || !nsp) { print "samples: cpusplit " ncs + 0 ", spin " nsp + 0; exit 1 }
		if (bad) { print bad; exit 1 }
	}' "$T/raw.txt" ||
	fail "container labels on the wrong samples (or a process has none)"
sleep 1
body=$(find "$T" -name 'otlp-*.bin' | head -n 1)
[[ -n $body ]] || fail "the OTLP receiver got nothing"
protoc --proto_path="$ROOT/proto" \
	--decode=opentelemetry.proto.collector.profiles.v1development.ExportProfilesServiceRequest \
	opentelemetry/proto/collector/profiles/v1development/profiles_service.proto \
	<"$body" >"$T/otlp.txt" || fail "protoc cannot decode the OTLP body"
python3 - "$T/otlp.txt" "$CS" "$ID" "$UID_" <<'PY' || fail "OTLP resource attributes wrong"
import re, sys
text, cs, cid, uid = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3], sys.argv[4]
found = False
for res in text.split("resource_profiles {")[1:]:
    res = res.split("scope_profiles {")[0]
    attrs = dict(re.findall(r'key: "([^"]+)"\s*value \{\s*(?:string_value|int_value): "?([^"\n]*)"?', res))
    if attrs.get("process.pid") != cs:
        continue
    found = True
    want = {"container.id": cid, "k8s.pod.uid": uid, "k8s.pod.qos_class": "Burstable",
            "k8s.node.name": "node-7"}
    for k, v in want.items():
        if attrs.get(k) != v:
            sys.exit("resource %s = %r, want %r" % (k, attrs.get(k), v))
if not found:
    sys.exit("no ResourceProfiles for pid " + cs)
PY

# 2. --cgroup: only the slice's tasks, filtered in BPF.
# All of cpusplit's samples: as many as its CPU time gives, not just one.
cs0=$(cpu_ticks "$CS")
agent_ok -F 99 -d 3 --cgroup "/$SLICE" -o "$T/cg.pb.gz"
cs_cpu=$(($(cpu_ticks "$CS") - cs0))
samples "$T/cg.pb.gz" >"$T/cg.tsv"
cpu_bounds "$(awk -F '\t' -v cs="$CS" '$3 == cs { n += $1 } END { print n + 0 }' "$T/cg.tsv")" \
	"cpusplit with --cgroup" "$cs_cpu" 99 3
bad=$(awk -F '\t' -v cs="$CS" '$3 != cs { n++ } END { print n + 0 }' "$T/cg.tsv")
((bad == 0)) || fail "--cgroup kept $bad samples of other processes"

# 3. --container-id by prefix.
cs0=$(cpu_ticks "$CS")
agent_ok -v -F 99 -d 3 --container-id "${ID:0:12}" -o "$T/ci.pb.gz"
cs_cpu=$(($(cpu_ticks "$CS") - cs0))
samples "$T/ci.pb.gz" >"$T/ci.tsv"
cpu_bounds "$(awk -F '\t' -v cs="$CS" '$3 == cs { n += $1 } END { print n + 0 }' "$T/ci.tsv")" \
	"cpusplit with --container-id" "$cs_cpu" 99 3
bad=$(awk -F '\t' -v cs="$CS" '$3 != cs { n++ } END { print n + 0 }' "$T/ci.tsv")
((bad == 0)) || fail "--container-id kept $bad samples of other processes"
# What the filter left out (spin's samples at least) is counted, not hidden.
left=$(sed -n 's/.*left out: by --container-id \([0-9]*\),.*/\1/p' "$T/agent.err" | tail -n 1)
info "left out by --container-id: ${left:-none reported}"
((${left:-0} > 0)) || fail "--container-id left samples out but -v counts ${left:-nothing}"

# 4. --off-cpu with each filter: a waits workload in the slice, and a copy
# of it (another process name) outside.
start_workload waits 40
WIN=$BG_PID
echo "$WIN" >"$DIR/cgroup.procs" || fail "cannot move waits into $DIR"
cp "$WL/waits" "$T/waits_out" || fail "cannot copy waits"
start_bg "$T/waits_out" 40
sleep 0.3
for filter in cgroup container-id; do
	case $filter in
	cgroup) arg=/$SLICE ;;
	container-id) arg=${ID:0:12} ;;
	esac
	agent_ok -v --off-cpu -F 99 -d 3 "--$filter" "$arg" -o "$T/off-$filter.pb.gz" \
		--folded-off-cpu "$T/off-$filter.folded"
	# Microseconds blocked per process (the first frame), and the reader's
	# and feeder's share of the workload's.
	read -r inside outside others < <(awk -F '\t|;| ' '
		{ us = $NF }
		$1 == "waits" && ($0 ~ /;wait_pipe;/ || $0 ~ /;feed_sleep;/) { w += us }
		$1 == "waits_out" { o += us }
		$1 != "waits" && $1 != "waits_out" && $1 != "cpusplit" { x += us }
		END { printf "%d %d %d\n", w, o, x }' "$T/off-$filter.folded")
	info "--off-cpu --$filter: waits' reader and feeder ${inside} us, waits_out ${outside} us, others ${others} us"
	((outside == 0 && others == 0)) ||
		fail "--off-cpu --$filter kept blocked time outside the slice (waits_out ${outside} us, others ${others} us)"
	within "$inside" 5100000 6600000 ||
		fail "--off-cpu --$filter: waits' reader and feeder blocked ${inside} us in 3 s, want 2 x 3 s (-15%..+10%)"
done
exit 0
