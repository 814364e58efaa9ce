#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_deploy: the files in deploy/ say what they mean and agree with each
# other and with the agent.
#
# No container engine or Kubernetes cluster is assumed, so nothing is
# deployed. Instead every YAML file is parsed with a real parser (PyYAML) and
# the DaemonSet's security-relevant properties are asserted: hostPID, no
# privileged container, capabilities exactly the seven the agent uses with
# ALL dropped and never SYS_ADMIN, resources, the downward-API node name, the
# OTLP endpoint and the /healthz probe; the kustomization lists files that
# exist; the Collector config has a profiles pipeline with the OTLP receiver
# and k8s_attributes matching on container.id. The systemd unit passes
# `systemd-analyze verify` (on a copy whose ExecStart is the built agent) and
# bounds capabilities to the same seven. The Dockerfile is a two-stage
# bookworm-slim build that runs make, and its runtime stage installs the
# package of every library the built agent links. The man page renders
# without groff warnings and documents every option of `emberprof --help`.
# Last, the agent runs with only the DaemonSet's capabilities and must write
# a profile: the manifests grant enough.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins cpusplit
[[ -x $EMBERPROF ]] || fail "$EMBERPROF is missing (run make)"
python3 -c 'import yaml' 2>/dev/null ||
	fail "python3 cannot import yaml (apt-get install python3-yaml)"

D=$ROOT/deploy
CAPS="BPF PERFMON SYS_PTRACE SYS_RESOURCE DAC_READ_SEARCH SYSLOG CHECKPOINT_RESTORE"
for f in Dockerfile kustomization.yaml daemonset.yaml collector-config.yaml \
	collector-rbac.yaml emberprof.service emberprof.8; do
	[[ -s $D/$f ]] || fail "deploy/$f is missing or empty"
done

# --- YAML: every file parses; the DaemonSet, kustomization and Collector config ---
if ! python3 - "$D" "$CAPS" >"$T/yaml.out" 2>&1 <<'PY'; then
import glob, os, sys
import yaml

d, want_caps = sys.argv[1], set(sys.argv[2].split())


def fail(msg):
    print(msg)
    sys.exit(1)


docs = {}
for path in sorted(glob.glob(os.path.join(d, "*.yaml")) + glob.glob(os.path.join(d, "*.yml"))):
    try:
        with open(path) as f:
            docs[os.path.basename(path)] = [x for x in yaml.safe_load_all(f) if x is not None]
    except yaml.YAMLError as e:
        fail(f"deploy/{os.path.basename(path)} is not valid YAML: {str(e).splitlines()[0]}")
    if not docs[os.path.basename(path)]:
        fail(f"deploy/{os.path.basename(path)} holds no document")

# Kustomization: resources exist and parse; the DaemonSet is among them.
kust = docs.get("kustomization.yaml", [None])[0]
if not isinstance(kust, dict) or kust.get("kind") != "Kustomization":
    fail("deploy/kustomization.yaml is not a Kustomization")
res = kust.get("resources") or []
if not res:
    fail("kustomization.yaml lists no resources")
for r in res:
    if not os.path.isfile(os.path.join(d, r)):
        fail(f"kustomization.yaml lists {r}, which does not exist in deploy/")
objs = [o for r in res for o in docs.get(r, [])]
for o in objs:
    if not isinstance(o, dict) or not o.get("apiVersion") or not o.get("kind") \
            or not (o.get("metadata") or {}).get("name"):
        fail(f"a resource of kustomization.yaml lacks apiVersion, kind or metadata.name: {o!r:.80}")
ds = [o for o in objs if o["kind"] == "DaemonSet"]
if len(ds) != 1:
    fail(f"kustomization.yaml resources hold {len(ds)} DaemonSets, want 1")
ds = ds[0]
ns = {o["metadata"]["name"] for o in objs if o["kind"] == "Namespace"}
dsns = ds["metadata"].get("namespace")
if ns and dsns not in ns:
    fail(f"the DaemonSet's namespace {dsns} is not the Namespace the kustomization creates")

