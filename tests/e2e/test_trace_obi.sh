#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_trace_obi: spans from the OBI trace-context map become links.
#
# OBI (OpenTelemetry eBPF Instrumentation) publishes the span each thread
# serves in the pinned LRU hash /sys/fs/bpf/otel/traces_ctx_v1 (key: u64
# pid_tgid = tgid << 32 | tid; value: trace_id[16], span_id[8]). The test
# plays OBI: it mounts bpffs on /sys/fs/bpf if needed, creates the pinned
# map with bpftool and, before the agent starts, writes two entries:
#   - spin (one thread): key pid << 32 | pid -> trace
#     aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbb, span cccccccccccccccc;
#   - one of cpusplit's two worker threads: key pid << 32 | tid -> trace
#     0102030405060708090a0b0c0d0e0f10, span 1112131415161718.
# A profile of both (-p, 99 Hz, 6 s) must show >= 95% of spin's samples
# with spin's trace_id/span_id, >= 95% of that worker thread's samples with
# its own, and no link at all on cpusplit's other threads (the key is per
# thread, not per process). The pin (and the directory and mount, if the
# test made them) is removed at exit; a map pinned there by someone else is
# left alone and fails the test.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins spin cpusplit
command -v bpftool >/dev/null || fail "bpftool is missing (apt-get install bpftool)"

FREQ=99
DUR=6
BPFFS=/sys/fs/bpf
DIR=$BPFFS/otel
PIN=$DIR/traces_ctx_v1
SPIN_TRACE=aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbb
SPIN_SPAN=cccccccccccccccc
CS_TRACE=0102030405060708090a0b0c0d0e0f10
CS_SPAN=1112131415161718
MOUNTED=0
MADE_DIR=0
PINNED=0

# shellcheck disable=SC2317 # called by the EXIT trap
obi_cleanup()
{
	local rc=$?

	((PINNED)) && rm -f "$PIN"
	((MADE_DIR)) && rmdir "$DIR" 2>/dev/null
	((MOUNTED)) && umount "$BPFFS"
	return "$rc"
}
trap 'rc=$?; obi_cleanup; (exit $rc); cleanup' EXIT

# hexbytes N VALUE: VALUE (decimal) as N little-endian bytes in bpftool's "hex" form.
hexbytes()
{
	local i v=$2 out=

	for ((i = 0; i < $1; i++)); do
		out+=$(printf '%02x ' $((v & 255)))
		v=$((v >> 8))
	done
	echo "${out% }"
}

# spaced HEX: "0a0b.." as "0a 0b ..".
spaced()
{
	sed 's/../& /g; s/ $//' <<<"$1"
}

# obi_put TGID TID TRACE SPAN: the map entry for thread TID of process TGID.
obi_put()
{
	local key value

	read -r -a key <<<"$(hexbytes 8 $(($1 << 32 | $2)))"
	read -r -a value <<<"$(spaced "$3$4")"
	bpftool map update pinned "$PIN" key hex "${key[@]}" value hex "${value[@]}" \
		2>"$T/bpftool.err" ||
		fail "bpftool map update failed: $(head -n 1 "$T/bpftool.err")"
}

if [[ $(stat -f -c %T "$BPFFS" 2>/dev/null) != bpf_fs ]]; then
	mkdir -p "$BPFFS"
	mount -t bpf bpf "$BPFFS" 2>"$T/mount.err" ||
		fail "cannot mount bpffs on $BPFFS: $(head -n 1 "$T/mount.err")"
	MOUNTED=1
fi
if [[ ! -d $DIR ]]; then
	mkdir "$DIR" || fail "cannot create $DIR"
	MADE_DIR=1
fi
[[ ! -e $PIN ]] || fail "$PIN already exists (a running OBI?); not touching it"
bpftool map create "$PIN" type lru_hash key 8 value 24 entries 1024 name traces_ctx_v1 \
	2>"$T/bpftool.err" || fail "bpftool map create failed: $(head -n 1 "$T/bpftool.err")"
PINNED=1

start_workload spin $((DUR + 10))
SP=$BG_PID
start_workload cpusplit $((DUR + 10))
CS=$BG_PID
mapfile -t tids < <(ls "/proc/$CS/task")
((${#tids[@]} == 3)) || fail "cpusplit has ${#tids[@]} threads, want 3 (main + 2 workers)"
W=
for t in "${tids[@]}"; do
	[[ $t != "$CS" ]] && W=$t && break
done
obi_put "$SP" "$SP" "$SPIN_TRACE" "$SPIN_SPAN"
obi_put "$CS" "$W" "$CS_TRACE" "$CS_SPAN"
bpftool map dump pinned "$PIN" >"$T/map.txt" 2>&1

agent_ok -v -F "$FREQ" -d "$DUR" -p "$SP,$CS" -o "$T/obi.pb.gz"
alive "$SP" || fail "spin exited before the profile ended"
alive "$CS" || fail "cpusplit exited before the profile ended"
check_profile "$T/obi.pb.gz"
trace_samples "$T/obi.pb.gz" >"$T/obi.tsv"

read -r ns s < <(PID=$SP leaf_with "$T/obi.tsv" spin_here "trace_id=$SPIN_TRACE" "span_id=$SPIN_SPAN")
sp_all=$(awk -F '\t' -v pid="$SP" '$3 == pid { s += $1 } END { print s + 0 }' "$T/obi.tsv")
sp_linked=$(PID=$SP with_label "$T/obi.tsv" "span_id=$SPIN_SPAN")
read -r w_all w_linked o_all o_linked < <(awk -F '\t' -v pid="$CS" -v tid="$W" -v span="$CS_SPAN" '
	$3 != pid { next }
	index($4, " tid=" tid " ") { wa += $1; if (index($4, " span_id=" span " ")) wl += $1; next }
	{ oa += $1; if (index($4, " trace_id=")) ol += $1 }
	END { print wa + 0, wl + 0, oa + 0, ol + 0 }' "$T/obi.tsv")
info "spin: $sp_all samples, spin_here $ns, linked $sp_linked; cpusplit tid $W: $w_all" \
	"(linked $w_linked), other threads: $o_all (linked $o_linked); $(link_line)"

((sp_all >= 50)) || fail "only $sp_all samples of spin (want >= 50)"
((s * 100 >= ns * 95)) ||
	fail "only $s of $ns spin_here samples carry trace_id=$SPIN_TRACE span_id=$SPIN_SPAN from the OBI map"
((sp_linked * 100 >= sp_all * 95)) || fail "only $sp_linked of $sp_all spin samples carry span $SPIN_SPAN"
((w_all >= 20)) || fail "only $w_all samples of cpusplit's thread $W (want >= 20)"
((w_linked * 100 >= w_all * 95)) ||
	fail "only $w_linked of $w_all samples of cpusplit thread $W carry span_id=$CS_SPAN (map key $CS<<32|$W)"
((o_all >= 20)) || fail "only $o_all samples of cpusplit's other threads (want >= 20)"
((o_linked == 0)) || fail "$o_linked samples of cpusplit threads without a map entry carry a trace_id"
bad=$(awk -F '\t' -v s="$SPIN_TRACE" -v c="$CS_TRACE" '
	match($4, / trace_id=[^ ]* /) && substr($4, RSTART, RLENGTH) != " trace_id=" s " " &&
	substr($4, RSTART, RLENGTH) != " trace_id=" c " " { print; exit }' "$T/obi.tsv")
[[ -z $bad ]] || fail "a sample carries a trace_id the map never held: $bad"
exit 0
