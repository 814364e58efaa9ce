#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_kernel: samples taken in system calls carry the kernel part of the stack.
#
# The syscalls workload spends most of its time inside cheap system calls
# issued directly from syscall_loop. Profiling only its pid, the test checks
# that pprof sees the syscall entry path (entry_SYSCALL_64*, do_syscall_64,
# x64_sys_call or a __x64_sys_* / ksys_* / vfs_* handler) as functions whose
# mapping and file name are [kernel.kallsyms], stacked on top of syscall_loop and main; that
# kernel frames never sit below user frames; and that the folded file marks
# the same kernel frames with "_[k]" under syscall_loop. perf record samples
# the same pid at the same time: the share of samples in the kernel must
# agree with perf's within 10 points. Every kernel location's name must be
# /proc/kallsyms' symbol at its address.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins syscalls

KSYM='^(entry_SYSCALL_64.*|do_syscall_64|x64_sys_call|__x64_sys_.*|__do_sys_.*|ksys_(read|write)|vfs_(read|write))$'

command -v perf >/dev/null || fail "perf is missing (apt-get install linux-perf)"

start_workload syscalls 15
SC=$BG_PID
# perf samples the same pid at the same time, for the kernel's share.
start_bg perf record -q -e cpu-clock -F 99 -p "$SC" -o "$T/k.perf.data" -- sleep 4
PERF=$BG_PID
agent_ok -F 99 -d 4 -p "$SC" -o "$T/k.pb.gz" --folded "$T/k.folded"
wait "$PERF" || fail "perf record -p $SC failed"
check_profile "$T/k.pb.gz"
[[ -s $T/k.folded ]] || fail "folded file is missing or empty"