spec = ds["spec"]
tmpl = spec["template"]
pod = tmpl["spec"]
if spec["selector"]["matchLabels"].items() - tmpl["metadata"]["labels"].items():
    fail("the DaemonSet's selector does not match its pod labels")
if pod.get("hostPID") is not True:
    fail("DaemonSet: hostPID is not true")
if pod.get("hostNetwork"):
    fail("DaemonSet: hostNetwork is on; the status server is meant for the pod network")
us = spec.get("updateStrategy") or {}
if us.get("type") != "RollingUpdate" or (us.get("rollingUpdate") or {}).get("maxUnavailable") != 1:
    fail("DaemonSet: updateStrategy is not RollingUpdate with maxUnavailable 1")
if not any(t.get("operator") == "Exists" and not t.get("key") for t in pod.get("tolerations") or []):
    fail("DaemonSet: no toleration with operator Exists (every node, tainted ones too)")

containers = pod.get("containers", []) + pod.get("initContainers", [])
if not containers:
    fail("DaemonSet: no containers")
for c in containers:
    sc = c.get("securityContext") or {}
    if sc.get("privileged"):
        fail(f"container {c['name']} is privileged")
    caps = sc.get("capabilities") or {}
    if [x.upper() for x in caps.get("drop") or []] != ["ALL"]:
        fail(f"container {c['name']}: capabilities.drop is {caps.get('drop')}, want [ALL]")
    add = [x.upper().removeprefix("CAP_") for x in caps.get("add") or []]
    if len(add) != len(set(add)) or set(add) != want_caps:
        fail(f"container {c['name']}: capabilities.add is {sorted(add)}, want {sorted(want_caps)}")
    if sc.get("allowPrivilegeEscalation") is not False:
        fail(f"container {c['name']}: allowPrivilegeEscalation is not false")
    if sc.get("readOnlyRootFilesystem") is not True:
        fail(f"container {c['name']}: readOnlyRootFilesystem is not true")
    r = c.get("resources") or {}
    for kind in ("requests", "limits"):
        for k in ("cpu", "memory"):
            if not (r.get(kind) or {}).get(k):
                fail(f"container {c['name']}: resources.{kind}.{k} is missing")

seccomp = ((pod.get("securityContext") or {}).get("seccompProfile") or {}).get("type")
for c in containers:
    seccomp = ((c.get("securityContext") or {}).get("seccompProfile") or {}).get("type", seccomp)
    if seccomp not in ("RuntimeDefault", "Localhost", "Unconfined"):
        fail(f"container {c['name']}: no seccomp profile type is set")

# No SYS_ADMIN (nor privileged: true) anywhere in any YAML, comments aside.
def walk(x, path):
    if isinstance(x, dict):
        for k, v in x.items():
            if k == "privileged" and v is True:
                fail(f"{path}.privileged is true")
            walk(v, f"{path}.{k}")
    elif isinstance(x, list):
        for i, v in enumerate(x):
            walk(v, f"{path}[{i}]")
    elif isinstance(x, str) and "SYS_ADMIN" in x.upper():
        fail(f"{path} names SYS_ADMIN")
for name, ds_ in docs.items():
    for i, doc in enumerate(ds_):
        walk(doc, f"{name}#{i}")

agent = containers[0]
env = {e["name"]: e for e in agent.get("env") or []}
node = ((env.get("K8S_NODE_NAME") or {}).get("valueFrom") or {}).get("fieldRef") or {}
if node.get("fieldPath") != "spec.nodeName":
    fail("env K8S_NODE_NAME does not come from fieldRef spec.nodeName")
ep = (env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or {}).get("value") or ""
if not ep.startswith(("http://", "https://")):
    fail(f"env OTEL_EXPORTER_OTLP_ENDPOINT is not an http(s) URL: {ep!r}")
if "OTEL_SERVICE_NAME" in env:
    fail("env OTEL_SERVICE_NAME is set: it would name every unnamed process on the node")
args = [str(a) for a in agent.get("args") or []]
if "--status-addr" not in args:
    fail("the agent's args lack --status-addr, which the probes need")
