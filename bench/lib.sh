# SPDX-License-Identifier: Apache-2.0
# Helpers the BPF benchmarks share; sourced, not run.

# prog_stats ID: "run_time_ns run_cnt" of program ID (nothing once it is gone).
prog_stats()
{
	{ bpftool prog show id "$1" 2>/dev/null || true; } | awk '
		NR == 1 {
			for (i = 1; i < NF; i++) {
				if ($i == "run_time_ns") t = $(i + 1)
				if ($i == "run_cnt") c = $(i + 1)
			}
			if (c != "") print t + 0, c + 0
		}'
}

# on_sample_id PID: the id of the BPF program named on_sample that PID holds.
on_sample_id()
{
	local id

	{ awk '/^prog_id:/ { print $2 }' "/proc/$1/fdinfo/"* 2>/dev/null || true; } | sort -u |
		while read -r id; do
			bpftool prog show id "$id" 2>/dev/null |
				awk -v id="$id" 'NR == 1 && / name on_sample / { print id }'
		done | head -n 1
}

# bench_begin NAME: for a benchmark of BPF time. Makes the scratch directory
# TMP (/tmp/emberprof-bench-NAME.XXXXXX), turns kernel.bpf_stats_enabled on,
# and sets an EXIT trap (bench_end) that stops AGENT_PID, LOAD_PID and the
# pids in LOAD_PIDS, puts the old bpf_stats value back and removes TMP
# (kept with KEEP=1).
bench_begin()
{
	TMP=$(mktemp -d "/tmp/emberprof-bench-$1.XXXXXX")
	AGENT_PID=
	LOAD_PID=
	LOAD_PIDS=()
	OLD_BPF_STATS=
	trap bench_end EXIT
	trap 'exit 130' INT TERM
	OLD_BPF_STATS=$(cat /proc/sys/kernel/bpf_stats_enabled)
	echo 1 >/proc/sys/kernel/bpf_stats_enabled
}

bench_end()
{
	local pid

	for pid in $AGENT_PID $LOAD_PID ${LOAD_PIDS[@]+"${LOAD_PIDS[@]}"}; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in $AGENT_PID $LOAD_PID ${LOAD_PIDS[@]+"${LOAD_PIDS[@]}"}; do
		wait "$pid" 2>/dev/null || true
	done
	if [ -n "$OLD_BPF_STATS" ]; then
		echo "$OLD_BPF_STATS" >/proc/sys/kernel/bpf_stats_enabled || true
	fi
	if [ "${KEEP:-0}" = 1 ]; then
		printf 'bench: outputs kept in %s\n' "$TMP" >&2
	else
		rm -rf "$TMP"
	fi
}

# agent_prog_stats PID: while the agent PID runs, polls the statistics of the
# on_sample program it holds; then prints the last "run_time_ns run_cnt"
# read (nothing when the program was never found).
agent_prog_stats()
{
	local id='' last='' s

	while kill -0 "$1" 2>/dev/null; do
		[ -n "$id" ] || id=$(on_sample_id "$1")
		if [ -n "$id" ]; then
			s=$(prog_stats "$id")
			[ -z "$s" ] || last=$s
		fi
		sleep 0.2
	done
	[ -z "$last" ] || echo "$last"
}

# progs_time PID: while PID runs, polls the BPF programs it holds; then
# prints the last "run_time_ns run_cnt" summed over them, with each
# program's own after it as "NAME=run_time_ns/run_cnt" (nothing when PID
# held none).
progs_time()
{
	local last='' s

	while kill -0 "$1" 2>/dev/null; do
		s=$({ awk '/^prog_id:/ { print $2 }' "/proc/$1/fdinfo/"* 2>/dev/null || true; } |
			sort -un | while read -r id; do
			bpftool prog show id "$id" 2>/dev/null | awk 'NR == 1 {
				for (i = 1; i < NF; i++) {
					if ($i == "name") n = $(i + 1)
					if ($i == "run_time_ns") t = $(i + 1)
					if ($i == "run_cnt") c = $(i + 1)
				}
				print n, t + 0, c + 0
			}'
		done | awk '{ t += $2; c += $3; each = each " " $1 "=" $2 "/" $3 }
			END { if (NR) print t, c each }')
		[ -z "$s" ] || last=$s
		sleep 0.2
	done
	[ -z "$last" ] || echo "$last"
}
