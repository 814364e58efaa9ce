#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_otelmem: libotelmem.so keeps the otel_memory USDT contract, and
# keeps every program it is preloaded into working.
#
# 1. The library's notes name both probes of provider otel_memory, each
#    with a semaphore, and the arguments the contract gives them (alloc:
#    pointer, size, weight; free: pointer).
# 2. memstress, under the preload, with the semaphores raised and a 64-byte
#    mean (most blocks sampled) and with the default 512 KiB: every wrapped
#    call from five threads and across a fork, each block's contents,
#    alignment and usable size checked. Without the preload it refuses to
#    run, so this cannot pass by testing glibc alone.
# 3. A consumer that is not emberprof: bpftrace attaches to both probes of
#    memsplit under the preload. The weights it sums must come to the bytes
#    memsplit allocated, and the weights of the sampled blocks never freed
#    to the bytes alloc_b kept, each within 15%; every free it sees is of a
#    pointer it saw sampled.
# 4. Debian's python3.11 under the preload, its semaphores raised from
#    inside (ctypes) and a 4 KiB mean, runs json and zlib and prints what it
#    prints without the preload.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins memstress memsplit
LIB=$ROOT/build/sdk/libotelmem.so
[[ -f $LIB ]] || fail "$LIB is missing (run make e2e-build)"
command -v bpftrace >/dev/null || fail "bpftrace is missing (run make test-deps)"
command -v python3.11 >/dev/null || fail "python3.11 is missing (run make test-deps)"

# 1. The probe notes.
readelf -n "$LIB" >"$T/notes" 2>&1 || fail "readelf -n $LIB failed"
for probe in "alloc:8@%[a-z0-9]+ 8@%[a-z0-9]+ 8@%[a-z0-9]+" "free:8@%[a-z0-9]+"; do
	name=${probe%%:*}
	args=${probe#*:}
	awk -v n="$name" '/Provider: otel_memory/ { p = 1; next } p && /Name:/ { ok = ($2 == n); p = 0 }
		ok && /Semaphore:/ { print; ok = 2 } ok == 2 && /Arguments:/ { print; ok = 0 }' \
		"$T/notes" >"$T/probe.$name"
	grep -Eq 'Semaphore: 0x0*[1-9a-f][0-9a-f]*' "$T/probe.$name" ||
		fail "otel_memory:$name has no semaphore in the notes: $(tr '\n' ' ' <"$T/probe.$name")"
	grep -Eq "Arguments: $args\$" "$T/probe.$name" ||
		fail "otel_memory:$name's arguments are not '$args': $(grep Arguments "$T/probe.$name")"
done

# 2. Every wrapped call, checked.
"$WL/memstress" 1 1000 >"$T/plain.out" 2>&1
rc=$?
((rc == 2)) || fail "memstress without the preload exited $rc, want 2: $(cat "$T/plain.out")"
for mean in 64 524288; do
	OTELMEM_SAMPLE_BYTES=$mean LD_PRELOAD=$LIB timeout 120 "$WL/memstress" 4 200000 \
		>"$T/stress.$mean" 2>&1 ||
		fail "memstress with a $mean-byte mean failed: $(tail -n 2 "$T/stress.$mean")"
	grep -q '^memstress: ok [0-9]* operations' "$T/stress.$mean" ||
		fail "memstress with a $mean-byte mean gave no verdict: $(tail -n 2 "$T/stress.$mean")"
done
info "memstress: $(cat "$T/stress.64")"

# 3. bpftrace's view of memsplit: totals, and what is still in use at exit.
LD_PRELOAD=$LIB start_workload memsplit 4 20 >"$T/ms.out"
MS=$BG_PID
timeout -k 5 40 bpftrace -p "$MS" -e "
usdt:$LIB:otel_memory:alloc { @n = count(); @w = sum(arg2); @wt[arg0] = arg2; @live = @live + arg2; }
usdt:$LIB:otel_memory:free { @f = count(); if (@wt[arg0] == 0) { @stray = count(); }
	@live = @live - @wt[arg0]; delete(@wt[arg0]); }
END { clear(@wt); }" >"$T/bt.out" 2>"$T/bt.err"
wait "$MS" || fail "memsplit under the preload failed"
read -r a b c kept traced < <(sed -En \
	's/^memsplit: allocated ([0-9]+) ([0-9]+) ([0-9]+) bytes, kept ([0-9]+) bytes, traced ([01])$/\1 \2 \3 \4 \5/p' \
	"$T/ms.out")
[[ -n ${traced:-} ]] || fail "memsplit printed no totals: $(tail -n 3 "$T/ms.out")"
((traced == 1)) || fail "memsplit began before bpftrace attached: $(tail -n 2 "$T/bt.err")"
bt()
{
	sed -En "s/^@$1: (-?[0-9]+)\$/\\1/p" "$T/bt.out"
}
n=$(bt n)
w=$(bt w)
live=$(bt live)
[[ -n $n && -n $w && -n $live ]] || fail "bpftrace printed no sums: $(tr '\n' ' ' <"$T/bt.out")"
stray=$(bt stray)
total=$((a + b + c))
info "allocated $total bytes, kept $kept; bpftrace: $n samples, weight $w, still in use $live"
((n >= 1000)) || fail "only $n sampled allocations of $total bytes (want >= 1000 at a 512 KiB mean)"
within "$w" "$((total * 85 / 100))" "$((total * 115 / 100))" ||
	fail "the sampled weights sum to $w bytes; memsplit allocated $total (want within 15%)"
within "$live" "$((kept * 85 / 100))" "$((kept * 115 / 100))" ||
	fail "the sampled blocks never freed weigh $live bytes; alloc_b kept $kept (want within 15%)"
((${stray:-0} == 0)) || fail "$stray frees of pointers bpftrace never saw sampled"

# 4. A real program: Debian's python3.11, allocating through json and zlib.
script='import json, zlib
d = [{"k": i, "v": "x" * (i % 300)} for i in range(20000)]
s = json.dumps(d).encode()
z = zlib.compress(s, 6)
assert json.loads(zlib.decompress(z)) == d
print(len(s), len(z))'
want=$(python3.11 -c "$script") || fail "python3.11 failed without the preload"
raise='import ctypes
for p in ("alloc", "free"):
    ctypes.c_ushort.in_dll(ctypes.CDLL(None), "otel_memory_%s_semaphore" % p).value = 1
'
got=$(OTELMEM_SAMPLE_BYTES=4096 LD_PRELOAD=$LIB python3.11 -c "$raise$script") ||
	fail "python3.11 failed under the preload"
[[ $got == "$want" ]] || fail "python3.11 printed '$got' under the preload, '$want' without"
exit 0