port = args[args.index("--status-addr") + 1].rsplit(":", 1)[1]
ports = {p.get("name"): p.get("containerPort") for p in agent.get("ports") or []}
for probe in ("livenessProbe", "readinessProbe"):
    hg = (agent.get(probe) or {}).get("httpGet") or {}
    if hg.get("path") != "/healthz":
        fail(f"{probe} is not an httpGet of /healthz")
    p = hg.get("port")
    if str(ports.get(p, p)) != port:
        fail(f"{probe} port {p} is not the status server's port {port}")

mounts = {m["name"]: m for m in agent.get("volumeMounts") or []}
vols = {v["name"]: v for v in pod.get("volumes") or []}
for m in mounts:
    if m not in vols:
        fail(f"volumeMount {m} has no volume")
hp = {v["hostPath"]["path"]: n for n, v in vols.items() if "hostPath" in v}
for path in ("/sys/kernel/btf", "/sys/fs/cgroup", "/sys/fs/bpf"):
    if path not in hp:
        fail(f"no hostPath volume for {path}")
    if path != "/sys/fs/bpf" and not mounts.get(hp[path], {}).get("readOnly"):
        fail(f"the {path} mount is not read-only")
if not any("emptyDir" in v for v in vols.values()):
    fail("no emptyDir for scratch files (the root filesystem is read-only)")

# Collector configuration.
cc = docs["collector-config.yaml"][0]
pipes = (cc.get("service") or {}).get("pipelines") or {}
prof = [p for n, p in pipes.items() if n == "profiles" or n.startswith("profiles/")]
if not prof:
    fail("collector-config.yaml has no profiles pipeline")
p = prof[0]
recv = cc.get("receivers") or {}
otlp = [r for r in p.get("receivers") or [] if r == "otlp" or r.startswith("otlp/")]
if not otlp or otlp[0] not in recv:
    fail("the profiles pipeline does not use a defined otlp receiver")
protos = (recv[otlp[0]] or {}).get("protocols") or {}
if not str((protos.get("http") or {}).get("endpoint", "")).endswith(":4318"):
    fail("the otlp receiver does not listen for HTTP on :4318")
procs = cc.get("processors") or {}
k8s = [x for x in p.get("processors") or []
       if x.split("/")[0] in ("k8s_attributes", "k8sattributes")]
if not k8s or k8s[0] not in procs:
    fail("the profiles pipeline has no defined k8s_attributes processor")
assoc = [s for a in procs[k8s[0]].get("pod_association") or [] for s in a.get("sources") or []]
if not any(s.get("from") == "resource_attribute" and s.get("name") == "container.id" for s in assoc):
    fail("k8s_attributes does not associate by the container.id resource attribute")
if any(s.get("from") == "connection" for s in assoc):
    fail("k8s_attributes associates by connection, which names the emberprof pod itself")
exps = cc.get("exporters") or {}
for e in p.get("exporters") or []:
    if e not in exps:
        fail(f"the profiles pipeline uses exporter {e}, which is not defined")
if not p.get("exporters"):
    fail("the profiles pipeline has no exporter")

# Collector RBAC: get/watch/list on what k8s_attributes reads.
rules = [r for o in docs["collector-rbac.yaml"] if o.get("kind") == "ClusterRole"
         for r in o.get("rules") or []]
for group, res_ in (("", "pods"), ("", "namespaces"), ("apps", "replicasets")):
    if not any(group in r.get("apiGroups", []) and res_ in r.get("resources", [])
               and {"get", "watch", "list"} <= set(r.get("verbs", [])) for r in rules):
        fail(f"collector-rbac.yaml grants no get/watch/list on {res_}")
print(f"{len(docs)} YAML files parsed; DaemonSet, kustomization, Collector config and RBAC as required")
PY
	fail "$(tail -n 1 "$T/yaml.out")"
fi
info "$(tail -n 1 "$T/yaml.out")"

# --- systemd unit ---
U=$D/emberprof.service
unit_caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$U" | tr ' ' '\n' | sed 's/^CAP_//' | sort | xargs)
want_sorted=$(tr ' ' '\n' <<<"$CAPS" | sort | xargs)
[[ $unit_caps == "$want_sorted" ]] ||
	fail "emberprof.service: CapabilityBoundingSet is '$unit_caps', want '$want_sorted'"
