#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_mount_ns: a binary that exists only in another mount namespace is
# still symbolized.
#
# spin is copied into a tmpfs mounted inside a private mount namespace
# (unshare -m) and run from there, at a path that does not exist on the host,
# so the agent cannot open the path /proc/PID/maps names: it has to go
# through /proc/PID/map_files or /proc/PID/root. The agent profiles that pid
# at 99 Hz for 4 s; the test checks that spin_here is the hottest function
# (>= 90% flat), called from main, and that its frames' Mapping names the
# namespace's path.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins spin
command -v unshare >/dev/null || fail "unshare is missing (util-linux)"

FREQ=99
DUR=4

mkdir "$T/mnt" || fail "cannot create $T/mnt"
# Inside the namespace the tmpfs covers $T/mnt, and ns-only/ is made on it:
# on the host $T/mnt stays empty and $NSDIR never exists.
NSDIR=$T/mnt/ns-only
NSBIN=$NSDIR/spin
# $1..$3 of the inner shell are the tmpfs, the directory and the binary.
# shellcheck disable=SC2016 # expanded by the inner shell
start_bg unshare -m --propagation private sh -c '
	mount -t tmpfs emberprof-test "$1" && mkdir "$2" && cp "$3" "$2/spin" &&
		exec "$2/spin" 20' sh "$T/mnt" "$NSDIR" "$WL/spin"
PID=$BG_PID
for ((i = 0; i < 100; i++)); do
	[[ $(readlink "/proc/$PID/exe" 2>/dev/null) == "$NSBIN" ]] && break
	alive "$PID" || fail "the namespaced spin (pid $PID) exited early"
	sleep 0.05
done
[[ $(readlink "/proc/$PID/exe") == "$NSBIN" ]] || fail "pid $PID did not exec $NSBIN"
[[ ! -e $NSBIN ]] || fail "$NSBIN exists on the host too; the test would prove nothing"
[[ $(readlink /proc/self/ns/mnt) != $(readlink "/proc/$PID/ns/mnt") ]] ||
	fail "pid $PID is in this shell's mount namespace"
sleep 0.2

agent_cpu "$PID" -F "$FREQ" -d "$DUR" -p "$PID" -o "$T/mntns.pb.gz"
alive "$PID" || fail "the namespaced spin exited before the profile ended"
check_profile "$T/mntns.pb.gz"

tot=$(total "$T/mntns.pb.gz")
hot=$(flat "$T/mntns.pb.gz" spin_here)
info "total=$tot spin_here=$hot"
cpu_bounds "$tot" "the workload in its mount namespace" "$AGENT_CPU" "$FREQ" "$DUR"
((hot * 100 >= tot * 90)) ||
	fail "spin_here has $hot of $tot samples flat (want >= 90%): $(pp_top "$T/mntns.pb.gz" | head -n 3 | tr '\t\n' ' ,')"

samples "$T/mntns.pb.gz" >"$T/samples.tsv"
read -r leaf chained in_map < <(awk -F '\t' -v bin="$NSBIN" '
	{ n = split($7, fr, ";"); split($8, mf, ";") }
	fr[n] == "spin_here" {
		leaf += $1
		if (n >= 2 && fr[n - 1] == "main")
			chained += $1
		if (mf[n] == bin)
			in_map += $1
	}
	END { print leaf + 0, chained + 0, in_map + 0 }' "$T/samples.tsv")
((chained * 100 >= leaf * 95)) || fail "only $chained of $leaf spin_here samples are called from main"
((in_map == leaf)) || fail "only $in_map of $leaf spin_here frames have the Mapping $NSBIN"
exit 0