samples "$T/k.pb.gz" >"$T/samples.tsv"
bad=$(awk -F '\t' -v pid="$SC" '$3 != pid || $6 != "syscalls"' "$T/samples.tsv" | head -n 1)
[[ -z $bad ]] || fail "sample not labelled pid=$SC process=syscalls: $bad"
# Per sample: does it have a kernel frame, a syscall-path kernel frame, a
# user frame above a kernel one, and is syscall_loop below its kernel frames?
read -r tot kern ksys inverted under < <(awk -F '\t' -v ksym="$KSYM" '
	{
		n = split($7, fr, ";")
		split($8, mf, ";")
		k = 0; sys = 0; inv = 0; loop = 0
		for (i = 1; i <= n; i++) {
			if (mf[i] == "[kernel.kallsyms]") {
				k = 1
				if (fr[i] ~ ksym)
					sys = 1
			} else {
				if (k)
					inv = 1
				if (fr[i] == "syscall_loop")
					loop = 1
			}
		}
		tot += $1
		if (k) kern += $1
		if (sys) ksys += $1
		if (inv) inverted += $1
		if (sys && loop) under += $1
	}
	END { print tot + 0, kern + 0, ksys + 0, inverted + 0, under + 0 }' "$T/samples.tsv")
info "samples=$tot kernel=$kern syscall-path=$ksys under-syscall_loop=$under"

((tot >= 100)) || fail "only $tot samples of the syscalls workload in 4 s"
((ksys > 0)) || fail "no sample has a syscall-path function in mapping [kernel.kallsyms]"
# The kernel's share: samples whose leaf is in the kernel, per perf, and
# samples with kernel frames here; they must agree within 10 points.
read -r p_tot p_kern < <(perf script -i "$T/k.perf.data" -F ip 2>/dev/null |
	awk '{ n++; if ($1 ~ /^ffff/) k++ } END { print n + 0, k + 0 }')
((p_tot >= 100)) || fail "perf took only $p_tot samples of the syscalls workload in 4 s"
e_sh=$(pct "$kern" "$tot")
p_sh=$(pct "$p_kern" "$p_tot")
info "kernel share: emberprof $e_sh% of $tot, perf $p_sh% of $p_tot"
within "$e_sh" "$(awk -v p="$p_sh" 'BEGIN { print p - 10 }')" "$(awk -v p="$p_sh" 'BEGIN { print p + 10 }')" ||
	fail "$e_sh% of emberprof's samples have kernel frames, $p_sh% of perf's are in the kernel (want within 10 points)"
((under * 100 >= kern * 80)) ||
	fail "only $under of $kern kernel samples sit on top of syscall_loop"
((inverted == 0)) || fail "$inverted samples have a user frame above a kernel frame"

# The kernel functions' own file name is [kernel.kallsyms] too.
pp -raw "$T/k.pb.gz" >"$T/raw.txt"

# Every kernel location's name is /proc/kallsyms' symbol at its address
# (or, for a return address, at the byte before it).
python3 - "$T/raw.txt" >"$T/kallsyms.check" <<'PY' || fail "kernel names disagree with /proc/kallsyms: $(tail -n 3 "$T/kallsyms.check" | tr '\n' ' ')"
import bisect, re, sys
syms = []
with open("/proc/kallsyms") as f:
    for line in f:
        a, t, name = line.split()[:3]
        if t in "tTwW" and int(a, 16):
            syms.append((int(a, 16), name))
syms.sort()
addrs = [a for a, _ in syms]
def at(a):
    i = bisect.bisect_right(addrs, a) - 1
    return syms[i][1] if i >= 0 else None
n = bad = 0
for line in open(sys.argv[1]):
    m = re.match(r" *\d+: 0x([0-9a-f]+) M=\d+ (\S+) \[kernel\.kallsyms\]", line)
    if not m:
        continue
    a, name = int(m.group(1), 16), m.group(2)
    n += 1
    if name not in (at(a), at(a - 1)):
        bad += 1
        print("0x%x: emberprof %s, kallsyms %s" % (a, name, at(a)))
print("%d kernel locations, %d named otherwise than /proc/kallsyms" % (n, bad))
sys.exit(1 if bad or n == 0 else 0)
PY
info "$(tail -n 1 "$T/kallsyms.check")"
grep -Eq '^ *[0-9]+: 0x[0-9a-f]+ M=[0-9]+ (entry_SYSCALL_64[a-z_]*|do_syscall_64) \[kernel\.kallsyms\]:' \
	"$T/raw.txt" || fail "no entry_SYSCALL_64*/do_syscall_64 Function with file name [kernel.kallsyms]"

# The same, as pprof -traces prints it: entry path right above syscall_loop.
pp -traces "$T/k.pb.gz" >"$T/traces.txt"
grep -Eq '^.{10}   (entry_SYSCALL_64[a-z_]*|do_syscall_64)$' "$T/traces.txt" || fail "pprof -traces shows no entry_SYSCALL_64*/do_syscall_64 frame"
traces_chain_ok=0
for entry in entry_SYSCALL_64_after_hwframe entry_SYSCALL_64; do
	if (($(traces_chain "$T/k.pb.gz" "$entry" syscall_loop main) > 0)); then
		traces_chain_ok=1
		break
	fi
done
((traces_chain_ok)) || fail "no -traces stack has entry_SYSCALL_64* called from syscall_loop <- main"

# Folded: "syscalls;...;syscall_loop;...;<kernel frames>_[k] N", kernel last.
grep -Eq '^syscalls;(.*;)?syscall_loop;(.*;)?[^;]+_\[k\] [0-9]+$' "$T/k.folded" ||
	fail "folded file has no '_[k]' frame below syscall_loop"
grep -Eq ';(entry_SYSCALL_64[a-z_]*|do_syscall_64)_\[k\][; ]' "$T/k.folded" ||
	fail "folded file has no entry_SYSCALL_64*_[k]/do_syscall_64_[k] frame"
bad=$(awk '{
	line = $0
	sub(/ [0-9]+$/, "", line)
	n = split(line, fr, ";")
	k = 0
	for (i = 2; i <= n; i++) {
		if (fr[i] ~ /_\[k\]$/)
			k = 1
		else if (k) {
			print $0
			exit
		}
	}
}' "$T/k.folded")
[[ -z $bad ]] || fail "folded line has a user frame after a kernel frame: $bad"
fsum=$(folded_sum "$T/k.folded")
((fsum == tot)) || fail "folded counts sum to $fsum, pprof total is $tot"
exit 0