# %t must reach the agent as %t: systemd would expand a single % itself.
grep -q '^ExecStart=.*%%t' "$U" || fail "emberprof.service: ExecStart does not pass %%t through"
for line in NoNewPrivileges=yes ProtectSystem=strict StateDirectory=emberprof \
	'ReadWritePaths=/var/lib/emberprof' Restart=on-failure 'MemoryMax=' \
	'RestrictAddressFamilies=' 'EnvironmentFile=-/etc/default/emberprof'; do
	grep -q "^$line" "$U" || fail "emberprof.service has no '$line' line"
done
# These would break the agent (see the unit's comments).
for line in ProtectKernelTunables=yes ProtectKernelLogs=yes ProcSubset=pid ProtectProc=invisible \
	PrivateUsers=yes PrivateNetwork=yes; do
	grep -q "^$line" "$U" && fail "emberprof.service sets $line, which breaks profiling"
done
if command -v systemd-analyze >/dev/null; then
	# A copy whose ExecStart is the built agent, and the man page where
	# systemd-analyze looks for Documentation=man:emberprof(8).
	mkdir -p "$T/man/man8"
	cp "$D/emberprof.8" "$T/man/man8/"
	sed "s|^ExecStart=/usr/local/sbin/emberprof|ExecStart=$EMBERPROF|" "$U" >"$T/emberprof.service"
	MANPATH=$T/man systemd-analyze verify "$T/emberprof.service" >"$T/verify.out" 2>&1 ||
		fail "systemd-analyze verify: $(head -n 1 "$T/verify.out")"
	[[ ! -s $T/verify.out ]] || fail "systemd-analyze verify warns: $(head -n 1 "$T/verify.out")"
	if systemd-analyze security --offline=yes "$T/emberprof.service" >"$T/security.out" 2>&1; then
		info "systemd-analyze security: $(grep -o 'exposure level.*' "$T/security.out")"
	fi
else
	info "no systemd-analyze: checked the unit's key lines only"
fi

# --- Dockerfile ---
F=$D/Dockerfile
n_from=$(grep -ciE '^FROM[[:space:]]+debian:bookworm-slim([[:space:]]|$)' "$F")
((n_from == 2)) || fail "Dockerfile: $n_from 'FROM debian:bookworm-slim' lines, want 2 (build and runtime)"
(($(grep -ciE '^FROM[[:space:]]' "$F") == 2)) || fail "Dockerfile: other FROM lines than the two stages"
grep -qE '^RUN .*\bmake\b' "$F" || fail "Dockerfile: no RUN step runs make"
grep -qE '^COPY --from=[a-z]+ .*build/emberprof' "$F" || fail "Dockerfile: the runtime stage does not copy build/emberprof"
grep -qE '^ENTRYPOINT .*emberprof' "$F" || fail "Dockerfile: the entrypoint is not emberprof"
grep -qiE 'privileged|SYS_ADMIN' <(grep -v '^#' "$F") && fail "Dockerfile: asks for privileged or SYS_ADMIN"
# The runtime stage's apt-get install list: every DT_NEEDED library of the
# built agent must come from one of its packages.
# Stage 2's lines, continuations joined; the words after "apt-get install"
# up to the next "&&", options left out.
runtime_pkgs=$(awk '/^FROM/ { stage++ } stage == 2' "$F" | sed -e 's/\\$//' | tr '\n\t' '  ' |
	grep -oE 'apt-get install [^&]*' | tr ' ' '\n' | grep -vE '^(-|$|apt-get$|install$)' | sort -u)
[[ -n $runtime_pkgs ]] || fail "Dockerfile: cannot find the runtime stage's apt-get install list"
while read -r lib; do
	path=$(ldconfig -p | awk -v l="$lib" '$1 == l { print $NF; exit }')
	[[ -n $path ]] || fail "cannot resolve $lib, which $EMBERPROF needs"
	pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -n 1 | cut -d: -f1)
	[[ -n $pkg ]] || pkg=$(dpkg -S "$path" 2>/dev/null | head -n 1 | cut -d: -f1)
	grep -qx "$pkg" <<<"$runtime_pkgs" ||
		fail "Dockerfile: the runtime stage lacks $pkg (for $lib, which emberprof links)"
done < <(readelf -d "$EMBERPROF" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | grep -vE '^(libc|libm|ld-linux.*)\.so')
info "Dockerfile: two stages, runtime packages cover $(readelf -d "$EMBERPROF" | grep -c NEEDED) linked libraries"

# --- man page ---
M=$D/emberprof.8
command -v groff >/dev/null || fail "groff is missing (apt-get install groff-base)"
groff -man -Tutf8 -ww -z "$M" 2>"$T/groff.err" || fail "groff cannot render emberprof.8: $(head -n 1 "$T/groff.err")"
[[ ! -s $T/groff.err ]] || fail "groff warns on emberprof.8: $(head -n 1 "$T/groff.err")"
groff -man -Tutf8 "$M" 2>/dev/null | sed 's/.\x08//g' >"$T/man.txt"
for section in NAME SYNOPSIS DESCRIPTION OPTIONS ENVIRONMENT SIGNALS FILES 'EXIT STATUS' EXAMPLES 'SEE ALSO'; do
	grep -q "^$section\$" "$T/man.txt" || fail "emberprof.8 has no $section section"
done
# Every long option of --help, plus those the deployment files use.
opts=$("$EMBERPROF" --help 2>&1 | grep -oE '(^|[ ,])--[a-z][a-z0-9-]+' | sed 's/^[ ,]*//' | sort -u)
for o in $opts --status-addr --cgroup --container-id --log-format; do
	grep -qF -- "$o" "$T/man.txt" || fail "emberprof.8 does not document $o"
done
for v in EMBERPROF_BTF_PATH K8S_NODE_NAME OTEL_EXPORTER_OTLP_ENDPOINT OTEL_SERVICE_NAME \
	OTEL_RESOURCE_ATTRIBUTES SIGHUP SIGTERM; do
	grep -qF "$v" "$T/man.txt" || fail "emberprof.8 does not mention $v"
done
info "emberprof.8 renders cleanly and documents $(wc -w <<<"$opts") --help options"

# --- the agent with only the DaemonSet's capabilities ---
command -v setpriv >/dev/null || fail "setpriv is missing (apt-get install util-linux)"
setpriv_caps=$(tr ' ' '\n' <<<"$CAPS" | tr '[:upper:]' '[:lower:]' | sed 's/^/+/' | paste -sd, -)
# A capability this shell itself lacks cannot be granted: show what is.
# shellcheck disable=SC2016 # awk's $2, not the shell's
bnd=$(setpriv --bounding-set "-all,$setpriv_caps" awk '/^CapBnd:/ { print $2 }' /proc/self/status)
granted=$(capsh --decode="$bnd" 2>/dev/null | sed 's/^.*=//')
info "running the agent with bounding set ${granted:-$bnd}"
cd "$T" || fail "cannot cd to $T"
# A busy process to sample: an idle machine gives a whole-system run no
# samples at all (the idle task is not recorded).
start_workload cpusplit 10
timeout -k 5 "$AGENT_TIMEOUT" setpriv --bounding-set "-all,$setpriv_caps" --inh-caps -all \
	--ambient-caps -all "$EMBERPROF" -F 49 -d 2 -p "$BG_PID" -o "$T/caps.pb.gz" \
	>"$T/agent.out" 2>"$T/agent.err"
rc=$?
((rc == 0)) || fail "emberprof with the DaemonSet's capabilities exited $rc: $(first_err_line)"
if [[ ! -s $T/caps.pb.gz ]] || ! gzip -t "$T/caps.pb.gz" 2>/dev/null; then
	fail "emberprof with the DaemonSet's capabilities wrote no complete profile"
fi
if [[ -x $PPROF ]]; then
	n=$(total "$T/caps.pb.gz")
	((n >= 40)) || fail "the profile taken with the DaemonSet's capabilities has $n samples (want >= 40)"
	((n_a = $(flat "$T/caps.pb.gz" work_a), n_a > 0)) ||
		fail "no work_a in the profile taken with the DaemonSet's capabilities"
	info "with the DaemonSet's capabilities: $n samples"
fi
exit 0
